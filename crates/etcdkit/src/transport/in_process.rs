//! An etcd server in this process, reached without a socket: the channel hands each
//! request, as an HTTP request carrying gRPC framing, straight to the server's gRPC service
//! (a `tower` service such as `etcdkit_server::RunningServer::service`), and reads the
//! answer the same way it reads one from HTTP/2. Nothing else in the client changes: the
//! retry policy, auth, watch and lease streams see a channel like any other.
//!
//! Why: a test's server in the same process need not cost loopback TCP and HTTP/2 framing
//! on both sides of every call, which is most of a small call's CPU.

use std::fmt;

use tower::util::BoxCloneSyncService;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The service type every in-process server is boxed into.
pub(crate) type LocalService = BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    BoxError,
>;

/// An etcd server running in this process, and the endpoint it stands for.
///
/// Given to [`ClientOptions::in_process`](crate::ClientOptions::in_process): requests to
/// that endpoint are handed to `service` instead of being sent over the network. The
/// endpoint is matched as the client normalises endpoints (`127.0.0.1:2379` and
/// `http://127.0.0.1:2379` are the same), so a member list that advertises the server's
/// URL (auto-sync, [`Cluster::member_list`](crate::cluster::Cluster::member_list)) still
/// leads to it.
///
/// The endpoint is only the label requests are routed by: nothing checks that `service`
/// is the server that endpoint names (give each server its own URL, as
/// `etcdkit_server::RunningServer::url` is).
///
/// Once the server has stopped, its refusals are taken as a refused connection is: a
/// request is retried (elsewhere, or on it) until its deadline, then fails as
/// [`Unavailable`](crate::ErrorKind::Unavailable); watchers and lease keepers keep
/// re-opening their streams, as they do for a member that is restarting. A test that
/// wants a stopped server noticed at once sets a short
/// [`request_timeout`](crate::ClientOptions::request_timeout) and
/// [`max_stream_reopens`](crate::ClientOptions::max_stream_reopens).
///
/// ```no_run
/// # async fn f(service: impl tower::Service<
/// #     http::Request<tonic::body::Body>,
/// #     Response = http::Response<tonic::body::Body>,
/// #     Error = Box<dyn std::error::Error + Send + Sync>,
/// #     Future: Send + 'static> + Clone + Send + Sync + 'static) -> etcdkit::Result<()> {
/// // `service`: for example `etcdkit_server::RunningServer::service()`.
/// let url = "http://127.0.0.1:2379";
/// let client = etcdkit::ClientOptions::new([url])
///     .in_process(etcdkit::InProcess::new(url, service))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct InProcess {
    pub(crate) endpoint: String,
    pub(crate) service: LocalService,
}

impl InProcess {
    /// Stands `service` for `endpoint` (as [`ClientOptions::new`](crate::ClientOptions::new)
    /// takes endpoints).
    ///
    /// `service` answers gRPC over HTTP requests: a request's body is its messages in gRPC
    /// framing, the answer's status is in its trailers (or its headers). An `Err` from
    /// the service means the request was not taken (the server has stopped): the client
    /// treats it as a connection refused, proof that the request never ran, and may send
    /// it elsewhere.
    pub fn new<S>(endpoint: impl Into<String>, service: S) -> InProcess
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
            > + Clone
            + Send
            + Sync
            + 'static,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        use tower::ServiceExt;
        InProcess {
            endpoint: endpoint.into(),
            service: BoxCloneSyncService::new(service.map_err(Into::into)),
        }
    }

    /// The endpoint this server stands for, as given.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

impl fmt::Debug for InProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcess")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}
