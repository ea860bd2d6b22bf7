//! `etcdserverpb.Cluster`: one member, this server. Updating its own peer URLs works and
//! shows in the member list; removing or promoting it gets etcd's answers for a lone
//! voting member; adding a member is refused as unimplemented (etcd would accept it and
//! wait for a second member to start, which this server can never talk to: see the
//! crate's docs).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::auth::check::token;
use crate::core::Shared;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::cluster_server::Cluster;
use crate::generated::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse, ResponseHeader,
};

/// The refusal of a member add.
const NO_MEMBER_ADD: &str = "etcdkit-server: adding members is not supported: this is a single \
    in-process member without raft; run real etcd (etcdkit-testkit) for membership changes";

pub(crate) struct ClusterService(pub(crate) Arc<Shared>);

impl ClusterService {
    /// The header and the member list as they are now. etcd's cluster answers carry no
    /// revision in their header.
    fn members(&self) -> (ResponseHeader, Vec<Member>) {
        let core = self.0.lock();
        let me = Member {
            id: self.0.info.member_id,
            name: self.0.name.clone(),
            // None until an update gives some: this member talks to no peer.
            peer_ur_ls: core.peer_urls.clone(),
            client_ur_ls: vec![self.0.client_url.clone()],
            is_learner: false,
        };
        (self.0.info.header(0), vec![me])
    }

    /// Membership changes are for root alone once auth is on (etcd's
    /// `checkMembershipOperationPermission`); the member list is for anyone.
    fn check_admin(&self, meta: &tonic::metadata::MetadataMap) -> Result<(), EtcdError> {
        let token = token(meta);
        let mut core = self.0.lock();
        let caller = core.caller(token.as_deref())?;
        core.auth.check_admin(&caller)
    }

    fn check_member(&self, id: u64) -> Result<(), EtcdError> {
        if id == self.0.info.member_id {
            Ok(())
        } else {
            Err(EtcdError::MemberNotFound)
        }
    }
}

/// A URL etcd would accept for a peer: a scheme it serves and a host.
fn valid_url(url: &str) -> bool {
    ["http://", "https://", "unix://", "unixs://"]
        .iter()
        .any(|scheme| {
            url.strip_prefix(scheme)
                .is_some_and(|rest| !rest.is_empty())
        })
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        req: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        self.check_admin(req.metadata())?;
        Err(Status::unimplemented(NO_MEMBER_ADD))
    }

    async fn member_remove(
        &self,
        req: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.check_admin(req.metadata())?;
        self.check_member(req.into_inner().id)?;
        // Removing the only voting member would leave none started: etcd's strict
        // reconfiguration check refuses it.
        Err(EtcdError::NotEnoughStartedMembers.into())
    }

    async fn member_update(
        &self,
        req: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        self.check_admin(req.metadata())?;
        let req = req.into_inner();
        if !req.peer_ur_ls.iter().all(|u| valid_url(u)) {
            return Err(EtcdError::MemberBadUrls.into());
        }
        self.check_member(req.id)?;
        {
            let mut core = self.0.lock();
            core.persist(|step| step.peer_urls(&req.peer_ur_ls))?;
            core.peer_urls = req.peer_ur_ls;
        }
        let (header, members) = self.members();
        Ok(Response::new(MemberUpdateResponse {
            header: Some(header),
            members,
        }))
    }

    async fn member_list(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        let (header, members) = self.members();
        Ok(Response::new(MemberListResponse {
            header: Some(header),
            members,
        }))
    }

    async fn member_promote(
        &self,
        req: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        self.check_admin(req.metadata())?;
        self.check_member(req.into_inner().id)?;
        Err(EtcdError::MemberNotLearner.into())
    }
}
