//! Endpoint strings (`host`, `host:port`, `[v6]:port`, `http(s)://host:port`,
//! `unix://path`), as the client parses them from its configuration and from the
//! cluster's member list.
//!
//! Properties: no panic; a parsed endpoint's normal form parses back to the same
//! endpoint; a unix socket path has no control characters; the normal form is `scheme://host:port`, with a port that is not 0, and is
//! a URI the HTTP stack accepts with the same host and port.
#![no_main]

use etcdkit::__fuzz::parse_endpoint;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((flag, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let default_tls = flag & 1 == 1;
    let Ok(endpoint) = parse_endpoint(text, default_tls) else {
        return;
    };
    if let Some(path) = &endpoint.unix_path {
        // A unix socket: its normal form is the path as written, and it parses back.
        assert!(!path.is_empty() && !path.chars().any(char::is_control));
        assert_eq!(endpoint.url, format!("unix://{path}"));
        let again = parse_endpoint(&endpoint.url, default_tls).expect("the normal form parses");
        assert_eq!(again, endpoint, "{text:?} does not round-trip");
        return;
    }
    let scheme = if endpoint.tls { "https" } else { "http" };
    assert_ne!(endpoint.port, 0);
    assert_eq!(
        endpoint.url,
        format!("{scheme}://{}:{}", endpoint.host, endpoint.port)
    );
    let uri: http::Uri = endpoint.url.parse().expect("the normal form is a URI");
    assert_eq!(uri.port_u16(), Some(endpoint.port));
    assert_eq!(
        uri.host().map(str::to_ascii_lowercase),
        Some(endpoint.host.to_ascii_lowercase())
    );
    for tls in [false, true] {
        let again = parse_endpoint(&endpoint.url, tls).expect("the normal form parses");
        assert_eq!(again, endpoint, "{text:?} does not round-trip");
    }
});
