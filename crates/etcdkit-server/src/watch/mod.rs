//! Watchers: who watches which keys from which revision, and what each stream is sent.
//!
//! Everything here runs under the server's one lock, with the store at hand, so a watch's
//! created response, its history and its live events go out in revision order with nothing
//! lost or repeated between them. Responses go to each stream's unbounded queue; the
//! stream's gRPC task drains it.

use std::collections::HashMap;

use bytes::Bytes;
use prost::Message;
use tokio::sync::mpsc::UnboundedSender;

use crate::core::HeaderInfo;
use crate::generated::etcdserverpb::watch_create_request::FilterType;
use crate::generated::etcdserverpb::{WatchCreateRequest, WatchResponse};
use crate::generated::mvccpb::{Event, event::EventType};
use crate::store::{Change, KeyRange, Store};

/// etcd sends a lagging watcher at most this many revisions in one response.
const MAX_REVS_PER_BATCH: usize = 1000;

/// etcd's reason for a caller-chosen watch ID already in use on the stream.
const DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
/// etcd's reason for a watch whose range end is not after its key.
const EMPTY_RANGE: &str = "mvcc: watcher range is empty";

/// What a stream's queue carries.
pub(crate) type Outbox = UnboundedSender<Result<WatchResponse, tonic::Status>>;

#[derive(Debug)]
struct Watcher {
    id: i64,
    range: KeyRange,
    /// The next revision this watcher has not been sent.
    min_rev: i64,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    fragment: bool,
    progress_notify: bool,
    /// Canceled by a compaction: kept only so its ID stays taken until the client cancels
    /// it, as etcd keeps it.
    compacted: bool,
}

#[derive(Debug)]
struct Stream {
    outbox: Outbox,
    watchers: Vec<Watcher>,
    /// The next automatic watch ID to try (etcd's start at 0).
    next_id: i64,
}

/// Every watch stream and its watchers.
#[derive(Debug, Default)]
pub(crate) struct WatchHub {
    streams: HashMap<u64, Stream>,
    next_stream: u64,
}

impl WatchHub {
    /// Registers a new stream; returns its ID.
    pub(crate) fn open(&mut self, outbox: Outbox) -> u64 {
        let id = self.next_stream;
        self.next_stream += 1;
        self.streams.insert(
            id,
            Stream {
                outbox,
                watchers: Vec::new(),
                next_id: 0,
            },
        );
        id
    }

    /// Forgets a stream and its watchers.
    pub(crate) fn close(&mut self, stream: u64) {
        self.streams.remove(&stream);
    }

    /// Creates a watch on `stream`: answers `created` (or created-and-canceled when the
    /// request is refused), then the history from its start revision, then registers it
    /// for live events.
    pub(crate) fn create(
        &mut self,
        store: &Store,
        info: &HeaderInfo,
        max_bytes: usize,
        stream: u64,
        req: &WatchCreateRequest,
    ) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        let current = store.revision();
        let refuse = |reason: &str| WatchResponse {
            header: Some(info.header(current)),
            watch_id: -1,
            created: true,
            canceled: true,
            cancel_reason: reason.to_owned(),
            ..WatchResponse::default()
        };
        // Copied: the request's bytes are slices of the buffer the whole message arrived in,
        // which a watcher would otherwise keep alive as long as it lives.
        let range = KeyRange::new(
            &Bytes::copy_from_slice(&req.key),
            &Bytes::copy_from_slice(&req.range_end),
        );
        if let KeyRange::Span {
            start,
            end: Some(end),
        } = &range
            && start >= end
        {
            let _ = s.outbox.send(Ok(refuse(EMPTY_RANGE)));
            return;
        }
        let id = if req.watch_id == 0 {
            while s.watchers.iter().any(|w| w.id == s.next_id) {
                s.next_id += 1;
            }
            s.next_id += 1;
            s.next_id - 1
        } else if s.watchers.iter().any(|w| w.id == req.watch_id) {
            let _ = s.outbox.send(Ok(refuse(DUPLICATE_ID)));
            return;
        } else {
            req.watch_id
        };
        let mut watcher = Watcher {
            id,
            range,
            min_rev: if req.start_revision == 0 {
                current + 1
            } else {
                req.start_revision
            },
            no_put: req.filters.contains(&(FilterType::Noput as i32)),
            no_delete: req.filters.contains(&(FilterType::Nodelete as i32)),
            prev_kv: req.prev_kv,
            fragment: req.fragment,
            progress_notify: req.progress_notify,
            compacted: false,
        };
        let _ = s.outbox.send(Ok(WatchResponse {
            header: Some(info.header(current)),
            watch_id: id,
            created: true,
            ..WatchResponse::default()
        }));
        if watcher.min_rev < store.compacted() {
            // etcd's compaction notice carries no revision in its header.
            let _ = s.outbox.send(Ok(WatchResponse {
                header: Some(info.header(0)),
                watch_id: id,
                compact_revision: store.compacted(),
                canceled: true,
                ..WatchResponse::default()
            }));
            watcher.compacted = true;
        } else if watcher.min_rev <= current {
            let history = store.history(&watcher.range, watcher.min_rev);
            let mut batch: Vec<Event> = Vec::new();
            let mut revs = 0;
            let mut last_rev = 0;
            for (rev, change) in &history {
                if *rev != last_rev {
                    if revs == MAX_REVS_PER_BATCH {
                        send_events(
                            &s.outbox,
                            &watcher,
                            info.header(current),
                            &mut batch,
                            max_bytes,
                        );
                        revs = 0;
                    }
                    revs += 1;
                    last_rev = *rev;
                }
                if let Some(event) = watcher.event(change) {
                    batch.push(event);
                }
            }
            send_events(
                &s.outbox,
                &watcher,
                info.header(current),
                &mut batch,
                max_bytes,
            );
            watcher.min_rev = current + 1;
        }
        s.watchers.push(watcher);
    }

    /// Cancels a watch; answers only when the stream had it, as etcd does.
    /// Answers a create request with a refusal: created and canceled at once, watch ID
    /// -1, the reason given (how etcd refuses a watch the caller may not read).
    pub(crate) fn refuse(&mut self, info: &HeaderInfo, current: i64, stream: u64, reason: &str) {
        if let Some(s) = self.streams.get(&stream) {
            let _ = s.outbox.send(Ok(WatchResponse {
                header: Some(info.header(current)),
                watch_id: -1,
                created: true,
                canceled: true,
                cancel_reason: reason.to_owned(),
                ..WatchResponse::default()
            }));
        }
    }

    pub(crate) fn cancel(&mut self, info: &HeaderInfo, current: i64, stream: u64, id: i64) {
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        let before = s.watchers.len();
        s.watchers.retain(|w| w.id != id);
        if s.watchers.len() != before {
            let _ = s.outbox.send(Ok(WatchResponse {
                header: Some(info.header(current)),
                watch_id: id,
                canceled: true,
                ..WatchResponse::default()
            }));
        }
    }

    /// Answers a progress request: one response with watch ID -1 at the store's revision,
    /// when the stream has watchers and all of them are in sync (a compacted one is not).
    pub(crate) fn progress(&mut self, info: &HeaderInfo, current: i64, stream: u64) {
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        if s.watchers.is_empty() || s.watchers.iter().any(|w| w.compacted) {
            return;
        }
        let _ = s.outbox.send(Ok(WatchResponse {
            header: Some(info.header(current)),
            watch_id: -1,
            ..WatchResponse::default()
        }));
    }

    /// The periodic progress notification, to every watcher that asked for it.
    pub(crate) fn notify_progress(&mut self, info: &HeaderInfo, current: i64) {
        for s in self.streams.values() {
            for w in s
                .watchers
                .iter()
                .filter(|w| w.progress_notify && !w.compacted)
            {
                let _ = s.outbox.send(Ok(WatchResponse {
                    header: Some(info.header(current)),
                    watch_id: w.id,
                    ..WatchResponse::default()
                }));
            }
        }
    }

    /// Sends a committed write's changes to every watcher they concern.
    pub(crate) fn publish(
        &mut self,
        info: &HeaderInfo,
        max_bytes: usize,
        rev: i64,
        changes: &[Change],
    ) {
        if changes.is_empty() {
            return;
        }
        let mut gone = Vec::new();
        for (stream_id, s) in &mut self.streams {
            for w in s
                .watchers
                .iter_mut()
                .filter(|w| !w.compacted && w.min_rev <= rev)
            {
                let mut events: Vec<Event> = changes
                    .iter()
                    .filter(|c| w.range.contains(&c.kv.key))
                    .filter_map(|c| w.event(c))
                    .collect();
                w.min_rev = rev + 1;
                if !send_events(&s.outbox, w, info.header(rev), &mut events, max_bytes) {
                    gone.push(*stream_id);
                    break;
                }
            }
        }
        for stream in gone {
            self.streams.remove(&stream);
        }
    }
}

impl Watcher {
    /// The event `change` makes for this watcher, unless its filters drop it.
    fn event(&self, change: &Change) -> Option<Event> {
        if (change.deleted && self.no_delete) || (!change.deleted && self.no_put) {
            return None;
        }
        // etcd sends no previous value with a create (a put at version 1).
        let created = !change.deleted && change.kv.version == 1;
        Some(Event {
            r#type: if change.deleted {
                EventType::Delete as i32
            } else {
                EventType::Put as i32
            },
            kv: Some(change.kv.clone()),
            prev_kv: if self.prev_kv && !created {
                change.before.clone()
            } else {
                None
            },
        })
    }
}

/// Sends `events` (drained) to a watcher, in fragments when it asked for them and the
/// response is too large; nothing when there are none. False when the stream is gone.
fn send_events(
    outbox: &Outbox,
    w: &Watcher,
    header: crate::generated::etcdserverpb::ResponseHeader,
    events: &mut Vec<Event>,
    max_bytes: usize,
) -> bool {
    if events.is_empty() {
        return true;
    }
    let whole = WatchResponse {
        header: Some(header),
        watch_id: w.id,
        events: std::mem::take(events),
        ..WatchResponse::default()
    };
    if !w.fragment || whole.encoded_len() < max_bytes || whole.events.len() < 2 {
        return outbox.send(Ok(whole)).is_ok();
    }
    // etcd's fragmenting: fill each fragment until the next event would reach the limit
    // (at least one event each); every fragment but the last says `fragment`.
    let mut rest = whole.events.into_iter().peekable();
    while rest.peek().is_some() {
        let mut part = WatchResponse {
            header: whole.header,
            watch_id: w.id,
            fragment: true,
            ..WatchResponse::default()
        };
        while let Some(next) = rest.peek() {
            let grown = part.encoded_len() + Message::encoded_len(next) + 2;
            if !part.events.is_empty() && grown >= max_bytes {
                break;
            }
            if let Some(ev) = rest.next() {
                part.events.push(ev);
            }
        }
        part.fragment = rest.peek().is_some();
        if outbox.send(Ok(part)).is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn watcher(fragment: bool) -> Watcher {
        Watcher {
            id: 7,
            range: KeyRange::Single(bytes::Bytes::from_static(b"k")),
            min_rev: 1,
            no_put: false,
            no_delete: false,
            prev_kv: false,
            fragment,
            progress_notify: false,
            compacted: false,
        }
    }

    fn events(n: usize) -> Vec<Event> {
        (0..n)
            .map(|i| Event {
                kv: Some(crate::generated::mvccpb::KeyValue {
                    key: bytes::Bytes::from(format!("k{i}")),
                    value: bytes::Bytes::from(vec![b'v'; 400]),
                    ..Default::default()
                }),
                ..Event::default()
            })
            .collect()
    }

    #[test]
    fn a_large_response_is_split_into_fragments_all_flagged_but_the_last() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut evs = events(6);
        assert!(send_events(
            &tx,
            &watcher(true),
            Default::default(),
            &mut evs,
            1024
        ));
        let mut parts = Vec::new();
        while let Ok(Ok(part)) = rx.try_recv() {
            parts.push(part);
        }
        assert!(parts.len() > 1, "{} parts", parts.len());
        let flags: Vec<bool> = parts.iter().map(|p| p.fragment).collect();
        assert!(flags[..flags.len() - 1].iter().all(|f| *f));
        assert!(!flags[flags.len() - 1]);
        assert_eq!(parts.iter().map(|p| p.events.len()).sum::<usize>(), 6);
        assert!(
            parts
                .iter()
                .all(|p| p.encoded_len() < 1024 || p.events.len() == 1)
        );
    }

    #[test]
    fn without_fragment_a_large_response_goes_whole() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut evs = events(6);
        assert!(send_events(
            &tx,
            &watcher(false),
            Default::default(),
            &mut evs,
            1024
        ));
        let whole = rx.try_recv().unwrap().unwrap();
        assert_eq!(whole.events.len(), 6);
        assert!(!whole.fragment);
        assert!(rx.try_recv().is_err());
    }
}
