//! Long-lived clients with short-lived tokens: watches, lease keepalives and reads keep
//! working while etcd's simple tokens expire under them, and streams re-open with a new
//! token when the server no longer knows the old one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::bounded;
use etcdkit::auth::Permission;
use etcdkit::lease::KeepAliveState;
use etcdkit::watch::Watcher;
use etcdkit::{Client, ErrorKind};
use etcdkit_testkit::EtcdServer;
use tokio::time::Instant;
use tokio_stream::StreamExt;

/// A server whose simple tokens expire 2 s after their last use, with `root` and an
/// `app` user allowed to read and write `/expiry/`; auth enabled.
async fn server_with_short_tokens() -> EtcdServer {
    let etcd = bounded(
        EtcdServer::builder()
            .arg("--auth-token=simple")
            .arg("--auth-token-ttl=2")
            .start_server(),
    )
    .await
    .unwrap();
    let admin = common::client(&etcd).await;
    let auth = admin.auth();
    bounded(auth.user_add("root", "rootpw")).await.unwrap();
    bounded(auth.user_grant_role("root", "root")).await.unwrap();
    bounded(auth.role_add("app")).await.unwrap();
    bounded(auth.role_grant_permission("app", Permission::read_write("/expiry/").prefix()))
        .await
        .unwrap();
    bounded(auth.user_add("app", "apppw")).await.unwrap();
    bounded(auth.user_grant_role("app", "app")).await.unwrap();
    bounded(auth.enable()).await.unwrap();
    etcd
}

async fn login(etcd: &EtcdServer, user: &str, password: &str) -> Client {
    bounded(
        common::options(vec![etcd.endpoint()])
            .auth(user, password)
            .connect(),
    )
    .await
    .unwrap()
}

/// The next put's value seen by `watcher`.
async fn next_value(watcher: &mut Watcher) -> String {
    loop {
        let response = bounded(watcher.next()).await.unwrap().unwrap();
        if let Some(event) = response.events().first() {
            return event.kv().value_str().unwrap().to_string();
        }
    }
}

#[tokio::test]
async fn watch_keepalive_and_reads_outlive_two_second_tokens_for_twenty_seconds() {
    let etcd = server_with_short_tokens().await;
    let app = login(&etcd, "app", "apppw").await;
    let writer = login(&etcd, "root", "rootpw").await;

    let mut watcher = bounded(app.watch().prefix("/expiry/w/")).await.unwrap();
    let lease = bounded(app.lease().grant(Duration::from_secs(3)))
        .await
        .unwrap()
        .id();
    let keeper = bounded(app.lease().keep_alive(lease)).await.unwrap();
    bounded(app.kv().put("/expiry/leased", "x").lease(lease))
        .await
        .unwrap();

    let started = Instant::now();
    let mut sent = 0u32;
    let mut late_watcher: Option<(Watcher, u32)> = None;
    let mut last_read = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        // Another client writes; the watch must see every write, in order.
        bounded(writer.kv().put("/expiry/w/k", format!("{sent}")))
            .await
            .unwrap();
        assert_eq!(next_value(&mut watcher).await, format!("{sent}"));
        if let Some((late, _)) = late_watcher.as_mut() {
            assert_eq!(next_value(late).await, format!("{sent}"));
        }
        sent += 1;
        // Reads spaced wider than the token's lifetime meet an expired token each time.
        if last_read.elapsed() >= Duration::from_millis(2500) {
            let got = bounded(app.kv().get("/expiry/leased")).await.unwrap();
            assert_eq!(got.count(), 1, "the lease (and its key) must stay alive");
            last_read = Instant::now();
        }
        // Halfway, a new watch joins the shared stream, opened with a long-dead token.
        if late_watcher.is_none() && started.elapsed() >= Duration::from_secs(10) {
            late_watcher = Some((
                bounded(app.watch().prefix("/expiry/w/")).await.unwrap(),
                sent,
            ));
        }
        // Pacing the writes over the 20 s is the point of the test, not a wait.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(sent >= 20);
    assert!(late_watcher.is_some());
    assert!(
        matches!(*keeper.state().borrow(), KeepAliveState::Alive { .. }),
        "{:?}",
        *keeper.state().borrow()
    );
    let ttl = bounded(writer.lease().time_to_live(lease)).await.unwrap();
    assert!(ttl.ttl() > 0, "{ttl:?}");
}

#[tokio::test]
async fn streams_reopen_with_a_new_token_when_the_server_forgot_the_old_one() {
    if etcdkit_testkit::skip_if_embedded("restarts the etcd process") {
        return;
    }
    let etcd = server_with_short_tokens().await;
    let app = login(&etcd, "app", "apppw").await;
    let mut watcher = bounded(app.watch().prefix("/expiry/r/")).await.unwrap();
    let lease = bounded(app.lease().grant(Duration::from_secs(10)))
        .await
        .unwrap()
        .id();
    let keeper = bounded(app.lease().keep_alive(lease)).await.unwrap();
    bounded(app.kv().put("/expiry/r/a", "before"))
        .await
        .unwrap();
    assert_eq!(next_value(&mut watcher).await, "before");

    // A restart forgets every simple token: the streams break and must re-open with
    // a token the restarted server issued.
    bounded(etcd.restart(0)).await.unwrap();
    let writer = login(&etcd, "root", "rootpw").await;
    bounded(writer.kv().put("/expiry/r/a", "after"))
        .await
        .unwrap();
    assert_eq!(next_value(&mut watcher).await, "after");
    // The keepalive renews on its re-opened stream.
    let mut state = keeper.state();
    let restarted = Instant::now();
    bounded(async {
        loop {
            if let KeepAliveState::Alive { deadline, .. } = *state.borrow_and_update()
                && deadline > restarted
            {
                break;
            }
            if let KeepAliveState::Lost(reason) = *state.borrow() {
                panic!("lease lost: {reason}");
            }
            state.changed().await.unwrap();
        }
    })
    .await;
    bounded(app.kv().get("/expiry/r/a")).await.unwrap();
    // A user without rights is still refused, with the typed error, not retried forever.
    let denied = bounded(app.watch().prefix("/elsewhere/"))
        .await
        .unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
}
