//! One endpoint's HTTP/2 connection, spoken directly with `h2`, as the service behind
//! tonic's generated clients.
//!
//! Why not tonic's own `Channel`: it reaches the connection through a `tower` buffer
//! (a queue and a worker task) and hyper's client (another queue, and a task spawned to
//! send each request's body). For etcd's small unary calls those two hand-offs cost more
//! CPU than the call itself. Here the calling task writes its request into the HTTP/2
//! connection itself; only the connection's reader/writer runs as a task of its own.
//!
//! The channel connects lazily, on first use, and again after the connection dies; a
//! request that finds no usable connection fails with [`AttemptError::NotSent`],
//! the proof that it never left the client. Keepalive pings run only while requests are
//! open (etcd polices pings on idle connections) and only when nothing has been read
//! for a whole interval.
//!
//! A ping unanswered within the keepalive timeout makes the connection *silent*: the
//! channel stops giving it new requests (the next one dials afresh), counts a silence
//! that the transport turns into "endpoint unhealthy" and that the streams (watch,
//! lease keepalive) take as their cue to re-open elsewhere, but it does not cut the
//! requests already in flight on it: a write there may still be answered if the member
//! wakes up, and cutting it would only turn its outcome unknown sooner. The silent
//! connection is dropped once it has been silent for `dead_after`, or closes by itself
//! when its last request is done.
//!
//! Pings respect etcd's ping policy (gRPC's keepalive enforcement: a ping less than
//! `--grpc-keepalive-min-time`, 5 s by default, after the previous one is a strike,
//! unless the server has sent headers or data since; the third strike gets the
//! connection closed with GOAWAY `too_many_pings`). So the driver pings freely only
//! right after the server has sent something, allows itself one strike (the server
//! allows two), and otherwise waits out the server's minimum time between pings.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::uri::{Authority, PathAndQuery, Scheme};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::connector::{Conn, Connector};
use super::in_process::LocalService;

mod body;
mod driver;
mod unary;
use super::grpc;
use super::status::AttemptError;
pub(crate) use body::ResponseBody;
use body::{Inner, OpenGuard, send_body};
use driver::{Driver, Watched};
use unary::{Pump, UnaryCall};

/// The HTTP/2 windows we offer etcd. etcd answers can be large (a range of many keys, a
/// snapshot), and the 64 KiB default window would have every large answer wait a round
/// trip per 64 KiB for a window update.
const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
const CONNECTION_WINDOW: u32 = 16 * 1024 * 1024;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// etcd's metadata: the auth token, and "fail unless the member has a leader".
const TOKEN: http::HeaderName = http::HeaderName::from_static("token");
const HAS_LEADER: http::HeaderName = http::HeaderName::from_static("hasleader");

/// A cheaply cloned handle on one endpoint's connection.
#[derive(Clone)]
pub(crate) struct Channel {
    shared: Arc<ChannelState>,
}

/// How a channel pings its connection; see [`ClientOptions`](crate::ClientOptions).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Keepalive {
    /// Ping after this long without reading anything while requests are open.
    pub interval: Duration,
    /// A ping unanswered this long makes the connection silent.
    pub timeout: Duration,
    /// The server's minimum time between pings that carry no strike.
    pub server_min_time: Duration,
    /// A connection silent this long is dropped, failing what is still open on it.
    pub dead_after: Duration,
}

struct ChannelState {
    connector: Connector,
    /// An in-process server that stands for this endpoint: requests go to it directly,
    /// and nothing is dialed.
    local: Option<LocalService>,
    host: String,
    port: u16,
    authority: Authority,
    keepalive: Keepalive,
    /// The `user-agent` header of every request on this channel.
    user_agent: http::HeaderValue,
    /// Counts the connections found silent; watchers are told of each.
    silences: tokio::sync::watch::Sender<u64>,
    /// Set whenever the server sends response headers or data (which resets its
    /// ping-strike count); taken by the connection's driver.
    frames: Arc<AtomicBool>,
    /// The connection in use, when there is one.
    current: Mutex<Option<Arc<Live>>>,
    /// Held while dialing, so that callers arriving meanwhile wait for that one dial.
    dialing: tokio::sync::Mutex<()>,
    generation: AtomicU64,
    /// Requests open on this channel (the keepalive pings only while there are some).
    open: Arc<AtomicUsize>,
    /// Unary calls in flight on this channel: the connection holds a batch of writes
    /// back for other callers only while there are two or more (see [`Watched`]).
    unary_open: Arc<AtomicUsize>,
}

struct Live {
    /// Opens the streams tonic's clients run (watch, keepalive, snapshot, observe).
    sender: h2::client::SendRequest<Bytes>,
    /// Hands unary calls to the connection's driver (see `unary`).
    calls: unary::Calls,
    generation: u64,
}

impl Channel {
    pub fn new(
        connector: Connector,
        local: Option<LocalService>,
        host: String,
        port: u16,
        keepalive: Keepalive,
        user_agent: http::HeaderValue,
    ) -> Result<Channel, http::uri::InvalidUri> {
        let authority: Authority = format!("{host}:{port}").parse()?;
        // Brackets belong in the authority, not in the address we dial.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Channel {
            shared: Arc::new(ChannelState {
                connector,
                local,
                host,
                port,
                authority,
                keepalive,
                user_agent,
                silences: tokio::sync::watch::channel(0).0,
                frames: Arc::new(AtomicBool::new(false)),
                current: Mutex::new(None),
                dialing: tokio::sync::Mutex::new(()),
                generation: AtomicU64::new(0),
                open: Arc::new(AtomicUsize::new(0)),
                unary_open: Arc::new(AtomicUsize::new(0)),
            }),
        })
    }

    /// Tells of every connection of this channel found silent from now on (the count
    /// so far is marked seen).
    pub fn silences(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared.silences.subscribe()
    }

    /// How many connections of this channel have been found silent.
    pub fn silence_count(&self) -> u64 {
        *self.shared.silences.borrow()
    }
}

impl ChannelState {
    fn current(&self) -> Option<Arc<Live>> {
        match self.current.lock() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Forgets connection `generation` (it failed), unless a newer one replaced it.
    fn forget(&self, generation: u64) {
        let mut current = match self.current.lock() {
            Ok(current) => current,
            Err(poisoned) => poisoned.into_inner(),
        };
        if current.as_ref().is_some_and(|l| l.generation == generation) {
            *current = None;
        }
    }

    /// The live connection, dialing one when there is none.
    async fn live(self: &Arc<Self>) -> Result<Arc<Live>, super::connector::DialError> {
        if let Some(live) = self.current() {
            return Ok(live);
        }
        // Boxed: dialing (TCP, TLS, the HTTP/2 handshake) is a future of kilobytes that
        // every request's future would otherwise carry, and move, for the rare call that
        // dials.
        Box::pin(self.dial()).await
    }

    /// Dials a connection, unless a caller that was dialing meanwhile made one.
    async fn dial(self: &Arc<Self>) -> Result<Arc<Live>, super::connector::DialError> {
        let _dialing = self.dialing.lock().await;
        if let Some(live) = self.current() {
            return Ok(live);
        }
        let conn = self.connector.dial(&self.host, self.port).await?;
        let read_activity = Arc::new(AtomicBool::new(false));
        let io = Watched {
            conn,
            read: read_activity.clone(),
            batch_held: false,
            unary_open: self.unary_open.clone(),
        };
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .handshake::<_, Bytes>(io)
            .await
            .map_err(|e| {
                self.connector.dial_error(
                    &self.host,
                    self.port,
                    format!("HTTP/2 handshake failed: {e}"),
                )
            })?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let (calls, queued) = tokio::sync::mpsc::unbounded_channel();
        let live = Arc::new(Live {
            sender: sender.clone(),
            calls,
            generation,
        });
        let mut connection = connection;
        let pings = connection.ping_pong();
        // A new connection: the server's strike count starts at zero.
        self.frames.store(true, Ordering::Relaxed);
        let driver = Driver {
            shared: Arc::downgrade(self),
            generation,
            open: self.open.clone(),
            read_activity,
            frames: self.frames.clone(),
            keepalive: self.keepalive,
        };
        let (connector, host, port) = (self.connector.clone(), self.host.clone(), self.port);
        let pump = Pump::new(
            connection,
            sender,
            queued,
            self.frames.clone(),
            Box::new(move |reason| {
                AttemptError::NotSent(connector.dial_error(&host, port, reason))
            }),
            Arc::downgrade(self),
            generation,
        );
        tokio::spawn(driver.run(pump, pings));
        if let Ok(mut current) = self.current.lock() {
            *current = Some(live.clone());
        }
        Ok(live)
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Channel {
    type Response = http::Response<ResponseBody>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            send(shared, request)
                .await
                .map_err(|e| Box::new(e.into_status()) as BoxError)
        })
    }
}

/// Sends one request (for tonic's generated clients) and waits for its response headers.
async fn send(
    shared: Arc<ChannelState>,
    request: http::Request<tonic::body::Body>,
) -> Result<http::Response<ResponseBody>, AttemptError> {
    let (mut parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = shared.uri(path)?;
    if let Some(local) = &shared.local {
        parts
            .headers
            .insert(http::header::USER_AGENT, shared.user_agent.clone());
        let open = OpenGuard::new(&shared.open);
        let response = shared
            .call_local(local, http::Request::from_parts(parts, body))
            .await?;
        return Ok(response.map(|body| ResponseBody {
            inner: Inner::Local(body),
            _open: open,
        }));
    }
    let end_of_stream = body.is_end_stream();
    let open = OpenGuard::new(&shared.open);
    let (live, response, stream) = shared
        .open(http::Request::from_parts(parts, ()), end_of_stream)
        .await?;
    if !end_of_stream {
        send_body(body, stream)?;
    }
    let response = shared.response(&live, response).await?;
    let frames = shared.frames.clone();
    Ok(response.map(|recv| ResponseBody {
        inner: Inner::H2 { recv, frames },
        _open: open,
    }))
}

/// What every call carries besides its message: etcd's metadata. The one way metadata
/// is attached, to unary calls and stream openings alike.
#[derive(Clone, Default)]
pub(crate) struct CallMetadata {
    /// The auth token (a cheap clone: the bytes are shared).
    pub token: Option<http::HeaderValue>,
    pub require_leader: bool,
}

impl CallMetadata {
    /// Adds the metadata to a request's headers.
    pub fn apply(self, headers: &mut http::HeaderMap) {
        if let Some(token) = self.token {
            headers.insert(TOKEN, token);
        }
        if self.require_leader {
            headers.insert(HAS_LEADER, http::HeaderValue::from_static("true"));
        }
    }

    /// A request for tonic's generated clients (the streams), carrying the metadata.
    pub fn request<T>(self, message: T) -> tonic::Request<T> {
        let mut headers = http::HeaderMap::new();
        self.apply(&mut headers);
        tonic::Request::from_parts(
            tonic::metadata::MetadataMap::from_headers(headers),
            http::Extensions::default(),
            message,
        )
    }
}

impl Channel {
    /// One unary call: `frame` (a message already in gRPC framing) to `path`, and the
    /// decoded answer or the call's status.
    ///
    /// Every request's future holds this one's state, and is moved into a box when it
    /// starts: the request's headers are built only once a connection is at hand, and
    /// the in-process branch is boxed, so that neither is carried through the wait.
    pub async fn unary<M: prost::Message + Default>(
        &self,
        path: &'static str,
        frame: Bytes,
        metadata: CallMetadata,
        max_recv: usize,
    ) -> Result<M, AttemptError> {
        let shared = &self.shared;
        let _open = OpenGuard::new(&shared.open);
        let _unary = OpenGuard::new(&shared.unary_open);
        let decoder = match &shared.local {
            Some(local) => {
                let request = shared.unary_request(path, metadata)?;
                Box::pin(shared.unary_local(local, request, frame, max_recv)).await?
            }
            None => shared.unary_h2(path, frame, metadata, max_recv).await?,
        };
        decoder.finish()
    }
}

impl ChannelState {
    /// A unary request's headers.
    fn unary_request(
        &self,
        path: &'static str,
        metadata: CallMetadata,
    ) -> Result<http::Request<()>, AttemptError> {
        use http::header::{CONTENT_TYPE, HeaderValue, TE, USER_AGENT};
        let mut request = http::Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri(PathAndQuery::from_static(path))?;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        headers.insert(USER_AGENT, self.user_agent.clone());
        metadata.apply(headers);
        Ok(request)
    }

    /// A unary call over HTTP/2: the connection's driver sends it and reads its answer
    /// (see `unary`).
    async fn unary_h2(
        self: &Arc<Self>,
        path: &'static str,
        frame: Bytes,
        metadata: CallMetadata,
        max_recv: usize,
    ) -> Result<grpc::Decoder, AttemptError> {
        let live = self.live().await.map_err(AttemptError::NotSent)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let call = UnaryCall {
            request: self.unary_request(path, metadata)?,
            frame,
            max_recv,
            reply,
        };
        if live.calls.send(call).is_err() {
            // The driver has ended: the call never reached the connection.
            self.forget(live.generation);
            return Err(AttemptError::NotSent(self.connector.dial_error(
                &self.host,
                self.port,
                "the connection closed before the request was sent".into(),
            )));
        }
        drop(live);
        match answer.await {
            Ok(decoder) => decoder,
            // The driver settles every call it takes; only a runtime shutting down
            // drops one unanswered, and by then the call may have been sent.
            Err(_) => Err(AttemptError::ConnectionLost(h2::Reason::CANCEL.into())),
        }
    }

    /// A unary call to the in-process server.
    async fn unary_local(
        &self,
        local: &LocalService,
        request: http::Request<()>,
        frame: Bytes,
        max_recv: usize,
    ) -> Result<grpc::Decoder, AttemptError> {
        let body = tonic::body::Body::new(http_body_util::Full::new(frame));
        let (head, mut body) = self
            .call_local(local, request.map(|()| body))
            .await?
            .into_parts();
        check_head(&head)?;
        let mut decoder = grpc::Decoder::new(max_recv);
        let mut trailers = None;
        while let Some(frame) = body.frame().await {
            match frame?.into_data() {
                Ok(data) => decoder.push(data)?,
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        check_trailers(&head, trailers.as_ref())?;
        Ok(decoder)
    }
}

/// A unary answer's headers: HTTP 200, and no gRPC error in them ("trailers-only").
fn check_head(head: &http::response::Parts) -> Result<(), AttemptError> {
    if head.status != http::StatusCode::OK {
        return Err(grpc::http_error(head.status).into());
    }
    if let Some(status) = grpc::error_in(&head.headers) {
        return Err(status.into());
    }
    Ok(())
}

/// A unary answer's trailers: no gRPC error in them, and a status in them or in the
/// headers.
fn check_trailers(
    head: &http::response::Parts,
    trailers: Option<&http::HeaderMap>,
) -> Result<(), AttemptError> {
    match trailers {
        Some(trailers) => match grpc::error_in(trailers) {
            Some(status) => Err(status.into()),
            None => Ok(()),
        },
        None if !grpc::has_status(&head.headers) => Err(AttemptError::Unreadable(
            "the response ended without a gRPC status".into(),
        )),
        None => Ok(()),
    }
}

impl ChannelState {
    /// Hands a request to the in-process server. Its refusal (it has stopped) is proof
    /// the request never ran, as a refused connection is.
    async fn call_local(
        &self,
        local: &LocalService,
        request: http::Request<tonic::body::Body>,
    ) -> Result<http::Response<tonic::body::Body>, AttemptError> {
        use tower::ServiceExt;
        local.clone().oneshot(request).await.map_err(|e| {
            AttemptError::NotSent(self.connector.dial_error(
                &self.host,
                self.port,
                format!("the in-process server refused the request: {e}"),
            ))
        })
    }

    fn uri(&self, path: PathAndQuery) -> Result<http::Uri, AttemptError> {
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(Scheme::HTTP);
        uri.authority = Some(self.authority.clone());
        uri.path_and_query = Some(path);
        http::Uri::from_parts(uri).map_err(|e| {
            AttemptError::NotSent(self.connector.dial_error(
                &self.host,
                self.port,
                format!("bad request URI: {e}"),
            ))
        })
    }

    /// Opens a stream for `request` on the live connection, dialing one when needed.
    async fn open(
        self: &Arc<Self>,
        mut request: http::Request<()>,
        end_of_stream: bool,
    ) -> Result<(Arc<Live>, h2::client::ResponseFuture, h2::SendStream<Bytes>), AttemptError> {
        // Every request passes here, unary calls and tonic's streams alike (whose own
        // `user-agent`, if any, this replaces).
        request
            .headers_mut()
            .insert(http::header::USER_AGENT, self.user_agent.clone());
        let live = self.live().await.map_err(AttemptError::NotSent)?;
        let closed = |e: h2::Error| {
            // The connection died before this request could be written.
            self.forget(live.generation);
            AttemptError::NotSent(self.connector.dial_error(
                &self.host,
                self.port,
                format!("the connection closed before the request was sent: {e}"),
            ))
        };
        let mut sender = live.sender.clone().ready().await.map_err(closed)?;
        let (response, stream) = sender
            .send_request(request, end_of_stream)
            .map_err(closed)?;
        Ok((live, response, stream))
    }

    /// Waits for the response headers; a broken connection is forgotten.
    async fn response(
        &self,
        live: &Live,
        response: h2::client::ResponseFuture,
    ) -> Result<http::Response<h2::RecvStream>, AttemptError> {
        let response = response.await.map_err(|e| {
            if e.is_io() || e.is_go_away() {
                self.forget(live.generation);
            }
            AttemptError::ConnectionLost(e)
        })?;
        self.frames.store(true, Ordering::Relaxed);
        Ok(response)
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::generated::etcdserverpb::{StatusRequest, StatusResponse};

    /// A one-request HTTP/2 server: hands over the request's headers and answers with a
    /// gRPC error (trailers only), which is all a client needs to finish its call.
    async fn headers_of_one_request(listener: tokio::net::TcpListener) -> http::HeaderMap {
        let (socket, _) = listener.accept().await.unwrap();
        let mut connection = h2::server::handshake(socket).await.unwrap();
        let (request, mut respond) = connection.accept().await.unwrap().unwrap();
        let response = http::Response::builder()
            .status(200)
            .header("content-type", "application/grpc")
            .header("grpc-status", "12")
            .body(())
            .unwrap();
        respond.send_response(response, true).unwrap();
        // Keep the connection served until the client has read the answer.
        tokio::spawn(async move { while connection.accept().await.is_some() {} });
        request.headers().clone()
    }

    pub(super) fn channel(port: u16, user_agent: &'static str) -> Channel {
        let second = Duration::from_secs(1);
        Channel::new(
            Connector::new(second, None),
            None,
            "127.0.0.1".into(),
            port,
            Keepalive {
                interval: second,
                timeout: second,
                server_min_time: second,
                dead_after: second,
            },
            http::HeaderValue::from_static(user_agent),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn every_request_carries_the_configured_user_agent() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(headers_of_one_request(listener));
        let channel = channel(port, "my-service/1.2 (etcdkit)");
        let call = channel.unary::<StatusResponse>(
            "/etcdserverpb.Maintenance/Status",
            grpc::encode(&StatusRequest {}),
            CallMetadata::default(),
            1 << 20,
        );
        let answer = tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("the call ends");
        assert!(answer.is_err(), "the server answers with an error");
        let headers = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the server saw the request")
            .unwrap();
        assert_eq!(
            headers.get(http::header::USER_AGENT).unwrap(),
            "my-service/1.2 (etcdkit)"
        );
        assert_eq!(headers.get_all(http::header::USER_AGENT).iter().count(), 1);
    }

    #[test]
    fn the_default_user_agent_names_the_crate_and_its_version() {
        assert_eq!(
            crate::DEFAULT_USER_AGENT,
            format!("etcdkit/{}", env!("CARGO_PKG_VERSION"))
        );
        assert!(http::HeaderValue::from_str(crate::DEFAULT_USER_AGENT).is_ok());
    }
}
