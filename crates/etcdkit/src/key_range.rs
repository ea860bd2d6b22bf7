//! The one key-range type of get, delete, watch and permissions.

use bytes::Bytes;

use crate::namespace::prefix_end;

/// A key, or a range of keys, as etcd names them: a start key and a range end.
///
/// An empty end means the start key alone; otherwise the range is `[start, end)`, and
/// the end `"\0"` means "every key from the start on". The builders of
/// [`get`](crate::kv::Kv::get), [`delete`](crate::kv::Kv::delete),
/// [`watch`](crate::watch::Watch::key) and [`Permission`](crate::auth::Permission) all
/// work through this type (their `.prefix()`, `.from_key()` and `.range_end(..)` are
/// its methods), and take one whole with `.range(..)`.
///
/// ```
/// use etcdkit::KeyRange;
/// let r = KeyRange::prefix("app/");
/// assert_eq!((r.start().as_ref(), r.end().as_ref()), (&b"app/"[..], &b"app0"[..]));
/// assert_eq!(KeyRange::all(), KeyRange::prefix(""));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct KeyRange {
    start: Bytes,
    end: Bytes,
}

/// etcd's spelling of "no upper bound" as a range end, and of "every key" as a start.
const NUL: Bytes = Bytes::from_static(b"\0");

impl KeyRange {
    /// One key.
    pub fn key(key: impl Into<Bytes>) -> KeyRange {
        KeyRange {
            start: key.into(),
            end: Bytes::new(),
        }
    }

    /// The keys in `[start, end)`.
    pub fn range(start: impl Into<Bytes>, end: impl Into<Bytes>) -> KeyRange {
        KeyRange::key(start).with_end(end)
    }

    /// Every key that starts with `prefix` (every key, when it is empty).
    pub fn prefix(prefix: impl Into<Bytes>) -> KeyRange {
        KeyRange::key(prefix).into_prefix()
    }

    /// Every key from `start` on (every key, when it is empty).
    pub fn from_key(start: impl Into<Bytes>) -> KeyRange {
        KeyRange::key(start).into_from_key()
    }

    /// Every key.
    pub fn all() -> KeyRange {
        KeyRange {
            start: NUL,
            end: NUL,
        }
    }

    /// The first key (the only one, when [`end`](KeyRange::end) is empty).
    pub fn start(&self) -> &Bytes {
        &self.start
    }

    /// The range's end, exclusive: empty for one key, `"\0"` for no upper bound.
    pub fn end(&self) -> &Bytes {
        &self.end
    }

    /// This start with `end` as the end.
    pub(crate) fn with_end(mut self, end: impl Into<Bytes>) -> KeyRange {
        self.end = end.into();
        self
    }

    /// Every key that starts with this start.
    pub(crate) fn into_prefix(self) -> KeyRange {
        if self.start.is_empty() {
            // The prefix "" is the whole keyspace: etcd spells that ["\0", "\0").
            return KeyRange::all();
        }
        let end = prefix_end(&self.start);
        self.with_end(end)
    }

    /// Every key from this start on.
    pub(crate) fn into_from_key(self) -> KeyRange {
        if self.start.is_empty() {
            return KeyRange::all();
        }
        self.with_end(NUL)
    }

    /// Applies `f` to the range held as a request's two fields.
    pub(crate) fn update(key: &mut Bytes, end: &mut Bytes, f: impl FnOnce(KeyRange) -> KeyRange) {
        let range = KeyRange {
            start: std::mem::take(key),
            end: std::mem::take(end),
        };
        let range = f(range);
        *key = range.start;
        *end = range.end;
    }

    /// The start and the end.
    pub(crate) fn into_parts(self) -> (Bytes, Bytes) {
        (self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_spelled_as_etcd_spells_them() {
        let r = |k: &KeyRange| (k.start().to_vec(), k.end().to_vec());
        assert_eq!(r(&KeyRange::key("a")), (b"a".to_vec(), vec![]));
        assert_eq!(
            r(&KeyRange::range("a", "c")),
            (b"a".to_vec(), b"c".to_vec())
        );
        assert_eq!(r(&KeyRange::prefix("a")), (b"a".to_vec(), b"b".to_vec()));
        assert_eq!(r(&KeyRange::prefix("")), (b"\0".to_vec(), b"\0".to_vec()));
        assert_eq!(r(&KeyRange::from_key("a")), (b"a".to_vec(), b"\0".to_vec()));
        assert_eq!(r(&KeyRange::from_key("")), (b"\0".to_vec(), b"\0".to_vec()));
        assert_eq!(
            r(&KeyRange::prefix([0xffu8].as_slice())),
            (vec![0xff], b"\0".to_vec())
        );
    }
}
