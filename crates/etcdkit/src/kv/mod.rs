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

use bytes::Bytes;

pub use compact::{Compact, CompactResponse};
pub use delete::{Delete, DeleteResponse};
pub use get::{Get, GetResponse, SortOrder, SortTarget};
pub use put::{Put, PutResponse};
pub use txn::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse, TxnResponse};

use crate::client::Client;
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
    pub fn compact(&self, revision: Revision) -> Compact {
        Compact::new(self.clone(), revision)
    }
}
