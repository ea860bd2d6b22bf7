//! Starts real etcd processes for tests: a single server or a cluster of several members on
//! loopback, each in a throwaway data directory, with fault injection (kill, freeze,
//! resume, restart, and network faults through the test kit's own proxies).
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
pub use error::Error;
pub use health::MemberHealth;
pub use new_member::NewMember;
pub use version::EtcdVersion;
