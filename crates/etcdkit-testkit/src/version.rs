//! The version of the etcd a cluster runs, for tests whose expected behaviour differs
//! between etcd releases.

use std::fmt;

/// An etcd release, as `etcd --version` names it (`etcd Version: 3.6.16`).
///
/// Ordered as releases are (pre-releases before their release), so a test can branch on
/// the server it got:
///
/// ```
/// use etcdkit_testkit::EtcdVersion;
///
/// let v: EtcdVersion = "3.6.16".parse().unwrap();
/// assert!(v.at_least(3, 6, 0));
/// assert!(!v.at_least(3, 7, 0));
/// assert_eq!(v.to_string(), "3.6.16");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EtcdVersion(semver::Version);

impl EtcdVersion {
    /// The release `major.minor.patch`.
    pub fn new(major: u64, minor: u64, patch: u64) -> EtcdVersion {
        EtcdVersion(semver::Version::new(major, minor, patch))
    }

    /// The major version (3 for every etcd v3 release).
    pub fn major(&self) -> u64 {
        self.0.major
    }

    /// The minor version: 4, 5, 6, 7, ...
    pub fn minor(&self) -> u64 {
        self.0.minor
    }

    /// The patch version.
    pub fn patch(&self) -> u64 {
        self.0.patch
    }

    /// True when this release is `major.minor.patch` or newer. A pre-release of
    /// `major.minor.patch` (such as `3.7.0-rc.0`) is older than it.
    pub fn at_least(&self, major: u64, minor: u64, patch: u64) -> bool {
        self.0 >= semver::Version::new(major, minor, patch)
    }

    /// The same version as a [`semver::Version`].
    pub fn as_semver(&self) -> &semver::Version {
        &self.0
    }
}

impl std::str::FromStr for EtcdVersion {
    type Err = semver::Error;

    /// Parses `3.6.16`, `v3.6.16` or `3.7.0-rc.0`.
    ///
    /// # Errors
    ///
    /// When the text is not a semantic version.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        semver::Version::parse(s.strip_prefix('v').unwrap_or(s)).map(EtcdVersion)
    }
}

impl fmt::Display for EtcdVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_as_releases_do() {
        let parse = |s: &str| s.parse::<EtcdVersion>().unwrap();
        assert!(parse("3.4.23") < parse("3.5.1"));
        assert!(parse("3.5.35") < parse("3.6.0"));
        assert!(parse("3.7.0-rc.0") < parse("3.7.0"));
        assert_eq!(parse("v3.6.16"), EtcdVersion::new(3, 6, 16));
        assert!(parse("3.6.16").at_least(3, 5, 3));
        assert!(!parse("3.5.2").at_least(3, 5, 3));
        assert!("garbage".parse::<EtcdVersion>().is_err());
    }
}
