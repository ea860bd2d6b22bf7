//! Watches against real etcd: one shared stream, compaction, lagging consumers, and a
//! 3-member cluster under faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::{bounded, client, cluster, options, server};
use etcdkit::watch::EventType;
use etcdkit::{ErrorKind, Revision};
use etcdkit_testkit::EtcdCluster;
use tokio_stream::StreamExt;

/// The value of a metric without labels in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

async fn wait_metrics(cluster: &EtcdCluster, streams: f64, watchers: f64) {
    bounded(async {
        loop {
            let text = cluster.metrics(0).await.unwrap();
            let s = metric(&text, "etcd_debugging_mvcc_watch_stream_total");
            let w = metric(&text, "etcd_debugging_mvcc_watcher_total");
            if s == Some(streams) && w == Some(watchers) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test]
async fn a_thousand_watchers_share_one_stream() {
    if etcdkit_testkit::skip_if_embedded("counts watchers in etcd's /metrics") {
        return;
    }
    let etcd = server().await;
    let client = client(&etcd).await;
    let mut watchers = Vec::new();
    for i in 0..1000 {
        watchers.push(
            bounded(client.watch().key(format!("many/{i}")))
                .await
                .unwrap(),
        );
    }
    wait_metrics(&etcd, 1.0, 1000.0).await;
    // A namespaced view rides the same stream.
    let ns = client.namespaced("many/");
    let mut inner = bounded(ns.watch().key("7")).await.unwrap();
    wait_metrics(&etcd, 1.0, 1001.0).await;
    client.kv().put("many/7", "x").await.unwrap();
    let r = bounded(watchers[7].next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].key().as_ref(), b"many/7");
    let r = bounded(inner.next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].key().as_ref(), b"7", "namespace stripped");
    inner.cancel().await;
    for w in watchers.drain(..500) {
        w.cancel().await;
    }
    wait_metrics(&etcd, 1.0, 500.0).await;
    // Dropping cancels too; with the last watcher gone the stream closes.
    drop(watchers);
    wait_metrics(&etcd, 0.0, 0.0).await;
    // And a new watch opens a new one.
    let _again = bounded(client.watch().key("many/1")).await.unwrap();
    wait_metrics(&etcd, 1.0, 1.0).await;
}

#[tokio::test]
async fn watching_from_a_compacted_revision_is_a_typed_error() {
    let etcd = server().await;
    let client = client(&etcd).await;
    let first = client
        .kv()
        .put("cmp/a", "1")
        .await
        .unwrap()
        .header()
        .revision();
    client.kv().put("cmp/a", "2").await.unwrap();
    let last = client
        .kv()
        .put("cmp/a", "3")
        .await
        .unwrap()
        .header()
        .revision();
    client.kv().compact(last).await.unwrap();
    let mut w = bounded(client.watch().prefix("cmp/").start_revision(first))
        .await
        .unwrap();
    // Asking for progress at once (the server may already have ended the watch, and the
    // stream task with it) hides nothing: the watcher still yields the compaction. (etcd
    // 3.4 may answer the progress request first: an empty response, then the error.)
    w.request_progress();
    let err = bounded(async {
        loop {
            match w.next().await.unwrap() {
                Ok(progress) => assert!(progress.events().is_empty(), "{progress:?}"),
                Err(err) => break err,
            }
        }
    })
    .await;
    assert_eq!(err.kind(), ErrorKind::Compacted, "{err:?}");
    assert_eq!(err.compact_revision(), Some(last));
    assert!(bounded(w.next()).await.is_none(), "the watcher ends");
    w.request_progress();
    assert!(
        bounded(w.next()).await.is_none(),
        "and asking again changes nothing"
    );
    // From the compact revision itself, history is there.
    let mut w = bounded(client.watch().prefix("cmp/").start_revision(last).prev_kv())
        .await
        .unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].revision(), last);
    assert_eq!(r.events()[0].kv().value().as_ref(), b"3");
}

#[tokio::test]
async fn a_watch_ended_by_compaction_says_where_it_stopped() {
    let etcd = server().await;
    let client = client(&etcd).await;
    let first = bounded(client.kv().put("cstop/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let last = bounded(client.kv().put("cstop/a", "2"))
        .await
        .unwrap()
        .header()
        .revision();
    bounded(client.kv().compact(last)).await.unwrap();
    let mut w = bounded(client.watch().prefix("cstop/").start_revision(first))
        .await
        .unwrap();
    // Nothing was yielded: everything before the start revision counts as delivered.
    let before_start = Revision(first.get() - 1);
    assert_eq!(w.last_revision(), before_start);
    let err = bounded(w.next()).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compacted, "{err:?}");
    assert_eq!(err.last_delivered_revision(), Some(before_start));
    assert_eq!(w.last_revision(), before_start);
}

/// A watcher whose stream task is gone (its client's runtime shut down) ends with an
/// error that still says up to where it yielded every change.
#[test]
fn a_watch_whose_client_is_gone_says_where_it_stopped() {
    let main = tokio::runtime::Runtime::new().unwrap();
    let etcd = main.block_on(server());
    let client_runtime = tokio::runtime::Runtime::new().unwrap();
    let (mut w, rev) = client_runtime.block_on(async {
        let client = client(&etcd).await;
        let mut w = bounded(client.watch().prefix("gone/")).await.unwrap();
        let created = w.last_revision();
        let mut rev = Revision(0);
        for i in 0..3 {
            rev = bounded(client.kv().put(format!("gone/{i}"), "v"))
                .await
                .unwrap()
                .header()
                .revision();
        }
        assert!(rev > created);
        let mut seen = Revision(0);
        while seen < rev {
            let r = bounded(w.next()).await.unwrap().unwrap();
            seen = r.events().last().unwrap().revision();
        }
        assert_eq!(w.last_revision(), rev);
        (w, rev)
    });
    // Shutting the runtime down ends the client's tasks, the watch stream's among them.
    drop(client_runtime);
    main.block_on(async move {
        let err = bounded(w.next()).await.unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled, "{err:?}");
        assert_eq!(err.last_delivered_revision(), Some(rev));
        assert!(bounded(w.next()).await.is_none(), "the watcher ends");
        drop(etcd);
    });
}

#[tokio::test]
async fn a_stalled_consumer_lags_alone() {
    let etcd = server().await;
    let client = client(&etcd).await;
    let mut stalled = bounded(client.watch().prefix("lag/").buffer(4))
        .await
        .unwrap();
    let mut healthy = bounded(client.watch().prefix("lag/")).await.unwrap();
    let mut revs = Vec::new();
    for i in 0..20 {
        revs.push(
            client
                .kv()
                .put(format!("lag/{i}"), "v")
                .await
                .unwrap()
                .header()
                .revision(),
        );
    }
    for rev in &revs {
        let r = bounded(healthy.next()).await.unwrap().unwrap();
        assert_eq!(r.events()[0].revision(), *rev);
    }
    // The stalled one gets what it buffered, then the lag error, then ends.
    let mut got = Vec::new();
    let err = loop {
        match bounded(stalled.next()).await.unwrap() {
            Ok(r) => got.push(r.events()[0].revision()),
            Err(e) => break e,
        }
    };
    assert_eq!(got, revs[..4].to_vec());
    assert_eq!(err.kind(), ErrorKind::WatchLagged, "{err:?}");
    assert_eq!(err.last_delivered_revision(), Some(revs[3]));
    assert!(bounded(stalled.next()).await.is_none());
    // The other watcher keeps going.
    let rev = client
        .kv()
        .put("lag/after", "v")
        .await
        .unwrap()
        .header()
        .revision();
    let r = bounded(healthy.next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].revision(), rev);
}

#[tokio::test]
async fn options_filters_progress_and_deletes() {
    let etcd = server().await;
    let client = client(&etcd).await;
    let mut created = bounded(
        client
            .watch()
            .key("opt/a")
            .created_notify()
            .no_put()
            .prev_kv(),
    )
    .await
    .unwrap();
    let r = bounded(created.next()).await.unwrap().unwrap();
    assert!(r.is_created());
    let mut range = bounded(client.watch().key("opt/a").range_end("opt/c").fragment())
        .await
        .unwrap();
    client.kv().put("opt/a", "1").await.unwrap();
    client.kv().put("opt/b", "2").await.unwrap();
    client.kv().put("opt/c", "out of range").await.unwrap();
    let del = client
        .kv()
        .delete("opt/a")
        .await
        .unwrap()
        .header()
        .revision();
    let r = bounded(created.next()).await.unwrap().unwrap();
    let e = &r.events()[0];
    assert_eq!(e.event_type(), EventType::Delete);
    assert_eq!(e.revision(), del);
    assert_eq!(e.prev_kv().unwrap().value().as_ref(), b"1");
    let mut keys = Vec::new();
    while keys.len() < 3 {
        for e in bounded(range.next()).await.unwrap().unwrap().events() {
            keys.push((e.event_type(), e.key().clone()));
        }
    }
    assert_eq!(
        keys,
        vec![
            (EventType::Put, "opt/a".into()),
            (EventType::Put, "opt/b".into()),
            (EventType::Delete, "opt/a".into())
        ]
    );
    range.request_progress();
    let r = bounded(range.next()).await.unwrap().unwrap();
    assert!(r.is_progress_notify());
    assert!(r.header().revision() >= del);
    assert_eq!(
        client.watch().key("").await.unwrap_err().kind(),
        ErrorKind::EmptyKey
    );
}

/// The fault test: a writer makes 5,000 revisions under a prefix while members are
/// killed, frozen and restarted, the stream's own member included; one prefix watcher
/// must see every revision exactly once, in order, and end up equal to a final get.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prefix_watch_sees_every_revision_once_under_faults() {
    if etcdkit_testkit::skip_if_embedded(
        "kills, freezes and restarts members of a three-member cluster",
    ) {
        return;
    }
    const REVISIONS: i64 = 5000;
    let cluster = Arc::new(cluster(3).await);
    let endpoints = cluster.endpoints();
    let opts = || {
        options(cluster.endpoints())
            .request_timeout(Duration::from_secs(8))
            .keepalive_interval(Duration::from_millis(500))
            .keepalive_timeout(Duration::from_secs(1))
    };
    let watch_client = bounded(opts().connect()).await.unwrap();
    let writer = bounded(opts().connect()).await.unwrap();
    let start = writer
        .kv()
        .put("other", "x")
        .await
        .unwrap()
        .header()
        .revision();
    let mut watcher = bounded(
        watch_client
            .watch()
            .prefix("ft/")
            .start_revision(start.next())
            .buffer(100_000),
    )
    .await
    .unwrap();

    let written = Arc::new(AtomicI64::new(0));
    let writer_task = {
        let written = written.clone();
        let writer = writer.clone();
        tokio::spawn(async move {
            let mut i = 0u64;
            loop {
                let put = writer.kv().put(format!("ft/{}", i % 300), i.to_string());
                // A failed put is retried with the next value; one whose outcome was
                // unknown may have made one more revision, which the watcher must see too.
                if let Ok(Ok(r)) =
                    tokio::time::timeout(Duration::from_secs(20), put.into_future()).await
                {
                    let rev = r.header().revision().get();
                    written.store(rev - start.get(), Ordering::Relaxed);
                    if rev - start.get() >= REVISIONS {
                        return rev;
                    }
                }
                i += 1;
            }
        })
    };

    let index_of = move |endpoint: &str| endpoints.iter().position(|e| e == endpoint).unwrap();
    let faults = {
        let cluster = cluster.clone();
        let written = written.clone();
        let wc = watch_client.clone();
        tokio::spawn(async move {
            let reach = |n: i64| {
                let written = written.clone();
                async move {
                    while written.load(Ordering::Relaxed) < n {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            };
            let carrier = || wc.watch().endpoint();
            let moved_from = |from: String| {
                let wc = wc.clone();
                async move {
                    loop {
                        match wc.watch().endpoint() {
                            Some(e) if e != from => return e,
                            _ => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
            };
            let mut log = Vec::new();
            // 1. Kill the member carrying the stream; restart it.
            reach(800).await;
            let c = carrier().unwrap();
            let i = index_of(&c);
            cluster.kill(i).unwrap();
            let now = tokio::time::timeout(Duration::from_secs(60), moved_from(c.clone()))
                .await
                .unwrap();
            log.push(format!("killed m{i} ({c}); stream moved to {now}"));
            cluster.restart(i).await.unwrap();
            // 2. Freeze the member carrying the stream; resume it.
            reach(2000).await;
            let c = carrier().unwrap();
            let i = index_of(&c);
            cluster.stop(i).await.unwrap();
            let now = tokio::time::timeout(Duration::from_secs(60), moved_from(c.clone()))
                .await
                .unwrap();
            log.push(format!("froze m{i} ({c}); stream moved to {now}"));
            cluster.resume(i).unwrap();
            cluster
                .wait_healthy(i, Duration::from_secs(30))
                .await
                .unwrap();
            // 3. Kill, then restart, a member that does not carry the stream.
            reach(3200).await;
            let c = carrier().unwrap();
            let i = (index_of(&c) + 1) % 3;
            cluster.kill(i).unwrap();
            reach(3800).await;
            cluster.restart(i).await.unwrap();
            log.push(format!("killed and restarted m{i} (stream on {c})"));
            // 4. Restart the carrier once more.
            reach(4200).await;
            let c = carrier().unwrap();
            let i = index_of(&c);
            cluster.restart(i).await.unwrap();
            log.push(format!("restarted m{i} ({c})"));
            log
        })
    };

    let mut seen: Vec<(i64, EventType, bytes::Bytes, bytes::Bytes)> = Vec::new();
    let mut state: BTreeMap<bytes::Bytes, (bytes::Bytes, i64)> = BTreeMap::new();
    let mut target: Option<i64> = None;
    let deadline = Duration::from_secs(300);
    tokio::time::timeout(deadline, async {
        let mut writer_task = Some(writer_task);
        loop {
            if let Some(t) = target
                && seen.last().is_some_and(|s| s.0 >= t)
            {
                break;
            }
            tokio::select! {
                r = watcher.next() => {
                    let r = r.expect("watcher ended").expect("watch error");
                    for e in r.events() {
                        seen.push((e.revision().get(), e.event_type(), e.key().clone(), e.kv().value().clone()));
                        match e.event_type() {
                            EventType::Put => { state.insert(e.key().clone(), (e.kv().value().clone(), e.revision().get())); }
                            _ => { state.remove(e.key()); }
                        }
                    }
                }
                rev = async { writer_task.as_mut().unwrap().await }, if writer_task.is_some() => {
                    writer_task = None;
                    target = Some(rev.unwrap());
                }
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        // Say where it stood: the writer stuck, or the stream silent on some member.
        panic!(
            "the watcher did not catch up: {} revisions written (target {target:?}), last seen {:?}, \
             stream on {:?}, endpoint health {:?}",
            written.load(Ordering::Relaxed),
            seen.last().map(|s| s.0),
            watch_client.watch().endpoint(),
            watch_client.endpoint_health(),
        )
    });
    let log = bounded(faults).await.unwrap();
    eprintln!("faults: {log:#?}");

    // Every revision exactly once, in order.
    let revs: Vec<i64> = seen.iter().map(|s| s.0).collect();
    let expected: Vec<i64> = (start.get() + 1..=target.unwrap()).collect();
    assert_eq!(revs.len(), expected.len(), "each revision once");
    assert!(
        revs == expected,
        "revisions in order without gaps or repeats"
    );
    // The watcher's view equals a final get at that revision.
    let get = writer
        .kv()
        .get("ft/")
        .prefix()
        .revision(Revision(target.unwrap()))
        .await
        .unwrap();
    let want: BTreeMap<_, _> = get
        .kvs()
        .iter()
        .map(|kv| {
            (
                kv.key().clone(),
                (kv.value().clone(), kv.mod_revision().get()),
            )
        })
        .collect();
    assert_eq!(state, want);
    assert!(!want.is_empty());
}

/// A watch whose stream runs on a member that freezes moves to another member and
/// delivers the events written (through the other members) while the member is still
/// frozen; after it thaws, later events follow, each exactly once and in order. With
/// the client's production defaults, on etcd's defaults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_a_frozen_member_delivers_events_written_while_it_is_frozen() {
    if etcdkit_testkit::skip_if_embedded("freezes a member of a three-member cluster") {
        return;
    }
    let etcd = common::default_cluster(3).await;
    let watch_client = bounded(etcdkit::ClientOptions::new(etcd.endpoints()).connect())
        .await
        .unwrap();
    let mut watcher = bounded(watch_client.watch().prefix("frozen/"))
        .await
        .unwrap();
    let endpoint = watch_client.watch().endpoint().expect("the stream is open");
    let frozen = common::member_at(&etcd, &endpoint);
    let others: Vec<String> = (0..3)
        .filter(|i| *i != frozen)
        .map(|i| etcd.endpoint(i).unwrap())
        .collect();
    let writer = bounded(etcdkit::ClientOptions::new(others).connect())
        .await
        .unwrap();

    bounded(etcd.stop(frozen)).await.unwrap();
    // If the frozen member was the leader, a put in flight at the moment may end with
    // its outcome unknown (and may still apply): each attempt writes a key of its own,
    // and only acknowledged revisions must arrive.
    let mut attempt = 0;
    let mut written = Vec::new();
    let mut put_acknowledged = |phase: &'static str| {
        attempt += 1;
        let put = writer.kv().put(format!("frozen/{attempt}"), phase);
        async move { put.await.ok().map(|r| r.header().revision()) }
    };
    while written.len() < 5 {
        if let Some(revision) = bounded(put_acknowledged("during")).await {
            written.push(revision);
        }
    }
    // Every one of them arrives while the member is still frozen.
    let mut got = Vec::new();
    let arrived = |got: &[etcdkit::Revision], written: &[etcdkit::Revision]| {
        written.iter().all(|w| got.contains(w))
    };
    let during = tokio::time::timeout(Duration::from_secs(15), async {
        while !arrived(&got, &written) {
            let r = watcher.next().await.expect("the watch ended").unwrap();
            got.extend(r.events().iter().map(|e| e.revision()));
        }
    })
    .await;
    assert!(
        during.is_ok(),
        "only {got:?} of {written:?} arrived while the member was frozen"
    );
    assert_ne!(
        watch_client.watch().endpoint().as_deref(),
        Some(endpoint.as_str())
    );
    etcd.resume(frozen).unwrap();

    while written.len() < 10 {
        if let Some(revision) = bounded(put_acknowledged("after")).await {
            written.push(revision);
        }
    }
    bounded(async {
        while !arrived(&got, &written) {
            let r = watcher.next().await.expect("the watch ended").unwrap();
            got.extend(r.events().iter().map(|e| e.revision()));
        }
    })
    .await;
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "each event once, in order: {got:?}"
    );
}
