//! The Auth service of the embedded server through the `etcdkit` client: users, roles,
//! permissions, simple tokens and their TTL, enforcement on KV, watch, lease and admin
//! calls; and one long sequence run against real etcd and the embedded server alike,
//! compared answer by answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Debug;
use std::time::Duration;

use common::{bounded, embedded, embedded_with, options};
use etcdkit::auth::Permission;
use etcdkit::kv::{Compare, CompareOp, Put};
use etcdkit::{Client, ErrorKind, KeyRange};
use etcdkit_server::Server;
use etcdkit_testkit::EtcdServer;

/// What a call answered, without anything that differs between two servers (headers).
fn seen<T: Debug>(what: &str, r: etcdkit::Result<T>) -> String {
    match r {
        Ok(v) => format!("{what}: ok {v:?}"),
        Err(e) => format!("{what}: {:?} {:?} {}", e.kind(), e.code(), e.message()),
    }
}

async fn connect(endpoint: &str) -> Client {
    bounded(options(endpoint.to_owned()).connect())
        .await
        .unwrap()
}

async fn login(endpoint: &str, user: &str, password: &str) -> Client {
    bounded(options(endpoint.to_owned()).auth(user, password).connect())
        .await
        .unwrap()
}

/// Root with the root role, role `r` (read-write under `/a/`, read on `[/b, /d)`, write
/// from `/z` on, read on the key `k`), user `u` with role `r`, user `np` without a
/// password; auth left off.
async fn setup(admin: &Client, seen_: &mut Vec<String>) {
    let auth = admin.auth();
    seen_.push(seen(
        "enable without root",
        bounded(auth.enable()).await.map(|_| ()),
    ));
    bounded(auth.user_add("root", "rootpw")).await.unwrap();
    seen_.push(seen(
        "enable without root role",
        bounded(auth.enable()).await.map(|_| ()),
    ));
    bounded(auth.user_grant_role("root", "root")).await.unwrap();
    seen_.push(seen("role get root", bounded(auth.role_get("root")).await));
    seen_.push(seen("role list", bounded(auth.role_list()).await));
    seen_.push(seen(
        "user add root again",
        bounded(auth.user_add("root", "x")).await.map(|_| ()),
    ));
    bounded(auth.role_add("r")).await.unwrap();
    seen_.push(seen(
        "role add r again",
        bounded(auth.role_add("r")).await.map(|_| ()),
    ));
    seen_.push(seen(
        "role add empty",
        bounded(auth.role_add("")).await.map(|_| ()),
    ));
    for perm in [
        Permission::read_write("/a/").prefix(),
        Permission::read("/b").range_end("/d"),
        Permission::write("/z").range_end("\0"),
        Permission::read("k"),
    ] {
        bounded(auth.role_grant_permission("r", perm))
            .await
            .unwrap();
    }
    let inverted = Permission::read("/q").range_end("/a");
    seen_.push(seen(
        "grant an inverted range",
        bounded(auth.role_grant_permission("r", inverted))
            .await
            .map(|_| ()),
    ));
    seen_.push(seen(
        "grant on an empty key",
        bounded(auth.role_grant_permission("r", Permission::read("")))
            .await
            .map(|_| ()),
    ));
    seen_.push(seen(
        "grant to a missing role",
        bounded(auth.role_grant_permission("nope", Permission::read("x")))
            .await
            .map(|_| ()),
    ));
    seen_.push(seen("role get r", bounded(auth.role_get("r")).await));
    bounded(auth.user_add("u", "upw")).await.unwrap();
    bounded(auth.user_add_without_password("np")).await.unwrap();
    bounded(auth.user_grant_role("u", "r")).await.unwrap();
    seen_.push(seen(
        "grant a role twice",
        bounded(auth.user_grant_role("u", "r")).await.map(|_| ()),
    ));
    seen_.push(seen(
        "grant a missing role",
        bounded(auth.user_grant_role("u", "nope")).await.map(|_| ()),
    ));
    seen_.push(seen(
        "grant to a missing user",
        bounded(auth.user_grant_role("nope", "r")).await.map(|_| ()),
    ));
    seen_.push(seen(
        "revoke an ungranted role",
        bounded(auth.user_revoke_role("u", "nope"))
            .await
            .map(|_| ()),
    ));
    seen_.push(seen(
        "revoke an ungranted permission",
        bounded(auth.role_revoke_permission("r", "/nope", ""))
            .await
            .map(|_| ()),
    ));
    seen_.push(seen(
        "user get missing",
        bounded(auth.user_get("nope")).await,
    ));
    seen_.push(seen(
        "delete missing user",
        bounded(auth.user_delete("nope")).await.map(|_| ()),
    ));
    seen_.push(seen(
        "delete missing role",
        bounded(auth.role_delete("nope")).await.map(|_| ()),
    ));
    seen_.push(seen(
        "authenticate while off",
        bounded(auth.authenticate("u", "upw")).await.map(|_| ()),
    ));
    let status = bounded(auth.status())
        .await
        .map(|s| (s.enabled, s.auth_revision));
    seen_.push(seen("status before enable", status));
    bounded(admin.kv().put("/a/x", "1")).await.unwrap();
    bounded(admin.kv().put("/b/x", "1")).await.unwrap();
    bounded(admin.kv().put("/elsewhere", "1")).await.unwrap();
}

/// Everything one client sees of the sequence; the same on any etcd 3.6 member.
async fn auth_sequence(endpoint: &str) -> Vec<String> {
    let mut s = Vec::new();
    let admin = connect(endpoint).await;
    setup(&admin, &mut s).await;
    s.push(seen(
        "enable",
        bounded(admin.auth().enable()).await.map(|_| ()),
    ));
    s.push(seen(
        "enable again (anonymous)",
        bounded(admin.auth().enable()).await.map(|_| ()),
    ));
    s.push(seen(
        "anonymous get",
        bounded(admin.kv().get("/a/x")).await.map(|r| r.count()),
    ));
    s.push(seen(
        "anonymous status",
        bounded(admin.maintenance().status()).await.map(|_| ()),
    ));
    s.push(seen(
        "anonymous alarm list",
        bounded(admin.maintenance().alarm_list()).await.map(|_| ()),
    ));
    s.push(seen(
        "anonymous member list",
        bounded(admin.cluster().member_list()).await.map(|_| ()),
    ));
    s.push(seen(
        "anonymous lease grant",
        bounded(admin.lease().grant(Duration::from_secs(60)))
            .await
            .map(|_| ()),
    ));

    let root = login(endpoint, "root", "rootpw").await;
    let u = login(endpoint, "u", "upw").await;
    s.push(seen(
        "user status",
        bounded(u.maintenance().status()).await.map(|_| ()),
    ));
    s.push(seen(
        "user alarm list",
        bounded(u.maintenance().alarm_list()).await.map(|_| ()),
    ));
    s.push(seen(
        "user member list",
        bounded(u.cluster().member_list())
            .await
            .map(|r| r.members().len()),
    ));
    let wrong = login(endpoint, "u", "nope").await;
    s.push(seen(
        "wrong password",
        bounded(wrong.kv().get("/a/x")).await.map(|r| r.count()),
    ));
    let np = login(endpoint, "np", "x").await;
    s.push(seen(
        "no-password user",
        bounded(np.kv().get("/a/x")).await.map(|r| r.count()),
    ));
    let bad = bounded(
        options(endpoint.to_owned())
            .token("abcdefghijklmnop.1")
            .connect(),
    )
    .await
    .unwrap();
    s.push(seen(
        "unknown token",
        bounded(bad.kv().get("/a/x")).await.map(|r| r.count()),
    ));

    let kv = u.kv();
    s.push(seen(
        "u get /a/x",
        bounded(kv.get("/a/x")).await.map(|r| r.count()),
    ));
    s.push(seen(
        "u put /a/y",
        bounded(kv.put("/a/y", "2")).await.map(|_| ()),
    ));
    s.push(seen(
        "u put /b/y",
        bounded(kv.put("/b/y", "2")).await.map(|_| ()),
    ));
    s.push(seen(
        "u get /b prefix",
        bounded(kv.get("/b").prefix()).await.map(|r| r.count()),
    ));
    s.push(seen(
        "u get [/b, /e)",
        bounded(kv.get("/b").range_end("/e"))
            .await
            .map(|r| r.count()),
    ));
    s.push(seen(
        "u get /a/ from key",
        bounded(kv.get("/a/").from_key()).await.map(|r| r.count()),
    ));
    s.push(seen(
        "u put /zz",
        bounded(kv.put("/zz", "1")).await.map(|_| ()),
    ));
    s.push(seen(
        "u put /zz prev_kv",
        bounded(kv.put("/zz", "2").prev_kv()).await.map(|_| ()),
    ));
    s.push(seen(
        "u get /zz",
        bounded(kv.get("/zz")).await.map(|r| r.count()),
    ));
    s.push(seen(
        "u get k",
        bounded(kv.get("k")).await.map(|r| r.count()),
    ));
    s.push(seen(
        "u get k prefix",
        bounded(kv.get("k").prefix()).await.map(|r| r.count()),
    ));
    s.push(seen(
        "u delete /a/y",
        bounded(kv.delete("/a/y")).await.map(|r| r.deleted()),
    ));
    s.push(seen(
        "u delete /b/x",
        bounded(kv.delete("/b/x")).await.map(|r| r.deleted()),
    ));
    let txn = |cmp: &str, put: &str| {
        kv.txn()
            .when([Compare::value(cmp.to_owned(), CompareOp::Equal, "1")])
            .and_then([Put::new(put.to_owned(), "t")])
    };
    s.push(seen(
        "u txn ok",
        bounded(txn("/a/x", "/a/t")).await.map(|r| r.succeeded()),
    ));
    s.push(seen(
        "u txn compare denied",
        bounded(txn("/elsewhere", "/a/t"))
            .await
            .map(|r| r.succeeded()),
    ));
    s.push(seen(
        "u txn op denied",
        bounded(txn("/a/x", "/b/t")).await.map(|r| r.succeeded()),
    ));
    s.push(seen("u compact", bounded(kv.compact(1)).await.map(|_| ())));
    s.push(seen(
        "u watch /a/",
        bounded(u.watch().prefix("/a/")).await.map(|_| ()),
    ));
    s.push(seen(
        "u watch /elsewhere",
        bounded(u.watch().prefix("/elsewhere")).await.map(|_| ()),
    ));
    // A watch from a key on needs every key from there on.
    let from_b = u.watch().range(KeyRange::from_key("/b"));
    s.push(seen("u watch from /b", bounded(from_b).await.map(|_| ())));
    let from_c = u.watch().range(KeyRange::from_key("/d"));
    s.push(seen("u watch from /d", bounded(from_c).await.map(|_| ())));
    s.push(seen(
        "u watch [/b, /e)",
        bounded(u.watch().range(KeyRange::range("/b", "/e")))
            .await
            .map(|_| ()),
    ));
    s.push(seen(
        "anonymous watch",
        bounded(admin.watch().key("/a/x")).await.map(|_| ()),
    ));
    s.push(seen(
        "unknown token watch",
        bounded(bad.watch().key("/a/x")).await.map(|_| ()),
    ));
    s.push(seen(
        "anonymous lease list",
        bounded(admin.lease().leases()).await.map(|_| ()),
    ));
    s.push(seen(
        "u lease list",
        bounded(u.lease().leases()).await.map(|_| ()),
    ));
    s.push(seen("u user get u", bounded(u.auth().user_get("u")).await));
    s.push(seen(
        "u user get root",
        bounded(u.auth().user_get("root")).await,
    ));
    s.push(seen(
        "u role get r",
        bounded(u.auth().role_get("r")).await.map(|p| p.len()),
    ));
    s.push(seen("u user list", bounded(u.auth().user_list()).await));
    s.push(seen(
        "u status",
        bounded(u.auth().status()).await.map(|_| ()),
    ));
    s.push(seen(
        "u member list",
        bounded(u.cluster().member_list())
            .await
            .map(|m| m.members().len()),
    ));
    s.push(seen(
        "u hash",
        bounded(u.maintenance().hash_kv(0)).await.map(|_| ()),
    ));
    s.push(seen(
        "u alarm list",
        bounded(u.maintenance().alarm_list()).await.map(|_| ()),
    ));

    // Leases: revoking, and listing keys, need rights on every key of the lease.
    let lease = bounded(u.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap()
        .id();
    bounded(kv.put("/a/l", "1").lease(lease)).await.unwrap();
    bounded(root.kv().put("/elsewhere/l", "1").lease(lease))
        .await
        .unwrap();
    s.push(seen(
        "u ttl with keys",
        bounded(u.lease().time_to_live(lease).keys())
            .await
            .map(|t| t.keys().len()),
    ));
    s.push(seen(
        "u ttl",
        bounded(u.lease().time_to_live(lease))
            .await
            .map(|t| t.keys().len()),
    ));
    s.push(seen(
        "u put on the lease",
        bounded(kv.put("/a/m", "1").lease(lease)).await.map(|_| ()),
    ));
    s.push(seen(
        "u revoke",
        bounded(u.lease().revoke(lease)).await.map(|_| ()),
    ));
    s.push(seen(
        "root revoke",
        bounded(root.lease().revoke(lease)).await.map(|_| ()),
    ));

    let l2 = bounded(root.lease().grant(Duration::from_secs(60)))
        .await
        .unwrap()
        .id();
    s.push(seen(
        "anonymous keepalive",
        bounded(admin.lease().keep_alive_once(l2))
            .await
            .map(|r| r.ttl() > 0),
    ));
    s.push(seen(
        "u keepalive",
        bounded(u.lease().keep_alive_once(l2))
            .await
            .map(|r| r.ttl() > 0),
    ));
    s.push(seen(
        "anonymous lock",
        bounded(admin.lock().lock("/a/lk1", l2)).await.map(|_| ()),
    ));
    s.push(seen(
        "u lock under /a/",
        bounded(u.lock().lock("/a/lk2", l2)).await.map(|_| ()),
    ));
    s.push(seen(
        "u lock elsewhere",
        bounded(u.lock().lock("/elsewhere/lk", l2))
            .await
            .map(|_| ()),
    ));
    bounded(root.lease().revoke(l2)).await.unwrap();

    let rauth = root.auth();
    s.push(seen(
        "revoke root from root",
        bounded(rauth.user_revoke_role("root", "root"))
            .await
            .map(|_| ()),
    ));
    s.push(seen(
        "delete root",
        bounded(rauth.user_delete("root")).await.map(|_| ()),
    ));
    s.push(seen(
        "delete role root",
        bounded(rauth.role_delete("root")).await.map(|_| ()),
    ));
    s.push(seen(
        "root compact",
        bounded(root.kv().compact(2)).await.map(|_| ()),
    ));
    s.push(seen(
        "root get /elsewhere",
        bounded(root.kv().get("/elsewhere"))
            .await
            .map(|r| r.count()),
    ));
    s.push(seen("root user list", bounded(rauth.user_list()).await));
    s.push(seen("root role list", bounded(rauth.role_list()).await));
    s.push(seen(
        "root status",
        bounded(rauth.status())
            .await
            .map(|s| (s.enabled, s.auth_revision)),
    ));
    // A password change ends the user's tokens; its client's old password fails now.
    bounded(rauth.user_change_password("u", "upw2"))
        .await
        .unwrap();
    s.push(seen(
        "u after password change",
        bounded(kv.get("/a/x")).await.map(|r| r.count()),
    ));
    let u2 = login(endpoint, "u", "upw2").await;
    s.push(seen(
        "u with new password",
        bounded(u2.kv().get("/a/x")).await.map(|r| r.count()),
    ));
    // Revoking the role takes the rights at once.
    bounded(rauth.user_revoke_role("u", "r")).await.unwrap();
    s.push(seen(
        "u without its role",
        bounded(u2.kv().get("/a/x")).await.map(|r| r.count()),
    ));
    bounded(rauth.role_delete("r")).await.unwrap();
    s.push(seen(
        "user get u after role delete",
        bounded(rauth.user_get("u")).await,
    ));
    bounded(rauth.user_delete("u")).await.unwrap();
    s.push(seen(
        "deleted user's client",
        bounded(u2.kv().get("/a/x")).await.map(|r| r.count()),
    ));
    s.push(seen("disable", bounded(rauth.disable()).await.map(|_| ())));
    s.push(seen(
        "status after disable",
        bounded(admin.auth().status())
            .await
            .map(|s| (s.enabled, s.auth_revision)),
    ));
    s.push(seen(
        "anonymous get after disable",
        bounded(admin.kv().get("/elsewhere"))
            .await
            .map(|r| r.count()),
    ));
    s
}

#[tokio::test]
async fn the_auth_sequence_answers_as_real_etcd_does() {
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let (server, _) = embedded().await;
    let on_etcd = auth_sequence(&etcd.endpoint()).await;
    let on_ours = auth_sequence(&server.url()).await;
    let differ: Vec<_> = on_ours
        .iter()
        .zip(&on_etcd)
        .filter(|(ours, theirs)| ours != theirs)
        .map(|(ours, theirs)| format!("ours:  {ours}\netcd:  {theirs}"))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    assert_eq!(on_ours.len(), on_etcd.len());
}

/// Root (password `rootpw`) and auth on.
async fn with_root(c: &Client) {
    bounded(c.auth().user_add("root", "rootpw")).await.unwrap();
    bounded(c.auth().user_grant_role("root", "root"))
        .await
        .unwrap();
    bounded(c.auth().enable()).await.unwrap();
}

#[tokio::test]
async fn a_simple_token_expires_when_unused_for_its_ttl_and_lives_while_used() {
    let (server, c) =
        embedded_with(Server::builder().auth_token_ttl(Duration::from_millis(800))).await;
    with_root(&c).await;
    let token = bounded(c.auth().authenticate("root", "rootpw"))
        .await
        .unwrap();
    let (prefix, index) = token.secret().split_once('.').unwrap();
    assert_eq!(prefix.len(), 16, "{prefix}");
    assert!(prefix.bytes().all(|b| b.is_ascii_alphabetic()), "{prefix}");
    assert!(index.parse::<u64>().is_ok(), "{index}");
    let with_token = bounded(options(server.url()).token(token).connect())
        .await
        .unwrap();
    // Used every 400 ms, it outlives its TTL several times over.
    for _ in 0..6 {
        bounded(with_token.kv().put("tok/k", "v")).await.unwrap();
        // Spacing the uses is the point of the test, not a wait for a condition.
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    // Unused for longer than its TTL, it is gone.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let err = bounded(with_token.kv().get("tok/k")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidToken, "{err}");
    assert_eq!(err.message(), "etcdserver: invalid auth token");
}

#[tokio::test]
async fn a_client_with_a_password_replaces_its_expired_token() {
    let (server, c) =
        embedded_with(Server::builder().auth_token_ttl(Duration::from_millis(500))).await;
    with_root(&c).await;
    let root = login(&server.url(), "root", "rootpw").await;
    for i in 0..3 {
        bounded(root.kv().put("exp/k", format!("{i}")))
            .await
            .unwrap();
        // Each put meets an expired token.
        tokio::time::sleep(Duration::from_millis(800)).await;
    }
    let got = bounded(root.kv().get("exp/k")).await.unwrap();
    assert_eq!(got.first().unwrap().value().as_ref(), b"2");
}

#[tokio::test]
async fn every_auth_change_bumps_the_auth_revision_and_enable_does_not() {
    let (_server, c) = embedded().await;
    let auth = c.auth();
    let rev = || async { bounded(auth.status()).await.unwrap().auth_revision };
    assert_eq!(rev().await, 1);
    bounded(auth.user_add("root", "pw")).await.unwrap();
    bounded(auth.user_grant_role("root", "root")).await.unwrap();
    assert_eq!(rev().await, 3);
    // Granting a role the user has changes nothing.
    bounded(auth.user_grant_role("root", "root")).await.unwrap();
    assert_eq!(rev().await, 3);
    bounded(auth.role_add("r")).await.unwrap();
    bounded(auth.role_grant_permission("r", Permission::read("x")))
        .await
        .unwrap();
    bounded(auth.role_revoke_permission("r", "x", ""))
        .await
        .unwrap();
    assert_eq!(rev().await, 6);
    bounded(auth.enable()).await.unwrap();
    let root = login(&_server.url(), "root", "pw").await;
    let status = bounded(root.auth().status()).await.unwrap();
    assert_eq!((status.enabled, status.auth_revision), (true, 6));
    bounded(root.auth().disable()).await.unwrap();
    let status = bounded(c.auth().status()).await.unwrap();
    assert_eq!((status.enabled, status.auth_revision), (false, 7));
}

#[tokio::test]
async fn admin_calls_need_the_root_role_and_root_may_do_anything() {
    let (server, c) = embedded().await;
    bounded(c.auth().user_add("plain", "pw")).await.unwrap();
    with_root(&c).await;
    let plain = login(&server.url(), "plain", "pw").await;
    let root = login(&server.url(), "root", "rootpw").await;
    let denied = |r: etcdkit::Result<()>| {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    };
    denied(bounded(plain.maintenance().defragment()).await.map(|_| ()));
    denied(bounded(plain.maintenance().hash_kv(0)).await.map(|_| ()));
    denied(bounded(plain.kv().compact(1)).await.map(|_| ()));
    denied(bounded(plain.auth().role_add("x")).await.map(|_| ()));
    denied(bounded(plain.kv().put("any", "v")).await.map(|_| ()));
    // Status and the member list are for anyone, as in etcd 3.6.
    bounded(plain.maintenance().status()).await.unwrap();
    bounded(plain.cluster().member_list()).await.unwrap();
    bounded(root.kv().put("any", "v")).await.unwrap();
    bounded(root.kv().get("").from_key()).await.unwrap();
    bounded(root.maintenance().defragment()).await.unwrap();
    bounded(root.maintenance().hash_kv(0)).await.unwrap();
    bounded(root.kv().compact(1)).await.unwrap();
}

/// The next put's value `watcher` sees.
async fn next_value(watcher: &mut etcdkit::watch::Watcher) -> String {
    use tokio_stream::StreamExt;
    loop {
        let response = bounded(watcher.next()).await.unwrap().unwrap();
        if let Some(event) = response.events().first() {
            return event.kv().value_str().unwrap().to_string();
        }
    }
}

#[tokio::test]
async fn watches_keepalives_and_reads_outlive_one_second_tokens() {
    use etcdkit::lease::KeepAliveState;
    let (server, c) = embedded_with(Server::builder().auth_token_ttl(Duration::from_secs(1))).await;
    let auth = c.auth();
    bounded(auth.role_add("app")).await.unwrap();
    let perm = Permission::read_write("/expiry/").prefix();
    bounded(auth.role_grant_permission("app", perm))
        .await
        .unwrap();
    bounded(auth.user_add("app", "apppw")).await.unwrap();
    bounded(auth.user_grant_role("app", "app")).await.unwrap();
    with_root(&c).await;
    let app = login(&server.url(), "app", "apppw").await;
    let writer = login(&server.url(), "root", "rootpw").await;

    let mut watcher = bounded(app.watch().prefix("/expiry/w/")).await.unwrap();
    let lease = bounded(app.lease().grant(Duration::from_secs(2)))
        .await
        .unwrap()
        .id();
    let keeper = bounded(app.lease().keep_alive(lease)).await.unwrap();
    bounded(app.kv().put("/expiry/leased", "x").lease(lease))
        .await
        .unwrap();
    let mut late = None;
    for i in 0..8 {
        bounded(writer.kv().put("/expiry/w/k", format!("{i}")))
            .await
            .unwrap();
        assert_eq!(next_value(&mut watcher).await, format!("{i}"));
        if let Some(late) = late.as_mut() {
            assert_eq!(next_value(late).await, format!("{i}"));
        }
        if i % 3 == 2 {
            // Reads spaced wider than the token's life meet an expired token.
            let got = bounded(app.kv().get("/expiry/leased")).await.unwrap();
            assert_eq!(got.count(), 1, "the lease (and its key) must stay alive");
        }
        if i == 4 {
            // A new watch joins the shared stream, opened with a long-dead token.
            late = Some(bounded(app.watch().prefix("/expiry/w/")).await.unwrap());
        }
        // Pacing the writes is the point of the test, not a wait.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert!(late.is_some());
    assert!(
        matches!(*keeper.state().borrow(), KeepAliveState::Alive { .. }),
        "{:?}",
        *keeper.state().borrow()
    );
    let denied = bounded(app.watch().prefix("/elsewhere/"))
        .await
        .unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
}

/// What etcdctl prints for `args` against `endpoint`: its output and its `Error:` line
/// (the Go client's retry logs on stderr carry times and ports, so they are left out).
async fn etcdctl(endpoint: &str, args: &[&str]) -> String {
    let bin = std::env::var("ETCDCTL_BIN").unwrap_or_else(|_| "etcdctl".to_owned());
    let out = bounded(
        tokio::process::Command::new(bin)
            .arg(format!("--endpoints={endpoint}"))
            .args(args)
            .stdin(std::process::Stdio::null())
            .output(),
    )
    .await
    .expect("run etcdctl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<_> = stderr.lines().filter(|l| l.starts_with("Error")).collect();
    format!(
        "$ {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        errors.join("\n")
    )
}

async fn etcdctl_session(endpoint: &str) -> Vec<String> {
    let root = "--user=root:rootpw";
    let u = "--user=u:upw";
    let script: &[&[&str]] = &[
        &["auth", "enable"],
        &[
            "user",
            "add",
            "root",
            "--new-user-password=rootpw",
            "--interactive=false",
        ],
        &["user", "grant-role", "root", "root"],
        &["role", "add", "r"],
        &["role", "add", "r"],
        &[
            "role",
            "grant-permission",
            "r",
            "readwrite",
            "/a/",
            "--prefix",
        ],
        &["role", "grant-permission", "r", "read", "/b", "/d"],
        &["role", "grant-permission", "r", "write", "/z", "--from-key"],
        &["role", "get", "r"],
        &["role", "list"],
        &[
            "user",
            "add",
            "u",
            "--new-user-password=upw",
            "--interactive=false",
        ],
        &["user", "add", "np", "--no-password"],
        &["user", "grant-role", "u", "r"],
        &["user", "get", "u"],
        &["user", "get", "u", "--detail"],
        &["user", "list"],
        &["auth", "status"],
        &["auth", "enable"],
        &["get", "/a/x"],
        &[root, "auth", "status"],
        &[u, "put", "/a/x", "1"],
        &[u, "get", "/a/", "--prefix"],
        &[u, "put", "/b/x", "1"],
        &[u, "user", "get", "root"],
        &[u, "compaction", "1"],
        &["--user=u:wrong", "get", "/a/x"],
        &["--user=np:x", "get", "/a/x"],
        &[root, "user", "revoke-role", "root", "root"],
        &[root, "role", "revoke-permission", "r", "/a/", "--prefix"],
        &[root, "role", "revoke-permission", "r", "/a/", "--prefix"],
        &[u, "get", "/a/x"],
        &[
            root,
            "user",
            "passwd",
            "u",
            "--new-user-password=upw2",
            "--interactive=false",
        ],
        &[u, "get", "/b"],
        &[root, "user", "delete", "u"],
        &[root, "role", "delete", "r"],
        &[root, "user", "list"],
        &[root, "auth", "disable"],
        &["auth", "status"],
    ];
    let mut seen = Vec::new();
    for args in script {
        seen.push(etcdctl(endpoint, args).await);
    }
    seen
}

#[tokio::test]
async fn etcdctls_auth_user_and_role_commands_print_what_they_print_on_real_etcd() {
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let (server, _) = embedded().await;
    let on_etcd = etcdctl_session(&etcd.endpoint()).await;
    let on_ours = etcdctl_session(&server.endpoint()).await;
    // The session did reach both servers and did what it says.
    let all = on_etcd.concat();
    for expected in [
        "Authentication Enabled",
        "Role r created",
        "Error: etcdserver: role name already exists",
        "Error: etcdserver: permission denied",
        "Error: etcdserver: authentication failed, invalid user ID or password",
        "Authentication Disabled",
    ] {
        assert!(all.contains(expected), "{expected} not in:\n{all}");
    }
    let differ: Vec<_> = on_ours
        .iter()
        .zip(&on_etcd)
        .filter(|(ours, theirs)| ours != theirs)
        .map(|(ours, theirs)| format!("ours:\n{ours}\netcd:\n{theirs}"))
        .collect();
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
