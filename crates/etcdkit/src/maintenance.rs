//! Maintenance: member status and the other administrative calls.

use crate::client::Client;
use crate::error::Result;
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::{MemberId, ResponseHeader};

/// The maintenance API of a [`Client`].
#[derive(Clone, Debug)]
pub struct Maintenance {
    pub(crate) client: Client,
}

/// A member's status.
#[derive(Debug, Clone)]
pub struct StatusResponse {
    header: ResponseHeader,
    inner: pb::StatusResponse,
}

impl StatusResponse {
    /// The response header; its member id is the member that answered.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The etcd version the member runs.
    pub fn version(&self) -> &str {
        &self.inner.version
    }

    /// The backend database size in bytes.
    pub fn db_size(&self) -> i64 {
        self.inner.db_size
    }

    /// The bytes of the backend database in use (the rest is free for reuse).
    pub fn db_size_in_use(&self) -> i64 {
        self.inner.db_size_in_use
    }

    /// The member the answering member takes for leader.
    pub fn leader(&self) -> MemberId {
        MemberId(self.inner.leader)
    }

    /// The raft index.
    pub fn raft_index(&self) -> u64 {
        self.inner.raft_index
    }

    /// The raft term.
    pub fn raft_term(&self) -> u64 {
        self.inner.raft_term
    }

    /// The raft applied index.
    pub fn raft_applied_index(&self) -> u64 {
        self.inner.raft_applied_index
    }

    /// Errors the member reports (alarms).
    pub fn errors(&self) -> &[String] {
        &self.inner.errors
    }

    /// Whether the member is a learner.
    pub fn is_learner(&self) -> bool {
        self.inner.is_learner
    }
}

impl Maintenance {
    /// The status of a member (whichever the client picks; use a client of one endpoint
    /// to ask a particular member).
    pub async fn status(&self) -> Result<StatusResponse> {
        let call = Call::safe("maintenance.status", None);
        let inner = self
            .client
            .transport()
            .status(call, pb::StatusRequest {})
            .await?;
        Ok(StatusResponse {
            header: inner.header.into(),
            inner,
        })
    }
}
