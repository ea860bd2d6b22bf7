//! An async etcd v3 client that does the hard parts right.
//!
//! - [`Client`]: many endpoints with failover, member auto-sync, timeouts, keepalive
//!   pings, safe retries and typed [`Error`]s.
//! - [`kv`]: get, put, delete, transactions and compaction with every option etcd has.
//! - [`watch`]: resumable, multiplexed watches of keys, prefixes and ranges.
//! - [`lock`] and [`election`]: the server's Lock and Election services.
//! - [`Client::namespaced`]: a view of the keyspace below a prefix.
//!
//! ```no_run
//! # async fn f() -> etcdkit::Result<()> {
//! let client = etcdkit::Client::connect(["127.0.0.1:2379"]).await?;
//! client.kv().put("greeting", "hello").await?;
//! let response = client.kv().get("greeting").await?;
//! assert_eq!(response.kvs()[0].value().as_ref(), b"hello");
//! # Ok(()) }
//! ```
//!
//! # Retries
//!
//! Requests that are safe to repeat (reads, read-only transactions, status) are retried on
//! another endpoint with capped exponential backoff and jitter until their deadline.
//! Writes are retried only when they certainly never reached a server (the connection
//! could not be made, or etcd refused them for having no leader); otherwise they fail
//! with [`ErrorKind::OutcomeUnknown`] (or an error whose
//! [`is_outcome_unknown`](Error::is_outcome_unknown) is true), which is different from a
//! definite failure.

pub mod auth;
mod client;
pub mod cluster;
pub mod election;
mod error;
mod generated;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
mod namespace;
mod options;
mod transport;
mod types;
mod util;
pub mod watch;

pub use client::Client;
pub use error::{Code, Error, ErrorKind, Result};
pub use namespace::prefix_end;
pub use options::ClientOptions;
pub use transport::{EndpointHealth, HealthEvent, TlsOptions};
pub use types::{ClusterId, KeyValue, LeaseId, MemberId, ResponseHeader, Revision};
