//! `etcdserverpb.Cluster`: one voting member, this server, and the learners added to it.
//! Updating peer URLs works and shows in the member list; removing or promoting this
//! member gets etcd's answers for a lone voting member. A learner add is answered as a
//! single etcd 3.6 member answers it (checked against 3.6.16): the learner is listed,
//! unstarted, can have its peer URLs updated and be removed, and is never in sync, so a
//! promote gets etcd's "not in sync" refusal; etcd's checks come in etcd's order (a member
//! with that ID, a peer URL in use, more than one learner). A voting member add is refused
//! as unimplemented: etcd accepts it and then has lost its quorum until the new member
//! starts (3.6.16 stops answering even the member list), which this server, having no raft,
//! could never end.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use crate::auth::check::token;
use crate::core::{Learner, Shared};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::cluster_server::Cluster;
use crate::generated::etcdserverpb::{
    Member, MemberAddRequest, MemberAddResponse, MemberListRequest, MemberListResponse,
    MemberPromoteRequest, MemberPromoteResponse, MemberRemoveRequest, MemberRemoveResponse,
    MemberUpdateRequest, MemberUpdateResponse, ResponseHeader,
};

/// The refusal of a member add.
const NO_MEMBER_ADD: &str = "etcdkit-server: adding voting members is not supported: this is a \
    single in-process member without raft (learners can be added); run real etcd \
    (etcdkit-testkit) for membership changes";

/// etcd's default `--max-learners`.
const MAX_LEARNERS: usize = 1;

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
        let mut members = vec![me];
        members.extend(core.learners.iter().map(as_member));
        (self.0.info.header(0), members)
    }

    /// Membership changes are for root alone once auth is on (etcd's
    /// `checkMembershipOperationPermission`); the member list is for any user.
    fn check_admin(&self, meta: &tonic::metadata::MetadataMap) -> Result<(), EtcdError> {
        let token = token(meta);
        let mut core = self.0.lock();
        let caller = core.caller(token.as_deref())?;
        core.auth.check_admin(&caller)
    }

    /// Which member `id` is: this one (`None`) or a learner (its index).
    fn find_member(&self, id: u64) -> Result<Option<usize>, EtcdError> {
        if id == self.0.info.member_id {
            return Ok(None);
        }
        let core = self.0.lock();
        match core.learners.iter().position(|l| l.id == id) {
            Some(i) => Ok(Some(i)),
            None => Err(EtcdError::MemberNotFound),
        }
    }

    /// Adds a learner with `peer_urls`, as etcd's configuration checks allow it.
    fn add_learner(&self, peer_urls: Vec<String>) -> Result<Learner, EtcdError> {
        let mut sorted = peer_urls.clone();
        sorted.sort();
        let mut parts: Vec<&str> = sorted.iter().map(String::as_str).collect();
        let cluster = self.0.info.cluster_id.to_string();
        parts.push(&cluster);
        // Like etcd's, the ID depends on the peer URLs (and the cluster): adding the same
        // URLs again meets "member ID already exist" first, as there.
        let learner = Learner {
            id: crate::server::stable_id(&parts),
            peer_urls,
        };
        let mut core = self.0.lock();
        if learner.id == self.0.info.member_id || core.learners.iter().any(|l| l.id == learner.id) {
            return Err(EtcdError::MemberExist);
        }
        let in_use = |url: &String| {
            core.peer_urls.contains(url) || core.learners.iter().any(|l| l.peer_urls.contains(url))
        };
        if learner.peer_urls.iter().any(in_use) {
            return Err(EtcdError::PeerUrlExist);
        }
        if core.learners.len() >= MAX_LEARNERS {
            return Err(EtcdError::TooManyLearners);
        }
        let mut learners = core.learners.clone();
        learners.push(learner.clone());
        core.persist(|step| step.learners(&learners))?;
        core.learners = learners;
        Ok(learner)
    }

    /// Replaces the learners with what `change` makes of them, stored first.
    fn change_learners(&self, change: impl FnOnce(&mut Vec<Learner>)) -> Result<(), EtcdError> {
        let mut core = self.0.lock();
        let mut learners = core.learners.clone();
        change(&mut learners);
        core.persist(|step| step.learners(&learners))?;
        core.learners = learners;
        Ok(())
    }
}

fn as_member(learner: &Learner) -> Member {
    Member {
        id: learner.id,
        // An unstarted member has no name and no client URLs yet, as in etcd's list.
        name: String::new(),
        peer_ur_ls: learner.peer_urls.clone(),
        client_ur_ls: Vec::new(),
        is_learner: true,
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
        let req = req.into_inner();
        if req.peer_ur_ls.is_empty() || !req.peer_ur_ls.iter().all(|u| valid_url(u)) {
            return Err(EtcdError::MemberBadUrls.into());
        }
        if !req.is_learner {
            return Err(Status::unimplemented(NO_MEMBER_ADD));
        }
        let learner = self.add_learner(req.peer_ur_ls)?;
        let (header, members) = self.members();
        Ok(Response::new(MemberAddResponse {
            header: Some(header),
            member: Some(as_member(&learner)),
            members,
        }))
    }

    async fn member_remove(
        &self,
        req: Request<MemberRemoveRequest>,
    ) -> Result<Response<MemberRemoveResponse>, Status> {
        self.check_admin(req.metadata())?;
        let id = req.into_inner().id;
        if self.find_member(id)?.is_none() {
            // Removing the only voting member would leave none started: etcd's strict
            // reconfiguration check refuses it.
            return Err(EtcdError::NotEnoughStartedMembers.into());
        }
        self.change_learners(|learners| learners.retain(|l| l.id != id))?;
        let (header, members) = self.members();
        Ok(Response::new(MemberRemoveResponse {
            header: Some(header),
            members,
        }))
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
        match self.find_member(req.id)? {
            None => {
                let mut core = self.0.lock();
                core.persist(|step| step.peer_urls(&req.peer_ur_ls))?;
                core.peer_urls = req.peer_ur_ls;
            }
            Some(_) => self.change_learners(|learners| {
                for learner in learners.iter_mut().filter(|l| l.id == req.id) {
                    learner.peer_urls.clone_from(&req.peer_ur_ls);
                }
            })?,
        }
        let (header, members) = self.members();
        Ok(Response::new(MemberUpdateResponse {
            header: Some(header),
            members,
        }))
    }

    async fn member_list(
        &self,
        req: Request<MemberListRequest>,
    ) -> Result<Response<MemberListResponse>, Status> {
        // Any user, not nobody, once auth is on (checked against etcd 3.6.16).
        let token = token(req.metadata());
        self.0.lock().user(token.as_deref())?;
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
        match self.find_member(req.into_inner().id)? {
            None => Err(EtcdError::MemberNotLearner.into()),
            Some(_) => Err(EtcdError::LearnerNotReady.into()),
        }
    }
}
