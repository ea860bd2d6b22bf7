//! Client options: endpoints, timeouts, keepalive, limits, member auto-sync.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::client::Client;
use crate::error::Result;
use crate::transport::{Credentials, PresetToken, TlsOptions};

/// The first ceiling of the probe backoff of a failed endpoint.
const PROBE_BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// How a [`Client`] connects and behaves. Built by value, then [`connect`](ClientOptions::connect)ed.
///
/// ```no_run
/// # async fn f() -> etcdkit::Result<()> {
/// use std::time::Duration;
/// let client = etcdkit::ClientOptions::new(["10.0.0.1:2379", "10.0.0.2:2379"])
///     .dial_timeout(Duration::from_secs(2))
///     .request_timeout(Duration::from_secs(5))
///     .auto_sync_interval(Duration::from_secs(60))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ClientOptions {
    pub(crate) endpoints: Vec<String>,
    pub(crate) dial_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) keepalive_interval: Duration,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_send_size: usize,
    pub(crate) max_recv_size: usize,
    pub(crate) auto_sync_interval: Option<Duration>,
    pub(crate) require_leader: bool,
    pub(crate) monotonic_reads: bool,
    pub(crate) retry_backoff: Backoff,
    pub(crate) probe_backoff: Backoff,
    pub(crate) tls: Option<TlsOptions>,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) token: Option<PresetToken>,
}

impl ClientOptions {
    /// Options for these endpoints (`host:port`, `http://host:port`; port 2379 when omitted).
    pub fn new<I, S>(endpoints: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientOptions {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            dial_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            // etcd's server refuses pings more often than every 5 s by default
            // (--grpc-keepalive-min-time), so stay above that.
            keepalive_interval: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(5),
            max_send_size: 2 * 1024 * 1024,
            max_recv_size: i32::MAX as usize,
            auto_sync_interval: None,
            require_leader: false,
            monotonic_reads: true,
            retry_backoff: Backoff::new(Duration::from_millis(20), Duration::from_secs(1)),
            probe_backoff: Backoff::new(PROBE_BACKOFF_FIRST, Duration::from_secs(5)),
            tls: None,
            credentials: None,
            token: None,
        }
    }

    /// How long to wait for a TCP connection to an endpoint. Default 5 s.
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// The default deadline of each request, retries included. Default 30 s. Requests can
    /// override it with their own `.timeout(...)`.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How often to ping a connection that has requests or streams open, so a silent,
    /// dead member is noticed. Default 10 s. etcd refuses pings more frequent than its
    /// `--grpc-keepalive-min-time` (5 s by default).
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// How long to wait for a ping's answer before the connection is declared dead.
    /// Default 5 s.
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }

    /// The largest request the client will send; larger ones fail with
    /// [`ErrorKind::RequestTooLarge`](crate::ErrorKind::RequestTooLarge) before anything is
    /// sent. Default 2 MiB (etcd's own default limit is 1.5 MiB).
    pub fn max_send_size(mut self, bytes: usize) -> Self {
        self.max_send_size = bytes;
        self
    }

    /// The largest response the client will accept. Default 2 GiB.
    pub fn max_recv_size(mut self, bytes: usize) -> Self {
        self.max_recv_size = bytes;
        self
    }

    /// Re-reads the cluster's member list at connect and then at this interval, replacing
    /// the endpoints with the members' client URLs: new members are found, removed ones
    /// dropped. Off by default. Intervals under 100 ms are raised to 100 ms.
    pub fn auto_sync_interval(mut self, interval: Duration) -> Self {
        self.auto_sync_interval = Some(interval.max(Duration::from_millis(100)));
        self
    }

    /// Asks the server to refuse requests when it has no leader, instead of waiting. A
    /// refused request moves on to another member.
    pub fn require_leader(mut self, yes: bool) -> Self {
        self.require_leader = yes;
        self
    }

    /// Whether reads never go back in time. On by default.
    ///
    /// The client remembers the highest revision in the header of any response it has
    /// had. A read (a get, or a transaction that only reads) answered from an older
    /// revision, by a member lagging behind the others (say, one just thawed after a
    /// failover, answering a serializable read), is retried on another endpoint until
    /// the request's deadline, then fails with
    /// [`ErrorKind::StaleRead`](crate::ErrorKind::StaleRead).
    ///
    /// Turn it off only for a client that must follow a cluster restored from a backup
    /// to an older revision; a new client starts from nothing either way.
    pub fn monotonic_reads(mut self, yes: bool) -> Self {
        self.monotonic_reads = yes;
        self
    }

    /// The first and the largest wait between two attempts of a retried request, and
    /// between re-openings of the client's streams (capped exponential with full
    /// jitter, see [`Backoff`]). Defaults 20 ms and 1 s.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry_backoff = Backoff::new(first, max);
        self
    }

    /// The longest wait between two probes of a failed endpoint (the first is within
    /// 100 ms; capped exponential with full jitter). Default 5 s.
    pub fn probe_backoff_max(mut self, max: Duration) -> Self {
        self.probe_backoff = Backoff::new(PROBE_BACKOFF_FIRST, max);
        self
    }

    /// Uses TLS (and, with a client certificate, mutual TLS). Endpoints written without a
    /// scheme then use TLS too; `http://` ones stay plain.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Authenticates as this user: a token is fetched on first use, attached to every
    /// call (streams included), and fetched again whenever the server says it is
    /// invalid, expired, or issued before users or roles changed. Neither the password
    /// nor the token ever appears in `Debug` output or logs.
    pub fn auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some(Credentials {
            user: user.into(),
            password: password.into(),
        });
        self
    }

    /// Uses this auth token as it is (it cannot be renewed: when it expires, calls fail
    /// with [`ErrorKind::InvalidToken`](crate::ErrorKind::InvalidToken)).
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(PresetToken(token.into()));
        self
    }

    /// Connects: parses the endpoints, then probes them all at once and returns as soon
    /// as one answers. The others are probed in the background; an endpoint gets
    /// requests only once it has answered (or when none other is healthy), so a silent
    /// endpoint delays neither the connection nor any request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidEndpoint`](crate::ErrorKind::InvalidEndpoint) for an endpoint
    /// that does not parse, or that needs TLS when none is configured;
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) when no endpoint answers
    /// within the dial timeout (the message says why each did not).
    pub async fn connect(self) -> Result<Client> {
        Client::connect_with(self).await
    }
}
