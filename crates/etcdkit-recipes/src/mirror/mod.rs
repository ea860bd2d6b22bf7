//! Mirroring: copies every key under a prefix of one etcd cluster into a
//! [`MirrorSink`] (another cluster, through [`ClientSink`]), then keeps copying its
//! changes.
//!
//! ```no_run
//! # async fn f(source: etcdkit::Client, dest: etcdkit::Client) {
//! use etcdkit_recipes::mirror::{ClientSink, DestPrefix, Syncer};
//!
//! let syncer = Syncer::new(&source, "config/");
//! let progress = syncer.progress();
//! let mut sink = ClientSink::new(&dest, "config/", DestPrefix::Replace("mirror/config/".into()));
//! tokio::spawn(async move {
//!     let error = syncer.run(&mut sink).await.unwrap_err();
//!     eprintln!("mirroring stopped: {error}");
//! });
//! println!("{} keys copied", progress.borrow().keys);
//! # }
//! ```
//!
//! # Behavior
//!
//! - **Initial copy.** The syncer takes the source's current revision and reads the
//!   prefix in pages of [`Syncer::page_size`] keys, every page at that pinned revision, so
//!   the copy is one consistent state; each page goes to the sink as one
//!   [`Batch`] ([`Batch::is_initial`]). With [`Syncer::start_revision`] there is no copy:
//!   the changes are replayed from that revision (etcdctl's `make-mirror --rev`).
//! - **Changes.** Then it watches the prefix from the revision after the copy and hands
//!   the sink the changes of each source revision as one batch, in revision order; with
//!   [`ClientSink`] a source transaction that changed several keys lands in one
//!   destination transaction. Only keys and values are mirrored (not leases or revisions;
//!   a key whose lease expires is mirrored as deleted).
//! - **Failures of the source.** The watch resumes by itself on another member after a
//!   connection failure, from the revision after the last one it delivered. When it ends
//!   otherwise (it fell behind its buffer, the server cancelled it) the syncer opens it
//!   again from the revision after the last one applied, with backoff: nothing is
//!   skipped or applied twice.
//! - **Compaction.** When the source has compacted the revision the syncer needs (during
//!   the copy, between two pages, or before the watch catches up), mirroring cannot go on
//!   without a new copy: [`Syncer::run`] returns [`MirrorError::Compacted`].
//! - **Failures of the sink** end [`Syncer::run`] with [`MirrorError::Sink`];
//!   [`ClientSink`] retries those the destination recovers from, so mirroring pauses while
//!   the destination is unreachable and goes on afterwards.
//! - **Progress.** [`Syncer::progress`] gives a `watch::Receiver` of [`Progress`]: the
//!   changes copied so far (each put or delete counts one, as etcdctl counts) and the
//!   last source revision fully applied.
//! - **Stopping.** `run` runs until a failure; drop its future to stop (no task is left
//!   behind). A batch being written when it is dropped may be partly applied.

mod base;
mod batch;
mod sink;

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use etcdkit::watch::{Event, EventType, Watcher};
use etcdkit::{Client, ErrorKind, KeyRange, Revision};
use futures_util::StreamExt;
use tokio::sync::watch;

use crate::backoff::Backoff;
pub use batch::{Batch, Change};
pub use sink::{ClientSink, DestPrefix, MirrorSink};

/// How far a [`Syncer`] has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Changes applied by the sink so far: keys of the initial copy, then puts and
    /// deletes.
    pub keys: u64,
    /// The last source revision applied in full (0 until the initial copy is done): the
    /// sink holds the prefix as the source held it at this revision.
    pub revision: Revision,
}

/// Why mirroring stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum MirrorError<E> {
    /// The source no longer has the history mirroring needs: `revision` was compacted
    /// (the source's history starts at `compact_revision`, when etcd said). Mirroring
    /// again needs a new initial copy.
    Compacted {
        /// The revision the syncer needed.
        revision: Revision,
        /// Where the source's history starts now, when known.
        compact_revision: Option<Revision>,
    },
    /// The source failed in a way that waiting does not cure (permission denied, ...), or
    /// the initial copy could not be read.
    Source(etcdkit::Error),
    /// The sink failed to apply a batch.
    Sink(E),
}

impl<E: fmt::Display> fmt::Display for MirrorError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MirrorError::Compacted {
                revision,
                compact_revision: Some(compacted),
            } => write!(
                f,
                "mirror: revision {revision} of the source has been compacted (history starts at {compacted})"
            ),
            MirrorError::Compacted { revision, .. } => {
                write!(
                    f,
                    "mirror: revision {revision} of the source has been compacted"
                )
            }
            MirrorError::Source(e) => write!(f, "mirror: source: {e}"),
            MirrorError::Sink(e) => write!(f, "mirror: destination: {e}"),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for MirrorError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MirrorError::Compacted { .. } => None,
            MirrorError::Source(e) => Some(e),
            MirrorError::Sink(e) => Some(e),
        }
    }
}

/// The waits between two attempts to open the watch.
const WATCH_RETRY_FIRST: Duration = Duration::from_millis(100);
const WATCH_RETRY_MAX: Duration = Duration::from_secs(5);

/// Copies a prefix of the source into a [`MirrorSink`], then follows its changes. See
/// the module docs.
#[derive(Debug)]
#[must_use = "call run() to mirror"]
pub struct Syncer {
    client: Client,
    prefix: Bytes,
    page_size: i64,
    start_revision: Option<Revision>,
    watch_buffer: usize,
    progress: watch::Sender<Progress>,
}

impl Syncer {
    /// A syncer of every key under `prefix` of `client`'s cluster (every key, when the
    /// prefix is empty).
    pub fn new(client: &Client, prefix: impl Into<Bytes>) -> Syncer {
        Syncer {
            client: client.clone(),
            prefix: prefix.into(),
            page_size: 1000,
            start_revision: None,
            watch_buffer: etcdkit::watch::DEFAULT_BUFFER,
            progress: watch::Sender::new(Progress::default()),
        }
    }

    /// Keys per page of the initial copy (at least 1). Default 1,000.
    pub fn page_size(mut self, keys: i64) -> Self {
        self.page_size = keys.max(1);
        self
    }

    /// Skips the initial copy and replays the source's changes from `revision` on (a
    /// revision of 0 or less keeps the copy), as etcdctl's `make-mirror --rev`.
    pub fn start_revision(mut self, revision: impl Into<Revision>) -> Self {
        let revision = revision.into();
        self.start_revision = (revision.get() > 0).then_some(revision);
        self
    }

    /// How many watch responses may wait unapplied before the watch counts as lagging
    /// (it is then opened again from where the sink is). Default
    /// [`etcdkit::watch::DEFAULT_BUFFER`].
    pub fn watch_buffer(mut self, responses: usize) -> Self {
        self.watch_buffer = responses.max(1);
        self
    }

    /// The progress of this syncer, updated after every batch the sink applied.
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Mirrors until something stops it: the initial copy (unless a start revision was
    /// given), then every change.
    ///
    /// # Errors
    ///
    /// [`MirrorError::Compacted`] when the source compacted a revision the syncer still
    /// needed; [`MirrorError::Source`] when the source refuses or the initial copy cannot
    /// be read; [`MirrorError::Sink`] when the sink fails.
    pub async fn run<S: MirrorSink>(
        self,
        sink: &mut S,
    ) -> Result<Infallible, MirrorError<S::Error>> {
        let range = KeyRange::prefix(self.prefix.clone());
        let applied = match self.start_revision {
            Some(revision) => Revision(revision.get() - 1),
            None => self.copy(&range, sink).await?,
        };
        self.follow(&range, applied, sink).await
    }

    /// The initial copy; returns the revision it was pinned at.
    async fn copy<S: MirrorSink>(
        &self,
        range: &KeyRange,
        sink: &mut S,
    ) -> Result<Revision, MirrorError<S::Error>> {
        let pinned = base::current_revision(&self.client, range)
            .await
            .map_err(MirrorError::Source)?;
        let mut pages =
            base::Pages::new(self.client.clone(), range.clone(), pinned, self.page_size);
        loop {
            let page = match pages.next_page().await {
                Ok(Some(page)) => page,
                Ok(None) => break,
                Err(e) => return Err(source_error(e, pinned)),
            };
            if page.is_empty() {
                continue;
            }
            let copied = page.len() as u64;
            sink.apply(&Batch::initial(pinned, page))
                .await
                .map_err(MirrorError::Sink)?;
            self.progress.send_modify(|p| p.keys += copied);
        }
        self.progress.send_modify(|p| p.revision = pinned);
        Ok(pinned)
    }

    /// Follows the changes after `applied`, forever or until a failure.
    async fn follow<S: MirrorSink>(
        &self,
        range: &KeyRange,
        mut applied: Revision,
        sink: &mut S,
    ) -> Result<Infallible, MirrorError<S::Error>> {
        let mut backoff = Backoff::new(WATCH_RETRY_FIRST, WATCH_RETRY_MAX);
        loop {
            let mut watcher = match self.watch_from(range, applied.next()).await {
                Ok(watcher) => watcher,
                Err(e) if reopenable(&e) => {
                    tracing::warn!(error = %e, "mirror: cannot watch the source; retrying");
                    tokio::time::sleep(backoff.next_pause()).await;
                    continue;
                }
                Err(e) => return Err(source_error(e, applied.next())),
            };
            let ended = loop {
                match watcher.next().await {
                    Some(Ok(response)) => {
                        backoff.reset();
                        for (revision, changes) in by_revision(response.events()) {
                            let count = changes.len() as u64;
                            sink.apply(&Batch::update(revision, changes))
                                .await
                                .map_err(MirrorError::Sink)?;
                            applied = revision;
                            self.progress.send_modify(|p| {
                                p.keys += count;
                                p.revision = revision;
                            });
                        }
                    }
                    Some(Err(e)) => break Some(e),
                    None => break None,
                }
            };
            match ended {
                Some(e) if !reopenable(&e) => return Err(source_error(e, applied.next())),
                Some(e) => tracing::info!(error = %e, "mirror: the watch ended; opening it again"),
                None => tracing::info!("mirror: the watch ended; opening it again"),
            }
            tokio::time::sleep(backoff.next_pause()).await;
        }
    }

    async fn watch_from(&self, range: &KeyRange, revision: Revision) -> etcdkit::Result<Watcher> {
        self.client
            .watch()
            .range(range.clone())
            .start_revision(revision)
            .buffer(self.watch_buffer)
            .await
    }
}

/// Whether a watch that failed this way can be opened again from where the sink is: it
/// fell behind, was cancelled, or the source was briefly unavailable.
fn reopenable(e: &etcdkit::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WatchLagged | ErrorKind::Cancelled | ErrorKind::Timeout
    ) || e.is_retryable()
}

/// A source failure as the mirror reports it: compaction of `needed` gets its own kind.
fn source_error<E>(e: etcdkit::Error, needed: Revision) -> MirrorError<E> {
    if e.kind() == ErrorKind::Compacted {
        MirrorError::Compacted {
            revision: needed,
            compact_revision: e.compact_revision(),
        }
    } else {
        MirrorError::Source(e)
    }
}

/// The events of a watch response grouped by revision, in order.
fn by_revision(events: &[Event]) -> Vec<(Revision, Vec<Change>)> {
    let mut groups: Vec<(Revision, Vec<Change>)> = Vec::new();
    for event in events {
        let change = match event.event_type() {
            EventType::Delete => Change::Delete {
                key: event.key().clone(),
            },
            _ => Change::Put {
                key: event.key().clone(),
                value: event.kv().value().clone(),
            },
        };
        match groups.last_mut() {
            Some((revision, changes)) if *revision == event.revision() => changes.push(change),
            _ => groups.push((event.revision(), vec![change])),
        }
    }
    groups
}
