//! Starting and stopping the embedded server: a loopback port, the member list and status
//! the client asks for when it connects, a bounded shutdown with streams open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bounded, embedded};
use tokio_stream::StreamExt;

#[tokio::test]
async fn a_server_listens_on_a_loopback_port_and_lists_itself() {
    let (server, c) = embedded().await;
    assert!(
        server.endpoint().starts_with("127.0.0.1:"),
        "{}",
        server.endpoint()
    );
    assert_ne!(server.local_addr().port(), 0);
    let members = bounded(c.cluster().member_list()).await.unwrap();
    assert_eq!(members.members().len(), 1);
    let me = &members.members()[0];
    assert_eq!(me.id().get(), server.member_id());
    assert_eq!(me.client_urls(), [server.url()]);
    let status = bounded(c.maintenance().status()).await.unwrap();
    assert_eq!(status.leader().get(), server.member_id());
}

#[tokio::test]
async fn shutdown_finishes_with_a_watch_and_a_keepalive_open_and_frees_the_port() {
    let (server, c) = embedded().await;
    let addr = server.local_addr();
    let _watch = bounded(c.watch().prefix("sd/")).await.unwrap();
    let lease = bounded(c.lease().grant(std::time::Duration::from_secs(30)))
        .await
        .unwrap();
    let _keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    bounded(server.shutdown()).await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}

#[tokio::test]
async fn two_servers_run_side_by_side_with_their_own_data_and_ids() {
    let (a, ca) = embedded().await;
    let (b, cb) = embedded().await;
    bounded(ca.kv().put("side/x", "a")).await.unwrap();
    assert_eq!(bounded(cb.kv().get("side/x")).await.unwrap().count(), 0);
    // Same name, other address: other IDs, as two etcd members' would be.
    assert_ne!(a.member_id(), b.member_id());
    let (la, lb) = (
        bounded(ca.lease().grant(std::time::Duration::from_secs(30)))
            .await
            .unwrap(),
        bounded(cb.lease().grant(std::time::Duration::from_secs(30)))
            .await
            .unwrap(),
    );
    assert_ne!(la.id(), lb.id());
}

/// A client's watch waits and resumes on the server started again at the same address
/// (etcdctl's too: `serve::a_stopping_server_leaves_etcdctls_watch_waiting`, in the CLI).
#[tokio::test]
async fn a_watch_resumes_on_a_server_restarted_at_the_same_address() {
    let (first, c) = embedded().await;
    let addr = first.local_addr();
    let mut watch = bounded(c.watch().prefix("again/")).await.unwrap();
    bounded(first.shutdown()).await;
    let _second = bounded(etcdkit_server::Server::builder().listen(addr).start())
        .await
        .unwrap();
    // The new server's store is empty: its first put is revision 2, after the watch's
    // start (revision 1 of the first server).
    bounded(c.kv().put("again/k", "v")).await.unwrap();
    let response = bounded(watch.next()).await.unwrap().unwrap();
    assert_eq!(response.events()[0].kv().key().as_ref(), b"again/k");
}

#[tokio::test]
async fn a_server_on_an_unspecified_address_advertises_loopback() {
    let builder = etcdkit_server::Server::builder().listen(([0, 0, 0, 0], 0).into());
    let (server, c) = common::embedded_with(builder).await;
    assert!(server.local_addr().ip().is_unspecified());
    let port = server.local_addr().port();
    assert_eq!(server.endpoint(), format!("127.0.0.1:{port}"));
    assert_eq!(server.url(), format!("http://127.0.0.1:{port}"));
    let list = bounded(c.cluster().member_list()).await.unwrap();
    assert_eq!(
        list.members()[0].client_urls(),
        [format!("http://127.0.0.1:{port}")]
    );
}
