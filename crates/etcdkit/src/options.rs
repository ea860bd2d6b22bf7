//! Client options: endpoints, timeouts, keepalive, limits, health checks, member auto-sync.

use std::time::Duration;

use crate::backoff::Backoff;
use crate::client::Client;
use crate::error::Result;
use crate::transport::{Credentials, InProcess, PresetToken, TlsOptions};

/// The first ceiling of the probe backoff of a failed endpoint.
const PROBE_BACKOFF_FIRST: Duration = Duration::from_millis(100);

/// How a [`Client`] connects and behaves. Built by value, then [`connect`](ClientOptions::connect)ed.
///
/// # Defaults, and why
///
/// The defaults are chosen for a production cluster of several members, where a member
/// that stops answering (killed without its TCP connections closing, frozen, cut off by
/// the network) must cost a second or two, not the rest of a request's deadline:
///
/// - **Keepalive: ping after 1 s without reads while a request or stream is open,
///   1 s ping timeout** ([`keepalive_interval`](Self::keepalive_interval),
///   [`keepalive_timeout`](Self::keepalive_timeout)). A live etcd answers a ping from
///   its gRPC transport at once, even while it waits on its disk or its peers, so a
///   ping unanswered for a second means the process or the network has stopped. The
///   endpoint then gets no new requests (reads in flight there move on; writes in
///   flight are left to be answered or to time out, so their outcome is never made
///   unknown just to be fast), and watch and lease keepalive streams re-open
///   elsewhere. Pings stay within etcd's ping policy (see
///   [`server_keepalive_min_time`](Self::server_keepalive_min_time)), so on an idle
///   stream a ping goes out at most every 5 s and a silent member is noticed within
///   about 7 s; with requests being answered it is noticed within about 2 s.
/// - **Request timeout 10 s** ([`request_timeout`](Self::request_timeout)): above
///   etcd's own request timeout (7 s with default settings), so a request the server is
///   still working on gets the server's answer rather than the client's guess, and
///   well below the 30 s a caller would otherwise wait on a write stuck on a frozen
///   member.
/// - **A read gives one member at most half of what remains of its deadline** (at
///   least 250 ms) on a client of several endpoints, so a member that goes silent
///   without the pings catching it still leaves time to ask another.
/// - **Require a leader** ([`require_leader`](Self::require_leader)): every request
///   asks the member to refuse it at once when it has no leader, so a member cut off
///   from its peers answers "no leader" (refused before anything was proposed, so even
///   a write is retried on another member) instead of holding the request until the
///   deadline.
/// - **A write waiting on a leader that is gone ends after about a second**
///   ([`leader_check_interval`](Self::leader_check_interval)): when the member it waits
///   on has seen a new leader elected, or has none, the write ends with its outcome
///   unknown rather than at the deadline, so a leader's death costs a writer about a
///   second.
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
    pub(crate) server_keepalive_min_time: Duration,
    pub(crate) max_send_size: usize,
    pub(crate) max_recv_size: usize,
    pub(crate) auto_sync_interval: Option<Duration>,
    pub(crate) require_leader: bool,
    pub(crate) monotonic_reads: bool,
    pub(crate) leader_check_interval: Option<Duration>,
    pub(crate) retry_backoff: Backoff,
    pub(crate) probe_backoff: Backoff,
    pub(crate) tls: Option<TlsOptions>,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) token: Option<PresetToken>,
    pub(crate) health_check_interval: Option<Duration>,
    pub(crate) max_stream_reopens: Option<u32>,
    pub(crate) user_agent: String,
    pub(crate) min_member_version: Option<String>,
    pub(crate) in_process: Vec<InProcess>,
}

/// The `user-agent` every request carries unless
/// [`ClientOptions::user_agent`] says otherwise: `etcdkit/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("etcdkit/", env!("CARGO_PKG_VERSION"));

/// How often the prober looks for endpoints due a probe, by default.
const HEALTH_CHECK_INTERVAL: Duration = Duration::from_millis(100);

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
            // The reasons for these defaults are in the type's docs.
            request_timeout: Duration::from_secs(10),
            keepalive_interval: Duration::from_secs(1),
            keepalive_timeout: Duration::from_secs(1),
            server_keepalive_min_time: Duration::from_secs(5),
            max_send_size: 2 * 1024 * 1024,
            max_recv_size: i32::MAX as usize,
            auto_sync_interval: None,
            require_leader: true,
            monotonic_reads: true,
            leader_check_interval: Some(Duration::from_secs(1)),
            retry_backoff: Backoff::new(Duration::from_millis(20), Duration::from_secs(1)),
            probe_backoff: Backoff::new(PROBE_BACKOFF_FIRST, Duration::from_secs(5)),
            tls: None,
            credentials: None,
            token: None,
            health_check_interval: Some(HEALTH_CHECK_INTERVAL),
            max_stream_reopens: None,
            user_agent: DEFAULT_USER_AGENT.to_string(),
            min_member_version: None,
            in_process: Vec::new(),
        }
    }

    /// How long to wait for a TCP connection to an endpoint. Default 5 s.
    pub fn dial_timeout(mut self, timeout: Duration) -> Self {
        self.dial_timeout = timeout;
        self
    }

    /// The default deadline of each request, retries included. Default 10 s (see
    /// [Defaults, and why](Self#defaults-and-why)). Requests can override it with their
    /// own `.timeout(...)`.
    ///
    /// It also bounds how long a connection that stopped answering its keepalive pings
    /// is kept for the requests still in flight on it, before it is dropped (failing
    /// them: a write then reports its outcome unknown).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long a connection with requests or streams open may go without reading
    /// anything before it is pinged. Default 1 s. Idle connections are never pinged
    /// (etcd polices that). Pings are also spaced to respect the server's
    /// [`server_keepalive_min_time`](Self::server_keepalive_min_time), so a shorter
    /// interval only takes effect while the server keeps sending.
    pub fn keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = interval;
        self
    }

    /// How long a ping may go unanswered before the connection is taken for silent: its
    /// endpoint is marked unhealthy and gets no new requests, reads in flight there
    /// move to another member, and watch and lease keepalive streams re-open
    /// elsewhere. Writes in flight stay (their outcome would otherwise become unknown)
    /// until answered or until their deadline. Default 1 s: etcd answers pings from its
    /// gRPC transport, not from its request path, so a busy but live member answers at
    /// once.
    pub fn keepalive_timeout(mut self, timeout: Duration) -> Self {
        self.keepalive_timeout = timeout;
        self
    }

    /// The servers' `--grpc-keepalive-min-time`: pings closer together than this are
    /// strikes against the client, and etcd closes a connection (GOAWAY
    /// `too_many_pings`) on the third strike since it last sent anything. The client
    /// allows itself one such ping and otherwise spaces its pings by this much.
    /// Default 5 s, etcd's default; set it to match servers configured otherwise.
    pub fn server_keepalive_min_time(mut self, min_time: Duration) -> Self {
        self.server_keepalive_min_time = min_time;
        self
    }

    /// The largest request the client will send; larger ones fail with
    /// [`ErrorKind::RequestTooLarge`](crate::ErrorKind::RequestTooLarge) before anything is
    /// sent, code `RESOURCE_EXHAUSTED` and grpc-go's message (`trying to send message
    /// larger than max (SIZE vs. LIMIT)`, as etcdctl reports it). Default 2 MiB (etcd's own
    /// default limit is 1.5 MiB).
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

    /// Asks the server to refuse requests when it has no leader, instead of waiting: etcd
    /// checks this (its `hasleader` metadata) for unary calls and streams alike, and
    /// ends a watch or keepalive stream whose member has been without a leader for
    /// three election timeouts. The refusal comes before anything is proposed, so even a
    /// write moves on to another member. On by default: a member cut off from its peers
    /// otherwise holds a request until its deadline, and a write held so ends with its
    /// outcome unknown. Calls aimed at one member (status, alarms, defragment, ...) are
    /// exempt, so a member without a leader can still be inspected.
    pub fn require_leader(mut self, yes: bool) -> Self {
        self.require_leader = yes;
        self
    }

    /// Whether reads never go back in time. On by default.
    ///
    /// The client remembers the highest revision in the header of any response it has
    /// had. A read (a get, or a transaction that only reads) answered from an older
    /// revision than the highest it had seen when it sent the read (answers that arrive
    /// while the read is in flight do not count: the read was concurrent with them), by
    /// a member lagging behind the others (say, one just thawed after a failover,
    /// answering a serializable read), is retried on another endpoint until the
    /// request's deadline, then fails with
    /// [`ErrorKind::StaleRead`](crate::ErrorKind::StaleRead).
    ///
    /// Turn it off only for a client that must follow a cluster restored from a backup
    /// to an older revision; a new client starts from nothing either way.
    pub fn monotonic_reads(mut self, yes: bool) -> Self {
        self.monotonic_reads = yes;
        self
    }

    /// How long a write may wait unanswered before the client asks its member whether
    /// the leader the write went to is still the leader; then it asks again every half
    /// interval. Default 1 s; `Duration::ZERO` turns the check off.
    ///
    /// etcd drops a proposal forwarded to a leader that dies (or steps down, cut off
    /// from its peers) before replicating it, and the member that forwarded it answers
    /// only at etcd's own request timeout (7 s by default). Once the member has a newer
    /// raft term than the one the write was sent in (one the client heard within the
    /// second before sending), or no leader, the write ends with
    /// [`ErrorKind::OutcomeUnknown`](crate::ErrorKind::OutcomeUnknown) (it may have been
    /// committed by the new leader, though then it would normally have been answered
    /// at once) instead of holding its caller until the deadline. Each check is one
    /// `Status` request to that member, shared by every write waiting there.
    pub fn leader_check_interval(mut self, interval: Duration) -> Self {
        self.leader_check_interval = (!interval.is_zero()).then_some(interval);
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

    /// How often the background prober wakes up: each time it turns connections found
    /// silent by their keepalive pings into unhealthy endpoints, and probes (one
    /// `Status` call within the dial timeout) every unhealthy endpoint whose probe
    /// backoff ([`probe_backoff_max`](Self::probe_backoff_max)) has run out; an
    /// endpoint that answers, has a leader, and is recent enough
    /// ([`min_member_version`](Self::min_member_version)) gets requests again.
    /// Default 100 ms. Healthy endpoints are not probed: the requests they answer show
    /// that they are.
    ///
    /// `Duration::ZERO` turns the prober off; no background task probes anything after
    /// [`connect`](Self::connect) (which still probes every endpoint once). A dead or
    /// silent member is then noticed only by what the calls themselves see: a request
    /// that fails there marks its endpoint unhealthy (and moves on to another, as the
    /// retry policy allows), a keepalive ping unanswered within
    /// [`keepalive_timeout`](Self::keepalive_timeout) fails the reads and streams in
    /// flight there, and watch and keepalive streams re-open elsewhere. An unhealthy
    /// endpoint is tried again by a request once its probe backoff has run out (the
    /// request is its probe), or sooner when no other endpoint is healthy.
    pub fn health_check_interval(mut self, interval: Duration) -> Self {
        self.health_check_interval = (!interval.is_zero()).then_some(interval);
        self
    }

    /// How many times in a row the client's watch stream, lease keepalive stream and
    /// election observe streams may fail to re-open before they are given up. An
    /// opening that fails counts, and so does a stream that breaks before it answered
    /// anything; an answer resets the count. Default `None`: they re-open, with
    /// backoff, for as long as they are used.
    ///
    /// When a stream has failed and `max` re-openings in a row have failed after it,
    /// every watcher of the stream ends with
    /// [`ErrorKind::StreamReopensExhausted`](crate::ErrorKind::StreamReopensExhausted)
    /// (carrying, as any watcher's ending does, the last revision it delivered), every
    /// kept-alive lease is reported lost with
    /// [`LostReason::ReopensExhausted`](crate::lease::LostReason::ReopensExhausted) (the
    /// server lets it expire after its TTL), and an election observer yields that error
    /// and ends. `Some(0)`: a stream that fails is not re-opened at all.
    pub fn max_stream_reopens(mut self, max: Option<u32>) -> Self {
        self.max_stream_reopens = max;
        self
    }

    /// The `user-agent` header of every request, stream openings and probes included.
    /// Default [`DEFAULT_USER_AGENT`] (`etcdkit/<version>`). etcd does not act on it;
    /// it shows in proxies' and load balancers' logs. A value that is not a valid
    /// HTTP header value (control characters) makes [`connect`](Self::connect) fail.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Reaches `server`'s endpoint in this process: requests to it are handed to the
    /// server's gRPC service rather than sent over a socket (see [`InProcess`]). The
    /// endpoint must still be one of the client's endpoints (usually the only one):
    /// [`connect`](Self::connect) refuses one that is not, rather than reach the server
    /// over a socket unnoticed;
    /// everything else (retries, auth, watches, lease keepalives, timeouts) works as
    /// over the network. Several servers may be given; the last one given for an
    /// endpoint wins.
    pub fn in_process(mut self, server: InProcess) -> Self {
        self.in_process.push(server);
        self
    }

    /// Refuses members that run an etcd older than `version` (`major.minor.patch`,
    /// such as `"3.5.0"`; `"3.5"` means `3.5.0`). A member's version is the `version`
    /// of its `Status` answer, read when [`connect`](Self::connect) probes it and
    /// whenever the prober probes it again: an older member is marked unhealthy and
    /// gets requests only when no other endpoint is usable. Pre-release suffixes
    /// (`3.6.0-rc.1`) count as their release. Off by default.
    ///
    /// A member with auth enabled may refuse the probe's `Status` (etcd 3.6 answers it
    /// only to a caller with a token); its version is then not known and it is not
    /// refused.
    pub fn min_member_version(mut self, version: impl Into<String>) -> Self {
        self.min_member_version = Some(version.into());
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
    /// that does not parse, or that needs TLS when none is configured, and for an
    /// [`in_process`](Self::in_process) server whose endpoint does not parse or is not one
    /// of the endpoints (compared normalised: scheme, host and port);
    /// [`ErrorKind::Unavailable`](crate::ErrorKind::Unavailable) when no endpoint answers
    /// within the dial timeout (the message says why each did not);
    /// [`ErrorKind::MemberTooOld`](crate::ErrorKind::MemberTooOld) when every endpoint
    /// that answered runs an etcd older than
    /// [`min_member_version`](Self::min_member_version);
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a
    /// [`user_agent`](Self::user_agent) that is no valid header value or a
    /// [`min_member_version`](Self::min_member_version) that is no version.
    pub async fn connect(self) -> Result<Client> {
        Client::connect_with(self).await
    }
}
