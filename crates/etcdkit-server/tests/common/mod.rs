//! Shared test helpers: an embedded server with a connected etcdkit client, bounded waits.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::watch::EventType;
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

/// The kinds of the events `watcher` delivers, until `n` of them have come.
pub async fn event_kinds(watcher: &mut etcdkit::watch::Watcher, n: usize) -> Vec<EventType> {
    use tokio_stream::StreamExt;
    let mut kinds = Vec::new();
    while kinds.len() < n {
        let resp = bounded(watcher.next()).await.unwrap().unwrap();
        kinds.extend(resp.events().iter().map(|e| e.event_type()));
    }
    kinds
}

/// A wait in line (a lock or a campaign) cut off by its own timeout failed as such, and
/// its contender key, which `events` watches, was put and then deleted when the call went
/// away.
pub async fn assert_given_up_and_key_removed(
    err: etcdkit::Error,
    events: &mut etcdkit::watch::Watcher,
) {
    assert!(
        matches!(
            err.kind(),
            etcdkit::ErrorKind::Timeout | etcdkit::ErrorKind::OutcomeUnknown
        ),
        "{err:?}"
    );
    assert_eq!(
        event_kinds(events, 2).await,
        [EventType::Put, EventType::Delete]
    );
}

/// Holds lock `name` with one lease, then waits for it with another and gives up after
/// 300 ms: the waiter's key must be deleted (over TCP the server sees the stream reset;
/// in-process the call's future is dropped).
pub async fn given_up_lock_wait_deletes_its_key(c: &Client, name: &str) {
    let grant = || async {
        bounded(c.lease().grant(Duration::from_secs(30)))
            .await
            .unwrap()
            .id()
    };
    let (l1, l2) = (grant().await, grant().await);
    let _held = bounded(c.lock().lock(name.to_owned(), l1)).await.unwrap();
    let mut events = bounded(c.watch().key(format!("{name}/{:x}", l2.0)))
        .await
        .unwrap();
    let err = bounded(
        c.lock()
            .lock(name.to_owned(), l2)
            .timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert_given_up_and_key_removed(err, &mut events).await;
}
