//! The gRPC services: each turns a request into a step on the shared state and fills in
//! the response header as etcd does (cluster, member, term; the revision the step saw).

mod cluster;
mod kv;
mod lease;
mod maintenance;
mod watch;

pub(crate) use cluster::ClusterService;
pub(crate) use kv::KvService;
pub(crate) use lease::LeaseService;
pub(crate) use maintenance::MaintenanceService;
pub(crate) use watch::WatchService;

use crate::core::HeaderInfo;
use crate::generated::etcdserverpb::ResponseHeader;

/// Completes a header a step left with only its revision.
fn fill(info: &HeaderInfo, header: &mut Option<ResponseHeader>) {
    let revision = header.as_ref().map_or(0, |h| h.revision);
    *header = Some(info.header(revision));
}

/// The refusal for an RPC this server does not serve yet (see the crate's docs).
fn not_yet(method: &str) -> tonic::Status {
    tonic::Status::unimplemented(format!("etcdkit-server: {method} is not implemented yet"))
}
