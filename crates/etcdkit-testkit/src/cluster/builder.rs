//! The builder that starts clusters and servers.

use std::path::PathBuf;
use std::time::Duration;

use super::{DEFAULT_MEMBERS, EtcdCluster, EtcdServer};
use crate::root::{self, Root};
use crate::{Error, binary};

/// Default for [`ClusterBuilder::startup_timeout`].
pub(crate) const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start is tried with fresh ports when a port was taken meanwhile.
const START_ATTEMPTS: u32 = 4;

/// Builds and starts an [`EtcdCluster`] (or, through [`ClusterBuilder::start_server`], an
/// [`EtcdServer`]). By value: each setter takes and returns the builder.
///
/// ```no_run
/// # async fn demo() -> Result<(), etcdkit_testkit::Error> {
/// use std::time::Duration;
/// use etcdkit_testkit::EtcdCluster;
///
/// let cluster = EtcdCluster::builder()
///     .members(3)
///     .arg("--auth-token=simple")
///     .startup_timeout(Duration::from_secs(20))
///     .start()
///     .await?;
/// println!("{:?}", cluster.endpoints());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until start() is awaited"]
pub struct ClusterBuilder {
    /// `None`: as many as a kept cluster has, else [`DEFAULT_MEMBERS`].
    pub(super) members: Option<usize>,
    pub(super) etcd_bin: Option<PathBuf>,
    pub(super) data_dir: Option<PathBuf>,
    pub(super) args: Vec<String>,
    pub(super) startup_timeout: Duration,
    pub(super) data_in_tmpfs: bool,
    pub(super) client_tls: Option<ClientTls>,
    pub(super) network_faults: bool,
    /// `None`: as `ETCDKIT_TEST_ETCD` says, for [`ClusterBuilder::start_server`] only.
    pub(super) embedded: Option<bool>,
}

/// TLS for the members' client URLs: they become `https://`, serving this certificate.
///
/// Health checks and metrics stay on a plain-HTTP metrics URL, so the test kit needs no
/// TLS of its own.
#[derive(Debug, Clone)]
pub struct ClientTls {
    /// The server certificate (PEM file); it must name 127.0.0.1 (an IP SAN).
    pub cert_file: PathBuf,
    /// The server certificate's private key (PEM file).
    pub key_file: PathBuf,
    /// The CA that client certificates must chain to, for mutual TLS.
    pub trusted_ca_file: Option<PathBuf>,
    /// Whether clients must present a certificate signed by `trusted_ca_file`.
    pub client_cert_auth: bool,
}

impl Default for ClusterBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClusterBuilder {
    /// A builder for a three-member cluster with the defaults: binary found as described on
    /// [`ClusterBuilder::etcd_bin`], no extra flags, a 30 s startup timeout, data in tmpfs.
    pub fn new() -> Self {
        ClusterBuilder {
            members: None,
            etcd_bin: None,
            data_dir: None,
            args: Vec::new(),
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            data_in_tmpfs: true,
            client_tls: None,
            network_faults: false,
            embedded: None,
        }
    }

    /// Number of members (at least 1; default 3, or 1 from [`EtcdServer::builder`], or
    /// with [`ClusterBuilder::data_dir`] holding a cluster, that cluster's number).
    pub fn members(mut self, n: usize) -> Self {
        self.members = Some(n);
        self
    }

    /// The etcd binary to run: a path, or a bare name looked up in `PATH`.
    ///
    /// Without it, the binary is `$ETCD_BIN` if set, else `etcd` on `PATH`, else
    /// `<workspace>/.etcd/bin/etcd` (where `scripts/install-etcd` puts it). A binary named
    /// here or in `ETCD_BIN` that does not exist gives [`Error::BinaryNotFound`]; there is
    /// no fallback to the other places.
    pub fn etcd_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.etcd_bin = Some(path.into());
        self
    }

    /// One extra flag passed to every member, such as `"--auth-token=simple"` or
    /// `"--metrics=extensive"`. Extra flags come after the test kit's own, so for most
    /// flags they override them (`--log-level=info`, for example).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Several extra flags passed to every member; see [`ClusterBuilder::arg`].
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// How long `start()` (and [`EtcdCluster::restart`]) wait for members to be healthy
    /// (default 30 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = timeout;
        self
    }

    /// Serves the client URLs over TLS (`https://`), optionally requiring client
    /// certificates; see [`ClientTls`].
    pub fn client_tls(mut self, tls: ClientTls) -> Self {
        self.client_tls = Some(tls);
        self
    }

    /// Keeps the members' directories (data, logs) in `dir` instead of a throwaway
    /// directory: created if missing, never removed, and the cluster can be started again
    /// from it with its data.
    ///
    /// - When `dir` holds a cluster the test kit kept there before, that cluster is
    ///   started again: the same members, names, ports and token, on the data they had.
    ///   Asking for another number of members is an [`Error::InvalidConfig`]. Its ports
    ///   must be free: etcd keeps the members' peer URLs in its data, so they cannot
    ///   change.
    /// - Otherwise `dir` must be empty (an [`Error::InvalidConfig`] if not): a new cluster
    ///   is made there, and a file `etcdkit-testkit.cluster` records it. If this first
    ///   start fails (or is dropped before it finishes), what it made in `dir` is removed
    ///   again.
    ///
    /// The directory belongs to one running cluster at a time. Members added with
    /// [`EtcdCluster::new_member`] live in throwaway directories and are not kept.
    /// [`ClusterBuilder::data_in_tmpfs`] does not apply.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Whether data directories go under `/dev/shm` (default `true`). They do only when
    /// `/dev/shm` exists, is writable and has room (256 MiB per member); otherwise they go
    /// to the system temp directory.
    pub fn data_in_tmpfs(mut self, yes: bool) -> Self {
        self.data_in_tmpfs = yes;
        self
    }

    /// Puts every member behind TCP proxies the test kit owns (default `false`), so that
    /// network faults can be injected: [`EtcdCluster::partition`],
    /// [`EtcdCluster::isolate_from_clients`], [`EtcdCluster::blackhole`],
    /// [`EtcdCluster::delay`], healed by [`EtcdCluster::heal`].
    ///
    /// Each member gets a proxy in front of its client port and one in front of its peer
    /// port, and advertises them: [`EtcdCluster::endpoints`] are the client proxies,
    /// `--initial-advertise-peer-urls` and `--initial-cluster` name the peer proxies, so
    /// every client request and raft message passes through a proxy. Health checks and
    /// metrics go straight to the member (its metrics URL), whatever the faults.
    ///
    /// The proxies run as tasks on the tokio runtime that awaits `start()`, which must
    /// therefore keep running while the cluster is used (a `#[tokio::test]` does). They
    /// end with the cluster. Not available with [`ClusterBuilder::data_dir`] (an
    /// [`Error::InvalidConfig`]): etcd keeps the advertised peer URLs in its data, and the
    /// proxies' ports are not kept. Members added with [`EtcdCluster::new_member`] have no
    /// proxies.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), etcdkit_testkit::Error> {
    /// use std::time::Duration;
    /// use etcdkit_testkit::EtcdCluster;
    ///
    /// let cluster = EtcdCluster::builder().members(3).network_faults(true).start().await?;
    /// cluster.partition(0)?; // m0 can neither send nor receive raft messages
    /// // ... the client under test, given cluster.endpoints(), must cope ...
    /// cluster.heal()?;
    /// cluster.delay(1, Duration::from_millis(50), Duration::from_millis(10))?;
    /// # Ok(()) }
    /// ```
    pub fn network_faults(mut self, yes: bool) -> Self {
        self.network_faults = yes;
        self
    }

    /// Whether the server is the embedded `etcdkit-server`, in the test's own process
    /// (`true`), or an etcd process (`false`). Overrides `ETCDKIT_TEST_ETCD`, which
    /// [`ClusterBuilder::start_server`] follows when this is not called (and
    /// [`ClusterBuilder::start`] never does: a cluster is etcd unless this says otherwise).
    ///
    /// Embedded, the server is one member that serves on a free loopback port over plain
    /// HTTP, on the tokio runtime that awaits the start (which must keep running while it
    /// is used, as a `#[tokio::test]`'s does), and stops when dropped. Settings only an
    /// etcd process has are refused at start with [`Error::InvalidConfig`]: more than one
    /// member, [`ClusterBuilder::arg`]/[`ClusterBuilder::args`] other than the flags the
    /// server has a setting for (`--auth-token=simple`, `--auth-token-ttl`,
    /// `--quota-backend-bytes`, `--max-request-bytes`, `--max-txn-ops`: those are taken),
    /// [`ClusterBuilder::etcd_bin`], [`ClusterBuilder::client_tls`],
    /// [`ClusterBuilder::data_dir`] and [`ClusterBuilder::network_faults`].
    /// [`ClusterBuilder::startup_timeout`] and [`ClusterBuilder::data_in_tmpfs`] do not
    /// apply. What the started [`EtcdCluster`] cannot do embedded is listed there
    /// ("Embedded").
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), etcdkit_testkit::Error> {
    /// use etcdkit_testkit::EtcdServer;
    ///
    /// let server = EtcdServer::builder().embedded(true).start_server().await?;
    /// let url = server.endpoint(); // "http://127.0.0.1:PORT", as from etcd
    /// assert!(server.is_embedded());
    /// # Ok(()) }
    /// ```
    pub fn embedded(mut self, yes: bool) -> Self {
        self.embedded = Some(yes);
        self
    }

    /// Starts the members and waits until every one answers `/health` with
    /// `"health":"true"`, at most the startup timeout.
    ///
    /// When a member fails because one of its ports was taken by another process in the
    /// meantime, the whole start is retried with new ports (a few times). On failure, all
    /// processes started are killed and the data directories removed; errors about a
    /// member include the last lines of its log.
    ///
    /// With [`ClusterBuilder::data_dir`] holding a cluster, that cluster is started again
    /// on its own ports, and a port conflict is an error.
    pub async fn start(self) -> Result<EtcdCluster, Error> {
        if self.embedded == Some(true) {
            return self.start_embedded().await;
        }
        let kept = match &self.data_dir {
            Some(dir) => Some(root::open_kept(dir)?),
            None => None,
        };
        let saved_members = kept
            .as_ref()
            .and_then(|(_, saved)| saved.as_ref())
            .map(|saved| saved.members.len());
        let members = self.members.or(saved_members).unwrap_or(DEFAULT_MEMBERS);
        if members == 0 {
            return Err(Error::InvalidConfig {
                reason: "a cluster needs at least one member".to_owned(),
            });
        }
        if let (Some(saved), Some((dir, _))) = (saved_members, &kept)
            && saved != members
        {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "{} holds a {saved}-member cluster, but {members} member(s) were asked for",
                    dir.display()
                ),
            });
        }
        if self.network_faults && self.data_dir.is_some() {
            return Err(Error::InvalidConfig {
                reason: "network faults are not available for a cluster kept in a directory"
                    .to_owned(),
            });
        }
        let bin = binary::resolve(self.etcd_bin.as_deref())?;
        let version = binary::version(&bin).await?;
        if let Some((dir, Some(saved))) = kept {
            let cluster = EtcdCluster::from_saved(&self, bin, version, dir, &saved)?;
            cluster.spawn_all_and_wait().await?;
            return Ok(cluster);
        }
        let kept_dir = kept.map(|(dir, _)| dir);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let root = match &kept_dir {
                Some(dir) => Root::kept_fresh(dir.clone()),
                None => Root::temp(self.data_in_tmpfs, members)?,
            };
            let mut cluster =
                EtcdCluster::prepare(&self, members, bin.clone(), version.clone(), root)?;
            match cluster.spawn_all_and_wait().await {
                Ok(()) => {
                    cluster.root.finished();
                    return Ok(cluster);
                }
                // Retried with new ports; dropping `cluster` kills what it started (and
                // removes what it made in a kept directory).
                Err(Error::Exited { .. } | Error::Unhealthy { .. })
                    if attempt < START_ATTEMPTS && cluster.port_conflict() => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a one-member cluster as an [`EtcdServer`]; see [`ClusterBuilder::start`].
    ///
    /// The server is the embedded `etcdkit-server` when [`ClusterBuilder::embedded`] says
    /// so, or when it was not called and the environment variable `ETCDKIT_TEST_ETCD` is
    /// `embedded` (read now, at each start); an etcd process otherwise.
    ///
    /// Fails with [`Error::InvalidConfig`] if the builder asks for more than one member,
    /// if `ETCDKIT_TEST_ETCD` is neither unset, `real` nor `embedded`, or if an embedded
    /// server is asked for with settings it does not have (see
    /// [`ClusterBuilder::embedded`]).
    pub async fn start_server(mut self) -> Result<EtcdServer, Error> {
        if self.embedded.is_none() {
            self.embedded = Some(crate::embedded_from_env()?);
        }
        let members = self.members.unwrap_or(DEFAULT_MEMBERS);
        if members != 1 {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "a server is a one-member cluster, but {members} members were asked for"
                ),
            });
        }
        Ok(EtcdServer {
            cluster: self.start().await?,
        })
    }
}

impl ClusterBuilder {
    /// [`ClusterBuilder::start`] for an embedded server: refuses what only etcd processes
    /// have, rather than ignoring it.
    async fn start_embedded(self) -> Result<EtcdCluster, Error> {
        let members = self.members.unwrap_or(DEFAULT_MEMBERS);
        let settings =
            crate::embedded::settings_from_flags(&self.args, etcdkit_server::Server::builder());
        let unmapped = settings.as_ref().err().cloned().unwrap_or_default();
        let refused = [
            (members != 1, format!("{members} members")),
            (
                !unmapped.is_empty(),
                format!("etcd flags it has no setting for {unmapped:?}"),
            ),
            (self.etcd_bin.is_some(), "an etcd binary".to_owned()),
            (self.client_tls.is_some(), "client TLS".to_owned()),
            (self.data_dir.is_some(), "a kept data directory".to_owned()),
            (self.network_faults, "network faults".to_owned()),
        ];
        let refused: Vec<String> = refused
            .into_iter()
            .filter_map(|(asked, what)| asked.then_some(what))
            .collect();
        if !refused.is_empty() {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "the embedded etcdkit-server is one member without etcd's process \
                     settings, but {} were asked for (use an etcd process: \
                     ClusterBuilder::embedded(false), or ETCDKIT_TEST_ETCD=real)",
                    refused.join(", ")
                ),
            });
        }
        let settings = settings.unwrap_or_default();
        EtcdCluster::start_embedded(&self, settings).await
    }
}

/// `https` when the client URLs serve TLS, else `http`.
pub(super) fn client_scheme(builder: &ClusterBuilder) -> &'static str {
    if builder.client_tls.is_some() {
        "https"
    } else {
        "http"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_defaults() {
        let b = ClusterBuilder::new();
        assert_eq!(b.members, None);
        assert_eq!(b.data_dir, None);
        assert_eq!(b.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
        assert!(b.data_in_tmpfs);
        assert!(!b.network_faults);
        assert_eq!(b.embedded, None);
        assert_eq!(EtcdServer::builder().members, Some(1));
        let b = b.arg("--a").args(["--b", "--c"]);
        assert_eq!(b.args, ["--a", "--b", "--c"]);
    }
}
