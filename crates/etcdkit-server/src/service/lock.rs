//! `v3lockpb.Lock`: lock and unlock, as etcd's server runs its mutex recipe. A lock is a
//! key `NAME/LEASE_HEX` under the caller's lease; the oldest key under `NAME/` holds the
//! lock; a lock call waits (watching deletions, see [`crate::wait`]) until its key is the
//! oldest.

use std::sync::Arc;

use bytes::Bytes;
use tonic::{Request, Response, Status};

use crate::auth::check::token;
use crate::auth::perms::Access;
use crate::core::Shared;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::DeleteRangeRequest;
use crate::generated::v3lockpb::lock_server::Lock;
use crate::generated::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};
use crate::wait;

pub(crate) struct LockService(pub(crate) Arc<Shared>);

#[tonic::async_trait]
impl Lock for LockService {
    async fn lock(&self, req: Request<LockRequest>) -> Result<Response<LockResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let shared = &self.0;
        let prefix = wait::prefix(&req.name);
        let (key, created) = {
            let mut guard = shared.lock();
            let core = &mut *guard;
            let lease = wait::session_lease(shared, core, req.lease)?;
            let key = wait::contender_key(&req.name, lease);
            // etcd's mutex: a txn comparing (read) and putting (write) its key, reading
            // the oldest key under the name.
            let end = wait::prefix_end(&prefix);
            core.check_recipe(
                token.as_deref(),
                &[
                    (Access::Read, &key, &[]),
                    (Access::Write, &key, &[]),
                    (Access::Read, &prefix, &end),
                ],
            )?;
            // The same lease locking the same name again finds its key and keeps it, as
            // etcd's mutex does (its txn puts the key only if it does not exist).
            let created = match wait::get(core, &key) {
                Some(kv) => {
                    core.alarms
                        .check_space(&core.store, 0, shared.info.member_id, 0)?;
                    kv.create_revision
                }
                None => wait::put(shared, core, &key, &Bytes::new(), lease)?,
            };
            (key, created)
        };
        // From here until the lock is held, a caller that goes away takes its key with it.
        let revision =
            wait::wait_in_line(shared, &prefix, &key, created, EtcdError::SessionExpired).await?;
        Ok(Response::new(LockResponse {
            header: Some(shared.info.header(revision)),
            key,
        }))
    }

    async fn unlock(
        &self,
        req: Request<UnlockRequest>,
    ) -> Result<Response<UnlockResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        // A plain delete of the key, whoever holds it (etcd's unlock).
        let del = DeleteRangeRequest {
            key: req.key,
            ..DeleteRangeRequest::default()
        };
        let mut core = self.0.lock();
        core.check_recipe(token.as_deref(), &[(Access::Write, &del.key, &[])])?;
        let (_, committed) = core.store.delete_range(&del)?;
        core.committed(&self.0, &committed)?;
        let revision = core.store.revision();
        drop(core);
        Ok(Response::new(UnlockResponse {
            header: Some(self.0.info.header(revision)),
        }))
    }
}
