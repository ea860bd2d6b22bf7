//! Maintenance: member status, alarms, defragmentation, hashes, leadership transfer,
//! snapshots and downgrades.
//!
//! Most calls return an [`AdminRequest`]: await it, after
//! [`timeout`](AdminRequest::timeout) to override the client's request timeout.
//!
//! Status, defragmentation, hashes and snapshots concern the one member the request goes
//! to; to ask a particular member, use a client of that member's endpoint alone.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::transport::{Call, RpcStream};
use crate::types::{MemberId, ResponseHeader, Revision};

/// The maintenance API of a [`Client`].
#[derive(Clone, Debug)]
pub struct Maintenance {
    pub(crate) client: Client,
}

/// A request of the maintenance or cluster API; await it.
///
/// [`timeout`](AdminRequest::timeout) overrides the client's request timeout for it.
#[must_use = "a request does nothing until awaited"]
pub struct AdminRequest<T> {
    op: &'static str,
    timeout: Option<Duration>,
    run: Box<dyn FnOnce(Option<Duration>) -> BoxFuture<'static, Result<T>> + Send>,
}

impl<T> AdminRequest<T> {
    pub(crate) fn new<F, Fut>(op: &'static str, run: F) -> Self
    where
        F: FnOnce(Option<Duration>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        AdminRequest {
            op,
            timeout: None,
            run: Box::new(move |timeout| Box::pin(run(timeout))),
        }
    }

    /// Overrides the client's request timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<T> fmt::Debug for AdminRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminRequest")
            .field("op", &self.op)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> IntoFuture for AdminRequest<T> {
    type Output = Result<T>;
    type IntoFuture = BoxFuture<'static, Result<T>>;

    fn into_future(self) -> Self::IntoFuture {
        (self.run)(self.timeout)
    }
}

/// A member's status.
#[derive(Debug, Clone)]
pub struct StatusResponse {
    header: ResponseHeader,
    inner: pb::StatusResponse,
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
    /// before 3.6, which do not report it).
    pub fn storage_version(&self) -> &str {
        &self.inner.storage_version
    }

    /// The backend quota in bytes (`--quota-backend-bytes`; 0 from servers before 3.6).
    pub fn db_size_quota(&self) -> i64 {
        self.inner.db_size_quota
    }

    /// The downgrade in progress, if the member reports one (3.6 and newer report one
    /// whose `enabled` is false when there is none).
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
    fn from_pb(raw: i32) -> AlarmType {
        match pb::AlarmType::try_from(raw) {
            Ok(pb::AlarmType::Nospace) => AlarmType::NoSpace,
            Ok(pb::AlarmType::Corrupt) => AlarmType::Corrupt,
            _ => AlarmType::Other(raw),
        }
    }

    fn to_pb(self) -> i32 {
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
    member_id: MemberId,
    alarm: AlarmType,
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
    header: Option<ResponseHeader>,
    alarms: Vec<Alarm>,
}

impl AlarmResponse {
    fn from_pb(r: pb::AlarmResponse) -> Self {
        AlarmResponse {
            header: Some(r.header.into()),
            alarms: r
                .alarms
                .into_iter()
                .map(|a| Alarm::new(MemberId(a.member_id), AlarmType::from_pb(a.alarm)))
                .collect(),
        }
    }

    /// The response header (`None` from [`Maintenance::alarm_disarm_all`] when there
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
    header: ResponseHeader,
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
    header: ResponseHeader,
    hash: u32,
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
    header: ResponseHeader,
    hash: u32,
    compact_revision: Revision,
    hash_revision: Revision,
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
    header: ResponseHeader,
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
    header: ResponseHeader,
    version: String,
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

/// How far a snapshot transfer has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotProgress {
    /// Bytes received (and, when saving, written) so far.
    pub received: u64,
    /// The size the server announced for the database, when it has said; the snapshot
    /// ends with a 32-byte SHA-256 checksum after it.
    pub total: Option<u64>,
}

/// A snapshot arriving from a member, chunk by chunk; from [`Maintenance::snapshot`].
///
/// **Drop**: dropping it cancels the transfer.
pub struct Snapshot {
    stream: RpcStream<pb::SnapshotResponse>,
    progress: SnapshotProgress,
    done: bool,
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("endpoint", &self.stream.endpoint())
            .field("progress", &self.progress)
            .field("done", &self.done)
            .finish()
    }
}

impl Snapshot {
    /// The next chunk; `Ok(None)` once the snapshot is complete. A stream that ends
    /// before the server said it was complete fails with [`ErrorKind::Protocol`].
    pub async fn chunk(&mut self) -> Result<Option<Bytes>> {
        if self.done {
            return Ok(None);
        }
        loop {
            let Some(response) = self.stream.message().await? else {
                self.done = true;
                let complete = self
                    .progress
                    .total
                    .is_some_and(|total| self.progress.received >= total);
                if complete {
                    return Ok(None);
                }
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "the snapshot stream ended after {} bytes, before the end the server announced",
                        self.progress.received
                    ),
                )
                .with_operation("maintenance.snapshot"));
            };
            let len = u64::try_from(response.blob.len()).unwrap_or(u64::MAX);
            self.progress.received = self.progress.received.saturating_add(len);
            if self.progress.total.is_none() {
                self.progress.total = Some(
                    self.progress
                        .received
                        .saturating_add(response.remaining_bytes),
                );
            }
            if !response.blob.is_empty() {
                return Ok(Some(response.blob));
            }
        }
    }

    /// How far the transfer has got.
    pub fn progress(&self) -> SnapshotProgress {
        self.progress
    }

    /// The endpoint sending the snapshot.
    pub fn endpoint(&self) -> &str {
        self.stream.endpoint()
    }

    /// Writes the rest of the snapshot to `writer` (flushing it at the end), calling
    /// `progress` after each chunk. Returns the final progress.
    pub async fn write_to<W, P>(
        &mut self,
        writer: &mut W,
        mut progress: P,
    ) -> Result<SnapshotProgress>
    where
        W: AsyncWrite + Unpin + ?Sized,
        P: FnMut(SnapshotProgress),
    {
        while let Some(chunk) = self.chunk().await? {
            writer.write_all(&chunk).await.map_err(write_error)?;
            progress(self.progress);
        }
        writer.flush().await.map_err(write_error)?;
        Ok(self.progress)
    }
}

fn write_error(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write the snapshot: {e}"))
        .with_operation("maintenance.snapshot")
        .with_source(e)
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

impl Maintenance {
    /// The status of a member (whichever the client picks; use a client of one endpoint
    /// to ask a particular member).
    pub fn status(&self) -> AdminRequest<StatusResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.status", move |timeout| async move {
            let call = Call::safe("maintenance.status", timeout);
            let inner = client
                .transport()
                .status(call, pb::StatusRequest {})
                .await?;
            Ok(StatusResponse {
                header: inner.header.into(),
                inner,
            })
        })
    }

    fn alarm(
        &self,
        op: &'static str,
        action: pb::alarm_request::AlarmAction,
        alarm: Option<Alarm>,
    ) -> AdminRequest<AlarmResponse> {
        let client = self.client.clone();
        AdminRequest::new(op, move |timeout| async move {
            let call = if action == pb::alarm_request::AlarmAction::Get {
                Call::safe(op, timeout)
            } else {
                Call::unsafe_(op, timeout)
            };
            let request = pb::AlarmRequest {
                action: action as i32,
                member_id: alarm.map_or(0, |a| a.member_id.0),
                alarm: alarm.map_or(pb::AlarmType::None as i32, |a| a.alarm.to_pb()),
            };
            let r = client.transport().alarm(call, request).await?;
            Ok(AlarmResponse::from_pb(r))
        })
    }

    /// Lists the active alarms of every member.
    pub fn alarm_list(&self) -> AdminRequest<AlarmResponse> {
        self.alarm(
            "maintenance.alarm_list",
            pb::alarm_request::AlarmAction::Get,
            None,
        )
    }

    /// Raises an alarm (the cluster acts on it as if the member had raised it).
    pub fn alarm_activate(&self, alarm: Alarm) -> AdminRequest<AlarmResponse> {
        self.alarm(
            "maintenance.alarm_activate",
            pb::alarm_request::AlarmAction::Activate,
            Some(alarm),
        )
    }

    /// Clears an alarm. Clear a NOSPACE alarm only after freeing space (compact and
    /// defragment), or the member raises it again.
    pub fn alarm_deactivate(&self, alarm: Alarm) -> AdminRequest<AlarmResponse> {
        self.alarm(
            "maintenance.alarm_deactivate",
            pb::alarm_request::AlarmAction::Deactivate,
            Some(alarm),
        )
    }

    /// Clears every active alarm (lists them, then deactivates each); the answer lists
    /// the alarms cleared.
    pub fn alarm_disarm_all(&self) -> AdminRequest<AlarmResponse> {
        let maintenance = self.clone();
        AdminRequest::new("maintenance.alarm_disarm", move |timeout| async move {
            let with_timeout = |r: AdminRequest<AlarmResponse>| match timeout {
                Some(t) => r.timeout(t),
                None => r,
            };
            let active = with_timeout(maintenance.alarm_list()).await?;
            let mut cleared = AlarmResponse {
                header: None,
                alarms: Vec::new(),
            };
            for alarm in active.alarms {
                let r = with_timeout(maintenance.alarm_deactivate(alarm)).await?;
                cleared.header = r.header;
                cleared.alarms.extend(r.alarms);
            }
            Ok(cleared)
        })
    }

    /// Defragments the backend database of the member the request goes to, giving the
    /// space freed by compaction back to the file system. The member serves nothing
    /// while it runs; it can take long on a big database, so consider a longer
    /// [timeout](AdminRequest::timeout).
    pub fn defragment(&self) -> AdminRequest<DefragmentResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.defragment", move |timeout| async move {
            let call = Call::safe("maintenance.defragment", timeout);
            let r = client
                .transport()
                .defragment(call, pb::DefragmentRequest {})
                .await?;
            Ok(DefragmentResponse {
                header: r.header.into(),
            })
        })
    }

    /// Hashes the member's whole backend database (for tests and debugging: it differs
    /// between members holding the same data).
    pub fn hash(&self) -> AdminRequest<HashResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.hash", move |timeout| async move {
            let call = Call::safe("maintenance.hash", timeout);
            let r = client.transport().hash(call, pb::HashRequest {}).await?;
            Ok(HashResponse {
                header: r.header.into(),
                hash: r.hash,
            })
        })
    }

    /// Hashes the member's key-value history up to `revision` (`Revision(0)`: the
    /// latest). Members that agree give the same hash for the same revision.
    pub fn hash_kv(&self, revision: Revision) -> AdminRequest<HashKvResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.hash_kv", move |timeout| async move {
            let call = Call::safe("maintenance.hash_kv", timeout);
            let r = client
                .transport()
                .hash_kv(
                    call,
                    pb::HashKvRequest {
                        revision: revision.0,
                    },
                )
                .await?;
            Ok(HashKvResponse {
                header: r.header.into(),
                hash: r.hash,
                compact_revision: Revision(r.compact_revision),
                hash_revision: Revision(r.hash_revision),
            })
        })
    }

    /// Hands leadership to the member `target` (a voting member).
    ///
    /// Only the leader can do this, so the client finds it (a member status names it,
    /// the member list gives its client URLs) and sends the request there, over a
    /// connection of its own with this client's options. The leader's advertised client
    /// URLs must therefore be reachable from here. When the leader changes meanwhile,
    /// this fails with [`ErrorKind::NotLeader`].
    pub fn move_leader(&self, target: MemberId) -> AdminRequest<MoveLeaderResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.move_leader", move |timeout| async move {
            let op = "maintenance.move_leader";
            let status = client
                .transport()
                .status(Call::safe(op, timeout), pb::StatusRequest {})
                .await?;
            let leader = status.leader;
            let members = client
                .transport()
                .member_list(
                    Call::safe(op, timeout),
                    pb::MemberListRequest {
                        linearizable: false,
                    },
                )
                .await?;
            let urls = members
                .members
                .into_iter()
                .find(|m| m.id == leader)
                .map(|m| m.client_ur_ls)
                .unwrap_or_default();
            if urls.is_empty() {
                return Err(Error::new(
                    ErrorKind::NoLeader,
                    format!(
                        "the leader ({:x}) is not in the member list, or has no client URLs",
                        leader
                    ),
                )
                .with_operation(op));
            }
            let mut options = client.transport().options().clone();
            options.endpoints = urls;
            options.auto_sync_interval = None;
            let to_leader = Client::connect_with(options).await?;
            let r = to_leader
                .transport()
                .move_leader(
                    Call::unsafe_(op, timeout),
                    pb::MoveLeaderRequest {
                        target_id: target.0,
                    },
                )
                .await?;
            Ok(MoveLeaderResponse {
                header: r.header.into(),
            })
        })
    }

    /// Asks the cluster to validate, enable or cancel a downgrade to `version` (such as
    /// `"3.4"`; ignored for a cancel). Servers without downgrade support (before 3.5)
    /// fail with [`ErrorKind::Unsupported`].
    pub fn downgrade(
        &self,
        action: DowngradeAction,
        version: impl Into<String>,
    ) -> AdminRequest<DowngradeResponse> {
        let client = self.client.clone();
        let version = version.into();
        AdminRequest::new("maintenance.downgrade", move |timeout| async move {
            let op = "maintenance.downgrade";
            let (action, call) = match action {
                DowngradeAction::Validate => (
                    pb::downgrade_request::DowngradeAction::Validate,
                    Call::safe(op, timeout),
                ),
                DowngradeAction::Enable => (
                    pb::downgrade_request::DowngradeAction::Enable,
                    Call::unsafe_(op, timeout),
                ),
                DowngradeAction::Cancel => (
                    pb::downgrade_request::DowngradeAction::Cancel,
                    Call::unsafe_(op, timeout),
                ),
            };
            let request = pb::DowngradeRequest {
                action: action as i32,
                version,
            };
            let r = client.transport().downgrade(call, request).await?;
            Ok(DowngradeResponse {
                header: r.header.into(),
                version: r.version,
            })
        })
    }

    /// Starts a snapshot of the backend database of a member (the request timeout
    /// covers the opening only); read it with [`Snapshot::chunk`] or
    /// [`Snapshot::write_to`].
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let stream = self.client.transport().snapshot_stream().await?;
        Ok(Snapshot {
            stream,
            progress: SnapshotProgress {
                received: 0,
                total: None,
            },
            done: false,
        })
    }

    /// Saves a snapshot to `writer`, calling `progress` after each chunk.
    pub async fn save_snapshot<W, P>(&self, writer: &mut W, progress: P) -> Result<SnapshotProgress>
    where
        W: AsyncWrite + Unpin + ?Sized,
        P: FnMut(SnapshotProgress),
    {
        self.snapshot().await?.write_to(writer, progress).await
    }

    /// Saves a snapshot to the file at `path`, calling `progress` after each chunk.
    ///
    /// It is written to `<path>.part`, synced to disk, then renamed to `path`, so `path`
    /// only ever holds a complete snapshot; on failure the part file is removed.
    pub async fn save_snapshot_file<P>(
        &self,
        path: impl AsRef<Path>,
        progress: P,
    ) -> Result<SnapshotProgress>
    where
        P: FnMut(SnapshotProgress),
    {
        let path = path.as_ref();
        let part = part_path(path);
        let file_error = |what: &str, p: &Path, e: std::io::Error| {
            Error::new(ErrorKind::Io, format!("cannot {what} {}: {e}", p.display()))
                .with_operation("maintenance.snapshot")
                .with_source(e)
        };
        let result = async {
            let mut snapshot = self.snapshot().await?;
            let mut file = tokio::fs::File::create(&part)
                .await
                .map_err(|e| file_error("create", &part, e))?;
            let done = snapshot.write_to(&mut file, progress).await?;
            file.sync_all()
                .await
                .map_err(|e| file_error("sync", &part, e))?;
            drop(file);
            tokio::fs::rename(&part, path)
                .await
                .map_err(|e| file_error("rename to", path, e))?;
            Ok(done)
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&part).await;
        }
        result
    }
}
