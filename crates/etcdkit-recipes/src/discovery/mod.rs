//! Service discovery in the go-kit `sd/etcdv3` model: a [`Registrar`] keeps an instance
//! registered, an [`Instancer`] watches a prefix and delivers the current instance set,
//! an [`Endpointer`] turns instances into endpoints through a factory, the
//! [`RoundRobin`] and [`Random`] balancers pick one, [`retry`] moves on to another after
//! a failure, and [`Discover`] feeds tower's (and tonic's) load balancers.
//!
//! The registrar and the instancer reach the store through the [`KitClient`] trait
//! (go-kit's `sd/etcdv3` `Client`): an [`etcdkit::Client`] is the etcd implementation,
//! and a [`MemoryClient`] keeps the keys in memory for unit tests, with the same
//! register, deregister, read and watch behavior and no server:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use etcdkit_recipes::discovery::{Instancer, InstancerEvent, MemoryClient, Registrar, Service};
//! use futures_util::StreamExt;
//!
//! let client = MemoryClient::new();
//! let instancer = Instancer::new(&client, "svc/api/");
//! let mut events = instancer.events();
//! let registrar = Registrar::new(&client, Service::new("svc/api/a", "10.0.0.7:8080"));
//! registrar.register()?.registered(1).await?;
//! while let Some(InstancerEvent::Instances(set)) = events.next().await {
//!     if set.len() == 1 {
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use etcdkit_recipes::discovery::{
//!     retry, Balancer, Endpointer, Instancer, Registrar, RoundRobin, Service,
//! };
//!
//! let registrar = Registrar::new(&client, Service::new("svc/api/a", "10.0.0.7:8080"));
//! registrar.register()?.registered(1).await?;
//!
//! let instancer = Instancer::new(&client, "svc/api/");
//! let endpointer = Endpointer::new(&instancer, |instance| {
//!     Ok((instance.value_str().unwrap_or_default().to_owned(), None))
//! });
//! endpointer.ready().await;
//! let calls = retry(3, Duration::from_secs(1), RoundRobin::new(endpointer));
//! let answer = calls
//!     .call(|addr| async move { Ok::<_, std::io::Error>(format!("called {addr}")) })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Behavior
//!
//! - **Registration.** [`Registrar::register`] grants a lease of the TTL, writes the key
//!   under it and renews it every heartbeat (through the
//!   [lease keeper](crate::lease_keeper)). When the lease is lost (the cluster was out of
//!   reach for longer than the TTL, or someone revoked it), a new lease is granted and
//!   the key written again under it, as many times as needed, with backoff while etcd is
//!   unreachable; the old lease is then revoked if the server still has it. The key is
//!   always the same one, so an instance is never listed twice.
//!   [`RegistrationState`] says where it stands (a watch; `registrations()` counts the
//!   writes) and [`Registration::events`] streams what happens to it
//!   ([`RegistrationEvent`]). A failed attempt never ends the registration: it is
//!   reported ([`RegistrationState::Retrying`], [`RegistrationEvent::Failed`]) and tried
//!   again after a pause (capped exponential backoff with jitter) until deregistered,
//!   under a new lease when the server says the lease is not found (even before the
//!   lease's keeper has noticed). Failures that do not go away by themselves (permission
//!   denied) are retried too, and reported each time.
//! - **Deregistration** revokes the lease: the key is deleted at once and watchers see
//!   it go. If the lease was lost meanwhile, the key itself is deleted.
//! - **Instancer.** A [prefix cache](crate::prefix_cache) of the prefix: it resumes its
//!   watch after any disconnect without missing or repeating a change, and after a
//!   compaction (or a lagging watch) re-reads the prefix, so the set it delivers is never
//!   silently stale. Every event is the complete current set; a set equal to the last
//!   one is not sent again. While etcd cannot be read at start, one
//!   [`InstancerEvent::Error`] says so after [`Instancer::ready_timeout`].
//! - **Endpointer.** Calls the factory once per new (or changed) instance, drops the
//!   endpoint and runs its [`Closer`] when the instance goes; an instance whose factory
//!   fails is left out and logged.
//! - **Balancers** return [`Error::NoEndpoints`] when there is nothing to pick.
//! - **[`retry`]** stops at the first success, after `max` attempts or when the timeout
//!   passes, and then returns every attempt's error.
//! - **Clients.** [`KitClient::watch_prefix`] on etcd is a prefix cache (as above);
//!   on a [`MemoryClient`] it follows the store's changes. Either way the registrar and
//!   instancer behave the same, which one test body checks against both.
//! - **Drop.** Dropping a [`Registrar`] stops renewing (the key expires after the TTL);
//!   dropping the last handle of an [`Instancer`] or [`Endpointer`] stops its watch.

mod balancer;
mod client;
mod discover;
mod endpointer;
mod instancer;
mod memory;
mod registrar;
pub(crate) mod registration;
mod retry;

use std::fmt;

pub use balancer::{Balancer, Random, RoundRobin};
pub use client::KitClient;
pub use discover::Discover;
pub use endpointer::{Closer, Endpointer};
pub use instancer::{Instance, Instancer, InstancerEvent};
pub use memory::MemoryClient;
pub use registrar::{Registrar, Service, TtlOption};
pub use registration::{Registrant, Registration, RegistrationEvent, RegistrationState};
pub use retry::{AttemptError, GaveUp, Retry, RetryError, retry};

pub(crate) use instancer::sets;
pub(crate) use registration::Spec;

/// A boxed error, as factories return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong in discovery.
#[non_exhaustive]
#[derive(Debug)]
pub enum Error {
    /// The service to register has an empty key (go-kit's `ErrNoKey`).
    NoKey,
    /// The service to register has an empty value (go-kit's `ErrNoValue`).
    NoValue,
    /// A balancer had no endpoint to pick.
    NoEndpoints,
    /// etcd failed.
    Etcd(etcdkit::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoKey => f.write_str("no service key provided"),
            Error::NoValue => f.write_str("no service value provided"),
            Error::NoEndpoints => f.write_str("no endpoints available"),
            Error::Etcd(e) => write!(f, "etcd: {e}"),
        }
    }
}

etcd_error_impls!(Error);
