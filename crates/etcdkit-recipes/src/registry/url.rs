//! The registry's connection string: `http[s]://h1[:port],h2,…/namespace?options`.

use std::fmt;
use std::time::Duration;

use super::{Error, ValueFormat};

/// The default etcd client port.
pub const DEFAULT_PORT: u16 = 2379;

/// The namespace used when the connection string has no path.
pub const DEFAULT_NAMESPACE: &str = "registry";

/// A parsed connection string.
///
/// ```
/// use std::time::Duration;
/// use etcdkit_recipes::registry::ConnectionString;
///
/// let c: ConnectionString = "http://h1,h2:2380,[::1]/services?ttl=20&heartbeat=5s".parse()?;
/// assert_eq!(c.endpoints(), ["http://h1:2379", "http://h2:2380", "http://[::1]:2379"]);
/// assert_eq!(c.namespace(), "services");
/// assert_eq!(c.ttl(), Duration::from_secs(20));
/// # Ok::<(), etcdkit_recipes::registry::Error>(())
/// ```
///
/// Options: `ttl` and `heartbeat` (seconds, or a number with `ms`, `s` or `m`; defaults
/// 10 s and 5 s; the heartbeat must be shorter than the TTL), `format` (`document`, the
/// default, or `go` for the Go client's `naming/endpoints` values), `timeout` (how long
/// a call waits for etcd; default 5 s), `sync` (how often the client re-reads the
/// cluster's member list and adopts the members' client URLs, so members added after
/// connecting are used and removed ones dropped; a duration as above, default 60 s;
/// `0` keeps the hosts as given, for members whose advertised client URLs cannot be
/// reached from here).
///
/// ```
/// use std::time::Duration;
/// use etcdkit_recipes::registry::ConnectionString;
///
/// let c: ConnectionString = "http://h1/services?sync=10".parse()?;
/// assert_eq!(c.sync_interval(), Some(Duration::from_secs(10)));
/// let c: ConnectionString = "http://h1/services?sync=0".parse()?;
/// assert_eq!(c.sync_interval(), None);
/// # Ok::<(), etcdkit_recipes::registry::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionString {
    endpoints: Vec<String>,
    namespace: String,
    ttl: Duration,
    heartbeat: Duration,
    format: ValueFormat,
    timeout: Duration,
    sync: Option<Duration>,
}

/// How often the member list is re-read when the connection string does not say.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(60);

impl ConnectionString {
    /// The etcd endpoints, as `scheme://host:port`.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The namespace (the path without its slashes), under which every instance is kept.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The lease TTL of joined instances.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often leases are renewed.
    pub fn heartbeat(&self) -> Duration {
        self.heartbeat
    }

    /// How instances are written.
    pub fn format(&self) -> ValueFormat {
        self.format
    }

    /// How long a call waits for etcd.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How often the client re-reads the member list
    /// ([`ClientOptions::auto_sync_interval`](etcdkit::ClientOptions::auto_sync_interval)),
    /// or `None` (`sync=0`) to keep the hosts as given. Default
    /// [`DEFAULT_SYNC_INTERVAL`].
    pub fn sync_interval(&self) -> Option<Duration> {
        self.sync
    }
}

impl fmt::Display for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.endpoints.iter().any(|e| e.starts_with("https://")) {
            "https"
        } else {
            "http"
        };
        let hosts: Vec<&str> = self
            .endpoints
            .iter()
            .map(|e| e.split_once("://").map_or(e.as_str(), |(_, h)| h))
            .collect();
        write!(
            f,
            "{scheme}://{}/{}?ttl={}&heartbeat={}&timeout={}",
            hosts.join(","),
            self.namespace,
            Printed(self.ttl),
            Printed(self.heartbeat),
            Printed(self.timeout)
        )?;
        if self.format == ValueFormat::GoEndpoints {
            f.write_str("&format=go")?;
        }
        match self.sync {
            Some(d) if d == DEFAULT_SYNC_INTERVAL => {}
            Some(d) => write!(f, "&sync={}", Printed(d))?,
            None => f.write_str("&sync=0")?,
        }
        Ok(())
    }
}

/// A duration as the parser reads it back: whole seconds as `Ns` (in milliseconds a
/// huge one would not fit the parser's `u64`), anything else as `Nms` (the parser makes
/// no finer durations).
struct Printed(Duration);

impl fmt::Display for Printed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.subsec_nanos() == 0 {
            write!(f, "{}s", self.0.as_secs())
        } else {
            write!(f, "{}ms", self.0.as_millis())
        }
    }
}

fn invalid(input: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConnectionString {
        input: input.to_owned(),
        reason: reason.into(),
    }
}

impl std::str::FromStr for ConnectionString {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| invalid(input, "it must start with http:// or https://"))?;
        if scheme != "http" && scheme != "https" {
            return Err(invalid(
                input,
                format!("unknown scheme `{scheme}` (use http or https)"),
            ));
        }
        if rest.contains('#') {
            return Err(invalid(input, "a fragment (#...) is not allowed"));
        }
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (hosts, path) = match rest.split_once('/') {
            Some((hosts, path)) => (hosts, path),
            None => (rest, ""),
        };
        if hosts.contains('@') {
            return Err(invalid(
                input,
                "user information (user@host) is not supported",
            ));
        }
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            endpoints.push(format!("{scheme}://{}", host_port(input, host)?));
        }
        let namespace = path.trim_matches('/');
        if namespace.split('/').any(str::is_empty) && !namespace.is_empty() {
            return Err(invalid(input, "the namespace has an empty segment (`//`)"));
        }
        let namespace = if namespace.is_empty() {
            DEFAULT_NAMESPACE.to_owned()
        } else {
            namespace.to_owned()
        };
        let mut c = ConnectionString {
            endpoints,
            namespace,
            ttl: Duration::from_secs(10),
            heartbeat: Duration::from_secs(5),
            format: ValueFormat::Document,
            timeout: Duration::from_secs(5),
            sync: Some(DEFAULT_SYNC_INTERVAL),
        };
        let mut heartbeat_given = false;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(input, format!("option `{pair}` has no value")))?;
            match name {
                "ttl" => c.ttl = duration(input, name, value)?,
                "heartbeat" => {
                    c.heartbeat = duration(input, name, value)?;
                    heartbeat_given = true;
                }
                "timeout" => c.timeout = duration(input, name, value)?,
                "sync" => {
                    let every = duration(input, name, value)?;
                    c.sync = (!every.is_zero()).then_some(every);
                }
                "format" => {
                    c.format = match value {
                        "document" | "json" => ValueFormat::Document,
                        "go" | "endpoints" => ValueFormat::GoEndpoints,
                        _ => {
                            return Err(invalid(
                                input,
                                format!("unknown format `{value}` (use document or go)"),
                            ));
                        }
                    }
                }
                _ => {
                    return Err(invalid(
                        input,
                        format!(
                            "unknown option `{name}` (known: ttl, heartbeat, timeout, format, sync)"
                        ),
                    ));
                }
            }
        }
        if c.ttl < Duration::from_secs(1) {
            return Err(invalid(input, "the ttl must be at least 1s"));
        }
        if !heartbeat_given {
            // Whole milliseconds, the finest unit the string can say: half of `1001ms` is
            // `500ms`, so that the printed form parses back to the same value.
            let half = u64::try_from((c.ttl / 2).as_millis()).unwrap_or(u64::MAX);
            c.heartbeat = c.heartbeat.min(Duration::from_millis(half));
        }
        if c.heartbeat.is_zero() || c.heartbeat >= c.ttl {
            return Err(invalid(
                input,
                "the heartbeat must be longer than 0 and shorter than the ttl",
            ));
        }
        Ok(c)
    }
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`, as `host:port`.
fn host_port(input: &str, host: &str) -> Result<String, Error> {
    if host.is_empty() {
        return Err(invalid(input, "a host is empty"));
    }
    let (name, port) = if let Some(v6) = host.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or_else(|| invalid(input, format!("`{host}`: missing `]`")))?;
        if addr.is_empty() {
            return Err(invalid(input, format!("`{host}`: empty IPv6 address")));
        }
        let port =
            match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(|| {
                    invalid(input, format!("`{host}`: expected `:port` after `]`"))
                })?),
            };
        (format!("[{addr}]"), port)
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name.to_owned(), Some(port)),
            None => (host.to_owned(), None),
        }
    };
    if name.is_empty() {
        return Err(invalid(input, format!("`{host}`: empty host name")));
    }
    if !name.starts_with('[')
        && !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
    {
        return Err(invalid(input, format!("`{name}` is not a valid host name")));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p != 0 => p,
            _ => {
                return Err(invalid(
                    input,
                    format!("`{p}` is not a valid port (1-65535)"),
                ));
            }
        },
    };
    Ok(format!("{name}:{port}"))
}

/// `10` (seconds), `10s`, `500ms`, `2m`.
fn duration(input: &str, name: &str, value: &str) -> Result<Duration, Error> {
    let (number, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, "s"),
    };
    let n: u64 = number.parse().map_err(|_| {
        invalid(
            input,
            format!("option `{name}`: `{value}` is not a duration (e.g. 10, 10s, 500ms)"),
        )
    })?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => {
            return Err(invalid(
                input,
                format!("option `{name}`: unknown unit `{unit}` (use ms, s or m)"),
            ));
        }
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(s: &str) -> Result<ConnectionString, Error> {
        s.parse()
    }

    #[test]
    fn defaults() {
        let c = parse("http://127.0.0.1").unwrap();
        assert_eq!(c.endpoints(), ["http://127.0.0.1:2379"]);
        assert_eq!(c.namespace(), DEFAULT_NAMESPACE);
        assert_eq!(c.ttl(), Duration::from_secs(10));
        assert_eq!(c.heartbeat(), Duration::from_secs(5));
        assert_eq!(c.format(), ValueFormat::Document);
        assert_eq!(c.sync_interval(), Some(DEFAULT_SYNC_INTERVAL));
    }

    #[test]
    fn sync_takes_a_duration_and_zero_turns_it_off() {
        let c = parse("http://a?sync=5").unwrap();
        assert_eq!(c.sync_interval(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse("http://a?sync=250ms").unwrap().sync_interval(),
            Some(Duration::from_millis(250))
        );
        for off in ["http://a?sync=0", "http://a?sync=0s", "http://a?sync=0ms"] {
            let c = parse(off).unwrap();
            assert_eq!(c.sync_interval(), None, "{off}");
            assert_eq!(parse(&c.to_string()).unwrap(), c, "{off}");
        }
        assert_eq!(parse(&c.to_string()).unwrap(), c);
        let e = parse("http://a?sync=soon").unwrap_err().to_string();
        assert!(e.contains("is not a duration"), "{e}");
    }

    #[test]
    fn options_and_hosts() {
        let c =
            parse("https://a:1,b,[::1]:3/x/y/?ttl=4&heartbeat=500ms&format=go&timeout=1m").unwrap();
        assert_eq!(
            c.endpoints(),
            ["https://a:1", "https://b:2379", "https://[::1]:3"]
        );
        assert_eq!(c.namespace(), "x/y");
        assert_eq!(c.ttl(), Duration::from_secs(4));
        assert_eq!(c.heartbeat(), Duration::from_millis(500));
        assert_eq!(c.format(), ValueFormat::GoEndpoints);
        assert_eq!(c.timeout(), Duration::from_secs(60));
        // A short TTL alone brings the default heartbeat down to half of it.
        assert_eq!(
            parse("http://a?ttl=2").unwrap().heartbeat(),
            Duration::from_secs(1)
        );
        // Round trip.
        assert_eq!(parse(&c.to_string()).unwrap(), c);
    }

    #[test]
    fn clear_errors() {
        for (input, needle) in [
            ("127.0.0.1:2379", "must start with http"),
            ("ftp://a", "unknown scheme"),
            ("http://", "a host is empty"),
            ("http://a,,b", "a host is empty"),
            ("http://a:x", "not a valid port"),
            ("http://a:0", "not a valid port"),
            ("http://a:70000", "not a valid port"),
            ("http://[::1", "missing `]`"),
            ("http://a b", "not a valid host name"),
            ("http://u@a", "user information"),
            ("http://a/x//y", "empty segment"),
            ("http://a?ttl", "has no value"),
            ("http://a?ttl=x", "is not a duration"),
            ("http://a?ttl=5h", "unknown unit"),
            ("http://a?ttl=0", "at least 1s"),
            ("http://a?ttl=5&heartbeat=5", "shorter than the ttl"),
            ("http://a?color=red", "unknown option `color`"),
            ("http://a?format=xml", "unknown format"),
        ] {
            let e = parse(input).unwrap_err().to_string();
            assert!(e.contains(needle), "{input}: {e}");
            assert!(e.contains(input), "{input}: {e}");
        }
    }

    #[test]
    fn the_printed_form_parses_back_to_the_same_value() {
        for input in [
            // Half of an odd number of milliseconds (found by fuzzing).
            "http://h/?ttl=1001ms",
            // Over u64::MAX milliseconds when printed in milliseconds.
            "http://h/?ttl=18446744073709551615s&timeout=18446744073709551615m",
            "https://a,b:2380,[::1]/x/y?ttl=1500ms&format=go",
            "http://h/?sync=1500ms",
            "http://h/?sync=0",
        ] {
            let parsed = parse(input).unwrap();
            let printed = parsed.to_string();
            assert_eq!(
                parse(&printed).unwrap(),
                parsed,
                "{input} printed as {printed}"
            );
        }
        assert_eq!(
            parse("http://h/?ttl=1001ms").unwrap().heartbeat(),
            Duration::from_millis(500)
        );
    }
}
