//! What a compaction keeps, seen through watches from the compaction revision: the same
//! steps against the embedded server and against real etcd (started by the test kit) give
//! the same events. Regressions found by the differential test (`etcdkit-difftest`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bounded, embedded, options};
use etcdkit::watch::EventType;
use etcdkit::{Client, Revision};
use etcdkit_testkit::EtcdServer;
use tokio_stream::StreamExt;

/// `(type, revision)` of the first `n` events of a watch of `key` from `start`.
async fn first_events(c: &Client, key: &str, start: Revision, n: usize) -> Vec<(EventType, i64)> {
    let mut w = bounded(c.watch().key(key.to_owned()).start_revision(start))
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.len() < n {
        let r = bounded(w.next()).await.unwrap().unwrap();
        events.extend(
            r.events()
                .iter()
                .map(|e| (e.event_type(), e.revision().get())),
        );
    }
    events.truncate(n);
    events
}

/// A key deleted at the compaction revision and created again after it: a watch from the
/// compaction revision starts with that delete (etcd 3.6 keeps a tombstone made at exactly
/// the compaction revision), and a later compaction past it drops it.
async fn a_delete_at_the_compaction_revision_is_kept(c: &Client, prefix: &str) {
    let key = format!("{prefix}k");
    bounded(c.kv().put(key.clone(), "1")).await.unwrap();
    let deleted = bounded(c.kv().delete(key.clone()))
        .await
        .unwrap()
        .header()
        .revision();
    let recreated = bounded(c.kv().put(key.clone(), "2"))
        .await
        .unwrap()
        .header()
        .revision();
    // Physical: the answer must not hang on whether etcd's compaction finished.
    bounded(c.kv().compact(deleted).physical()).await.unwrap();
    assert_eq!(
        first_events(c, &key, deleted, 2).await,
        [
            (EventType::Delete, deleted.get()),
            (EventType::Put, recreated.get())
        ]
    );
    // A read at the compaction revision still finds no key.
    let at = bounded(c.kv().get(key.clone()).revision(deleted))
        .await
        .unwrap();
    assert!(at.kvs().is_empty(), "{:?}", at.kvs());

    bounded(c.kv().compact(recreated).physical()).await.unwrap();
    assert_eq!(
        first_events(c, &key, recreated, 1).await,
        [(EventType::Put, recreated.get())]
    );
}

#[tokio::test]
async fn embedded_server_keeps_a_delete_made_at_the_compaction_revision() {
    let (_server, c) = embedded().await;
    a_delete_at_the_compaction_revision_is_kept(&c, "tomb-at-compact/").await;
}

#[tokio::test]
async fn real_etcd_keeps_a_delete_made_at_the_compaction_revision() {
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let c = bounded(options(etcd.endpoint()).connect()).await.unwrap();
    a_delete_at_the_compaction_revision_is_kept(&c, "tomb-at-compact/").await;
}
