//! Clusters of real etcd processes on loopback: the cluster type with its accessors and
//! faults. The builder, the making of members and the single server live beside it.

mod builder;
mod faults;
mod server;
mod setup;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

pub use builder::{ClientTls, ClusterBuilder};
pub use server::EtcdServer;

use crate::embedded::Embedded;
use crate::health::{MemberHealth, probe};
use crate::member::{self, Member, MemberProcess, SpawnSpec};
use crate::new_member::NewMember;
use crate::proxy::Network;
use crate::root::Root;
use crate::{Error, EtcdVersion, http, ports};

/// How long `GET /metrics` may take.
const METRICS_TIMEOUT: Duration = Duration::from_secs(10);
/// Members of a cluster when the builder is not told.
const DEFAULT_MEMBERS: usize = 3;
/// Pause between looks at members that were asked to shut down.
const SHUTDOWN_POLL: Duration = Duration::from_millis(20);

/// A cluster of real etcd processes on 127.0.0.1, each member with its own client and peer
/// port and its own data directory, for tests.
///
/// All methods take `&self`, so a cluster can be shared (in an `Arc`) between a task that
/// injects faults and tasks that use it. Members are named `m0`, `m1`, ... and indexed from 0.
///
/// Each member runs with `--heartbeat-interval 10 --election-timeout 100 --log-level error
/// --logger zap`, logs to `etcd.log` beside its data directory, and inherits no `ETCD_*`
/// environment variable (only `ETCD_UNSUPPORTED_ARCH` is set where etcd needs it).
///
/// # Embedded
///
/// Started with [`ClusterBuilder::embedded`] (or as an [`EtcdServer`] under
/// `ETCDKIT_TEST_ETCD=embedded`), the "cluster" is one embedded `etcdkit-server` in this
/// process ([`EtcdCluster::is_embedded`]). Then [`EtcdCluster::endpoint`],
/// [`EtcdCluster::endpoints`], [`EtcdCluster::direct_endpoint`] and
/// [`EtcdCluster::name`] (`m0`) answer as for etcd; [`EtcdCluster::len`] is 1;
/// [`EtcdCluster::etcd_version`] is the etcd version whose API the server answers as;
/// health checks and waits answer healthy at once (it serves from its start to its
/// drop, and [`EtcdCluster::is_running`] says so for member 0); there is no process
/// ([`EtcdCluster::pid`] is `None`), no etcd binary or cluster token (empty), and
/// [`EtcdCluster::root_dir`] is an empty throwaway directory. Everything that needs an
/// etcd process fails with [`Error::EmbeddedUnsupported`]: kill, stop, resume,
/// start_member, restart, shutdown, metrics, new_member, peer URL, data directory, log
/// file and network faults. Other indexes than 0 are [`Error::NoSuchMember`].
///
/// # Drop
///
/// Dropping the cluster kills every member process still running (frozen ones too) with
/// SIGKILL, waits for each to end, and removes the data directories (unless they were
/// given with [`ClusterBuilder::data_dir`]). It never panics. If the test process dies
/// without running destructors (an abort), the members are left running;
/// [`EtcdCluster::shutdown`] stops them gently beforehand. An embedded server stops
/// serving on drop (without waiting for its connections).
#[derive(Debug)]
pub struct EtcdCluster {
    spec: SpawnSpec,
    version: Option<EtcdVersion>,
    startup_timeout: Duration,
    /// Dropped before `root`: the processes are killed and reaped (their Drop) before
    /// their directories go.
    procs: Vec<MemberProcess>,
    /// How many members [`EtcdCluster::new_member`] has made (for their names).
    new_members: AtomicU64,
    data_in_tmpfs: bool,
    /// The proxies, when started with [`ClusterBuilder::network_faults`].
    network: Option<Network>,
    /// The server, when it is embedded (then `procs` is empty).
    embedded: Option<Embedded>,
    // Last field: removed (unless kept) after the processes are reaped.
    root: Root,
}

impl EtcdCluster {
    /// Starts a cluster of `members` members with the default settings and waits until all
    /// are healthy; see [`ClusterBuilder::start`].
    pub async fn start(members: usize) -> Result<EtcdCluster, Error> {
        ClusterBuilder::new().members(members).start().await
    }

    /// A builder for a cluster (three members unless told otherwise).
    pub fn builder() -> ClusterBuilder {
        ClusterBuilder::new()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        if self.embedded.is_some() {
            return 1;
        }
        self.procs.len()
    }

    /// Always `false`: a cluster has at least one member. (Here for clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Client URLs of all members, such as `http://127.0.0.1:43121`, in member order: the
    /// URLs the members advertise, which are their client proxies' when the cluster was
    /// started with [`ClusterBuilder::network_faults`].
    pub fn endpoints(&self) -> Vec<String> {
        if let Some(server) = &self.embedded {
            return vec![server.url()];
        }
        self.procs.iter().map(|p| p.member.client_url()).collect()
    }

    /// Client URL of member `i`, such as `http://127.0.0.1:43121` (its client proxy's
    /// with [`ClusterBuilder::network_faults`]; see [`EtcdCluster::direct_endpoint`]).
    pub fn endpoint(&self, i: usize) -> Result<String, Error> {
        if let Some(server) = self.embedded_member(i)? {
            return Ok(server.url());
        }
        Ok(self.member(i)?.client_url())
    }

    /// Peer URL of member `i`, such as `http://127.0.0.1:43122`, as it advertises it (its
    /// peer proxy's with [`ClusterBuilder::network_faults`]).
    pub fn peer_url(&self, i: usize) -> Result<String, Error> {
        self.process_only(i, "a peer URL")?;
        Ok(self.member(i)?.peer_url())
    }

    /// Name of member `i` (`m0`, `m1`, ...), as etcd knows it.
    pub fn name(&self, i: usize) -> Result<String, Error> {
        if let Some(server) = self.embedded_member(i)? {
            return Ok(server.name().to_owned());
        }
        Ok(self.member(i)?.name.clone())
    }

    /// Data directory of member `i` (`--data-dir`). It survives kills and restarts, and is
    /// removed when the cluster is dropped (unless kept with [`ClusterBuilder::data_dir`]).
    pub fn data_dir(&self, i: usize) -> Result<PathBuf, Error> {
        self.process_only(i, "a data directory")?;
        Ok(self.member(i)?.data_dir.clone())
    }

    /// etcd's log file of member `i` (`--log-outputs`); restarts append to it.
    pub fn log_path(&self, i: usize) -> Result<PathBuf, Error> {
        self.process_only(i, "a log file")?;
        Ok(self.member(i)?.log_path.clone())
    }

    /// The directory that holds every member's directory; removed on drop, unless it was
    /// given with [`ClusterBuilder::data_dir`].
    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }

    /// The `--initial-cluster-token`, unique to this cluster.
    pub fn token(&self) -> &str {
        &self.spec.token
    }

    /// The etcd binary the members run.
    pub fn etcd_bin(&self) -> &Path {
        &self.spec.bin
    }

    /// The etcd version, as `etcd --version` printed it (if it did). Tests whose expected
    /// behaviour differs between releases branch on it.
    pub fn etcd_version(&self) -> Option<&EtcdVersion> {
        self.version.as_ref()
    }

    /// Process id of member `i`, if its process is running (a frozen process counts as
    /// running).
    pub fn pid(&self, i: usize) -> Option<u32> {
        // Embedded: `procs` is empty, so `None`.
        self.procs.get(i)?.pid()
    }

    /// Whether member `i`'s process is running (a frozen process counts as running).
    pub fn is_running(&self, i: usize) -> bool {
        if self.embedded.is_some() {
            return i == 0;
        }
        self.pid(i).is_some()
    }

    /// Kills member `i` with SIGKILL and waits for the process to end (which after SIGKILL
    /// is immediate). Its data directory and ports are kept for
    /// [`EtcdCluster::start_member`] or [`EtcdCluster::restart`]. Does nothing if the
    /// member is not running.
    pub fn kill(&self, i: usize) -> Result<(), Error> {
        self.process_only(i, "kill")?;
        self.proc(i)?.kill()
    }

    /// Freezes member `i` with SIGSTOP: the process keeps its sockets but answers nothing,
    /// like a hung or partitioned machine. [`EtcdCluster::resume`] thaws it.
    ///
    /// Returns once every thread of the process has stopped (the kernel stops threads
    /// asynchronously, usually within a millisecond; at most 5 s are waited, polling
    /// without blocking the runtime), so a request sent afterwards is certainly not
    /// answered.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`] if the member's process does not run (or ends meanwhile),
    /// [`Error::Signal`] if the signal cannot be sent or the process does not stop in time.
    pub async fn stop(&self, i: usize) -> Result<(), Error> {
        self.process_only(i, "stop (SIGSTOP)")?;
        self.proc(i)?.stop().await
    }

    /// Thaws a member frozen by [`EtcdCluster::stop`] (SIGCONT). Harmless on a member that
    /// is not frozen.
    pub fn resume(&self, i: usize) -> Result<(), Error> {
        self.process_only(i, "resume (SIGCONT)")?;
        self.proc(i)?.signal(Signal::SIGCONT, "SIGCONT")
    }

    /// Starts member `i` again after a kill (or an exit), with the same name, data
    /// directory and ports, without waiting for it to be healthy. Fails with
    /// [`Error::AlreadyRunning`] if its process is still running.
    pub async fn start_member(&self, i: usize) -> Result<(), Error> {
        self.process_only(i, "start_member")?;
        self.spawn(i)
    }

    /// Kills member `i` if it is running (frozen or not), starts it again with the same
    /// name, data directory and ports, and waits until it is healthy (at most the
    /// builder's startup timeout).
    pub async fn restart(&self, i: usize) -> Result<(), Error> {
        self.process_only(i, "restart")?;
        self.kill(i)?;
        self.spawn(i)?;
        self.wait_healthy(i, self.startup_timeout).await
    }

    /// Probes member `i`'s `/health` once, waiting at most `timeout` for an answer.
    /// `Ok(false)` means not healthy (no answer in time, refused, or `"health":"false"`).
    pub async fn is_healthy(&self, i: usize, timeout: Duration) -> Result<bool, Error> {
        if self.embedded_member(i)?.is_some() {
            return Ok(true);
        }
        let port = self.member(i)?.metrics_port;
        Ok(probe(port, timeout).await.is_ok())
    }

    /// Looks at member `i` once: whether its process runs (and if not, why), and if it
    /// does, what `/health` answers within `timeout`. Unlike
    /// [`EtcdCluster::is_healthy`], this tells a crashed member from a slow one, for
    /// reporting.
    pub async fn member_health(&self, i: usize, timeout: Duration) -> Result<MemberHealth, Error> {
        if self.embedded_member(i)?.is_some() {
            return Ok(MemberHealth::Healthy);
        }
        let proc = self.proc(i)?;
        if let Some(down) = proc.process_down()? {
            return Ok(down);
        }
        let probed = probe(proc.member.metrics_port, timeout).await;
        // Looked at again: a process that died during the probe is reported as such, not
        // as a refused connection.
        if let Some(down) = proc.process_down()? {
            return Ok(down);
        }
        Ok(match probed {
            Ok(()) => MemberHealth::Healthy,
            Err(reason) => MemberHealth::Unhealthy { reason },
        })
    }

    /// Stops every member gently, as an operator would, one at a time: SIGTERM (with
    /// SIGCONT, so that a frozen member can act on it), up to `grace` for it to exit,
    /// then SIGKILL if it is still running. Returns once every process has ended.
    ///
    /// One at a time because a leader that is asked to stop first hands leadership over
    /// to another member, which is quick only if that member is not stopping too
    /// (stopping them all at once made etcd 3.5 take seconds).
    ///
    /// Data directories stay (until drop, or for good with [`ClusterBuilder::data_dir`]);
    /// members can be started again with [`EtcdCluster::start_member`]. Members already
    /// stopped are skipped. On errors, every member is still seen to; the first error is
    /// returned.
    pub async fn shutdown(&self, grace: Duration) -> Result<(), Error> {
        self.process_only(0, "shutdown")?;
        let mut first_error = None;
        for i in 0..self.len() {
            if let Err(e) = self.shutdown_member(i, grace).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// [`EtcdCluster::shutdown`] for member `i`.
    async fn shutdown_member(&self, i: usize, grace: Duration) -> Result<(), Error> {
        let proc = self.proc(i)?;
        let mut signalled = Ok(());
        for (signal, name) in [(Signal::SIGTERM, "SIGTERM"), (Signal::SIGCONT, "SIGCONT")] {
            match proc.signal(signal, name) {
                // A member that has ended meanwhile needs no signal.
                Ok(()) | Err(Error::NotRunning { .. }) => {}
                Err(e) => {
                    signalled = Err(e);
                    break;
                }
            }
        }
        let deadline = Instant::now() + grace;
        while signalled.is_ok() && proc.pid().is_some() && Instant::now() < deadline {
            tokio::time::sleep(SHUTDOWN_POLL).await;
        }
        // Ends what ignored SIGTERM; reaps what exited, so no zombie is left.
        proc.kill()?;
        signalled
    }

    /// Waits until member `i` answers `/health` with `"health":"true"`, at most `timeout`.
    ///
    /// Fails early with [`Error::Exited`] if the process ends, or [`Error::NotRunning`] if
    /// it was not running to begin with; with [`Error::Unhealthy`] on timeout.
    pub async fn wait_healthy(&self, i: usize, timeout: Duration) -> Result<(), Error> {
        if self.embedded_member(i)?.is_some() {
            return Ok(());
        }
        member::wait_healthy(vec![self.proc(i)?], timeout).await
    }

    /// Waits until every member answers `/health` with `"health":"true"`, at most
    /// `timeout` in all; see [`EtcdCluster::wait_healthy`].
    pub async fn wait_all_healthy(&self, timeout: Duration) -> Result<(), Error> {
        if self.embedded.is_some() {
            return Ok(());
        }
        member::wait_healthy(self.procs.iter().collect(), timeout).await
    }

    /// The Prometheus text of member `i`'s `GET /metrics`.
    pub async fn metrics(&self, i: usize) -> Result<String, Error> {
        self.process_only(i, "metrics")?;
        let port = self.member(i)?.metrics_port;
        let path = "/metrics";
        let request_error = |source| Error::Request {
            member: i,
            path: path.to_owned(),
            source,
        };
        let response = http::get(port, path, METRICS_TIMEOUT)
            .await
            .map_err(request_error)?;
        if response.status != 200 {
            return Err(request_error(std::io::Error::other(format!(
                "HTTP status {}",
                response.status
            ))));
        }
        Ok(String::from_utf8_lossy(&response.body).into_owned())
    }

    /// Prepares a member that will join this running cluster (etcd's runtime
    /// reconfiguration): picks its name (`m3`, `m4`, ... after the cluster's own members),
    /// ports and data directory, and starts nothing.
    ///
    /// Announce it to the cluster first (etcd's MemberAdd, with [`NewMember::peer_url`],
    /// as a learner or a voting member), then call [`NewMember::start`]: it runs with
    /// `--initial-cluster-state existing` and an initial cluster made of this cluster's
    /// members (as the test kit started them) and the new one, with the cluster's extra
    /// flags and client TLS.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), etcdkit_testkit::Error> {
    /// use std::time::Duration;
    /// let cluster = etcdkit_testkit::EtcdCluster::start(3).await?;
    /// let member = cluster.new_member()?;
    /// // ... MemberAdd [member.peer_url()] as a learner, with the client under test ...
    /// member.start().await?;
    /// # Ok(()) }
    /// ```
    pub fn new_member(&self) -> Result<NewMember, Error> {
        self.process_only(0, "new_member")?;
        let seq = self.new_members.fetch_add(1, Ordering::Relaxed);
        let index = self
            .len()
            .saturating_add(usize::try_from(seq).unwrap_or(usize::MAX));
        let root = Root::temp(self.data_in_tmpfs, 1)?;
        let ports = ports::free_ports(3)?;
        let [client_port, peer_port, metrics_port] = ports[..] else {
            return Err(Error::io(
                "cannot pick ports",
                std::io::Error::other("too few free ports"),
            ));
        };
        let name = format!("m{index}");
        let dir = root.path().join(&name);
        std::fs::create_dir(&dir)
            .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        let member = Member {
            data_dir: dir.join("data"),
            log_path: dir.join("etcd.log"),
            stderr_path: dir.join("stderr.log"),
            name,
            client_port,
            peer_port,
            metrics_port,
            proxy_client_port: None,
            proxy_peer_port: None,
            client_scheme: if self.spec.client_tls.is_some() {
                "https"
            } else {
                "http"
            },
        };
        let initial_cluster = self
            .procs
            .iter()
            .map(|p| &p.member)
            .chain(std::iter::once(&member))
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        Ok(NewMember::new(
            MemberProcess::new(index, member),
            self.spec.clone(),
            self.startup_timeout,
            initial_cluster,
            root,
        ))
    }

    /// Whether the server is the embedded `etcdkit-server` rather than etcd processes
    /// (see [`ClusterBuilder::embedded`]).
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The embedded server when there is one and `i` is its index (0);
    /// [`Error::NoSuchMember`] for another index.
    fn embedded_member(&self, i: usize) -> Result<Option<&Embedded>, Error> {
        match &self.embedded {
            Some(_) if i != 0 => Err(Error::NoSuchMember { member: i, len: 1 }),
            embedded => Ok(embedded.as_ref()),
        }
    }

    /// [`Error::EmbeddedUnsupported`] when the server is embedded (with a valid index):
    /// for what only an etcd process has.
    fn process_only(&self, i: usize, operation: &'static str) -> Result<(), Error> {
        match self.embedded_member(i)? {
            Some(_) => Err(Error::EmbeddedUnsupported { operation }),
            None => Ok(()),
        }
    }

    fn proc(&self, i: usize) -> Result<&MemberProcess, Error> {
        self.procs.get(i).ok_or(Error::NoSuchMember {
            member: i,
            len: self.procs.len(),
        })
    }

    fn member(&self, i: usize) -> Result<&Member, Error> {
        Ok(&self.proc(i)?.member)
    }

    /// Spawns member `i` unless it is running.
    fn spawn(&self, i: usize) -> Result<(), Error> {
        let initial_cluster = self
            .procs
            .iter()
            .map(|p| format!("{}={}", p.member.name, p.member.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        self.proc(i)?.spawn(&self.spec, &initial_cluster, "new")
    }
}
