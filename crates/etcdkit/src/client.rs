//! The client: a cheap handle to a shared connection layer.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::auth::Auth;
use crate::cluster::Cluster;
use crate::election::Election;
use crate::error::{Error, ErrorKind, Result};
use crate::kv::Kv;
use crate::lease::{Lease, Renewer};
use crate::lock::Lock;
use crate::maintenance::Maintenance;
use crate::namespace::Namespace;
use crate::options::ClientOptions;
use crate::transport::{EndpointHealth, HealthEvent, Transport};
use crate::watch::{Hub, Watch};

/// An etcd v3 client.
///
/// Cheap to clone: clones share one connection per endpoint and one set of background
/// tasks. Methods take `&self`.
///
/// **Drop**: dropping the last clone closes the connections and stops the background
/// tasks (endpoint prober, member auto-sync, lease keepalive); it never blocks. A
/// [`KeepAlive`](crate::lease::KeepAlive) handle keeps the connections and the keepalive
/// task running until it is dropped too. Running [`Watcher`](crate::watch::Watcher)s
/// likewise keep their shared watch stream (and the connections it needs).
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    namespace: Namespace,
    watch_hub: Arc<Hub>,
    renewer: Arc<Renewer>,
}

impl Client {
    /// Connects to these endpoints with default [`ClientOptions`].
    ///
    /// # Errors
    ///
    /// As [`ClientOptions::connect`]:
    /// [`ErrorKind::InvalidEndpoint`](crate::ErrorKind::InvalidEndpoint) for an endpoint
    /// that does not parse; [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) when
    /// none answers within the dial timeout.
    pub async fn connect<I, S>(endpoints: I) -> Result<Client>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientOptions::new(endpoints).connect().await
    }

    /// Options for a client of these endpoints.
    pub fn options<I, S>(endpoints: I) -> ClientOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientOptions::new(endpoints)
    }

    pub(crate) async fn connect_with(options: ClientOptions) -> Result<Client> {
        let auto_sync = options.auto_sync_interval;
        let dial_timeout = options.dial_timeout;
        let transport = Transport::new(options)?;
        if let Err(failed) = transport.probe_until_one_answers().await {
            let detail = failed
                .iter()
                .map(|u| format!("{}: {}", u.endpoint, u.why))
                .collect::<Vec<_>>()
                .join("; ");
            // Only when some member answered and every one that did is too old is the
            // version the reason; a silent one among them could still be new enough.
            let error = if !failed.is_empty() && failed.iter().all(|u| u.too_old) {
                Error::new(
                    ErrorKind::MemberTooOld,
                    format!("no endpoint runs a recent enough etcd: {detail}"),
                )
            } else {
                Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "no usable endpoint answered within the dial timeout ({}): {detail}",
                        crate::util::fmt_duration(dial_timeout)
                    ),
                )
            };
            return Err(error.with_operation("connect"));
        }
        if let Some(interval) = auto_sync {
            if let Err(e) = transport.sync_members().await {
                tracing::warn!(error = %e, "initial member sync failed; keeping the given endpoints");
            }
            transport.start_auto_sync(interval);
        }
        transport.start_prober();
        Ok(Client {
            watch_hub: Arc::new(Hub::new(transport.clone())),
            renewer: Renewer::start(transport.clone()),
            transport,
            namespace: Namespace::default(),
        })
    }

    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    pub(crate) fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    /// The keepalive task shared by every lease this client keeps alive.
    pub(crate) fn renewer(&self) -> &Arc<Renewer> {
        &self.renewer
    }

    /// The key-value API.
    pub fn kv(&self) -> Kv {
        Kv {
            client: self.clone(),
        }
    }

    /// The watch API: streams of changes, all sharing one gRPC stream per client.
    pub fn watch(&self) -> Watch {
        Watch {
            client: self.clone(),
        }
    }

    pub(crate) fn watch_hub(&self) -> &Arc<Hub> {
        &self.watch_hub
    }

    /// The lease API.
    pub fn lease(&self) -> Lease {
        Lease {
            client: self.clone(),
        }
    }

    /// The Lock service: locks held under a lease.
    pub fn lock(&self) -> Lock {
        Lock {
            client: self.clone(),
        }
    }

    /// The Election service: campaigns, leaders and their changes.
    pub fn election(&self) -> Election {
        Election {
            client: self.clone(),
        }
    }

    /// The auth administration API (users, roles, permissions).
    pub fn auth(&self) -> Auth {
        Auth {
            client: self.clone(),
        }
    }

    /// The cluster membership API.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            client: self.clone(),
        }
    }

    /// The maintenance API.
    pub fn maintenance(&self) -> Maintenance {
        Maintenance {
            client: self.clone(),
        }
    }

    /// A view of this client in which every key is below `prefix`: keys are prefixed on
    /// the way out and the prefix is stripped on the way back. Namespaces nest.
    pub fn namespaced(&self, prefix: impl Into<Bytes>) -> Client {
        let prefix: Bytes = prefix.into();
        Client {
            transport: self.transport.clone(),
            namespace: self.namespace.join(&prefix),
            watch_hub: self.watch_hub.clone(),
            renewer: self.renewer.clone(),
        }
    }

    /// The namespace prefix of this view (empty for none).
    pub fn namespace_prefix(&self) -> &Bytes {
        self.namespace.prefix()
    }

    /// The endpoints in use, as `scheme://host:port` (after any member sync).
    pub fn endpoints(&self) -> Vec<String> {
        self.transport.endpoints()
    }

    /// What the client knows of each endpoint's health now.
    pub fn endpoint_health(&self) -> Vec<EndpointHealth> {
        self.transport.endpoint_health()
    }

    /// A stream of endpoint health changes from now on. A subscriber that falls behind
    /// gets [`HealthEvent::Lagged`] and then the newer events.
    pub fn health_events(&self) -> impl Stream<Item = HealthEvent> + Send + 'static + use<> {
        BroadcastStream::new(self.transport.health_events()).map(|event| match event {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => HealthEvent::Lagged { missed },
        })
    }

    /// Re-reads the member list now and adopts the members' client URLs.
    ///
    /// # Errors
    ///
    /// the call's own failures ([`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable),
    /// [`ErrorKind::Timeout`](crate::ErrorKind::Timeout), ...) of the member list; the
    /// endpoints are then left as they were.
    pub async fn sync_endpoints(&self) -> Result<()> {
        self.transport.sync_members().await
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Client");
        d.field("endpoints", &self.endpoints());
        if !self.namespace.is_empty() {
            d.field(
                "namespace",
                &crate::util::BytesDebug(self.namespace.prefix()),
            );
        }
        d.finish()
    }
}
