//! A distributed read/write mutex on a [`Session`]: readers share it, a writer holds it
//! alone, served fairly in creation-revision order, with fencing like the
//! [mutex](crate::mutex).
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use etcdkit::kv::Put;
//! use etcdkit_recipes::rwmutex::RwMutex;
//! use etcdkit_recipes::session::Session;
//!
//! let session = Session::new(&client).await?;
//! let lock = RwMutex::new(&session, "locks/config");
//! let guard = lock.write_lock().timeout(Duration::from_secs(30)).await?;
//! let written = client
//!     .kv()
//!     .txn()
//!     .when([guard.compare()]) // only while still holding the lock
//!     .and_then([Put::new("config/v", "2")])
//!     .await?;
//! assert!(written.succeeded(), "the lock was lost");
//! guard.unlock().await?;
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Keys.** A reader puts `NAME/read/LEASE`, a writer `NAME/write/LEASE` (the
//!   session's lease id in hexadecimal), under the session's lease. A reader holds the
//!   lock once no writer's key older than its own (by creation revision) is left; a
//!   writer once no key at all older than its own is left. So readers share, a writer
//!   excludes everyone, and a waiting writer holds back the readers that come after it
//!   (no writer starves). Each waiter watches the deletion of the newest key in its way,
//!   from the revision after its read, then looks again: nothing polls, nothing is
//!   missed.
//! - **One place per session.** A session holds at most one read and one write key per
//!   name: a second `read_lock()` (or `write_lock()`) of the name on a session that
//!   holds or waits for one fails with [`ErrorKind::AlreadyExists`]. A session that
//!   holds the read lock and asks for the write lock waits for itself: that ends only
//!   with the timeout.
//! - **Timeout and drop.** A wait that times out ([`ErrorKind::Timeout`]) or is refused
//!   ([`try_read_lock`](RwMutex::try_read_lock) / [`try_write_lock`](RwMutex::try_write_lock):
//!   [`ErrorKind::Locked`]) takes its key back out. A dropped wait or guard has the
//!   session's background releaser delete its key promptly (the mutex's releaser, with
//!   the same fenced delete and retries).
//! - **Session lost.** A wait ends with [`ErrorKind::SessionLost`] when the session's
//!   lease is lost or the session dropped, or when the waiter's own key is deleted (its
//!   lease revoked from outside). A holder whose lease ends (expired, revoked) frees the
//!   lock: its key goes with the lease, and the next waiters get it.
//! - **Fencing.** A [`RwGuard`] carries its key's creation revision as its fencing
//!   token, and [`RwGuard::compare`] holds only while its key still exists as created:
//!   add it to your writes. [`RwGuard::lost`] finishes when the lock is lost.
//! - **Unlock** deletes the key only if it is still the guard's own. When it fails, the
//!   key is released in the background, as a dropped guard's.
//! - **Failover.** As the [mutex](crate::mutex)'s: the lock survives the loss of a
//!   member while renewals reach the cluster within the session's TTL.
//!
//! [`ErrorKind::AlreadyExists`]: etcdkit::ErrorKind::AlreadyExists
//! [`ErrorKind::Timeout`]: etcdkit::ErrorKind::Timeout
//! [`ErrorKind::Locked`]: etcdkit::ErrorKind::Locked
//! [`ErrorKind::SessionLost`]: etcdkit::ErrorKind::SessionLost

use std::fmt;

use bytes::Bytes;
use etcdkit::{Error, ErrorKind, Result};

pub use crate::bounded::Bounded;
use crate::bounded::Deadline;
use crate::keys::join;
pub use crate::queue::LostCause;
use crate::queue::{Held, Queue};
use crate::session::Session;

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Shared with other readers.
    Read,
    /// Exclusive.
    Write,
}

/// A read/write mutex named by a key prefix, held under a session. Cheap to clone.
///
/// **Drop** does nothing to held guards or to releases under way.
#[derive(Clone)]
pub struct RwMutex {
    read: Queue,
    write: Queue,
    /// `NAME/`: every key, the ones in a writer's way.
    all: Bytes,
    /// `NAME/write/`: the writers' keys, the ones in a reader's way.
    writers: Bytes,
}

impl fmt::Debug for RwMutex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwMutex")
            .field("prefix", &String::from_utf8_lossy(&self.all))
            .finish()
    }
}

impl RwMutex {
    /// The read/write mutex `name` (its keys are `name/read/LEASE` and
    /// `name/write/LEASE`), held under `session`.
    pub fn new(session: &Session, name: impl Into<Bytes>) -> RwMutex {
        let name: Bytes = name.into();
        RwMutex {
            read: Queue::new(session, &join(&name, b"/read")),
            write: Queue::new(session, &join(&name, b"/write")),
            all: join(&name, b"/"),
            writers: join(&name, b"/write/"),
        }
    }

    /// Waits for the lock shared with other readers. Await the returned [`Bounded`],
    /// after setting a timeout if you want one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::SessionLost`] when the session ends first (or the waiter's key is
    /// deleted), [`ErrorKind::Timeout`] when the timeout passes first,
    /// [`ErrorKind::AlreadyExists`] when this session already holds or waits for the
    /// read lock, and the client's errors. A wait that fails takes its key back out.
    pub fn read_lock(&self) -> Bounded<'_, RwGuard> {
        Bounded::new("read lock", move |deadline| {
            Box::pin(self.acquire(Mode::Read, false, deadline))
        })
    }

    /// Waits for the lock alone. Await the returned [`Bounded`], after setting a
    /// timeout if you want one.
    ///
    /// # Errors
    ///
    /// Those of [`read_lock`](RwMutex::read_lock), for the write lock.
    pub fn write_lock(&self) -> Bounded<'_, RwGuard> {
        Bounded::new("write lock", move |deadline| {
            Box::pin(self.acquire(Mode::Write, false, deadline))
        })
    }

    /// Takes the read lock if no writer holds it or waits before us.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Locked`] when a writer holds it or waits (the key is taken back out
    /// first), and otherwise those of [`read_lock`](RwMutex::read_lock).
    pub async fn try_read_lock(&self) -> Result<RwGuard> {
        self.acquire(Mode::Read, true, Deadline::NONE).await
    }

    /// Takes the write lock if nobody holds it or waits for it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Locked`] when someone holds it or waits before us (the key is taken
    /// back out first), and otherwise those of [`read_lock`](RwMutex::read_lock).
    pub async fn try_write_lock(&self) -> Result<RwGuard> {
        self.acquire(Mode::Write, true, Deadline::NONE).await
    }

    async fn acquire(&self, mode: Mode, try_only: bool, deadline: Deadline) -> Result<RwGuard> {
        let (queue, in_the_way, what) = match mode {
            Mode::Read => (&self.read, &self.writers, "read lock"),
            Mode::Write => (&self.write, &self.all, "write lock"),
        };
        // Cut short before it knew what its put did, the enqueue has the session's
        // releaser remove any key it may have left.
        let (rev, pending) = deadline.bound(queue.enqueue(Bytes::new(), what)).await?;
        let wait = queue.wait_none_older(in_the_way, rev, try_only, what, |blocker| {
            Error::new(
                ErrorKind::Locked,
                format!(
                    "{what}: {} is before us",
                    String::from_utf8_lossy(blocker.key())
                ),
            )
        });
        let waited = deadline.bound(wait).await;
        let held = queue.hold(rev, pending, waited).await?;
        Ok(RwGuard { held, mode })
    }
}

/// A held read or write lock. See the [module docs](self).
///
/// **Drop** releases the lock in the background, promptly and without blocking;
/// [`unlock`](RwGuard::unlock) releases it and says how that went.
pub struct RwGuard {
    held: Held,
    mode: Mode,
}

held_key_guard!(RwGuard, debug_name: debug_name, revision: "fencing_token",
    /// The lock's key (`NAME/read/LEASE` or `NAME/write/LEASE`).
);

impl RwGuard {
    /// Whether this is a read or a write lock.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    held_lock_accessors!();

    /// Releases the lock: deletes the key if it is still this guard's. Returns whether
    /// it was (`false`: the lock had already been lost).
    ///
    /// # Errors
    ///
    /// The client's error when the delete failed or its outcome is unknown; the key is
    /// then released by the session's background releaser.
    pub async fn unlock(mut self) -> Result<bool> {
        self.held.give_up().await
    }

    /// The name `Debug` prints: the type's and the mode.
    fn debug_name(&self) -> &'static str {
        match self.mode {
            Mode::Read => "RwGuard(read)",
            Mode::Write => "RwGuard(write)",
        }
    }
}
