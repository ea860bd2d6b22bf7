//! TLS material loaded from the user's files: the CA bundle and the client certificate
//! chain and key, PEM text read by the client's TLS options (rustls-pki-types' PEM reader
//! and rustls' checks behind our loading code).
//!
//! Properties: no panic on any bytes; a bundle with no certificate is refused.
#![no_main]

use arbitrary::Arbitrary;
use etcdkit::__fuzz::tls_config;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    ca: Option<Vec<u8>>,
    cert: Vec<u8>,
    key: Vec<u8>,
    identity: bool,
}

fuzz_target!(|input: Input| {
    // No CA means the public roots, which always load; test the CA path or identity.
    let identity = input
        .identity
        .then_some((input.cert.as_slice(), input.key.as_slice()));
    if input.ca.is_none() && identity.is_none() {
        return;
    }
    let result = tls_config(input.ca.as_deref(), identity);
    if let Some(ca) = &input.ca
        && !ca.windows(11).any(|w| w == b"-----BEGIN ")
    {
        assert!(
            result.is_err(),
            "a CA bundle without a PEM block was accepted"
        );
    }
});
