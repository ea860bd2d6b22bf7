//! The data directory (`ServerBuilder::data_dir`): a server stopped and started again on
//! the same directory has everything acknowledged before (keys, revisions, versions,
//! history back to the compaction, leases with their keys, alarms, member IDs and peer
//! URLs), and a directory that is someone else's, damaged or in use is refused with a
//! typed error. (A process killed mid-stream: `crates/etcdkit-cli/tests/serve_durable.rs`,
//! which runs the `etcdkit serve` binary.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{bounded, embedded_with};
use etcdkit::maintenance::{Alarm, AlarmType};
use etcdkit::watch::EventType;
use etcdkit::{Client, ErrorKind, MemberId, Revision};
use etcdkit_server::{DataDirError, RunningServer, Server, StartError};
use tokio_stream::StreamExt;

async fn durable(dir: &Path) -> (RunningServer, Client) {
    embedded_with(Server::builder().data_dir(dir)).await
}

#[tokio::test]
async fn a_restarted_server_has_every_key_revision_version_and_the_history_back_to_the_compaction()
{
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = durable(dir.path()).await;
    let kv = c.kv();
    let a1 = bounded(kv.put("re/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    bounded(kv.put("re/a", "2")).await.unwrap();
    let b = bounded(kv.put("re/b", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let b_gone = bounded(kv.delete("re/b"))
        .await
        .unwrap()
        .header()
        .revision();
    bounded(kv.put("re/c", "1")).await.unwrap();
    let last = bounded(kv.put("re/a", "3")).await.unwrap();
    let last_rev = last.header().revision();
    bounded(kv.compact(b).physical()).await.unwrap();
    let me = MemberId(server.member_id());
    bounded(c.cluster().member_update(me, ["http://127.0.0.1:2380"]))
        .await
        .unwrap();
    let cluster_id = last.header().cluster_id();
    let hash = bounded(c.maintenance().hash_kv(0)).await.unwrap().hash();
    let old_port = server.local_addr().port();
    drop(c);
    bounded(server.shutdown()).await;

    let (server, c) = durable(dir.path()).await;
    let kv = c.kv();
    assert_ne!(server.local_addr().port(), old_port, "a new port");
    assert_eq!(server.member_id(), me.get(), "the member ID is kept");
    assert_eq!(server.revision(), last_rev.get());
    let a = bounded(kv.get("re/a")).await.unwrap();
    assert_eq!(
        a.header().cluster_id(),
        cluster_id,
        "the cluster ID is kept"
    );
    assert_eq!(a.header().revision(), last_rev);
    let a = &a.kvs()[0];
    assert_eq!(
        (
            a.value_str(),
            a.version(),
            a.create_revision(),
            a.mod_revision()
        ),
        (Some("3"), 3, a1, last_rev)
    );
    assert_eq!(bounded(kv.get("re/b")).await.unwrap().count(), 0);
    // The history from the compaction on is there; before it, compacted.
    let at_b = bounded(kv.get("re/b").revision(b)).await.unwrap();
    assert_eq!(at_b.kvs()[0].value_str(), Some("1"));
    let old = bounded(kv.get("re/a").revision(a1)).await.unwrap_err();
    assert_eq!(old.kind(), ErrorKind::Compacted);
    let mut w = bounded(c.watch().prefix("re/").start_revision(b))
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.len() < 4 {
        let r = bounded(w.next()).await.unwrap().unwrap();
        events.extend(r.events().iter().map(|e| {
            (
                e.event_type(),
                e.kv().key_str().unwrap_or("").to_owned(),
                e.revision().get(),
            )
        }));
    }
    assert_eq!(
        events,
        [
            (EventType::Put, "re/b".to_owned(), b.get()),
            (EventType::Delete, "re/b".to_owned(), b_gone.get()),
            (EventType::Put, "re/c".to_owned(), b_gone.get() + 1),
            (EventType::Put, "re/a".to_owned(), last_rev.get()),
        ]
    );
    assert_eq!(
        bounded(c.maintenance().hash_kv(0)).await.unwrap().hash(),
        hash,
        "the same retained revisions"
    );
    let members = bounded(c.cluster().member_list()).await.unwrap();
    assert_eq!(members.members()[0].peer_urls(), ["http://127.0.0.1:2380"]);
    // Numbering goes on from where it was.
    let next = bounded(kv.put("re/d", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    assert_eq!(next, last_rev.next());
}

#[tokio::test]
async fn leases_survive_a_restart_with_their_keys_and_expire_a_full_ttl_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = durable(dir.path()).await;
    let short = bounded(c.lease().grant(Duration::from_secs(4)))
        .await
        .unwrap();
    let long = bounded(c.lease().grant(Duration::from_secs(600)))
        .await
        .unwrap();
    let revoked = bounded(c.lease().grant(Duration::from_secs(600)))
        .await
        .unwrap();
    bounded(c.kv().put("lr/short", "1").lease(short.id()))
        .await
        .unwrap();
    bounded(c.kv().put("lr/long", "1").lease(long.id()))
        .await
        .unwrap();
    bounded(c.kv().put("lr/revoked", "1").lease(revoked.id()))
        .await
        .unwrap();
    bounded(c.lease().revoke(revoked.id())).await.unwrap();
    drop(c);
    bounded(server.shutdown()).await;
    // Down for most of the short lease's TTL: etcd gives every lease its full TTL again
    // from the restart, so it must not expire at once.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (_server, c) = durable(dir.path()).await;
    let restarted = Instant::now();
    let ttl = bounded(c.lease().time_to_live(short.id()).keys())
        .await
        .unwrap();
    assert!(ttl.exists());
    assert_eq!(ttl.granted_ttl(), 4);
    assert!(ttl.ttl() >= 3, "a full TTL again: {}", ttl.ttl());
    assert_eq!(ttl.keys(), ["lr/short"]);
    let ttl = bounded(c.lease().time_to_live(long.id()).keys())
        .await
        .unwrap();
    assert_eq!(ttl.keys(), ["lr/long"]);
    assert!(
        !bounded(c.lease().time_to_live(revoked.id()))
            .await
            .unwrap()
            .exists()
    );
    assert_eq!(bounded(c.kv().get("lr/revoked")).await.unwrap().count(), 0);
    let mut w = bounded(c.watch().key("lr/short")).await.unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].event_type(), EventType::Delete);
    let after = restarted.elapsed();
    assert!(
        after >= Duration::from_secs(3) && after <= Duration::from_secs(6),
        "expired {after:?} after the restart"
    );
    assert_eq!(bounded(c.kv().get("lr/long")).await.unwrap().count(), 1);
}

#[tokio::test]
async fn alarms_survive_a_restart_and_a_disarmed_one_stays_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = durable(dir.path()).await;
    let me = MemberId(server.member_id());
    let m = c.maintenance();
    bounded(m.alarm_activate(Alarm::new(me, AlarmType::NoSpace)))
        .await
        .unwrap();
    bounded(m.alarm_activate(Alarm::new(MemberId(7), AlarmType::Corrupt)))
        .await
        .unwrap();
    bounded(m.alarm_deactivate(Alarm::new(MemberId(7), AlarmType::Corrupt)))
        .await
        .unwrap();
    drop((m, c));
    bounded(server.shutdown()).await;

    let (_server, c) = durable(dir.path()).await;
    let alarms = bounded(c.maintenance().alarm_list()).await.unwrap();
    assert_eq!(alarms.alarms(), [Alarm::new(me, AlarmType::NoSpace)]);
    let refused = bounded(c.kv().put("al/k", "v")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NoSpace);
}

#[tokio::test]
async fn a_data_dir_in_use_by_a_running_server_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _c) = durable(dir.path()).await;
    let err = bounded(Server::builder().data_dir(dir.path()).start())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            StartError::DataDir {
                reason: DataDirError::Locked,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("in use by another running server"),
        "{err}"
    );
    // Dropping the server frees the directory at once.
    drop(first);
    let (_again, c) = durable(dir.path()).await;
    bounded(c.kv().put("lk/k", "v")).await.unwrap();
}

#[tokio::test]
async fn a_foreign_or_damaged_data_dir_is_refused_with_a_clear_error() {
    let root = tempfile::tempdir().unwrap();
    let start = |dir: std::path::PathBuf| async move {
        bounded(Server::builder().data_dir(dir).start())
            .await
            .unwrap_err()
    };

    // Someone else's directory (an etcd member's, say): never written into.
    let etcd = root.path().join("etcd");
    std::fs::create_dir_all(etcd.join("member/snap")).unwrap();
    let err = start(etcd.clone()).await;
    assert_not_ours(&err);
    assert!(
        err.to_string()
            .contains("not an etcdkit-server data directory"),
        "{err}"
    );
    assert!(!etcd.join("etcdkit-server.redb").exists());

    // A file where the directory should be.
    let file = root.path().join("file");
    std::fs::write(&file, b"hello").unwrap();
    let err = start(file).await;
    assert_not_ours(&err);

    // Our file name, but not a store.
    let garbage = root.path().join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("etcdkit-server.redb"), vec![0x5a; 8192]).unwrap();
    let err = start(garbage).await;
    assert_damaged(&err);
    assert!(err.to_string().contains("damaged"), "{err}");

    // A store whose pages were overwritten after its header.
    let broken = root.path().join("broken");
    {
        let (server, c) = durable(&broken).await;
        bounded(c.kv().put("dm/k", "v")).await.unwrap();
        drop(c);
        bounded(server.shutdown()).await;
    }
    let path = broken.join("etcdkit-server.redb");
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().skip(64) {
        *b = 0xa5;
    }
    std::fs::write(&path, bytes).unwrap();
    let err = start(broken).await;
    assert_damaged(&err);

    // A store cut short (a disk that filled, a copy stopped halfway): redb asserts on it,
    // which must come back as damage, not take the caller down.
    let truncated = root.path().join("truncated");
    {
        let (server, c) = durable(&truncated).await;
        bounded(c.kv().put("dm/k", "v")).await.unwrap();
        drop(c);
        bounded(server.shutdown()).await;
    }
    let path = truncated.join("etcdkit-server.redb");
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let err = start(truncated).await;
    assert_damaged(&err);
}

#[tokio::test]
async fn a_missing_directory_is_created_and_becomes_a_data_dir() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("new/nested");
    let (server, c) = durable(&dir).await;
    bounded(c.kv().put("em/k", "v")).await.unwrap();
    assert!(dir.join("etcdkit-server.redb").is_file());
    drop(c);
    bounded(server.shutdown()).await;
    let (server, c) = durable(&dir).await;
    let got = bounded(c.kv().get("em/k")).await.unwrap();
    assert_eq!(got.kvs()[0].value_str(), Some("v"));
    assert_eq!(got.header().revision(), Revision(2));
    drop(c);
    bounded(server.shutdown()).await;
}

#[tokio::test]
async fn users_roles_permissions_and_enabled_auth_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = durable(dir.path()).await;
    let auth = c.auth();
    bounded(auth.user_add("root", "rootpw")).await.unwrap();
    bounded(auth.role_add("root")).await.unwrap();
    bounded(auth.user_grant_role("root", "root")).await.unwrap();
    bounded(auth.role_add("reader")).await.unwrap();
    let perm = etcdkit::auth::Permission::read("au/").prefix();
    bounded(auth.role_grant_permission("reader", perm))
        .await
        .unwrap();
    bounded(auth.user_add("u", "upw")).await.unwrap();
    bounded(auth.user_grant_role("u", "reader")).await.unwrap();
    bounded(c.kv().put("au/k", "v")).await.unwrap();
    bounded(auth.enable()).await.unwrap();
    let url = server.url();
    let root = bounded(common::options(url).auth("root", "rootpw").connect())
        .await
        .unwrap();
    let before = bounded(root.auth().status()).await.unwrap();
    drop((auth, c, root));
    bounded(server.shutdown()).await;

    let (server, anonymous) = durable(dir.path()).await;
    // Auth is still on: a request without a token is refused as etcd refuses it ("user
    // name is empty", which the client reports as a missing or invalid token).
    let refused = bounded(anonymous.kv().get("au/k")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidToken, "{refused}");
    assert!(
        refused.to_string().contains("user name is empty"),
        "{refused}"
    );
    let login = |user: &'static str, password: &'static str| {
        common::options(server.url()).auth(user, password).connect()
    };
    let root = bounded(login("root", "rootpw")).await.unwrap();
    let after = bounded(root.auth().status()).await.unwrap();
    assert!(after.enabled);
    assert_eq!(after.auth_revision, before.auth_revision);
    let u = bounded(login("u", "upw")).await.unwrap();
    let got = bounded(u.kv().get("au/k")).await.unwrap();
    assert_eq!(got.kvs()[0].value().as_ref(), b"v");
    let denied = bounded(u.kv().put("au/k", "w")).await.unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied, "{denied}");
    let wrong = bounded(login("u", "nope")).await.unwrap();
    let refused = bounded(wrong.kv().get("au/k")).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::AuthFailed, "{refused}");
}

/// Why `err` refused the data directory, when that is what it did.
fn data_dir_refusal(err: &StartError) -> Option<&DataDirError> {
    match err {
        StartError::DataDir { reason, .. } => Some(reason),
        _ => None,
    }
}

/// `err` refuses the data directory as damaged.
fn assert_damaged(err: &StartError) {
    let reason = data_dir_refusal(err);
    assert!(matches!(reason, Some(DataDirError::Damaged(_))), "{err:?}");
}

/// `err` refuses a directory (or file) that is not an etcdkit-server data directory.
fn assert_not_ours(err: &StartError) {
    let reason = data_dir_refusal(err);
    assert!(matches!(reason, Some(DataDirError::NotOurs(_))), "{err:?}");
}
