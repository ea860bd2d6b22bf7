//! A double barrier on a [`Session`]: `count` participants enter together and leave
//! together.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use etcdkit_recipes::double_barrier::DoubleBarrier;
//! use etcdkit_recipes::session::Session;
//!
//! let session = Session::new(&client).await?;
//! let barrier = DoubleBarrier::new(&session, "barriers/step-3", 3);
//! let entered = barrier.enter().timeout(Duration::from_secs(60)).await?;
//! // ... all three participants compute here ...
//! entered.leave().timeout(Duration::from_secs(60)).await?;
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Keys.** A participant puts `NAME/waiters/LEASE` (the session's lease id in
//!   hexadecimal) under the session's lease, so a participant that dies (its lease
//!   expires or is revoked) drops out by itself. The participant whose key makes the
//!   count reach `count` puts `NAME/ready` (under its own lease): that put lets everyone
//!   in.
//! - **[`enter`](DoubleBarrier::enter)** returns once `count` participants have entered:
//!   it reads the number of waiters and the ready key in one transaction, and while it
//!   is short, watches the ready key from the revision after that read (nothing polls,
//!   nothing is missed). A ready key put before our own key (a previous round's) does
//!   not count. Entering a barrier that already has more than `count` participants fails
//!   with [`ErrorKind::Locked`], after taking our key back out; so does an `enter` with
//!   `count` 0 ([`ErrorKind::InvalidArgument`]).
//! - **[`leave`](Entered::leave)** deletes our key, then returns once no participant's
//!   key is left (each left, or dropped out when its lease ended), watching the deletes
//!   under the prefix from the revision after each read. The last ones out delete this
//!   round's ready key (only if it is still this round's). Start a new round only after
//!   `leave` returned: a participant of the next round that enters early keeps the
//!   leavers of this one waiting for it.
//! - **Timeout and drop.** An `enter` that times out ([`ErrorKind::Timeout`]) or is
//!   dropped takes its key back out (now, or through the session's background releaser,
//!   like the mutex's). A dropped [`Entered`] leaves without waiting: its key is deleted
//!   in the background. A `leave` that times out has already deleted our key.
//! - **Session lost.** An `enter` ends with [`ErrorKind::SessionLost`] when the session's
//!   lease is lost, the session dropped, or our key deleted from outside; the
//!   participant has then dropped out.
//! - **The ready key's lease.** The ready key lives under the lease of the participant
//!   that put it, so a barrier whose participants all died leaves nothing behind. The
//!   flip side: when that participant's lease ends before a slow participant of the same
//!   round has read the barrier even once, that one no longer sees the round complete
//!   and waits for its timeout.
//! - **One place per session.** A session enters a barrier name once at a time: a
//!   second `enter` while the first's key is there fails with
//!   [`ErrorKind::AlreadyExists`].
//!
//! [`ErrorKind::Locked`]: etcdkit::ErrorKind::Locked
//! [`ErrorKind::InvalidArgument`]: etcdkit::ErrorKind::InvalidArgument
//! [`ErrorKind::Timeout`]: etcdkit::ErrorKind::Timeout
//! [`ErrorKind::SessionLost`]: etcdkit::ErrorKind::SessionLost
//! [`ErrorKind::AlreadyExists`]: etcdkit::ErrorKind::AlreadyExists

use std::fmt;

use bytes::Bytes;
use etcdkit::kv::{Compare, CompareOp, Delete, Get, TxnOpResponse};
use etcdkit::watch::EventType;
use etcdkit::{Client, Error, ErrorKind, Result, Revision};

pub use crate::bounded::Bounded;
use crate::bounded::Deadline;
use crate::keys::{count_under, join};
pub use crate::queue::LostCause;
use crate::queue::{Held, Queue};
use crate::session::Session;
use crate::watch_for::{Range, next_event};

const ENTER: &str = "double barrier enter";

/// A double barrier of `count` participants, named by a key prefix, entered under a
/// session. Cheap to clone.
#[derive(Clone)]
pub struct DoubleBarrier {
    /// Our place: the key `NAME/waiters/LEASE`.
    queue: Queue,
    /// `NAME/waiters/`.
    waiters: Bytes,
    /// `NAME/ready`.
    ready: Bytes,
    count: usize,
}

impl fmt::Debug for DoubleBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DoubleBarrier")
            .field("key", &String::from_utf8_lossy(&self.queue.key))
            .field("count", &self.count)
            .finish()
    }
}

impl DoubleBarrier {
    /// The double barrier `name` of `count` participants (its keys are
    /// `name/waiters/LEASE` and `name/ready`), entered under `session`.
    pub fn new(session: &Session, name: impl Into<Bytes>, count: usize) -> DoubleBarrier {
        let name: Bytes = name.into();
        DoubleBarrier {
            queue: Queue::new(session, &join(&name, b"/waiters")),
            waiters: join(&name, b"/waiters/"),
            ready: join(&name, b"/ready"),
            count,
        }
    }

    /// The key this session enters with (`NAME/waiters/LEASE`).
    pub fn key(&self) -> &Bytes {
        &self.queue.key
    }

    /// Enters, and waits until `count` participants have. Await the returned
    /// [`Bounded`], after setting a timeout if you want one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Locked`] when more than `count` participants are in,
    /// [`ErrorKind::InvalidArgument`] when `count` is 0, [`ErrorKind::SessionLost`]
    /// when the session ends first, [`ErrorKind::Timeout`] when the timeout passes
    /// first, [`ErrorKind::AlreadyExists`] when this session is already in, and the
    /// client's errors. A failed `enter` takes its key back out.
    pub fn enter(&self) -> Bounded<'_, Entered> {
        Bounded::new(ENTER, move |deadline| Box::pin(self.enter_by(deadline)))
    }

    async fn enter_by(&self, deadline: Deadline) -> Result<Entered> {
        if self.count == 0 {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "double barrier enter: the count of participants is 0",
            ));
        }
        // Cut short before it knew what its put did, the enqueue has the session's
        // releaser remove any key it may have left.
        let (rev, pending) = deadline
            .bound(self.queue.enqueue(Bytes::new(), ENTER))
            .await?;
        let waited = deadline.bound(self.wait_ready(rev)).await;
        let ready_rev = waited.as_ref().map(|w| w.1).unwrap_or_default();
        let held = self.queue.hold(rev, pending, waited.map(|w| w.0)).await?;
        Ok(Entered {
            held,
            client: self.queue.client.clone(),
            waiters: self.waiters.clone(),
            ready: self.ready.clone(),
            ready_rev,
        })
    }

    /// Waits until the round of our key (created at `rev`) is complete. Returns the
    /// revision at which it was seen complete and the ready key's mod revision.
    async fn wait_ready(&self, rev: Revision) -> Result<(Revision, Revision)> {
        let client = &self.queue.client;
        let count = u64::try_from(self.count).unwrap_or(u64::MAX);
        loop {
            if let Some(cause) = self.queue.session_ended() {
                return Err(cause.into_error(ENTER));
            }
            let response = client
                .kv()
                .txn()
                .when([self.queue.key_created_at(rev)])
                .and_then([
                    Get::new(self.waiters.clone()).prefix().count_only(),
                    Get::new(self.ready.clone()),
                ])
                .await?;
            if !response.succeeded() {
                return Err(LostCause::KeyGone.into_error(ENTER));
            }
            let seen_at = response.header().revision();
            let mut gets = response
                .into_responses()
                .into_iter()
                .filter_map(|r| match r {
                    TxnOpResponse::Get(get) => Some(get),
                    _ => None,
                });
            let entered = gets
                .next()
                .map(|g| u64::try_from(g.count()).unwrap_or(0))
                .unwrap_or(0);
            let ready = gets.next().and_then(|g| g.into_kvs().into_iter().next());
            if entered > count {
                return Err(Error::new(
                    ErrorKind::Locked,
                    format!("{ENTER}: the barrier is full ({entered} participants for {count})"),
                ));
            }
            // A ready key put after our key was: someone counted `count` with us in.
            if let Some(ready) = ready.filter(|r| r.mod_revision() > rev) {
                return Ok((seen_at, ready.mod_revision()));
            }
            if entered == count {
                let put = client
                    .kv()
                    .put(self.ready.clone(), Bytes::new())
                    .lease(self.queue.lease)
                    .await?;
                let at = put.header().revision();
                return Ok((at, at));
            }
            let from = seen_at.next();
            tokio::select! {
                put = next_event(client, self.ready.clone(), Range::Key, from, EventType::Put) => {
                    put?;
                }
                // Our own key going (its lease revoked) is seen by the compare above.
                gone = next_event(client, self.queue.key.clone(), Range::Key, from, EventType::Delete) => {
                    gone?;
                }
                cause = self.queue.session_lost() => return Err(cause.into_error(ENTER)),
            }
        }
    }
}

/// A participant inside a [`DoubleBarrier`], from [`DoubleBarrier::enter`].
///
/// **Drop** leaves without waiting for the others: the key is deleted in the background.
pub struct Entered {
    held: Held,
    client: Client,
    waiters: Bytes,
    ready: Bytes,
    /// The mod revision of this round's ready key.
    ready_rev: Revision,
}

held_key_guard!(Entered, revision: "create_revision",
    /// This participant's key.
);

impl Entered {
    /// The revision at which the barrier was seen complete.
    pub fn entered_at(&self) -> Revision {
        self.held.seen_at
    }

    /// Finishes when this participant drops out (its session lost, or its key deleted
    /// from outside), and says why.
    pub async fn lost(&self) -> LostCause {
        self.held.lost().await
    }

    /// Leaves: deletes our key, then waits until every participant has left. Await the
    /// returned [`Bounded`], after setting a timeout if you want one. Returns the
    /// revision at which nobody was left.
    ///
    /// # Errors
    ///
    /// The client's error when deleting our key failed (it is then deleted in the
    /// background), [`ErrorKind::Timeout`] when the timeout passes before everyone
    /// left (our key is gone by then), and the client's errors while waiting.
    pub fn leave(self) -> Bounded<'static, Revision> {
        Bounded::new("double barrier leave", move |deadline| {
            Box::pin(async move {
                let mut this = self;
                // Not bounded: our key is either deleted here or, on an error, by the
                // background releaser when `this` drops.
                this.held.give_up().await?;
                deadline.bound(this.all_left()).await
            })
        })
    }

    async fn all_left(&self) -> Result<Revision> {
        loop {
            let (count, seen_at) = count_under(&self.client, &self.waiters).await?;
            if count == 0 {
                // The last ones out remove this round's ready key, and only this
                // round's: a next round's has another mod revision.
                self.client
                    .kv()
                    .txn()
                    .when([Compare::mod_revision(
                        self.ready.clone(),
                        CompareOp::Equal,
                        self.ready_rev,
                    )])
                    .and_then([Delete::new(self.ready.clone())])
                    .await?;
                return Ok(seen_at);
            }
            next_event(
                &self.client,
                self.waiters.clone(),
                Range::Prefix,
                seen_at.next(),
                EventType::Delete,
            )
            .await?;
        }
    }
}
