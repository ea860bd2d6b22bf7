//! Recipes built only on etcdkit's public API: the parts people otherwise write by hand
//! on top of an etcd client.
//!
//! Every recipe module has a "Behavior" section that says what happens on failure.
//!
//! Among them: [`election`] (campaign, proclaim, resign, observe, and
//! [`Election::resume`](election::Election::resume) to take a leadership back after a
//! restart) and [`stm`] (transactions over many keys with etcd's four isolation levels,
//! retried on conflict).

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

mod backoff;
pub mod discovery;
pub mod election;
pub mod lease_keeper;
pub mod mirror;
pub mod mutex;
pub mod prefix_cache;
mod queue;
pub mod registry;
pub mod session;
pub mod stm;
#[cfg(test)]
mod test_util;
