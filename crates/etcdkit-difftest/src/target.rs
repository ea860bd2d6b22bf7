//! The two endpoints a run compares: the reference (always real etcd) and the candidate.
//!
//! Two candidates: [`start_candidate`], a second real etcd, so a run proves the harness
//! itself deterministic (two fresh etcds given the same operations must answer alike, and
//! any difference is a harness bug); and [`start_embedded`], etcdkit's in-process server,
//! which a run proves etcd-compatible.

use std::any::Any;

/// A failure to start an endpoint.
pub type StartError = Box<dyn std::error::Error + Send + Sync>;

/// A running endpoint, and whatever keeps it running (dropped with it).
pub struct Target {
    name: String,
    endpoint: String,
    _keep: Box<dyn Any + Send + Sync>,
}

impl Target {
    /// An endpoint named `name` (for reports) at `endpoint`, kept running by `keep`.
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        keep: impl Any + Send + Sync,
    ) -> Target {
        Target {
            name: name.into(),
            endpoint: endpoint.into(),
            _keep: Box::new(keep),
        }
    }

    /// What it is, for reports.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client URL.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// A fresh single-member etcd started by the test kit.
///
/// # Errors
///
/// When etcd cannot be found or does not become healthy.
pub async fn real_etcd(name: &str) -> Result<Target, StartError> {
    let server = etcdkit_testkit::EtcdServer::start().await?;
    let version = server
        .etcd_version()
        .map(|v| format!(" {v}"))
        .unwrap_or_default();
    Ok(Target::new(
        format!("{name} (etcd{version})"),
        server.endpoint(),
        server,
    ))
}

/// The reference: real etcd, always.
///
/// # Errors
///
/// As [`real_etcd`].
pub async fn start_reference() -> Result<Target, StartError> {
    real_etcd("reference").await
}

/// A second real etcd, to prove the harness deterministic.
///
/// # Errors
///
/// When the candidate does not start.
pub async fn start_candidate() -> Result<Target, StartError> {
    real_etcd("candidate").await
}

/// etcdkit's in-process server (`etcdkit-server`), on a loopback port.
///
/// # Errors
///
/// When it cannot bind a port.
pub async fn start_embedded() -> Result<Target, StartError> {
    // The test kit's etcd runs with a 100 ms election timeout, which makes its shortest
    // lease TTL 1 s; the server's default is etcd's default, 2 s.
    let server = etcdkit_server::Server::builder()
        .min_lease_ttl(std::time::Duration::from_secs(1))
        .start()
        .await?;
    Ok(Target::new("etcdkit-server", server.url(), server))
}
