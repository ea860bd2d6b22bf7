//! Maintenance: member status, alarms, defragmentation, hashes, leadership transfer,
//! snapshots and downgrades.
//!
//! Most calls return an [`AdminRequest`]: await it, after
//! [`timeout`](AdminRequest::timeout) to override the client's request timeout.
//!
//! Status, defragmentation, hashes, alarms and snapshots concern the one member the
//! request goes to. [`AdminRequest::endpoint`] (and [`OpenSnapshot::endpoint`]) aims a
//! request at one member: it goes there only and is never retried on another. Without
//! it, the client picks a member; a defragmentation then is not retried on another
//! member unless it certainly never reached the first.

mod request;
mod snapshot;
mod types;

use std::path::Path;

use tokio::io::AsyncWrite;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::types::{MemberId, Revision};

pub use request::AdminRequest;
use snapshot::part_path;
pub use snapshot::{OpenSnapshot, SavedSnapshot, Snapshot, SnapshotProgress};
pub use types::{
    Alarm, AlarmResponse, AlarmType, DefragmentResponse, DowngradeAction, DowngradeInfo,
    DowngradeResponse, HashKvResponse, HashResponse, MoveLeaderResponse, StatusResponse,
};

/// The maintenance API of a [`Client`].
#[derive(Clone, Debug)]
pub struct Maintenance {
    pub(crate) client: Client,
}

impl Maintenance {
    /// The status of a member: whichever the client picks, or the one named with
    /// [`endpoint`](AdminRequest::endpoint).
    pub fn status(&self) -> AdminRequest<StatusResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.status", move |settings| async move {
            let call = settings.idempotent("maintenance.status");
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
        AdminRequest::new(op, move |settings| async move {
            let call = if action == pb::alarm_request::AlarmAction::Get {
                settings.idempotent(op)
            } else {
                settings.not_idempotent(op)
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
        AdminRequest::new("maintenance.alarm_disarm", move |settings| async move {
            // Each step carries this request's timeout and member.
            let with_settings = |mut r: AdminRequest<AlarmResponse>| {
                if let Some(t) = settings.timeout {
                    r = r.timeout(t);
                }
                if let Some(e) = &settings.endpoint {
                    r = r.endpoint(e.to_string());
                }
                r
            };
            let active = with_settings(maintenance.alarm_list()).await?;
            let mut cleared = AlarmResponse {
                header: None,
                alarms: Vec::new(),
            };
            for alarm in active.alarms {
                let r = with_settings(maintenance.alarm_deactivate(alarm)).await?;
                cleared.header = r.header;
                cleared.alarms.extend(r.alarms);
            }
            Ok(cleared)
        })
    }

    /// Defragments the backend database of the member the request goes to, giving the
    /// space freed by compaction back to the file system. The member serves nothing
    /// while it runs; it can take long on a big database, so consider a longer
    /// [timeout](AdminRequest::timeout), and name the member with
    /// [`endpoint`](AdminRequest::endpoint).
    ///
    /// It is not repeated on another member unless it certainly never reached the
    /// first: that would defragment a member nobody meant (and a failure of the one
    /// meant may be its outcome unknown).
    pub fn defragment(&self) -> AdminRequest<DefragmentResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.defragment", move |settings| async move {
            let call = settings.not_idempotent("maintenance.defragment");
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
        AdminRequest::new("maintenance.hash", move |settings| async move {
            let call = settings.idempotent("maintenance.hash");
            let r = client.transport().hash(call, pb::HashRequest {}).await?;
            Ok(HashResponse {
                header: r.header.into(),
                hash: r.hash,
            })
        })
    }

    /// Hashes the member's key-value history up to `revision` (`Revision(0)`: the
    /// latest). Members that agree give the same hash for the same revision.
    pub fn hash_kv(&self, revision: impl Into<Revision>) -> AdminRequest<HashKvResponse> {
        let revision = revision.into();
        let client = self.client.clone();
        AdminRequest::new("maintenance.hash_kv", move |settings| async move {
            let call = settings.idempotent("maintenance.hash_kv");
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
    /// Only the leader can do this, so unless [`endpoint`](AdminRequest::endpoint)
    /// names the leader, the client finds it (a member status names it, the member list
    /// gives its client URLs) and sends the request there alone, as a member-targeted
    /// call. The leader's advertised client URL must therefore be reachable from here.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotLeader`] when the leader changes meanwhile (or the named member is
    /// not the leader); [`ErrorKind::NoLeader`] when the leader cannot be found.
    pub fn move_leader(&self, target: MemberId) -> AdminRequest<MoveLeaderResponse> {
        let client = self.client.clone();
        AdminRequest::new("maintenance.move_leader", move |settings| async move {
            let op = "maintenance.move_leader";
            let request = pb::MoveLeaderRequest {
                target_id: target.0,
            };
            if settings.endpoint.is_some() {
                let r = client
                    .transport()
                    .move_leader(settings.not_idempotent(op), request)
                    .await?;
                return Ok(MoveLeaderResponse {
                    header: r.header.into(),
                });
            }
            let status = client
                .transport()
                .status(settings.idempotent(op), pb::StatusRequest {})
                .await?;
            let leader = status.leader;
            let members = client
                .transport()
                .member_list(
                    settings.idempotent(op),
                    pb::MemberListRequest {
                        linearizable: false,
                    },
                )
                .await?;
            let url = members
                .members
                .into_iter()
                .find(|m| m.id == leader)
                .and_then(|m| m.client_ur_ls.into_iter().next());
            let Some(url) = url else {
                return Err(Error::new(
                    ErrorKind::NoLeader,
                    format!(
                        "the leader ({:x}) is not in the member list, or has no client URLs",
                        leader
                    ),
                )
                .with_operation(op));
            };
            let mut call = settings.not_idempotent(op);
            call.endpoint = Some(url.into());
            let r = client.transport().move_leader(call, request).await?;
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
        AdminRequest::new("maintenance.downgrade", move |settings| async move {
            let op = "maintenance.downgrade";
            let (action, call) = match action {
                DowngradeAction::Validate => (
                    pb::downgrade_request::DowngradeAction::Validate,
                    settings.idempotent(op),
                ),
                DowngradeAction::Enable => (
                    pb::downgrade_request::DowngradeAction::Enable,
                    settings.not_idempotent(op),
                ),
                DowngradeAction::Cancel => (
                    pb::downgrade_request::DowngradeAction::Cancel,
                    settings.not_idempotent(op),
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
    /// covers the opening only); await the [`OpenSnapshot`], after
    /// [`endpoint`](OpenSnapshot::endpoint) to name the member, then read it with
    /// [`Snapshot::chunk`] or [`Snapshot::write_to`].
    pub fn snapshot(&self) -> OpenSnapshot {
        OpenSnapshot::new(self.client.clone())
    }

    /// Saves a snapshot to `writer`, calling `progress` after each chunk.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when writing fails; [`ErrorKind::Protocol`] when the stream ends
    /// early; the call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`],
    /// ...).
    pub async fn save_snapshot<W, P>(&self, writer: &mut W, progress: P) -> Result<SavedSnapshot>
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
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the file cannot be created, written, synced or renamed (the
    /// part file is removed); [`ErrorKind::Protocol`] when the stream ends early; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn save_snapshot_file<P>(
        &self,
        path: impl AsRef<Path>,
        progress: P,
    ) -> Result<SavedSnapshot>
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
