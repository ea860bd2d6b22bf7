//! Endpoint addresses and the per-endpoint connection state.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::ClientConfig;

use super::channel::{Channel, Keepalive};
use super::connector::Connector;
use super::tls::TlsConnect;
use crate::backoff::Backoff;
use crate::error::{Error, ErrorKind, Result};
use crate::options::ClientOptions;

const DEFAULT_PORT: u16 = 2379;

/// A parsed endpoint: `http://host:port`, `https://host:port`, or a unix socket
/// (`unix://localhost:port`, `unix:///absolute/path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointAddr {
    /// Normalised form, `scheme://host:port` (a unix endpoint as written): how endpoints
    /// are named everywhere.
    pub url: String,
    pub tls: bool,
    /// The host as written (IPv6 in brackets); `localhost` for a unix socket, as the
    /// HTTP/2 authority.
    pub host: String,
    pub port: u16,
    /// For a unix endpoint, the socket's path.
    pub unix_path: Option<String>,
}

/// Parses `host:port`, `host`, `http://host:port`, `https://host:port` or a unix socket
/// endpoint; an endpoint without a scheme uses TLS when `default_tls`.
///
/// A unix endpoint is written as etcd's `--listen-client-urls` takes it, and etcdctl's
/// `--endpoints`: `unix://localhost:2379` is the socket file `localhost:2379` in the
/// current directory, `unix:///run/etcd.sock` the absolute path.
pub(crate) fn parse_endpoint(raw: &str, default_tls: bool) -> Result<EndpointAddr> {
    let bad = |why: &str| {
        Error::new(
            ErrorKind::InvalidEndpoint,
            format!("invalid endpoint {raw:?}: {why}"),
        )
    };
    let text = raw.trim();
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(bad("it contains white space"));
    }
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None if default_tls => ("https".to_string(), text),
        None => ("http".to_string(), text),
    };
    let tls = match scheme.as_str() {
        "http" => false,
        "https" => true,
        "unix" if cfg!(unix) => return parse_unix(rest).map_err(|why| bad(&why)),
        other => {
            return Err(bad(&format!(
                "unsupported scheme {other:?} (use http://, https:// or unix://)"
            )));
        }
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains(['/', '?', '#', '@']) {
        return Err(bad(
            "expected scheme://host:port with no path, query or user",
        ));
    }
    let (host, port) = split_host_port(authority).map_err(|why| bad(&why))?;
    let port = port.unwrap_or(DEFAULT_PORT);
    let url = format!("{scheme}://{host}:{port}");
    // Let the http crate have the last word on what a valid authority is.
    url.parse::<http::Uri>().map_err(|e| bad(&e.to_string()))?;
    Ok(EndpointAddr {
        url,
        tls,
        host: host.to_string(),
        port,
        unix_path: None,
    })
}

/// The part of a unix endpoint after `unix://`: the socket's path (a relative one such as
/// `localhost:2379`, or an absolute one).
fn parse_unix(rest: &str) -> std::result::Result<EndpointAddr, String> {
    if rest.is_empty() || rest == "/" {
        return Err("no socket path".into());
    }
    if rest.contains(['?', '#']) {
        return Err("a socket path has no query or fragment".into());
    }
    // The kernel takes the path as a C string: a NUL would silently cut it short.
    if rest.chars().any(char::is_control) {
        return Err("a socket path has no control characters".into());
    }
    // `sun_path` holds 108 bytes with the terminating NUL (Linux; fewer elsewhere).
    if rest.len() > 107 {
        return Err(format!(
            "a socket path is at most 107 bytes, this one is {}",
            rest.len()
        ));
    }
    // The authority HTTP/2 requests carry; etcd does not look at it. A relative path
    // written as `host:port` keeps its port there, for messages.
    let port = rest
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_PORT);
    Ok(EndpointAddr {
        url: format!("unix://{rest}"),
        tls: false,
        host: "localhost".to_string(),
        port,
        unix_path: Some(rest.to_string()),
    })
}

fn split_host_port(authority: &str) -> std::result::Result<(&str, Option<u16>), String> {
    let parse_port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("bad port {p:?}"))
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| "unclosed '[' in IPv6 address".to_string())?;
        if addr.is_empty() {
            return Err("empty IPv6 address".into());
        }
        let host = &authority[..addr.len() + 2];
        return match after {
            "" => Ok((host, None)),
            p => match p.strip_prefix(':') {
                Some(p) => Ok((host, Some(parse_port(p)?))),
                None => Err(format!("unexpected {p:?} after IPv6 address")),
            },
        };
    }
    match authority.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => {
            Err("IPv6 addresses must be written in brackets, like [::1]:2379".into())
        }
        Some(("", _)) => Err("no host".into()),
        Some((host, port)) => Ok((host, Some(parse_port(port)?))),
        None => Ok((authority, None)),
    }
}

/// One endpoint: its lazily connected channel and what we know of its health.
pub(crate) struct Node {
    pub addr: EndpointAddr,
    pub channel: Channel,
    healthy: AtomicBool,
    /// Not yet heard from since the client started: avoided, but not news when it
    /// answers (it was never reported unhealthy).
    pending: AtomicBool,
    probe: Mutex<ProbeState>,
    /// Its last probe found it running an etcd older than the client's minimum.
    too_old: AtomicBool,
    /// The channel's silence count already turned into "unhealthy".
    silences_seen: std::sync::atomic::AtomicU64,
    /// The member's last status answer, for writes waiting on it to judge whether
    /// their leader is gone.
    pub leader_probe: super::leader_watch::LeaderProbe,
}

struct ProbeState {
    failures: u32,
    next_probe: Instant,
    last_error: Option<String>,
}

impl Node {
    pub fn new(
        addr: EndpointAddr,
        opts: &ClientOptions,
        tls: Option<&Arc<ClientConfig>>,
    ) -> Result<Node> {
        let tls = match (addr.tls, tls) {
            (false, _) => None,
            (true, Some(config)) => {
                let name = opts
                    .tls
                    .as_ref()
                    .and_then(|t| t.server_name_override())
                    .unwrap_or(&addr.host);
                Some(TlsConnect::new(config.clone(), name)?)
            }
            (true, None) => {
                return Err(Error::new(
                    ErrorKind::InvalidEndpoint,
                    format!("endpoint {} needs TLS, which is not configured", addr.url),
                ));
            }
        };
        // The dial timeout is enforced by our connector alone, so that a dial that runs out
        // of time is reported as one (proof that a request was never sent).
        // The last in-process server given for this endpoint, if any (compared as
        // normalised, so `host:port` and `http://host:port` match).
        let local = opts
            .in_process
            .iter()
            .rev()
            .find(|server| {
                parse_endpoint(&server.endpoint, opts.tls.is_some())
                    .is_ok_and(|parsed| parsed.url == addr.url)
            })
            .map(|server| server.service.clone());
        let channel = Channel::new(
            Connector::new(opts.dial_timeout, tls).unix(addr.unix_path.clone()),
            local,
            addr.host.clone(),
            addr.port,
            Keepalive {
                interval: opts.keepalive_interval,
                timeout: opts.keepalive_timeout,
                server_min_time: opts.server_keepalive_min_time,
                dead_after: opts.request_timeout,
            },
            // Checked by `Transport::new`; the fallback only keeps this infallible.
            http::HeaderValue::from_str(&opts.user_agent)
                .unwrap_or_else(|_| http::HeaderValue::from_static(crate::DEFAULT_USER_AGENT)),
        )
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("invalid endpoint {}", addr.url),
            )
            .with_source(e)
        })?;
        Ok(Node {
            addr,
            channel,
            healthy: AtomicBool::new(true),
            pending: AtomicBool::new(false),
            too_old: AtomicBool::new(false),
            silences_seen: std::sync::atomic::AtomicU64::new(0),
            leader_probe: super::leader_watch::LeaderProbe::default(),
            probe: Mutex::new(ProbeState {
                failures: 0,
                next_probe: Instant::now(),
                last_error: None,
            }),
        })
    }

    /// True once for each time the channel's connection was found silent since the
    /// last call.
    pub fn take_silence(&self) -> bool {
        let count = self.channel.silence_count();
        self.silences_seen.swap(count, Ordering::AcqRel) != count
    }

    /// Whether its last probe found it older than the client's minimum version.
    pub fn is_too_old(&self) -> bool {
        self.too_old.load(Ordering::Relaxed)
    }

    pub fn set_too_old(&self, yes: bool) {
        self.too_old.store(yes, Ordering::Relaxed);
    }

    pub fn url(&self) -> &str {
        &self.addr.url
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Marks the node as not heard from yet: avoided while another is healthy, and not
    /// probed by the prober for `wait` (its first probe is running).
    pub fn mark_pending(&self, wait: std::time::Duration) {
        self.pending.store(true, Ordering::Release);
        self.healthy.store(false, Ordering::Release);
        if let Ok(mut p) = self.probe.lock() {
            let now = Instant::now();
            p.next_probe = now.checked_add(wait).unwrap_or(now);
        }
    }

    /// Marks the node healthy; true when that is news.
    pub fn mark_healthy(&self) -> bool {
        let was_pending = self.pending.swap(false, Ordering::AcqRel);
        if self.healthy.swap(true, Ordering::AcqRel) || was_pending {
            return false;
        }
        if let Ok(mut p) = self.probe.lock() {
            p.failures = 0;
            p.last_error = None;
        }
        true
    }

    /// Marks the node failed and schedules its next probe; true when that is news.
    pub fn mark_failed(&self, reason: &str, backoff: &Backoff) -> bool {
        let was_pending = self.pending.swap(false, Ordering::AcqRel);
        let was_healthy = self.healthy.swap(false, Ordering::AcqRel) || was_pending;
        if let Ok(mut p) = self.probe.lock() {
            p.failures = p.failures.saturating_add(1);
            let now = Instant::now();
            p.next_probe = now.checked_add(backoff.delay(p.failures)).unwrap_or(now);
            p.last_error = Some(reason.to_string());
        }
        was_healthy
    }

    /// When the node may be probed again (now, for a healthy node).
    pub fn next_probe(&self) -> Instant {
        self.probe
            .lock()
            .map(|p| p.next_probe)
            .unwrap_or_else(|_| Instant::now())
    }

    pub fn last_error(&self) -> Option<String> {
        self.probe.lock().ok().and_then(|p| p.last_error.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_normalise() {
        let ok = [
            ("127.0.0.1:2379", "http://127.0.0.1:2379"),
            ("localhost", "http://localhost:2379"),
            ("http://etcd-0:4001", "http://etcd-0:4001"),
            ("HTTP://etcd-0:4001/", "http://etcd-0:4001"),
            ("https://10.0.0.1:2379", "https://10.0.0.1:2379"),
            ("[::1]:2379", "http://[::1]:2379"),
            ("http://[::1]", "http://[::1]:2379"),
        ];
        for (raw, want) in ok {
            assert_eq!(parse_endpoint(raw, false).unwrap().url, want, "{raw}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn unix_endpoints_name_a_socket_path() {
        let abs = parse_endpoint("unix:///run/etcd/client.sock", false).unwrap();
        assert_eq!(abs.url, "unix:///run/etcd/client.sock");
        assert_eq!(abs.unix_path.as_deref(), Some("/run/etcd/client.sock"));
        assert!(!abs.tls);
        // As etcd listens on `unix://localhost:2380`: a file named after host and port.
        let rel = parse_endpoint("UNIX://localhost:2380", true).unwrap();
        assert_eq!(rel.url, "unix://localhost:2380");
        assert_eq!(rel.unix_path.as_deref(), Some("localhost:2380"));
        assert_eq!((rel.host.as_str(), rel.port), ("localhost", 2380));
        assert!(!rel.tls, "a socket is never TLS, whatever the default");
    }

    #[test]
    fn endpoints_without_a_scheme_follow_the_tls_options() {
        assert_eq!(parse_endpoint("h:1", true).unwrap().url, "https://h:1");
        assert_eq!(
            parse_endpoint("http://h:1", true).unwrap().url,
            "http://h:1"
        );
    }

    #[test]
    fn malformed_endpoints_are_rejected_with_the_reason() {
        let bad = [
            ("", "empty"),
            ("  ", "empty"),
            ("unix://", "no socket path"),
            ("unix:///", "no socket path"),
            ("unix:///tmp/s?x=1", "query"),
            ("unix://\0\0\0/", "control characters"),
            ("ftp://h:1", "scheme"),
            ("h:notaport", "bad port"),
            ("h:0", "bad port"),
            ("h:70000", "bad port"),
            ("http://h:1/path", "path"),
            ("::1:2379", "brackets"),
            ("[::1", "unclosed"),
            (":2379", "no host"),
            ("a b:1", "white space"),
        ];
        for (raw, why) in bad {
            let err = parse_endpoint(raw, false).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidEndpoint, "{raw}");
            assert!(err.message().contains(why), "{raw}: {}", err.message());
        }
    }
}
