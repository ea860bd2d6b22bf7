//! The task that drives one HTTP/2 connection: its reads and writes, and the keepalive
//! pings that find a silent member (see the parent module's docs), within the server's
//! ping policy; and the I/O wrapper that tells it when anything was read.

use super::*;

/// Runs one connection: its reads and writes, and keepalive pings while requests are
/// open. A ping unanswered within the timeout makes the connection silent (see the
/// module docs); it ends when closed, broken, or silent for `dead_after`, and then the
/// channel forgets it, and dropping it fails whatever streams were still open.
pub(super) struct Driver {
    pub(super) shared: std::sync::Weak<ChannelState>,
    pub(super) generation: u64,
    pub(super) open: Arc<AtomicUsize>,
    pub(super) read_activity: Arc<AtomicBool>,
    pub(super) frames: Arc<AtomicBool>,
    pub(super) keepalive: Keepalive,
}

/// What the driver knows of its pings, to stay within the server's ping policy.
struct PingBudget {
    /// The server has sent headers or data since the last ping: the next ping is free.
    free: bool,
    /// Pings sent less than the server's minimum time after the previous one, since
    /// the last free one (the server's strikes, as far as we can tell).
    strikes: u32,
    last: Option<tokio::time::Instant>,
}

/// The strikes we allow ourselves. The server closes the connection on its third; one
/// is kept in hand because the client cannot know exactly when the server's count was
/// reset (a response may have been sent before the previous ping arrived).
const STRIKES_ALLOWED: u32 = 1;

impl PingBudget {
    fn may_ping(&self, now: tokio::time::Instant, min_time: Duration) -> bool {
        self.free
            || self.strikes < STRIKES_ALLOWED
            || self
                .last
                .is_none_or(|last| now.duration_since(last) >= min_time)
    }

    fn pinged(&mut self, now: tokio::time::Instant, min_time: Duration) {
        if self.free {
            self.free = false;
            self.strikes = 0;
        } else if self
            .last
            .is_some_and(|last| now.duration_since(last) < min_time)
        {
            self.strikes += 1;
        }
        self.last = Some(now);
    }
}

impl Driver {
    pub(super) async fn run(self, mut pump: super::unary::Pump, pings: Option<h2::PingPong>) {
        let keepalive = self.keepalive;
        // Ticks at a fraction of the interval, so a ping goes out at most a tenth of an
        // interval late.
        let period = (keepalive.interval / 4).max(Duration::from_millis(10));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.reset();
        let mut pings = pings;
        let mut budget = PingBudget {
            free: true,
            strikes: 0,
            last: None,
        };
        let mut last_heard = tokio::time::Instant::now();
        // When the ping awaiting its answer was sent.
        let mut ping_sent: Option<tokio::time::Instant> = None;
        // Since when the connection has been silent, once it is.
        let mut silent_since: Option<tokio::time::Instant> = None;
        loop {
            let pong = async {
                match (pings.as_mut(), ping_sent) {
                    (Some(ping_pong), Some(_)) => {
                        std::future::poll_fn(|cx| ping_pong.poll_pong(cx)).await
                    }
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                result = &mut pump => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "HTTP/2 connection ended");
                    }
                    break;
                }
                answered = pong => {
                    ping_sent = None;
                    if answered.is_err() {
                        break;
                    }
                    last_heard = tokio::time::Instant::now();
                    if silent_since.take().is_some() {
                        tracing::debug!("a silent connection answered its ping");
                    }
                }
                _ = tick.tick() => {
                    let now = tokio::time::Instant::now();
                    if self.frames.swap(false, Ordering::Relaxed) {
                        budget.free = true;
                    }
                    // Anything read proves the peer alive.
                    if self.read_activity.swap(false, Ordering::Relaxed) {
                        last_heard = now;
                    }
                    if let Some(sent) = ping_sent {
                        if silent_since.is_none()
                            && last_heard < sent
                            && now.duration_since(sent) >= keepalive.timeout
                        {
                            silent_since = Some(now);
                            self.went_silent();
                        }
                        if silent_since.is_some_and(|since| now.duration_since(since) >= keepalive.dead_after) {
                            tracing::debug!("silent past the limit: dropping the connection");
                            break;
                        }
                        continue;
                    }
                    if self.open.load(Ordering::Relaxed) == 0
                        || now.duration_since(last_heard) < keepalive.interval
                        || !budget.may_ping(now, keepalive.server_min_time)
                    {
                        continue;
                    }
                    let Some(ping_pong) = pings.as_mut() else { continue };
                    if ping_pong.send_ping(h2::Ping::opaque()).is_err() {
                        break;
                    }
                    budget.pinged(now, keepalive.server_min_time);
                    ping_sent = Some(now);
                }
            }
        }
        if let Some(shared) = self.shared.upgrade() {
            shared.forget(self.generation);
        }
        pump.close().await;
    }

    /// The connection stopped answering: no new requests go to it, and whoever
    /// watches the channel is told.
    fn went_silent(&self) {
        tracing::debug!(timeout = ?self.keepalive.timeout, "no keepalive answer: the connection is silent");
        if let Some(shared) = self.shared.upgrade() {
            shared.forget(self.generation);
            shared.silences.send_modify(|n| *n += 1);
        }
    }
}

/// The connection's I/O, noting that something was read (the peer is alive) so the
/// keepalive need not ping, and holding each batch of writes back for one turn of the
/// runtime while other unary calls are in flight, so that concurrent callers' requests
/// share a system call.
///
/// Why the hold: the driver task is woken by the first request a caller queues, and a
/// task woken from a worker thread runs next (tokio's LIFO slot), before the other
/// callers whose answers it has just read have queued theirs. Written at once, almost
/// every request costs its own `sendto`: with 64 tasks doing serializable gets, 78,706
/// of 93,015 writes carried a single 67-byte request. Returning `Pending` once, with the
/// task woken again at once (tokio then requeues it behind the tasks already ready, as
/// a yield), lets those callers queue theirs first; the driver then writes them
/// together (11,600 writes for the same run, docs/BENCHMARKS.md). A lone caller has
/// nobody to wait for, and the yield costs it a trip through the scheduler (measured with
/// one task doing gets: a quarter of its throughput, 70 % more CPU per get), so with
/// fewer than two unary calls in flight nothing is held.
pub(super) struct Watched {
    pub(super) conn: Conn,
    pub(super) read: Arc<AtomicBool>,
    /// This batch of writes has already been held back once (cleared by each flush).
    pub(super) batch_held: bool,
    /// The channel's count of unary calls in flight.
    pub(super) unary_open: Arc<AtomicUsize>,
}

impl Watched {
    /// True when this write should wait for the task's next poll (see the type's docs);
    /// the task is then already woken.
    fn hold_batch(&mut self, cx: &mut Context<'_>) -> bool {
        if self.batch_held || self.unary_open.load(Ordering::Relaxed) < 2 {
            return false;
        }
        self.batch_held = true;
        cx.waker().wake_by_ref();
        true
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.conn).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.read.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.hold_batch(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.conn).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if self.hold_batch(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut self.conn).poll_write_vectored(cx, bufs)
    }

    /// Not vectored, whatever the socket can do: h2 then copies DATA payloads of up to
    /// 1 KiB into its write buffer instead of holding each as a separate slice, and it
    /// holds at most one such slice at a time, so with vectored writes every request
    /// bigger than 256 bytes (a put of a 256-byte value) costs its own `writev`. Copied,
    /// the requests of concurrent callers share one write: 22,242 `writev`s for 22,000
    /// puts at 64 tasks became about 2,500 `sendto`s (docs/BENCHMARKS.md).
    fn is_write_vectored(&self) -> bool {
        false
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.batch_held = false;
        Pin::new(&mut self.conn).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.conn).poll_shutdown(cx)
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;
    use tokio::io::AsyncReadExt;

    fn watched(unary_calls: usize) -> (Watched, tokio::net::UnixStream) {
        let (ours, theirs) = tokio::net::UnixStream::pair().expect("a socket pair");
        let io = Watched {
            conn: Conn::Unix(ours),
            read: Arc::new(AtomicBool::new(false)),
            batch_held: false,
            unary_open: Arc::new(AtomicUsize::new(unary_calls)),
        };
        (io, theirs)
    }

    /// Polls one write once, counting the wakes it asks for.
    fn write_once(io: &mut Watched, bytes: &[u8]) -> (Poll<std::io::Result<usize>>, usize) {
        let wakes = Arc::new(WakeCount(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(wakes.clone());
        let polled = Pin::new(io).poll_write(&mut Context::from_waker(&waker), bytes);
        (polled, wakes.0.load(Ordering::Relaxed))
    }

    fn flush_once(io: &mut Watched) {
        let waker = std::task::Waker::noop();
        let flushed = Pin::new(io).poll_flush(&mut Context::from_waker(waker));
        assert!(matches!(flushed, Poll::Ready(Ok(()))));
    }

    struct WakeCount(AtomicUsize);

    impl std::task::Wake for WakeCount {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn each_batch_of_writes_waits_one_wake_while_calls_are_concurrent() {
        let (mut io, mut peer) = watched(2);
        for batch in [&b"first"[..], b"second"] {
            let (held, wakes) = write_once(&mut io, batch);
            assert!(held.is_pending(), "the batch is held back once");
            assert_eq!(wakes, 1, "and the driver is woken again at once");
            let (written, _) = write_once(&mut io, batch);
            assert!(matches!(written, Poll::Ready(Ok(n)) if n == batch.len()));
            flush_once(&mut io);
        }
        let mut got = [0u8; 11];
        tokio::time::timeout(Duration::from_secs(5), peer.read_exact(&mut got))
            .await
            .expect("both batches arrive")
            .expect("read");
        assert_eq!(&got, b"firstsecond");
    }

    #[tokio::test]
    async fn a_lone_call_is_written_at_once() {
        let (mut io, _peer) = watched(1);
        let (written, wakes) = write_once(&mut io, b"request");
        assert!(matches!(written, Poll::Ready(Ok(7))));
        assert_eq!(wakes, 0);
    }
}
