//! `etcdserverpb.KV`: range, put, delete range, txn, compact.

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Response, Status};

use super::fill;
use crate::alarm::{put_cost, txn_cost};
use crate::auth::check::{Caller, token};
use crate::auth::perms::Access;
use crate::core::{Core, Shared};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::kv_server::Kv;
use crate::generated::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::store::{check_put as check_put_shape, txn_writes, validate_txn};

pub(crate) struct KvService(pub(crate) Arc<Shared>);

/// Refuses a write larger than the limit, measured as etcd measures it: the request as it
/// is proposed to raft, inside an `InternalRaftRequest` whose header holds a request ID.
/// etcd's request IDs carry the member ID's low 16 bits on top, so their varint takes 10
/// bytes when bit 15 of the member ID is set and 9 otherwise; the header adds 4 bytes of
/// tags and length, the request its tag (1 byte) and its length prefix.
fn check_size(shared: &Shared, len: usize) -> Result<(), EtcdError> {
    let id_len = if shared.info.member_id & 0x8000 != 0 {
        10
    } else {
        9
    };
    let proposed = 4 + id_len + 1 + prost::length_delimiter_len(len) + len;
    if proposed > shared.limits.max_request_bytes {
        return Err(EtcdError::RequestTooLarge);
    }
    Ok(())
}

/// A put's auth checks, in etcd's order: write on the key; write on every key already
/// on the lease it names (a user who could not revoke the lease may not add to it); read
/// on the key for `prev_kv`.
fn check_put(core: &Core, caller: &Caller, req: &PutRequest) -> Result<(), EtcdError> {
    core.auth.check(caller, Access::Write, &req.key, &[])?;
    if req.lease != 0 {
        core.auth
            .check_lease_keys(caller, &core.lessor.keys(req.lease))?;
    }
    if req.prev_kv {
        core.auth.check(caller, Access::Read, &req.key, &[])?;
    }
    Ok(())
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(&self, req: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        // etcd checks the request itself before anything else, auth included.
        if req.key.is_empty() {
            return Err(EtcdError::EmptyKey.into());
        }
        let mut core = self.0.lock();
        let caller = core.caller(token.as_deref())?;
        core.auth
            .check(&caller, Access::Read, &req.key, &req.range_end)?;
        let mut resp = core.store.range(&req)?;
        drop(core);
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn put(&self, req: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        check_put_shape(&req)?;
        let caller = self.0.lock().caller(token.as_deref())?;
        check_size(&self.0, req.encoded_len())?;
        let mut guard = self.0.lock();
        let core = &mut *guard;
        check_put(core, &caller, &req)?;
        core.check_space(&self.0, put_cost(&req.key, &req.value))?;
        let lessor = &core.lessor;
        let (mut resp, committed) = core.store.put(&req, |id| lessor.exists(id))?;
        core.committed(&self.0, &committed)?;
        drop(guard);
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn delete_range(
        &self,
        req: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        if req.key.is_empty() {
            return Err(EtcdError::EmptyKey.into());
        }
        let caller = self.0.lock().caller(token.as_deref())?;
        check_size(&self.0, req.encoded_len())?;
        let mut core = self.0.lock();
        core.auth
            .check(&caller, Access::Write, &req.key, &req.range_end)?;
        if req.prev_kv {
            core.auth
                .check(&caller, Access::Read, &req.key, &req.range_end)?;
        }
        let (mut resp, committed) = core.store.delete_range(&req)?;
        core.committed(&self.0, &committed)?;
        drop(core);
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn txn(&self, req: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        // etcd checks the txn's shape before anything else, auth included.
        validate_txn(&req, self.0.limits.max_txn_ops)?;
        let caller = self.0.lock().caller(token.as_deref())?;
        // A read-only txn is not proposed to raft in etcd, so it has no size limit there.
        if txn_writes(&req) {
            check_size(&self.0, req.encoded_len())?;
        }
        let mut guard = self.0.lock();
        let core = &mut *guard;
        core.auth.check_txn(&caller, &req)?;
        // Only a txn with a put takes space: one that only reads or deletes passes even
        // under NOSPACE, as in etcd.
        let cost = txn_cost(&req);
        if cost > 0 {
            core.check_space(&self.0, cost)?;
        }
        let lessor = &core.lessor;
        let (mut resp, committed) = core
            .store
            .txn(&req, self.0.limits.max_txn_ops, |id| lessor.exists(id))?;
        core.committed(&self.0, &committed)?;
        drop(guard);
        fill(&self.0.info, &mut resp.header);
        Ok(Response::new(resp))
    }

    async fn compact(
        &self,
        req: Request<CompactionRequest>,
    ) -> Result<Response<CompactionResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let mut core = self.0.lock();
        // Compaction is for root alone once auth is on (checked against etcd 3.6).
        let caller = core.caller(token.as_deref())?;
        core.auth.check_admin(&caller)?;
        core.compact(req.revision)?;
        let revision = core.store.revision();
        drop(core);
        Ok(Response::new(CompactionResponse {
            header: Some(self.0.info.header(revision)),
        }))
    }
}
