//! `etcdserverpb.Lease`: grant, revoke, keepalive stream, time-to-live, list.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::alarm::LEASE_OVERHEAD;
use crate::auth::check::{Caller, token};
use crate::auth::perms::Access;
use crate::core::Shared;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::lease_server::Lease;
use crate::generated::etcdserverpb::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest, LeaseKeepAliveResponse,
    LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest, LeaseRevokeResponse, LeaseStatus,
    LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};

pub(crate) struct LeaseService(pub(crate) Arc<Shared>);

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        req: Request<LeaseGrantRequest>,
    ) -> Result<Response<LeaseGrantResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let mut guard = self.0.lock();
        let core = &mut *guard;
        // Any user may grant a lease, but only a user: etcd 3.6 refuses a grant without a
        // token while auth is on ("user name is empty"), and an unknown token.
        if core.caller(token.as_deref())? == Caller::Anonymous {
            return Err(EtcdError::UserEmpty.into());
        }
        core.check_space(&self.0, LEASE_OVERHEAD)?;
        let (id, ttl) = core.grant(req.id, req.ttl)?;
        let revision = core.store.revision();
        drop(guard);
        self.0.lease_granted.notify_one();
        Ok(Response::new(LeaseGrantResponse {
            header: Some(self.0.info.header(revision)),
            id,
            ttl,
            error: String::new(),
        }))
    }

    async fn lease_revoke(
        &self,
        req: Request<LeaseRevokeRequest>,
    ) -> Result<Response<LeaseRevokeResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let mut core = self.0.lock();
        let caller = core.caller(token.as_deref())?;
        // Revoking deletes the lease's keys: the caller must be allowed to write them all.
        core.auth
            .check_lease_keys(&caller, &core.lessor.keys(req.id))?;
        core.revoke(&self.0, req.id)?;
        let revision = core.store.revision();
        drop(core);
        Ok(Response::new(LeaseRevokeResponse {
            header: Some(self.0.info.header(revision)),
        }))
    }

    type LeaseKeepAliveStream = UnboundedReceiverStream<Result<LeaseKeepAliveResponse, Status>>;

    async fn lease_keep_alive(
        &self,
        req: Request<Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<Self::LeaseKeepAliveStream>, Status> {
        // Like a watch stream, a keepalive stream is checked with the token it was opened
        // with: each renewal needs a user (etcd 3.6 refuses anonymous ones, "user name is
        // empty") and a token still known, which each renewal also keeps alive.
        let token = token(req.metadata());
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::clone(&self.0);
        tokio::spawn(async move {
            let mut shutdown = shared.shutdown.clone();
            loop {
                let msg = tokio::select! {
                    msg = inbound.message() => msg,
                    _ = shutdown.changed() => {
                        let _ = tx.send(Err(super::shutting_down()));
                        break;
                    }
                };
                let Ok(Some(msg)) = msg else { break };
                let mut core = shared.lock();
                let refused = match core.caller(token.as_deref()) {
                    Ok(Caller::Anonymous) => Some(EtcdError::UserEmpty),
                    Ok(_) => None,
                    Err(e) => Some(e),
                };
                if let Some(e) = refused {
                    let _ = tx.send(Err(e.into()));
                    break;
                }
                // An unknown or expired lease gets TTL 0, not an error, as from etcd.
                let ttl = core.lessor.renew(msg.id, Instant::now()).unwrap_or(0);
                let revision = core.store.revision();
                drop(core);
                let resp = LeaseKeepAliveResponse {
                    header: Some(shared.info.header(revision)),
                    id: msg.id,
                    ttl,
                };
                if tx.send(Ok(resp)).is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(UnboundedReceiverStream::new(rx)))
    }

    async fn lease_time_to_live(
        &self,
        req: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let mut core = self.0.lock();
        // Only a request for the keys is checked (read on each key), as in etcd.
        if req.keys {
            let caller = core.caller(token.as_deref())?;
            if caller == Caller::Anonymous {
                return Err(EtcdError::UserEmpty.into());
            }
            for key in core.lessor.keys(req.id) {
                core.auth.check(&caller, Access::Read, &key, &[])?;
            }
        }
        let found = core.lessor.time_to_live(req.id, Instant::now());
        let revision = core.store.revision();
        drop(core);
        // An unknown lease is TTL -1, not an error, as from etcd.
        let (ttl, granted_ttl, keys) = found.unwrap_or((-1, 0, Vec::new()));
        Ok(Response::new(LeaseTimeToLiveResponse {
            header: Some(self.0.info.header(revision)),
            id: req.id,
            ttl,
            granted_ttl,
            keys: if req.keys { keys } else { Vec::new() },
        }))
    }

    async fn lease_leases(
        &self,
        req: Request<LeaseLeasesRequest>,
    ) -> Result<Response<LeaseLeasesResponse>, Status> {
        let token = token(req.metadata());
        let mut core = self.0.lock();
        // Any user may list the leases, but only a user (as etcd 3.6 answers).
        if core.caller(token.as_deref())? == Caller::Anonymous {
            return Err(EtcdError::UserEmpty.into());
        }
        let leases = core
            .lessor
            .ids()
            .into_iter()
            .map(|id| LeaseStatus { id })
            .collect();
        let revision = core.store.revision();
        drop(core);
        Ok(Response::new(LeaseLeasesResponse {
            header: Some(self.0.info.header(revision)),
            leases,
        }))
    }
}
