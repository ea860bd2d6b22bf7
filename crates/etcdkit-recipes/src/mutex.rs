//! A distributed mutex on a [`Session`]: a fair queue by creation revision, fencing
//! tokens, and a signal when the lock is lost.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use etcdkit::kv::Put;
//! use etcdkit_recipes::mutex::Mutex;
//! use etcdkit_recipes::session::Session;
//!
//! let session = Session::new(&client).await?;
//! let mutex = Mutex::new(&session, "locks/report");
//! let guard = mutex.lock().timeout(Duration::from_secs(30)).await?;
//! // Write only while still holding the lock:
//! let written = client
//!     .kv()
//!     .txn()
//!     .when([guard.compare()])
//!     .and_then([Put::new("report/owner", "me")])
//!     .await?;
//! assert!(written.succeeded(), "the lock was lost");
//! if let Err(e) = guard.unlock().await {
//!     // Released in the background instead; wait for it if it matters.
//!     eprintln!("unlock failed ({e}); releasing in the background");
//!     mutex.released().await?;
//! }
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
//! - **[`lock`](Mutex::lock)** waits until the lock is held, or until its
//!   [`timeout`](Lock::timeout) passes ([`ErrorKind::Timeout`], after taking its key
//!   back out of the queue); **[`try_lock`](Mutex::try_lock)** fails at once with
//!   [`ErrorKind::Locked`] when someone holds it or waits before us, after taking its
//!   key back out of the queue.
//!   One session takes one place per lock name (whichever [`Mutex`] value of the
//!   session asks): locking a name the session already holds or waits for fails with
//!   [`ErrorKind::AlreadyExists`].
//! - **Session lost while waiting.** The wait ends with [`ErrorKind::SessionLost`] when
//!   the session's lease is lost or the session dropped, or when the waiter's own key is
//!   deleted (its lease revoked from outside, which the session learns only at its next
//!   renewal).
//! - **Fencing.** A [`MutexGuard`] carries a fencing token, its key's creation revision:
//!   it grows with every grant, also from one grant to the next of the same session.
//!   [`MutexGuard::compare`] is a transaction compare that holds only while the guard's
//!   key still exists as created: add it to your own transactions to write only while
//!   you hold the lock. Anything that makes the lock lost makes the compare fail.
//! - **Lost.** [`MutexGuard::lost`] finishes when the lock is lost: the session's lease
//!   lost, the session dropped, or the key deleted by someone else. Nothing tells the
//!   holder sooner than etcd does; fence writes with the compare rather than relying on
//!   `lost()` alone.
//! - **Unlock** is fenced: it deletes the key only if it is still the guard's own (same
//!   creation revision), so it never deletes a newer holder's key. A failover while
//!   unlocking is retried by the client where safe. When unlocking fails (the cluster
//!   out of reach, or the connection broke so that nobody knows whether the delete
//!   applied), the key is released in the background instead, like a dropped guard's;
//!   [`Mutex::released`] waits for that and [`Mutex::release_state`] shows it.
//! - **Drop.** A dropped guard, or a dropped `lock()` future that had put its key,
//!   releases the key promptly in the background: the same fenced delete, done by the
//!   session's releaser task (started with its first lock, fed through a channel), and
//!   retried with backoff while the session lives. Drop never blocks and never spawns.
//!   A release that fails for good (permission denied, or the session dropped
//!   meanwhile) leaves the key to expire with the session's lease, and
//!   [`Mutex::release_state`] says so; the session's next `lock()` of the name removes
//!   it first. A `lock()` dropped (or timed out) before it knew whether its put applied
//!   has the releaser remove that key too, if it exists.
//! - **A key being released is never handed out again.** Each grant gets a key newer
//!   than every key the session handed out before on that name: a `lock()` that finds
//!   an earlier key of the session still there (its release pending, or failed) deletes
//!   it first and puts a new one, and after a put of unknown outcome it adopts the key
//!   it finds only if that key was never handed out. So a background release, fenced on
//!   an older key, can never delete the key of a live guard, and an old guard's
//!   compare never holds for a new grant.
//! - **Failover.** The session survives the loss of a member as long as renewals reach
//!   the cluster within its TTL; so does the lock. Requests of the queue fail over like
//!   any other request of the client; a put whose outcome was unknown is checked and its
//!   key adopted if it was applied.
//! - **One session per lease.** The queue's bookkeeping lives in the [`Session`] value:
//!   a lease resumed ([`SessionBuilder::resume`](crate::session::SessionBuilder::resume))
//!   while another live `Session` still uses it is not supported. A resumed session
//!   takes over the keys its lease holds: the first lock of a name adopts (or replaces)
//!   the key the previous holder of the lease left there.

use std::fmt;
use std::future::IntoFuture;
use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Error, ErrorKind, Result};
use futures_util::future::BoxFuture;
use tokio::sync::watch;

use crate::queue::{Held, Queue};
use crate::session::Session;

pub use crate::queue::{LostCause, ReleaseState};

/// A distributed mutex named by a key prefix, held under a session. Cheap to clone
/// (clones, and every other `Mutex` of the same name on the same session, share the
/// session's one place in the queue: hold one guard at a time per session and name).
///
/// **Drop** does nothing to a held guard or to a release under way: guards live on
/// their own, and background releases belong to the session.
#[derive(Clone)]
pub struct Mutex {
    queue: Queue,
}

impl fmt::Debug for Mutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.queue.fmt_as("Mutex", f)
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

    /// Waits for the lock; await the returned [`Lock`], after setting a
    /// [`timeout`](Lock::timeout) if you want one. See the [module docs](self) for what
    /// ends the wait.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SessionLost`] when the session ends first (or the waiter's key is
    /// deleted), [`ErrorKind::Timeout`] when the timeout passes first,
    /// [`ErrorKind::AlreadyExists`] when this session already holds or waits for the
    /// lock, and the client's errors when etcd cannot be reached. A wait that fails
    /// takes its key back out of the queue (in the background if that fails too).
    pub fn lock(&self) -> Lock<'_> {
        Lock {
            mutex: self,
            timeout: None,
        }
    }

    /// Takes the lock if nobody holds it or waits for it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Locked`] when someone holds it or waits before us (the key is taken
    /// back out of the queue first), and otherwise those of [`lock`](Mutex::lock).
    pub async fn try_lock(&self) -> Result<MutexGuard> {
        self.acquire(true, None).await
    }

    /// The background releases of this session's key on this name (after a dropped
    /// guard, a dropped or timed-out `lock()`, or a failed `unlock()`), as a watch
    /// receiver that sees every change.
    pub fn release_state(&self) -> watch::Receiver<ReleaseState> {
        self.queue.release_state()
    }

    /// Waits until no background release of this session's key on this name is under
    /// way. Returns at once when none is.
    ///
    /// # Errors
    ///
    /// The error of a release that failed for good ([`ReleaseState::Failed`]): the key
    /// stays until the session's lease ends or its next `lock()` of the name. While the
    /// cluster is out of reach a release keeps trying (as long as the session lives), so
    /// bound the wait with a timeout if that matters.
    pub async fn released(&self) -> Result<()> {
        ReleaseState::settled(self.queue.release_state()).await
    }

    async fn acquire(&self, try_only: bool, timeout: Option<Duration>) -> Result<MutexGuard> {
        let held = self
            .queue
            .acquire(Bytes::new(), try_only, timeout, "lock", |holder| {
                Error::new(
                    ErrorKind::Locked,
                    format!(
                        "the lock is held: {} is before us in the queue",
                        String::from_utf8_lossy(holder.key())
                    ),
                )
            })
            .await?;
        Ok(MutexGuard { held })
    }
}

/// A wait for the lock, from [`Mutex::lock`]: await it.
///
/// **Drop** (of the future, before it finished) takes the key back out of the queue in
/// the background.
#[derive(Debug)]
#[must_use = "a lock request does nothing until awaited"]
pub struct Lock<'a> {
    mutex: &'a Mutex,
    timeout: Option<Duration>,
}

impl Lock<'_> {
    /// Gives up after `timeout` in all (putting the key and waiting in the queue), with
    /// [`ErrorKind::Timeout`], after taking the key back out of the queue. No timeout
    /// unless set: the wait lasts as long as the session.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<'a> IntoFuture for Lock<'a> {
    type Output = Result<MutexGuard>;
    type IntoFuture = BoxFuture<'a, Result<MutexGuard>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.mutex.acquire(false, self.timeout))
    }
}

/// A held lock. See the [module docs](self).
///
/// **Drop** releases the lock in the background, promptly and without blocking;
/// [`unlock`](MutexGuard::unlock) releases it and says how that went.
pub struct MutexGuard {
    held: Held,
}

held_key_guard!(MutexGuard, revision: "fencing_token",
    /// The lock's key.
);

impl MutexGuard {
    held_lock_accessors!();

    /// Releases the lock: deletes the key if it is still this guard's. Returns whether
    /// it was (`false`: the lock had already been lost, and nothing was deleted).
    ///
    /// # Errors
    ///
    /// The client's error when the delete failed, definitely or with an unknown outcome
    /// (the connection broke while it was under way). The lock may then still be held:
    /// the key is handed to the session's background releaser, which retries the fenced
    /// delete while the session lives. [`Mutex::released`] waits until it is done and
    /// [`Mutex::release_state`] shows it; the session's next `lock()` of the name never
    /// gets this key back (it removes it first).
    pub async fn unlock(mut self) -> Result<bool> {
        // On an error the armed pending release goes to the background releaser as
        // `self` drops, before the caller sees the error.
        self.held.give_up().await
    }
}

#[cfg(test)]
mod tests {
    use etcdkit::{Client, ErrorKind};
    use etcdkit_testkit::EtcdServer;

    use super::{Mutex, ReleaseState};
    use crate::queue::Step;
    use crate::session::Session;
    use crate::test_util::{bounded, session, start_etcd};

    /// A server, a client of it, and two sessions on that client: ours, whose mutex a
    /// test drives through faults, and theirs, which checks from outside who holds.
    async fn two_sessions() -> (EtcdServer, Client, Session, Session) {
        let (etcd, client) = start_etcd().await;
        let ours = session(&client).await;
        let theirs = session(&client).await;
        (etcd, client, ours, theirs)
    }

    async fn holds(client: &Client, compare: etcdkit::kv::Compare) -> bool {
        bounded(client.kv().txn().when([compare]))
            .await
            .unwrap()
            .succeeded()
    }

    /// The sequence a randomized fault run found: `unlock()`'s delete fails with an
    /// unknown outcome (it did not apply), so the key goes to the background releaser;
    /// the session's next `lock()` also ends its put with an unknown outcome and finds
    /// the key still there. The releaser is held back until that `lock()` returned, then
    /// let go. The new guard must hold a key of its own that the release cannot delete.
    #[tokio::test]
    async fn a_lock_after_an_unlock_of_unknown_outcome_never_gets_the_key_being_released() {
        let (_etcd, client, ours, theirs) = two_sessions().await;
        let mutex = Mutex::new(&ours, "mx-unknown/lock");
        let faults = mutex.queue.faults();

        let first = bounded(mutex.lock()).await.unwrap();
        let first_token = first.fencing_token();
        let first_compare = first.compare();
        faults.hold_releases(true);
        faults.fail_next(Step::Unlock, 1);
        let err = bounded(first.unlock()).await.unwrap_err();
        assert!(err.is_outcome_unknown(), "{err}");
        // The delete did not apply: the key is still there, waiting for the releaser,
        // and the mutex says so.
        assert!(holds(&client, first_compare.clone()).await);
        assert!(matches!(
            *mutex.release_state().borrow(),
            ReleaseState::Releasing { fencing_token } if fencing_token == first_token
        ));

        faults.fail_next(Step::Enqueue, 1);
        let second = bounded(mutex.lock()).await.unwrap();
        // The lock removed the old key itself: nothing is left to release.
        bounded(mutex.released()).await.unwrap();
        faults.hold_releases(false);
        bounded(faults.releases_done(1)).await;

        // Only one live guard: the new one holds, and nobody else gets the lock.
        assert!(
            holds(&client, second.compare()).await,
            "the background release deleted the key of a live guard"
        );
        let err = bounded(Mutex::new(&theirs, "mx-unknown/lock").try_lock())
            .await
            .map(|_| ())
            .expect_err("another session acquired the lock while our guard was live");
        assert_eq!(err.kind(), ErrorKind::Locked, "{err}");
        // The new guard has a fencing token of its own: the old one fences nothing.
        assert!(second.fencing_token() > first_token);
        assert!(!holds(&client, first_compare).await);
        assert!(bounded(second.unlock()).await.unwrap());
    }

    /// Two `Mutex` values of one name on one session share the session's one place:
    /// the second one's lock, its put of unknown outcome, finds the first one's key and
    /// must not adopt it (it is held), whether or not its put was sent.
    #[tokio::test]
    async fn a_second_mutex_of_the_session_never_adopts_the_key_the_first_one_holds() {
        let (_etcd, client) = start_etcd().await;
        let session = session(&client).await;
        let one = Mutex::new(&session, "mx-twice/lock");
        let two = Mutex::new(&session, "mx-twice/lock");
        let held = bounded(one.lock()).await.unwrap();
        for step in [Step::Enqueue, Step::EnqueueSent] {
            two.queue.faults().fail_next(step, 1);
            let err = bounded(two.lock()).await.map(|_| ()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{step:?}: {err}");
        }
        assert!(holds(&client, held.compare()).await);
        assert!(bounded(held.unlock()).await.unwrap());
        let again = bounded(two.try_lock()).await.unwrap();
        assert!(bounded(again.unlock()).await.unwrap());
    }

    /// A lock whose put applied while its outcome stayed unknown, and that could not
    /// look afterwards, returns the error; the key it left must not stay at the head of
    /// the queue (where it would lock everyone else out for as long as the session
    /// lives): the session's releaser removes it.
    #[tokio::test]
    async fn a_lock_that_never_learned_what_its_put_did_leaves_no_key_in_the_queue() {
        let (_etcd, client, ours, theirs) = two_sessions().await;
        let mutex = Mutex::new(&ours, "mx-stray/lock");
        let faults = mutex.queue.faults();
        faults.fail_next(Step::EnqueueSent, 1);
        faults.fail_next(Step::Look, 1);
        let err = bounded(mutex.lock()).await.map(|_| ()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        bounded(faults.releases_done(1)).await;
        let left = bounded(client.kv().get(mutex.key().clone())).await.unwrap();
        assert!(left.kvs().is_empty(), "the stray key is still in the queue");
        let other = bounded(Mutex::new(&theirs, "mx-stray/lock").try_lock())
            .await
            .unwrap();
        assert!(bounded(other.unlock()).await.unwrap());
        let guard = bounded(mutex.try_lock()).await.unwrap();
        assert!(bounded(guard.unlock()).await.unwrap());
    }
}
