//! An async etcd v3 client that does the hard parts right.
//!
//! - [`Client`]: many endpoints with failover, member auto-sync, timeouts, keepalive
//!   pings, safe retries and typed [`Error`]s.
//! - [`kv`]: get, put, delete, transactions and compaction with every option etcd has.
//! - [`watch`]: resumable, multiplexed watches of keys, prefixes and ranges.
//! - [`lock`] and [`election`]: the server's Lock and Election services.
//! - [`Client::namespaced`]: a view of the keyspace below a prefix.
//! - With the `json` feature (off by default): values written and read as JSON through
//!   serde (`Kv::get_json`, `Kv::put_json`, `Kv::get_prefix_json`).
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
//!
//! # Observability
//!
//! **Tracing.** Every attempt of every RPC, unary calls and stream openings alike (watch,
//! lease keepalive, snapshot, election observe, health probes), runs in a `DEBUG` span
//! named `rpc` with the fields `op` (such as `kv.get`, `watch`, `lease.keep_alive`),
//! `endpoint` (`scheme://host:port`) and `attempt` (0 for the first). Events:
//!
//! | level | message | fields |
//! | --- | --- | --- |
//! | `WARN` | `endpoint marked unhealthy` | `endpoint`, `reason` |
//! | `INFO` | `endpoint healthy again` | `endpoint` |
//! | `INFO` | `failing over to another endpoint` | `op`, `from`, `to`, `attempt` |
//! | `DEBUG` | `retrying` | `op`, `endpoint`, `attempt`, `kind`, `error` |
//! | `INFO` | `watch stream failed; resuming its watches` | `endpoint`, `watchers`, `error` |
//! | `INFO` | `watch stream resumed` | `endpoint`, `previous`, `watchers`, `from_revision` |
//! | `INFO` | `lease keepalive stream failed; re-opening` | `endpoint`, `leases`, `error` |
//! | `WARN` | `lease lost` | `lease`, `reason` (`NotFound` or `Expired`), `detail` |
//! | `INFO` | `auth token refreshed` | `user`, `stale_generation`, `generation` |
//!
//! `from_revision` is the lowest revision a resumed watch asks for (0: every watch
//! resumes from "now"). Nothing is formatted unless a subscriber wants the event.
//!
//! **Metrics.** With the `metrics` feature (off by default), the client records through
//! the [`metrics`](https://docs.rs/metrics) facade into whatever recorder the
//! application installs; it installs none itself. Label values are static strings, and
//! the per-request counters allocate nothing.
//!
//! | name | type | labels | counts |
//! | --- | --- | --- | --- |
//! | `etcdkit_requests_total` | counter | `op` | requests (unary calls and stream openings), once each whatever their retries |
//! | `etcdkit_request_errors_total` | counter | `op`, `kind` | requests that failed in the end, by [`ErrorKind`] in snake_case (`compacted`, `outcome_unknown`, ...) |
//! | `etcdkit_retries_total` | counter | `op` | attempts after a request's first |
//! | `etcdkit_endpoint_switches_total` | counter | | attempts sent to another endpoint than the request's previous one (failover) |
//! | `etcdkit_watch_resumes_total` | counter | | shared watch streams re-opened after a failure |
//! | `etcdkit_leases_lost_total` | counter | `reason` | kept-alive leases lost (`not_found`, `expired`) |
//! | `etcdkit_lease_keepalive_margin_seconds` | histogram | | how much of a lease's confirmed TTL was left when a renewal's answer arrived |
//!
//! Requests refused before anything is sent (an empty key, say) are not counted.

#[macro_use]
mod builder_macros;

pub mod auth;
mod backoff;
mod client;
pub mod cluster;
pub mod election;
mod error;
mod generated;
mod key_range;
pub mod kv;
pub mod lease;
pub mod lock;
pub mod maintenance;
mod namespace;
mod options;
pub mod srv;
mod telemetry;
mod transport;
mod types;
mod util;
pub mod watch;

// The private parsers, for the fuzz targets only (`fuzzing` feature; see `fuzz/`).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;

pub use backoff::Backoff;
pub use client::Client;
pub use error::{Code, Error, ErrorKind, Result};
pub use key_range::KeyRange;
pub use namespace::prefix_end;
pub use options::{ClientOptions, DEFAULT_USER_AGENT};
pub use transport::{EndpointHealth, HealthEvent, InProcess, TlsOptions};
pub use types::{ClusterId, KeyValue, LeaseId, MemberId, ResponseHeader, Revision};
