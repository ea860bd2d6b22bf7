//! Recipes built only on etcdkit's public API: the parts people otherwise write by hand
//! on top of an etcd client.
//!
//! Every recipe module has a "Behavior" section that says what happens on failure.
//!
//! - Leases and sessions: [`lease_keeper`], [`session`].
//! - Locks and leadership: [`mutex`], [`rwmutex`] (readers share, a writer excludes),
//!   [`election`] (campaign, proclaim, resign, observe, and
//!   [`Election::resume`](election::Election::resume) to take a leadership back after a
//!   restart).
//! - Transactions over many keys: [`stm`] (etcd's four isolation levels, retried on
//!   conflict).
//! - Coordination, the other recipes Go's client ships: [`barrier`] (hold / release /
//!   wait), [`double_barrier`] (enter together, leave together), [`work_queue`] (FIFO,
//!   each item taken once) and [`priority_queue`] (lowest priority number first). Their
//!   waits are [`Bounded`](barrier::Bounded): cancellable by drop, with an optional
//!   timeout, and watching from a known revision rather than polling.
//! - Services and data: [`registry`], [`discovery`], [`prefix_cache`], [`mirror`].

/// `std::error::Error` (with the `Etcd` variant as the source) and
/// `From<etcdkit::Error>` for a recipe's error enum that wraps etcd's failures in `Etcd`.
macro_rules! etcd_error_impls {
    ($name:ident) => {
        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $name::Etcd(e) => Some(e),
                    _ => None,
                }
            }
        }

        impl From<etcdkit::Error> for $name {
            fn from(e: etcdkit::Error) -> Self {
                $name::Etcd(e)
            }
        }
    };
}

#[macro_use]
mod macros;

mod backoff;
pub mod barrier;
mod bounded;
pub mod discovery;
pub mod double_barrier;
pub mod election;
mod items;
mod keys;
pub mod lease_keeper;
pub mod mirror;
pub mod mutex;
mod owned_task;
pub mod prefix_cache;
pub mod priority_queue;
mod queue;
pub mod registry;
pub mod rwmutex;
pub mod session;
pub mod stm;
#[cfg(test)]
mod test_util;
mod watch_for;
pub mod work_queue;
