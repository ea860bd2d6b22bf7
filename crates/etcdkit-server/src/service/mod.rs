//! The gRPC services: each turns a request into a step on the shared state and fills in
//! the response header as etcd does (cluster, member, term; the revision the step saw).

mod auth;
mod cluster;
mod election;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod watch;

pub(crate) use auth::AuthService;
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

/// What a stream still open when the server stops ends with. Not a clean end: a client
/// takes that as the server ending its watch (etcdctl exits "watch is canceled by the
/// server"); a stopping etcd drops its connections, which clients see as unavailable and
/// retry elsewhere or later.
pub(crate) fn shutting_down() -> tonic::Status {
    tonic::Status::unavailable("etcdkit-server: the server is shutting down")
}
