//! The previous value a watch event carries is the key's value at the revision before the
//! event's (etcd reads it at `mod_revision - 1`), not the change made just before it in the
//! same transaction. Same steps against the embedded server and real etcd (started by the
//! test kit). Regression found by the differential test (`etcdkit-difftest`, seed 2).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bounded, embedded, options};
use etcdkit::Client;
use etcdkit::kv::{Delete, Put, TxnOp};
use etcdkit::watch::{EventType, Watcher};
use etcdkit_testkit::EtcdServer;
use tokio_stream::StreamExt;

/// `(type, revision, previous value)` of the next `n` events of `w`.
async fn next_events(w: &mut Watcher, n: usize) -> Vec<(EventType, i64, Option<String>)> {
    let mut events = Vec::new();
    while events.len() < n {
        let r = bounded(w.next()).await.unwrap().unwrap();
        events.extend(r.events().iter().map(|e| {
            (
                e.event_type(),
                e.revision().get(),
                e.prev_kv()
                    .map(|p| String::from_utf8_lossy(p.value()).into_owned()),
            )
        }));
    }
    events
}

/// A transaction puts `z` (which holds "old") and then deletes it with a delete from a key
/// before it to the end of the keyspace (range end "\0": etcd does not count that as
/// writing `z` twice). Both events of that revision carry "old" as the previous value, in
/// the live watch and in one replaying the history.
async fn a_delete_after_a_put_in_one_txn_carries_the_value_before_the_txn(
    c: &Client,
    prefix: &str,
) {
    let z = format!("{prefix}z");
    let first = bounded(c.kv().put(z.clone(), "old"))
        .await
        .unwrap()
        .header()
        .revision();
    let mut live = bounded(c.watch().prefix(prefix.to_owned()).prev_kv())
        .await
        .unwrap();
    let txn = c.kv().txn().and_then([
        TxnOp::from(Put::new(z.clone(), "new")),
        TxnOp::from(Delete::new(format!("{prefix}d")).from_key().prev_kv()),
    ]);
    let at = bounded(txn).await.unwrap().header().revision().get();
    let old = Some("old".to_owned());
    let expected = [
        (EventType::Put, at, old.clone()),
        (EventType::Delete, at, old.clone()),
    ];
    assert_eq!(next_events(&mut live, 2).await, expected);
    let mut replay = bounded(
        c.watch()
            .prefix(prefix.to_owned())
            .prev_kv()
            .start_revision(first),
    )
    .await
    .unwrap();
    let replayed = next_events(&mut replay, 3).await;
    assert_eq!(replayed[0], (EventType::Put, first.get(), None));
    assert_eq!(replayed[1..], expected);
}

#[tokio::test]
async fn embedded_server_sends_the_value_before_the_txn_as_prev_kv() {
    let (_server, c) = embedded().await;
    a_delete_after_a_put_in_one_txn_carries_the_value_before_the_txn(&c, "prev-in-txn/").await;
}

#[tokio::test]
async fn real_etcd_sends_the_value_before_the_txn_as_prev_kv() {
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let c = bounded(options(etcd.endpoint()).connect()).await.unwrap();
    a_delete_after_a_put_in_one_txn_carries_the_value_before_the_txn(&c, "prev-in-txn/").await;
}
