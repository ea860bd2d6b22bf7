//! `etcdserverpb.KV`: range, put, delete range, txn, compact.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};

use super::fill;
use crate::alarm::{put_cost, txn_cost};
use crate::core::Shared;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::kv_server::Kv;
use crate::generated::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::store::txn_writes;

pub(crate) struct KvService(pub(crate) Arc<Shared>);

/// Refuses a write larger than the limit. etcd measures the write as it proposes it to
/// raft: the request wrapped with a request ID, a few bytes more than the request itself;
/// `RAFT_WRAPPING` stands for those bytes.
fn check_size(shared: &Shared, len: usize) -> Result<(), EtcdError> {
    const RAFT_WRAPPING: usize = 17;
    if len + RAFT_WRAPPING > shared.limits.max_request_bytes {
        return Err(EtcdError::RequestTooLarge);
    }
    Ok(())
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let req = req.into_inner();
        let mut resp = self.0.lock().store.range(&req)?;
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let req = req.into_inner();
        check_size(&self.0, req.encoded_len())?;
        let mut guard = self.0.lock();
        let core = &mut *guard;
        core.alarms.check_space(
            &core.store,
            self.0.limits.quota_backend_bytes,
            self.0.info.member_id,
            put_cost(&req.key, &req.value),
        )?;
        let lessor = &core.lessor;
        let (mut resp, committed) = core.store.put(&req, |id| lessor.exists(id))?;
        core.committed(&self.0, &committed);
        drop(guard);
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn delete_range(
        &self,
        req: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let req = req.into_inner();
        check_size(&self.0, req.encoded_len())?;
        let mut core = self.0.lock();
        let (mut resp, committed) = core.store.delete_range(&req)?;
        core.committed(&self.0, &committed);
        drop(core);
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let req = req.into_inner();
        // A read-only txn is not proposed to raft in etcd, so it has no size limit there.
        if txn_writes(&req) {
            check_size(&self.0, req.encoded_len())?;
        }
        let mut guard = self.0.lock();
        let core = &mut *guard;
        if txn_writes(&req) {
            core.alarms.check_space(
                &core.store,
                self.0.limits.quota_backend_bytes,
                self.0.info.member_id,
                txn_cost(&req),
            )?;
        }
        let lessor = &core.lessor;
        let (mut resp, committed) = core
            .store
            .txn(&req, self.0.limits.max_txn_ops, |id| lessor.exists(id))?;
        core.committed(&self.0, &committed);
        drop(guard);
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        req: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let req = req.into_inner();
        let mut core = self.0.lock();
        core.store.compact(req.revision)?;
        let revision = core.store.revision();
        drop(core);
        Ok(Response::new(CompactionResponse {
            header: Some(self.0.info.header(revision)),
        }))
    }
}
