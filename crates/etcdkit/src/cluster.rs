//! Cluster membership.

use crate::client::Client;
use crate::error::Result;
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::{MemberId, ResponseHeader};

/// The cluster membership API of a [`Client`].
#[derive(Clone, Debug)]
pub struct Cluster {
    pub(crate) client: Client,
}

/// A cluster member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    id: MemberId,
    name: String,
    peer_urls: Vec<String>,
    client_urls: Vec<String>,
    is_learner: bool,
}

impl Member {
    fn from_pb(m: pb::Member) -> Self {
        Member {
            id: MemberId(m.id),
            name: m.name,
            peer_urls: m.peer_ur_ls,
            client_urls: m.client_ur_ls,
            is_learner: m.is_learner,
        }
    }

    /// The member's id.
    pub fn id(&self) -> MemberId {
        self.id
    }

    /// The member's name (empty until it has started).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URLs other members reach it at.
    pub fn peer_urls(&self) -> &[String] {
        &self.peer_urls
    }

    /// The URLs clients reach it at (empty until it has started).
    pub fn client_urls(&self) -> &[String] {
        &self.client_urls
    }

    /// Whether it is a learner (a non-voting member).
    pub fn is_learner(&self) -> bool {
        self.is_learner
    }
}

/// The result of a member list.
#[derive(Debug, Clone)]
pub struct MemberListResponse {
    header: ResponseHeader,
    members: Vec<Member>,
}

impl MemberListResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

impl Cluster {
    /// Lists the members, as the answering member knows them.
    pub async fn member_list(&self) -> Result<MemberListResponse> {
        self.list(false).await
    }

    /// Lists the members through the leader (linearizable).
    pub async fn member_list_linearizable(&self) -> Result<MemberListResponse> {
        self.list(true).await
    }

    async fn list(&self, linearizable: bool) -> Result<MemberListResponse> {
        let call = Call::safe("cluster.member_list", None);
        let r = self
            .client
            .transport()
            .member_list(call, pb::MemberListRequest { linearizable })
            .await?;
        Ok(MemberListResponse {
            header: r.header.into(),
            members: r.members.into_iter().map(Member::from_pb).collect(),
        })
    }
}
