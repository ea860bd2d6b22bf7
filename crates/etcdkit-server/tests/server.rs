//! Starting and stopping the embedded server: a loopback port, the member list and status
//! the client asks for when it connects, a bounded shutdown with streams open.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bounded, embedded};

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
async fn two_servers_run_side_by_side_with_their_own_data() {
    let (_a, ca) = embedded().await;
    let (_b, cb) = embedded().await;
    bounded(ca.kv().put("side/x", "a")).await.unwrap();
    assert_eq!(bounded(cb.kv().get("side/x")).await.unwrap().count(), 0);
}
