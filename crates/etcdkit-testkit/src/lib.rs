//! Starts real etcd processes for tests: a single server or a cluster of several members on
//! loopback, each in a throwaway data directory, with fault injection (kill, freeze,
//! resume, restart, and network faults through the test kit's own proxies). A single
//! server can be the embedded `etcdkit-server` instead, by one setting (below, "Embedded or
//! real etcd").
//!
//! The test kit knows nothing of any etcd client: it checks health with a plain HTTP
//! `GET /health` on the client URL, and hands out client URLs for the client under test.
//!
//! ```no_run
//! # async fn demo() -> Result<(), etcdkit_testkit::Error> {
//! use std::time::Duration;
//! use etcdkit_testkit::{EtcdCluster, EtcdServer};
//!
//! let server = EtcdServer::start().await?;
//! let url = server.endpoint(); // "http://127.0.0.1:PORT"
//!
//! let cluster = EtcdCluster::start(3).await?;
//! cluster.kill(1)?;
//! cluster.restart(1).await?;
//! cluster.stop(2).await?; // frozen: answers nothing
//! cluster.resume(2)?;
//! cluster.wait_all_healthy(Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! # Embedded or real etcd
//!
//! One setting makes single servers the embedded `etcdkit-server` (an etcd v3 server in
//! the test's own process, ready in milliseconds) instead of etcd processes: the
//! environment variable `ETCDKIT_TEST_ETCD` ([`TEST_ETCD_ENV`]).
//!
//! - unset, empty or `real` (the default): etcd processes, as everywhere else here;
//! - `embedded`: [`EtcdServer::start`] and [`ClusterBuilder::start_server`] start the
//!   embedded server;
//! - `in-process`: the same, and a test's client may reach it without a socket: a test
//!   that builds its client options with [`in_process_service`] gets
//!   `etcdkit::InProcess` clients (the client's and the recipes' suites do);
//! - anything else: those starts fail with [`Error::InvalidConfig`] naming the variable.
//!
//! It is read at each start, so one build of a test binary runs either way:
//! `ETCDKIT_TEST_ETCD=embedded cargo test -p etcdkit --test kv`. Clusters
//! ([`EtcdCluster::start`], [`ClusterBuilder::start`]) stay etcd processes whatever it
//! says. In code, [`ClusterBuilder::embedded`] chooses for one builder, overriding the
//! variable, and [`EtcdCluster::is_embedded`] tells which one a test got.
//!
//! An embedded server answers [`EtcdServer::endpoint`] and the other accessors as an etcd
//! member would (its version is the etcd API version it answers as), and refuses, with
//! [`Error::EmbeddedUnsupported`], what only a process has: kill, stop, resume, restart,
//! metrics, its log and data directory, new members and network faults (the list is on
//! [`EtcdCluster`], "Embedded"). A builder asking for what it cannot be (several members,
//! etcd flags it has no setting for, an etcd binary, TLS, a kept data directory, network
//! faults) fails at start with [`Error::InvalidConfig`]: nothing is silently dropped. The
//! flags it has settings for are taken: `--auth-token=simple`, `--auth-token-ttl`,
//! `--quota-backend-bytes`, `--max-request-bytes`, `--max-txn-ops`.
//!
//! A test that needs a real process, or several members, says so with
//! [`skip_if_embedded`] as its first line: under `ETCDKIT_TEST_ETCD=embedded` it prints
//! `skipped (embedded etcdkit-server): REASON` (shown with `--nocapture`) and returns, and
//! otherwise runs as always. `scripts/test` runs the client's KV, watch, lease,
//! lock/election, auth and token-expiry suites and the recipes' mutex and election tests
//! both ways.
//!
//! ```no_run
//! # async fn demo() -> Result<(), etcdkit_testkit::Error> {
//! use etcdkit_testkit::EtcdServer;
//!
//! if etcdkit_testkit::skip_if_embedded("restarts the etcd process") {
//!     return Ok(());
//! }
//! let server = EtcdServer::start().await?;
//! server.restart(0).await?;
//! # Ok(()) }
//! ```
//!
//! # Network faults
//!
//! A cluster started with [`ClusterBuilder::network_faults`] puts each member behind TCP
//! proxies the test kit owns (one for its clients, one for its peers) and has the members
//! advertise them. A test can then cut a member off from its clients
//! ([`EtcdCluster::isolate_from_clients`]) or from its peers ([`EtcdCluster::partition`]),
//! let its traffic vanish silently ([`EtcdCluster::blackhole`]), slow it down
//! ([`EtcdCluster::delay`]), and heal ([`EtcdCluster::heal`],
//! [`EtcdCluster::heal_member`]). `examples/partition.rs` shows it whole.
//!
//! ```no_run
//! # async fn demo() -> Result<(), etcdkit_testkit::Error> {
//! use std::time::Duration;
//! use etcdkit_testkit::EtcdCluster;
//!
//! let cluster = EtcdCluster::builder().network_faults(true).start().await?;
//! let endpoints = cluster.endpoints(); // the client proxies: give these to the client
//! cluster.partition(0)?; // m0 neither sends nor receives raft messages
//! cluster.isolate_from_clients(1)?; // connections to m1's client URL are refused
//! cluster.blackhole(2)?; // m2's connections stay open, nothing passes
//! cluster.heal()?;
//! cluster.delay(0, Duration::from_millis(100), Duration::from_millis(20))?;
//! # Ok(()) }
//! ```
//!
//! # Finding etcd
//!
//! The binary is the builder's [`ClusterBuilder::etcd_bin`], else the `ETCD_BIN`
//! environment variable, else `<workspace>/.etcd/bin/etcd`, where `scripts/install-etcd`
//! links the etcd it built (3.6 by default; `--version X.Y.Z` for another), else `etcd` on
//! `PATH` (`scripts/install-etcd --debian` installs Debian's 3.4 as `/usr/bin/etcd`).
//! 3.4, 3.5 (3.5.3 and newer), 3.6 and 3.7 work; [`EtcdCluster::etcd_version`] says which
//! one a cluster runs.
//!
//! # Ports and data
//!
//! Ports are free loopback ports picked at start; a start that loses a port to another
//! process is retried with new ones. Data directories live under `/dev/shm` when it has
//! room (see [`ClusterBuilder::data_in_tmpfs`]), and are removed when the cluster is dropped.
//!
//! A cluster can also live in a directory of the caller's ([`ClusterBuilder::data_dir`]):
//! kept after drop, and started again from there, same ports, same data. That, with
//! [`EtcdCluster::member_health`] and [`EtcdCluster::shutdown`], is what a local
//! development cluster (`etcdkit up`) needs beyond a test's.

mod binary;
mod cluster;
mod embedded;
mod error;
mod health;
mod http;
mod member;
mod new_member;
mod ports;
mod proxy;
mod root;
mod saved;
mod version;

pub use cluster::{ClientTls, ClusterBuilder, EtcdCluster, EtcdServer};
pub use embedded::{TEST_ETCD_ENV, embedded_from_env, in_process_service, skip_if_embedded};
pub use error::Error;
pub use health::MemberHealth;
pub use new_member::NewMember;
pub use version::EtcdVersion;
