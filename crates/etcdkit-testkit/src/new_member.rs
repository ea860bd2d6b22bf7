//! A member that joins a running cluster (etcd's runtime reconfiguration).

use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::member::{self, MemberProcess, SpawnSpec};
use crate::root::Root;

/// A member that joins a running [`crate::EtcdCluster`], from
/// [`crate::EtcdCluster::new_member`].
///
/// Error values about it carry its index: the number in its name (`m3` is 3).
///
/// # Drop
///
/// Dropping it kills its process (SIGKILL) if running, reaps it and removes its data
/// directory. It never panics. Removing it from the cluster's membership is the test's
/// business.
#[derive(Debug)]
pub struct NewMember {
    /// Dropped before `_root`: the process is reaped before its directory goes.
    proc: MemberProcess,
    spec: SpawnSpec,
    startup_timeout: Duration,
    initial_cluster: String,
    _root: Root,
}

impl NewMember {
    pub(crate) fn new(
        proc: MemberProcess,
        spec: SpawnSpec,
        startup_timeout: Duration,
        initial_cluster: String,
        root: Root,
    ) -> NewMember {
        NewMember {
            proc,
            spec,
            startup_timeout,
            initial_cluster,
            _root: root,
        }
    }

    /// Its name, such as `m3`.
    pub fn name(&self) -> &str {
        &self.proc.member.name
    }

    /// Its peer URL, such as `http://127.0.0.1:43122`: the one to announce in MemberAdd.
    pub fn peer_url(&self) -> String {
        self.proc.member.peer_url()
    }

    /// Its client URL, such as `http://127.0.0.1:43121`.
    pub fn endpoint(&self) -> String {
        self.proc.member.client_url()
    }

    /// The `--initial-cluster` it starts with: the cluster's members and itself.
    pub fn initial_cluster(&self) -> &str {
        &self.initial_cluster
    }

    /// Its data directory (`--data-dir`); removed when it is dropped.
    pub fn data_dir(&self) -> &Path {
        &self.proc.member.data_dir
    }

    /// etcd's log file of this member.
    pub fn log_path(&self) -> &Path {
        &self.proc.member.log_path
    }

    /// Starts the process with `--initial-cluster-state existing` and waits until it
    /// answers `/health` with `"health":"true"` (at most the cluster's startup timeout).
    /// Fails with [`Error::AlreadyRunning`] if it is running.
    pub async fn start(&self) -> Result<(), Error> {
        self.proc
            .spawn(&self.spec, &self.initial_cluster, "existing")?;
        self.wait_healthy(self.startup_timeout).await
    }

    /// Waits until it answers `/health` with `"health":"true"`, at most `timeout`.
    /// Fails early with [`Error::Exited`] if the process ends.
    pub async fn wait_healthy(&self, timeout: Duration) -> Result<(), Error> {
        member::wait_healthy(vec![&self.proc], timeout).await
    }

    /// Whether its process is running.
    pub fn is_running(&self) -> bool {
        self.proc.pid().is_some()
    }

    /// Kills the process with SIGKILL and waits for it to end; nothing if not running.
    pub fn kill(&self) -> Result<(), Error> {
        self.proc.kill()
    }
}
