//! The keeper's state and events.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use etcdkit::{Error, LeaseId};
use tokio::time::Instant;

/// Where a [`LeaseKeeper`](super::LeaseKeeper) stands.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum KeeperState {
    /// The lease is being granted.
    Granting,
    /// The lease is alive and being renewed.
    Alive {
        /// The lease.
        id: LeaseId,
        /// The TTL of the last grant or renewal.
        ttl: Duration,
        /// Until when the server confirmed the lease (conservatively).
        deadline: Instant,
    },
    /// Renewals stopped by [`release_passively`](super::LeaseKeeper::release_passively);
    /// the lease expires at `deadline` (or a little later, on the server).
    Released {
        /// The lease.
        id: LeaseId,
        /// The last confirmed deadline.
        deadline: Instant,
    },
    /// The lease is lost; this is final.
    Lost {
        /// The lease, if it was ever granted.
        id: Option<LeaseId>,
        /// Why.
        reason: LostReason,
    },
}

impl KeeperState {
    /// The lease id, once granted.
    pub fn id(&self) -> Option<LeaseId> {
        match self {
            KeeperState::Granting => None,
            KeeperState::Alive { id, .. } | KeeperState::Released { id, .. } => Some(*id),
            KeeperState::Lost { id, .. } => *id,
        }
    }
}

/// Why a lease was lost.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum LostReason {
    /// Revoked through this keeper.
    Revoked,
    /// The last confirmed deadline passed without a renewal (the cluster was out of
    /// reach, or renewals were released).
    Expired,
    /// The server said the lease does not exist: revoked by someone else, or expired on
    /// the server.
    NotFound,
    /// The grant failed for good.
    GrantFailed(Arc<Error>),
}

impl fmt::Display for LostReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LostReason::Revoked => f.write_str("revoked"),
            LostReason::Expired => f.write_str("expired: its TTL ran out without a renewal"),
            LostReason::NotFound => f.write_str("the server no longer knows the lease"),
            LostReason::GrantFailed(e) => write!(f, "the grant failed: {e}"),
        }
    }
}

/// Something that happened to a kept lease.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum KeeperEvent {
    /// A renewal was sent.
    KeepaliveFired,
    /// The server renewed the lease.
    KeepaliveSucceeded {
        /// The TTL it renewed the lease for.
        ttl: Duration,
    },
    /// A grant or the keepalive stream failed; it is being retried.
    KeepaliveFailed {
        /// What went wrong.
        error: Arc<Error>,
    },
    /// The keepalive stream was opened (or the lease joined the open one).
    KeepaliveEstablished {
        /// The endpoint it runs on.
        endpoint: String,
    },
    /// The lease was lost; no more events follow.
    Lost {
        /// Why.
        reason: LostReason,
    },
    /// This subscriber fell behind and missed this many events.
    Lagged {
        /// How many.
        missed: u64,
    },
}
