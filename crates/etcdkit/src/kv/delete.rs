//! Deletes of a key or a range.

use std::time::Duration;

use bytes::Bytes;

use super::{Kv, KvRequest};
use crate::generated::etcdserverpb as pb;
use crate::namespace::Namespace;
use crate::transport::Call;
use crate::types::{KeyValue, ResponseHeader, wrap_kvs};

/// A delete. Await it (from [`Kv::delete`]) or use it as a transaction operation
/// ([`Delete::new`] and [`TxnOp`](super::TxnOp)).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Delete<S = ()> {
    sender: S,
    pub(crate) request: pb::DeleteRangeRequest,
    timeout: Option<Duration>,
}

impl Delete<()> {
    /// A delete of `key`, to be used inside a transaction.
    pub fn new(key: impl Into<Bytes>) -> Self {
        Delete {
            sender: (),
            request: pb::DeleteRangeRequest {
                key: key.into(),
                ..Default::default()
            },
            timeout: None,
        }
    }

    pub(crate) fn bind(self, kv: Kv) -> Delete<Kv> {
        Delete {
            sender: kv,
            request: self.request,
            timeout: self.timeout,
        }
    }
}

impl<S> Delete<S> {
    key_range_methods!(with range, "Deletes", request.key, request.range_end);

    flag_methods!(request, {
        /// Returns the deleted key-values.
        pub fn prev_kv;
    });

    timeout_method!();
}

request_future! {
    /// Sends the delete.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyKey`](crate::ErrorKind::EmptyKey) for an empty key (before sending); the
    /// failures of [every request](crate::Error#failures-of-every-request).
    impl for Delete<Kv> => DeleteResponse, |this| {
        let client = &this.sender.client;
        let request = this.request.prepared("kv.delete", client.namespace())?;
        let call = Call::not_idempotent("kv.delete", this.timeout);
        let response = client.transport().delete_range(call, request).await?;
        Ok(DeleteResponse::from_pb(response, client.namespace()))
    }
}

/// The result of a delete.
#[derive(Debug, Clone)]
pub struct DeleteResponse {
    header: ResponseHeader,
    deleted: i64,
    prev_kvs: Vec<KeyValue>,
}

impl DeleteResponse {
    pub(crate) fn from_pb(mut r: pb::DeleteRangeResponse, ns: &Namespace) -> Self {
        for kv in &mut r.prev_kvs {
            ns.strip_kv(kv);
        }
        DeleteResponse {
            header: r.header.into(),
            deleted: r.deleted,
            prev_kvs: wrap_kvs(r.prev_kvs),
        }
    }

    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// How many keys were deleted.
    pub fn deleted(&self) -> i64 {
        self.deleted
    }

    /// The deleted key-values, when asked for with `prev_kv()`.
    pub fn prev_kvs(&self) -> &[KeyValue] {
        &self.prev_kvs
    }
}
