//! Compaction of the store's history.

use std::future::IntoFuture;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::Kv;
use crate::error::Result;
use crate::generated::etcdserverpb as pb;
use crate::transport::Call;
use crate::types::{ResponseHeader, Revision};

/// A compaction: revisions below the given one are discarded.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Compact {
    kv: Kv,
    request: pb::CompactionRequest,
    timeout: Option<Duration>,
}

impl Compact {
    pub(crate) fn new(kv: Kv, revision: Revision) -> Self {
        Compact {
            kv,
            request: pb::CompactionRequest {
                revision: revision.0,
                physical: false,
            },
            timeout: None,
        }
    }

    /// Waits until the compaction is physically applied to the backend, so the space
    /// can be reclaimed by a defragment.
    pub fn physical(mut self) -> Self {
        self.request.physical = true;
        self
    }

    /// Overrides the client's request timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl IntoFuture for Compact {
    type Output = Result<CompactResponse>;
    type IntoFuture = BoxFuture<'static, Result<CompactResponse>>;

    /// Sends the compaction.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Compacted`](crate::ErrorKind::Compacted) when the revision is already
    /// compacted; [`ErrorKind::FutureRevision`](crate::ErrorKind::FutureRevision) when it is not
    /// yet written; the failures of [every request](crate::Error#failures-of-every-request).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let call = Call::not_idempotent("kv.compact", self.timeout);
            let response = self
                .kv
                .client
                .transport()
                .compact(call, self.request)
                .await?;
            Ok(CompactResponse {
                header: response.header.into(),
            })
        })
    }
}

/// The result of a compaction.
#[derive(Debug, Clone)]
pub struct CompactResponse {
    header: ResponseHeader,
}

impl CompactResponse {
    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }
}
