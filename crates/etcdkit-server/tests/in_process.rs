//! A client in the same process reaching the server without a socket
//! (`RunningServer::service`, `etcdkit::InProcess`): the answers a TCP client gets, the
//! same limits, auto-sync that stays in-process, and a stopped server's refusal taken as
//! proof that nothing ran.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{bounded, embedded};
use etcdkit::kv::{Compare, CompareOp, Put};
use etcdkit::{Client, ClientOptions, ErrorKind, InProcess};
use etcdkit_server::{RunningServer, Server};
use tokio_stream::StreamExt;
use tower::ServiceExt;

/// The test options for a client that reaches `server` in-process.
fn in_process_options(server: &RunningServer) -> ClientOptions {
    common::options(server.url()).in_process(InProcess::new(server.url(), server.service()))
}

/// A client of `server` reached in-process, and the count of requests it handed over.
async fn in_process(server: &RunningServer) -> (Client, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let service = server.service().map_request(move |request| {
        counted.fetch_add(1, Ordering::Relaxed);
        request
    });
    let client = bounded(
        common::options(server.url())
            .in_process(InProcess::new(server.url(), service))
            .connect(),
    )
    .await
    .expect("connect in-process");
    (client, calls)
}

#[tokio::test]
async fn in_process_clients_get_the_answers_tcp_clients_get() {
    let (server, tcp) = embedded().await;
    let (local, calls) = in_process(&server).await;
    let before = calls.load(Ordering::Relaxed);

    let put = bounded(local.kv().put("ip/a", "1")).await.unwrap();
    let got = bounded(tcp.kv().get("ip/a")).await.unwrap();
    assert_eq!(got.kvs()[0].value().as_ref(), b"1");
    assert_eq!(got.kvs()[0].mod_revision(), put.header().revision());

    // A watch over the in-process stream sees a write made over TCP.
    let mut watcher = bounded(local.watch().prefix("ip/w/")).await.unwrap();
    let written = bounded(tcp.kv().put("ip/w/x", "seen")).await.unwrap();
    let batch = bounded(watcher.next()).await.unwrap().unwrap();
    assert_eq!(batch.events()[0].kv().key().as_ref(), b"ip/w/x");
    assert_eq!(
        batch.events()[0].kv().mod_revision(),
        written.header().revision()
    );

    // A txn, and a lease kept alive over the in-process keepalive stream.
    let txn = bounded(
        local
            .kv()
            .txn()
            .when([Compare::value("ip/a", CompareOp::Equal, "1")])
            .and_then([Put::new("ip/b", "2")]),
    )
    .await
    .unwrap();
    assert!(txn.succeeded());
    let lease = bounded(local.lease().grant(Duration::from_secs(5)))
        .await
        .unwrap();
    let keeper = bounded(local.lease().keep_alive(lease.id())).await.unwrap();
    bounded(local.kv().put("ip/leased", "x").lease(lease.id()))
        .await
        .unwrap();
    let ttl = bounded(tcp.lease().time_to_live(lease.id()).keys())
        .await
        .unwrap();
    assert_eq!(ttl.keys().len(), 1);
    drop(keeper);

    // Errors come back typed, as over TCP.
    let err = bounded(
        local
            .kv()
            .get("ip/a")
            .revision(put.header().revision().0 + 100),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::FutureRevision, "{err:?}");

    assert!(
        calls.load(Ordering::Relaxed) >= before + 6,
        "the requests went in-process"
    );
}

#[tokio::test]
async fn oversized_requests_are_refused_in_process_as_over_tcp() {
    let server = bounded(Server::builder().max_request_bytes(1024).start())
        .await
        .unwrap();
    let (local, _) = in_process(&server).await;
    // Over etcd's limit: etcd's own refusal.
    let err = bounded(local.kv().put("ip/big", Bytes::from(vec![b'x'; 4096])))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestTooLarge, "{err:?}");
    assert_eq!(err.message(), "etcdserver: request is too large");
    // Over gRPC's limit (etcd's plus 512 KiB): grpc-go's words, from the size-limit layer.
    let err = bounded(
        local
            .kv()
            .put("ip/huge", Bytes::from(vec![b'x'; 1024 * 1024])),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RequestTooLarge, "{err:?}");
    assert!(
        err.message()
            .starts_with("grpc: received message larger than max"),
        "{err:?}"
    );
}

#[tokio::test]
async fn auto_sync_keeps_an_in_process_client_in_process() {
    let (server, _tcp) = embedded().await;
    // Counts every request handed over in-process, and the member lists among them.
    let calls = Arc::new(AtomicUsize::new(0));
    let (synced, mut syncs) = tokio::sync::watch::channel(0_usize);
    let counted = calls.clone();
    let service = server.service().map_request(
        move |request: tonic::codegen::http::Request<tonic::body::Body>| {
            counted.fetch_add(1, Ordering::Relaxed);
            if request.uri().path() == "/etcdserverpb.Cluster/MemberList" {
                synced.send_modify(|n| *n += 1);
            }
            request
        },
    );
    // Written without the scheme: the member list advertises `http://...`, the same
    // endpoint once normalised.
    let local = bounded(
        common::options(server.endpoint())
            .auto_sync_interval(Duration::from_millis(100))
            .in_process(InProcess::new(server.endpoint(), service))
            .connect(),
    )
    .await
    .unwrap();
    // Two syncs came in-process: the endpoints have been replaced by the member list's.
    bounded(syncs.wait_for(|n| *n >= 2)).await.unwrap();
    let before = calls.load(Ordering::Relaxed);
    for i in 0..5 {
        bounded(local.kv().put(format!("ip/sync/{i}"), "v"))
            .await
            .unwrap();
    }
    assert!(
        calls.load(Ordering::Relaxed) >= before + 5,
        "after auto-sync the writes still went in-process"
    );
}

#[tokio::test]
async fn a_stopped_server_refuses_in_process_writes_as_never_sent() {
    let server = bounded(Server::builder().start()).await.unwrap();
    let local = bounded(
        in_process_options(&server)
            .request_timeout(Duration::from_secs(1))
            .connect(),
    )
    .await
    .unwrap();
    bounded(local.kv().put("ip/stop/a", "1")).await.unwrap();
    bounded(server.shutdown()).await;
    // Refused before it ran: never "outcome unknown".
    let err = bounded(local.kv().put("ip/stop/b", "2")).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("has stopped"),
        "names the stop: {err}"
    );
}

#[tokio::test]
async fn an_in_process_endpoint_that_is_no_endpoint_is_refused_at_connect() {
    let server = bounded(Server::builder().start()).await.unwrap();
    let err = bounded(
        common::options(server.url())
            .in_process(InProcess::new("ftp://nowhere", server.service()))
            .connect(),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{err:?}");
}

#[tokio::test]
async fn an_in_process_lock_wait_given_up_by_the_client_deletes_its_key() {
    // In-process there is no stream reset: the dropped call future must clean up.
    let server = bounded(Server::builder().start()).await.unwrap();
    let (c, _) = in_process(&server).await;
    common::given_up_lock_wait_deletes_its_key(&c, "ip/lk").await;
}

#[tokio::test]
async fn an_in_process_endpoint_that_names_another_address_is_refused_at_connect() {
    let server = bounded(Server::builder().start()).await.unwrap();
    // Valid endpoints, but none of the client's: a wrong port, and the right address with
    // another scheme. Ignored, the client would reach the server over TCP unnoticed.
    let wrong_port = format!("http://127.0.0.1:{}", server.local_addr().port() ^ 1);
    let wrong_scheme = server.url().replacen("http://", "https://", 1);
    for other in [wrong_port, wrong_scheme] {
        let err = bounded(
            common::options(server.url())
                .in_process(InProcess::new(other.clone(), server.service()))
                .connect(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{other}: {err:?}");
        assert!(err.to_string().contains("not one of"), "{other}: {err}");
    }
}

/// A server kept in a static by the first test to need it outlives that test's runtime.
/// Over TCP it is then gone (its tasks went with the runtime); in-process it must not
/// look alive either: it would answer, but never expire a lease.
#[test]
fn a_server_whose_runtime_ended_refuses_in_process_calls_as_stopped() {
    let first = tokio::runtime::Runtime::new().unwrap();
    let server = first.block_on(async { bounded(Server::builder().start()).await.unwrap() });
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        assert!(format!("{:?}", server.service()).contains("stopped: true"));
        let err = bounded(
            in_process_options(&server)
                .dial_timeout(Duration::from_millis(500))
                .connect(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err:?}");
        assert!(
            err.to_string().contains("has stopped"),
            "names the stop: {err}"
        );
    });
}
