//! A distributed mutex on a [`Session`]: a fair queue by creation revision, fencing
//! tokens, and a signal when the lock is lost.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use etcdkit::kv::Put;
//! use etcdkit_recipes::mutex::Mutex;
//! use etcdkit_recipes::session::Session;
//!
//! let session = Session::new(&client).await?;
//! let mutex = Mutex::new(&session, "locks/report");
//! let guard = mutex.lock().await?;
//! // Write only while still holding the lock:
//! let written = client
//!     .kv()
//!     .txn()
//!     .when([guard.compare()])
//!     .and_then([Put::new("report/owner", "me")])
//!     .await?;
//! assert!(written.succeeded(), "the lock was lost");
//! guard.unlock().await?;
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Queue.** Locking puts the key `NAME/LEASE` (the session's lease id in
//!   hexadecimal, the layout etcd's own lock uses, so etcdkit and etcdctl lock each
//!   other out) under the session's lease. Keys are served in creation-revision order:
//!   the lock belongs to the oldest key, and each waiter watches only the deletion of the
//!   key just before its own, so a release wakes one waiter, not all of them. When that
//!   key goes, the waiter looks again (the one before it may have been a waiter that
//!   gave up).
//! - **[`lock`](Mutex::lock)** waits until the lock is held; **[`try_lock`](Mutex::try_lock)**
//!   fails at once with [`ErrorKind::Locked`] when someone holds it or waits before us,
//!   after taking its key back out of the queue.
//!   One session takes one place per lock name: locking a name the session already holds
//!   or waits for fails with [`ErrorKind::AlreadyExists`].
//! - **Session lost while waiting.** The wait ends with [`ErrorKind::SessionLost`] when
//!   the session's lease is lost or the session dropped, or when the waiter's own key is
//!   deleted (its lease revoked from outside, which the session learns only at its next
//!   renewal).
//! - **Fencing.** A [`MutexGuard`] carries a fencing token, its key's creation revision:
//!   it grows with every grant. [`MutexGuard::compare`] is a transaction compare that
//!   holds only while the guard's key still exists as created: add it to your own
//!   transactions to write only while you hold the lock. Anything that makes the lock
//!   lost makes the compare fail.
//! - **Lost.** [`MutexGuard::lost`] finishes when the lock is lost: the session's lease
//!   lost, the session dropped, or the key deleted by someone else. Nothing tells the
//!   holder sooner than etcd does; fence writes with the compare rather than relying on
//!   `lost()` alone.
//! - **Unlock** is fenced: it deletes the key only if it is still the guard's own (same
//!   creation revision), so it never deletes a newer holder's key. A failover while
//!   unlocking is retried by the client where safe; an error leaves the key to expire
//!   with the session's lease.
//! - **Drop.** A dropped guard, or a dropped `lock()` future that had put its key,
//!   releases the key promptly in the background (the same fenced delete, done by a task
//!   started with the mutex's first lock and fed through a channel). Drop never blocks
//!   and never spawns. If the release fails, the key expires with the session's lease.
//! - **Failover.** The session survives the loss of a member as long as renewals reach
//!   the cluster within its TTL; so does the lock. Requests of the queue fail over like
//!   any other request of the client; a put whose outcome was unknown is checked and its
//!   key adopted if it was applied.

use std::fmt;

use bytes::Bytes;
use etcdkit::kv::{Compare, CompareOp};
use etcdkit::{Error, ErrorKind, Result, Revision};

use crate::queue::{Pending, Queue};
use crate::session::Session;

pub use crate::queue::LostCause;

/// A distributed mutex named by a key prefix, held under a session. Cheap to clone
/// (clones share the session's place in the queue: hold one guard at a time per session
/// and name).
///
/// **Drop** does nothing to a held guard: guards live on their own.
#[derive(Clone)]
pub struct Mutex {
    queue: Queue,
}

impl fmt::Debug for Mutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("key", &String::from_utf8_lossy(&self.queue.key))
            .finish()
    }
}

impl Mutex {
    /// The mutex `name` (its keys are `name/LEASE`), held under `session`.
    pub fn new(session: &Session, name: impl Into<Bytes>) -> Mutex {
        let name: Bytes = name.into();
        Mutex {
            queue: Queue::new(session, &name),
        }
    }

    /// The key this session holds the lock with (`NAME/LEASE`).
    pub fn key(&self) -> &Bytes {
        &self.queue.key
    }

    /// Waits for the lock. See the [module docs](self) for what ends the wait.
    pub async fn lock(&self) -> Result<MutexGuard> {
        self.acquire(false).await
    }

    /// Takes the lock if nobody holds it or waits for it; fails with
    /// [`ErrorKind::Locked`] otherwise.
    pub async fn try_lock(&self) -> Result<MutexGuard> {
        self.acquire(true).await
    }

    async fn acquire(&self, try_only: bool) -> Result<MutexGuard> {
        const WHAT: &str = "lock";
        let (rev, pending) = self.queue.enqueue(Bytes::new(), WHAT).await?;
        let waited = self
            .queue
            .wait_first(rev, try_only, WHAT, |holder| {
                Error::new(
                    ErrorKind::Locked,
                    format!(
                        "the lock is held: {} is before us in the queue",
                        String::from_utf8_lossy(holder.key())
                    ),
                )
            })
            .await;
        let seen_at = match waited {
            Ok(seen_at) => seen_at,
            Err(e) => {
                self.queue.withdraw(pending).await;
                return Err(e);
            }
        };
        Ok(MutexGuard {
            queue: self.queue.clone(),
            rev,
            seen_at,
            pending: Some(pending),
        })
    }
}

/// A held lock. See the [module docs](self).
///
/// **Drop** releases the lock in the background, promptly and without blocking;
/// [`unlock`](MutexGuard::unlock) releases it and says how that went.
pub struct MutexGuard {
    queue: Queue,
    rev: Revision,
    seen_at: Revision,
    pending: Option<Pending>,
}

impl fmt::Debug for MutexGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutexGuard")
            .field("key", &String::from_utf8_lossy(&self.queue.key))
            .field("fencing_token", &self.rev)
            .finish()
    }
}

impl MutexGuard {
    /// The lock's key.
    pub fn key(&self) -> &Bytes {
        &self.queue.key
    }

    /// The fencing token: the key's creation revision. Every grant of the lock has a
    /// larger one than the grants before it.
    pub fn fencing_token(&self) -> Revision {
        self.rev
    }

    /// The revision at which the lock was seen to be held.
    pub fn acquired_at(&self) -> Revision {
        self.seen_at
    }

    /// A compare that holds only while this guard still holds the lock: the key exists
    /// with the guard's creation revision. Add it to your own transactions.
    pub fn compare(&self) -> Compare {
        Compare::create_revision(self.queue.key.clone(), CompareOp::Equal, self.rev)
    }

    /// Finishes when the lock is lost, and says why.
    pub async fn lost(&self) -> LostCause {
        self.queue.lost(self.rev, self.seen_at).await
    }

    /// Releases the lock: deletes the key if it is still this guard's. Returns whether
    /// it was (`false`: the lock had already been lost, and nothing was deleted).
    pub async fn unlock(mut self) -> Result<bool> {
        let result = self.queue.fenced_delete(self.rev).await;
        if result.is_ok()
            && let Some(pending) = self.pending.take()
        {
            pending.disarm();
        }
        // On an error the armed guard retries in the background as it drops.
        result
    }
}
