//! `etcdserverpb.Maintenance`: status only, for now (the client probes it when it
//! connects). The rest is refused as unimplemented; see the crate's docs.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::not_yet;
use crate::core::Shared;
use crate::generated::etcdserverpb::maintenance_server::Maintenance;
use crate::generated::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, DowngradeRequest,
    DowngradeResponse, HashKvRequest, HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest,
    MoveLeaderResponse, SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};

/// The etcd version whose API this server answers as.
pub(crate) const ETCD_VERSION: &str = "3.6.0";

pub(crate) struct MaintenanceService(pub(crate) Arc<Shared>);

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(&self, _: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        Err(not_yet("Maintenance.Alarm"))
    }

    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        let core = self.0.lock();
        let revision = core.store.revision();
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
            ..StatusResponse::default()
        }))
    }

    async fn defragment(
        &self,
        _: Request<DefragmentRequest>,
    ) -> Result<Response<DefragmentResponse>, Status> {
        Err(not_yet("Maintenance.Defragment"))
    }

    async fn hash(&self, _: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        Err(not_yet("Maintenance.Hash"))
    }

    async fn hash_kv(&self, _: Request<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        Err(not_yet("Maintenance.HashKV"))
    }

    type SnapshotStream = tokio_stream::Empty<Result<SnapshotResponse, Status>>;

    async fn snapshot(
        &self,
        _: Request<SnapshotRequest>,
    ) -> Result<Response<Self::SnapshotStream>, Status> {
        Err(not_yet("Maintenance.Snapshot"))
    }

    async fn move_leader(
        &self,
        _: Request<MoveLeaderRequest>,
    ) -> Result<Response<MoveLeaderResponse>, Status> {
        Err(not_yet("Maintenance.MoveLeader"))
    }

    async fn downgrade(
        &self,
        _: Request<DowngradeRequest>,
    ) -> Result<Response<DowngradeResponse>, Status> {
        Err(not_yet("Maintenance.Downgrade"))
    }
}
