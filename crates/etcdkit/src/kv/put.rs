//! Writes of one key.

use std::time::Duration;

use bytes::Bytes;

use super::{Kv, KvRequest};
use crate::generated::etcdserverpb as pb;
use crate::namespace::Namespace;
use crate::transport::Call;
use crate::types::{KeyValue, LeaseId, ResponseHeader};

/// A write of one key. Await it (from [`Kv::put`]) or use it as a transaction operation
/// ([`Put::new`] and [`TxnOp`](super::TxnOp)).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Put<S = ()> {
    sender: S,
    pub(crate) request: pb::PutRequest,
    timeout: Option<Duration>,
}

impl Put<()> {
    /// A write of `key`, to be used inside a transaction.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Put {
            sender: (),
            request: pb::PutRequest {
                key: key.into(),
                value: value.into(),
                ..Default::default()
            },
            timeout: None,
        }
    }

    pub(crate) fn bind(self, kv: Kv) -> Put<Kv> {
        Put {
            sender: kv,
            request: self.request,
            timeout: self.timeout,
        }
    }
}

impl<S> Put<S> {
    /// Attaches the key to a lease: it is deleted when the lease ends.
    pub fn lease(mut self, lease: LeaseId) -> Self {
        self.request.lease = lease.0;
        self
    }

    flag_methods!(request, {
        /// Returns the previous key-value, if there was one.
        pub fn prev_kv;
    });

    /// Keeps the current value (the key must exist); only the lease changes.
    pub fn ignore_value(mut self) -> Self {
        self.request.ignore_value = true;
        self.request.value = Bytes::new();
        self
    }

    /// Keeps the current lease (the key must exist); only the value changes.
    pub fn ignore_lease(mut self) -> Self {
        self.request.ignore_lease = true;
        self.request.lease = 0;
        self
    }

    timeout_method!();
}

request_future! {
    /// Sends the write.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyKey`](crate::ErrorKind::EmptyKey) for an empty key and
    /// [`ErrorKind::RequestTooLarge`](crate::ErrorKind::RequestTooLarge) for a request over the
    /// client's size limit (both before sending);
    /// [`ErrorKind::LeaseNotFound`](crate::ErrorKind::LeaseNotFound) when the lease does not exist;
    /// [`ErrorKind::NoSpace`](crate::ErrorKind::NoSpace) when the cluster is out of space; the
    /// failures of [every request](crate::Error#failures-of-every-request).
    impl for Put<Kv> => PutResponse, |this| {
        let client = &this.sender.client;
        let request = this.request.prepared("kv.put", client.namespace())?;
        let call = Call::not_idempotent("kv.put", this.timeout);
        let response = client.transport().put(call, request).await?;
        Ok(PutResponse::from_pb(response, client.namespace()))
    }
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct PutResponse {
    header: ResponseHeader,
    prev_kv: Option<KeyValue>,
}

impl PutResponse {
    pub(crate) fn from_pb(r: pb::PutResponse, ns: &Namespace) -> Self {
        PutResponse {
            header: r.header.into(),
            prev_kv: r.prev_kv.map(|mut kv| {
                ns.strip_kv(&mut kv);
                KeyValue(kv)
            }),
        }
    }

    /// The response header; its revision is the write's.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The previous key-value, when asked for with `prev_kv()` and the key existed.
    pub fn prev_kv(&self) -> Option<&KeyValue> {
        self.prev_kv.as_ref()
    }
}
