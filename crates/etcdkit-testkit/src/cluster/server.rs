//! A single etcd server: a one-member cluster with a shorter API.

use std::ops::Deref;

use super::{ClusterBuilder, EtcdCluster};
use crate::Error;

/// A single etcd server (a one-member [`EtcdCluster`]) for tests: an etcd process, or the
/// embedded `etcdkit-server` when `ETCDKIT_TEST_ETCD=embedded` (or
/// [`ClusterBuilder::embedded`]) says so; see the crate docs, "Embedded or real etcd".
///
/// Everything an [`EtcdCluster`] does is reachable through `Deref`, with member index 0:
/// `server.kill(0)`, `server.restart(0).await`, `server.metrics(0).await`, ... The one
/// exception is [`EtcdServer::endpoint`], which takes no index and shadows
/// [`EtcdCluster::endpoint`] (reach that one as `EtcdCluster::endpoint(&server, 0)`).
///
/// # Drop
///
/// As for [`EtcdCluster`]: the process is killed and reaped, the data directory removed.
#[derive(Debug)]
pub struct EtcdServer {
    pub(super) cluster: EtcdCluster,
}

impl EtcdServer {
    /// Starts one etcd member with the default settings and waits until it is healthy; or,
    /// under `ETCDKIT_TEST_ETCD=embedded`, starts the embedded server.
    ///
    /// # Errors
    ///
    /// As for [`ClusterBuilder::start_server`].
    pub async fn start() -> Result<EtcdServer, Error> {
        Self::builder().start_server().await
    }

    /// A builder set to one member; finish it with [`ClusterBuilder::start_server`] (or
    /// [`ClusterBuilder::start`] for an [`EtcdCluster`]).
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::new().members(1)
    }

    /// The client URL, such as `http://127.0.0.1:43121`.
    pub fn endpoint(&self) -> String {
        self.cluster.endpoint(0).unwrap_or_default()
    }

    /// The underlying one-member cluster.
    pub fn into_cluster(self) -> EtcdCluster {
        self.cluster
    }
}

impl Deref for EtcdServer {
    type Target = EtcdCluster;

    fn deref(&self) -> &EtcdCluster {
        &self.cluster
    }
}
