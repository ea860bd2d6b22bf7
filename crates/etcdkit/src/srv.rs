//! DNS SRV discovery of a cluster's client endpoints, as etcd's own tools do it.
//!
//! A domain publishes its members' client URLs as SRV records of two services:
//! `_etcd-client-ssl._tcp.<domain>` for members that speak TLS (`https://`) and
//! `_etcd-client._tcp.<domain>` for plain ones (`http://`). A service name (etcdctl's
//! `--discovery-srv-name`) tells several clusters of one domain apart: with `prod`,
//! the services are `_etcd-client-ssl-prod` and `_etcd-client-prod`.
//!
//! ```no_run
//! # async fn f() -> etcdkit::Result<()> {
//! let endpoints = etcdkit::srv::discover("example.com", None).await?;
//! let client = etcdkit::ClientOptions::new(endpoints).connect().await?;
//! # Ok(()) }
//! ```
//!
//! Records are looked up once, with the system's resolver configuration
//! (`/etc/resolv.conf`); to follow changes of the membership afterwards, use
//! [`ClientOptions::auto_sync_interval`](crate::ClientOptions::auto_sync_interval).

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::options::ClientOptions;

/// One SRV record's answer: where a member listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvTarget {
    /// The host, as the record names it (a trailing dot is allowed).
    pub target: String,
    /// The port.
    pub port: u16,
    /// Lower is preferred.
    pub priority: u16,
    /// Among records of one priority, higher is preferred.
    pub weight: u16,
}

/// The SRV names to look up for `domain`: the TLS service first, then the plain one,
/// each with whether its endpoints use TLS. `service_name`, when not empty, is added
/// to the service as `-<name>`, as etcdctl's `--discovery-srv-name` does.
pub fn service_names(domain: &str, service_name: Option<&str>) -> [(String, bool); 2] {
    let suffix = match service_name {
        Some(name) if !name.is_empty() => format!("-{name}"),
        _ => String::new(),
    };
    let domain = domain.trim_end_matches('.');
    [
        (format!("_etcd-client-ssl{suffix}._tcp.{domain}."), true),
        (format!("_etcd-client{suffix}._tcp.{domain}."), false),
    ]
}

/// The endpoints of a service's records: `https://host:port` (or `http://`), the
/// host without the trailing dot of a fully qualified name, in order of priority and
/// then of weight (heaviest first), without repeats. Records whose target is `.`
/// ("no such service here", RFC 2782) or whose port is 0 are left out.
pub fn endpoints_of(records: &[SrvTarget], tls: bool) -> Vec<String> {
    let mut sorted: Vec<&SrvTarget> = records.iter().collect();
    sorted.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)));
    let scheme = if tls { "https" } else { "http" };
    let mut endpoints: Vec<String> = Vec::with_capacity(sorted.len());
    for record in sorted {
        let host = record.target.trim_end_matches('.');
        if host.is_empty() || record.port == 0 {
            continue;
        }
        // A literal IPv6 address needs brackets in a URL (targets are names in
        // practice, but a record may hold one).
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        let endpoint = format!("{scheme}://{host}:{}", record.port);
        if !endpoints.contains(&endpoint) {
            endpoints.push(endpoint);
        }
    }
    endpoints
}

/// Looks up the client endpoints of `domain`'s etcd cluster: the TLS service's first,
/// then the plain one's (see the [module docs](self)).
///
/// # Errors
///
/// [`ErrorKind::InvalidArgument`] for an empty domain;
/// [`ErrorKind::Unavailable`] when the system's resolver configuration cannot be read;
/// [`ErrorKind::InvalidEndpoint`] when neither service has a usable record (the
/// message, `dns lookup errors: lookup <service>: ... and lookup <service>: ...`,
/// says what each lookup answered, as etcdctl's does).
pub async fn discover(domain: &str, service_name: Option<&str>) -> Result<Vec<String>> {
    if domain.trim_end_matches('.').is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            "DNS SRV discovery needs a domain",
        ));
    }
    let resolver = TokioResolver::builder_tokio()
        .and_then(|b| b.build())
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("cannot set up a DNS resolver: {e}"),
            )
        })?;
    discover_with(&resolver, domain, service_name).await
}

/// [`discover`] through `resolver` (the system's, or in tests one that asks a local
/// server).
async fn discover_with(
    resolver: &TokioResolver,
    domain: &str,
    service_name: Option<&str>,
) -> Result<Vec<String>> {
    let mut endpoints = Vec::new();
    let mut failures = Vec::new();
    for (name, tls) in service_names(domain, service_name) {
        let shown = name.trim_end_matches('.');
        match resolver.srv_lookup(name.as_str()).await {
            Ok(lookup) => {
                let records: Vec<SrvTarget> = lookup
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::SRV(srv) => Some(SrvTarget {
                            target: srv.target.to_utf8(),
                            port: srv.port,
                            priority: srv.priority,
                            weight: srv.weight,
                        }),
                        _ => None,
                    })
                    .collect();
                let found = endpoints_of(&records, tls);
                if found.is_empty() {
                    failures.push(format!("lookup {shown}: no usable record"));
                }
                endpoints.extend(found);
            }
            // Worded as etcd's tools word it ("no such host"), the rest as the resolver
            // says it.
            Err(e) if e.is_no_records_found() => {
                failures.push(format!("lookup {shown}: no such host"));
            }
            Err(e) => failures.push(format!("lookup {shown}: {e}")),
        }
    }
    if endpoints.is_empty() {
        // etcdctl's words: "dns lookup errors: lookup A: ... and lookup B: ...".
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            format!("dns lookup errors: {}", failures.join(" and ")),
        )
        .with_operation("srv.discover"));
    }
    Ok(endpoints)
}

impl Client {
    /// Discovers the endpoints of `domain` by DNS SRV ([`srv::discover`](crate::srv::discover))
    /// and connects with `options`, whose own endpoints are replaced by them.
    ///
    /// # Errors
    ///
    /// As [`srv::discover`](crate::srv::discover), then as [`ClientOptions::connect`].
    pub async fn connect_srv(
        domain: &str,
        service_name: Option<&str>,
        mut options: ClientOptions,
    ) -> Result<Client> {
        options.endpoints = discover(domain, service_name).await?;
        options.connect().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(target: &str, port: u16, priority: u16, weight: u16) -> SrvTarget {
        SrvTarget {
            target: target.into(),
            port,
            priority,
            weight,
        }
    }

    #[test]
    fn service_names_follow_etcds_and_take_the_optional_suffix() {
        assert_eq!(
            service_names("example.com", None),
            [
                ("_etcd-client-ssl._tcp.example.com.".to_string(), true),
                ("_etcd-client._tcp.example.com.".to_string(), false),
            ]
        );
        assert_eq!(
            service_names("example.com.", Some("prod")),
            [
                ("_etcd-client-ssl-prod._tcp.example.com.".to_string(), true),
                ("_etcd-client-prod._tcp.example.com.".to_string(), false),
            ]
        );
        assert_eq!(service_names("d", Some("")), service_names("d", None));
    }

    #[test]
    fn records_become_endpoints_in_order_of_priority_then_weight() {
        let records = [
            record("c.example.com.", 2379, 20, 0),
            record("a.example.com.", 2379, 10, 5),
            record("b.example.com.", 2380, 10, 50),
            record("b.example.com.", 2380, 30, 0),
            record(".", 2379, 0, 0),
            record("zero.example.com.", 0, 0, 0),
            record("::1", 2379, 40, 0),
        ];
        assert_eq!(
            endpoints_of(&records, true),
            [
                "https://b.example.com:2380",
                "https://a.example.com:2379",
                "https://c.example.com:2379",
                "https://[::1]:2379",
            ]
        );
        assert_eq!(
            endpoints_of(&records[..1], false),
            ["http://c.example.com:2379"]
        );
        // Every endpoint made parses as one.
        for endpoint in endpoints_of(&records, false) {
            assert!(
                crate::transport::parse_endpoint(&endpoint, false).is_ok(),
                "{endpoint}"
            );
        }
    }

    /// A DNS server on a local UDP port that knows one SRV record: `name` → `target:port`.
    /// It answers every other question with NXDOMAIN.
    async fn dns_server(name: &'static str, target: &'static str, port: u16) -> u16 {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((len, from)) = socket.recv_from(&mut buf).await {
                let query = &buf[..len];
                // The question: the name's labels up to the root, then type and class.
                let mut at = 12;
                let mut labels = Vec::new();
                while at < len && query[at] != 0 {
                    let n = usize::from(query[at]);
                    labels.push(String::from_utf8_lossy(&query[at + 1..at + 1 + n]).to_string());
                    at += 1 + n;
                }
                let question_end = at + 5;
                let asked = labels.join(".").to_ascii_lowercase();
                let qtype = u16::from_be_bytes([query[at + 1], query[at + 2]]);
                let known = asked == name && qtype == 33;
                let mut answer = Vec::new();
                answer.extend_from_slice(&query[..2]); // the id
                answer.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]);
                answer.extend_from_slice(&[0, 1, 0, u8::from(known), 0, 0, 0, 0]);
                answer.extend_from_slice(&query[12..question_end]);
                if known {
                    let mut rdata = vec![0, 10, 0, 5];
                    rdata.extend_from_slice(&port.to_be_bytes());
                    for label in target.trim_end_matches('.').split('.') {
                        rdata.push(u8::try_from(label.len()).unwrap());
                        rdata.extend_from_slice(label.as_bytes());
                    }
                    rdata.push(0);
                    answer.extend_from_slice(&[0xC0, 12, 0, 33, 0, 1, 0, 0, 0, 60]);
                    answer.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
                    answer.extend_from_slice(&rdata);
                }
                let _ = socket.send_to(&answer, from).await;
            }
        });
        local
    }

    fn resolver_of(port: u16) -> TokioResolver {
        use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let mut udp = ConnectionConfig::udp();
        udp.port = port;
        let server = NameServerConfig::new("127.0.0.1".parse().unwrap(), true, vec![udp]);
        let config = ResolverConfig::from_parts(None, Vec::new(), vec![server]);
        TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn records_found_by_a_resolver_become_endpoints() {
        let port = dns_server(
            "_etcd-client-prod._tcp.example.test",
            "m1.example.test.",
            2379,
        )
        .await;
        let resolver = resolver_of(port);
        let lookup = discover_with(&resolver, "example.test", Some("prod"));
        let found = tokio::time::timeout(std::time::Duration::from_secs(10), lookup)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found, ["http://m1.example.test:2379"]);
        // Without the service name neither service has a record.
        let lookup = discover_with(&resolver, "example.test", None);
        let err = tokio::time::timeout(std::time::Duration::from_secs(10), lookup)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidEndpoint);
        assert_eq!(
            err.message(),
            "dns lookup errors: lookup _etcd-client-ssl._tcp.example.test: no such host \
             and lookup _etcd-client._tcp.example.test: no such host"
        );
    }

    #[tokio::test]
    async fn an_empty_domain_is_refused_before_any_lookup() {
        let err = discover("", None).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let err = discover(".", Some("x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}
