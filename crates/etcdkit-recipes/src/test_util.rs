//! What the unit tests that run against a real etcd share.

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::{Client, ClientOptions};
use etcdkit_testkit::EtcdServer;

use crate::session::Session;

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

/// A fresh single-member server and a client of it.
pub(crate) async fn start_etcd() -> (EtcdServer, Client) {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    let client = connect(&etcd).await;
    (etcd, client)
}

/// A session of `client` whose lease (30 s TTL) outlives any one test even when its
/// renewals are held up by the faults the test injects.
pub(crate) async fn session(client: &Client) -> Session {
    bounded(Session::builder(client).ttl(Duration::from_secs(30)))
        .await
        .unwrap()
}
