//! A service registry in the etcd-registry model: instances `join` a service by name with
//! a JSON document, stay registered under a lease while they live, and are found with
//! `lookup` (one, at random), `list` and `watch`.
//!
//! ```no_run
//! # async fn f() -> Result<(), etcdkit_recipes::registry::Error> {
//! use etcdkit_recipes::registry::Registry;
//! use serde_json::json;
//!
//! let registry = Registry::connect("http://10.0.0.1,10.0.0.2,10.0.0.3/services?ttl=10").await?;
//! registry.join("api", json!({"port": 8080})).await?;
//! let api = registry.lookup("api").await?;
//! println!("calling {}", api.url().unwrap_or_default());
//! registry.leave("api").await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! Each instance is the key `<namespace>/<name>/<id>` (`id` from the document's `"id"`,
//! or random), whose value is the document (or, with [`ValueFormat::GoEndpoints`], the
//! Go client's `naming/endpoints` update carrying it). `join` fills in `name`,
//! `hostname`, `host` (`hostname:port`) and `url` (`protocol://host`, `http` unless the
//! document says `protocol`) unless the document has them.
//!
//! # Behavior
//!
//! - **Connection string.** `http[s]://h1[:port],h2,…/namespace?ttl=…&heartbeat=…`
//!   (see [`ConnectionString`]); anything malformed is refused with
//!   [`Error::InvalidConnectionString`], which says what is wrong. Requests go to a
//!   healthy host and move on to the next when one fails (the client's failover).
//!   The client re-reads the cluster's member list at connect and every `sync`
//!   (60 s by default; `sync=0` keeps the hosts as given), so members added later are
//!   used once the ones named are gone.
//! - **Join** grants a lease (TTL 10 s by default), writes the instance under it, renews
//!   it every heartbeat (5 s by default) through the [lease keeper](crate::lease_keeper),
//!   and returns once the instance is written (or fails after the `timeout` option, 5 s by
//!   default, while it keeps trying in the background). A crashed process stops
//!   renewing, so its instance is gone within the TTL.
//! - **Lease lost** (for example a partition longer than the TTL, or the lease revoked
//!   by someone else): the instance is written again under a new lease. The key never
//!   changes, so the instance is never listed twice.
//! - **Failures never end a registration.** An attempt to write the instance that fails
//!   is tried again after a pause (capped exponential backoff with jitter), for as long
//!   as it takes, until the instance is left or the registry closed (or dropped). A put
//!   refused with "requested lease not found" means the lease is gone even if its
//!   keeper has not noticed yet: the next attempt takes a new lease. Errors that do not
//!   go away by themselves (permission denied) are retried too, and reported each time.
//! - **Observing it.** [`Joined::registration`] gives the state as a watch
//!   ([`RegistrationState`]: registering, registered, lost, retrying with the last error,
//!   deregistered; it counts the writes) and a stream of
//!   [`RegistrationEvent`](crate::discovery::RegistrationEvent)s
//!   (registered, lease lost, re-registering, failed with the error and the pause
//!   before the next attempt, re-registered, deregistered).
//! - **Leave** revokes the lease: the instance is deleted at once and watchers see it
//!   go. [`Registry::leave_all`] does it for every instance this registry joined.
//! - **Lookups.** The first `lookup`, `list` or `watch` of a name starts a
//!   [prefix cache](crate::prefix_cache) of `<namespace>/<name>/`; later ones read it
//!   without a round trip. The cache follows every change, resumes after disconnects
//!   and re-reads after compaction. Being fed by a watch, it sees a change (this
//!   registry's own `join` and `leave` included) a moment after etcd applies it,
//!   typically well under a millisecond on one machine: a `list` right after a `join`
//!   may not show it yet. `lookup` of a name without instances is
//!   [`Error::NoInstance`]. [`Registry::list_all`] reads etcd directly.
//! - **Drop.** Dropping the last clone of a registry stops renewing (instances expire
//!   after their TTL; nothing blocks) and stops its caches;
//!   [`leave_all`](Registry::leave_all) removes the instances at once.

mod builder;
mod error;
mod instance;
mod lookup;
mod url;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Client, ClientOptions, ErrorKind};
use serde_json::{Map, Value};

use crate::discovery::{Registrant, Registration, RegistrationState, Spec};
use crate::prefix_cache::PrefixCache;

pub use builder::RegistryBuilder;
pub use error::Error;
pub use instance::{Instance, ValueFormat, local_hostname};
pub use url::{ConnectionString, DEFAULT_NAMESPACE, DEFAULT_PORT, DEFAULT_SYNC_INTERVAL};

/// An instance this registry joined: what was written and how its registration stands.
#[derive(Debug, Clone)]
pub struct Joined {
    instance: Instance,
    registration: Registration,
}

impl Joined {
    /// The instance as written.
    pub fn instance(&self) -> &Instance {
        &self.instance
    }

    /// Its registration: its state, its events and the number of writes.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }
}

struct Member {
    joined: Joined,
    registrant: Registrant,
}

struct Inner {
    /// As built: the namespace with its trailing `/`, the heartbeat within bounds.
    settings: RegistryBuilder,
    joined: Mutex<BTreeMap<Bytes, Member>>,
    caches: Mutex<HashMap<String, Arc<PrefixCache>>>,
}

/// A service registry. Cheap to clone; clones share the joined instances and the caches.
/// See the [module docs](self) for its behavior.
///
/// **Drop** (of the last clone): renewals stop (instances expire after their TTL) and
/// the caches stop; nothing is revoked and nothing blocks.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl Registry {
    /// Connects to the etcd cluster of a connection string and makes a registry with its
    /// options.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConnectionString`] for a malformed connection string;
    /// [`Error::Etcd`] when no host answers within the timeout.
    pub async fn connect(connection_string: &str) -> Result<Registry, Error> {
        let c: ConnectionString = connection_string.parse()?;
        let mut options = ClientOptions::new(c.endpoints().to_vec())
            .dial_timeout(c.timeout())
            .request_timeout(c.timeout());
        if let Some(every) = c.sync_interval() {
            options = options.auto_sync_interval(every);
        }
        let client = options.connect().await?;
        Ok(Registry::with_options(&client, &c))
    }

    /// A registry on `client` with the namespace and options of a connection string
    /// (its hosts and its `sync` are not used: they are the client's business).
    pub fn with_options(client: &Client, c: &ConnectionString) -> Registry {
        Registry::builder(client)
            .namespace(c.namespace())
            .ttl(c.ttl())
            .heartbeat(c.heartbeat())
            .format(c.format())
            .timeout(c.timeout())
            .build()
    }

    /// A registry on an existing client.
    pub fn builder(client: &Client) -> RegistryBuilder {
        RegistryBuilder::new(client.clone())
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.inner.settings.client
    }

    /// The namespace, with its trailing `/`.
    pub fn namespace(&self) -> &str {
        &self.inner.settings.namespace
    }

    /// The lease TTL of joined instances.
    pub fn ttl(&self) -> Duration {
        self.inner.settings.ttl
    }

    /// How often leases are renewed.
    pub fn heartbeat(&self) -> Duration {
        self.inner.settings.heartbeat
    }

    /// Joins service `name` with `doc` (a JSON object, or null): fills in `name`,
    /// `hostname`, `host` and `url` unless given, writes the instance under a lease and
    /// keeps it there. Joining an instance id this registry already joined replaces it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] and [`Error::InvalidDocument`] before anything is written.
    /// When the instance is not written within the registry's `timeout`, an
    /// [`Error::Etcd`] of the last attempt's failure (or [`ErrorKind::Timeout`] when no
    /// attempt has failed yet): the registration goes on in the background all the same
    /// (see [`Registry::joined`]), until the instance is left.
    pub async fn join(&self, name: &str, doc: Value) -> Result<Joined, Error> {
        check_name(name)?;
        let doc = match doc {
            Value::Object(doc) => doc,
            Value::Null => Map::new(),
            other => {
                return Err(Error::InvalidDocument {
                    found: kind_of(&other).to_owned(),
                });
            }
        };
        let id = match doc.get("id") {
            Some(Value::String(id)) => id.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => format!("{:016x}", fastrand::u64(..)),
        };
        check_name(&id)?;
        let instance = Instance::fill(&self.inner.settings.namespace, name, &id, doc);
        let previous = self.take_members(|key, _| key == instance.key());
        for member in previous {
            let _ = member.registrant.close().await;
        }
        let registrant = Registrant::start(Spec {
            client: self.inner.settings.client.clone(),
            key: instance.key().clone(),
            value: instance.encode(self.inner.settings.format),
            ttl: self.inner.settings.ttl,
            heartbeat: self.inner.settings.heartbeat,
        });
        let joined = Joined {
            instance,
            registration: registrant.view().clone(),
        };
        self.lock_joined().insert(
            joined.instance.key().clone(),
            Member {
                joined: joined.clone(),
                registrant,
            },
        );
        match tokio::time::timeout(
            self.inner.settings.timeout,
            joined.registration.registered(1),
        )
        .await
        {
            Ok(Ok(_)) => Ok(joined),
            Ok(Err(e)) => Err(Error::Etcd(e)),
            Err(_) => {
                let (kind, last) = match joined.registration.current() {
                    RegistrationState::Retrying { error, .. } => {
                        (error.kind(), format!(" (the last attempt failed: {error})"))
                    }
                    _ => (ErrorKind::Timeout, String::new()),
                };
                Err(Error::Etcd(etcdkit::Error::new(
                    kind,
                    format!(
                        "the instance was not written within {:?}{last}; still trying in the \
                         background",
                        self.inner.settings.timeout
                    ),
                )))
            }
        }
    }

    /// Leaves service `name`: every instance of it this registry joined is deleted at
    /// once (its lease revoked). Returns how many there were. The first failure is
    /// returned after all were tried.
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] with the first revoke that failed (every instance of the name is
    /// still left; those not revoked expire after their TTL).
    pub async fn leave(&self, name: &str) -> Result<usize, Error> {
        let members = self.take_members(|_, m| m.joined.instance.name() == name);
        close_all(members).await
    }

    /// Leaves every service this registry joined.
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] with the first revoke that failed (every instance is still left;
    /// those not revoked expire after their TTL).
    pub async fn leave_all(&self) -> Result<usize, Error> {
        let members = self.take_members(|_, _| true);
        close_all(members).await
    }

    /// Deletes every instance of `name`, whoever registered it (for operators: the
    /// registrants' leases stay, and they do not write the instance again until their
    /// lease is lost). Returns how many were deleted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for an empty name or one with `/`; [`Error::Etcd`] when the
    /// delete fails.
    pub async fn evict(&self, name: &str) -> Result<i64, Error> {
        let prefix = self.prefix(name)?;
        let own = self.take_members(|_, m| m.joined.instance.name() == name);
        let _ = close_all(own).await;
        let deleted = self.client().kv().delete(prefix).prefix().await?;
        Ok(deleted.deleted())
    }

    /// The instances this registry joined (and has not left).
    pub fn joined(&self) -> Vec<Joined> {
        self.lock_joined()
            .values()
            .map(|m| m.joined.clone())
            .collect()
    }

    /// Leaves every joined service, then drops the registry.
    ///
    /// # Errors
    ///
    /// As [`Registry::leave_all`].
    pub async fn close(self) -> Result<(), Error> {
        self.leave_all().await.map(|_| ())
    }

    fn prefix(&self, name: &str) -> Result<Bytes, Error> {
        check_name(name)?;
        Ok(Bytes::from(format!(
            "{}{name}/",
            self.inner.settings.namespace
        )))
    }

    fn lock_joined(&self) -> std::sync::MutexGuard<'_, BTreeMap<Bytes, Member>> {
        match self.inner.joined.lock() {
            Ok(joined) => joined,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn take_members(&self, pick: impl Fn(&Bytes, &Member) -> bool) -> Vec<Member> {
        let mut joined = self.lock_joined();
        let keys: Vec<Bytes> = joined
            .iter()
            .filter(|(k, m)| pick(k, m))
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().filter_map(|k| joined.remove(k)).collect()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("namespace", &self.inner.settings.namespace)
            .field("ttl", &self.inner.settings.ttl)
            .field("heartbeat", &self.inner.settings.heartbeat)
            .field("format", &self.inner.settings.format)
            .finish()
    }
}

async fn close_all(members: Vec<Member>) -> Result<usize, Error> {
    let n = members.len();
    let mut first_error = None;
    for member in members {
        if let Err(e) = member.registrant.close().await {
            first_error.get_or_insert(e);
        }
    }
    match first_error {
        Some(e) => Err(Error::Etcd(e)),
        None => Ok(n),
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.contains('/') || name.contains('\0') {
        return Err(Error::InvalidName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use etcdkit::{Client, ErrorKind};
    use etcdkit_testkit::EtcdServer;
    use futures_util::StreamExt;
    use serde_json::json;

    use super::Registry;
    use crate::discovery::RegistrationEvent;
    use crate::discovery::registration::gates;
    use crate::test_util::{BOUND, bounded, connect, start_etcd};

    /// What the gate tests start from: a server; a registry in `namespace` with the
    /// lease TTL and renewal interval given; a client outside the registry, to revoke
    /// its leases with; and the gate that holds back the put of instance `api/one`.
    async fn gated_registry(
        namespace: &str,
        ttl: Duration,
        heartbeat: Duration,
    ) -> (EtcdServer, Registry, Client, Arc<gates::Gate>) {
        let (etcd, client) = start_etcd().await;
        let outside = connect(&etcd).await;
        let registry = Registry::builder(&client)
            .namespace(namespace)
            .ttl(ttl)
            .heartbeat(heartbeat)
            .timeout(BOUND)
            .build();
        let gate = gates::install(format!("{namespace}/api/one"));
        (etcd, registry, outside, gate)
    }

    /// The sequence a randomized fault run found: the registration's lease is gone on
    /// the server, but its keeper has not noticed yet (its next renewal is far off), and
    /// the put of the instance reaches the server first and fails with "requested lease
    /// not found". The registration must not stop there: it writes the instance again
    /// under a new lease.
    #[tokio::test]
    async fn a_put_refused_for_a_lease_the_keeper_still_thinks_alive_is_retried_under_a_new_lease()
    {
        // Renewals far apart: the keeper learns nothing during the test.
        let (_etcd, registry, outside, gate) =
            gated_registry("t-gate", Duration::from_secs(60), Duration::from_secs(30)).await;
        let joining = {
            let registry = registry.clone();
            tokio::spawn(async move { registry.join("api", json!({"id": "one"})).await })
        };
        // The lease is granted and the put waits at the gate: revoke the lease from
        // outside, then let the put go.
        let first = bounded(gate.arrived(1)).await;
        bounded(outside.lease().revoke(first)).await.unwrap();
        gate.open();

        let joined = bounded(joining).await.unwrap().unwrap();
        let lease = joined.registration().current().lease().unwrap();
        assert_ne!(lease, first);
        // What happened is told: the failed attempt with its error, then the write.
        let mut events = joined.registration().events();
        match bounded(events.next()).await.unwrap() {
            RegistrationEvent::Failed { error, .. } => {
                assert_eq!(error.kind(), ErrorKind::LeaseNotFound, "{error}");
            }
            other => panic!("expected the failed attempt, got {other:?}"),
        }
        assert!(matches!(
            bounded(events.next()).await.unwrap(),
            RegistrationEvent::Registered { lease: l } if l == lease
        ));
        let got = bounded(outside.kv().get("t-gate/api/one")).await.unwrap();
        assert_eq!(got.kvs().len(), 1);
        assert_eq!(got.kvs()[0].lease(), Some(lease));
        assert_eq!(bounded(registry.leave_all()).await.unwrap(), 1);
    }

    /// The same on a re-registration, as the fault run had it: the lease is lost (here
    /// revoked from outside; the keeper finds out at its next renewal), the registration
    /// takes a new lease, and that one is revoked too before the put, while its keeper,
    /// a heartbeat away from its first renewal, has noticed nothing. The instance comes
    /// back under a third lease, and every step is told.
    #[tokio::test]
    async fn a_reregistration_whose_new_lease_is_gone_before_its_put_comes_back_and_says_so() {
        let (_etcd, registry, outside, gate) =
            gated_registry("t-regate", Duration::from_secs(10), Duration::from_secs(3)).await;
        gate.open();
        let joined = bounded(registry.join("api", json!({"id": "one"})))
            .await
            .unwrap();
        let registration = joined.registration().clone();
        let mut events = registration.events();
        let first = registration.current().lease().unwrap();

        gate.close();
        bounded(outside.lease().revoke(first)).await.unwrap();
        // The keeper finds the lease lost; the re-registration's put arrives at the gate
        // under a new lease: revoke it too, then let the put go.
        let second = bounded(gate.arrived(2)).await;
        assert_ne!(second, first);
        bounded(outside.lease().revoke(second)).await.unwrap();
        gate.open();

        let third = bounded(registration.registered(2)).await.unwrap();
        assert!(third != first && third != second);
        let got = bounded(outside.kv().get("t-regate/api/one")).await.unwrap();
        assert_eq!(got.kvs().len(), 1);
        assert_eq!(got.kvs()[0].lease(), Some(third));

        let mut seen = Vec::new();
        while !matches!(seen.last(), Some(RegistrationEvent::Reregistered { .. })) {
            seen.push(bounded(events.next()).await.unwrap());
        }
        assert!(
            matches!(
                seen.as_slice(),
                [
                    RegistrationEvent::Registered { lease: a },
                    RegistrationEvent::LeaseLost { lease: b, .. },
                    RegistrationEvent::Reregistering { registrations: 1 },
                    RegistrationEvent::Failed { error, .. },
                    RegistrationEvent::Reregistered { lease: c, registrations: 2 },
                ] if *a == first && *b == first && *c == third
                    && error.kind() == ErrorKind::LeaseNotFound
            ),
            "{seen:?}"
        );
        assert_eq!(bounded(registry.leave_all()).await.unwrap(), 1);
    }
}
