//! A barrier: one key that holds waiters back while it exists.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! use etcdkit_recipes::barrier::Barrier;
//!
//! let barrier = Barrier::new(&client, "barriers/deploy");
//! barrier.hold().await?;
//! // Elsewhere: waits until the barrier is released.
//! Barrier::new(&client, "barriers/deploy")
//!     .wait()
//!     .timeout(Duration::from_secs(60))
//!     .await?;
//! // And the holder, when it is time:
//! barrier.release().await?;
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Key.** The barrier is the key itself: it is held while the key exists, whatever
//!   its value, and released when it is deleted (by [`release`](Barrier::release), by
//!   hand, or by its lease ending when it was held with
//!   [`hold_with_lease`](Barrier::hold_with_lease)). The layout is the Go client's
//!   `recipe.Barrier`, so Go and Rust processes share a barrier.
//! - **[`hold`](Barrier::hold)** creates the key only if it does not exist: holding a
//!   held barrier fails with [`ErrorKind::AlreadyExists`]. A hold whose outcome is
//!   unknown (the connection broke) may have created the key; the error says so
//!   ([`Error::is_outcome_unknown`](etcdkit::Error::is_outcome_unknown)).
//! - **[`wait`](Barrier::wait)** reads the key and, while it exists, watches it from the
//!   revision after that read, so a release between the read and the watch is not
//!   missed; nothing polls. A wait is read-only: dropping it or its timeout passing
//!   ([`ErrorKind::Timeout`]) leaves nothing behind. A barrier released and held again
//!   before a waiter's watch sees the release still wakes that waiter (the watch sees
//!   the delete).
//! - **Holder dies.** A barrier held without a lease stays held until someone releases
//!   it; held with a lease, it is released when the lease ends (expires or is revoked).
//! - **Failover.** Reads and watches fail over like any other request of the client;
//!   the watch resumes from where it was.

use bytes::Bytes;
use etcdkit::kv::{Compare, CompareOp, Put};
use etcdkit::watch::EventType;
use etcdkit::{Client, Error, ErrorKind, LeaseId, Result, Revision};

pub use crate::bounded::Bounded;
use crate::watch_for::{Range, next_event};

/// A barrier named by its key. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Barrier {
    client: Client,
    key: Bytes,
}

impl Barrier {
    /// The barrier whose key is `key`.
    pub fn new(client: &Client, key: impl Into<Bytes>) -> Barrier {
        Barrier {
            client: client.clone(),
            key: key.into(),
        }
    }

    /// The barrier's key.
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// Holds the barrier: creates its key, with no lease (it stays until released).
    /// Returns the key's creation revision.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`] when the barrier is already held, and the client's
    /// errors ([`ErrorKind::EmptyKey`] for an empty key).
    pub async fn hold(&self) -> Result<Revision> {
        self.put(None).await
    }

    /// Holds the barrier under `lease`: it is released when the lease ends, so a holder
    /// that dies does not hold the barrier forever. Returns the key's creation revision.
    ///
    /// # Errors
    ///
    /// Those of [`hold`](Barrier::hold), and [`ErrorKind::LeaseNotFound`] when the lease
    /// does not exist.
    pub async fn hold_with_lease(&self, lease: LeaseId) -> Result<Revision> {
        self.put(Some(lease)).await
    }

    async fn put(&self, lease: Option<LeaseId>) -> Result<Revision> {
        let mut put = Put::new(self.key.clone(), Bytes::new());
        if let Some(lease) = lease {
            put = put.lease(lease);
        }
        let response = self
            .client
            .kv()
            .txn()
            .when([Compare::create_revision(
                self.key.clone(),
                CompareOp::Equal,
                Revision(0),
            )])
            .and_then([put])
            .await?;
        if !response.succeeded() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "the barrier {} is already held",
                    String::from_utf8_lossy(&self.key)
                ),
            ));
        }
        Ok(response.header().revision())
    }

    /// Releases the barrier: deletes its key. Returns whether it was held.
    ///
    /// # Errors
    ///
    /// The client's errors. A release whose outcome is unknown may have deleted the
    /// key; releasing again is harmless.
    pub async fn release(&self) -> Result<bool> {
        let response = self.client.kv().delete(self.key.clone()).await?;
        Ok(response.deleted() > 0)
    }

    /// Whether the barrier is held now.
    ///
    /// # Errors
    ///
    /// The client's errors.
    pub async fn is_held(&self) -> Result<bool> {
        let response = self.client.kv().get(self.key.clone()).count_only().await?;
        Ok(response.count() > 0)
    }

    /// Waits until the barrier is not held, and returns a revision at which it was not:
    /// at once when it is not held now. Await the returned [`Bounded`], after setting a
    /// timeout if you want one.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when the timeout passes first, and the client's errors
    /// when etcd cannot be reached.
    pub fn wait(&self) -> Bounded<'_, Revision> {
        Bounded::new("barrier wait", move |deadline| {
            Box::pin(async move { deadline.bound(self.released()).await })
        })
    }

    async fn released(&self) -> Result<Revision> {
        loop {
            let response = self.client.kv().get(self.key.clone()).count_only().await?;
            let seen_at = response.header().revision();
            if response.count() == 0 {
                return Ok(seen_at);
            }
            if let Some(released_at) = next_event(
                &self.client,
                self.key.clone(),
                Range::Key,
                seen_at.next(),
                EventType::Delete,
            )
            .await?
            {
                return Ok(released_at);
            }
            // The history after the read is gone: read again.
        }
    }
}
