//! The key-value API: get, put, delete, transactions and compaction.
//!
//! Every request is a by-value builder that runs when awaited:
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
//! client.kv().put("config/a", "1").await?;
//! let response = client.kv().get("config/").prefix().limit(10).await?;
//! for kv in response.kvs() {
//!     println!("{:?} = {:?}", kv.key(), kv.value());
//! }
//! # Ok(()) }
//! ```

mod compact;
mod delete;
mod get;
mod put;
mod txn;
mod typed;

use bytes::Bytes;

pub use compact::{Compact, CompactResponse};
pub use delete::{Delete, DeleteResponse};
pub use get::{Get, GetResponse, SortOrder, SortTarget};
pub use put::{Put, PutResponse};
pub use txn::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse, TxnResponse};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::generated::etcdserverpb as pb;
use crate::namespace::Namespace;
use crate::types::Revision;

/// The key-value API of a [`Client`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Kv {
    pub(crate) client: Client,
}

impl Kv {
    /// Reads a key (or, with `.prefix()` / `.range_end(..)` / `.from_key()`, a range).
    pub fn get(&self, key: impl Into<Bytes>) -> Get<Kv> {
        Get::new(key).bind(self.clone())
    }

    /// Writes a key.
    pub fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Put<Kv> {
        Put::new(key, value).bind(self.clone())
    }

    /// Deletes a key (or a range).
    pub fn delete(&self, key: impl Into<Bytes>) -> Delete<Kv> {
        Delete::new(key).bind(self.clone())
    }

    /// A transaction: `when` compares hold, run `and_then` ops, else `or_else` ops.
    pub fn txn(&self) -> Txn<Kv> {
        Txn::new().bind(self.clone())
    }

    /// Compacts the store's history up to `revision`.
    pub fn compact(&self, revision: impl Into<Revision>) -> Compact {
        Compact::new(self.clone(), revision.into())
    }
}

/// What the requests of get, put and delete share on their way to the server, alone or
/// inside a transaction: the empty-key check and the move into the client's namespace.
pub(crate) trait KvRequest: Sized {
    /// The key the request names (a range's start).
    fn key(&self) -> &Bytes;

    /// Moves the request's keys into `ns`.
    fn namespace(&mut self, ns: &Namespace);

    /// Fails with [`ErrorKind::EmptyKey`](crate::ErrorKind::EmptyKey) for an empty key.
    fn check(&self) -> Result<()> {
        Error::check_key(self.key())
    }

    /// The request moved into `ns`.
    fn namespaced(mut self, ns: &Namespace) -> Self {
        self.namespace(ns);
        self
    }

    /// The request checked (a failure names the operation `op`) and moved into `ns`.
    fn prepared(self, op: &'static str, ns: &Namespace) -> Result<Self> {
        self.check().map_err(|e| e.with_operation(op))?;
        Ok(self.namespaced(ns))
    }
}

impl KvRequest for pb::RangeRequest {
    fn key(&self) -> &Bytes {
        &self.key
    }

    fn namespace(&mut self, ns: &Namespace) {
        ns.range(&mut self.key, &mut self.range_end);
    }
}

impl KvRequest for pb::DeleteRangeRequest {
    fn key(&self) -> &Bytes {
        &self.key
    }

    fn namespace(&mut self, ns: &Namespace) {
        ns.range(&mut self.key, &mut self.range_end);
    }
}

impl KvRequest for pb::PutRequest {
    fn key(&self) -> &Bytes {
        &self.key
    }

    fn namespace(&mut self, ns: &Namespace) {
        self.key = ns.key(&self.key);
    }
}
