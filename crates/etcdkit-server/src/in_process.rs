//! The server's gRPC service as a value, for a client in the same process
//! ([`RunningServer::service`](crate::RunningServer::service)): the same handlers, limits
//! and answers as over TCP, without a socket or HTTP/2 in between.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};

use tokio::sync::watch;
use tonic::body::Body;
use tonic::codegen::http::{Request, Response};
use tonic::service::Routes;
use tower::ServiceExt;

/// The routes behind the size-limit layer, as the TCP server has them.
type LimitedRoutes = tower::util::MapResponse<Routes, fn(Response<Body>) -> Response<Body>>;

/// Every service of the server (KV, watch, lease, lock, election, auth, maintenance,
/// cluster) behind one `tower` service of gRPC-over-HTTP requests, as
/// [`RunningServer::service`](crate::RunningServer::service) gives it.
///
/// A request's body is its messages in gRPC framing; the answer carries the gRPC status in
/// its trailers (or its headers), exactly as the server sends it over HTTP/2. Cheap to
/// clone (the clones share the server). Once the server has stopped (shut down, dropped,
/// or the tokio runtime it was started on has ended), every call fails with
/// [`ServerStopped`] without running: a client takes that as a refused connection. A
/// stream opened before the stop ends as UNAVAILABLE, as over TCP.
#[derive(Clone)]
pub struct InProcessService {
    routes: LimitedRoutes,
    stopped: watch::Receiver<bool>,
    /// Alive while the server's serving task is: gone once its runtime has ended.
    serving: Weak<()>,
}

impl InProcessService {
    pub(crate) fn new(
        routes: Routes,
        stopped: watch::Receiver<bool>,
        serving: Weak<()>,
    ) -> InProcessService {
        InProcessService {
            routes: tower::ServiceBuilder::new()
                .layer(crate::size_limit::layer())
                .service(routes),
            stopped,
            serving,
        }
    }

    /// Stopped: told to stop, or its runtime (with the tasks that expire leases) is gone.
    fn is_stopped(&self) -> bool {
        *self.stopped.borrow() || self.serving.strong_count() == 0
    }
}

impl fmt::Debug for InProcessService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InProcessService")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

/// The server has stopped: the request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStopped;

impl fmt::Display for ServerStopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the etcdkit-server has stopped")
    }
}

impl std::error::Error for ServerStopped {}

impl tower::Service<Request<Body>> for InProcessService {
    type Response = Response<Body>;
    type Error = ServerStopped;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, ServerStopped>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), ServerStopped>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        if self.is_stopped() {
            return Box::pin(std::future::ready(Err(ServerStopped)));
        }
        let routes = self.routes.clone();
        Box::pin(async move {
            match routes.oneshot(request).await {
                Ok(response) => Ok(response),
                Err(never) => match never {},
            }
        })
    }
}
