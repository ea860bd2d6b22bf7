//! The TCP proxies a cluster started with [`crate::ClusterBuilder::network_faults`] puts in
//! front of its members, and the fault state they obey.
//!
//! Each member has two proxies: one in front of its client port and one in front of its
//! peer port. Members advertise the proxies (`--advertise-client-urls`,
//! `--initial-advertise-peer-urls`, `--initial-cluster`), so every client request and every
//! raft message passes through a proxy the test kit controls.
//!
//! etcd's peer traffic flows over connections that either side may have dialled: a
//! member's raft stream to B is a long-lived response to a GET that *B* sent, and its
//! pipeline messages are POSTs it sends itself. A peer proxy therefore has to know who is
//! on the far end of a connection, not only whom it reaches: it reads the first request's
//! head (which the dialling member sends at once) and finds the dialler by etcd's
//! `X-PeerURLs` header, which carries the dialler's advertised peer URLs, that is, its own
//! peer proxy's address. A connection is then governed by the faults of both ends, so
//! cutting member X off affects connections X dials as well as those dialled to X.
//! Connections whose first request carries no such header (etcd's version probes, say)
//! are governed by the receiving member's faults only.

use std::net::TcpListener as StdListener;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::Error;

/// Largest chunk read (and forwarded) at once.
const CHUNK: usize = 16 * 1024;
/// Longest first-request head a peer proxy reads to find who dialled.
const MAX_HEAD: usize = 16 * 1024;
/// How long a peer proxy waits for that head. etcd sends it right after connecting.
const HEAD_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a proxy waits to connect to the member behind it.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a link does with traffic. Ordered by severity: when both ends of a peer link have
/// faults, the more severe mode wins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mode {
    /// Traffic passes (after any delay).
    #[default]
    Pass,
    /// Connections stay open, nothing passes in either direction.
    Blackhole,
    /// Existing connections are closed, new ones are closed as soon as accepted.
    Refuse,
}

/// One member's faults, as the fault API sets them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MemberFaults {
    /// Its client proxy.
    pub(crate) client: Mode,
    /// Its peer links: its own peer proxy, and the connections it dials to other members.
    pub(crate) peer: Mode,
    /// Added to each chunk on every one of its links, in each direction.
    pub(crate) latency: Duration,
    /// Up to this much more, uniformly at random, per chunk.
    pub(crate) jitter: Duration,
}

/// Which traffic a connection carries.
#[derive(Debug, Clone, Copy)]
enum Route {
    /// A client's connection to member `to`.
    Client { to: usize },
    /// A peer connection to member `to`, dialled by member `from` when known.
    Peer { to: usize, from: Option<usize> },
}

/// What a connection must do now.
#[derive(Debug, Clone, Copy)]
struct Policy {
    mode: Mode,
    latency: Duration,
    jitter: Duration,
}

impl Policy {
    fn of(route: Route, faults: &[MemberFaults]) -> Policy {
        let get = |i: usize| faults.get(i).copied().unwrap_or_default();
        match route {
            Route::Client { to } => {
                let f = get(to);
                Policy {
                    mode: f.client,
                    latency: f.latency,
                    jitter: f.jitter,
                }
            }
            Route::Peer { to, from } => {
                let t = get(to);
                let f = from.map(get).unwrap_or_default();
                Policy {
                    mode: t.peer.max(f.peer),
                    latency: t.latency.saturating_add(f.latency),
                    jitter: t.jitter.saturating_add(f.jitter),
                }
            }
        }
    }

    /// How long to hold the next chunk.
    fn hold(&self) -> Duration {
        let extra = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            self.jitter.mul_f64(fastrand::f64())
        };
        self.latency.saturating_add(extra)
    }
}

/// A member's two proxy listeners, bound (so their ports are known) but not yet serving.
#[derive(Debug)]
pub(crate) struct Listeners {
    client: StdListener,
    peer: StdListener,
}

impl Listeners {
    /// Binds both on free loopback ports. Binding port 0 leaves no window for another
    /// process to take them.
    pub(crate) fn bind() -> Result<Listeners, Error> {
        let bind = || {
            StdListener::bind(("127.0.0.1", 0))
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| Error::io("cannot bind a proxy port on 127.0.0.1", e))
        };
        Ok(Listeners {
            client: bind()?,
            peer: bind()?,
        })
    }

    /// The client proxy's and the peer proxy's ports.
    pub(crate) fn ports(&self) -> Result<(u16, u16), Error> {
        let port = |l: &StdListener| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| Error::io("cannot read a proxy port", e))
        };
        Ok((port(&self.client)?, port(&self.peer)?))
    }
}

/// Where a member's proxies forward to, and the address its peers know it by.
#[derive(Debug)]
pub(crate) struct Upstream {
    pub(crate) listeners: Listeners,
    /// The member's own client port.
    pub(crate) client_port: u16,
    /// The member's own peer port.
    pub(crate) peer_port: u16,
    /// Its advertised peer URL (its peer proxy), as it appears in `X-PeerURLs`.
    pub(crate) advertised_peer_url: String,
}

/// The running proxies of a cluster and the fault state they obey.
///
/// # Drop
///
/// Aborts the accepting tasks (their listeners close at once) and drops the fault state's
/// sender, which every connection task watches: each ends as soon as it is next woken,
/// closing its sockets. Never blocks.
#[derive(Debug)]
pub(crate) struct Network {
    faults: watch::Sender<Vec<MemberFaults>>,
    acceptors: Vec<JoinHandle<()>>,
}

impl Network {
    /// Starts serving every member's proxies on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] outside a tokio runtime; [`Error::Io`] if a listener
    /// cannot be handed to tokio.
    pub(crate) fn start(upstreams: Vec<Upstream>) -> Result<Network, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::InvalidConfig {
            reason: "network faults need a tokio runtime: start the cluster inside one".to_owned(),
        })?;
        let (faults, _) = watch::channel(vec![MemberFaults::default(); upstreams.len()]);
        let peer_urls: Vec<String> = upstreams
            .iter()
            .map(|u| u.advertised_peer_url.clone())
            .collect();
        let mut acceptors = Vec::with_capacity(upstreams.len() * 2);
        let _guard = runtime.enter();
        for (i, up) in upstreams.into_iter().enumerate() {
            for (listener, port, peer) in [
                (up.listeners.client, up.client_port, false),
                (up.listeners.peer, up.peer_port, true),
            ] {
                let listener = TcpListener::from_std(listener)
                    .map_err(|e| Error::io("cannot serve a proxy port", e))?;
                let peers = peer.then(|| peer_urls.clone());
                acceptors.push(runtime.spawn(accept(listener, port, i, peers, faults.subscribe())));
            }
        }
        Ok(Network { faults, acceptors })
    }

    /// Changes member `i`'s faults; connections react at once.
    pub(crate) fn update(&self, i: usize, change: impl FnOnce(&mut MemberFaults)) {
        self.faults.send_modify(|all| {
            if let Some(f) = all.get_mut(i) {
                change(f);
            }
        });
    }

    /// Clears every member's faults.
    pub(crate) fn heal(&self) {
        self.faults
            .send_modify(|all| all.fill(MemberFaults::default()));
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for task in &self.acceptors {
            task.abort();
        }
    }
}

/// Accepts connections for member `to` until aborted, or until the fault state's sender is
/// gone. `peers` is set for a peer proxy: the members' advertised peer URLs.
async fn accept(
    listener: TcpListener,
    upstream: u16,
    to: usize,
    peers: Option<Vec<String>>,
    mut faults: watch::Receiver<Vec<MemberFaults>>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                // A failed accept (too many open files, say) is not fatal to the proxy.
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(serve(stream, upstream, to, peers.clone(), faults.clone()));
                }
            }
            changed = faults.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Relays one connection until either side closes it, an error, or a refusal.
async fn serve(
    mut inbound: TcpStream,
    upstream: u16,
    to: usize,
    peers: Option<Vec<String>>,
    faults: watch::Receiver<Vec<MemberFaults>>,
) {
    let _ = inbound.set_nodelay(true);
    let (route, head) = match peers {
        None => (Route::Client { to }, Vec::new()),
        Some(peers) => {
            let head = read_head(&mut inbound).await;
            let from = dialler(&head, &peers);
            (Route::Peer { to, from }, head)
        }
    };
    if Policy::of(route, &faults.borrow()).mode == Mode::Refuse {
        return; // dropping `inbound` closes it
    }
    let connect = TcpStream::connect(("127.0.0.1", upstream));
    let Ok(Ok(mut outbound)) = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, connect).await else {
        return; // the member is down: the client sees its connection closed
    };
    let _ = outbound.set_nodelay(true);
    let (in_read, in_write) = inbound.split();
    let (out_read, out_write) = outbound.split();
    let forward = pump(in_read, out_write, head, route, faults.clone());
    let backward = pump(out_read, in_write, Vec::new(), route, faults);
    tokio::pin!(forward, backward);
    let (mut forward_done, mut backward_done) = (false, false);
    // Half-closes pass through; an error or a refusal in either direction ends both.
    while !(forward_done && backward_done) {
        tokio::select! {
            ended = &mut forward, if !forward_done => {
                if ended.is_err() { return; }
                forward_done = true;
            }
            ended = &mut backward, if !backward_done => {
                if ended.is_err() { return; }
                backward_done = true;
            }
        }
    }
}

/// Reads the start of what the dialler sends, up to the end of the first request's head
/// (bounded in size and time). What was read is forwarded afterwards.
async fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    let _ = tokio::time::timeout(HEAD_TIMEOUT, async {
        while head.len() < MAX_HEAD && !contains(&head, b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or_default()),
            }
        }
    })
    .await;
    head
}

/// The member whose advertised peer URL the request head's `X-PeerURLs` names.
fn dialler(head: &[u8], peers: &[String]) -> Option<usize> {
    let text = String::from_utf8_lossy(head);
    let end = text.find("\r\n\r\n")?;
    text.get(..end)?
        .split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("x-peerurls"))
        .flat_map(|(_, value)| value.split(','))
        .find_map(|url| peers.iter().position(|p| p == url.trim()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Copies one direction. `Ok` on a clean end of stream (the write side is shut down, as a
/// half-close), `Err` on an error, a refusal, or the cluster going away.
async fn pump(
    mut src: ReadHalf<'_>,
    mut dst: WriteHalf<'_>,
    mut pending: Vec<u8>,
    route: Route,
    mut faults: watch::Receiver<Vec<MemberFaults>>,
) -> Result<(), ()> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        if pending.is_empty() {
            // Reading waits for data, but a refusal must close an idle connection too.
            let read = loop {
                tokio::select! {
                    read = src.read(&mut buf) => break read,
                    changed = faults.changed() => {
                        changed.map_err(drop)?;
                        if Policy::of(route, &faults.borrow_and_update()).mode == Mode::Refuse {
                            return Err(());
                        }
                    }
                }
            };
            match read {
                Ok(0) => {
                    let _ = dst.shutdown().await;
                    return Ok(());
                }
                Ok(n) => pending.extend_from_slice(buf.get(..n).unwrap_or_default()),
                Err(_) => return Err(()),
            }
        }
        let policy = Policy::of(route, &faults.borrow_and_update());
        match policy.mode {
            Mode::Refuse => return Err(()),
            // Held, and nothing more read, until the fault changes: the sender's kernel
            // buffers fill up and it blocks, as behind a silent network.
            Mode::Blackhole => faults.changed().await.map_err(drop)?,
            Mode::Pass => {
                let hold = policy.hold();
                if !hold.is_zero() {
                    tokio::time::sleep(hold).await;
                    // Looked at again: a fault set during the hold applies to this chunk.
                    if Policy::of(route, &faults.borrow_and_update()).mode != Mode::Pass {
                        continue;
                    }
                }
                dst.write_all(&pending).await.map_err(drop)?;
                pending.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dialler_is_found_by_its_advertised_peer_url() {
        let peers = vec![
            "http://127.0.0.1:1000".to_owned(),
            "http://127.0.0.1:2000".to_owned(),
        ];
        let head = b"GET /raftstream/message/1 HTTP/1.1\r\nHost: x\r\n\
                     X-Peerurls: http://127.0.0.1:2000\r\nX-Raft-To: 2\r\n\r\n";
        assert_eq!(dialler(head, &peers), Some(1));
        assert_eq!(
            dialler(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n", &peers),
            None
        );
        assert_eq!(dialler(b"X-PeerURLs: http://127.0.0.1:1000", &peers), None);
    }

    #[test]
    fn the_more_severe_end_of_a_peer_link_wins_and_delays_add_up() {
        let mut faults = vec![MemberFaults::default(); 3];
        faults[0].peer = Mode::Blackhole;
        faults[0].latency = Duration::from_millis(10);
        faults[2].peer = Mode::Refuse;
        faults[2].latency = Duration::from_millis(5);
        // The peer link member 0 dials to member `to`: both ends' faults apply.
        let link_from_0 = |to| Route::Peer { to, from: Some(0) };
        let p = Policy::of(link_from_0(1), &faults);
        assert_eq!(p.mode, Mode::Blackhole);
        assert_eq!(p.hold(), Duration::from_millis(10));
        let p = Policy::of(link_from_0(2), &faults);
        assert_eq!(p.mode, Mode::Refuse);
        assert_eq!(p.latency, Duration::from_millis(15));
        let p = Policy::of(Route::Peer { to: 1, from: None }, &faults);
        assert_eq!(p.mode, Mode::Pass);
        let p = Policy::of(Route::Client { to: 2 }, &faults);
        assert_eq!(p.mode, Mode::Pass);
    }
}
