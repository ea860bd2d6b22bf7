//! The background releaser: fenced deletes of the keys of dropped guards and
//! interrupted enqueues, run by one task per session so that a `Drop` neither blocks
//! nor spawns.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use etcdkit::kv::{Compare, CompareOp, Delete};
use etcdkit::{Client, Error, ErrorKind, LeaseId, Result, Revision};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{mpsc, watch};

#[cfg(test)]
use super::faults;
use super::slot::Slot;
use crate::backoff::Backoff;
use crate::lease_keeper::KeeperState;

/// The first and the longest pause between two attempts of a background release.
const RELEASE_BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

pub(super) async fn fenced_delete(client: &Client, key: Bytes, rev: Revision) -> Result<bool> {
    let response = client
        .kv()
        .txn()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, rev)])
        .and_then([Delete::new(key)])
        .await?;
    Ok(response.succeeded())
}

/// A queue key that is released (by a fenced delete, in the background) when dropped,
/// unless disarmed.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(super) key: Bytes,
    pub(super) rev: Revision,
    pub(super) slot: Arc<Slot>,
    pub(super) releaser: Releaser,
    pub(super) armed: bool,
}

impl Pending {
    /// The key is gone (deleted by `unlock()`, `resign()` or a withdrawal, or found
    /// no longer ours): nothing to release.
    pub fn disarm(mut self) {
        self.armed = false;
        self.slot.gone(self.rev);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        self.slot.give_up(self.rev);
        let job = Job::Release {
            slot: self.slot.clone(),
            key: self.key.clone(),
            rev: self.rev,
        };
        if !self.releaser.send(job) {
            self.slot.release_failed(
                self.rev,
                Arc::new(Error::new(
                    ErrorKind::Cancelled,
                    "no background releaser is running; the key expires with the session's lease",
                )),
            );
        }
    }
}

/// Work for the background releaser.
pub(super) enum Job {
    /// Delete the given-up key of `rev` (fenced on it).
    Release {
        slot: Arc<Slot>,
        key: Bytes,
        rev: Revision,
    },
    /// Remove a key of `lease` never handed out, left by an enqueue that ended before
    /// it knew what its put did.
    Sweep {
        slot: Arc<Slot>,
        key: Bytes,
        lease: LeaseId,
    },
}

impl Job {
    /// What stays behind when no releaser can do the job.
    fn left_behind(&self) -> &'static str {
        match self {
            Job::Release { .. } => "the key expires with its lease",
            Job::Sweep { .. } => "a key of ours may stay in the queue",
        }
    }
}

/// Fenced deletes on behalf of dropped guards and interrupted enqueues, for one session:
/// a task started with the session's first enqueue and fed through a channel, so that a
/// `Drop` neither blocks nor spawns. The task ends once every handle is gone and the
/// queued work is done.
#[derive(Clone)]
pub(crate) struct Releaser {
    client: Client,
    state: watch::Receiver<KeeperState>,
    jobs: Arc<OnceLock<mpsc::UnboundedSender<Job>>>,
    #[cfg(test)]
    pub(super) faults: Arc<faults::Faults>,
}

impl fmt::Debug for Releaser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Releaser").finish_non_exhaustive()
    }
}

impl Releaser {
    pub(super) fn new(client: Client, state: watch::Receiver<KeeperState>) -> Releaser {
        Releaser {
            client,
            state,
            jobs: Arc::new(OnceLock::new()),
            #[cfg(test)]
            faults: Arc::default(),
        }
    }

    /// Starts the task, if not yet. Called from async code (within a runtime).
    pub(super) fn start(&self) {
        self.jobs.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(release_task(self.clone_worker(), rx));
            tx
        });
    }

    /// What the task needs: everything but the channel's sender (which would keep the
    /// task alive forever).
    fn clone_worker(&self) -> Worker {
        Worker {
            client: self.client.clone(),
            state: self.state.clone(),
            #[cfg(test)]
            faults: self.faults.clone(),
        }
    }

    /// Hands `job` to the task. Returns `false` when no task runs (never started, or
    /// its runtime is gone), after a warning that says what then stays behind: called
    /// from `Drop`, the caller can do nothing more about the key.
    pub(super) fn send(&self, job: Job) -> bool {
        let left_behind = job.left_behind();
        let sent = self.jobs.get().is_some_and(|tx| tx.send(job).is_ok());
        if !sent {
            tracing::warn!("no releaser running; {left_behind}");
        }
        sent
    }
}

#[derive(Clone)]
struct Worker {
    client: Client,
    state: watch::Receiver<KeeperState>,
    #[cfg(test)]
    faults: Arc<faults::Faults>,
}

/// Where the session stands, for the releaser.
enum Standing {
    Alive,
    /// Its lease is lost: every key under it is gone.
    Lost,
    /// Dropped: nothing tells any more when its lease ends.
    Dropped,
}

impl Worker {
    fn standing(&self) -> Standing {
        if self.state.has_changed().is_err() {
            return Standing::Dropped;
        }
        match &*self.state.borrow() {
            KeeperState::Lost { .. } => Standing::Lost,
            _ => Standing::Alive,
        }
    }

    /// Sleeps for `pause`, or less if the session's lease is lost meanwhile.
    async fn pause(&self, pause: Duration) {
        let mut state = self.state.clone();
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = state.wait_for(|s| matches!(s, KeeperState::Lost { .. })) => {}
        }
    }

    async fn run(self, job: Job) {
        match job {
            Job::Release { slot, key, rev } => self.release(&slot, key, rev).await,
            Job::Sweep { slot, key, lease } => self.sweep(&slot, key, lease).await,
        }
        #[cfg(test)]
        self.faults.count_release();
    }

    /// Deletes the given-up key of `rev`, retrying while the session lives.
    async fn release(&self, slot: &Slot, key: Bytes, rev: Revision) {
        let mut backoff = Backoff::new(RELEASE_BACKOFF.0, RELEASE_BACKOFF.1);
        loop {
            #[cfg(test)]
            self.faults.release_may_go().await;
            if !slot.is_releasing(rev) {
                // An enqueue of the session removed it first.
                return;
            }
            if let Standing::Lost = self.standing() {
                slot.gone(rev);
                return;
            }
            match fenced_delete(&self.client, key.clone(), rev).await {
                Ok(_) => {
                    slot.gone(rev);
                    return;
                }
                Err(e) if retryable(&e) && matches!(self.standing(), Standing::Alive) => {
                    // A fenced delete is safe to repeat.
                    tracing::debug!(error = %e, "releasing a lock key failed; retrying");
                    self.pause(backoff.next_pause()).await;
                }
                Err(e) => {
                    let e = match self.standing() {
                        Standing::Dropped => Error::new(
                            e.kind(),
                            format!(
                                "{e} (the session was dropped: the key expires with its lease)"
                            ),
                        ),
                        _ => e,
                    };
                    tracing::warn!(error = %e, "releasing a lock key failed for good");
                    slot.release_failed(rev, Arc::new(e));
                    return;
                }
            }
        }
    }

    /// Removes a key of `lease` never handed out, retrying while the session lives.
    /// Holds the slot's enqueue lock while it looks and deletes, so that what it finds
    /// newer than the slot's last handed-out key is certainly nobody's.
    async fn sweep(&self, slot: &Slot, key: Bytes, lease: LeaseId) {
        let mut backoff = Backoff::new(RELEASE_BACKOFF.0, RELEASE_BACKOFF.1);
        loop {
            if !matches!(self.standing(), Standing::Alive) {
                return;
            }
            let swept = {
                let _only_enqueue = slot.enqueue.lock().await;
                self.sweep_once(slot, &key, lease).await
            };
            match swept {
                Ok(()) => return,
                Err(e) if retryable(&e) => {
                    tracing::debug!(error = %e, "removing a stray lock key failed; retrying");
                    self.pause(backoff.next_pause()).await;
                }
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        "removing a stray lock key failed; it stays until the session's next \
                         lock on the name, or until its lease ends"
                    );
                    return;
                }
            }
        }
    }

    async fn sweep_once(&self, slot: &Slot, key: &Bytes, lease: LeaseId) -> Result<()> {
        let now = self.client.kv().get(key.clone()).await?;
        if let Some(kv) = now.kvs().first()
            && kv.lease() == Some(lease)
            && kv.create_revision() > slot.handed_out()
        {
            fenced_delete(&self.client, key.clone(), kv.create_revision()).await?;
        }
        Ok(())
    }
}

/// Whether the releaser tries again: its requests (a fenced delete, a read) are safe to
/// repeat, so an unknown outcome is retried too.
fn retryable(e: &Error) -> bool {
    e.is_retryable() || e.is_outcome_unknown()
}

async fn release_task(worker: Worker, mut jobs: mpsc::UnboundedReceiver<Job>) {
    // Jobs run side by side: one key that cannot be deleted yet holds up no other.
    let mut running = FuturesUnordered::new();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => running.push(worker.clone().run(job)),
                None => break,
            },
            Some(()) = running.next(), if !running.is_empty() => {}
        }
    }
    while running.next().await.is_some() {}
}
