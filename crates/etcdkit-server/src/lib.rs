//! An etcd v3 server in-process, for tests: a single member that answers etcd's gRPC API
//! over tonic, with an in-memory multi-version store, so a test gets a ready etcd in
//! milliseconds without an etcd binary. Optionally the data is also kept on disk, in a
//! data directory ([`ServerBuilder::data_dir`]), and survives a restart or a kill.
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
//! A client in the same process can skip the socket: [`RunningServer::service`] is the
//! server's gRPC service as a `tower` service, and etcdkit's `InProcess` hands a client's
//! requests to it (same answers, limits and streams; no TCP, no HTTP/2; eight to nine times
//! the throughput of a real member on small calls, docs/BENCHMARKS.md):
//!
//! ```ignore
//! let client = etcdkit::ClientOptions::new([server.url()])
//!     .in_process(etcdkit::InProcess::new(server.url(), server.service()))
//!     .connect()
//!     .await?;
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
//! - **Lease**: grant (with or without an ID; etcd's 2 s minimum TTL, or what
//!   [`ServerBuilder::min_lease_ttl`] sets), revoke (the keys
//!   go in one revision), keepalive stream, time-to-live with keys, list; expired leases
//!   are revoked on time, their keys deleted with delete events.
//! - **Lock** (lock, unlock) and **Election** (campaign, proclaim, leader, observe,
//!   resign), as etcd's server runs its mutex and election recipes: a contender is the key
//!   `NAME/LEASE_HEX` under its lease, the oldest key under `NAME/` holds the lock or
//!   leads; a lock or campaign waits server-side, woken by a watch of the deletions under
//!   the name (no polling); a waiter whose client goes away has its key deleted (lock) or
//!   resigned (campaign). Proclaim and resign are fenced on the leader key's create
//!   revision; errors are etcd's ("election: not leader", "election: no leader",
//!   `"leader" field must be provided`, all gRPC `UNKNOWN` as from etcd).
//! - **Maintenance**: status; alarms (get, activate, deactivate) and the space quota
//!   ([`ServerBuilder::quota_backend_bytes`]): a write that would pass it raises NOSPACE,
//!   and while NOSPACE is raised puts, txns with a put and lease grants are refused with
//!   "etcdserver: mvcc: database space exceeded" (reads, deletes, txns that only read or
//!   delete, and compaction pass: checked against etcd 3.6)
//!   until the alarm is deactivated; hash and hash_kv (same contents, same hash; a past
//!   revision's hash does not change); defragment (nothing to do, answered as etcd does);
//!   snapshot (streamed in 32 KiB chunks with the bytes remaining, in this server's own
//!   format, described below); move leader (to itself: done; to any other ID: "bad leader
//!   transferee"); downgrade (validated as etcd 3.6 validates it; cancel succeeds).
//! - **Cluster**: the member list (one member with a stable ID); member update of itself
//!   (its peer URLs show in the list); remove and promote of itself get etcd's answers for
//!   a lone voting member ("not enough started members", "can only promote a learner
//!   member"); unknown IDs get "member not found". Learners: added, listed (unstarted: no
//!   name, no client URLs), updated and removed as a single etcd 3.6 member does it, with
//!   its refusals in its order ("member ID already exist" for the same peer URLs, "Peer
//!   URLs already exists", "too many learner members in cluster" past one); a promote gets
//!   "can only promote a learner member which is in sync with leader" (they never start).
//!   Checked step by step against etcd 3.6.16.
//! - **Auth**: enable (needs user `root` with role `root`), disable, status (enabled, auth
//!   revision), authenticate, users (add, with or without a password; get, list, delete,
//!   change password, grant and revoke roles) and roles (add, get, list, delete, grant and
//!   revoke READ, WRITE or READWRITE on a key, a range or, with range end `"\0"`, every key
//!   from one on), with etcd 3.6's rules, error texts and gRPC codes. The auth revision
//!   starts at 1 and goes up with each successful change and with disable (not enable),
//!   as etcd's. Passwords are kept as salted PBKDF2-HMAC-SHA256 hashes (`ring`).
//!   Authenticate answers etcd's simple tokens (`<16 letters>.<n>`), kept in memory: one
//!   unused for [`ServerBuilder::auth_token_ttl`] (etcd's 300 s `--auth-token-ttl`)
//!   expires, each use extends it; deleting a user, changing its password or disabling
//!   auth ends its tokens. While auth is on, requests carry the token in the `token`
//!   gRPC metadata and are checked as etcd checks them: no token is "user name is
//!   empty", an unknown or expired one "invalid auth token"; range, put (and the keys
//!   already on its lease, and read for `prev_kv`), delete, and every compare and op of a
//!   txn need the permissions of their keys; a watch is checked with the token its stream
//!   was opened with and a refused one is created then canceled with etcd's reason;
//!   lease revoke, and time-to-live with keys, need rights on the lease's keys; lease
//!   grant, keepalive and list need a user; compaction, defragment, snapshot, hash,
//!   hash_kv, move leader, downgrade, member changes and the auth calls need root (a user
//!   may get itself and its own roles); status, alarms and the member list need a user
//!   (any: with auth on, etcd 3.6 refuses every request without a token, "user name is
//!   empty").
//!   Lock and election check the keys etcd's recipes would touch and answer as etcd does
//!   (gRPC `UNKNOWN`). Root may do anything.
//!
//! Limits are etcd's defaults ([`DEFAULT_MAX_REQUEST_BYTES`], [`DEFAULT_MAX_TXN_OPS`]), set
//! through [`ServerBuilder`]. A message over gRPC's own limit (the request limit plus
//! 512 KiB) is refused whole as etcd's grpc-go refuses it: `RESOURCE_EXHAUSTED`, "grpc:
//! received message larger than max (N vs. M)".
//!
//! # In the test kit
//!
//! `etcdkit-testkit` starts this server instead of an etcd process for every single
//! server (`EtcdServer::start`) when `ETCDKIT_TEST_ETCD=embedded`, or for one builder with
//! `ClusterBuilder::embedded(true)`; see its crate docs. `scripts/test` runs the client's
//! KV, watch, lease, lock/election, auth and token-expiry suites and the recipes' mutex and
//! election tests against it too, after the run against etcd. `etcdkit serve` runs it from the command
//! line.
//!
//! # Snapshot format
//!
//! Version 1, integers big-endian: the magic `"etcdkit-server snapshot 1\n"`, the store's
//! revision (i64), the last compaction's revision (i64, -1 if none), then one record per
//! retained revision of each key (keys in byte order, each key's revisions oldest first):
//! key length (u32), key, revision (i64), sub-revision (i64), kind (u8: 0 tombstone,
//! 1 value) and for a value its create revision, version, lease (i64 each), value length
//! (u32) and value; then a key length of 0 (no key is empty) ending the records, a u32
//! hash of everything before it (64-bit FNV-1a, halves XORed), zero padding to a multiple
//! of 512 bytes and the SHA-256 of everything before it, the trailer etcd's clients look
//! for: `etcdctl snapshot save` saves it. It is not etcd's bbolt file: `etcdutl snapshot
//! status` and `restore` cannot read it.
//!
//! # Data directory
//!
//! Without [`ServerBuilder::data_dir`] everything is in memory and gone on drop, and
//! nothing below costs anything. With it, the in-memory store stays what requests are
//! served from, and every acknowledged change is also written to the directory before
//! its answer is sent: one redb write transaction per step (redb commits with fsync), made
//! while the server's one lock is held, so the file's order is the order changes were
//! applied. A step is a committed write (each change: key, revision and sub-revision,
//! value or tombstone, create revision, version, lease) with the store's revision; a
//! compaction (the revisions it drops are deleted from the file too); a lease grant; a
//! lease revoke (in the same transaction as the deletion of its keys); an alarm raised
//! (also NOSPACE raised by the quota) or cleared; the member's peer URLs. Lease keepalives
//! are not written (etcd does not write them either). At start the directory is read back
//! into memory.
//!
//! Guarantees: a change whose answer was sent is on disk, also when the process is killed
//! right after (SIGKILL, a crash) and started again on the directory; the revisions go on
//! from the last one stored, with no gap and none used twice. A change cut off by the kill
//! before its answer may or may not be there, whole or not at all. The member and cluster
//! IDs of the first start are stored and kept, whatever the address later.
//!
//! Leases after a restart: each lease is back with its keys attached and gets its full
//! TTL again from the start, as etcd's lessor does when a restarted member becomes leader
//! (`Promote` refreshes every lease; etcd also adds its election timeout and spreads out
//! expiries past 1000 leases, which this server, without elections, does not). The
//! remaining TTL before the stop is not kept (etcd keeps it only with its lease checkpoint
//! persistence option).
//!
//! Layout: one file, `DIR/etcdkit-server.redb`, a redb database with the tables `meta`
//! (`format` = `"etcdkit-server data 1"`, `member_id`, `cluster_id`, `revision`,
//! `compacted`, `peer_urls`), `revisions` (keyed by (revision, sub-revision), as etcd keys
//! its bbolt store), `leases` (ID → TTL) and `alarms` ((member ID, type)); integers are
//! big-endian (see `src/persist/` for the entry encoding). It is not etcd's data
//! directory: etcd cannot read it, nor this server etcd's.
//!
//! Refused at start, as [`StartError::DataDir`] with a [`DataDirError`]: a directory that
//! holds other files and no `etcdkit-server.redb`, a path that is a file, or a store
//! without the format mark ([`DataDirError::NotOurs`]; nothing is written then); a store
//! that does not read back ([`DataDirError::Damaged`]); a directory in use by a running
//! server, in this process or another (redb locks the file: [`DataDirError::Locked`]).
//! A server releases the directory when it is shut down or dropped.
//!
//! If a step cannot be written (disk full, I/O error), the request is answered with
//! gRPC `INTERNAL` "etcdkit-server: the data directory could not be written; restart the
//! server", and the server stops, as an etcd member stops on a failed backend write: the
//! change that failed is applied in memory and cannot be taken back there, so nothing may
//! read it (no answer, no watch event is sent after it); every connection closes.
//! Restarting on the directory reads back what is on disk: every acknowledged change.
//!
//! # Not there yet
//!
//! These answer gRPC `UNIMPLEMENTED` (or, for services not registered at all, tonic's
//! `UNIMPLEMENTED`) until a later part of the work adds them:
//!
//! - Auth with JWT tokens (`--auth-token=jwt`): only simple tokens are issued, so a token
//!   never carries an auth revision and never gets "revision of auth store is old";
//!   client certificate common names as users (this server has no TLS);
//! - Maintenance: enabling a downgrade (refused as unimplemented: this server has no
//!   storage version to take down); snapshots in etcd's bbolt format;
//! - Cluster: adding a voting member is refused as unimplemented. etcd itself accepts it
//!   and has then lost its quorum until the new member starts (3.6.16 then answers not even
//!   the member list), which this server, having no raft, could never end; refusing does
//!   not pretend. Learners are served (above).
//!
//! Raft and several members are out of scope for good: for clusters and failover, run
//! real etcd through `etcdkit-testkit`.
//!
//! # What to use for what
//!
//! - **This server**: unit and integration tests of code that talks to one etcd (KV,
//!   watches, leases, locks, elections, auth), examples, local development without an etcd
//!   binary: a ready server in under a millisecond, in-process, nothing to install
//!   (`docs/BENCHMARKS.md` has the figures).
//! - **Real etcd** (`etcdkit-testkit`, `etcdkit up`): anything about several members
//!   (failover, leader changes, partitions, learners, membership changes), process faults
//!   (kill, freeze, restart with etcd's own recovery), a particular etcd release's
//!   behaviour, TLS, JWT tokens, metrics, and everything in "Known differences" below. The
//!   test kit switches a single-server test between the two with one setting
//!   (`ETCDKIT_TEST_ETCD=embedded`).
//!
//! # Known differences from etcd
//!
//! - Sorting by a target other than the key keeps ties in key order. etcd's sort is not
//!   stable for more than 12 results, so its order of ties may differ there.
//! - A txn whose put with `ignore_value` (or `ignore_lease`) names a key an earlier op of
//!   the same txn deleted passes etcd's checks and then crashes the etcd member; this server
//!   answers "key not found" and applies nothing.
//! - A slow watcher's responses queue without bound in memory; etcd would hold it back as a
//!   "victim" and catch it up later.
//! - A lock or campaign whose own key goes while it waits (its lease expired or was
//!   revoked) ends at once: a lock with etcd's "mutex: session is expired", a campaign with
//!   "election: not leader". etcd notices only once the keys ahead of it are gone (the lock)
//!   or never (the campaign returns a leadership whose key is gone).
//! - The space quota counts an estimate (every retained revision's key and value plus 256
//!   bytes), not a bbolt file's size: compaction frees space at once, where etcd needs a
//!   defragment too; no quota is enforced unless one is set (etcd's default is 2 GiB).
//!   The check walks the store on each write, a cost only servers with a quota pay.
//! - Hash and HashKV are a 64-bit FNV-1a over this server's own encoding of the revisions
//!   (folded to 32 bits), not etcd's CRC-32 over its bbolt pages: they compare between
//!   two of these servers, never with etcd. Hash covers what HashKV at the current
//!   revision covers. HashKV at the compaction revision itself: etcd answers the hash it
//!   kept from compaction time with the compaction before it (-1 for the first), this
//!   server hashes what is left and answers the last compaction.
//! - Auth: expired tokens go when next looked at; etcd sweeps them each second, so one
//!   there may live up to a second longer. Which keys lock and election check follows etcd's recipes (read and write on the
//!   contender or leader key, read under the name); only lock's answers were compared
//!   with etcd 3.6.16.
//! - gRPC only: no plain HTTP on the client port (`/health`, `/version`, `/readyz`,
//!   `/metrics`, the JSON gateway under `/v3/`), so HTTP health checks and `etcdctl check
//!   datascale` (which reads `/metrics`) do not work against it.
//! - Status reports version `3.6.0` (the etcd API and storage version it answers as, where
//!   etcd 3.6.16 reports its release, `3.6.16`), a `db_size_quota` of 0 unless
//!   [`ServerBuilder::quota_backend_bytes`] set one (etcd reports its 2 GiB default), and
//!   no `downgrade_info` (not in this project's schema). The member list shows no peer
//!   URLs until a member update gives some (etcd's member has its advertised peer URL).
//!   Listening on an unspecified address (`0.0.0.0`), the client URL it advertises is
//!   the loopback address with that port.
//! - A message that is not gRPC framing (a bad compression flag) is refused by tonic as
//!   INTERNAL; etcd's grpc-go answers RESOURCE_EXHAUSTED. Nothing is applied either way.
//! - The CORRUPT alarm can be raised and cleared but refuses nothing (etcd refuses every
//!   request while it is raised).

mod alarm;
mod auth;
mod core;
mod error;
mod generated;
mod in_process;
mod lease;
mod persist;
mod server;
mod service;
mod size_limit;
mod store;
mod wait;
mod watch;

pub use error::EtcdError;
pub use in_process::{InProcessService, ServerStopped};
pub use persist::DataDirError;
pub use server::{
    DEFAULT_AUTH_TOKEN_TTL, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_TXN_OPS, DEFAULT_MIN_LEASE_TTL,
    DEFAULT_PROGRESS_NOTIFY_INTERVAL, ETCD_VERSION, RunningServer, Server, ServerBuilder,
    StartError,
};
