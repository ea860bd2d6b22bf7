//! Key namespaces: a view of the keyspace below a prefix.
//!
//! A namespaced client prefixes every key on the way out and strips the prefix from every
//! key on the way back, ranges included, so code written for a whole keyspace runs
//! unchanged inside a part of one.

use bytes::{Bytes, BytesMut};

use crate::generated::mvccpb;

/// The end of the range of all keys that start with `prefix`: the prefix with its last
/// byte below 0xff incremented and what follows dropped. A prefix of only 0xff bytes (or
/// none) has no such end, and `"\0"` (etcd's "to the end of the keyspace") is returned.
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    match prefix.iter().rposition(|b| *b != 0xff) {
        Some(i) => {
            let mut end = BytesMut::from(&prefix[..=i]);
            end[i] += 1;
            end.freeze()
        }
        None => Bytes::from_static(b"\0"),
    }
}

/// A key prefix; empty means no namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Namespace(Bytes);

impl Namespace {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn prefix(&self) -> &Bytes {
        &self.0
    }

    /// A namespace inside this one.
    pub fn join(&self, inner: &[u8]) -> Namespace {
        let mut joined = BytesMut::with_capacity(self.0.len() + inner.len());
        joined.extend_from_slice(&self.0);
        joined.extend_from_slice(inner);
        Namespace(joined.freeze())
    }

    /// Prefixes one key.
    pub fn key(&self, key: &Bytes) -> Bytes {
        if self.0.is_empty() {
            return key.clone();
        }
        let mut k = BytesMut::with_capacity(self.0.len() + key.len());
        k.extend_from_slice(&self.0);
        k.extend_from_slice(key);
        k.freeze()
    }

    /// Prefixes a range: `"\0"` as the key means the namespace's first key, and `"\0"` as
    /// the end means the namespace's end; an empty end stays a single key.
    pub fn range(&self, key: &mut Bytes, range_end: &mut Bytes) {
        if self.0.is_empty() {
            return;
        }
        *key = if key.as_ref() == b"\0" && !range_end.is_empty() {
            self.0.clone()
        } else {
            self.key(key)
        };
        if range_end.as_ref() == b"\0" {
            *range_end = prefix_end(&self.0);
        } else if !range_end.is_empty() {
            *range_end = self.key(range_end);
        }
    }

    /// Strips the prefix from a key the server sent back.
    pub fn strip(&self, key: &mut Bytes) {
        if !self.0.is_empty() && key.starts_with(&self.0) {
            let _ = key.split_to(self.0.len());
        }
    }

    pub fn strip_kv(&self, kv: &mut mvccpb::KeyValue) {
        self.strip(&mut kv.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_ff() {
        assert_eq!(prefix_end(b"abc"), Bytes::from_static(b"abd"));
        assert_eq!(prefix_end(b"a\xff"), Bytes::from_static(b"b"));
        assert_eq!(prefix_end(b"\xff\xff"), Bytes::from_static(b"\0"));
        assert_eq!(prefix_end(b""), Bytes::from_static(b"\0"));
    }

    #[test]
    fn ranges_map_into_the_namespace() {
        let ns = Namespace::default().join(b"app/");
        let (mut k, mut e) = (Bytes::from_static(b"\0"), Bytes::from_static(b"\0"));
        ns.range(&mut k, &mut e);
        assert_eq!((k.as_ref(), e.as_ref()), (&b"app/"[..], &b"app0"[..]));
        let (mut k, mut e) = (Bytes::from_static(b"a"), Bytes::from_static(b"c"));
        ns.range(&mut k, &mut e);
        assert_eq!((k.as_ref(), e.as_ref()), (&b"app/a"[..], &b"app/c"[..]));
        let mut key = Bytes::from_static(b"app/x");
        ns.strip(&mut key);
        assert_eq!(key.as_ref(), b"x");
    }
}
