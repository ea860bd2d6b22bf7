//! Mirroring between two real etcd servers: the initial copy in pages, later puts and
//! deletes, prefix rewriting, source transactions landing atomically, compaction during
//! the copy, replay from a revision, and a lagging watch opened again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bounded, server};
use etcdkit::kv::Put;
use etcdkit::{Client, Revision};
use etcdkit_recipes::mirror::{
    Batch, ClientSink, DestPrefix, MirrorError, MirrorSink, Progress, Syncer,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The keys and values under `prefix`, in key order.
async fn contents(client: &Client, prefix: &str) -> Vec<(String, String)> {
    bounded(client.kv().get(prefix.to_string()).prefix())
        .await
        .unwrap()
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                String::from_utf8_lossy(kv.value()).into_owned(),
            )
        })
        .collect()
}

/// Waits until the destination holds `want` under `prefix`.
async fn wait_for(client: &Client, prefix: &str, want: &[(String, String)]) {
    let mut last = Vec::new();
    let reached = tokio::time::timeout(common::BOUND, async {
        loop {
            last = contents(client, prefix).await;
            if last == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(reached.is_ok(), "destination holds {last:?}, not {want:?}");
}

/// Waits until the syncer has applied `revision`.
async fn wait_applied(progress: &mut watch::Receiver<Progress>, revision: Revision) {
    bounded(progress.wait_for(|p| p.revision >= revision))
        .await
        .unwrap();
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn spawn_mirror(syncer: Syncer, mut sink: ClientSink) -> JoinHandle<String> {
    tokio::spawn(async move {
        match syncer.run(&mut sink).await {
            Err(e) => e.to_string(),
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_existing_keys_in_pages_then_follows_puts_and_deletes() {
    let (_src, source) = server().await;
    let (_dst, dest) = server().await;
    let mut want = Vec::new();
    for i in 0..25 {
        bounded(source.kv().put(format!("mc/{i:02}"), format!("v{i}")))
            .await
            .unwrap();
        want.push((format!("mc/{i:02}"), format!("v{i}")));
    }
    bounded(source.kv().put("mcx", "outside")).await.unwrap();
    let syncer = Syncer::new(&source, "mc/").page_size(7);
    let mut progress = syncer.progress();
    let task = spawn_mirror(syncer, ClientSink::new(&dest, "mc/", DestPrefix::Keep));
    bounded(progress.wait_for(|p| p.revision.get() > 0))
        .await
        .unwrap();
    assert_eq!(progress.borrow().keys, 25, "the copy counts its keys");
    wait_for(&dest, "mc", &want).await;

    bounded(source.kv().put("mc/new", "n")).await.unwrap();
    let deleted = bounded(source.kv().delete("mc/03")).await.unwrap();
    let last = bounded(source.kv().put("mc/00", "changed")).await.unwrap();
    want.retain(|(k, _)| k != "mc/03");
    want[0].1 = "changed".into();
    want.push(("mc/new".into(), "n".into()));
    want.sort();
    wait_for(&dest, "mc", &want).await;
    assert!(deleted.deleted() == 1);
    wait_applied(&mut progress, last.header().revision()).await;
    assert_eq!(progress.borrow().keys, 28, "then one per put or delete");
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewrites_the_prefix_or_strips_it_at_the_destination() {
    let (_src, source) = server().await;
    let (_dst, dest) = server().await;
    bounded(source.kv().put("rw/a", "1")).await.unwrap();
    let replace = spawn_mirror(
        Syncer::new(&source, "rw/"),
        ClientSink::new(&dest, "rw/", DestPrefix::Replace("copy/".into())),
    );
    let strip = spawn_mirror(
        Syncer::new(&source, "rw/"),
        ClientSink::new(&dest, "rw/", DestPrefix::Strip),
    );
    bounded(source.kv().put("rw/b", "2")).await.unwrap();
    wait_for(&dest, "copy/", &pairs(&[("copy/a", "1"), ("copy/b", "2")])).await;
    wait_for(&dest, "a", &pairs(&[("a", "1")])).await;
    wait_for(&dest, "b", &pairs(&[("b", "2")])).await;
    bounded(source.kv().delete("rw/a")).await.unwrap();
    wait_for(&dest, "copy/", &pairs(&[("copy/b", "2")])).await;
    wait_for(&dest, "a", &[]).await;
    replace.abort();
    strip.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_key_source_txn_lands_in_one_destination_revision() {
    let (_src, source) = server().await;
    let (_dst, dest) = server().await;
    let syncer = Syncer::new(&source, "tx/");
    let mut progress = syncer.progress();
    let task = spawn_mirror(syncer, ClientSink::new(&dest, "tx/", DestPrefix::Keep));
    bounded(progress.wait_for(|p| p.revision.get() > 0))
        .await
        .unwrap();
    let txn = bounded(source.kv().txn().and_then([
        Put::new("tx/a", "1"),
        Put::new("tx/b", "2"),
        Put::new("tx/c", "3"),
    ]))
    .await
    .unwrap();
    wait_applied(&mut progress, txn.header().revision()).await;
    let got = bounded(dest.kv().get("tx/").prefix()).await.unwrap();
    let revisions: Vec<i64> = got.kvs().iter().map(|kv| kv.mod_revision().get()).collect();
    assert_eq!(revisions.len(), 3);
    assert!(
        revisions.iter().all(|r| *r == revisions[0]),
        "one destination revision for the three keys: {revisions:?}"
    );
    task.abort();
}

/// A sink that compacts the source after the first page, so the next page's read at the
/// pinned revision fails.
struct CompactingSink {
    source: Client,
    pages: usize,
}

impl MirrorSink for CompactingSink {
    type Error = etcdkit::Error;

    async fn apply(&mut self, _batch: &Batch) -> Result<(), etcdkit::Error> {
        self.pages += 1;
        if self.pages == 1 {
            let now = self.source.kv().put("cp/zz-late", "x").await?;
            self.source.kv().compact(now.header().revision()).await?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_during_the_initial_copy_is_a_typed_error() {
    let (_src, source) = server().await;
    for i in 0..10 {
        bounded(source.kv().put(format!("cp/{i}"), "v"))
            .await
            .unwrap();
    }
    let pinned = bounded(source.kv().get("cp/0"))
        .await
        .unwrap()
        .header()
        .revision();
    let mut sink = CompactingSink {
        source: source.clone(),
        pages: 0,
    };
    let result = bounded(Syncer::new(&source, "cp/").page_size(3).run(&mut sink)).await;
    match result {
        Err(MirrorError::Compacted { revision, .. }) => assert_eq!(revision, pinned),
        other => panic!("expected a compaction error, got {other:?}"),
    }
    assert_eq!(sink.pages, 1, "no page after the compaction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_revision_replays_changes_from_it_without_a_copy() {
    let (_src, source) = server().await;
    let (_dst, dest) = server().await;
    bounded(source.kv().put("sr/old", "1")).await.unwrap();
    let from = bounded(source.kv().put("sr/a", "2")).await.unwrap();
    bounded(source.kv().put("sr/b", "3")).await.unwrap();
    let task = spawn_mirror(
        Syncer::new(&source, "sr/").start_revision(from.header().revision()),
        ClientSink::new(&dest, "sr/", DestPrefix::Keep),
    );
    wait_for(&dest, "sr/", &pairs(&[("sr/a", "2"), ("sr/b", "3")])).await;
    task.abort();
}

/// A sink that is slow on purpose, so the one-response watch buffer overflows.
struct SlowSink(ClientSink);

impl MirrorSink for SlowSink {
    type Error = etcdkit::Error;

    async fn apply(&mut self, batch: &Batch) -> Result<(), etcdkit::Error> {
        tokio::time::sleep(Duration::from_millis(20)).await;
        self.0.apply(batch).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_watch_is_opened_again_and_nothing_is_lost() {
    let (_src, source) = server().await;
    let (_dst, dest) = server().await;
    let syncer = Syncer::new(&source, "lg/").watch_buffer(1);
    let mut progress = syncer.progress();
    let mut sink = SlowSink(ClientSink::new(&dest, "lg/", DestPrefix::Keep));
    let task = tokio::spawn(async move {
        match syncer.run(&mut sink).await {
            Err(e) => e.to_string(),
        }
    });
    bounded(progress.wait_for(|p| p.revision.get() > 0))
        .await
        .unwrap();
    let mut want = Vec::new();
    for i in 0..40 {
        bounded(source.kv().put(format!("lg/{i:02}"), "v"))
            .await
            .unwrap();
        want.push((format!("lg/{i:02}"), "v".to_string()));
    }
    // A last change after the 40: changes are applied in revision order, so once it is
    // applied every earlier one has been, and a change applied twice (by the watch
    // opened again) would show in the count. No sleep needed to wait for a repeat.
    bounded(source.kv().put("lg/zz", "last")).await.unwrap();
    want.push(("lg/zz".to_string(), "last".to_string()));
    wait_for(&dest, "lg/", &want).await;
    let applied = bounded(progress.wait_for(|p| p.keys >= 41))
        .await
        .unwrap()
        .keys;
    assert_eq!(applied, 41, "each change applied once");
    assert!(!task.is_finished());
    task.abort();
}
