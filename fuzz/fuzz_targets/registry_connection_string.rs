//! The registry's connection string, `http[s]://h1[:port],h2,…/namespace?options`, as
//! `Registry::connect` reads it from a service's configuration.
//!
//! Properties: no panic; a parsed string's printed form parses back to an equal value;
//! the parsed value keeps its promises (at least one endpoint, a non-empty namespace
//! without empty segments, a TTL of at least 1 s and a heartbeat shorter than it).
#![no_main]

use std::time::Duration;

use etcdkit_recipes::registry::ConnectionString;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = text.parse::<ConnectionString>() else {
        return;
    };
    assert!(!parsed.endpoints().is_empty());
    assert!(!parsed.namespace().is_empty());
    assert!(parsed.namespace().split('/').all(|s| !s.is_empty()));
    assert!(parsed.ttl() >= Duration::from_secs(1));
    assert!(!parsed.heartbeat().is_zero() && parsed.heartbeat() < parsed.ttl());
    let printed = parsed.to_string();
    let again: ConnectionString = printed
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
    assert_eq!(again, parsed, "{text:?} printed as {printed:?}");
});
