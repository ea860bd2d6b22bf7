//! Request and response bodies on a channel: writing a request's messages into its HTTP/2
//! stream, counting a request as open while it is, and the response body tonic's clients
//! read (from HTTP/2, or as an in-process server gave it).

use super::*;

/// Writes a request body. A unary request's single message is ready at once and goes
/// out from this task; a streaming body (watch, lease keepalive) gets a task of its own
/// that forwards messages as they come.
pub(super) fn send_body(
    mut body: tonic::body::Body,
    mut stream: h2::SendStream<Bytes>,
) -> Result<(), AttemptError> {
    // One frame of look-ahead, so a unary message goes out with END_STREAM on it.
    let mut held: Option<Bytes> = None;
    loop {
        match body.frame().now_or_never() {
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    if let Some(previous) = held.replace(data) {
                        stream
                            .send_data(previous, false)
                            .map_err(AttemptError::ConnectionLost)?;
                    }
                }
                Err(frame) => {
                    if let Some(previous) = held.take() {
                        stream
                            .send_data(previous, false)
                            .map_err(AttemptError::ConnectionLost)?;
                    }
                    if let Ok(trailers) = frame.into_trailers() {
                        stream
                            .send_trailers(trailers)
                            .map_err(AttemptError::ConnectionLost)?;
                    }
                    return Ok(());
                }
            },
            Some(None) => {
                stream
                    .send_data(held.take().unwrap_or_default(), true)
                    .map_err(AttemptError::ConnectionLost)?;
                return Ok(());
            }
            Some(Some(Err(status))) => {
                stream.send_reset(h2::Reason::CANCEL);
                return Err(status.into());
            }
            None => {
                if let Some(previous) = held.take() {
                    stream
                        .send_data(previous, false)
                        .map_err(AttemptError::ConnectionLost)?;
                }
                tokio::spawn(forward_body(body, stream));
                return Ok(());
            }
        }
    }
}

/// Forwards a streaming request body until it ends, or the stream is reset.
async fn forward_body(mut body: tonic::body::Body, mut stream: h2::SendStream<Bytes>) {
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            // The server ended the stream (or it was reset): stop reading the body.
            _ = std::future::poll_fn(|cx| stream.poll_reset(cx)) => return,
        };
        let sent = match frame {
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => stream.send_data(data, false),
                Err(frame) => match frame.into_trailers() {
                    Ok(trailers) => {
                        let _ = stream.send_trailers(trailers);
                        return;
                    }
                    Err(_) => Ok(()),
                },
            },
            None => {
                let _ = stream.send_data(Bytes::new(), true);
                return;
            }
            Some(Err(_)) => {
                stream.send_reset(h2::Reason::CANCEL);
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Counts a request as open (in one of the channel's counters) from its sending until
/// its response is read (or, for tonic's clients, its response body dropped).
pub(super) struct OpenGuard(Arc<AtomicUsize>);

impl OpenGuard {
    pub(super) fn new(counter: &Arc<AtomicUsize>) -> OpenGuard {
        counter.fetch_add(1, Ordering::Relaxed);
        OpenGuard(counter.clone())
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body: the HTTP/2 stream's data, then its trailers (where gRPC puts the
/// status). Received bytes are handed back to flow control as they are read.
pub(crate) struct ResponseBody {
    pub(super) inner: Inner,
    pub(super) _open: OpenGuard,
}

pub(super) enum Inner {
    H2 {
        recv: h2::RecvStream,
        /// The channel's "the server sent something" flag (see [`Driver`]).
        frames: Arc<AtomicBool>,
    },
    /// An in-process server's answer, as its service gave it.
    Local(tonic::body::Body),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, tonic::Status>>> {
        let (recv, frames) = match &mut self.inner {
            Inner::H2 { recv, frames } => (recv, frames),
            Inner::Local(body) => return Pin::new(body).poll_frame(cx),
        };
        if !recv.is_end_stream() {
            match recv.poll_data(cx) {
                Poll::Ready(Some(Ok(data))) => {
                    let _ = recv.flow_control().release_capacity(data.len());
                    frames.store(true, Ordering::Relaxed);
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Poll::Ready(Some(Err(e))) => {
                    return Poll::Ready(Some(Err(AttemptError::ConnectionLost(e).into_status())));
                }
                Poll::Ready(None) => {}
                Poll::Pending => return Poll::Pending,
            }
        }
        match recv.poll_trailers(cx) {
            Poll::Ready(Ok(Some(trailers))) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Poll::Ready(Ok(None)) => Poll::Ready(None),
            Poll::Ready(Err(e)) => {
                Poll::Ready(Some(Err(AttemptError::ConnectionLost(e).into_status())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::H2 { recv, .. } => recv.is_end_stream(),
            Inner::Local(body) => body.is_end_stream(),
        }
    }
}
