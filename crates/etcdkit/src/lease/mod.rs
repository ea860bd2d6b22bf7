//! Leases: grant, revoke, time-to-live, listing, and keeping leases alive.
//!
//! A key put under a lease is deleted when the lease ends: revoked, or expired because
//! nobody renewed it within its TTL.
//!
//! Every request is a by-value builder that runs when awaited, with its own
//! `.timeout(..)`:
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! use std::time::Duration;
//! let lease = client.lease().grant(Duration::from_secs(10)).await?;
//! client.kv().put("service/a", "up").lease(lease.id()).await?;
//! let keep_alive = client.lease().keep_alive(lease.id()).await?;
//! // ... the lease is renewed in the background until `keep_alive` is dropped.
//! client.lease().revoke(lease.id()).await?;
//! # Ok(()) }
//! ```
//!
//! # Keeping leases alive
//!
//! [`Lease::keep_alive`] hands out a [`KeepAlive`] handle. All the leases kept alive by one
//! client (and its clones) are renewed over a single LeaseKeepAlive stream, owned by a
//! background task of the client:
//!
//! - each lease is renewed at a third of its TTL (or the handle's
//!   [`interval`](KeepAliveBuilder::interval)), counted from the expiry the server last
//!   confirmed, not from when a request was sent;
//! - the confirmed expiry is taken conservatively: the send time of the renewal the
//!   server answered, plus the TTL it answered with;
//! - when the stream fails, or stays silent while renewals are outstanding, it is
//!   re-opened at once on a healthy endpoint, and the renewals that were outstanding or
//!   became due meanwhile are sent immediately;
//! - a lease is reported lost when the server answers with a TTL of zero or less
//!   ([`LostReason::NotFound`]), or when its confirmed expiry passes without a renewal
//!   ([`LostReason::Expired`]). A lost lease is no longer renewed.

/// A lease response: its header, the lease's id and a TTL in seconds (whose doc is
/// `$ttl_doc`), with their accessors, and any `$field`s the caller adds accessors for.
macro_rules! lease_response {
    ($(#[$meta:meta])* $name:ident, $ttl_doc:literal $(, $field:ident: $ty:ty)*) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            header: $crate::types::ResponseHeader,
            id: $crate::types::LeaseId,
            ttl: i64,
            $($field: $ty,)*
        }

        impl $name {
            /// The response header.
            pub fn header(&self) -> &$crate::types::ResponseHeader {
                &self.header
            }

            /// The lease's id.
            pub fn id(&self) -> $crate::types::LeaseId {
                self.id
            }

            #[doc = $ttl_doc]
            pub fn ttl(&self) -> i64 {
                self.ttl
            }
        }
    };
}

mod grant;
mod keep_alive;
mod keep_alive_once;
mod leases;
mod renewer;
mod revoke;
mod schedule;
mod time_to_live;

use std::time::Duration;

pub use grant::{Grant, LeaseGrantResponse};
pub use keep_alive::{KeepAlive, KeepAliveBuilder, KeepAliveEvent, KeepAliveState, LostReason};
pub use keep_alive_once::{KeepAliveOnce, LeaseKeepAliveResponse};
pub use leases::{LeaseLeasesResponse, Leases};
pub(crate) use renewer::Renewer;
pub use revoke::{LeaseRevokeResponse, Revoke};
pub use time_to_live::{LeaseTimeToLiveResponse, TimeToLive};

use crate::client::Client;
use crate::types::LeaseId;

/// The lease API of a [`Client`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Lease {
    pub(crate) client: Client,
}

impl Lease {
    /// Grants a lease of `ttl`, with an id chosen by the server (or the one given with
    /// [`Grant::id`]).
    ///
    /// etcd counts TTLs in whole seconds: a `ttl` with a fraction of a second is rounded
    /// **up** (1.2 s asks for 2 s), and anything under a second asks for 1 s. The server
    /// may grant more than asked (it raises TTLs below its minimum); the response says
    /// what it granted.
    pub fn grant(&self, ttl: Duration) -> Grant {
        Grant::new(self.client.clone(), ttl)
    }

    /// Revokes a lease: the keys attached to it are deleted at once.
    pub fn revoke(&self, id: LeaseId) -> Revoke {
        Revoke::new(self.client.clone(), id)
    }

    /// A lease's remaining time (and, with [`TimeToLive::keys`], its keys).
    pub fn time_to_live(&self, id: LeaseId) -> TimeToLive {
        TimeToLive::new(self.client.clone(), id)
    }

    /// Lists every live lease.
    pub fn leases(&self) -> Leases {
        Leases::new(self.client.clone())
    }

    /// Renews a lease once, over a short stream of its own, and returns the TTL the
    /// server granted. A lease that does not exist fails with
    /// [`ErrorKind::LeaseNotFound`](crate::ErrorKind::LeaseNotFound).
    pub fn keep_alive_once(&self, id: LeaseId) -> KeepAliveOnce {
        KeepAliveOnce::new(self.client.clone(), id)
    }

    /// Keeps a lease alive in the background until the returned [`KeepAlive`] handle is
    /// dropped; see the [module docs](self) for how.
    pub fn keep_alive(&self, id: LeaseId) -> KeepAliveBuilder {
        KeepAliveBuilder::new(self.client.clone(), id)
    }
}
