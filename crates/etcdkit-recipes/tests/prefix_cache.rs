//! The prefix cache against a real 3-member cluster: it loads, follows changes, and
//! after a compaction that happened while its member was frozen it re-lists, emits
//! exactly one resync and converges to etcd's state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::bounded;
use std::collections::BTreeMap;
use std::time::Duration;

use etcdkit::{ClientOptions, ErrorKind};
use etcdkit_recipes::prefix_cache::{CacheEvent, PrefixCache};
use etcdkit_testkit::EtcdCluster;
use futures_util::FutureExt;
use tokio_stream::StreamExt;

fn options(endpoints: Vec<String>) -> ClientOptions {
    ClientOptions::new(endpoints)
        .dial_timeout(Duration::from_secs(2))
        .request_timeout(Duration::from_secs(5))
}

async fn wait_until(mut f: impl FnMut() -> bool) {
    bounded(async {
        while !f() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_after_compaction_while_frozen_with_one_resync() {
    let cluster = bounded(
        EtcdCluster::builder()
            .members(3)
            .arg("--grpc-keepalive-min-time=200ms")
            .start(),
    )
    .await
    .unwrap();
    let writer = bounded(options(cluster.endpoints()).connect())
        .await
        .unwrap();
    for i in 0..25 {
        writer
            .kv()
            .put(format!("pc/{i:02}"), format!("v{i}"))
            .await
            .unwrap();
    }
    // Long keepalive: the frozen member is found out by its kill below, after the
    // compaction, not by a ping racing the writes.
    let cache_client = bounded(
        options(cluster.endpoints())
            .keepalive_interval(Duration::from_secs(60))
            .keepalive_timeout(Duration::from_secs(60))
            .connect(),
    )
    .await
    .unwrap();
    let cache = PrefixCache::builder(&cache_client, "pc/")
        .page_size(7)
        .start();
    bounded(cache.ready()).await;
    assert_eq!(cache.snapshot().entries().len(), 25, "loaded in pages");
    let mut changes = cache.changes();
    writer.kv().put("pc/live", "1").await.unwrap();
    let e = bounded(changes.next()).await.unwrap();
    assert!(
        matches!(&e, CacheEvent::Put(kv) if kv.key().as_ref() == b"pc/live"),
        "{e:?}"
    );
    assert_eq!(cache.get(b"pc/live").unwrap().value().as_ref(), b"1");

    // Freeze the member carrying the cache's watch; change things and compact.
    let carrier = cache_client.watch().endpoint().unwrap();
    let frozen = cluster
        .endpoints()
        .iter()
        .position(|e| *e == carrier)
        .unwrap();
    cluster.stop(frozen).await.unwrap();
    let others: Vec<String> = (0..3)
        .filter(|i| *i != frozen)
        .map(|i| cluster.endpoint(i).unwrap())
        .collect();
    let w = bounded(options(others.clone()).connect()).await.unwrap();
    // The frozen member may have been the leader: each change is retried (they are all
    // idempotent in effect) until the others have elected a new one.
    macro_rules! retried {
        ($op:expr) => {
            bounded(async {
                loop {
                    match $op.await {
                        Ok(r) => break r,
                        Err(e) => eprintln!("retrying: {e}"),
                    }
                }
            })
            .await
        };
    }
    retried!(w.kv().delete("pc/00"));
    retried!(w.kv().delete("pc/01"));
    retried!(w.kv().put("pc/02", "changed"));
    retried!(w.kv().put("pc/new", "n"));
    let before = retried!(w.kv().put("pc/03", "changed")).header().revision();
    // A compaction retried after an unknown outcome may find itself already done.
    bounded(async {
        while let Err(e) = w.kv().compact(before).await {
            if e.kind() == ErrorKind::Compacted {
                break;
            }
        }
    })
    .await;
    // Both live members have applied the compaction.
    for e in &others {
        let one = bounded(options(vec![e.clone()]).connect()).await.unwrap();
        let err = one
            .kv()
            .get("pc/")
            .revision(etcdkit::Revision(before.get() - 1))
            .await;
        assert_eq!(err.unwrap_err().kind(), ErrorKind::Compacted);
    }
    // The cache has seen none of it yet: its member is frozen.
    assert_eq!(cache.get(b"pc/00").unwrap().value().as_ref(), b"v0");
    // The frozen member goes away for good; the cache's watch resumes elsewhere, finds
    // its revision compacted, re-lists and resyncs.
    cluster.kill(frozen).unwrap();
    let event = bounded(changes.next()).await.unwrap();
    let CacheEvent::Resync {
        revision,
        puts,
        mut deletes,
    } = event
    else {
        panic!("expected a resync, got {event:?}")
    };
    assert!(revision >= before);
    deletes.sort();
    assert_eq!(
        deletes,
        vec![bytes::Bytes::from("pc/00"), bytes::Bytes::from("pc/01")]
    );
    let mut put_keys: Vec<_> = puts.iter().map(|kv| kv.key().clone()).collect();
    put_keys.sort();
    assert_eq!(put_keys, vec!["pc/02", "pc/03", "pc/new"]);

    bounded(cluster.restart(frozen)).await.unwrap();
    let last = writer
        .kv()
        .put("pc/after", "a")
        .await
        .unwrap()
        .header()
        .revision();
    wait_until(|| cache.revision() >= last).await;
    let want: BTreeMap<_, _> = writer
        .kv()
        .get("pc/")
        .prefix()
        .revision(last)
        .await
        .unwrap()
        .into_kvs()
        .into_iter()
        .map(|kv| (kv.key().clone(), (kv.value().clone(), kv.mod_revision())))
        .collect();
    let snapshot = cache.snapshot();
    let have: BTreeMap<_, _> = snapshot
        .entries()
        .iter()
        .map(|kv| (kv.key().clone(), (kv.value().clone(), kv.mod_revision())))
        .collect();
    assert_eq!(have, want, "converged to etcd's state");
    assert_eq!(snapshot.revision(), last);
    // Exactly one resync: what is left is the last put.
    let mut rest = Vec::new();
    while let Some(Some(e)) = changes.next().now_or_never() {
        rest.push(e);
    }
    assert!(
        rest.iter().all(|e| !matches!(e, CacheEvent::Resync { .. })),
        "one resync only: {rest:?}"
    );
    assert!(matches!(rest.last(), Some(CacheEvent::Put(kv)) if kv.key().as_ref() == b"pc/after"));
}
