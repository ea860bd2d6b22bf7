//! Leader election on a [`Session`]: campaign, proclaim while leader, resign, ask who
//! leads, and observe every change of leader.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use etcdkit_recipes::election::Election;
//! use etcdkit_recipes::session::Session;
//!
//! let session = Session::new(&client).await?;
//! let election = Election::new(&session, "scheduler");
//! let leadership = election.campaign("node-1").await?;
//! tokio::select! {
//!     cause = leadership.lost() => eprintln!("no longer leader: {cause}"),
//!     _ = tokio::signal::ctrl_c() => { leadership.resign().await?; }
//! }
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Queue.** A campaign puts the key `NAME/LEASE` (the session's lease id in
//!   hexadecimal, the layout etcd's own election uses, so etcdkit, etcdctl and the
//!   server's Election service see the same election) with the candidate's value under
//!   the session's lease. The candidate with the oldest key leads; each waiting candidate
//!   watches only the key just before its own.
//! - **[`campaign`](Election::campaign)** returns a [`Leadership`] once elected. It ends
//!   with [`ErrorKind::SessionLost`] when the session's
//!   lease is lost, the session is dropped, or the candidate's key is deleted. One session
//!   campaigns once per name: a second campaign fails with
//!   [`ErrorKind::AlreadyExists`]. A dropped campaign
//!   future withdraws its key in the background.
//! - **Proclaim** changes the value only while still leader: it is a transaction fenced on
//!   the leader key's creation revision, and fails with
//!   [`ErrorKind::NotElectionLeader`] otherwise.
//!   [`Leadership::compare`] gives the same fence for your own transactions.
//! - **Lost.** [`Leadership::lost`] finishes when the leadership ends: the session's lease
//!   lost, the session dropped, or the key deleted by someone else.
//! - **Resign** deletes the leader key only if it is still this leadership's; a former
//!   leader's resignation never ends a newer leadership. A resignation that fails
//!   hands the key to the background releaser, as a dropped leadership does;
//!   [`Election::released`] waits for it.
//! - **Drop.** A dropped [`Leadership`] resigns promptly in the background: the same
//!   fenced delete, done by the session's releaser task (fed through a channel) and
//!   retried with backoff while the session lives. Drop never blocks and never spawns.
//!   If that fails for good, the key expires with the session's lease
//!   ([`Election::release_state`] says so) unless the session's next campaign of the
//!   name removes it first.
//! - **A key being released is never campaigned with again**: as for the
//!   [mutex](crate::mutex), each campaign gets a key newer than every key the session
//!   used before on that name, so a background resignation can never end a newer
//!   leadership of the same session.
//! - **Resume.** [`Election::resume`] rebuilds a [`Leadership`] after a restart (Go's
//!   `concurrency.ResumeElection`): the process keeps the leadership's
//!   [`leader_key`](Leadership::leader_key) (name, key, creation revision, lease) and, once
//!   restarted within the lease's TTL, resumes the lease's session and the election. It
//!   checks with the server, in one transaction, that the key still exists with that
//!   creation revision under that lease and is still the oldest candidate; otherwise
//!   [`ErrorKind::NotElectionLeader`]. Nothing is written.
//! - **Observe.** [`Election::observe`] first yields the current state (a leader, or
//!   [`LeaderEvent::NoLeader`]), then every change in revision order: a new leader, a new
//!   value proclaimed, no leader left. It is built on a watch of the election's prefix,
//!   which resumes after failures without losing revisions; when the watch cannot go on
//!   (history compacted, or the observer fell far behind) it re-reads the election and
//!   yields the leader then if it changed, so changes in between may be skipped. While
//!   the cluster is out of reach it keeps trying, with capped backoff; an error that
//!   retrying cannot cure (permission denied, for one) is yielded and ends the stream.

use std::collections::BTreeMap;
use std::fmt;
use std::future::IntoFuture;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use etcdkit::election::LeaderKey;
use etcdkit::kv::{Compare, Put, SortOrder, SortTarget};
use etcdkit::watch::EventType;
use etcdkit::{Client, Error, ErrorKind, KeyValue, Result, Revision};
use futures_util::future::BoxFuture;
use futures_util::{Stream, StreamExt};
use tokio::sync::{mpsc, watch};

use crate::owned_task::OwnedTask;
use crate::queue::{Held, Queue};
use crate::session::Session;

pub use crate::queue::{LostCause, ReleaseState};

/// How many leader events an observer holds before it stops reading.
const OBSERVE_BUFFER: usize = 64;

/// An election named by a key prefix, campaigned for under a session. Cheap to clone.
#[derive(Clone)]
pub struct Election {
    name: Bytes,
    queue: Queue,
}

impl fmt::Debug for Election {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.queue.fmt_as("Election", f)
    }
}

impl Election {
    /// The election `name` (its keys are `name/LEASE`), campaigned for under `session`.
    pub fn new(session: &Session, name: impl Into<Bytes>) -> Election {
        let name: Bytes = name.into();
        Election {
            queue: Queue::new(session, &name),
            name,
        }
    }

    /// The key this session campaigns with (`NAME/LEASE`).
    pub fn key(&self) -> &Bytes {
        &self.queue.key
    }

    /// Campaigns with `value`: the returned [`Campaign`], awaited, waits until elected.
    /// See the [module docs](self) for what ends the wait; [`Campaign::timeout`] bounds it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SessionLost`] when the session's lease is lost or the session dropped while
    /// waiting (the [`LostCause`] is in the message); [`ErrorKind::Timeout`] when a
    /// [timeout](Campaign::timeout) was set and passed; the request's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub fn campaign(&self, value: impl Into<Bytes>) -> Campaign<'_> {
        Campaign {
            election: self,
            value: value.into(),
            timeout: None,
        }
    }

    /// Takes over a leadership won before a restart: `leader` as given by
    /// [`Leadership::leader_key`] then (kept somewhere that survives the restart), this
    /// election made on a session that resumed the same lease
    /// ([`SessionBuilder::resume`](crate::session::SessionBuilder::resume)). The resumed
    /// leadership proclaims, resigns, reports its loss and resigns when dropped as one
    /// won by [`campaign`](Election::campaign). See the [module docs](self).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when `leader` names another election, key or lease
    /// than this election on this session; [`ErrorKind::NotElectionLeader`] when the key
    /// is gone, was put again (another creation revision) or is not the oldest candidate;
    /// [`ErrorKind::AlreadyExists`] when this session already campaigned with its key at
    /// that revision or later; [`ErrorKind::SessionLost`] when the session has ended; the
    /// request's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn resume(&self, leader: &LeaderKey) -> Result<Leadership> {
        const WHAT: &str = "resume";
        let mismatch = |what: &str, given: &[u8], ours: &[u8]| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "{WHAT}: the leader key's {what} is {}, this election's is {}",
                    String::from_utf8_lossy(given),
                    String::from_utf8_lossy(ours)
                ),
            )
        };
        if leader.name() != &self.name {
            return Err(mismatch("name", leader.name(), &self.name));
        }
        if leader.lease() != self.queue.lease {
            return Err(mismatch(
                "lease",
                format!("{:x}", leader.lease()).as_bytes(),
                format!("{:x}", self.queue.lease).as_bytes(),
            ));
        }
        if leader.key() != &self.queue.key {
            return Err(mismatch("key", leader.key(), &self.queue.key));
        }
        let held = self
            .queue
            .resume(leader.revision(), WHAT, |reason| {
                Error::new(ErrorKind::NotElectionLeader, reason)
            })
            .await?;
        Ok(Leadership {
            name: self.name.clone(),
            held,
        })
    }

    /// The background resignations of this session's key on this election (after a
    /// dropped [`Leadership`] or campaign, or a failed [`resign`](Leadership::resign)),
    /// as a watch receiver that sees every change.
    pub fn release_state(&self) -> watch::Receiver<ReleaseState> {
        self.queue.release_state()
    }

    /// Waits until no background resignation of this session's key is under way.
    ///
    /// # Errors
    ///
    /// The error of a resignation that failed for good ([`ReleaseState::Failed`]).
    pub async fn released(&self) -> Result<()> {
        ReleaseState::settled(self.queue.release_state()).await
    }

    /// The current leader's key-value (its value is the election's value), or `None`
    /// when nobody campaigns.
    ///
    /// # Errors
    ///
    /// The request's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn leader(&self) -> Result<Option<KeyValue>> {
        leader(&self.queue.client, &self.queue.prefix).await
    }

    /// A stream of the election's leaders; see the [module docs](self). Must be called
    /// within a Tokio runtime.
    pub fn observe(&self) -> Observer {
        let (tx, rx) = mpsc::channel(OBSERVE_BUFFER);
        let task = OwnedTask::spawn(observe(
            self.queue.client.clone(),
            self.queue.prefix.clone(),
            tx,
        ));
        Observer { rx, _task: task }
    }
}

async fn leader(client: &Client, prefix: &Bytes) -> Result<Option<KeyValue>> {
    let response = client
        .kv()
        .get(prefix.clone())
        .prefix()
        .sort(SortTarget::Create, SortOrder::Ascend)
        .limit(1)
        .await?;
    Ok(response.into_kvs().into_iter().next())
}

/// A campaign, from [`Election::campaign`]: await it for the [`Leadership`].
///
/// **Drop** (of the future, before it finished) withdraws the candidate's key in the
/// background.
#[derive(Debug)]
#[must_use = "a campaign does nothing until awaited"]
pub struct Campaign<'a> {
    election: &'a Election,
    value: Bytes,
    timeout: Option<Duration>,
}

impl Campaign<'_> {
    /// Gives up after `timeout` in all (putting the key and waiting to lead), with
    /// [`ErrorKind::Timeout`], after taking the key back out of the queue. No timeout
    /// unless set: the wait lasts as long as the session.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<'a> IntoFuture for Campaign<'a> {
    type Output = Result<Leadership>;
    type IntoFuture = BoxFuture<'a, Result<Leadership>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let held = self
                .election
                .queue
                .acquire(self.value, false, self.timeout, "campaign", |_| {
                    Error::new(ErrorKind::Locked, "another candidate leads")
                })
                .await?;
            Ok(Leadership {
                name: self.election.name.clone(),
                held,
            })
        })
    }
}

/// A won election. See the [module docs](self).
///
/// **Drop** resigns in the background, promptly and without blocking;
/// [`resign`](Leadership::resign) resigns and says how that went.
pub struct Leadership {
    name: Bytes,
    held: Held,
}

held_key_guard!(Leadership, revision: "revision",
    /// The leader key (`NAME/LEASE`).
);

impl Leadership {
    /// The leader key's creation revision: it identifies this leadership and grows with
    /// every new one (a fencing token).
    pub fn revision(&self) -> Revision {
        self.held.rev
    }

    /// The leadership as a [`LeaderKey`] of the server's Election service.
    pub fn leader_key(&self) -> LeaderKey {
        LeaderKey::new(
            self.name.clone(),
            self.held.queue.key.clone(),
            self.held.rev,
            self.held.queue.lease,
        )
    }

    /// A compare that holds only while this leadership lasts. Add it to your own
    /// transactions.
    pub fn compare(&self) -> Compare {
        self.held.compare()
    }

    /// Sets a new value for the election, only while still leader: fails with
    /// [`ErrorKind::NotElectionLeader`] otherwise.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotElectionLeader`] when this leadership has ended; the request's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...), including
    /// [`ErrorKind::OutcomeUnknown`] for a write that may have been applied.
    pub async fn proclaim(&self, value: impl Into<Bytes>) -> Result<()> {
        let response = self
            .held
            .queue
            .client
            .kv()
            .txn()
            .when([self.compare()])
            .and_then([Put::new(self.held.queue.key.clone(), value).lease(self.held.queue.lease)])
            .await?;
        if response.succeeded() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::NotElectionLeader,
                format!(
                    "proclaim: no longer the leader of {}",
                    String::from_utf8_lossy(&self.name)
                ),
            ))
        }
    }

    /// Finishes when the leadership is lost, and says why.
    pub async fn lost(&self) -> LostCause {
        self.held.lost().await
    }

    /// Gives up leadership: deletes the key if it is still this leadership's. Returns
    /// whether it was (`false`: the leadership had already been lost).
    ///
    /// # Errors
    ///
    /// The client's error when the delete failed, definitely or with an unknown
    /// outcome: the key is then deleted by the session's background releaser
    /// ([`Election::released`] waits for it).
    pub async fn resign(mut self) -> Result<bool> {
        self.held.give_up().await
    }
}

/// What an [`Observer`] sees.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderEvent {
    /// This candidate leads (newly elected, or it proclaimed a new value: compare the
    /// creation revisions to tell).
    Leader(KeyValue),
    /// Nobody leads.
    NoLeader,
}

/// A stream of [`LeaderEvent`]s from [`Election::observe`]. An error that re-reading
/// cannot cure is yielded, and the stream ends.
///
/// **Drop** stops its background task and its watch; nothing blocks.
#[derive(Debug)]
pub struct Observer {
    rx: mpsc::Receiver<Result<LeaderEvent>>,
    _task: OwnedTask,
}

impl Stream for Observer {
    type Item = Result<LeaderEvent>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// The leader of a set of candidates: the oldest key.
fn current(candidates: &BTreeMap<(Revision, Bytes), KeyValue>) -> LeaderEvent {
    match candidates.values().next() {
        Some(kv) => LeaderEvent::Leader(kv.clone()),
        None => LeaderEvent::NoLeader,
    }
}

/// Whether two events describe the same state (same leader key, same modification).
fn same(a: &LeaderEvent, b: &LeaderEvent) -> bool {
    match (a, b) {
        (LeaderEvent::NoLeader, LeaderEvent::NoLeader) => true,
        (LeaderEvent::Leader(x), LeaderEvent::Leader(y)) => {
            x.key() == y.key() && x.mod_revision() == y.mod_revision()
        }
        _ => false,
    }
}

/// The pause before retry number `n`: up to 100 ms doubling up to 5 s.
fn retry_pause(n: u32) -> std::time::Duration {
    const PAUSE: etcdkit::Backoff = etcdkit::Backoff::new(
        std::time::Duration::from_millis(100),
        std::time::Duration::from_secs(5),
    );
    PAUSE.delay(n)
}

/// After a failed read or watch (`what`) of the observer: `true` to try again, once a
/// capped backoff has passed, when the failure is retryable (the cluster out of reach
/// for longer than a request's timeout); otherwise `false`, the error handed to the
/// observer's stream, which it ends.
async fn pause_to_retry(
    e: Error,
    what: &str,
    failures: &mut u32,
    tx: &mpsc::Sender<Result<LeaderEvent>>,
) -> bool {
    if !e.is_retryable() {
        let _ = tx.send(Err(e)).await;
        return false;
    }
    *failures = failures.saturating_add(1);
    tracing::debug!(error = %e, "{what} failed; retrying");
    tokio::time::sleep(retry_pause(*failures)).await;
    true
}

/// `event`, unless it is the state delivered last.
fn emit(event: LeaderEvent, last: &mut Option<LeaderEvent>) -> Option<LeaderEvent> {
    if last.as_ref().is_some_and(|l| same(l, &event)) {
        return None;
    }
    *last = Some(event.clone());
    Some(event)
}

async fn observe(client: Client, prefix: Bytes, tx: mpsc::Sender<Result<LeaderEvent>>) {
    let mut last: Option<LeaderEvent> = None;
    let mut failures: u32 = 0;
    loop {
        // Read every candidate at one revision, then follow changes from the next.
        let listed = match client.kv().get(prefix.clone()).prefix().await {
            Ok(r) => {
                failures = 0;
                r
            }
            Err(e) => {
                if !pause_to_retry(e, "reading an election", &mut failures, &tx).await {
                    return;
                }
                continue;
            }
        };
        let from = listed.header().revision().next();
        let mut candidates: BTreeMap<(Revision, Bytes), KeyValue> = listed
            .into_kvs()
            .into_iter()
            .map(|kv| ((kv.create_revision(), kv.key().clone()), kv))
            .collect();
        if let Some(event) = emit(current(&candidates), &mut last)
            && tx.send(Ok(event)).await.is_err()
        {
            return;
        }
        let mut watcher = match client
            .watch()
            .key(prefix.clone())
            .prefix()
            .start_revision(from)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                if !pause_to_retry(e, "watching an election", &mut failures, &tx).await {
                    return;
                }
                continue;
            }
        };
        while let Some(response) = watcher.next().await {
            let response = match response {
                Ok(r) => r,
                Err(e) if matches!(e.kind(), ErrorKind::Compacted | ErrorKind::WatchLagged) => {
                    break;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            };
            // One state per revision, so that no change is merged with the next.
            let events = response.events();
            let mut i = 0;
            while i < events.len() {
                let revision = events[i].revision();
                while let Some(event) = events.get(i).filter(|e| e.revision() == revision) {
                    let kv = event.kv();
                    match event.event_type() {
                        EventType::Put => {
                            candidates.insert((kv.create_revision(), kv.key().clone()), kv.clone());
                        }
                        EventType::Delete => {
                            candidates.retain(|(_, key), _| key != kv.key());
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if let Some(event) = emit(current(&candidates), &mut last)
                    && tx.send(Ok(event)).await.is_err()
                {
                    return;
                }
            }
        }
    }
}
