//! What the unit tests that run against a real etcd share.

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::{Client, ClientOptions};
use etcdkit_testkit::EtcdServer;

/// How long one test step may take.
pub(crate) const BOUND: Duration = Duration::from_secs(30);

/// `f`, failing the test when it takes longer than [`BOUND`].
pub(crate) async fn bounded<F: IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f.into_future())
        .await
        .expect("test step did not finish in time")
}

/// A client of `etcd` with short timeouts.
pub(crate) async fn connect(etcd: &EtcdServer) -> Client {
    bounded(
        ClientOptions::new(vec![etcd.endpoint()])
            .dial_timeout(Duration::from_secs(2))
            .request_timeout(Duration::from_secs(5))
            .connect(),
    )
    .await
    .unwrap()
}
