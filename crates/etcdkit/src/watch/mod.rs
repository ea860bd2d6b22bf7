//! The watch API: streams of changes to a key, a prefix or a range.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use futures_util::StreamExt;
//!
//! let mut watcher = client.watch().key("config/").prefix().prev_kv().await?;
//! while let Some(response) = watcher.next().await {
//!     for event in response?.events() {
//!         println!("{} {:?} at {}", event.event_type(), event.key(), event.revision());
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # What is promised
//!
//! - **One stream.** All watches of a client (its clones and namespaced views included)
//!   share one gRPC stream, opened by the first watch and closed when the last one goes.
//!   Watches that require a leader share a second one (the requirement is stream
//!   metadata).
//! - **Resume.** When the stream fails (member killed, frozen — caught by the keepalive
//!   pings —, connection reset, no leader for a watch that requires one) it is re-opened
//!   on a healthy endpoint, with backoff, and every watch is re-created from the revision
//!   after the last one it delivered (or from its start revision). A response holds the
//!   events of whole revisions: the events of one revision are never split, repeated or
//!   lost; fragmented responses are joined before delivery.
//! - **Compaction.** When the revision a watch needs has been compacted, the watcher
//!   yields an [`ErrorKind::Compacted`] error whose
//!   [`compact_revision`](crate::Error::compact_revision) says where history starts, then
//!   ends.
//! - **Bounded memory.** Each watcher buffers at most [`WatchBuilder::buffer`] responses.
//!   One whose consumer does not keep up is cancelled, without slowing the others: after
//!   its buffered responses it yields an
//!   [`ErrorKind::WatchLagged`] error whose
//!   [`last_delivered_revision`](crate::Error::last_delivered_revision) says where to
//!   watch again from.
//! - **Where it stopped.** Whatever ends a watcher, its last error carries
//!   [`last_delivered_revision`](crate::Error::last_delivered_revision), the revision up to
//!   which it yielded every change ([`Watcher::last_revision`] while it runs).

mod fragment;
mod hub;
mod resume;
mod stream;
mod types;

use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

#[cfg(feature = "fuzzing")]
pub(crate) use fragment::Reassembly;
pub(crate) use hub::Hub;
#[cfg(feature = "fuzzing")]
pub(crate) use resume::Progress;
use resume::Spec;
use stream::{Command, NewWatch, StreamInfo, WatcherShared};
pub use types::{Event, EventType, WatchResponse};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::key_range::KeyRange;
use crate::types::Revision;

/// The default number of responses a watcher may hold before it counts as lagging.
pub const DEFAULT_BUFFER: usize = 256;

/// The first of the ids the client picks itself; below it are the ids callers may
/// choose ([`WatchBuilder::watch_id`]), so the two never meet.
pub const AUTO_WATCH_ID_BASE: i64 = 1 << 48;

/// Watch ids are ours (etcd lets the client choose them), unique per process.
static NEXT_ID: AtomicI64 = AtomicI64::new(AUTO_WATCH_ID_BASE);

/// The watch API of a [`Client`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Watch {
    pub(crate) client: Client,
}

impl Watch {
    /// Watches `key` (or, with `.prefix()` / `.range_end(..)` / `.from_key()`, a range).
    pub fn key(&self, key: impl Into<Bytes>) -> WatchBuilder {
        WatchBuilder {
            client: self.client.clone(),
            key: key.into(),
            range_end: Bytes::new(),
            spec: Spec::default(),
            require_leader: self.client.transport().options().require_leader,
            buffer: DEFAULT_BUFFER,
            watch_id: None,
        }
    }

    /// Watches every key that starts with `prefix`.
    pub fn prefix(&self, prefix: impl Into<Bytes>) -> WatchBuilder {
        self.key(prefix).prefix()
    }

    /// Watches the keys of `range`.
    pub fn range(&self, range: KeyRange) -> WatchBuilder {
        let (key, end) = range.into_parts();
        let mut builder = self.key(key);
        builder.range_end = end;
        builder
    }

    /// The endpoint carrying this client's shared watch stream now (the one watches
    /// get by default, following the client's
    /// [`require_leader`](crate::ClientOptions::require_leader) option), or `None`
    /// while it is not open.
    pub fn endpoint(&self) -> Option<String> {
        let require_leader = self.client.transport().options().require_leader;
        self.client.watch_hub().endpoint(require_leader)
    }
}

/// A watch being set up. Await it to get the [`Watcher`]; that returns once the server
/// has created the watch, so every change after that is seen.
#[derive(Debug)]
#[must_use = "a watch does nothing until awaited"]
pub struct WatchBuilder {
    client: Client,
    key: Bytes,
    range_end: Bytes,
    spec: Spec,
    require_leader: bool,
    buffer: usize,
    watch_id: Option<i64>,
}

impl WatchBuilder {
    key_range_methods!("Watches", key, range_end);

    /// Starts at `revision` (past changes included); by default, at the next change.
    pub fn start_revision(mut self, revision: impl Into<Revision>) -> Self {
        self.spec.start_revision = revision.into().0.max(0);
        self
    }

    flag_methods!(spec, {
        /// Includes each key's previous value in its events.
        pub fn prev_kv;
        /// Asks the server for periodic progress notifications (responses with no events)
        /// while nothing changes.
        pub fn progress_notify;
        /// Leaves out put events.
        pub fn no_put;
        /// Leaves out delete events.
        pub fn no_delete;
        /// Lets the server split very large responses; they are joined again before
        /// delivery, so this changes nothing a caller sees except that such responses pass
        /// the server's size limit.
        pub fn fragment;
        /// Delivers the server's "created" notice as the first response
        /// ([`WatchResponse::is_created`]).
        pub fn created_notify;
    });

    /// Runs the watch on a stream that the server cancels when its member loses the
    /// leader; the watch then resumes on another member. (Default: the client's
    /// [`require_leader`](crate::ClientOptions::require_leader) option.)
    pub fn require_leader(mut self) -> Self {
        self.require_leader = true;
        self
    }

    /// How many responses the watcher may hold unread before it counts as lagging and is
    /// cancelled (at least 1). Default [`DEFAULT_BUFFER`].
    pub fn buffer(mut self, responses: usize) -> Self {
        self.buffer = responses.max(1);
        self
    }

    /// Creates the watch under this id (etcd's `WatchCreateRequest.watch_id`, honoured
    /// since etcd 3.4) instead of one the client picks. Ids are per stream: a client's
    /// watches share one stream (two with [`require_leader`](Self::require_leader)),
    /// so an id may be held by one watch of each at a time; it is free again once its
    /// watch has ended or been cancelled ([`Watcher::cancel`] waits for that; a
    /// dropped watcher frees it a moment later). The id is used again when the watch
    /// is re-created after a failure. Using an id again at once is allowed but best
    /// avoided: etcd may still send, after the new watch's creation, events it had
    /// pending for the old one. Ids from 1 to [`AUTO_WATCH_ID_BASE`] − 1 are the
    /// caller's; the client picks its own from [`AUTO_WATCH_ID_BASE`] on.
    ///
    /// Awaiting the watch fails with [`ErrorKind::WatchIdInUse`] when another watch on
    /// the stream holds the id (checked by the client: etcd itself refuses such a
    /// creation with watch id -1 and the reason "mvcc: duplicate watch ID provided on
    /// the WatchStream"), and with [`ErrorKind::InvalidArgument`] for an id outside the
    /// caller's range.
    pub fn watch_id(mut self, id: i64) -> Self {
        self.watch_id = Some(id);
        self
    }

    async fn start(self) -> Result<Watcher> {
        if self.key.is_empty() {
            return Err(Error::empty_key().with_operation("watch"));
        }
        if let Some(id) = self.watch_id
            && !(1..AUTO_WATCH_ID_BASE).contains(&id)
        {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "watch id {id} is outside the ids a caller may choose (1 to {})",
                    AUTO_WATCH_ID_BASE - 1
                ),
            )
            .with_operation("watch"));
        }
        let client = self.client;
        let mut spec = self.spec;
        let (mut key, mut range_end) = (self.key, self.range_end);
        client.namespace().range(&mut key, &mut range_end);
        spec.key = key;
        spec.range_end = range_end;
        let id = self
            .watch_id
            .unwrap_or_else(|| NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = mpsc::channel(self.buffer);
        let (created_tx, created_rx) = oneshot::channel();
        let shared = Arc::new(WatcherShared::default());
        let hub = client.watch_hub().clone();
        let (commands, info) = hub.submit(
            self.require_leader,
            Command::Create(Box::new(NewWatch {
                id,
                spec,
                namespace: client.namespace().clone(),
                tx,
                shared: shared.clone(),
                created: created_tx,
            })),
        )?;
        let mut watcher = Watcher {
            id,
            rx,
            commands,
            shared,
            info,
            _hub: hub,
            ended: false,
            last_revision: Revision(0),
        };
        let timeout = client.transport().options().request_timeout;
        match tokio::time::timeout(timeout, created_rx).await {
            Ok(Ok(Ok(baseline))) => {
                watcher.last_revision = baseline;
                Ok(watcher)
            }
            Ok(Ok(Err(e))) => {
                watcher.ended = true;
                Err(e)
            }
            Ok(Err(_)) => {
                watcher.ended = true;
                Err(Error::new(
                    ErrorKind::Cancelled,
                    "the watch stream ended before the watch was created",
                )
                .with_operation("watch"))
            }
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the watch was not created within {}",
                    crate::util::fmt_duration(timeout)
                ),
            )
            .with_operation("watch")),
        }
    }
}

impl IntoFuture for WatchBuilder {
    type Output = Result<Watcher>;
    type IntoFuture = BoxFuture<'static, Result<Watcher>>;

    /// Opens the watch on the client's shared watch stream and waits until the server has created it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::WatchIdInUse`] when the [`watch_id`](WatchBuilder::watch_id) asked for
    /// is held by another watch on the stream; [`ErrorKind::InvalidArgument`] for one
    /// outside the caller's range;
    /// [`ErrorKind::StreamReopensExhausted`] when the stream cannot be opened within
    /// [`max_stream_reopens`](crate::ClientOptions::max_stream_reopens);
    /// [`ErrorKind::Compacted`] when the start revision is compacted away; [`ErrorKind::Timeout`]
    /// when the watch is not created within the request timeout; [`ErrorKind::Cancelled`] when the
    /// shared stream ends first; [`ErrorKind::PermissionDenied`] or [`ErrorKind::InvalidToken`]
    /// under auth.
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.start())
    }
}

/// A running watch: a [`Stream`] of [`WatchResponse`]s.
///
/// It ends after an error (compaction, lag, the server cancelling the watch) or when the
/// last client handle and the stream task are gone; transport failures are not errors, they
/// are resumed from. Each item is a response with the events of whole revisions, in
/// revision order.
///
/// **Drop**: cancels the watch (a cancel is queued for the stream task; nothing blocks).
/// The watcher keeps the shared stream alive, even after the client is dropped.
pub struct Watcher {
    id: i64,
    rx: mpsc::Receiver<Result<WatchResponse>>,
    commands: mpsc::UnboundedSender<Command>,
    shared: Arc<WatcherShared>,
    info: Arc<StreamInfo>,
    _hub: Arc<Hub>,
    ended: bool,
    /// Every revision up to this one has been yielded (see [`Watcher::last_revision`]).
    last_revision: Revision,
}

impl Watcher {
    /// Cancels the watch and waits until the stream task has dropped it; no response is
    /// delivered after this.
    pub async fn cancel(mut self) {
        self.ended = true;
        let (done, wait) = oneshot::channel();
        if self
            .commands
            .send(Command::Cancel {
                id: self.id,
                done: Some(done),
            })
            .is_ok()
        {
            let _ = wait.await;
        }
    }

    /// Asks the server for a progress notification. The stream is shared, so every
    /// watcher on it gets one (a response with no events whose header revision is the
    /// store's current revision).
    ///
    /// Does nothing once the watch has ended: the watcher then yields how it ended (a
    /// compaction, a cancellation by the server, ...) and finishes. (An error here would
    /// race with that answer and hide it: a watch from a compacted revision is ended by
    /// the server right after its creation, and the stream task may be gone before the
    /// caller asks.)
    pub fn request_progress(&self) {
        // A closed channel means the stream task has ended; the watcher holds its end.
        let _ = self.commands.send(Command::Progress);
    }

    /// The endpoint carrying this watch's stream now, or `None` while it is being
    /// re-opened.
    pub fn endpoint(&self) -> Option<String> {
        self.info.endpoint()
    }

    /// The revision up to which this watcher has yielded every change: the revision of
    /// the last event it yielded, or, before any, the revision it started after (the
    /// store's revision when it was created, or the one before its start revision).
    ///
    /// Watching again from the next revision misses nothing and repeats nothing. The
    /// error a watcher ends with carries the same number, whatever ended it, as
    /// [`Error::last_delivered_revision`].
    pub fn last_revision(&self) -> Revision {
        self.last_revision
    }
}

impl Stream for Watcher {
    type Item = Result<WatchResponse>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                if let Ok(response) = &item
                    && let Some(last) = response.events().last()
                {
                    // Responses hold whole revisions in order: the last event's is the
                    // revision everything up to which has now been yielded.
                    self.last_revision = self.last_revision.max(last.revision());
                }
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                self.ended = true;
                let terminal = self.shared.terminal.lock().ok().and_then(|mut t| t.take());
                let error = terminal.unwrap_or_else(|| {
                    Error::new(ErrorKind::Cancelled, "the watch stream task has ended")
                        .with_operation("watch")
                });
                // Whatever ended the watch, say where to watch again from.
                let error = match error.last_delivered_revision() {
                    Some(_) => error,
                    None => error.with_last_delivered_revision(self.last_revision),
                };
                Poll::Ready(Some(Err(error)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.commands.send(Command::Cancel {
                id: self.id,
                done: None,
            });
        }
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher")
            .field("id", &self.id)
            .field("endpoint", &self.endpoint())
            .finish()
    }
}
