//! [`RegistryBuilder`]: a registry's options on an existing client.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use etcdkit::Client;

use super::{DEFAULT_NAMESPACE, Inner, Registry, ValueFormat};

/// Configures a [`Registry`] on an existing client.
#[derive(Debug, Clone)]
#[must_use = "call build() to make the registry"]
pub struct RegistryBuilder {
    pub(super) client: Client,
    pub(super) namespace: String,
    pub(super) ttl: Duration,
    pub(super) heartbeat: Duration,
    pub(super) format: ValueFormat,
    pub(super) timeout: Duration,
}

impl RegistryBuilder {
    /// The default options: TTL 10 s, heartbeat 5 s, timeout 5 s, the default
    /// namespace, the document as the value.
    pub(super) fn new(client: Client) -> RegistryBuilder {
        RegistryBuilder {
            client,
            namespace: DEFAULT_NAMESPACE.to_owned(),
            ttl: Duration::from_secs(10),
            heartbeat: Duration::from_secs(5),
            format: ValueFormat::Document,
            timeout: Duration::from_secs(5),
        }
    }

    /// The namespace (default [`DEFAULT_NAMESPACE`]); slashes around it are ignored.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into().trim_matches('/').to_owned();
        self
    }

    /// The lease TTL of joined instances (default 10 s, at least 1 s).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How often leases are renewed (default 5 s; at most half the TTL).
    pub fn heartbeat(mut self, heartbeat: Duration) -> Self {
        self.heartbeat = heartbeat;
        self
    }

    /// How instances are written (default [`ValueFormat::Document`]).
    pub fn format(mut self, format: ValueFormat) -> Self {
        self.format = format;
        self
    }

    /// How long `join` and the first lookup of a name wait for etcd (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Makes the registry.
    pub fn build(self) -> Registry {
        let namespace = if self.namespace.is_empty() {
            DEFAULT_NAMESPACE.to_owned()
        } else {
            self.namespace
        };
        let heartbeat = self
            .heartbeat
            .clamp(Duration::from_millis(100), self.ttl / 2);
        Registry {
            inner: Arc::new(Inner {
                settings: RegistryBuilder {
                    namespace: format!("{namespace}/"),
                    heartbeat,
                    ..self
                },
                joined: Mutex::new(BTreeMap::new()),
                caches: Mutex::new(HashMap::new()),
            }),
        }
    }
}
