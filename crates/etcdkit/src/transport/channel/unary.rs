//! Unary calls, carried out by the connection's driver task on behalf of their callers.
//!
//! Why the driver and not the caller: every touch of an `h2` stream (opening it, writing
//! its message, polling its headers, data and trailers, handing back flow-control
//! capacity, dropping its handles) takes the connection's one lock. Done from the calling
//! tasks, which tokio runs on every worker thread, that is a dozen acquisitions per call
//! of a lock the driver holds most of the time on another core, and the connection's
//! state bounces between the cores' caches with each. Handed over instead, a call costs
//! its caller one queue push and one wake-up when its answer is complete, and all the
//! `h2` work stays on the driver's thread, where the lock is uncontended and the state
//! warm (measured in docs/BENCHMARKS.md).
//!
//! What the caller can learn stays the same: a call that never reached the connection
//! fails [`AttemptError::NotSent`], one that may have fails
//! [`AttemptError::ConnectionLost`], and a caller that gives up (a timeout, a dropped
//! future) has its stream reset at once, so etcd cancels the request (a lock wait, for
//! one, deletes its key).

use std::collections::VecDeque;

use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};

use super::*;

/// A unary call handed to the driver: the request's headers, its message in gRPC
/// framing, the answer's size limit, and where the answer goes.
pub(super) struct UnaryCall {
    pub(super) request: http::Request<()>,
    pub(super) frame: Bytes,
    pub(super) max_recv: usize,
    pub(super) reply: oneshot::Sender<Result<grpc::Decoder, AttemptError>>,
}

/// The queue callers hand their calls to.
pub(super) type Calls = mpsc::UnboundedSender<UnaryCall>;

/// One call in flight: resolves once its answer is complete (or its caller gone), saying
/// whether the connection itself broke.
type InFlight = Pin<Box<dyn Future<Output = bool> + Send>>;

/// Makes the error of a call that never left, saying why.
pub(super) type NotSent = Box<dyn Fn(String) -> AttemptError + Send + Sync>;

/// The connection with the unary calls it carries: a future that drives both and ends
/// when the connection does.
pub(super) struct Pump {
    not_sent: NotSent,
    connection: h2::client::Connection<Watched, Bytes>,
    sender: h2::client::SendRequest<Bytes>,
    queued: mpsc::UnboundedReceiver<UnaryCall>,
    /// Calls taken from the queue while `h2` could not open another stream yet.
    waiting: VecDeque<UnaryCall>,
    in_flight: FuturesUnordered<InFlight>,
    frames: Arc<AtomicBool>,
    /// The channel, and this connection's generation in it: a connection found broken
    /// or going away is forgotten at once, so new calls dial afresh.
    shared: std::sync::Weak<ChannelState>,
    generation: u64,
}

impl Pump {
    pub(super) fn new(
        connection: h2::client::Connection<Watched, Bytes>,
        sender: h2::client::SendRequest<Bytes>,
        queued: mpsc::UnboundedReceiver<UnaryCall>,
        frames: Arc<AtomicBool>,
        not_sent: NotSent,
        shared: std::sync::Weak<ChannelState>,
        generation: u64,
    ) -> Pump {
        Pump {
            not_sent,
            connection,
            sender,
            queued,
            waiting: VecDeque::new(),
            in_flight: FuturesUnordered::new(),
            frames,
            shared,
            generation,
        }
    }

    fn forget_connection(&self) {
        if let Some(shared) = self.shared.upgrade() {
            shared.forget(self.generation);
        }
    }

    /// Ends the connection and settles every call: those never sent fail `NotSent`, those
    /// in flight with the error `h2` gives them (the connection is gone, so each
    /// answer is at hand).
    pub(super) async fn close(self) {
        let Pump {
            not_sent,
            connection,
            mut queued,
            waiting,
            mut in_flight,
            ..
        } = self;
        // Dropping the connection fails its open streams.
        drop(connection);
        queued.close();
        for call in waiting {
            let _ = call.reply.send(Err(not_sent(CLOSED.into())));
        }
        while let Ok(call) = queued.try_recv() {
            let _ = call.reply.send(Err(not_sent(CLOSED.into())));
        }
        while in_flight.next().await.is_some() {}
    }

    /// Opens a stream for each call queued, while `h2` lets us.
    fn start_calls(&mut self, cx: &mut Context<'_>) {
        loop {
            let call = match self.waiting.pop_front() {
                Some(call) => call,
                None => match self.queued.poll_recv(cx) {
                    Poll::Ready(Some(call)) => call,
                    _ => return,
                },
            };
            match self.sender.poll_ready(cx) {
                Poll::Ready(Ok(())) => self.start(call),
                Poll::Ready(Err(e)) => {
                    self.forget_connection();
                    let _ = call
                        .reply
                        .send(Err((self.not_sent)(format!("{CLOSED}: {e}"))));
                }
                Poll::Pending => {
                    self.waiting.push_front(call);
                    return;
                }
            }
        }
    }

    fn start(&mut self, call: UnaryCall) {
        let UnaryCall {
            request,
            frame,
            max_recv,
            reply,
        } = call;
        if reply.is_closed() {
            return;
        }
        let (response, mut stream) = match self.sender.send_request(request, false) {
            Ok(opened) => opened,
            Err(e) => {
                self.forget_connection();
                let _ = reply.send(Err((self.not_sent)(format!("{CLOSED}: {e}"))));
                return;
            }
        };
        if let Err(e) = stream.send_data(frame, true) {
            let _ = reply.send(Err(AttemptError::ConnectionLost(e)));
            return;
        }
        let frames = self.frames.clone();
        self.in_flight
            .push(Box::pin(answer(response, max_recv, frames, reply)));
    }
}

/// Why a call never left: its connection closed first.
const CLOSED: &str = "the connection closed before the request was sent";

impl Future for Pump {
    type Output = Result<(), h2::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        this.start_calls(cx);
        // Writes the requests just started (unless the batch is held, see `Watched`),
        // and reads whatever answers have come.
        if let Poll::Ready(result) = Pin::new(&mut this.connection).poll(cx) {
            return Poll::Ready(result);
        }
        while let Poll::Ready(Some(broken)) = this.in_flight.poll_next_unpin(cx) {
            if broken {
                this.forget_connection();
            }
        }
        Poll::Pending
    }
}

/// Waits for one call's answer and hands it to its caller; drops the stream (resetting it)
/// as soon as the caller is gone. Resolves to whether the connection broke.
async fn answer(
    response: h2::client::ResponseFuture,
    max_recv: usize,
    frames: Arc<AtomicBool>,
    mut reply: oneshot::Sender<Result<grpc::Decoder, AttemptError>>,
) -> bool {
    let read = read_answer(response, max_recv, &frames);
    let mut read = std::pin::pin!(read);
    let answered = std::future::poll_fn(|cx| {
        if let Poll::Ready(answer) = read.as_mut().poll(cx) {
            return Poll::Ready(Some(answer));
        }
        reply.poll_closed(cx).map(|()| None)
    })
    .await;
    let Some(answer) = answered else {
        return false;
    };
    let broken =
        matches!(&answer, Err(AttemptError::ConnectionLost(e)) if e.is_io() || e.is_go_away());
    let _ = reply.send(answer);
    broken
}

/// Reads one unary answer: headers, the message, trailers.
async fn read_answer(
    response: h2::client::ResponseFuture,
    max_recv: usize,
    frames: &AtomicBool,
) -> Result<grpc::Decoder, AttemptError> {
    let response = response.await.map_err(AttemptError::ConnectionLost)?;
    frames.store(true, Ordering::Relaxed);
    let (head, mut body) = response.into_parts();
    check_head(&head)?;
    let mut decoder = grpc::Decoder::new(max_recv);
    while let Some(data) = std::future::poll_fn(|cx| body.poll_data(cx)).await {
        let data = data.map_err(AttemptError::ConnectionLost)?;
        let _ = body.flow_control().release_capacity(data.len());
        frames.store(true, Ordering::Relaxed);
        decoder.push(data)?;
    }
    let trailers = std::future::poll_fn(|cx| body.poll_trailers(cx))
        .await
        .map_err(AttemptError::ConnectionLost)?;
    check_trailers(&head, trailers.as_ref())?;
    Ok(decoder)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::generated::etcdserverpb::{StatusRequest, StatusResponse};

    const BOUND: Duration = Duration::from_secs(10);

    fn status_call(
        channel: &Channel,
    ) -> impl Future<Output = Result<StatusResponse, AttemptError>> {
        channel.unary::<StatusResponse>(
            "/etcdserverpb.Maintenance/Status",
            grpc::encode(&StatusRequest {}),
            CallMetadata::default(),
            1 << 20,
        )
    }

    /// A caller that stops waiting (a timeout, a dropped future) has its stream reset at
    /// once, so the server cancels the request: etcd deletes the key of an abandoned
    /// lock wait on that signal.
    #[tokio::test]
    async fn a_call_whose_caller_gives_up_is_reset_on_the_wire() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (asked, was_asked) = oneshot::channel();
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut connection = h2::server::handshake(socket).await.unwrap();
            let (_request, mut respond) = connection.accept().await.unwrap().unwrap();
            let _ = asked.send(());
            // Never answers; keeps reading frames until the stream is reset.
            let reset = std::future::poll_fn(|cx| respond.poll_reset(cx));
            tokio::select! {
                reason = reset => reason.unwrap(),
                _ = async { while connection.accept().await.is_some() {} } => {
                    panic!("the connection ended before the stream was reset")
                }
            }
        });
        let channel = super::super::tests::channel(port, "etcdkit-test");
        let call = tokio::spawn({
            let channel = channel.clone();
            async move { status_call(&channel).await }
        });
        tokio::time::timeout(BOUND, was_asked)
            .await
            .expect("the request reaches the server")
            .unwrap();
        call.abort();
        let reason = tokio::time::timeout(BOUND, server)
            .await
            .expect("the server sees the stream reset")
            .unwrap();
        assert_eq!(reason, h2::Reason::CANCEL);
    }

    /// Many callers at once each get their own answer, matched to their own request.
    #[tokio::test]
    async fn concurrent_calls_each_get_their_own_answer() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut connection = h2::server::handshake(socket).await.unwrap();
            while let Some(Ok((request, mut respond))) = connection.accept().await {
                // Answers each call with a gRPC error whose message is the request's
                // `token` header, so the client can tell whose answer it got.
                let token = request.headers().get("token").unwrap().clone();
                let response = http::Response::builder()
                    .status(200)
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "5")
                    .header("grpc-message", token)
                    .body(())
                    .unwrap();
                respond.send_response(response, true).unwrap();
            }
        });
        let channel = super::super::tests::channel(port, "etcdkit-test");
        let calls = (0..64).map(|i| {
            let channel = channel.clone();
            tokio::spawn(async move {
                let metadata = CallMetadata {
                    token: Some(http::HeaderValue::from_str(&format!("caller-{i}")).unwrap()),
                    require_leader: false,
                };
                let answer = channel
                    .unary::<StatusResponse>(
                        "/etcdserverpb.Maintenance/Status",
                        grpc::encode(&StatusRequest {}),
                        metadata,
                        1 << 20,
                    )
                    .await;
                (i, answer)
            })
        });
        for call in calls.collect::<Vec<_>>() {
            let (i, answer) = tokio::time::timeout(BOUND, call)
                .await
                .expect("every call is answered")
                .unwrap();
            match answer {
                Err(AttemptError::Status(status)) => {
                    assert_eq!(status.code(), tonic::Code::NotFound);
                    assert_eq!(status.message(), format!("caller-{i}"));
                }
                other => panic!("caller {i} got {:?}", other.err().map(|e| e.into_status())),
            }
        }
    }

    /// A server that closes the connection without answering: the call fails, and says
    /// it may have been sent (the request was written before the close).
    #[tokio::test]
    async fn a_call_on_a_connection_that_closes_unanswered_fails_outcome_unknown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let mut connection = h2::server::handshake(socket).await.unwrap();
            let (_request, _respond) = connection.accept().await.unwrap().unwrap();
            // Dropping the connection (and the socket) closes it under the call.
        });
        let channel = super::super::tests::channel(port, "etcdkit-test");
        let answer = tokio::time::timeout(BOUND, status_call(&channel))
            .await
            .expect("the call ends");
        assert!(
            matches!(answer, Err(AttemptError::ConnectionLost(_))),
            "got {:?}",
            answer.err().map(|e| e.into_status())
        );
    }
}
