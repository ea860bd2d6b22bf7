//! Shared test helpers: real etcd from the test kit, clients, bounded waits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::{Client, ClientOptions};
use etcdkit_testkit::{EtcdCluster, EtcdServer};

/// Every await in a test is bounded by this unless it says otherwise.
pub const BOUND: Duration = Duration::from_secs(30);

/// Awaits `f`, failing the test if it takes longer than [`BOUND`].
pub async fn bounded<F: IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f.into_future())
        .await
        .expect("test step did not finish in time")
}

pub async fn server() -> EtcdServer {
    bounded(EtcdServer::start()).await.expect("start etcd")
}

/// A three-member cluster whose members accept frequent keepalive pings, so clients can
/// notice a frozen member within a couple of seconds.
pub async fn cluster(members: usize) -> EtcdCluster {
    bounded(
        EtcdCluster::builder()
            .members(members)
            .arg("--grpc-keepalive-min-time=200ms")
            .start(),
    )
    .await
    .expect("start etcd cluster")
}

pub fn options(endpoints: Vec<String>) -> ClientOptions {
    let options = ClientOptions::new(endpoints.clone())
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(10));
    in_process(options, &endpoints)
}

/// Under `ETCDKIT_TEST_ETCD=in-process`, the embedded servers among `endpoints` are reached
/// without a socket (`etcdkit::InProcess`); otherwise `options` as they are.
pub fn in_process(mut options: ClientOptions, endpoints: &[String]) -> ClientOptions {
    for endpoint in endpoints {
        if let Some(service) = etcdkit_testkit::in_process_service(endpoint) {
            options = options.in_process(etcdkit::InProcess::new(endpoint.clone(), service));
        }
    }
    options
}

pub async fn client(server: &EtcdServer) -> Client {
    bounded(options(vec![server.endpoint()]).connect())
        .await
        .expect("connect")
}

/// A cluster with etcd's default settings (its default ping policy among them), for
/// tests of the client's production defaults.
pub async fn default_cluster(members: usize) -> EtcdCluster {
    bounded(EtcdCluster::builder().members(members).start())
        .await
        .expect("start etcd cluster")
}

/// The index of the member whose client endpoint is `endpoint` (compared by port: the
/// client normalises endpoints to `scheme://host:port`).
pub fn member_at(etcd: &EtcdCluster, endpoint: &str) -> usize {
    let port = |e: &str| {
        e.rsplit(':')
            .next()
            .map(|p| p.trim_end_matches('/').to_string())
    };
    etcd.endpoints()
        .iter()
        .position(|e| port(e) == port(endpoint))
        .unwrap_or_else(|| panic!("{endpoint} is none of {:?}", etcd.endpoints()))
}
