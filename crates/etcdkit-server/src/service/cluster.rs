//! `etcdserverpb.Cluster`: the member list (one member: this server). Membership changes
//! are refused as unimplemented for now; see the crate's docs.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::not_yet;
use crate::core::Shared;
use crate::generated::etcdserverpb::cluster_server::Cluster;
use crate::generated::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse,
};

pub(crate) struct ClusterService(pub(crate) Arc<Shared>);

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_add(
        &self,
        _: Request<MemberAddRequest>,
    ) -> Result<Response<MemberAddResponse>, Status> {
        Err(not_yet("Cluster.MemberAdd"))
    }

    async fn member_remove(
        &self,
        _: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        Err(not_yet("Cluster.MemberRemove"))
    }

    async fn member_update(
        &self,
        _: Request<MemberUpdateRequest>,
    ) -> Result<Response<MemberUpdateResponse>, Status> {
        Err(not_yet("Cluster.MemberUpdate"))
    }

    async fn member_list(
        &self,
        _: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        // No peers: this member talks to no other, so it advertises no peer URL.
        let me = Member {
            id: self.0.info.member_id,
            name: self.0.name.clone(),
            peer_ur_ls: Vec::new(),
            client_ur_ls: vec![self.0.client_url.clone()],
            is_learner: false,
        };
        Ok(Response::new(MemberListResponse {
            // etcd's member list carries no revision in its header.
            header: Some(self.0.info.header(0)),
            members: vec![me],
        }))
    }

    async fn member_promote(
        &self,
        _: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(not_yet("Cluster.MemberPromote"))
    }
}
