//! Range reads.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Kv, KvRequest};
use crate::generated::etcdserverpb as pb;
use crate::namespace::Namespace;
use crate::transport::Call;
use crate::types::{KeyValue, ResponseHeader, wrap_kvs};

/// What to sort a range by.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortTarget {
    /// By key (the server's natural order).
    #[default]
    Key,
    /// By version.
    Version,
    /// By creation revision.
    Create,
    /// By modification revision.
    Mod,
    /// By value.
    Value,
}

/// The direction of a sort.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Unsorted (by key).
    #[default]
    None,
    /// Ascending.
    Ascend,
    /// Descending.
    Descend,
}

/// A range read. Await it (from [`Kv::get`]) or use it as a transaction operation
/// ([`Get::new`] and [`TxnOp`](super::TxnOp)).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Get<S = ()> {
    sender: S,
    pub(crate) request: pb::RangeRequest,
    timeout: Option<Duration>,
    /// The one member to read from, when the caller named one.
    endpoint: Option<Arc<str>>,
}

impl Get<()> {
    /// A read of `key`, to be used inside a transaction.
    pub fn new(key: impl Into<Bytes>) -> Self {
        Get {
            sender: (),
            request: pb::RangeRequest {
                key: key.into(),
                ..Default::default()
            },
            timeout: None,
            endpoint: None,
        }
    }

    pub(crate) fn bind(self, kv: Kv) -> Get<Kv> {
        Get {
            sender: kv,
            request: self.request,
            timeout: self.timeout,
            endpoint: self.endpoint,
        }
    }
}

impl<S> Get<S> {
    key_range_methods!(with range, "Reads", request.key, request.range_end);

    /// Returns at most `n` keys (0: no limit); `more()` says whether there were more.
    pub fn limit(mut self, n: i64) -> Self {
        self.request.limit = n;
        self
    }

    /// Sorts the result.
    pub fn sort(mut self, target: SortTarget, order: SortOrder) -> Self {
        self.request.sort_target = match target {
            SortTarget::Key => pb::range_request::SortTarget::Key,
            SortTarget::Version => pb::range_request::SortTarget::Version,
            SortTarget::Create => pb::range_request::SortTarget::Create,
            SortTarget::Mod => pb::range_request::SortTarget::Mod,
            SortTarget::Value => pb::range_request::SortTarget::Value,
        } as i32;
        self.request.sort_order = match order {
            SortOrder::None => pb::range_request::SortOrder::None,
            SortOrder::Ascend => pb::range_request::SortOrder::Ascend,
            SortOrder::Descend => pb::range_request::SortOrder::Descend,
        } as i32;
        self
    }

    flag_methods!(request, {
        /// Returns keys without values.
        pub fn keys_only;
        /// Returns only the number of keys.
        pub fn count_only;
        /// Serves the read from the member's local state without consulting the leader:
        /// faster, possibly stale.
        pub fn serializable;
    });

    revision_methods!(request, {
        /// Reads the store as it was at `revision`.
        pub fn revision;
        /// Only keys last modified at or after `revision`.
        pub fn min_mod_revision;
        /// Only keys last modified at or before `revision`.
        pub fn max_mod_revision;
        /// Only keys created at or after `revision`.
        pub fn min_create_revision;
        /// Only keys created at or before `revision`.
        pub fn max_create_revision;
    });

    timeout_method!();
}

impl Get<Kv> {
    /// Reads from this member only (`host:port` or `scheme://host:port`; it need not be
    /// one of the client's endpoints), never from another: a failure there is final. For
    /// checking one member's health with a read that goes through consensus; an answer
    /// older than a revision the client has seen fails with
    /// [`ErrorKind::StaleRead`](crate::ErrorKind::StaleRead) instead of being retried.
    ///
    /// # Errors
    ///
    /// The request fails with
    /// [`ErrorKind::InvalidEndpoint`](crate::ErrorKind::InvalidEndpoint)
    /// when `endpoint` does not parse, before anything is sent.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into().into());
        self
    }
}

request_future! {
    /// Sends the read.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::EmptyKey`](crate::ErrorKind::EmptyKey) for an empty key (before sending);
    /// [`ErrorKind::Compacted`](crate::ErrorKind::Compacted) or
    /// [`ErrorKind::FutureRevision`](crate::ErrorKind::FutureRevision) for a read at a revision
    /// compacted away or not yet written; [`ErrorKind::StaleRead`](crate::ErrorKind::StaleRead)
    /// when the answering member is behind a revision the client has seen (monotonic reads) and no
    /// other answers in time; the failures of [every
    /// request](crate::Error#failures-of-every-request).
    impl for Get<Kv> => GetResponse, |this| {
        let client = &this.sender.client;
        let request = this.request.prepared("kv.get", client.namespace())?;
        let mut call = Call::read("kv.get", this.timeout);
        call.endpoint = this.endpoint;
        let response = client.transport().range(call, request).await?;
        Ok(GetResponse::from_pb(response, client.namespace()))
    }
}

/// The result of a range read.
#[derive(Debug, Clone)]
pub struct GetResponse {
    header: ResponseHeader,
    kvs: Vec<KeyValue>,
    more: bool,
    count: i64,
}

impl GetResponse {
    pub(crate) fn from_pb(mut r: pb::RangeResponse, ns: &Namespace) -> Self {
        for kv in &mut r.kvs {
            ns.strip_kv(kv);
        }
        GetResponse {
            header: r.header.into(),
            kvs: wrap_kvs(r.kvs),
            more: r.more,
            count: r.count,
        }
    }

    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The keys found, in the requested order.
    pub fn kvs(&self) -> &[KeyValue] {
        &self.kvs
    }

    /// Takes the keys found.
    pub fn into_kvs(self) -> Vec<KeyValue> {
        self.kvs
    }

    /// The first key found, if any.
    pub fn first(&self) -> Option<&KeyValue> {
        self.kvs.first()
    }

    /// Whether a limit cut the result short.
    pub fn more(&self) -> bool {
        self.more
    }

    /// How many keys are in the range (regardless of the limit).
    pub fn count(&self) -> i64 {
        self.count
    }
}
