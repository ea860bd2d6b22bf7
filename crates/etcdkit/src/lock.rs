//! The Lock service of the server: a lock held under a lease, acquired and released by
//! the server on the client's behalf.
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//!
//! let lease = client.lease().grant(Duration::from_secs(10)).await?;
//! let held = client.lock().lock("jobs/nightly", lease.id()).await?;
//! // ... the lock is held until unlocked or until the lease ends.
//! client.lock().unlock(held.key().clone()).await?;
//! # Ok(()) }
//! ```
//!
//! The server puts a key `NAME/LEASE` (lease id in hexadecimal) under the lease and waits
//! until every key of `NAME/` created before it is gone; that key is the lock. It is
//! released by deleting it ([`Lock::unlock`]) or by the lease ending. Asking again with
//! the same name and lease finds the same key, so a lock request whose outcome was unknown
//! may simply be repeated.
//!
//! For a fair client-side mutex with fencing tokens and a "lost" signal, see the `Mutex`
//! of `etcdkit-recipes`.

use std::time::Duration;

use bytes::Bytes;

use crate::client::Client;
use crate::error::Error;
use crate::generated::v3lockpb as pb;
use crate::transport::Call;
use crate::types::{LeaseId, ResponseHeader};

/// How long a lock request or a campaign waits when no timeout is given: for as long
/// as it takes.
const WAIT_FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The call of a request that waits its turn under `lease` (a lock, a campaign), after
/// the checks both make before sending: a name (an empty one is refused) and a lease
/// other than 0. Without a `timeout` of its own it waits for as long as it takes.
pub(crate) fn waiting_call(
    op: &'static str,
    name: &[u8],
    lease: LeaseId,
    timeout: Option<Duration>,
) -> crate::Result<Call> {
    if name.is_empty() {
        return Err(Error::empty_key().with_operation(op));
    }
    lease.require_granted(op)?;
    Ok(Call::not_idempotent(
        op,
        Some(timeout.unwrap_or(WAIT_FOREVER)),
    ))
}

/// The Lock API of a [`Client`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Lock {
    pub(crate) client: Client,
}

impl Lock {
    /// Acquires the lock `name` under `lease`, waiting for as long as it is held by
    /// others (unless [`Acquire::timeout`] says otherwise).
    ///
    /// # Errors
    ///
    /// - [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for lease 0,
    ///   before anything is sent: etcd would hold the lock under a 60-second lease of its
    ///   own that nobody renews, and the lock would vanish a minute later.
    /// - [`ErrorKind::EmptyKey`](crate::ErrorKind::EmptyKey) for an empty name.
    /// - [`ErrorKind::LeaseNotFound`](crate::ErrorKind::LeaseNotFound) for a lease that
    ///   does not exist.
    /// - An error whose outcome is unknown when cut short while waiting (see [`Acquire`]).
    pub fn lock(&self, name: impl Into<Bytes>, lease: LeaseId) -> Acquire {
        Acquire {
            client: self.client.clone(),
            name: name.into(),
            lease,
            timeout: None,
        }
    }

    /// Releases a lock by deleting its key (the one [`LockResponse::key`] returned).
    ///
    /// The server deletes the key whoever holds it; releasing a lock that is no longer
    /// held (its lease ended, or it was released already) succeeds and does nothing.
    pub fn unlock(&self, key: impl Into<Bytes>) -> Unlock {
        Unlock {
            client: self.client.clone(),
            key: key.into(),
            timeout: None,
        }
    }
}

/// A lock acquisition; await it. From [`Lock::lock`].
///
/// It is sent once and waits on one member (a repeat on another would be harmless, but
/// a member that is slow to grant is usually one that is waiting for the lock). When the
/// connection breaks while waiting the error says the outcome is unknown: the lock may
/// have been granted. Asking again with the same name and lease is safe, and returns the
/// same key.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Acquire {
    client: Client,
    name: Bytes,
    lease: LeaseId,
    timeout: Option<Duration>,
}

impl Acquire {
    timeout_method!("Gives up waiting after `timeout` (default: wait until acquired).");
}

request_future! {
    /// Waits for the lock.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyKey`](crate::ErrorKind::EmptyKey) for an empty name and
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for lease 0
    /// (before sending); [`ErrorKind::LeaseNotFound`](crate::ErrorKind::LeaseNotFound) when
    /// the lease ends while waiting; [`ErrorKind::Timeout`](crate::ErrorKind::Timeout) when
    /// the timeout given passes first;
    /// [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown) when the connection
    /// failed after the request may have been applied (the lock may be held under the
    /// lease); [`ErrorKind::PermissionDenied`](crate::ErrorKind::PermissionDenied) or
    /// [`ErrorKind::InvalidToken`](crate::ErrorKind::InvalidToken) under auth.
    impl for Acquire => LockResponse, |this| {
        let call = waiting_call("lock.lock", &this.name, this.lease, this.timeout)?;
        let ns = this.client.namespace().clone();
        let request = pb::LockRequest {
            name: ns.key(&this.name),
            lease: this.lease.0,
        };
        let response = this.client.transport().lock(call, request).await?;
        let mut key = response.key;
        ns.strip(&mut key);
        Ok(LockResponse {
            header: response.header.into(),
            key,
        })
    }
}

/// A held lock.
#[derive(Debug, Clone)]
pub struct LockResponse {
    header: ResponseHeader,
    key: Bytes,
}

impl LockResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The lock's key: pass it to [`Lock::unlock`]. It exists exactly as long as the
    /// lock is held, so it also serves to fence writes (compare its creation revision).
    pub fn key(&self) -> &Bytes {
        &self.key
    }
}

/// A lock release; await it. From [`Lock::unlock`]. Safe to repeat, so retried like a
/// read.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Unlock {
    client: Client,
    key: Bytes,
    timeout: Option<Duration>,
}

impl Unlock {
    timeout_method!();
}

request_future! {
    /// Releases the lock.
    ///
    /// # Errors
    ///
    /// the failures of [every request](crate::Error#failures-of-every-request).
    impl for Unlock => UnlockResponse, |this| {
        if this.key.is_empty() {
            return Err(Error::empty_key().with_operation("lock.unlock"));
        }
        let call = Call::idempotent("lock.unlock", this.timeout);
        let request = pb::UnlockRequest {
            key: this.client.namespace().key(&this.key),
        };
        let response = this.client.transport().unlock(call, request).await?;
        Ok(UnlockResponse {
            header: response.header.into(),
        })
    }
}

/// A released lock.
#[derive(Debug, Clone)]
pub struct UnlockResponse {
    header: ResponseHeader,
}

impl UnlockResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }
}
