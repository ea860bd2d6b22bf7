//! Software transactional memory: run a closure that reads and writes keys as one
//! transaction, retried until it commits without conflicting with the transactions
//! beside it (the model of etcd's Go `concurrency.NewSTM`).
//!
//! ```no_run
//! # async fn f(client: etcdkit::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use etcdkit_recipes::stm::{self, Isolation, Options};
//!
//! // Move 10 from account a to account b, atomically, whatever else moves money.
//! stm::run_with(&client, Options::new().isolation(Isolation::Serializable), |stm| async move {
//!     let balance = |v: Option<bytes::Bytes>| -> i64 {
//!         v.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()).unwrap_or(0)
//!     };
//!     let a = balance(stm.get("accounts/a").await?);
//!     let b = balance(stm.get("accounts/b").await?);
//!     stm.put("accounts/a", (a - 10).to_string());
//!     stm.put("accounts/b", (b + 10).to_string());
//!     Ok::<_, etcdkit::Error>(())
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! # The closure
//!
//! The closure is an `FnMut(Stm) -> impl Future<Output = Result<T, E>>`, called once per
//! attempt with a fresh [`Stm`] (a cheap handle, moved into an `async move` block). That
//! shape, rather than an async closure borrowing `&mut Stm`, is chosen so that the
//! transaction's future is `Send` whenever the closure's future is (a generic
//! `AsyncFnMut` bound cannot require its future to be `Send` on stable Rust), so
//! transactions run in `tokio::spawn`ed tasks. The closure may run several times: keep its side effects
//! (other than through the [`Stm`]) idempotent. Any error type works; with
//! `E: From<etcdkit::Error>` the [`Stm`]'s reads can use `?`.
//!
//! # Behavior
//!
//! - **Reads** ([`Stm::get`], [`Stm::rev`]) go to the cluster the first time a key is read
//!   in an attempt (linearizable reads); later reads of the key return the same. A key the
//!   attempt wrote reads as written. **Writes** ([`Stm::put`], [`Stm::delete`]) are
//!   buffered and sent in one transaction when the closure returns `Ok`: all or none
//!   are applied.
//! - **Isolation** ([`Isolation`], default [`Isolation::SerializableSnapshot`]) says which
//!   reads are pinned to the revision of the attempt's first read, and what the commit
//!   checks: the mod revisions of the keys read (all levels but
//!   [`Isolation::ReadCommitted`]), and with serializable snapshot also that no key
//!   written was modified after the first read. An attempt that wrote nothing commits
//!   without a request when its reads were one snapshot already.
//! - **Conflicts**: when the commit's checks fail, nothing was written; the attempt is
//!   thrown away and the closure runs again on a fresh [`Stm`], after a capped
//!   exponential backoff with jitter ([`Options::backoff`]), as many times as
//!   [`Options::max_attempts`] allows (unlimited by default), then
//!   [`StmError::Conflict`]. For levels that pin reads, the failed commit reads the
//!   attempt's keys again at one revision, and the next attempt starts from those
//!   (saving a round trip per key). A read at a pinned revision that was compacted
//!   meanwhile, returned by the closure as its error, also starts a new attempt.
//! - **The closure's error** ends the transaction at once, nothing written:
//!   [`StmError::Aborted`].
//! - **Unknown outcome**: when the commit was sent and its reply lost, the writes may have
//!   been applied. It is not retried (a retry could apply a transfer twice):
//!   [`StmError::OutcomeUnknown`] is returned, and the caller reads the keys to find out.
//!   A commit that certainly wrote nothing and failed for good is [`StmError::Etcd`].
//! - **Namespaces**: keys are the client's: on a client from
//!   [`Client::namespaced`](etcdkit::Client::namespaced) they are under its prefix.
//! - **Limits**: the commit is one etcd transaction with a compare per key read (and per
//!   key written, under serializable snapshot) and an operation per key written, so the
//!   server's `--max-txn-ops` (default 128) bounds a transaction's size;
//!   over it the commit fails with [`StmError::Etcd`] ([`etcdkit::ErrorKind::TooManyOps`]).

mod context;
mod error;
mod isolation;
mod options;
mod retry;
mod sets;

pub use context::Stm;
pub use error::StmError;
pub use isolation::Isolation;
pub use options::Options;
pub use retry::{run, run_with};
