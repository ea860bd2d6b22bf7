//! The Watch service of the embedded server: history from a past revision, compaction
//! cancels, many watches on one stream, filters, progress.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bounded, embedded};
use etcdkit::watch::EventType;
use etcdkit::{ErrorKind, Revision};
use tokio_stream::StreamExt;

#[tokio::test]
async fn a_watch_from_the_past_replays_history_with_prev_kv() {
    let (_server, c) = embedded().await;
    let first = bounded(c.kv().put("hist/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    bounded(c.kv().put("hist/a", "2")).await.unwrap();
    bounded(c.kv().delete("hist/a")).await.unwrap();
    bounded(c.kv().put("hist/b", "x")).await.unwrap();
    let mut w = bounded(c.watch().prefix("hist/").start_revision(first).prev_kv())
        .await
        .unwrap();
    let mut events = Vec::new();
    while events.len() < 4 {
        let r = bounded(w.next()).await.unwrap().unwrap();
        events.extend(r.into_events());
    }
    let types: Vec<EventType> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        [
            EventType::Put,
            EventType::Put,
            EventType::Delete,
            EventType::Put
        ]
    );
    assert!(
        events[0].prev_kv().is_none(),
        "a create has no previous value"
    );
    assert_eq!(events[1].prev_kv().unwrap().value().as_ref(), b"1");
    assert_eq!(events[2].prev_kv().unwrap().value().as_ref(), b"2");
    let revs: Vec<i64> = events.iter().map(|e| e.revision().get()).collect();
    assert_eq!(revs, (first.get()..first.get() + 4).collect::<Vec<_>>());
    // Then live events follow.
    bounded(c.kv().put("hist/c", "live")).await.unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].key().as_ref(), b"hist/c");
}

#[tokio::test]
async fn a_watch_from_a_compacted_revision_is_canceled_with_the_compact_revision() {
    let (_server, c) = embedded().await;
    let first = bounded(c.kv().put("wc/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let last = bounded(c.kv().put("wc/a", "2"))
        .await
        .unwrap()
        .header()
        .revision();
    bounded(c.kv().compact(last)).await.unwrap();
    let mut w = bounded(c.watch().prefix("wc/").start_revision(first))
        .await
        .unwrap();
    let err = bounded(w.next()).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compacted, "{err:?}");
    assert_eq!(err.compact_revision(), Some(last));
    // From the compact revision itself, the history is there.
    let mut w = bounded(c.watch().prefix("wc/").start_revision(last))
        .await
        .unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert_eq!(r.events()[0].revision(), last);
}

#[tokio::test]
async fn many_watches_on_one_stream_each_get_their_keys() {
    let (_server, c) = embedded().await;
    let mut watchers = Vec::new();
    for i in 0..50 {
        watchers.push(bounded(c.watch().key(format!("many/{i}"))).await.unwrap());
    }
    let mut all = bounded(c.watch().prefix("many/")).await.unwrap();
    for i in (0..50).rev() {
        bounded(c.kv().put(format!("many/{i}"), format!("{i}")))
            .await
            .unwrap();
    }
    for (i, w) in watchers.iter_mut().enumerate() {
        let r = bounded(w.next()).await.unwrap().unwrap();
        assert_eq!(r.events().len(), 1);
        assert_eq!(
            r.events()[0].kv().value().as_ref(),
            format!("{i}").as_bytes()
        );
    }
    let mut seen = 0;
    while seen < 50 {
        seen += bounded(all.next()).await.unwrap().unwrap().events().len();
    }
    assert_eq!(seen, 50);
}

#[tokio::test]
async fn filters_drop_the_events_they_name() {
    let (_server, c) = embedded().await;
    let mut no_put = bounded(c.watch().prefix("flt/").no_put()).await.unwrap();
    let mut no_delete = bounded(c.watch().prefix("flt/").no_delete()).await.unwrap();
    bounded(c.kv().put("flt/a", "1")).await.unwrap();
    bounded(c.kv().delete("flt/a")).await.unwrap();
    let r = bounded(no_put.next()).await.unwrap().unwrap();
    assert_eq!(r.events().len(), 1);
    assert_eq!(r.events()[0].event_type(), EventType::Delete);
    let r = bounded(no_delete.next()).await.unwrap().unwrap();
    assert_eq!(r.events().len(), 1);
    assert_eq!(r.events()[0].event_type(), EventType::Put);
}

#[tokio::test]
async fn a_progress_request_answers_with_the_store_revision() {
    let (_server, c) = embedded().await;
    let mut w = bounded(c.watch().prefix("prog/")).await.unwrap();
    let rev = bounded(c.kv().put("other/x", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    w.request_progress().unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert!(r.is_progress_notify(), "{r:?}");
    assert_eq!(r.header().revision(), rev);
    // A progress notice yields no change: the watcher's own mark stays where it started.
    assert_eq!(w.last_revision(), Revision(1));
}

#[tokio::test]
async fn a_large_history_arrives_in_fragments_and_is_put_back_together() {
    let (_server, c) =
        common::embedded_with(etcdkit_server::Server::builder().max_request_bytes(1024)).await;
    let value = "v".repeat(400);
    let first = bounded(c.kv().put("frag/0", value.clone()))
        .await
        .unwrap()
        .header()
        .revision();
    for i in 1..6 {
        bounded(c.kv().put(format!("frag/{i}"), value.clone()))
            .await
            .unwrap();
    }
    // Six 400-byte events in one history batch: over the 1 KiB limit, so fragmented.
    let mut w = bounded(c.watch().prefix("frag/").start_revision(first).fragment())
        .await
        .unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert_eq!(r.events().len(), 6, "one response, put back together");
    let keys: Vec<String> = r
        .events()
        .iter()
        .map(|e| e.kv().key_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys,
        (0..6).map(|i| format!("frag/{i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_watch_that_asked_for_progress_notifications_gets_them() {
    let (_server, c) = common::embedded_with(
        etcdkit_server::Server::builder()
            .progress_notify_interval(std::time::Duration::from_millis(200)),
    )
    .await;
    let rev = bounded(c.kv().put("pn/a", "1"))
        .await
        .unwrap()
        .header()
        .revision();
    let mut w = bounded(c.watch().prefix("pn/").progress_notify())
        .await
        .unwrap();
    let r = bounded(w.next()).await.unwrap().unwrap();
    assert!(r.is_progress_notify(), "{r:?}");
    assert_eq!(r.header().revision(), rev);
}
