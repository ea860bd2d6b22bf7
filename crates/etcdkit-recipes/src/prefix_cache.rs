//! A self-healing, in-memory copy of every key under a prefix.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use etcdkit_recipes::prefix_cache::PrefixCache;
//!
//! let cache = PrefixCache::builder(&client, "services/").start();
//! cache.ready().await;
//! let snapshot = cache.snapshot();
//! println!("{} keys at revision {}", snapshot.entries().len(), snapshot.revision());
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Loading.** The prefix is read in pages of [`PrefixCacheBuilder::page_size`] keys,
//!   every page at the revision of the first one, so the copy is one consistent state and
//!   a large prefix never hits the message size limit. Then the prefix is watched from
//!   the next revision. [`PrefixCache::ready`] completes after the first load.
//! - **Changes.** Each change is applied to the copy, then published on
//!   [`PrefixCache::changes`] as a [`CacheEvent`]. The copy's revision only moves forward.
//! - **Connection failures** are handled by the watch: it resumes on another member from
//!   the next revision, so nothing is missed or repeated.
//! - **Compaction or a lagging watch.** When the watch cannot continue (the revision it
//!   needs was compacted, or the cache fell behind its buffer), the cache reads the prefix
//!   again (with backoff while etcd is unreachable), replaces its copy, and publishes one
//!   [`CacheEvent::Resync`] with the puts and deletes that take a subscriber from the old
//!   copy to the new one. It is never silently stale; while it re-lists, reads return the
//!   old copy.
//! - **Subscribers** that fall behind [`PrefixCacheBuilder::channel_capacity`] events get
//!   [`CacheEvent::Lagged`]: take a [`PrefixCache::snapshot`] to catch up.
//! - **Drop**: dropping the cache stops its task (it is aborted; nothing blocks).

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use etcdkit::watch::{EventType, Watcher};
use etcdkit::{Client, ErrorKind, KeyValue, Revision, prefix_end};
use futures_util::{Stream, StreamExt};
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::owned_task::OwnedTask;

/// A change of the cached prefix.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum CacheEvent {
    /// A key was created or updated.
    Put(KeyValue),
    /// A key was deleted at `revision`.
    Delete {
        /// The key.
        key: Bytes,
        /// The revision of the delete.
        revision: Revision,
    },
    /// The cache re-read the prefix (after compaction or a lagging watch): these puts and
    /// deletes take the previous copy to the new one, at `revision`.
    Resync {
        /// The revision of the new copy.
        revision: Revision,
        /// Keys that are new or changed.
        puts: Vec<KeyValue>,
        /// Keys that are gone.
        deletes: Vec<Bytes>,
    },
    /// This subscriber fell behind and missed `missed` events; take a snapshot.
    Lagged {
        /// How many events were missed.
        missed: u64,
    },
}

/// A consistent copy of the prefix at one revision.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    revision: Revision,
    entries: Vec<KeyValue>,
}

impl Snapshot {
    /// The revision the copy reflects.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// The keys, in key order.
    pub fn entries(&self) -> &[KeyValue] {
        &self.entries
    }
}

#[derive(Default)]
struct State {
    map: BTreeMap<Bytes, KeyValue>,
    revision: Revision,
}

/// The cache's contents and its channels, shared by the handle and its task.
struct CacheCore {
    state: RwLock<State>,
    events: broadcast::Sender<CacheEvent>,
    ready: watch::Sender<bool>,
}

/// Configures a [`PrefixCache`].
#[derive(Debug)]
#[must_use = "call start() to run the cache"]
pub struct PrefixCacheBuilder {
    client: Client,
    prefix: Bytes,
    page_size: i64,
    channel_capacity: usize,
    watch_buffer: usize,
}

impl PrefixCacheBuilder {
    /// Keys per page when (re-)reading the prefix. Default 1,000.
    pub fn page_size(mut self, keys: i64) -> Self {
        self.page_size = keys.max(1);
        self
    }

    /// How many change events a subscriber may fall behind. Default 1,024.
    pub fn channel_capacity(mut self, events: usize) -> Self {
        self.channel_capacity = events.max(1);
        self
    }

    /// The watch's buffer (responses); a cache that falls further behind re-lists.
    /// Default 1,024.
    pub fn watch_buffer(mut self, responses: usize) -> Self {
        self.watch_buffer = responses.max(1);
        self
    }

    /// Starts the cache's task (which loads, then watches).
    pub fn start(self) -> PrefixCache {
        let (events, _) = broadcast::channel(self.channel_capacity);
        let (ready, _) = watch::channel(false);
        let shared = Arc::new(CacheCore {
            state: RwLock::new(State::default()),
            events,
            ready,
        });
        let task = OwnedTask::spawn(run(self, shared.clone()));
        PrefixCache {
            shared,
            _task: task,
        }
    }
}

/// An in-memory copy of a prefix kept up to date by a watch. See the module docs.
///
/// **Drop**: stops the cache's task.
pub struct PrefixCache {
    shared: Arc<CacheCore>,
    _task: OwnedTask,
}

impl PrefixCache {
    /// A cache of every key under `prefix`, read through `client`.
    pub fn builder(client: &Client, prefix: impl Into<Bytes>) -> PrefixCacheBuilder {
        PrefixCacheBuilder {
            client: client.clone(),
            prefix: prefix.into(),
            page_size: 1000,
            channel_capacity: 1024,
            watch_buffer: 1024,
        }
    }

    /// The cached value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<KeyValue> {
        self.read(|s| s.map.get(key).cloned())
    }

    /// The whole copy with its revision.
    pub fn snapshot(&self) -> Snapshot {
        self.read(|s| Snapshot {
            revision: s.revision,
            entries: s.map.values().cloned().collect(),
        })
    }

    /// The revision the copy reflects.
    pub fn revision(&self) -> Revision {
        self.read(|s| s.revision)
    }

    /// True once the first load has finished.
    pub fn is_ready(&self) -> bool {
        *self.shared.ready.borrow()
    }

    /// Waits for the first load.
    pub async fn ready(&self) {
        let mut rx = self.shared.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// Changes from now on. Combine with [`snapshot`](Self::snapshot) taken after
    /// subscribing: events at or below the snapshot's revision are already in it.
    pub fn changes(&self) -> impl Stream<Item = CacheEvent> + Send + 'static + use<> {
        BroadcastStream::new(self.shared.events.subscribe()).map(|e| match e {
            Ok(e) => e,
            Err(BroadcastStreamRecvError::Lagged(missed)) => CacheEvent::Lagged { missed },
        })
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        match self.shared.state.read() {
            Ok(s) => f(&s),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }
}

impl std::fmt::Debug for PrefixCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrefixCache")
            .field("revision", &self.revision())
            .field("ready", &self.is_ready())
            .finish()
    }
}

/// Reads the prefix in pages, all at the first page's revision.
async fn list(b: &PrefixCacheBuilder) -> etcdkit::Result<(Revision, BTreeMap<Bytes, KeyValue>)> {
    let end = prefix_end(&b.prefix);
    let mut map = BTreeMap::new();
    let mut from = b.prefix.clone();
    let mut revision: Option<Revision> = None;
    loop {
        let mut get = b
            .client
            .kv()
            .get(from.clone())
            .range_end(end.clone())
            .limit(b.page_size);
        if let Some(rev) = revision {
            get = get.revision(rev);
        }
        let page = get.await?;
        let rev = *revision.get_or_insert(page.header().revision());
        let more = page.more();
        let mut last = None;
        for kv in page.into_kvs() {
            last = Some(kv.key().clone());
            map.insert(kv.key().clone(), kv);
        }
        match last {
            Some(last) if more => {
                let mut next = last.to_vec();
                next.push(0);
                from = Bytes::from(next);
            }
            _ => return Ok((rev, map)),
        }
    }
}

/// The waits between two attempts to list or watch.
const RETRY: etcdkit::Backoff =
    etcdkit::Backoff::new(Duration::from_millis(50), Duration::from_secs(2));

/// Lists until it succeeds (a compaction between pages starts it over).
async fn list_until_done(b: &PrefixCacheBuilder) -> (Revision, BTreeMap<Bytes, KeyValue>) {
    let mut failures: u32 = 0;
    loop {
        match list(b).await {
            Ok(listed) => return listed,
            Err(e) => {
                tracing::warn!(error = %e, "prefix cache: listing failed; retrying");
                if e.kind() != ErrorKind::Compacted {
                    failures = failures.saturating_add(1);
                    tokio::time::sleep(RETRY.delay(failures)).await;
                }
            }
        }
    }
}

async fn watch_from(b: &PrefixCacheBuilder, revision: Revision) -> etcdkit::Result<Watcher> {
    b.client
        .watch()
        .key(b.prefix.clone())
        .range_end(prefix_end(&b.prefix))
        .start_revision(revision.next())
        .buffer(b.watch_buffer)
        .await
}

async fn run(b: PrefixCacheBuilder, shared: Arc<CacheCore>) {
    let (rev, map) = list_until_done(&b).await;
    if let Ok(mut s) = shared.state.write() {
        *s = State { map, revision: rev };
    }
    shared.ready.send_replace(true);
    let mut from = rev;
    let mut watch_failures: u32 = 0;
    loop {
        let mut watcher = match watch_from(&b, from).await {
            Ok(w) => {
                watch_failures = 0;
                w
            }
            Err(e) if e.kind() == ErrorKind::Compacted => {
                from = resync(&b, &shared).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "prefix cache: cannot watch; retrying");
                watch_failures = watch_failures.saturating_add(1);
                tokio::time::sleep(RETRY.delay(watch_failures)).await;
                continue;
            }
        };
        while let Some(item) = watcher.next().await {
            match item {
                Ok(response) => {
                    for event in response.events() {
                        let revision = event.revision();
                        let change = if let Ok(mut s) = shared.state.write() {
                            s.revision = s.revision.max(revision);
                            match event.event_type() {
                                EventType::Delete => {
                                    s.map.remove(event.key());
                                    CacheEvent::Delete {
                                        key: event.key().clone(),
                                        revision,
                                    }
                                }
                                _ => {
                                    s.map.insert(event.key().clone(), event.kv().clone());
                                    CacheEvent::Put(event.kv().clone())
                                }
                            }
                        } else {
                            continue;
                        };
                        from = from.max(revision);
                        let _ = shared.events.send(change);
                    }
                }
                Err(e) => {
                    tracing::info!(error = %e, "prefix cache: watch ended; re-listing");
                    break;
                }
            }
        }
        // The watch ended (compaction, lag, or the server cancelled it): re-list.
        from = resync(&b, &shared).await;
    }
}

/// Re-reads the prefix, replaces the copy and publishes one resync; returns its revision.
async fn resync(b: &PrefixCacheBuilder, shared: &CacheCore) -> Revision {
    let (rev, map) = list_until_done(b).await;
    let Ok(mut s) = shared.state.write() else {
        return rev;
    };
    let (puts, deletes) = diff(&s.map, &map);
    *s = State { map, revision: rev };
    drop(s);
    let _ = shared.events.send(CacheEvent::Resync {
        revision: rev,
        puts,
        deletes,
    });
    rev
}

/// What takes `old` to `new`: keys new or changed, and keys gone.
fn diff(
    old: &BTreeMap<Bytes, KeyValue>,
    new: &BTreeMap<Bytes, KeyValue>,
) -> (Vec<KeyValue>, Vec<Bytes>) {
    let puts = new
        .iter()
        .filter(|(k, kv)| {
            old.get(*k)
                .is_none_or(|o| o.mod_revision() != kv.mod_revision())
        })
        .map(|(_, kv)| kv.clone())
        .collect();
    let deletes = old
        .keys()
        .filter(|k| !new.contains_key(*k))
        .cloned()
        .collect();
    (puts, deletes)
}
