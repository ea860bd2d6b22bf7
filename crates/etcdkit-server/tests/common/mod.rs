//! Shared test helpers: an embedded server with a connected etcdkit client, bounded waits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::{Client, ClientOptions};
use etcdkit_server::{RunningServer, Server, ServerBuilder};

/// Every await in a test is bounded by this unless it says otherwise.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `f`, failing the test if it takes longer than [`BOUND`].
pub async fn bounded<F: IntoFuture>(f: F) -> F::Output {
    tokio::time::timeout(BOUND, f.into_future())
        .await
        .expect("test step did not finish in time")
}

pub fn options(endpoint: String) -> ClientOptions {
    ClientOptions::new(vec![endpoint])
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(10))
}

/// An embedded server with etcd's defaults and a client connected to it.
pub async fn embedded() -> (RunningServer, Client) {
    embedded_with(Server::builder()).await
}

pub async fn embedded_with(builder: ServerBuilder) -> (RunningServer, Client) {
    let server = bounded(builder.start()).await.expect("start the server");
    let client = bounded(options(server.url()).connect())
        .await
        .expect("connect");
    (server, client)
}
