//! The key interval of a request, decoded from etcd's `key`/`range_end` convention.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;

/// Which keys a request names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum KeyRange {
    /// An empty `range_end`: the key alone.
    Single(Bytes),
    /// `[start, end)`; `end` is `None` for a `range_end` of `"\0"` (every key from `start`).
    Span { start: Bytes, end: Option<Bytes> },
}

impl KeyRange {
    /// Decodes etcd's convention: no `range_end` is one key, `"\0"` is "from `key` on".
    pub(crate) fn new(key: &Bytes, range_end: &Bytes) -> Self {
        if range_end.is_empty() {
            KeyRange::Single(key.clone())
        } else if range_end.as_ref() == [0] {
            KeyRange::Span {
                start: key.clone(),
                end: None,
            }
        } else {
            KeyRange::Span {
                start: key.clone(),
                end: Some(range_end.clone()),
            }
        }
    }

    /// True when `key` falls inside.
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Single(k) => k.as_ref() == key,
            KeyRange::Span { start, end } => {
                key >= start.as_ref() && end.as_ref().is_none_or(|e| key < e.as_ref())
            }
        }
    }

    /// The entries of `map` inside the range, in key order. An inverted span is empty
    /// (etcd answers it with nothing rather than an error).
    pub(crate) fn iter<'a, V>(
        &self,
        map: &'a BTreeMap<Bytes, V>,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, &'a V)> + 'a> {
        match self {
            KeyRange::Single(k) => Box::new(map.get_key_value(k).into_iter()),
            KeyRange::Span { start, end } => {
                let upper = match end {
                    Some(e) if e <= start => return Box::new(std::iter::empty()),
                    Some(e) => Bound::Excluded(e.clone()),
                    None => Bound::Unbounded,
                };
                Box::new(map.range((Bound::Included(start.clone()), upper)))
            }
        }
    }
}
