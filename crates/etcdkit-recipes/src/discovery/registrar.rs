//! The go-kit Registrar: one service instance registered under a lease.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::client::check;
use super::registration::{Registrant, Registration};
use super::{Error, KitClient};

/// How long the lease lives and how often it is renewed (go-kit's `TTLOption`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlOption {
    heartbeat: Duration,
    ttl: Duration,
}

impl TtlOption {
    /// Renew every `heartbeat`; the key expires `ttl` after the last renewal. The
    /// heartbeat is kept between 100 ms and half the TTL; the TTL is at least 1 s.
    pub fn new(heartbeat: Duration, ttl: Duration) -> TtlOption {
        let ttl = ttl.max(Duration::from_secs(1));
        TtlOption {
            heartbeat: heartbeat.clamp(Duration::from_millis(100), ttl / 2),
            ttl,
        }
    }

    /// The renewal interval.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// The lease's TTL.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl Default for TtlOption {
    /// go-kit's defaults: heartbeat 3 s, TTL 10 s.
    fn default() -> Self {
        TtlOption::new(Duration::from_secs(3), Duration::from_secs(10))
    }
}

/// What a [`Registrar`] registers (go-kit's `Service`).
#[derive(Debug, Clone)]
pub struct Service {
    /// The key, e.g. `services/api/10.0.0.7:8080`. Must not be empty.
    pub key: Bytes,
    /// The value, e.g. `10.0.0.7:8080`. Must not be empty.
    pub value: Bytes,
    /// The lease's TTL and heartbeat.
    pub ttl: TtlOption,
}

impl Service {
    /// A service with the default [`TtlOption`].
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Service {
        Service {
            key: key.into(),
            value: value.into(),
            ttl: TtlOption::default(),
        }
    }

    /// With this TTL option.
    pub fn ttl(mut self, ttl: TtlOption) -> Service {
        self.ttl = ttl;
        self
    }
}

/// Registers one [`Service`] and keeps it registered. See the [module docs](super).
///
/// **Drop** stops the renewals; the key expires with its lease after the TTL.
/// [`deregister`](Registrar::deregister) removes it at once.
pub struct Registrar {
    client: Arc<dyn KitClient>,
    service: Service,
    registrant: Mutex<Option<Registrant>>,
}

impl Registrar {
    /// A registrar of `service` through `client` (an [`etcdkit::Client`], a
    /// [`MemoryClient`](super::MemoryClient), or any other [`KitClient`]). Nothing is
    /// written until [`register`](Self::register).
    pub fn new<C: KitClient + Clone>(client: &C, service: Service) -> Registrar {
        Registrar::with_client(Arc::new(client.clone()), service)
    }

    /// A registrar of `service` through a shared client.
    pub fn with_client(client: Arc<dyn KitClient>, service: Service) -> Registrar {
        Registrar {
            client,
            service,
            registrant: Mutex::new(None),
        }
    }

    /// Starts the registration in the background and returns a view of it (call
    /// [`Registration::registered`] to wait until the key is written). Registering again
    /// while registered returns the running registration. An empty key or value is
    /// refused ([`Error::NoKey`], [`Error::NoValue`]).
    ///
    /// # Errors
    ///
    /// [`Error::NoKey`] or [`Error::NoValue`] for an empty key or value; nothing is sent
    /// yet (a failed write is retried in the background and shown by the [`Registration`]).
    pub fn register(&self) -> Result<Registration, Error> {
        check(&self.service)?;
        let mut slot = match self.registrant.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(running) = slot.as_ref() {
            return Ok(running.view().clone());
        }
        let registrant = self.client.register(&self.service)?;
        let view = registrant.view().clone();
        *slot = Some(registrant);
        Ok(view)
    }

    /// Stops renewing and revokes the lease: the key is deleted at once. Does nothing
    /// when not registered.
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] when the revoke fails (the lease then expires after its TTL).
    pub async fn deregister(&self) -> Result<(), Error> {
        let registrant = match self.registrant.lock() {
            Ok(mut slot) => slot.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        match registrant {
            Some(registrant) => self.client.deregister(registrant).await,
            None => Ok(()),
        }
    }

    /// The service.
    pub fn service(&self) -> &Service {
        &self.service
    }
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("key", &self.service.key)
            .finish()
    }
}
