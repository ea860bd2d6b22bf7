//! Cluster membership: list, add (as a voting member or a learner), remove, update and
//! promote members.
//!
//! Every call returns an [`AdminRequest`]: await it, after
//! [`timeout`](AdminRequest::timeout) to override the client's request timeout.
//!
//! Listing is safe to repeat and retried like a read; the changes are writes, retried only
//! when they certainly never reached a server (otherwise the error says the outcome is
//! unknown).

use std::time::Duration;

use crate::client::Client;
use crate::generated::etcdserverpb as pb;
pub use crate::maintenance::AdminRequest;
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

fn members(list: Vec<pb::Member>) -> Vec<Member> {
    list.into_iter().map(Member::from_pb).collect()
}

/// The result of a member list, and of every membership change: the members afterwards.
#[derive(Debug, Clone)]
pub struct MemberListResponse {
    header: ResponseHeader,
    members: Vec<Member>,
}

impl MemberListResponse {
    fn from_pb(header: Option<pb::ResponseHeader>, list: Vec<pb::Member>) -> Self {
        MemberListResponse {
            header: header.into(),
            members: members(list),
        }
    }

    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The member with this id, if listed.
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
}

/// The result of adding a member.
#[derive(Debug, Clone)]
pub struct MemberAddResponse {
    header: ResponseHeader,
    member: Option<Member>,
    members: Vec<Member>,
}

impl MemberAddResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The member added (with its new id; no name or client URLs until it starts).
    /// `None` only if the server left it out of its answer.
    pub fn member(&self) -> Option<&Member> {
        self.member.as_ref()
    }

    /// Every member, the new one included.
    pub fn members(&self) -> &[Member] {
        &self.members
    }
}

/// A member addition; await it. From [`Cluster::member_add`].
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct MemberAdd {
    client: Client,
    peer_urls: Vec<String>,
    learner: bool,
    timeout: Option<Duration>,
}

impl MemberAdd {
    /// Adds the member as a learner: it receives the log but does not vote until
    /// [promoted](Cluster::member_promote).
    pub fn learner(mut self) -> Self {
        self.learner = true;
        self
    }

    timeout_method!();
}

request_future! {
    /// Sends the member addition.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument),
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) for peer URLs that are
    /// malformed or already in use; the failures of [every
    /// request](crate::Error#failures-of-every-request).
    impl for MemberAdd => MemberAddResponse, |this| {
        let call = Call::not_idempotent("cluster.member_add", this.timeout);
        let request = pb::MemberAddRequest {
            peer_ur_ls: this.peer_urls,
            is_learner: this.learner,
        };
        let r = this.client.transport().member_add(call, request).await?;
        Ok(MemberAddResponse {
            header: r.header.into(),
            member: r.member.map(Member::from_pb),
            members: members(r.members),
        })
    }
}

impl Cluster {
    /// Lists the members, as the answering member knows them.
    pub fn member_list(&self) -> AdminRequest<MemberListResponse> {
        self.list(false)
    }

    /// Lists the members through the leader (linearizable): the list reflects every
    /// change committed before the call.
    pub fn member_list_linearizable(&self) -> AdminRequest<MemberListResponse> {
        self.list(true)
    }

    fn list(&self, linearizable: bool) -> AdminRequest<MemberListResponse> {
        let client = self.client.clone();
        AdminRequest::new("cluster.member_list", move |settings| async move {
            let call = settings.idempotent("cluster.member_list");
            let r = client
                .transport()
                .member_list(call, pb::MemberListRequest { linearizable })
                .await?;
            Ok(MemberListResponse::from_pb(r.header, r.members))
        })
    }

    /// Adds a member that other members reach at `peer_urls`; start its process
    /// afterwards, with `--initial-cluster-state existing`. Add
    /// [`learner()`](MemberAdd::learner) to add it as a learner.
    pub fn member_add<I, S>(&self, peer_urls: I) -> MemberAdd
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        MemberAdd {
            client: self.client.clone(),
            peer_urls: peer_urls.into_iter().map(Into::into).collect(),
            learner: false,
            timeout: None,
        }
    }

    /// Removes a member. An unknown id fails with
    /// [`ErrorKind::NotFound`](crate::ErrorKind::NotFound).
    pub fn member_remove(&self, id: MemberId) -> AdminRequest<MemberListResponse> {
        self.change(Change::Remove(id))
    }

    /// Replaces a member's peer URLs.
    pub fn member_update<I, S>(
        &self,
        id: MemberId,
        peer_urls: I,
    ) -> AdminRequest<MemberListResponse>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let peer_urls = peer_urls.into_iter().map(Into::into).collect();
        self.change(Change::Update(id, peer_urls))
    }

    /// Promotes a learner to a voting member. etcd refuses while the learner has not
    /// caught up with the leader's log (an error of kind
    /// [`ErrorKind::Server`](crate::ErrorKind::Server) saying so); try again later.
    pub fn member_promote(&self, id: MemberId) -> AdminRequest<MemberListResponse> {
        self.change(Change::Promote(id))
    }

    /// Sends a change of an existing member. Each is a write, sent again elsewhere only
    /// when it certainly never reached a server, and each is answered with the new list.
    fn change(&self, change: Change) -> AdminRequest<MemberListResponse> {
        let client = self.client.clone();
        let op = change.op();
        AdminRequest::new(op, move |settings| async move {
            let call = settings.not_idempotent(op);
            let transport = client.transport();
            let (header, members) = match change {
                Change::Remove(id) => {
                    let request = pb::MemberRemoveRequest { id: id.0 };
                    let r = transport.member_remove(call, request).await?;
                    (r.header, r.members)
                }
                Change::Update(id, peer_ur_ls) => {
                    let request = pb::MemberUpdateRequest {
                        id: id.0,
                        peer_ur_ls,
                    };
                    let r = transport.member_update(call, request).await?;
                    (r.header, r.members)
                }
                Change::Promote(id) => {
                    let request = pb::MemberPromoteRequest { id: id.0 };
                    let r = transport.member_promote(call, request).await?;
                    (r.header, r.members)
                }
            };
            Ok(MemberListResponse::from_pb(header, members))
        })
    }
}

/// A change of an existing member ([`Cluster::change`]).
#[derive(Debug)]
enum Change {
    Remove(MemberId),
    /// The member's new peer URLs.
    Update(MemberId, Vec<String>),
    Promote(MemberId),
}

impl Change {
    /// The operation's name, in errors and metrics.
    fn op(&self) -> &'static str {
        match self {
            Change::Remove(_) => "cluster.member_remove",
            Change::Update(..) => "cluster.member_update",
            Change::Promote(_) => "cluster.member_promote",
        }
    }
}
