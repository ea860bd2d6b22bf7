//! Whether a role's permissions cover a request's keys, computed as etcd computes it
//! (`server/auth/range_perm_cache.go`): each permission is an interval of keys; a single
//! key needs one interval holding it, a range needs the intervals it meets to cover it
//! without a gap.

use crate::generated::authpb::Permission;
use crate::generated::authpb::permission::Type;

/// What a request does to the keys it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl Access {
    fn granted_by(self, perm: &Permission) -> bool {
        let t = perm.perm_type;
        t == Type::Readwrite as i32
            || (self == Access::Read && t == Type::Read as i32)
            || (self == Access::Write && t == Type::Write as i32)
    }
}

/// A half-open key interval; `end` `None` is "every key from `begin` on".
#[derive(Clone, Copy, Debug)]
struct Interval<'a> {
    begin: &'a [u8],
    end: Option<&'a [u8]>,
}

/// `a < b` where `None` is past every key.
fn less(a: Option<&[u8]>, b: Option<&[u8]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a < b,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

impl<'a> Interval<'a> {
    /// A permission's interval: no range end is the key alone (`[key, key+"\0")`, which
    /// the caller of [`Interval::holds`] needs no byte for), `"\0"` is open-ended.
    fn of_perm(perm: &'a Permission) -> (Self, bool) {
        let end = match perm.range_end.as_ref() {
            [] => None,
            [0] => None,
            e => Some(e),
        };
        let point = perm.range_end.is_empty();
        (
            Interval {
                begin: &perm.key,
                end,
            },
            point,
        )
    }

    fn holds(&self, point: bool, key: &[u8]) -> bool {
        if point {
            return self.begin == key;
        }
        self.begin <= key && less(Some(key), self.end)
    }
}

/// True when the permissions of the given `access` among `perms` allow a request on
/// `key` (alone when `range_end` is empty, else up to `range_end`, `"\0"` open-ended).
pub(crate) fn covers<'p>(
    perms: impl Iterator<Item = &'p Permission>,
    access: Access,
    key: &[u8],
    range_end: &[u8],
) -> bool {
    let granted = perms.filter(|p| access.granted_by(p));
    if range_end.is_empty() {
        return granted
            .map(Interval::of_perm)
            .any(|(ivl, point)| ivl.holds(point, key));
    }
    let want_end = if range_end == [0] {
        None
    } else {
        Some(range_end)
    };
    // The permissions that meet [key, want_end), as intervals (a point perm is
    // [k, k+"\0"), which meets a range exactly when the range holds k).
    let mut met: Vec<(&[u8], Option<Vec<u8>>)> = granted
        .filter_map(|p| {
            let (ivl, point) = Interval::of_perm(p);
            let end: Option<Vec<u8>> = if point {
                let mut e = ivl.begin.to_vec();
                e.push(0);
                Some(e)
            } else {
                ivl.end.map(<[u8]>::to_vec)
            };
            let meets = less(Some(ivl.begin), want_end) && less(Some(key), end.as_deref());
            meets.then_some((ivl.begin, end))
        })
        .collect();
    met.sort_by(|a, b| a.0.cmp(b.0));
    let Some((first_begin, first_end)) = met.first() else {
        return false;
    };
    let mut reach: Option<Vec<u8>> = first_end.clone();
    for (begin, end) in &met[1..] {
        // A gap between what is covered so far and the next interval.
        if less(reach.as_deref(), Some(begin)) {
            return false;
        }
        if less(reach.as_deref(), end.as_deref()) {
            reach.clone_from(end);
        }
    }
    *first_begin <= key && !less(reach.as_deref(), want_end)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn perm(t: Type, key: &str, end: &[u8]) -> Permission {
        Permission {
            perm_type: t as i32,
            key: Bytes::copy_from_slice(key.as_bytes()),
            range_end: Bytes::copy_from_slice(end),
        }
    }

    #[test]
    fn a_single_key_needs_a_permission_holding_it() {
        let perms = [perm(Type::Read, "/b", b"/d"), perm(Type::Write, "k", b"")];
        assert!(covers(perms.iter(), Access::Read, b"/c", b""));
        assert!(!covers(perms.iter(), Access::Read, b"/d", b""));
        assert!(!covers(perms.iter(), Access::Write, b"/c", b""));
        assert!(covers(perms.iter(), Access::Write, b"k", b""));
        assert!(!covers(perms.iter(), Access::Write, b"k0", b""));
    }

    #[test]
    fn a_range_needs_covering_without_gaps() {
        let perms = [
            perm(Type::Read, "/a", b"/c"),
            perm(Type::Readwrite, "/c", b"/e"),
            perm(Type::Read, "/x", b"\0"),
        ];
        assert!(covers(perms.iter(), Access::Read, b"/a", b"/e"));
        assert!(covers(perms.iter(), Access::Read, b"/b", b"/d"));
        assert!(!covers(perms.iter(), Access::Read, b"/a", b"/f"));
        assert!(!covers(perms.iter(), Access::Write, b"/a", b"/d"));
        assert!(covers(perms.iter(), Access::Read, b"/y", b"\0"));
        assert!(!covers(perms.iter(), Access::Read, b"/d", b"\0"));
        assert!(!covers(perms.iter(), Access::Read, b"/0", b"/b"));
    }

    #[test]
    fn a_point_permission_covers_the_range_of_its_key_alone() {
        let perms = [perm(Type::Read, "k", b"")];
        assert!(covers(perms.iter(), Access::Read, b"k", b"k\0"));
        assert!(!covers(perms.iter(), Access::Read, b"k", b"l"));
    }
}
