//! Registry values read back from etcd, in any of the formats found there: our JSON
//! document, the Go client's `naming/endpoints` update, or a bare address or URL as
//! go-kit writes them (any bytes another program may have put under the namespace).
//!
//! Properties: no panic; re-encoding a decoded instance as a document decodes to the
//! same instance, and so does the Go format when the instance has the `host` and `url`
//! that format carries (a foreign document may lack them).
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use etcdkit_recipes::registry::{Instance, ValueFormat};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    key: Vec<u8>,
    value: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let namespace = b"ns/";
    let mut key = namespace.to_vec();
    key.extend_from_slice(&input.key);
    let key = Bytes::from(key);
    let Some(instance) = Instance::decode(namespace, &key, &input.value) else {
        return;
    };
    let mut formats = vec![ValueFormat::Document];
    if instance.host().is_some() && instance.url().is_some() {
        formats.push(ValueFormat::GoEndpoints);
    }
    for format in formats {
        let value = instance.encode(format);
        let back = Instance::decode(namespace, &key, &value)
            .unwrap_or_else(|| panic!("{format:?} encoding of {instance:?} does not decode"));
        assert_eq!(back, instance, "{format:?}");
    }
});
