//! Member versions, for refusing members older than
//! [`ClientOptions::min_member_version`](crate::ClientOptions::min_member_version).
//!
//! etcd reports its version in `Status.version` as `major.minor.patch`, with a
//! pre-release suffix on pre-releases (`3.6.0-rc.1`). Only the three numbers are
//! compared: a pre-release counts as its release, which is what "supports the 3.6
//! API" means to a caller.

use std::fmt;

use crate::error::{Error, ErrorKind, Result};

/// `major.minor.patch`, ordered numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct MemberVersion {
    major: u64,
    minor: u64,
    patch: u64,
}

impl MemberVersion {
    /// Parses `3`, `3.5` or `3.5.2` (a leading `v` and a `-suffix` or `+suffix` are
    /// allowed); `None` for anything else.
    pub fn parse(text: &str) -> Option<MemberVersion> {
        let text = text.trim();
        let text = text.strip_prefix('v').unwrap_or(text);
        let numbers = text.split(['-', '+']).next().unwrap_or_default();
        let mut parts = numbers.split('.');
        let mut next = |required: bool| match parts.next() {
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => p.parse().ok(),
            None if !required => Some(0),
            _ => None,
        };
        let version = MemberVersion {
            major: next(true)?,
            minor: next(false)?,
            patch: next(false)?,
        };
        parts.next().is_none().then_some(version)
    }

    /// Parses the option's value.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] when it is not `major[.minor[.patch]]`.
    pub fn from_option(text: &str) -> Result<MemberVersion> {
        MemberVersion::parse(text).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidArgument,
                format!(
                    "min_member_version {text:?} is not a version like 3.5.0 (major.minor.patch)"
                ),
            )
        })
    }
}

impl fmt::Display for MemberVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a member that answered is refused, if it is: its version is older than `min`,
/// or it does not say which it runs.
pub(crate) fn refusal(reported: &str, min: MemberVersion) -> Option<String> {
    match MemberVersion::parse(reported) {
        Some(v) if v >= min => None,
        Some(v) => Some(format!(
            "the member runs etcd {v}, older than the minimum {min} (min_member_version)"
        )),
        None => Some(format!(
            "the member reports no usable version ({reported:?}); the minimum is {min} \
             (min_member_version)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> MemberVersion {
        MemberVersion::parse(text).unwrap_or_else(|| panic!("{text} should parse"))
    }

    #[test]
    fn versions_parse_with_optional_parts_and_suffixes() {
        assert_eq!(v("3.5.0"), v("3.5"));
        assert_eq!(v("3"), v("3.0.0"));
        assert_eq!(v("v3.6.16"), v("3.6.16"));
        assert_eq!(v("3.6.0-rc.1"), v("3.6.0"));
        assert_eq!(v("3.6.16").to_string(), "3.6.16");
        for bad in ["", "x", "3.", "3.5.0.1", "3.-5", ".5", "3.5.x", "-3"] {
            assert_eq!(MemberVersion::parse(bad), None, "{bad}");
            assert_eq!(
                MemberVersion::from_option(bad).unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(v("3.10.0") > v("3.9.9"));
        assert!(v("3.6.16") < v("3.7.0"));
        assert!(v("3.6.16") >= v("3.5.0"));
    }

    #[test]
    fn only_older_or_unreadable_versions_are_refused() {
        assert_eq!(refusal("3.6.16", v("3.5.0")), None);
        assert_eq!(refusal("3.5.0", v("3.5.0")), None);
        let why = refusal("3.6.16", v("3.7.0")).unwrap_or_default();
        assert!(why.contains("3.6.16") && why.contains("3.7.0"), "{why}");
        assert!(refusal("", v("3.5.0")).is_some());
    }
}
