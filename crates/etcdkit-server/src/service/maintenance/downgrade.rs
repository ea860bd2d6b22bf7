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
/// release, cancel with no downgrade in progress, an unknown action. Enabling a valid
/// downgrade is refused as unimplemented.
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
        Ok(DowngradeAction::Cancel) => Err(EtcdError::NoInflightDowngrade.into()),
        Err(_) => Err(Status::unknown("etcdserver: unknown method")),
    }
}

/// The cluster version as etcd reports it: major.minor.0.
fn cluster_version() -> String {
    let (major, minor) = parse(ETCD_VERSION).unwrap_or((3, 6));
    format!("{major}.{minor}.0")
}

/// `MAJOR.MINOR` or `MAJOR.MINOR.PATCH` (semver without pre-release), as (major, minor).
fn parse(version: &str) -> Option<(u64, u64)> {
    let parts: Vec<&str> = version.split('.').collect();
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
