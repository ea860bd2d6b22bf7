//! The answers of the maintenance API.

use std::fmt;

use crate::generated::etcdserverpb as pb;
use crate::types::{MemberId, ResponseHeader, Revision};

/// A member's status.
#[derive(Debug, Clone)]
pub struct StatusResponse {
    pub(crate) header: ResponseHeader,
    pub(crate) inner: pb::StatusResponse,
}

impl StatusResponse {
    /// The response header; its member id is the member that answered.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The etcd version the member runs.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// The backend database size in bytes.
    pub fn db_size(&self) -> i64 {
        self.inner.db_size
    }

    /// The bytes of the backend database in use (the rest is free for reuse).
    pub fn db_size_in_use(&self) -> i64 {
        self.inner.db_size_in_use
    }

    /// The member the answering member takes for leader.
    pub fn leader(&self) -> MemberId {
        MemberId(self.inner.leader)
    }

    /// The raft index.
    pub fn raft_index(&self) -> u64 {
        self.inner.raft_index
    }

    /// The raft term.
    pub fn raft_term(&self) -> u64 {
        self.inner.raft_term
    }

    /// The raft applied index.
    pub fn raft_applied_index(&self) -> u64 {
        self.inner.raft_applied_index
    }

    /// Errors the member reports (alarms).
    pub fn errors(&self) -> &[String] {
        &self.inner.errors
    }

    /// Whether the member is a learner.
    pub fn is_learner(&self) -> bool {
        self.inner.is_learner
    }

    /// The version of the member's storage format, such as `"3.6.0"` (empty from servers
    /// before 3.6, which do not report it, and from a 3.6 member that has not settled its
    /// cluster version yet).
    pub fn storage_version(&self) -> &str {
        &self.inner.storage_version
    }

    /// The backend quota in bytes (`--quota-backend-bytes`; 0 from servers before 3.6).
    pub fn db_size_quota(&self) -> i64 {
        self.inner.db_size_quota
    }

    /// The downgrade in progress, if the member reports one (3.6 and newer report one
    /// whose `enabled` is false when there is none; older servers none at all).
    pub fn downgrade_info(&self) -> Option<DowngradeInfo> {
        self.inner.downgrade_info.as_ref().map(|d| DowngradeInfo {
            enabled: d.enabled,
            target_version: d.target_version.clone(),
        })
    }
}

/// A cluster's downgrade state, as a member reports it in its status (etcd 3.6).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DowngradeInfo {
    /// Whether a downgrade is enabled.
    pub enabled: bool,
    /// The version the cluster is being downgraded to (empty when none).
    pub target_version: String,
}

/// An alarm a member raises.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlarmType {
    /// The backend database ran out of its quota: the cluster takes only reads and
    /// deletions until the space is freed (compact, defragment) and the alarm disarmed.
    NoSpace,
    /// The member found its data corrupt.
    Corrupt,
    /// An alarm this client does not know, by its number.
    Other(i32),
}

impl AlarmType {
    pub(crate) fn from_pb(raw: i32) -> AlarmType {
        match pb::AlarmType::try_from(raw) {
            Ok(pb::AlarmType::Nospace) => AlarmType::NoSpace,
            Ok(pb::AlarmType::Corrupt) => AlarmType::Corrupt,
            _ => AlarmType::Other(raw),
        }
    }

    pub(crate) fn to_pb(self) -> i32 {
        match self {
            AlarmType::NoSpace => pb::AlarmType::Nospace as i32,
            AlarmType::Corrupt => pb::AlarmType::Corrupt as i32,
            AlarmType::Other(raw) => raw,
        }
    }
}

impl fmt::Display for AlarmType {
    /// As etcd names it: `NOSPACE`, `CORRUPT`, or the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AlarmType::NoSpace => f.write_str("NOSPACE"),
            AlarmType::Corrupt => f.write_str("CORRUPT"),
            AlarmType::Other(raw) => write!(f, "{raw}"),
        }
    }
}

/// An alarm raised by a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Alarm {
    pub(crate) member_id: MemberId,
    pub(crate) alarm: AlarmType,
}

impl Alarm {
    /// An alarm of this type on this member (to activate or deactivate).
    pub fn new(member_id: MemberId, alarm: AlarmType) -> Self {
        Alarm { member_id, alarm }
    }

    /// The member that raised it.
    pub fn member_id(&self) -> MemberId {
        self.member_id
    }

    /// What it is about.
    pub fn alarm(&self) -> AlarmType {
        self.alarm
    }
}

/// The answer to an alarm call: the alarms concerned.
#[derive(Debug, Clone)]
pub struct AlarmResponse {
    pub(crate) header: Option<ResponseHeader>,
    pub(crate) alarms: Vec<Alarm>,
}

impl AlarmResponse {
    pub(crate) fn from_pb(r: pb::AlarmResponse) -> Self {
        AlarmResponse {
            header: Some(r.header.into()),
            alarms: r
                .alarms
                .into_iter()
                .map(|a| Alarm::new(MemberId(a.member_id), AlarmType::from_pb(a.alarm)))
                .collect(),
        }
    }

    /// The response header (`None` from [`Maintenance::alarm_disarm_all`](super::Maintenance::alarm_disarm_all) when there
    /// was nothing to disarm).
    pub fn header(&self) -> Option<&ResponseHeader> {
        self.header.as_ref()
    }

    /// The alarms: all active ones for a list, the ones changed for (de)activation.
    pub fn alarms(&self) -> &[Alarm] {
        &self.alarms
    }
}

/// The answer to a defragmentation.
#[derive(Debug, Clone)]
pub struct DefragmentResponse {
    pub(crate) header: ResponseHeader,
}

impl DefragmentResponse {
    /// The response header; its member id is the member defragmented.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }
}

/// A hash of a member's whole backend database.
#[derive(Debug, Clone)]
pub struct HashResponse {
    pub(crate) header: ResponseHeader,
    pub(crate) hash: u32,
}

impl HashResponse {
    /// The response header; its member id is the member hashed.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The hash (CRC-32C).
    pub fn hash(&self) -> u32 {
        self.hash
    }
}

/// A hash of a member's key-value history up to a revision; equal on every member that
/// holds the same data.
#[derive(Debug, Clone)]
pub struct HashKvResponse {
    pub(crate) header: ResponseHeader,
    pub(crate) hash: u32,
    pub(crate) compact_revision: Revision,
    pub(crate) hash_revision: Revision,
}

impl HashKvResponse {
    /// The response header; its member id is the member hashed.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The hash of the keys and values from the compaction revision to the revision asked.
    pub fn hash(&self) -> u32 {
        self.hash
    }

    /// The member's compaction revision when it hashed.
    pub fn compact_revision(&self) -> Revision {
        self.compact_revision
    }

    /// The revision hashed up to (0 from servers before 3.5.5, which do not say).
    pub fn hash_revision(&self) -> Revision {
        self.hash_revision
    }
}

/// The answer to a leadership transfer.
#[derive(Debug, Clone)]
pub struct MoveLeaderResponse {
    pub(crate) header: ResponseHeader,
}

impl MoveLeaderResponse {
    /// The response header (from the former leader).
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }
}

/// What a downgrade call does.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowngradeAction {
    /// Checks whether the cluster can be downgraded to the version, changing nothing.
    Validate,
    /// Starts the downgrade to the version.
    Enable,
    /// Cancels a downgrade in progress.
    Cancel,
}

/// The answer to a downgrade call.
#[derive(Debug, Clone)]
pub struct DowngradeResponse {
    pub(crate) header: ResponseHeader,
    pub(crate) version: String,
}

impl DowngradeResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The cluster's version.
    pub fn version(&self) -> &str {
        &self.version
    }
}
