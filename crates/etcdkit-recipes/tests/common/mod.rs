//! Helpers the recipe tests share: bounded waits and clients of real etcd.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::{Client, ClientOptions};
use etcdkit_testkit::EtcdServer;

/// Every await in a test is bounded by this unless it says otherwise.
pub const BOUND: Duration = Duration::from_secs(30);

/// Awaits `f`, failing the test if it takes longer than [`BOUND`].
pub async fn bounded<F: IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f.into_future())
        .await
        .expect("test step did not finish in time")
}

/// Client options for tests: short dial and request timeouts, and keepalive pings
/// frequent enough to notice a frozen member within a couple of seconds.
pub fn options(endpoints: Vec<String>) -> ClientOptions {
    let options = ClientOptions::new(endpoints.clone())
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
        .keepalive_interval(Duration::from_millis(500))
        .keepalive_timeout(Duration::from_secs(1));
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

/// A one-member etcd and a client of it.
pub async fn server() -> (EtcdServer, Client) {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = bounded(options(vec![etcd.endpoint()]).connect())
        .await
        .unwrap();
    (etcd, client)
}

pub mod kit_contract;
