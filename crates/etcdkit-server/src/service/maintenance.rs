//! `etcdserverpb.Maintenance`: status, alarms, hash and hash_kv, defragment (a no-op),
//! snapshot (this server's own format, see `store::dump`), move leader and downgrade as a
//! single member answers them.

mod alarm;
mod downgrade;

use std::sync::Arc;

use tonic::{Request, Response, Status};

use bytes::Bytes;

use crate::auth::check;
use crate::core::Shared;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::maintenance_server::Maintenance;
use crate::generated::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};

pub(crate) use crate::server::ETCD_VERSION;

/// What the backend of a fresh etcd takes (five 4 KiB bbolt pages), in bytes.
const EMPTY_BACKEND_BYTES: i64 = 20 * 1024;

pub(crate) struct MaintenanceService(pub(crate) Arc<Shared>);

impl MaintenanceService {
    /// Defragment, snapshot, hash, hash_kv, move leader and downgrade are for root alone
    /// once auth is on (etcd's `authMaintenanceServer`); status and alarms are not.
    fn check_admin(&self, meta: &tonic::metadata::MetadataMap) -> Result<(), EtcdError> {
        let token = check::token(meta);
        let mut core = self.0.lock();
        let caller = core.caller(token.as_deref())?;
        core.auth.check_admin(&caller)
    }
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, req: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        // Alarms take etcd's raft path, which refuses an unknown token or none; no role
        // needed.
        let token = check::token(req.metadata());
        self.0.lock().user(token.as_deref())?;
        Ok(Response::new(alarm::answer(&self.0, &req.into_inner())?))
    }

    async fn status(
        &self,
        req: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let token = check::token(req.metadata());
        let mut core = self.0.lock();
        core.user(token.as_deref())?;
        let revision = core.store.revision();
        // The quota's estimate of the store, on top of what an empty etcd backend takes
        // (20 KiB): never zero, as etcdctl's status table divides by it.
        let db_size = i64::try_from(core.store.size_bytes())
            .unwrap_or(i64::MAX)
            .saturating_add(EMPTY_BACKEND_BYTES);
        drop(core);
        // The raft index of a single member moves with each write; the revision is the
        // closest thing this server has.
        let index = u64::try_from(revision).unwrap_or(0);
        Ok(Response::new(StatusResponse {
            header: Some(self.0.info.header(revision)),
            version: ETCD_VERSION.to_owned(),
            leader: self.0.info.member_id,
            raft_index: index,
            raft_term: self.0.info.raft_term,
            raft_applied_index: index,
            storage_version: ETCD_VERSION.to_owned(),
            db_size,
            db_size_in_use: db_size,
            db_size_quota: i64::try_from(self.0.limits.quota_backend_bytes).unwrap_or(i64::MAX),
            ..StatusResponse::default()
        }))
    }

    async fn defragment(
        &self,
        req: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        self.check_admin(req.metadata())?;
        // Nothing to give back: an in-memory store frees what compaction drops at once.
        let revision = self.0.lock().store.revision();
        Ok(Response::new(DefragmentResponse {
            header: Some(self.0.info.header(revision)),
        }))
    }

    async fn hash(&self, req: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        self.check_admin(req.metadata())?;
        let core = self.0.lock();
        let revision = core.store.revision();
        let hash = core.store.hash_upto(revision);
        drop(core);
        Ok(Response::new(HashResponse {
            header: Some(self.0.info.header(revision)),
            hash,
        }))
    }

    async fn hash_kv(
        &self,
        req: Request<HashKvRequest>,
    ) -> Result<Response<HashKvResponse>, Status> {
        self.check_admin(req.metadata())?;
        let req = req.into_inner();
        let core = self.0.lock();
        let current = core.store.revision();
        let compacted = core.store.compacted();
        if req.revision > current {
            return Err(EtcdError::FutureRev.into());
        }
        if req.revision > 0 && req.revision < compacted {
            return Err(EtcdError::Compacted.into());
        }
        let upto = if req.revision > 0 {
            req.revision
        } else {
            current
        };
        let hash = core.store.hash_upto(upto);
        drop(core);
        Ok(Response::new(HashKvResponse {
            header: Some(self.0.info.header(current)),
            hash,
            compact_revision: compacted,
            hash_revision: upto,
        }))
    }

    type SnapshotStream = tokio_stream::Iter<std::vec::IntoIter<Result<SnapshotResponse, Status>>>;

    async fn snapshot(
        &self,
        req: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        self.check_admin(req.metadata())?;
        let core = self.0.lock();
        let revision = core.store.revision();
        let bytes = Bytes::from(core.store.snapshot());
        drop(core);
        Ok(Response::new(tokio_stream::iter(snapshot_chunks(
            &self.0, revision, &bytes,
        ))))
    }

    async fn move_leader(
        &self,
        req: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        self.check_admin(req.metadata())?;
        // The only member leads already: moving the lead to it is done at once (raft
        // ignores a transfer to the leader itself); any other ID is no member.
        if req.into_inner().target_id != self.0.info.member_id {
            return Err(EtcdError::BadLeaderTransferee.into());
        }
        let revision = self.0.lock().store.revision();
        Ok(Response::new(MoveLeaderResponse {
            header: Some(self.0.info.header(revision)),
        }))
    }

    async fn downgrade(
        &self,
        req: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        self.check_admin(req.metadata())?;
        let revision = self.0.lock().store.revision();
        let version = downgrade::answer(&req.into_inner())?;
        Ok(Response::new(DowngradeResponse {
            header: Some(self.0.info.header(revision)),
            version,
        }))
    }
}

/// etcd's snapshot chunk size.
const SNAPSHOT_CHUNK: usize = 32 * 1024;

/// The snapshot as etcd streams one: chunks, each saying how many bytes remain after it.
fn snapshot_chunks(
    shared: &Shared,
    revision: i64,
    bytes: &Bytes,
) -> Vec<Result<SnapshotResponse, Status>> {
    let mut out = Vec::with_capacity(bytes.len() / SNAPSHOT_CHUNK + 1);
    let mut sent = 0;
    while sent < bytes.len() {
        let end = (sent + SNAPSHOT_CHUNK).min(bytes.len());
        out.push(Ok(SnapshotResponse {
            header: Some(shared.info.header(revision)),
            remaining_bytes: u64::try_from(bytes.len() - end).unwrap_or(0),
            blob: bytes.slice(sent..end),
            // The storage version, as etcd 3.6 sends it with each chunk.
            version: ETCD_VERSION.to_owned(),
        }));
        sent = end;
    }
    out
}
