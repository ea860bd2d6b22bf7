//! Maintenance.Downgrade: validated as etcd validates it; never carried out (this server
//! has no storage version to take down).

use tonic::Status;

use super::ETCD_VERSION;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::DowngradeRequest;
use crate::generated::etcdserverpb::downgrade_request::DowngradeAction;

/// The answer's version for a valid validate request: the cluster version.
///
/// # Errors
///
/// etcd's: a version that does not parse, a target other than the previous minor
/// release, an unknown action. Enabling a valid downgrade is refused as unimplemented.
/// Cancel succeeds: etcd 3.6 answers a cancel with no downgrade in progress with the
/// cluster version too.
pub(super) fn answer(req: &DowngradeRequest) -> Result<String, Status> {
    match DowngradeAction::try_from(req.action) {
        Ok(DowngradeAction::Validate | DowngradeAction::Enable) => {
            let target = parse(&req.version).ok_or(EtcdError::WrongDowngradeVersionFormat)?;
            let (major, minor) = parse(ETCD_VERSION).unwrap_or((3, 6));
            // etcd allows one step down: the previous minor release of the same major.
            if target != (major, minor.wrapping_sub(1)) {
                return Err(EtcdError::InvalidDowngradeTargetVersion.into());
            }
            if req.action == DowngradeAction::Validate as i32 {
                Ok(cluster_version())
            } else {
                Err(Status::unimplemented(
                    "etcdkit-server: downgrade is not supported (an in-memory single member \
                     has no storage version to downgrade); run real etcd for downgrade tests",
                ))
            }
        }
        Ok(DowngradeAction::Cancel) => Ok(cluster_version()),
        Err(_) => Err(Status::unknown("etcdserver: unknown method")),
    }
}

/// The cluster version as etcd's downgrade answers it: `MAJOR.MINOR`.
fn cluster_version() -> String {
    let (major, minor) = parse(ETCD_VERSION).unwrap_or((3, 6));
    format!("{major}.{minor}")
}

/// `MAJOR.MINOR` or `MAJOR.MINOR.PATCH`, optionally with a `-pre.release` (etcd takes
/// `3.5.0-rc.1`), as (major, minor).
fn parse(version: &str) -> Option<(u64, u64)> {
    let core = version.split_once('-').map_or(version, |(core, _)| core);
    let parts: Vec<&str> = core.split('.').collect();
    if !(2..=3).contains(&parts.len()) {
        return None;
    }
    let nums: Option<Vec<u64>> = parts
        .iter()
        .map(|p| {
            let ok = !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
            ok.then(|| p.parse().ok()).flatten()
        })
        .collect();
    let nums = nums?;
    Some((nums[0], nums[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: DowngradeAction, version: &str) -> DowngradeRequest {
        DowngradeRequest {
            action: action as i32,
            version: version.to_owned(),
        }
    }

    #[test]
    fn versions_parse_as_etcd_parses_them() {
        assert_eq!(parse("3.5"), Some((3, 5)));
        assert_eq!(parse("3.5.9"), Some((3, 5)));
        assert_eq!(parse("3.5.0-rc.1"), Some((3, 5)));
        for bad in ["v3.5", "3", "three", "3..5", "3.5.0.1", ""] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_the_previous_minor_release_validates() {
        assert_eq!(
            answer(&req(DowngradeAction::Validate, "3.5.0")).ok(),
            Some("3.6".to_owned())
        );
        for target in ["3.4.0", "3.6.0", "3.7.0", "4.5.0"] {
            let err = answer(&req(DowngradeAction::Validate, target)).err();
            assert_eq!(
                err.map(|e| e.message().to_owned()),
                Some("etcdserver: invalid downgrade target version".to_owned()),
                "{target}"
            );
        }
        let enable = answer(&req(DowngradeAction::Enable, "3.5")).err();
        assert_eq!(enable.map(|e| e.code()), Some(tonic::Code::Unimplemented));
        let unknown = answer(&DowngradeRequest {
            action: 127,
            version: "3.5".to_owned(),
        })
        .err();
        assert_eq!(
            unknown.map(|e| e.message().to_owned()),
            Some("etcdserver: unknown method".to_owned())
        );
    }
}
