//! Auth against real etcd: RBAC, wrong credentials, token expiry and auth-revision
//! changes handled by fetching a new token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::bounded;
use etcdkit::auth::Permission;
use etcdkit::{Client, ErrorKind};
use etcdkit_testkit::EtcdServer;

/// Sets up root, and a `reader` user whose role may read `/app/` only; enables auth.
async fn setup_rbac(etcd: &EtcdServer) {
    let admin = bounded(common::options(vec![etcd.endpoint()]).connect())
        .await
        .unwrap();
    let auth = admin.auth();
    bounded(auth.user_add("root", "rootpw")).await.unwrap();
    bounded(auth.user_grant_role("root", "root")).await.unwrap();
    bounded(auth.role_add("app-reader")).await.unwrap();
    bounded(auth.role_grant_permission("app-reader", Permission::read("/app/").prefix()))
        .await
        .unwrap();
    bounded(auth.user_add("reader", "readerpw")).await.unwrap();
    bounded(auth.user_grant_role("reader", "app-reader"))
        .await
        .unwrap();
    bounded(admin.kv().put("/app/config", "v1")).await.unwrap();
    bounded(admin.kv().put("/other/secret", "s")).await.unwrap();
    bounded(auth.enable()).await.unwrap();
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

#[tokio::test]
async fn a_reader_reads_its_prefix_and_is_refused_elsewhere() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    setup_rbac(&etcd).await;
    let reader = login(&etcd, "reader", "readerpw").await;
    let got = bounded(reader.kv().get("/app/config")).await.unwrap();
    assert_eq!(got.first().unwrap().value().as_ref(), b"v1");
    let write = bounded(reader.kv().put("/app/config", "v2"))
        .await
        .unwrap_err();
    assert_eq!(write.kind(), ErrorKind::PermissionDenied, "{write}");
    let other = bounded(reader.kv().get("/other/secret")).await.unwrap_err();
    assert_eq!(other.kind(), ErrorKind::PermissionDenied, "{other}");

    let root = login(&etcd, "root", "rootpw").await;
    bounded(root.kv().put("/app/config", "v2")).await.unwrap();
    let roles = bounded(root.auth().user_get("reader")).await.unwrap();
    assert_eq!(roles, ["app-reader"]);
    let perms = bounded(root.auth().role_get("app-reader")).await.unwrap();
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0].key().as_ref(), b"/app/");
    // AuthStatus arrived during 3.5's patch releases: every 3.6 and newer answers it; an
    // older server either answers or says, with the typed error, that it lacks it.
    let version = etcd.etcd_version().expect("etcd printed its version");
    match bounded(root.auth().status()).await {
        Ok(status) => assert!(status.enabled),
        Err(e) if !version.at_least(3, 6, 0) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}")
        }
        Err(e) => panic!("etcd {version} answers AuthStatus, but: {e}"),
    }
    let mut users = bounded(root.auth().user_list()).await.unwrap();
    users.sort();
    assert_eq!(users, ["reader", "root"]);
}

#[tokio::test]
async fn wrong_credentials_give_the_typed_auth_error() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    setup_rbac(&etcd).await;
    let client = login(&etcd, "reader", "wrong").await;
    let err = bounded(client.kv().get("/app/config")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AuthFailed, "{err}");
    assert!(!format!("{client:?}").contains("wrong"));
}

#[tokio::test]
async fn secrets_never_appear_in_debug_output() {
    let options = common::options(vec!["127.0.0.1:2379".into()])
        .auth("alice", "hunter2")
        .token("tok-secret");
    let text = format!("{options:?}");
    assert!(text.contains("alice"));
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("tok-secret"), "{text}");
}

#[tokio::test]
async fn expired_simple_tokens_are_replaced_transparently() {
    let etcd = bounded(
        EtcdServer::builder()
            .arg("--auth-token=simple")
            .arg("--auth-token-ttl=1")
            .start_server(),
    )
    .await
    .unwrap();
    setup_rbac(&etcd).await;
    let reader = login(&etcd, "reader", "readerpw").await;
    // Reads spaced wider than the token's lifetime (etcd extends a simple token on use,
    // and drops it a TTL after its last use): each read meets an expired token, gets a
    // new one and goes through.
    for _ in 0..3 {
        let got = bounded(reader.kv().get("/app/config")).await.unwrap();
        assert_eq!(got.count(), 1);
        // Spacing the reads out is the point of this test, not a wait for a condition.
        tokio::time::sleep(Duration::from_millis(2500)).await;
    }
}

#[tokio::test]
async fn a_token_from_an_older_auth_revision_is_replaced_transparently() {
    if etcdkit_testkit::skip_if_embedded("JWT tokens (the embedded server issues simple ones)") {
        return;
    }
    // JWT tokens carry the auth revision they were issued at; a role change makes them old.
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let private = dir.path().join("jwt.key");
    let public = dir.path().join("jwt.pub");
    std::fs::write(&private, key.serialize_pem()).unwrap();
    std::fs::write(&public, key.public_key_pem()).unwrap();
    let etcd = bounded(
        EtcdServer::builder()
            .arg(format!(
                "--auth-token=jwt,pub-key={},priv-key={},sign-method=ES256,ttl=10m",
                public.display(),
                private.display()
            ))
            .start_server(),
    )
    .await
    .unwrap();
    setup_rbac(&etcd).await;
    let reader = login(&etcd, "reader", "readerpw").await;
    bounded(reader.kv().get("/app/config")).await.unwrap();
    let root = login(&etcd, "root", "rootpw").await;
    bounded(
        root.auth()
            .role_grant_permission("app-reader", Permission::read("/more/").prefix()),
    )
    .await
    .unwrap();
    // The reader's token is now from an older auth revision; the client fetches another.
    bounded(reader.kv().get("/app/config")).await.unwrap();
    bounded(reader.kv().get("/more/x")).await.unwrap();
}

#[tokio::test]
async fn a_preset_token_is_used_as_given() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    setup_rbac(&etcd).await;
    let bad = bounded(
        common::options(vec![etcd.endpoint()])
            .token("not-a-token")
            .connect(),
    )
    .await
    .unwrap();
    let err = bounded(bad.kv().get("/app/config")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidToken, "{err}");
}

#[tokio::test]
async fn an_explicit_token_is_returned_hidden_and_works_as_a_preset_token() {
    let etcd = bounded(EtcdServer::start()).await.unwrap();
    setup_rbac(&etcd).await;
    let anonymous = bounded(common::options(vec![etcd.endpoint()]).connect())
        .await
        .unwrap();
    let token = bounded(anonymous.auth().authenticate("reader", "readerpw"))
        .await
        .unwrap();
    assert!(!token.secret().is_empty());
    let shown = format!("{token:?}");
    assert!(!shown.contains(token.secret()), "{shown}");

    // A second client, given only the saved token, acts as the reader.
    let saved: String = token.clone().into_secret();
    let with_token = bounded(
        common::options(vec![etcd.endpoint()])
            .token(saved)
            .connect(),
    )
    .await
    .unwrap();
    let got = bounded(with_token.kv().get("/app/config")).await.unwrap();
    assert_eq!(got.first().unwrap().value().as_ref(), b"v1");
    let other = bounded(with_token.kv().get("/other/secret"))
        .await
        .unwrap_err();
    assert_eq!(other.kind(), ErrorKind::PermissionDenied, "{other}");
    // The token converts straight into what `token` takes.
    let again = bounded(
        common::options(vec![etcd.endpoint()])
            .token(token)
            .connect(),
    )
    .await
    .unwrap();
    bounded(again.kv().get("/app/config")).await.unwrap();

    let wrong = bounded(anonymous.auth().authenticate("reader", "wrong"))
        .await
        .unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::AuthFailed, "{wrong}");
    let empty = bounded(anonymous.auth().authenticate("", "x"))
        .await
        .unwrap_err();
    assert_eq!(empty.kind(), ErrorKind::InvalidArgument, "{empty}");
}
