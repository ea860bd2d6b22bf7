//! Starting and stopping a server: the builder, the running handle.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::TcpListenerStream;

use crate::core::{self, HeaderInfo, Limits, Shared};
use crate::generated::etcdserverpb::auth_server::AuthServer;
use crate::generated::etcdserverpb::cluster_server::ClusterServer;
use crate::generated::etcdserverpb::kv_server::KvServer;
use crate::generated::etcdserverpb::lease_server::LeaseServer;
use crate::generated::etcdserverpb::maintenance_server::MaintenanceServer;
use crate::generated::etcdserverpb::watch_server::WatchServer;
use crate::generated::v3electionpb::election_server::ElectionServer;
use crate::generated::v3lockpb::lock_server::LockServer;
use crate::in_process::InProcessService;
use crate::persist::{self, DataDirError};
use crate::service::{
    AuthService, ClusterService, ElectionService, KvService, LeaseService, LockService,
    MaintenanceService, WatchService,
};

/// The etcd version whose API this server answers as: what Status reports as the server's
/// and the storage's version.
pub const ETCD_VERSION: &str = "3.6.0";

/// etcd's default `--max-request-bytes`: 1.5 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 1536 * 1024;
/// etcd's default `--max-txn-ops`.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;
/// etcd's default interval between progress notifications to watches that asked for them.
pub const DEFAULT_PROGRESS_NOTIFY_INTERVAL: Duration = Duration::from_secs(600);

/// etcd's default `--auth-token-ttl`: a simple token unused for 300 s expires.
pub const DEFAULT_AUTH_TOKEN_TTL: Duration = Duration::from_secs(300);

/// The shortest lease TTL etcd grants with its default election timeout (1 s): 2 s.
pub const DEFAULT_MIN_LEASE_TTL: Duration = Duration::from_secs(2);

/// `ttl` in whole seconds, rounded up, at least 1.
fn whole_seconds_up(ttl: Duration) -> i64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    i64::try_from(secs).unwrap_or(i64::MAX).max(1)
}
/// What gRPC adds to a request on top of etcd's limit before refusing the message whole
/// (etcd's `grpcOverheadBytes`).
const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;
/// How long [`RunningServer::shutdown`] waits for connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The entry point: `Server::builder().start().await`.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// A builder with etcd's defaults, listening on a free loopback port.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// How to start a server. Every setting has etcd's default.
#[derive(Clone, Debug)]
pub struct ServerBuilder {
    listen: SocketAddr,
    name: String,
    quota_backend_bytes: u64,
    max_request_bytes: usize,
    max_txn_ops: usize,
    progress_notify_interval: Duration,
    min_lease_ttl: Duration,
    data_dir: Option<PathBuf>,
    auth_token_ttl: Duration,
}

impl Default for ServerBuilder {
    fn default() -> Self {
        ServerBuilder {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            name: "default".to_owned(),
            quota_backend_bytes: 0,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
            progress_notify_interval: DEFAULT_PROGRESS_NOTIFY_INTERVAL,
            min_lease_ttl: DEFAULT_MIN_LEASE_TTL,
            data_dir: None,
            auth_token_ttl: DEFAULT_AUTH_TOKEN_TTL,
        }
    }
}

impl ServerBuilder {
    /// The address to listen on; `127.0.0.1:0` (a free loopback port) by default.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// The member's name in the member list (`default`, like etcd's).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The space quota in bytes, as etcd's `--quota-backend-bytes`: a write that would take
    /// the store past it raises the NOSPACE alarm, and from then on writes are refused
    /// with "etcdserver: mvcc: database space exceeded" until the alarm is disarmed. 0
    /// (the default) is no quota; the store's size is estimated (see the crate's docs).
    pub fn quota_backend_bytes(mut self, bytes: u64) -> Self {
        self.quota_backend_bytes = bytes;
        self
    }

    /// The largest write accepted, in bytes ([`DEFAULT_MAX_REQUEST_BYTES`]); larger ones
    /// get etcd's "request is too large".
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes;
        self
    }

    /// The most compares, or ops in one branch, a txn may have ([`DEFAULT_MAX_TXN_OPS`]).
    pub fn max_txn_ops(mut self, ops: usize) -> Self {
        self.max_txn_ops = ops;
        self
    }

    /// How often watches created with `progress_notify` get a progress notification
    /// ([`DEFAULT_PROGRESS_NOTIFY_INTERVAL`], etcd's ten minutes).
    pub fn progress_notify_interval(mut self, every: Duration) -> Self {
        self.progress_notify_interval = every;
        self
    }

    /// The shortest TTL a lease is granted ([`DEFAULT_MIN_LEASE_TTL`]), rounded up to whole
    /// seconds (at least 1); a shorter request is granted this. etcd derives it from its
    /// election timeout: 1.5 times it, rounded up (`server/etcdserver/server.go`, the
    /// lessor's `MinLeaseTTL`), so 2 s with etcd's defaults and 1 s with the test kit's
    /// 100 ms election timeout. Match the etcd a test is compared with.
    pub fn min_lease_ttl(mut self, ttl: Duration) -> Self {
        self.min_lease_ttl = ttl;
        self
    }

    /// Keeps the data in the directory `dir` (created if missing) instead of in memory
    /// only: every change is written there, with fsync, before it is answered, and a
    /// server started again on the same directory (after a stop, a crash or a kill) finds
    /// every acknowledged change, with its revisions, its history back to the last
    /// compaction, leases, alarms and member IDs. See the crate's docs for the layout.
    /// One server at a time may use a directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// How long a simple token (what Authenticate answers) lives without being used
    /// ([`DEFAULT_AUTH_TOKEN_TTL`], etcd's `--auth-token-ttl`); each request with it
    /// extends it by this much again, as etcd does.
    pub fn auth_token_ttl(mut self, ttl: Duration) -> Self {
        self.auth_token_ttl = ttl;
        self
    }

    /// Opens the data directory, if any, binds the address and starts serving on the
    /// current tokio runtime. The server is ready when this returns. It runs as long as
    /// that runtime does: once the runtime ends, the server has stopped, for TCP and
    /// in-process clients alike ([`RunningServer::service`]), even while the
    /// [`RunningServer`] lives on.
    ///
    /// # Errors
    ///
    /// [`StartError::Listen`] when the address cannot be bound, [`StartError::DataDir`]
    /// when the data directory is someone else's, damaged, or in use by another server.
    pub async fn start(self) -> Result<RunningServer, StartError> {
        let dir_error = |dir: &PathBuf| {
            let path = dir.clone();
            move |reason| StartError::DataDir { path, reason }
        };
        // First, so a directory in use fails before the address is taken.
        let mut durable = match &self.data_dir {
            Some(dir) => Some(persist::open(dir).map_err(dir_error(dir))?),
            None => None,
        };
        let bind_error = |source| StartError::Listen {
            addr: self.listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(self.listen)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let (stop, stopped) = watch::channel(false);
        // Like etcd's, which hashes the member's peer URLs and the cluster token: two
        // servers (on two addresses) never share IDs, and so never lease IDs either. A
        // data directory keeps the IDs of its first start, whatever the address later.
        let address = addr.to_string();
        let stored = durable.as_ref().and_then(|(_, loaded)| loaded.ids);
        let (member_id, cluster_id) = match stored {
            Some(ids) => ids,
            None => (
                stable_id(&["etcdkit-server member", &self.name, &address]),
                stable_id(&["etcdkit-server cluster", &self.name, &address]),
            ),
        };
        if let (Some((persist, _)), None, Some(dir)) = (&mut durable, stored, &self.data_dir) {
            persist
                .initialize(member_id, cluster_id)
                .map_err(dir_error(dir))?;
        }
        let info = HeaderInfo {
            cluster_id,
            member_id,
            raft_term: 2,
        };
        let limits = Limits {
            quota_backend_bytes: self.quota_backend_bytes,
            max_request_bytes: self.max_request_bytes,
            max_txn_ops: self.max_txn_ops,
            min_lease_ttl: whole_seconds_up(self.min_lease_ttl),
            auth_token_ttl: self.auth_token_ttl,
        };
        let shared = Arc::new(Shared::new(
            info,
            limits,
            format!("http://{}", reachable(addr)),
            self.name.clone(),
            stop.clone(),
            durable,
        ));
        tokio::spawn(core::expire_leases(Arc::clone(&shared)));
        tokio::spawn(core::notify_progress(
            Arc::clone(&shared),
            self.progress_notify_interval,
        ));
        let max_in = self.max_request_bytes.saturating_add(GRPC_OVERHEAD_BYTES);
        // One set of routes for both ways in: TCP, and a client in this process.
        let routes = tonic::service::Routes::new(
            KvServer::new(KvService(Arc::clone(&shared)))
                .max_decoding_message_size(max_in)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            WatchServer::new(WatchService(Arc::clone(&shared)))
                .max_decoding_message_size(max_in)
                .max_encoding_message_size(usize::MAX),
        )
        .add_service(
            LeaseServer::new(LeaseService(Arc::clone(&shared))).max_decoding_message_size(max_in),
        )
        .add_service(
            MaintenanceServer::new(MaintenanceService(Arc::clone(&shared)))
                .max_decoding_message_size(max_in),
        )
        .add_service(ClusterServer::new(ClusterService(Arc::clone(&shared))))
        .add_service(AuthServer::new(AuthService(Arc::clone(&shared))))
        .add_service(LockServer::new(LockService(Arc::clone(&shared))))
        .add_service(ElectionServer::new(ElectionService(Arc::clone(&shared))))
        .prepare();
        // Held by the serving task: when the runtime this server was started on ends, the
        // task is dropped with it, and so are the lease expiry and progress tasks. A client
        // in-process (on another runtime) then finds the server stopped, as a TCP client
        // finds its connection refused, rather than a server that answers but never
        // expires a lease.
        let serving = Arc::new(());
        let service =
            InProcessService::new(routes.clone(), stop.subscribe(), Arc::downgrade(&serving));
        let router = tonic::transport::Server::builder()
            .layer(crate::size_limit::layer())
            .add_routes(routes);
        let mut on_stop = stopped;
        let task = tokio::spawn(async move {
            let _serving = serving;
            // Answers go out at once: with Nagle's algorithm a small answer written while
            // the previous one is unacknowledged waits for the client's delayed ACK (tens of
            // milliseconds per call; measured: serializable gets at 64 tasks ran at a tenth
            // of the puts' rate). etcd's gRPC server sets the same.
            let incoming = TcpListenerStream::new(listener).map(|conn| {
                if let Ok(conn) = &conn {
                    let _ = conn.set_nodelay(true);
                }
                conn
            });
            let _ = router
                .serve_with_incoming_shutdown(incoming, async move {
                    let _ = on_stop.wait_for(|stop| *stop).await;
                })
                .await;
        });
        Ok(RunningServer {
            addr,
            service,
            stop,
            task: Some(task),
            shared,
        })
    }
}

/// A running server.
///
/// **Drop** stops it without waiting: it stops accepting connections, ends every watch and
/// keepalive stream as UNAVAILABLE (as a stopping etcd's dropped connections look), closes
/// the data directory at once, and lets the connections close in the background (a
/// request already on its way may still be answered for a moment). Clients see what they
/// see when an etcd member goes away: etcdkit's calls fail as unavailable once their
/// connection is refused, and its watchers and lease keepers keep retrying (as they would
/// for a restarting member) until dropped or their own deadlines pass.
/// [`RunningServer::shutdown`] does the same and waits, a bounded while, for the
/// connections to close.
pub struct RunningServer {
    addr: SocketAddr,
    service: InProcessService,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// `"127.0.0.1:PORT"`: the address to give a client (for a server listening on an
    /// unspecified address such as `0.0.0.0`, the loopback address with its port).
    pub fn endpoint(&self) -> String {
        reachable(self.addr).to_string()
    }

    /// `"http://127.0.0.1:PORT"`, as the member list advertises it.
    pub fn url(&self) -> String {
        format!("http://{}", reachable(self.addr))
    }

    /// The server's gRPC service, for a client in this process: every request handed to
    /// it is answered as one sent to [`url`](Self::url) would be, without a socket or
    /// HTTP/2 (eight to nine times a real etcd member's throughput on small calls, four to six
    /// times this server's own over TCP; docs/BENCHMARKS.md). For
    /// etcdkit, `etcdkit::InProcess::new(server.url(), server.service())` given to
    /// `ClientOptions::in_process`. Once the server stops (shut down, dropped, or its
    /// runtime ended: see [`ServerBuilder::start`]), calls fail with
    /// [`ServerStopped`](crate::ServerStopped) (see [`InProcessService`]).
    pub fn service(&self) -> InProcessService {
        self.service.clone()
    }

    /// The socket address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The member ID headers and the member list carry (stable for a given name).
    pub fn member_id(&self) -> u64 {
        self.shared.info.member_id
    }

    /// The store's current revision.
    pub fn revision(&self) -> i64 {
        self.shared.lock().store.revision()
    }

    /// Stops accepting, ends every watch and keepalive stream, and waits (a bounded
    /// while) for connections to close.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
        self.shared.lock().close_storage();
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // The data directory's lock goes with the server, not with the last connection
        // task to notice the stop: a new server may open the directory at once.
        self.shared.lock().close_storage();
    }
}

/// The server could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The address could not be bound.
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What binding it answered.
        source: std::io::Error,
    },
    /// The data directory ([`ServerBuilder::data_dir`]) cannot be used.
    DataDir {
        /// The directory asked for.
        path: PathBuf,
        /// Why not.
        reason: DataDirError,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Listen { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            StartError::DataDir { path, reason } => {
                write!(f, "cannot use data directory {}: {reason}", path.display())
            }
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Listen { source, .. } => Some(source),
            StartError::DataDir { reason, .. } => Some(reason),
        }
    }
}

/// Where a client on this machine reaches a server listening on `addr`: `addr` itself,
/// or the loopback address of its family for an unspecified one (`0.0.0.0`, `[::]`), which
/// is no address to connect to.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

/// A nonzero ID that depends only on `parts` (FNV-1a), so a server's IDs are the same
/// every time it starts with the same name on the same address.
pub(crate) fn stable_id(parts: &[&str]) -> u64 {
    use std::hash::Hasher;
    let mut hasher = fnv::FnvHasher::default();
    for part in parts {
        hasher.write(part.as_bytes());
        hasher.write_u8(0);
    }
    hasher.finish().max(1)
}
