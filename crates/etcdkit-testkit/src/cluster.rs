//! Clusters of real etcd processes on loopback.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};
use nix::unistd::Pid;

use crate::health::{MemberHealth, probe};
use crate::root::{self, Root};
use crate::saved::{self, SavedCluster, SavedMember};
use crate::{Error, EtcdVersion, binary, http, ports};

/// Default for [`ClusterBuilder::startup_timeout`].
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How many times a start is tried with fresh ports when a port was taken meanwhile.
const START_ATTEMPTS: u32 = 4;
/// Longest single `/health` probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for a SIGSTOPped process to be stopped.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between health probes.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// How long `GET /metrics` may take.
const METRICS_TIMEOUT: Duration = Duration::from_secs(10);
/// How many lines of each log file go into an error.
const LOG_TAIL_LINES: usize = 20;
/// Written to a member's stdout/stderr file before each start.
const START_MARKER: &str = "--- etcdkit-testkit: starting";
/// Members of a cluster when the builder is not told.
const DEFAULT_MEMBERS: usize = 3;
/// Pause between looks at members that were asked to shut down.
const SHUTDOWN_POLL: Duration = Duration::from_millis(20);

/// Counter that makes each cluster token unique within the process.
static CLUSTER_SEQ: AtomicU64 = AtomicU64::new(0);

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
    members: Option<usize>,
    etcd_bin: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    args: Vec<String>,
    startup_timeout: Duration,
    data_in_tmpfs: bool,
    client_tls: Option<ClientTls>,
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
    /// Fails with [`Error::InvalidConfig`] if the builder asks for more than one member.
    pub async fn start_server(self) -> Result<EtcdServer, Error> {
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

/// Fixed facts about one member.
#[derive(Debug)]
struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    /// Plain-HTTP port for `/health` and `/metrics`, whatever the client URLs are.
    metrics_port: u16,
    client_scheme: &'static str,
    data_dir: PathBuf,
    log_path: PathBuf,
    stderr_path: PathBuf,
}

impl Member {
    /// A member whose directory is `root/name`.
    fn new(root: &Path, saved: SavedMember, client_scheme: &'static str) -> Member {
        let dir = root.join(&saved.name);
        Member {
            data_dir: dir.join("data"),
            log_path: dir.join("etcd.log"),
            stderr_path: dir.join("stderr.log"),
            name: saved.name,
            client_port: saved.client_port,
            peer_port: saved.peer_port,
            metrics_port: saved.metrics_port,
            client_scheme,
        }
    }

    /// The member's own directory, which holds its data directory and logs.
    fn dir(&self) -> Option<&Path> {
        self.data_dir.parent()
    }

    fn saved(&self) -> SavedMember {
        SavedMember {
            name: self.name.clone(),
            client_port: self.client_port,
            peer_port: self.peer_port,
            metrics_port: self.metrics_port,
        }
    }

    fn client_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.client_scheme, self.client_port)
    }

    fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.metrics_port)
    }

    fn peer_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer_port)
    }
}

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
/// # Drop
///
/// Dropping the cluster kills every member process still running (frozen ones too) with
/// SIGKILL, waits for each to end, and removes the data directories (unless they were
/// given with [`ClusterBuilder::data_dir`]). It never panics. If the test process dies
/// without running destructors (an abort), the members are left running;
/// [`EtcdCluster::shutdown`] stops them gently beforehand.
#[derive(Debug)]
pub struct EtcdCluster {
    bin: PathBuf,
    version: Option<EtcdVersion>,
    token: String,
    args: Vec<String>,
    client_tls: Option<ClientTls>,
    startup_timeout: Duration,
    members: Vec<Member>,
    procs: Vec<Mutex<Option<Child>>>,
    /// How many members [`EtcdCluster::new_member`] has made (for their names).
    new_members: AtomicU64,
    data_in_tmpfs: bool,
    // Last field: removed (unless kept) after Drop::drop has reaped the processes.
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

    /// Picks ports and creates the member directories in `root` (recording the cluster
    /// there when `root` is kept); spawns nothing.
    fn prepare(
        builder: &ClusterBuilder,
        n: usize,
        bin: PathBuf,
        version: Option<EtcdVersion>,
        mut root: Root,
    ) -> Result<EtcdCluster, Error> {
        let ports = ports::free_ports(n.saturating_mul(3))?;
        let mut members = Vec::with_capacity(n);
        let scheme = client_scheme(builder);
        for (i, triple) in ports.chunks(3).enumerate() {
            let [client_port, peer_port, metrics_port] = *triple else {
                return Err(Error::io(
                    "cannot pick ports",
                    std::io::Error::other("too few free ports"),
                ));
            };
            let saved = SavedMember {
                name: format!("m{i}"),
                client_port,
                peer_port,
                metrics_port,
            };
            let member = Member::new(root.path(), saved, scheme);
            if let Some(dir) = member.dir() {
                std::fs::create_dir(dir)
                    .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                root.created(dir.to_path_buf());
            }
            members.push(member);
        }
        let seq = CLUSTER_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let token = format!("etcdkit-testkit-{}-{seq}-{nanos}", std::process::id());
        if root.is_kept() {
            let record = SavedCluster {
                token: token.clone(),
                members: members.iter().map(Member::saved).collect(),
            };
            // Recorded before it is done, so that a failed save leaves nothing behind.
            root.created(saved::path(root.path()));
            saved::save(root.path(), &record)?;
        }
        Ok(Self::assemble(builder, bin, version, token, members, root))
    }

    /// The cluster kept in `dir` as `saved` describes it; spawns nothing.
    fn from_saved(
        builder: &ClusterBuilder,
        bin: PathBuf,
        version: Option<EtcdVersion>,
        dir: PathBuf,
        saved: &SavedCluster,
    ) -> Result<EtcdCluster, Error> {
        let scheme = client_scheme(builder);
        let members: Vec<Member> = saved
            .members
            .iter()
            .map(|m| Member::new(&dir, m.clone(), scheme))
            .collect();
        // Keeps this process's other clusters off these ports.
        ports::reserve(
            members
                .iter()
                .flat_map(|m| [m.client_port, m.peer_port, m.metrics_port]),
        );
        for dir in members.iter().filter_map(Member::dir) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        }
        let root = Root::kept_existing(dir);
        let token = saved.token.clone();
        Ok(Self::assemble(builder, bin, version, token, members, root))
    }

    fn assemble(
        builder: &ClusterBuilder,
        bin: PathBuf,
        version: Option<EtcdVersion>,
        token: String,
        members: Vec<Member>,
        root: Root,
    ) -> EtcdCluster {
        EtcdCluster {
            bin,
            version,
            token,
            args: builder.args.clone(),
            client_tls: builder.client_tls.clone(),
            startup_timeout: builder.startup_timeout,
            procs: members.iter().map(|_| Mutex::new(None)).collect(),
            new_members: AtomicU64::new(0),
            data_in_tmpfs: builder.data_in_tmpfs,
            members,
            root,
        }
    }

    /// Spawns every member and waits until all are healthy (the startup timeout).
    async fn spawn_all_and_wait(&self) -> Result<(), Error> {
        (0..self.len()).try_for_each(|i| self.spawn(i))?;
        self.wait_all_healthy(self.startup_timeout).await
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always `false`: a cluster has at least one member. (Here for clippy's `len` rule.)
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Client URLs of all members, such as `http://127.0.0.1:43121`, in member order.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(Member::client_url).collect()
    }

    /// Client URL of member `i`, such as `http://127.0.0.1:43121`.
    pub fn endpoint(&self, i: usize) -> Result<String, Error> {
        Ok(self.member(i)?.client_url())
    }

    /// Peer URL of member `i`, such as `http://127.0.0.1:43122`.
    pub fn peer_url(&self, i: usize) -> Result<String, Error> {
        Ok(self.member(i)?.peer_url())
    }

    /// Name of member `i` (`m0`, `m1`, ...), as etcd knows it.
    pub fn name(&self, i: usize) -> Result<String, Error> {
        Ok(self.member(i)?.name.clone())
    }

    /// Data directory of member `i` (`--data-dir`). It survives kills and restarts, and is
    /// removed when the cluster is dropped (unless kept with [`ClusterBuilder::data_dir`]).
    pub fn data_dir(&self, i: usize) -> Result<PathBuf, Error> {
        Ok(self.member(i)?.data_dir.clone())
    }

    /// etcd's log file of member `i` (`--log-outputs`); restarts append to it.
    pub fn log_path(&self, i: usize) -> Result<PathBuf, Error> {
        Ok(self.member(i)?.log_path.clone())
    }

    /// The directory that holds every member's directory; removed on drop, unless it was
    /// given with [`ClusterBuilder::data_dir`].
    pub fn root_dir(&self) -> &Path {
        self.root.path()
    }

    /// The `--initial-cluster-token`, unique to this cluster.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The etcd binary the members run.
    pub fn etcd_bin(&self) -> &Path {
        &self.bin
    }

    /// The etcd version, as `etcd --version` printed it (if it did). Tests whose expected
    /// behaviour differs between releases branch on it.
    pub fn etcd_version(&self) -> Option<&EtcdVersion> {
        self.version.as_ref()
    }

    /// Process id of member `i`, if its process is running (a frozen process counts as
    /// running).
    pub fn pid(&self, i: usize) -> Option<u32> {
        let mut slot = self.slot(i).ok()?;
        let child = slot.as_mut()?;
        matches!(child.try_wait(), Ok(None)).then(|| child.id())
    }

    /// Whether member `i`'s process is running (a frozen process counts as running).
    pub fn is_running(&self, i: usize) -> bool {
        self.pid(i).is_some()
    }

    /// Kills member `i` with SIGKILL and waits for the process to end. Its data directory
    /// and ports are kept for [`EtcdCluster::start_member`] or [`EtcdCluster::restart`].
    /// Does nothing if the member is not running.
    pub fn kill(&self, i: usize) -> Result<(), Error> {
        let mut slot = self.slot(i)?;
        let Some(mut child) = slot.take() else {
            return Ok(());
        };
        if let Ok(Some(_)) = child.try_wait() {
            return Ok(());
        }
        if let Err(source) = child.kill() {
            *slot = Some(child);
            return Err(Error::Signal {
                member: i,
                signal: "SIGKILL",
                source,
            });
        }
        child
            .wait()
            .map_err(|e| Error::io(format!("cannot reap etcd member m{i}"), e))?;
        Ok(())
    }

    /// Freezes member `i` with SIGSTOP: the process keeps its sockets but answers nothing,
    /// like a hung or partitioned machine. [`EtcdCluster::resume`] thaws it.
    ///
    /// Returns once every thread of the process has stopped (the kernel stops threads
    /// asynchronously), so a request sent afterwards is certainly not answered.
    pub fn stop(&self, i: usize) -> Result<(), Error> {
        let mut slot = self.slot(i)?;
        let pid = Self::signal_locked(&mut slot, i, Signal::SIGSTOP, "SIGSTOP")?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        // WNOWAIT: look, but leave the state to be collected by `Child::wait` later.
        let flags = WaitPidFlag::WSTOPPED
            | WaitPidFlag::WEXITED
            | WaitPidFlag::WNOHANG
            | WaitPidFlag::WNOWAIT;
        loop {
            match waitid(Id::Pid(pid), flags) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) => {
                    return Err(Error::NotRunning { member: i });
                }
                // Stopped, or nothing to learn (best effort): the signal was sent.
                Ok(_) | Err(_) => return Ok(()),
            }
            if Instant::now() >= deadline {
                return Err(Error::Signal {
                    member: i,
                    signal: "SIGSTOP",
                    source: std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the process did not stop within {STOP_TIMEOUT:?}"),
                    ),
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Thaws a member frozen by [`EtcdCluster::stop`] (SIGCONT). Harmless on a member that
    /// is not frozen.
    pub fn resume(&self, i: usize) -> Result<(), Error> {
        self.signal(i, Signal::SIGCONT, "SIGCONT")
    }

    /// Starts member `i` again after a kill (or an exit), with the same name, data
    /// directory and ports, without waiting for it to be healthy. Fails with
    /// [`Error::AlreadyRunning`] if its process is still running.
    pub async fn start_member(&self, i: usize) -> Result<(), Error> {
        self.spawn(i)
    }

    /// Kills member `i` if it is running (frozen or not), starts it again with the same
    /// name, data directory and ports, and waits until it is healthy (at most the
    /// builder's startup timeout).
    pub async fn restart(&self, i: usize) -> Result<(), Error> {
        self.kill(i)?;
        self.spawn(i)?;
        self.wait_healthy(i, self.startup_timeout).await
    }

    /// Probes member `i`'s `/health` once, waiting at most `timeout` for an answer.
    /// `Ok(false)` means not healthy (no answer in time, refused, or `"health":"false"`).
    pub async fn is_healthy(&self, i: usize, timeout: Duration) -> Result<bool, Error> {
        let port = self.member(i)?.metrics_port;
        Ok(probe(port, timeout).await.is_ok())
    }

    /// Looks at member `i` once: whether its process runs (and if not, why), and if it
    /// does, what `/health` answers within `timeout`. Unlike
    /// [`EtcdCluster::is_healthy`], this tells a crashed member from a slow one, for
    /// reporting.
    pub async fn member_health(&self, i: usize, timeout: Duration) -> Result<MemberHealth, Error> {
        let port = self.member(i)?.metrics_port;
        if let Some(down) = self.process_down(i)? {
            return Ok(down);
        }
        let probed = probe(port, timeout).await;
        // Looked at again: a process that died during the probe is reported as such, not
        // as a refused connection.
        if let Some(down) = self.process_down(i)? {
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
        let mut signalled = Ok(());
        for (signal, name) in [(Signal::SIGTERM, "SIGTERM"), (Signal::SIGCONT, "SIGCONT")] {
            match self.signal(i, signal, name) {
                // A member that has ended meanwhile needs no signal.
                Ok(()) | Err(Error::NotRunning { .. }) => {}
                Err(e) => {
                    signalled = Err(e);
                    break;
                }
            }
        }
        let deadline = Instant::now() + grace;
        while signalled.is_ok() && self.is_running(i) && Instant::now() < deadline {
            tokio::time::sleep(SHUTDOWN_POLL).await;
        }
        // Ends what ignored SIGTERM; reaps what exited, so no zombie is left.
        self.kill(i)?;
        signalled
    }

    /// Waits until member `i` answers `/health` with `"health":"true"`, at most `timeout`.
    ///
    /// Fails early with [`Error::Exited`] if the process ends, or [`Error::NotRunning`] if
    /// it was not running to begin with; with [`Error::Unhealthy`] on timeout.
    pub async fn wait_healthy(&self, i: usize, timeout: Duration) -> Result<(), Error> {
        self.wait_members_healthy(vec![i], timeout).await
    }

    /// Waits until every member answers `/health` with `"health":"true"`, at most
    /// `timeout` in all; see [`EtcdCluster::wait_healthy`].
    pub async fn wait_all_healthy(&self, timeout: Duration) -> Result<(), Error> {
        self.wait_members_healthy((0..self.len()).collect(), timeout)
            .await
    }

    /// The Prometheus text of member `i`'s `GET /metrics`.
    pub async fn metrics(&self, i: usize) -> Result<String, Error> {
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
        let seq = self.new_members.fetch_add(1, Ordering::Relaxed);
        let index = self
            .members
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
            client_scheme: if self.client_tls.is_some() {
                "https"
            } else {
                "http"
            },
        };
        let initial_cluster = self
            .members
            .iter()
            .chain(std::iter::once(&member))
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        Ok(NewMember {
            index,
            bin: self.bin.clone(),
            token: self.token.clone(),
            args: self.args.clone(),
            client_tls: self.client_tls.clone(),
            startup_timeout: self.startup_timeout,
            initial_cluster,
            member,
            proc: Mutex::new(None),
            _root: root,
        })
    }

    fn member(&self, i: usize) -> Result<&Member, Error> {
        self.members.get(i).ok_or(Error::NoSuchMember {
            member: i,
            len: self.members.len(),
        })
    }

    fn slot(&self, i: usize) -> Result<MutexGuard<'_, Option<Child>>, Error> {
        let slot = self.procs.get(i).ok_or(Error::NoSuchMember {
            member: i,
            len: self.procs.len(),
        })?;
        Ok(slot.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn signal(&self, i: usize, signal: Signal, name: &'static str) -> Result<(), Error> {
        let mut slot = self.slot(i)?;
        Self::signal_locked(&mut slot, i, signal, name).map(drop)
    }

    /// Sends `signal` to member `i`'s process, whose slot is locked (so the process cannot
    /// be reaped and its pid reused meanwhile). Returns the pid.
    fn signal_locked(
        slot: &mut Option<Child>,
        i: usize,
        signal: Signal,
        name: &'static str,
    ) -> Result<Pid, Error> {
        let Some(child) = slot.as_mut() else {
            return Err(Error::NotRunning { member: i });
        };
        if !matches!(child.try_wait(), Ok(None)) {
            return Err(Error::NotRunning { member: i });
        }
        let raw = i32::try_from(child.id()).map_err(|_| Error::Signal {
            member: i,
            signal: name,
            source: std::io::Error::other("process id out of range"),
        })?;
        let pid = Pid::from_raw(raw);
        kill(pid, signal).map_err(|errno| Error::Signal {
            member: i,
            signal: name,
            source: errno.into(),
        })?;
        Ok(pid)
    }

    /// `None` while member `i`'s process runs; otherwise how it is down.
    fn process_down(&self, i: usize) -> Result<Option<MemberHealth>, Error> {
        let mut slot = self.slot(i)?;
        let Some(child) = slot.as_mut() else {
            return Ok(Some(MemberHealth::NotRunning));
        };
        match child.try_wait() {
            Ok(None) => Ok(None),
            Ok(Some(status)) => Ok(Some(MemberHealth::Exited { status })),
            Err(e) => Err(Error::io(format!("cannot check etcd member m{i}"), e)),
        }
    }

    /// Errors unless member `i`'s process is running; an exited process gives
    /// [`Error::Exited`] with its log.
    fn check_running(&self, i: usize) -> Result<(), Error> {
        let mut slot = self.slot(i)?;
        let Some(child) = slot.as_mut() else {
            return Err(Error::NotRunning { member: i });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                drop(slot);
                Err(Error::Exited {
                    member: i,
                    status,
                    log_tail: self.log_tail(i),
                })
            }
            Err(e) => Err(Error::io(format!("cannot check etcd member m{i}"), e)),
        }
    }

    async fn wait_members_healthy(
        &self,
        mut pending: Vec<usize>,
        timeout: Duration,
    ) -> Result<(), Error> {
        for &i in &pending {
            self.member(i)?;
        }
        let started = Instant::now();
        let deadline = started + timeout;
        let mut last_probe = String::from("not probed yet");
        loop {
            let mut still_pending = Vec::with_capacity(pending.len());
            for &i in &pending {
                self.check_running(i)?;
                let remaining = deadline.saturating_duration_since(Instant::now());
                let port = self.member(i)?.metrics_port;
                match probe(port, remaining.min(PROBE_TIMEOUT)).await {
                    // Checked again: a healthy answer from a process that has died since
                    // (a port taken by someone else) must not count.
                    Ok(()) => self.check_running(i)?,
                    Err(seen) => {
                        if still_pending.is_empty() {
                            last_probe = seen;
                        }
                        still_pending.push(i);
                    }
                }
            }
            pending = still_pending;
            let Some(&first) = pending.first() else {
                return Ok(());
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Unhealthy {
                    member: first,
                    waited: now.duration_since(started),
                    last_probe,
                    log_tail: self.log_tail(first),
                });
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    /// Spawns member `i` unless it is running.
    fn spawn(&self, i: usize) -> Result<(), Error> {
        let member = self.member(i)?;
        let mut slot = self.slot(i)?;
        if let Some(child) = slot.as_mut()
            && matches!(child.try_wait(), Ok(None))
        {
            return Err(Error::AlreadyRunning { member: i });
        }
        let initial_cluster = self
            .members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url()))
            .collect::<Vec<_>>()
            .join(",");
        let child = spawn_etcd(
            &SpawnSpec {
                bin: &self.bin,
                token: &self.token,
                args: &self.args,
                client_tls: self.client_tls.as_ref(),
            },
            member,
            &initial_cluster,
            "new",
        )?;
        *slot = Some(child);
        Ok(())
    }

    /// The last lines of member `i`'s etcd log, and what its latest start printed.
    fn log_tail(&self, i: usize) -> String {
        let Some(member) = self.members.get(i) else {
            return String::new();
        };
        let mut out = String::new();
        let sections = [
            (
                "etcd.log",
                &member.log_path,
                last_lines(&read_end(&member.log_path), LOG_TAIL_LINES),
            ),
            (
                "stdout/stderr",
                &member.stderr_path,
                output_excerpt(&read_end(&member.stderr_path)),
            ),
        ];
        for (label, path, text) in sections {
            if !text.trim().is_empty() {
                out.push_str(&format!("[{label}: {}]\n{text}", path.display()));
            }
        }
        out
    }

    /// Whether any member's log says a port was already in use.
    fn port_conflict(&self) -> bool {
        self.members.iter().any(|m| {
            [&m.log_path, &m.stderr_path]
                .iter()
                .any(|p| read_end(p).contains("address already in use"))
        })
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for slot in &mut self.procs {
            let child = slot
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            if let Some(mut child) = child {
                // SIGKILL ends a frozen (SIGSTOPped) process too.
                if matches!(child.try_wait(), Ok(None)) {
                    let _ = child.kill();
                }
                let _ = child.wait();
            }
        }
        // `root` is dropped after this and removes every data directory (unless kept).
    }
}

/// A member that joins a running [`EtcdCluster`], from [`EtcdCluster::new_member`].
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
    index: usize,
    bin: PathBuf,
    token: String,
    args: Vec<String>,
    client_tls: Option<ClientTls>,
    startup_timeout: Duration,
    initial_cluster: String,
    member: Member,
    proc: Mutex<Option<Child>>,
    // Last field: removed after Drop::drop has reaped the process.
    _root: Root,
}

impl NewMember {
    /// Its name, such as `m3`.
    pub fn name(&self) -> &str {
        &self.member.name
    }

    /// Its peer URL, such as `http://127.0.0.1:43122`: the one to announce in MemberAdd.
    pub fn peer_url(&self) -> String {
        self.member.peer_url()
    }

    /// Its client URL, such as `http://127.0.0.1:43121`.
    pub fn endpoint(&self) -> String {
        self.member.client_url()
    }

    /// The `--initial-cluster` it starts with: the cluster's members and itself.
    pub fn initial_cluster(&self) -> &str {
        &self.initial_cluster
    }

    /// Its data directory (`--data-dir`); removed when it is dropped.
    pub fn data_dir(&self) -> &Path {
        &self.member.data_dir
    }

    /// etcd's log file of this member.
    pub fn log_path(&self) -> &Path {
        &self.member.log_path
    }

    /// Starts the process with `--initial-cluster-state existing` and waits until it
    /// answers `/health` with `"health":"true"` (at most the cluster's startup timeout).
    /// Fails with [`Error::AlreadyRunning`] if it is running.
    pub async fn start(&self) -> Result<(), Error> {
        {
            let mut slot = self.proc.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(child) = slot.as_mut()
                && matches!(child.try_wait(), Ok(None))
            {
                return Err(Error::AlreadyRunning { member: self.index });
            }
            let spec = SpawnSpec {
                bin: &self.bin,
                token: &self.token,
                args: &self.args,
                client_tls: self.client_tls.as_ref(),
            };
            *slot = Some(spawn_etcd(
                &spec,
                &self.member,
                &self.initial_cluster,
                "existing",
            )?);
        }
        self.wait_healthy(self.startup_timeout).await
    }

    /// Waits until it answers `/health` with `"health":"true"`, at most `timeout`.
    /// Fails early with [`Error::Exited`] if the process ends.
    pub async fn wait_healthy(&self, timeout: Duration) -> Result<(), Error> {
        let started = Instant::now();
        let deadline = started + timeout;
        loop {
            self.check_running()?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let last_probe =
                match probe(self.member.metrics_port, remaining.min(PROBE_TIMEOUT)).await {
                    Ok(()) => return self.check_running(),
                    Err(seen) => seen,
                };
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Unhealthy {
                    member: self.index,
                    waited: now.duration_since(started),
                    last_probe,
                    log_tail: last_lines(&read_end(&self.member.log_path), LOG_TAIL_LINES),
                });
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    /// Whether its process is running.
    pub fn is_running(&self) -> bool {
        self.check_running().is_ok()
    }

    /// Kills the process with SIGKILL and waits for it to end; nothing if not running.
    pub fn kill(&self) -> Result<(), Error> {
        let mut slot = self.proc.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(mut child) = slot.take() {
            if matches!(child.try_wait(), Ok(None))
                && let Err(source) = child.kill()
            {
                *slot = Some(child);
                return Err(Error::Signal {
                    member: self.index,
                    signal: "SIGKILL",
                    source,
                });
            }
            child
                .wait()
                .map_err(|e| Error::io(format!("cannot reap etcd member {}", self.name()), e))?;
        }
        Ok(())
    }

    fn check_running(&self) -> Result<(), Error> {
        let mut slot = self.proc.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(child) = slot.as_mut() else {
            return Err(Error::NotRunning { member: self.index });
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Exited {
                member: self.index,
                status,
                log_tail: output_excerpt(&read_end(&self.member.stderr_path))
                    + &last_lines(&read_end(&self.member.log_path), LOG_TAIL_LINES),
            }),
            Err(e) => Err(Error::io(
                format!("cannot check etcd member {}", self.name()),
                e,
            )),
        }
    }
}

impl Drop for NewMember {
    fn drop(&mut self) {
        let child = self
            .proc
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut child) = child {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        // `_root` is dropped after this and removes the data directory.
    }
}

/// `https` when the client URLs serve TLS, else `http`.
fn client_scheme(builder: &ClusterBuilder) -> &'static str {
    if builder.client_tls.is_some() {
        "https"
    } else {
        "http"
    }
}

/// What every member process of a cluster shares.
struct SpawnSpec<'a> {
    bin: &'a Path,
    token: &'a str,
    args: &'a [String],
    client_tls: Option<&'a ClientTls>,
}

/// Spawns one etcd process for `member`, joining `initial_cluster` in `state` (`new` or
/// `existing`).
fn spawn_etcd(
    spec: &SpawnSpec<'_>,
    member: &Member,
    initial_cluster: &str,
    state: &str,
) -> Result<Child, Error> {
    let mut stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&member.stderr_path)
        .map_err(|e| Error::io(format!("cannot open {}", member.stderr_path.display()), e))?;
    // A marker, so the tail of a restarted member's output is easy to read. Best effort.
    let _ = writeln!(stderr, "{START_MARKER} {} ---", member.name);
    let stdout = stderr
        .try_clone()
        .map_err(|e| Error::io(format!("cannot open {}", member.stderr_path.display()), e))?;

    let mut cmd = Command::new(spec.bin);
    cmd.arg("--name")
        .arg(&member.name)
        .arg("--data-dir")
        .arg(&member.data_dir)
        .arg("--listen-client-urls")
        .arg(member.client_url())
        .arg("--advertise-client-urls")
        .arg(member.client_url())
        .arg("--listen-peer-urls")
        .arg(member.peer_url())
        .arg("--initial-advertise-peer-urls")
        .arg(member.peer_url())
        .arg("--initial-cluster")
        .arg(initial_cluster)
        .arg("--initial-cluster-state")
        .arg(state)
        .arg("--initial-cluster-token")
        .arg(spec.token)
        .arg("--heartbeat-interval")
        .arg("10")
        .arg("--election-timeout")
        .arg("100")
        .arg("--logger")
        .arg("zap")
        .arg("--log-level")
        .arg("error")
        .arg("--log-outputs")
        .arg(&member.log_path)
        .arg("--listen-metrics-urls")
        .arg(member.metrics_url());
    if let Some(tls) = spec.client_tls {
        cmd.arg("--cert-file")
            .arg(&tls.cert_file)
            .arg("--key-file")
            .arg(&tls.key_file);
        if let Some(ca) = &tls.trusted_ca_file {
            cmd.arg("--trusted-ca-file").arg(ca);
        }
        if tls.client_cert_auth {
            cmd.arg("--client-cert-auth");
        }
    }
    cmd.args(spec.args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // etcd reads ETCD_* variables as flags; a test environment's (ETCD_BIN, say)
    // must not leak into the member.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("ETCD_") {
            cmd.env_remove(key);
        }
    }
    if let Some(arch) = unsupported_arch() {
        cmd.env("ETCD_UNSUPPORTED_ARCH", arch);
    }
    cmd.spawn().map_err(|source| Error::Spawn {
        bin: spec.bin.to_path_buf(),
        source,
    })
}

/// A single etcd server (a one-member [`EtcdCluster`]) for tests.
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
    cluster: EtcdCluster,
}

impl EtcdServer {
    /// Starts one etcd member with the default settings and waits until it is healthy.
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
        self.cluster
            .members
            .first()
            .map(Member::client_url)
            .unwrap_or_default()
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

/// The value etcd wants in `ETCD_UNSUPPORTED_ARCH` on architectures it does not officially
/// support (its `GOARCH` name); `None` on x86_64, where it is never needed.
fn unsupported_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86_64" => None,
        "aarch64" => Some("arm64"),
        "x86" => Some("386"),
        "powerpc64" if cfg!(target_endian = "little") => Some("ppc64le"),
        "powerpc64" => Some("ppc64"),
        "loongarch64" => Some("loong64"),
        other => Some(other), // arm, s390x, riscv64, mips64, ... share Go's names
    }
}

/// The end of a text file (at most its last 64 KiB); empty if unreadable.
fn read_end(path: &Path) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX && file.seek(SeekFrom::Start(len - MAX)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.take(MAX).read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The last `n` lines of `text`, each ending in a newline.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let start = lines.len().saturating_sub(n);
    lines
        .get(start..)
        .unwrap_or_default()
        .iter()
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What the latest start of a member printed on stdout/stderr: all of it when short, else
/// its first and last lines (etcd prints the actual complaint about a bad flag first, then
/// a long usage text).
fn output_excerpt(text: &str) -> String {
    const HEAD: usize = 5;
    let latest = text
        .rfind(START_MARKER)
        .and_then(|at| text[at..].split_once('\n'))
        .map_or(text, |(_, rest)| rest);
    let lines: Vec<&str> = latest.trim_end().lines().collect();
    if lines.len() <= HEAD + LOG_TAIL_LINES + 1 {
        return last_lines(latest, LOG_TAIL_LINES + HEAD + 1);
    }
    let mut out: String = lines.iter().take(HEAD).map(|l| format!("{l}\n")).collect();
    let skipped = lines.len() - HEAD - LOG_TAIL_LINES;
    out.push_str(&format!("[... {skipped} lines ...]\n"));
    out.push_str(&last_lines(latest, LOG_TAIL_LINES));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..50).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = last_lines(&read_end(&path), 3);
        assert_eq!(tail, "line 47\nline 48\nline 49\n");
        assert_eq!(read_end(&dir.path().join("missing")), "");
        assert_eq!(last_lines("", 3), "");
    }

    #[test]
    fn output_excerpt_shows_the_latest_start_head_and_tail() {
        let mut text = format!("{START_MARKER} m0 ---\nold run\n{START_MARKER} m0 ---\n");
        text.push_str("flag provided but not defined: -x\n");
        for i in 0..100 {
            text.push_str(&format!("usage {i}\n"));
        }
        let excerpt = output_excerpt(&text);
        assert!(excerpt.starts_with("flag provided but not defined: -x\n"));
        assert!(excerpt.contains("[... 76 lines ...]"));
        assert!(excerpt.ends_with("usage 99\n"));
        assert!(!excerpt.contains("old run"));
        assert_eq!(output_excerpt("short\n"), "short\n");
    }

    /// What `start()` relies on to retry: a member that loses its port to another process
    /// exits, and its log says so.
    #[tokio::test]
    async fn lost_port_is_detected() {
        let builder = ClusterBuilder::new().members(1);
        let bin = binary::resolve(None).unwrap();
        let root = Root::temp(true, 1).unwrap();
        let cluster = EtcdCluster::prepare(&builder, 1, bin, None, root).unwrap();
        let port = cluster.members[0].client_port;
        let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        cluster.spawn(0).unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(30),
            cluster.wait_all_healthy(Duration::from_secs(20)),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(matches!(err, Error::Exited { member: 0, .. }), "{err}");
        assert!(cluster.port_conflict(), "{err}");
        assert!(err.to_string().contains("address already in use"), "{err}");
    }

    #[test]
    fn builder_defaults() {
        let b = ClusterBuilder::new();
        assert_eq!(b.members, None);
        assert_eq!(b.data_dir, None);
        assert_eq!(b.startup_timeout, DEFAULT_STARTUP_TIMEOUT);
        assert!(b.data_in_tmpfs);
        assert_eq!(EtcdServer::builder().members, Some(1));
        let b = b.arg("--a").args(["--b", "--c"]);
        assert_eq!(b.args, ["--a", "--b", "--c"]);
    }
}
