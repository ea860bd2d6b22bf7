//! What the client reads from DNS and from members about themselves: the endpoints of
//! SRV records (`etcdkit::srv::endpoints_of`) and a member's reported version
//! (`min_member_version`).
//!
//! Properties: no panic; every endpoint made from records parses as an endpoint of the
//! record's scheme, none is repeated, and there are no more than records; a version's
//! normal form parses back to itself.
#![no_main]

use etcdkit::__fuzz::{member_version, parse_endpoint};
use etcdkit::srv::{SrvTarget, endpoints_of};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((flag, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if let Some(normal) = member_version(text) {
        assert_eq!(member_version(&normal).as_deref(), Some(normal.as_str()));
    }
    // Each line is one record: `priority weight port target`.
    let records: Vec<SrvTarget> = text
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(4, ' ');
            Some(SrvTarget {
                priority: parts.next()?.parse().ok()?,
                weight: parts.next()?.parse().ok()?,
                port: parts.next()?.parse().ok()?,
                target: parts.next()?.to_string(),
            })
        })
        .collect();
    let tls = flag & 1 == 1;
    let endpoints = endpoints_of(&records, tls);
    assert!(endpoints.len() <= records.len());
    for (i, endpoint) in endpoints.iter().enumerate() {
        assert!(!endpoints[..i].contains(endpoint), "{endpoint} repeated");
        // Targets come from DNS names; one that is no host name may fail to parse, but
        // what parses keeps the record's scheme.
        if let Ok(parsed) = parse_endpoint(endpoint, !tls) {
            assert_eq!(parsed.tls, tls, "{endpoint}");
        }
    }
});
