//! An etcd v3 server in-process, for tests: a single member that answers etcd's gRPC API
//! over tonic, with an in-memory multi-version store, so a test gets a ready etcd in
//! milliseconds without an etcd binary.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let server = etcdkit_server::Server::builder().start().await?;
//! let endpoint = server.endpoint(); // "127.0.0.1:PORT": give it to any etcd v3 client
//! // ... use it ...
//! server.shutdown().await; // or just drop it
//! # Ok(()) }
//! ```
//!
//! # What it serves
//!
//! - **KV**: range with every option (range end incl. `"\0"`, limit and `more`, count,
//!   historical revisions, keys/count only, sort order and target, min/max mod and create
//!   revisions), put (lease, prev_kv, ignore value/lease), delete range, txn (every compare
//!   target and operator, range compares, nested txns, etcd's duplicate-key rule), compact.
//!   Revisions, versions, create/mod revisions and headers are numbered as etcd numbers
//!   them; errors carry etcd's gRPC codes and messages ([`EtcdError`]).
//! - **Watch**: many watches on one stream; start revision in the past or future, prev_kv,
//!   filters, fragments, progress notifications and requests, caller-chosen watch IDs; a
//!   watch from a compacted revision is created then canceled with the compact revision.
//! - **Lease**: grant (with or without an ID; etcd's 2 s minimum TTL), revoke (the keys
//!   go in one revision), keepalive stream, time-to-live with keys, list; expired leases
//!   are revoked on time, their keys deleted with delete events.
//! - **Maintenance.Status** and **Cluster.MemberList** (one member with a stable ID).
//!
//! Limits are etcd's defaults ([`DEFAULT_MAX_REQUEST_BYTES`], [`DEFAULT_MAX_TXN_OPS`]), set
//! through [`ServerBuilder`].
//!
//! # Not there yet
//!
//! These answer gRPC `UNIMPLEMENTED` (or, for services not registered at all, tonic's
//! `UNIMPLEMENTED`) until a later part of the work adds them:
//!
//! - Auth (users, roles, permissions, tokens), Lock and Election services;
//! - Maintenance: alarms and the space quota, hash and hash_kv, defragment, snapshot,
//!   move leader, downgrade;
//! - Cluster: member add, remove, update, promote;
//! - durable storage in a data directory (everything is in memory and gone on drop);
//! - the `etcdkit serve` command and the test kit's switch between this server and etcd.
//!
//! Raft and several members are out of scope for good: for clusters and failover, run
//! real etcd through `etcdkit-testkit`.
//!
//! # Known differences from etcd
//!
//! - The size limit on writes counts the request plus a fixed 17 bytes for etcd's raft
//!   wrapping, which etcd measures exactly; writes within a few bytes of the limit may be
//!   judged differently.
//! - Sorting by a target other than the key keeps ties in key order. etcd's sort is not
//!   stable for more than 12 results, so its order of ties may differ there.
//! - A txn whose put with `ignore_value` (or `ignore_lease`) names a key an earlier op of
//!   the same txn deleted passes etcd's checks and then crashes the etcd member; this server
//!   answers "key not found" and applies nothing.
//! - A slow watcher's responses queue without bound in memory; etcd would hold it back as a
//!   "victim" and catch it up later.

mod alarm;
mod core;
mod error;
mod generated;
mod lease;
mod server;
mod service;
mod store;
mod wait;
mod watch;

pub use error::EtcdError;
pub use server::{
    DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_TXN_OPS, DEFAULT_PROGRESS_NOTIFY_INTERVAL,
    RunningServer, Server, ServerBuilder, StartError,
};
