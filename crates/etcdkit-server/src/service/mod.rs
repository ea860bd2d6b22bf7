//! The gRPC services: each turns a request into a step on the shared state and fills in
//! the response header as etcd does (cluster, member, term; the revision the step saw).

mod cluster;
mod election;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod watch;

pub(crate) use cluster::ClusterService;
pub(crate) use election::ElectionService;
pub(crate) use kv::KvService;
pub(crate) use lease::LeaseService;
pub(crate) use lock::LockService;
pub(crate) use maintenance::MaintenanceService;
pub(crate) use watch::WatchService;

use crate::core::HeaderInfo;
use crate::generated::etcdserverpb::ResponseHeader;

/// Completes a header a step left with only its revision.
fn fill(info: &HeaderInfo, header: &mut Option<ResponseHeader>) {
    let revision = header.as_ref().map_or(0, |h| h.revision);
    *header = Some(info.header(revision));
}
