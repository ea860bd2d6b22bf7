//! Compaction of the store's history.

use std::time::Duration;

use super::Kv;
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

    timeout_method!();
}

request_future! {
    /// Sends the compaction.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Compacted`](crate::ErrorKind::Compacted) when the revision is already
    /// compacted; [`ErrorKind::FutureRevision`](crate::ErrorKind::FutureRevision) when it is not
    /// yet written; the failures of [every request](crate::Error#failures-of-every-request).
    impl for Compact => CompactResponse, |this| {
        let call = Call::not_idempotent("kv.compact", this.timeout);
        let response = this
            .kv
            .client
            .transport()
            .compact(call, this.request)
            .await?;
        Ok(CompactResponse {
            header: response.header.into(),
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
