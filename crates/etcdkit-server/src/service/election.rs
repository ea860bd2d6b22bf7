//! `v3electionpb.Election`: campaign, proclaim, leader, observe, resign, as etcd's server
//! runs its election recipe. A contender is a key `NAME/LEASE_HEX` under its lease
//! holding its value; the oldest key under `NAME/` leads. Proclaim and resign are fenced
//! on the leader key's create revision.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::auth::check::token;
use crate::auth::perms::Access;
use crate::core::Shared;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::ResponseHeader;
use crate::generated::mvccpb::KeyValue;
use crate::generated::mvccpb::event::EventType;
use crate::generated::v3electionpb::election_server::Election;
use crate::generated::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use crate::wait::{self, InternalWatch};

pub(crate) struct ElectionService(pub(crate) Arc<Shared>);

#[tonic::async_trait]
impl Election for ElectionService {
    async fn campaign(
        &self,
        req: Request<CampaignRequest>,
    ) -> Result<Response<CampaignResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let shared = &self.0;
        let prefix = wait::prefix(&req.name);
        let (key, lease, created, revision) = {
            let mut guard = shared.lock();
            let core = &mut *guard;
            let lease = wait::session_lease(shared, core, req.lease)?;
            let key = wait::contender_key(&req.name, lease);
            // etcd's campaign: a txn comparing (read) and putting (write) its key, then
            // reads of the keys under the name.
            let end = wait::prefix_end(&prefix);
            core.check_recipe(
                token.as_deref(),
                &[
                    (Access::Read, &key, &[]),
                    (Access::Write, &key, &[]),
                    (Access::Read, &prefix, &end),
                ],
            )?;
            let (created, revision) = match wait::get(core, &key) {
                // Campaigning again under the same lease resumes the candidacy, and
                // proclaims the new value if it differs. The answer's header is the one
                // from before the proclaim, as etcd's.
                Some(kv) => {
                    core.alarms
                        .check_space(&core.store, 0, shared.info.member_id, 0)?;
                    let revision = core.store.revision();
                    if kv.value != req.value {
                        wait::put(shared, core, &key, &req.value, lease)?;
                    }
                    (kv.create_revision, revision)
                }
                None => {
                    let rev = wait::put(shared, core, &key, &req.value, lease)?;
                    (rev, rev)
                }
            };
            (key, lease, created, revision)
        };
        // Until elected, a campaigner that goes away resigns. The answer's header is the
        // revision of the campaign's own write (etcd's), not the one it was elected at.
        wait::wait_in_line(shared, &prefix, &key, created, EtcdError::NotElectionLeader).await?;
        Ok(Response::new(CampaignResponse {
            header: Some(shared.info.header(revision)),
            leader: Some(LeaderKey {
                name: req.name,
                key,
                rev: created,
                lease,
            }),
        }))
    }

    async fn proclaim(
        &self,
        req: Request<ProclaimRequest>,
    ) -> Result<Response<ProclaimResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let leader = req.leader.ok_or(EtcdError::MissingLeaderKey)?;
        let shared = &self.0;
        let mut guard = shared.lock();
        let core = &mut *guard;
        // A txn comparing (read) and putting (write) the leader key.
        core.check_recipe(
            token.as_deref(),
            &[
                (Access::Read, &leader.key, &[]),
                (Access::Write, &leader.key, &[]),
            ],
        )?;
        let lease = wait::session_lease(shared, core, leader.lease)?;
        // etcd's fence: the key's create revision (0 when it is gone) must be the
        // leadership's.
        let current = wait::get(core, &leader.key).map_or(0, |kv| kv.create_revision);
        if current != leader.rev {
            core.alarms
                .check_space(&core.store, 0, shared.info.member_id, 0)?;
            return Err(EtcdError::NotElectionLeader.into());
        }
        let revision = wait::put(shared, core, &leader.key, &req.value, lease)?;
        drop(guard);
        Ok(Response::new(ProclaimResponse {
            header: Some(shared.info.header(revision)),
        }))
    }

    async fn leader(
        &self,
        req: Request<LeaderRequest>,
    ) -> Result<Response<LeaderResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let mut core = self.0.lock();
        let prefix = wait::prefix(&req.name);
        let end = wait::prefix_end(&prefix);
        core.check_recipe(token.as_deref(), &[(Access::Read, &prefix, &end)])?;
        let kv = wait::oldest(&core, &prefix).ok_or(EtcdError::NoElectionLeader)?;
        let revision = core.store.revision();
        drop(core);
        Ok(Response::new(LeaderResponse {
            header: Some(self.0.info.header(revision)),
            kv: Some(kv),
        }))
    }

    type ObserveStream = ReceiverStream<Result<LeaderResponse, Status>>;

    async fn observe(
        &self,
        req: Request<LeaderRequest>,
    ) -> Result<Response<Self::ObserveStream>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        {
            let prefix = wait::prefix(&req.name);
            let end = wait::prefix_end(&prefix);
            self.0
                .lock()
                .check_recipe(token.as_deref(), &[(Access::Read, &prefix, &end)])?;
        }
        // A small queue: etcd's observer hands leaders over one at a time too, so a slow
        // reader holds the observer back instead of piling up leaders in memory.
        let (tx, rx) = mpsc::channel(16);
        let shared = Arc::clone(&self.0);
        tokio::spawn(async move {
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                () = observe(&shared, wait::prefix(&req.name), &tx) => {}
                () = tx.closed() => {}
                _ = shutdown.wait_for(|stop| *stop) => {
                    let _ = tx.try_send(Err(super::shutting_down()));
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn resign(
        &self,
        req: Request<ResignRequest>,
    ) -> Result<Response<ResignResponse>, Status> {
        let token = token(req.metadata());
        let req = req.into_inner();
        let leader = req.leader.ok_or(EtcdError::MissingLeaderKey)?;
        let shared = &self.0;
        let mut guard = shared.lock();
        let core = &mut *guard;
        // A txn comparing (read) and deleting (write) the leader key.
        core.check_recipe(
            token.as_deref(),
            &[
                (Access::Read, &leader.key, &[]),
                (Access::Write, &leader.key, &[]),
            ],
        )?;
        wait::session_lease(shared, core, leader.lease)?;
        // Not leading (any more) is no error: the fenced delete deletes nothing.
        let revision = wait::delete_if_created(shared, core, &leader.key, leader.rev)?;
        drop(guard);
        Ok(Response::new(ResignResponse {
            header: Some(shared.info.header(revision)),
        }))
    }
}

/// Sends the leader of the election under `prefix`, then each new value it proclaims;
/// when it goes, waits for the next leader and starts over. Ends when the queue closes or
/// a watch ends.
async fn observe(
    shared: &Arc<Shared>,
    prefix: Bytes,
    tx: &mpsc::Sender<Result<LeaderResponse, Status>>,
) {
    loop {
        // The leader now, or a watch for the first key put under the prefix.
        let (leader, waiting) = {
            let mut core = shared.lock();
            match wait::oldest(&core, &prefix) {
                Some(kv) => {
                    let revision = core.store.revision();
                    (Some((kv, revision)), None)
                }
                None => {
                    let start = core.store.revision() + 1;
                    let end = wait::prefix_end(&prefix);
                    let w =
                        InternalWatch::open(shared, &mut core, prefix.clone(), end, start, false);
                    (None, Some(w))
                }
            }
        };
        let (kv, revision) = match (leader, waiting) {
            (Some(found), _) => found,
            (None, Some(mut w)) => match first_put(&mut w).await {
                Some(kv) => {
                    // Several puts may share the response: the header is the leader's.
                    let revision = kv.mod_revision;
                    (kv, revision)
                }
                None => return,
            },
            (None, None) => return,
        };
        if !send(shared, tx, revision, kv.clone()).await {
            return;
        }
        // The leader's changes from the next revision on, until its key is deleted.
        let mut w = {
            let mut core = shared.lock();
            InternalWatch::open(
                shared,
                &mut core,
                kv.key.clone(),
                Bytes::new(),
                revision + 1,
                false,
            )
        };
        'leader: loop {
            let Some(resp) = w.next().await else { return };
            let header_rev = resp.header.as_ref().map_or(0, |h| h.revision);
            for event in resp.events {
                if event.r#type == EventType::Delete as i32 {
                    break 'leader;
                }
                let Some(kv) = event.kv else { continue };
                if !send(shared, tx, header_rev, kv).await {
                    return;
                }
            }
        }
    }
}

/// The first key-value put that `w` reports.
async fn first_put(w: &mut InternalWatch) -> Option<KeyValue> {
    loop {
        let resp = w.next().await?;
        if let Some(kv) = resp
            .events
            .into_iter()
            .find(|e| e.r#type == EventType::Put as i32)
            .and_then(|e| e.kv)
        {
            return Some(kv);
        }
    }
}

async fn send(
    shared: &Shared,
    tx: &mpsc::Sender<Result<LeaderResponse, Status>>,
    revision: i64,
    kv: KeyValue,
) -> bool {
    let header: ResponseHeader = shared.info.header(revision);
    tx.send(Ok(LeaderResponse {
        header: Some(header),
        kv: Some(kv),
    }))
    .await
    .is_ok()
}
