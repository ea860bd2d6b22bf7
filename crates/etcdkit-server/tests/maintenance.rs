//! Maintenance and Cluster on the embedded server: alarms and the space quota, hash and
//! hash_kv stability, defragment, the snapshot stream, move leader, downgrade, and the
//! membership calls a single member answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, embedded, embedded_with, options};
use etcdkit::kv::{Delete, Get, Put};
use etcdkit::maintenance::{Alarm, AlarmType, DowngradeAction};
use etcdkit::{Client, ErrorKind, MemberId};
use etcdkit_server::Server;
use etcdkit_testkit::EtcdServer;

async fn fill(c: &Client, prefix: &str) {
    for i in 0..20 {
        bounded(c.kv().put(format!("{prefix}{i:02}"), format!("v{i}")))
            .await
            .unwrap();
    }
    bounded(c.kv().delete(format!("{prefix}05"))).await.unwrap();
    bounded(c.kv().put(format!("{prefix}07"), "again"))
        .await
        .unwrap();
}

#[tokio::test]
async fn passing_the_quota_raises_nospace_and_refuses_writes_until_disarmed() {
    let (server, c) = embedded_with(Server::builder().quota_backend_bytes(16 * 1024)).await;
    let value = vec![b'x'; 1024];
    let mut refused = None;
    for i in 0..64 {
        match bounded(c.kv().put(format!("q/{i:02}"), value.clone())).await {
            Ok(_) => {}
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let err = refused.expect("the quota never refused a put");
    assert_eq!(err.kind(), ErrorKind::NoSpace, "{err:?}");
    assert_eq!(err.message(), "etcdserver: mvcc: database space exceeded");
    let me = MemberId(server.member_id());
    let alarms = bounded(c.maintenance().alarm_list()).await.unwrap();
    assert_eq!(alarms.alarms(), [Alarm::new(me, AlarmType::NoSpace)]);
    // Under the alarm even a tiny put, a writing txn and a lease grant are refused;
    // reads and deletes go through.
    let small = bounded(c.kv().put("q/small", "1")).await.unwrap_err();
    assert_eq!(small.kind(), ErrorKind::NoSpace);
    let grant = bounded(c.lease().grant(Duration::from_secs(10)))
        .await
        .unwrap_err();
    assert_eq!(grant.kind(), ErrorKind::NoSpace);
    assert!(bounded(c.kv().get("q/").prefix()).await.unwrap().count() > 0);
    let deleted = bounded(c.kv().delete("q/").prefix()).await.unwrap();
    bounded(c.kv().compact(deleted.header().revision()))
        .await
        .unwrap();
    bounded(c.maintenance().defragment()).await.unwrap();
    // Still refused until the alarm is disarmed.
    assert_eq!(
        bounded(c.kv().put("q/small", "1"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NoSpace
    );
    let cleared = bounded(
        c.maintenance()
            .alarm_deactivate(Alarm::new(me, AlarmType::NoSpace)),
    )
    .await
    .unwrap();
    assert_eq!(cleared.alarms(), [Alarm::new(me, AlarmType::NoSpace)]);
    bounded(c.kv().put("q/small", "1")).await.unwrap();
    assert!(
        bounded(c.maintenance().alarm_list())
            .await
            .unwrap()
            .alarms()
            .is_empty()
    );
}

#[tokio::test]
async fn an_activated_alarm_is_listed_and_a_deactivated_one_is_gone() {
    let (server, c) = embedded().await;
    let me = MemberId(server.member_id());
    let raised = bounded(
        c.maintenance()
            .alarm_activate(Alarm::new(me, AlarmType::NoSpace)),
    )
    .await
    .unwrap();
    assert_eq!(raised.alarms(), [Alarm::new(me, AlarmType::NoSpace)]);
    assert_eq!(
        bounded(c.kv().put("al/a", "1")).await.unwrap_err().kind(),
        ErrorKind::NoSpace
    );
    bounded(c.maintenance().alarm_disarm_all()).await.unwrap();
    bounded(c.kv().put("al/a", "1")).await.unwrap();
}

#[tokio::test]
async fn hash_kv_is_the_same_for_the_same_contents_and_stable_for_past_revisions() {
    let (_s1, a) = embedded().await;
    let (_s2, b) = embedded().await;
    fill(&a, "hk/").await;
    fill(&b, "hk/").await;
    let ha = bounded(a.maintenance().hash_kv(0)).await.unwrap();
    let hb = bounded(b.maintenance().hash_kv(0)).await.unwrap();
    assert_eq!(ha.hash(), hb.hash());
    assert_eq!(ha.hash_revision(), hb.hash_revision());
    assert_eq!(ha.compact_revision().get(), -1);
    assert_eq!(
        bounded(a.maintenance().hash()).await.unwrap().hash(),
        bounded(b.maintenance().hash()).await.unwrap().hash()
    );
    // A later write changes the current hash, not the hash at the earlier revision.
    let rev = ha.hash_revision();
    bounded(a.kv().put("hk/new", "1")).await.unwrap();
    assert_ne!(
        bounded(a.maintenance().hash_kv(0)).await.unwrap().hash(),
        ha.hash()
    );
    assert_eq!(
        bounded(a.maintenance().hash_kv(rev)).await.unwrap().hash(),
        ha.hash()
    );
    let future = bounded(a.maintenance().hash_kv(rev.get() + 100))
        .await
        .unwrap_err();
    assert_eq!(future.kind(), ErrorKind::FutureRevision);
}

#[tokio::test]
async fn the_snapshot_streams_the_store_in_the_documented_format() {
    let (_server, c) = embedded().await;
    // Enough data for several 32 KiB chunks.
    for i in 0..100 {
        bounded(c.kv().put(format!("sn/{i:03}"), vec![b'v'; 1000]))
            .await
            .unwrap();
    }
    let mut snap = bounded(c.maintenance().snapshot()).await.unwrap();
    let mut bytes = Vec::new();
    let mut chunks = 0;
    while let Some(chunk) = bounded(snap.chunk()).await.unwrap() {
        chunks += 1;
        bytes.extend_from_slice(&chunk);
    }
    assert!(chunks >= 3, "{chunks} chunks");
    // The storage version rides along, as etcd 3.6's does (etcdctl prints it).
    assert_eq!(snap.server_version(), Some(etcdkit_server::ETCD_VERSION));
    assert!(bytes.starts_with(b"etcdkit-server snapshot 1\n"));
    let rev = i64::from_be_bytes(bytes[26..34].try_into().unwrap());
    assert_eq!(rev, 101);
    let keys = bytes.windows(6).filter(|w| w.starts_with(b"sn/")).count();
    assert_eq!(keys, 100);
    // etcd's clients look for a SHA-256 trailer after a body of whole 512-byte blocks.
    assert_eq!(bytes.len() % 512, 32);
    let (body, sha) = bytes.split_at(bytes.len() - 32);
    assert_eq!(
        ring::digest::digest(&ring::digest::SHA256, body).as_ref(),
        sha
    );
}

#[tokio::test]
async fn defragment_move_leader_and_downgrade_answer_as_a_single_member() {
    let (server, c) = embedded().await;
    let m = c.maintenance();
    bounded(m.defragment()).await.unwrap();
    let me = MemberId(server.member_id());
    bounded(m.move_leader(me)).await.unwrap();
    let bad = bounded(m.move_leader(MemberId(42))).await.unwrap_err();
    assert_eq!(bad.message(), "etcdserver: bad leader transferee");
    let invalid = bounded(m.downgrade(DowngradeAction::Validate, "3.4.0"))
        .await
        .unwrap_err();
    assert_eq!(
        invalid.message(),
        "etcdserver: invalid downgrade target version"
    );
    let format = bounded(m.downgrade(DowngradeAction::Validate, "three"))
        .await
        .unwrap_err();
    assert_eq!(
        format.message(),
        "etcdserver: wrong downgrade target version format"
    );
    let ok = bounded(m.downgrade(DowngradeAction::Validate, "3.5.0"))
        .await
        .unwrap();
    // As etcd 3.6 answers: the cluster version as MAJOR.MINOR, and a cancel with no
    // downgrade in progress succeeds.
    assert_eq!(ok.version(), "3.6");
    let cancel = bounded(m.downgrade(DowngradeAction::Cancel, ""))
        .await
        .unwrap();
    assert_eq!(cancel.version(), "3.6");
    let enable = bounded(m.downgrade(DowngradeAction::Enable, "3.5"))
        .await
        .unwrap_err();
    assert!(enable.message().contains("not supported"), "{enable:?}");
}

#[tokio::test]
async fn member_update_of_itself_shows_in_the_list_and_other_changes_are_refused() {
    let (server, c) = embedded().await;
    let me = MemberId(server.member_id());
    let cl = c.cluster();
    let updated = bounded(cl.member_update(me, ["http://127.0.0.1:2380"]))
        .await
        .unwrap();
    assert_eq!(updated.members()[0].peer_urls(), ["http://127.0.0.1:2380"]);
    let list = bounded(cl.member_list()).await.unwrap();
    assert_eq!(list.members().len(), 1);
    assert_eq!(list.members()[0].peer_urls(), ["http://127.0.0.1:2380"]);
    let unknown = bounded(cl.member_update(MemberId(7), ["http://127.0.0.1:2380"]))
        .await
        .unwrap_err();
    assert_eq!(unknown.message(), "etcdserver: member not found");
    let add = bounded(cl.member_add(["http://127.0.0.1:2390"]))
        .await
        .unwrap_err();
    assert!(add.message().contains("not supported"), "{add:?}");
    let remove = bounded(cl.member_remove(me)).await.unwrap_err();
    assert_eq!(
        remove.message(),
        "etcdserver: re-configuration failed due to not enough started members"
    );
    let promote = bounded(cl.member_promote(me)).await.unwrap_err();
    assert_eq!(
        promote.message(),
        "etcdserver: can only promote a learner member"
    );
}

/// What a client sees of filling a server past its quota and recovering, step by step.
async fn nospace_sequence(c: &Client) -> Vec<String> {
    fn outcome<T>(r: etcdkit::Result<T>) -> String {
        match r {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{:?} {:?}", e.kind(), e.message()),
        }
    }
    let mut seen = Vec::new();
    let value = vec![b'x'; 1024];
    let mut refused = None;
    for i in 0..400 {
        if let Err(e) = bounded(c.kv().put(format!("ns/{i:03}"), value.clone())).await {
            refused = Some(e);
            break;
        }
    }
    let err = refused.expect("the quota never refused a put");
    seen.push(format!("refused: {:?} {:?}", err.kind(), err.message()));
    let leader = bounded(c.maintenance().status()).await.unwrap().leader();
    let alarms = bounded(c.maintenance().alarm_list()).await.unwrap();
    seen.push(format!("alarms: {:?}", alarms.alarms()).replace(&format!("{leader:?}"), "ME"));
    seen.push(format!(
        "small put: {}",
        outcome(bounded(c.kv().put("ns/small", "1")).await)
    ));
    let grant = bounded(c.lease().grant(Duration::from_secs(10))).await;
    seen.push(format!("lease grant: {}", outcome(grant)));
    let get = bounded(c.kv().get("ns/").prefix().count_only()).await;
    seen.push(format!("get: {}", outcome(get)));
    let read_txn = bounded(c.kv().txn().and_then([Get::new("ns/000")])).await;
    seen.push(format!("read-only txn: {}", outcome(read_txn)));
    let delete_txn = bounded(c.kv().txn().and_then([Delete::new("ns/000")])).await;
    seen.push(format!("deleting txn: {}", outcome(delete_txn)));
    let put_txn = bounded(c.kv().txn().and_then([Put::new("ns/t", "1")])).await;
    seen.push(format!("putting txn: {}", outcome(put_txn)));
    let deleted = bounded(c.kv().delete("ns/").prefix()).await.unwrap();
    // Physical, so etcd has freed the pages before the defragment gives them back (else
    // etcd may still be over its quota after it).
    let compact = bounded(c.kv().compact(deleted.header().revision()).physical()).await;
    seen.push(format!("compact: {}", outcome(compact)));
    let defrag = bounded(c.maintenance().defragment()).await;
    seen.push(format!("defragment: {}", outcome(defrag)));
    let cleared = bounded(c.maintenance().alarm_disarm_all()).await.unwrap();
    seen.push(format!("disarmed: {}", cleared.alarms().len()));
    seen.push(format!(
        "put after: {}",
        outcome(bounded(c.kv().put("ns/small", "1")).await)
    ));
    seen
}

#[tokio::test]
async fn the_nospace_sequence_looks_the_same_on_real_etcd() {
    const QUOTA: u64 = 128 * 1024;
    let etcd = bounded(
        EtcdServer::builder()
            .arg(format!("--quota-backend-bytes={QUOTA}"))
            .start_server(),
    )
    .await
    .expect("start real etcd");
    let real = bounded(options(etcd.endpoint()).connect()).await.unwrap();
    let (_server, ours) = embedded_with(Server::builder().quota_backend_bytes(QUOTA)).await;
    let on_etcd = nospace_sequence(&real).await;
    let on_ours = nospace_sequence(&ours).await;
    assert_eq!(on_ours, on_etcd);
}

/// What a client sees of adding, updating, promoting and removing a learner, with etcd's
/// refusals along the way (member IDs left out: they differ between servers).
async fn learner_sequence(c: &Client) -> Vec<String> {
    fn outcome<T>(r: etcdkit::Result<T>) -> String {
        match r {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{:?} {:?}", e.kind(), e.message()),
        }
    }
    let describe = |m: &etcdkit::cluster::Member| {
        format!(
            "name {:?} peers {:?} clients {:?} learner {}",
            m.name(),
            m.peer_urls(),
            m.client_urls(),
            m.is_learner()
        )
    };
    let cl = c.cluster();
    let mut seen = Vec::new();
    let added = bounded(cl.member_add(["http://127.0.0.1:1"]).learner())
        .await
        .unwrap();
    let learner = added.member().unwrap().clone();
    seen.push(format!("added: {}", describe(&learner)));
    seen.push(format!("members after add: {}", added.members().len()));
    let again = bounded(cl.member_add(["http://127.0.0.1:1"]).learner()).await;
    seen.push(format!("same URLs again: {}", outcome(again)));
    let overlapping = bounded(
        cl.member_add(["http://127.0.0.1:1", "http://127.0.0.1:3"])
            .learner(),
    )
    .await;
    seen.push(format!("a URL in use: {}", outcome(overlapping)));
    let second = bounded(cl.member_add(["http://127.0.0.1:2"]).learner()).await;
    seen.push(format!("a second learner: {}", outcome(second)));
    let promote = bounded(cl.member_promote(learner.id())).await;
    seen.push(format!("promote: {}", outcome(promote)));
    let updated = bounded(cl.member_update(learner.id(), ["http://127.0.0.1:4"]))
        .await
        .unwrap();
    let listed = updated
        .members()
        .iter()
        .find(|m| m.id() == learner.id())
        .map(describe);
    seen.push(format!("updated: {listed:?}"));
    let removed = bounded(cl.member_remove(learner.id())).await.unwrap();
    seen.push(format!("members after remove: {}", removed.members().len()));
    let gone = bounded(cl.member_promote(learner.id())).await;
    seen.push(format!("promote a removed learner: {}", outcome(gone)));
    seen
}

#[tokio::test]
async fn learners_are_added_updated_refused_promotion_and_removed_as_on_real_etcd() {
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let real = bounded(options(etcd.endpoint()).connect()).await.unwrap();
    let (_server, ours) = embedded().await;
    let on_etcd = learner_sequence(&real).await;
    let on_ours = learner_sequence(&ours).await;
    assert_eq!(on_ours, on_etcd);
}

#[tokio::test]
async fn a_learner_survives_a_restart_of_a_durable_server() {
    let dir = tempfile::tempdir().unwrap();
    let (server, c) = embedded_with(Server::builder().data_dir(dir.path())).await;
    let added = bounded(c.cluster().member_add(["http://127.0.0.1:5"]).learner())
        .await
        .unwrap();
    let id = added.member().unwrap().id();
    drop(c);
    bounded(server.shutdown()).await;
    let (_server, c) = embedded_with(Server::builder().data_dir(dir.path())).await;
    let list = bounded(c.cluster().member_list()).await.unwrap();
    let learner = list.members().iter().find(|m| m.id() == id).unwrap();
    assert!(learner.is_learner());
    assert_eq!(learner.peer_urls(), ["http://127.0.0.1:5"]);
}
