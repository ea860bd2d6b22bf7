//! Sends one operation to one side through the etcdkit client and normalizes the answer.

use std::time::Duration;

use bytes::Bytes;
use etcdkit::kv::{Compare, Delete, Get, Put, Txn, TxnOp};
use etcdkit::{Client, ErrorKind, LeaseId};
use futures_util::StreamExt;

use crate::op::{
    CompareSpec, DeleteOp, End, Key, Op, PutOp, RangeOp, Target, TxnOpSpec, TxnSpec, WatchOp,
};
use crate::outcome::{Ev, Failure, Outcome};

/// How long one request may take before the harness calls it a failure of its own.
const STEP_TIMEOUT: Duration = Duration::from_secs(15);

/// How long a lease meant to expire may take to be gone (TTLs are 1–2 s; etcd checks
/// expiry every 500 ms and then needs a raft round).
const EXPIRY_TIMEOUT: Duration = Duration::from_secs(20);

/// How long to wait for a progress notification before nudging the watch stream.
const PROGRESS_WAIT: Duration = Duration::from_millis(300);

/// One side of the comparison: a client of one endpoint, and the prefix keys live under.
#[derive(Clone, Debug)]
pub struct Side {
    client: Client,
    endpoint: String,
    prefix: String,
}

impl Side {
    /// A client of `endpoint` for a run whose keys live under `prefix`.
    ///
    /// The client may send requests up to 4 MiB (so that etcd, not the client, refuses an
    /// oversized put) and does not enforce monotonic reads (each side is its own store).
    ///
    /// # Errors
    ///
    /// When the endpoint does not parse or does not answer.
    pub async fn connect(endpoint: &str, prefix: &str) -> etcdkit::Result<Side> {
        let client = Client::options([endpoint])
            .max_send_size(4 * 1024 * 1024)
            .monotonic_reads(false)
            .request_timeout(STEP_TIMEOUT)
            .connect()
            .await?;
        Ok(Side {
            client,
            endpoint: endpoint.to_string(),
            prefix: prefix.to_string(),
        })
    }

    fn key(&self, key: &Key) -> Bytes {
        Bytes::from(format!("{}{}", self.prefix, key.0))
    }

    /// Runs `op` and normalizes its result.
    pub async fn run(&self, op: &Op) -> Outcome {
        match tokio::time::timeout(STEP_TIMEOUT + EXPIRY_TIMEOUT, self.run_unbounded(op)).await {
            Ok(outcome) => outcome,
            Err(_) => harness_failure("the step did not finish in time"),
        }
    }

    async fn run_unbounded(&self, op: &Op) -> Outcome {
        let kv = self.client.kv();
        let lease = self.client.lease();
        match op {
            Op::Put(p) => {
                let put = self.put(p, kv.put(self.key(&p.key), p.value.bytes()));
                settle(put.await, |r| Outcome::put(&r))
            }
            Op::Range(r) => settle(self.range(r, kv.get(Bytes::new())).await, |g| {
                Outcome::range(&g, r.sort)
            }),
            Op::Delete(d) => settle(self.delete(d, kv.delete(Bytes::new())).await, |r| {
                Outcome::delete(&r)
            }),
            Op::Txn(t) => {
                let txn = self.txn(t, kv.txn());
                settle(txn.await, |r| Outcome::txn(&r, t))
            }
            Op::Compact { revision, physical } => {
                let mut c = kv.compact(*revision);
                if *physical {
                    c = c.physical();
                }
                settle(c.await, |r| Outcome::Compacted {
                    revision: r.header().revision().get(),
                })
            }
            Op::Grant { id, ttl } => self.grant(*id, *ttl).await,
            Op::Revoke { id } => settle(lease.revoke(LeaseId(*id)).await, |r| Outcome::Revoked {
                revision: r.header().map(|h| h.revision().get()),
            }),
            Op::TimeToLive { id, keys } => {
                let mut t = lease.time_to_live(LeaseId(*id));
                if *keys {
                    t = t.keys();
                }
                settle(t.await, |r| {
                    let mut keys: Vec<_> = r
                        .keys()
                        .iter()
                        .map(|k| crate::outcome::Bytes::of(k))
                        .collect();
                    keys.sort();
                    Outcome::TimeToLive {
                        revision: r.header().revision().get(),
                        alive: r.exists(),
                        granted_ttl: r.granted_ttl(),
                        keys,
                    }
                })
            }
            Op::KeepAliveOnce { id } => settle(lease.keep_alive_once(LeaseId(*id)).await, |r| {
                Outcome::KeptAlive { ttl: r.ttl() }
            }),
            Op::Leases => settle(lease.leases().await, |r| {
                let mut ids: Vec<i64> = r.leases().iter().map(|l| l.get()).collect();
                ids.sort_unstable();
                Outcome::Leases {
                    revision: r.header().revision().get(),
                    ids,
                }
            }),
            Op::Expire { id, ttl, keys } => self.expire(*id, *ttl, keys).await,
            Op::Watch(w) => self.watch(w).await,
            Op::Raw(raw) => match crate::raw::send(&self.endpoint, *raw).await {
                Ok(reply) => Outcome::Raw {
                    code: reply.code,
                    message: reply.message,
                },
                Err(e) => harness_failure(&format!("raw request: {e}")),
            },
        }
    }

    async fn grant(&self, id: i64, ttl: i64) -> Outcome {
        let ttl = Duration::from_secs(u64::try_from(ttl).unwrap_or(0));
        let grant = self.client.lease().grant(ttl).id(LeaseId(id));
        settle(grant.await, |r| Outcome::Granted {
            revision: r.header().revision().get(),
            id: r.id().get(),
            ttl: r.ttl(),
        })
    }

    /// Grants a short lease, puts `keys` under it, and waits until the lease and the keys
    /// are gone, then reads the keys back. Nothing else runs meanwhile, so the revision
    /// the expiry deletes at is the same on both sides.
    async fn expire(&self, id: i64, ttl: i64, keys: &[Key]) -> Outcome {
        let grant = self.grant(id, ttl).await;
        let mut puts = Vec::new();
        for key in keys {
            let put = self
                .client
                .kv()
                .put(self.key(key), "expiring")
                .lease(LeaseId(id));
            puts.push(settle(put.await, |r| Outcome::put(&r)));
        }
        if !matches!(grant, Outcome::Failed(_)) {
            let gone = tokio::time::timeout(EXPIRY_TIMEOUT, self.until_expired(id, keys)).await;
            if gone.is_err() {
                return harness_failure("the lease did not expire in time");
            }
        }
        let mut after = Vec::new();
        for key in keys {
            after.push(settle(self.client.kv().get(self.key(key)).await, |g| {
                Outcome::range(&g, None)
            }));
        }
        // The store's revision after the expiry.
        let all = self
            .client
            .kv()
            .get(self.prefix.clone())
            .prefix()
            .count_only();
        after.push(settle(all.await, |g| Outcome::range(&g, None)));
        Outcome::Expired {
            grant: Box::new(grant),
            puts,
            after,
        }
    }

    /// Polls until the lease is gone and none of `keys` exists. Both matter: etcd drops
    /// the lease from its map before the deletes of its keys are visible.
    async fn until_expired(&self, id: i64, keys: &[Key]) {
        loop {
            let ttl = self.client.lease().time_to_live(LeaseId(id)).await;
            let lease_gone = match ttl {
                Ok(r) => !r.exists(),
                Err(e) => e.kind() == ErrorKind::LeaseNotFound,
            };
            let mut keys_gone = true;
            for key in keys {
                match self.client.kv().get(self.key(key)).await {
                    Ok(g) if g.kvs().iter().all(|kv| kv.lease() != Some(LeaseId(id))) => {}
                    _ => keys_gone = false,
                }
            }
            if lease_gone && keys_gone {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Opens the watch, asks for progress, and collects events until a progress
    /// notification at or past the revision the store had when the watch was opened:
    /// etcd sends one only once the watch has caught up, so every past event is in by then.
    async fn watch(&self, w: &WatchOp) -> Outcome {
        let now = match self.client.kv().get(self.prefix.clone()).count_only().await {
            Ok(r) => r.header().revision().get(),
            Err(e) => return Outcome::Failed(Failure::of(&e)),
        };
        let mut builder = self
            .client
            .watch()
            .key(self.key(&w.key))
            .start_revision(w.start_revision);
        builder = match &w.end {
            End::Single => builder,
            End::Prefix => builder.prefix(),
            End::FromKey => builder.from_key(),
            End::To(end) => builder.range_end(self.key(end)),
        };
        if w.prev_kv {
            builder = builder.prev_kv();
        }
        if w.no_put {
            builder = builder.no_put();
        }
        if w.no_delete {
            builder = builder.no_delete();
        }
        let mut watcher = match builder.await {
            Ok(watcher) => watcher,
            Err(e) => {
                return Outcome::Watched {
                    events: Vec::new(),
                    error: Some(Failure::of(&e)),
                };
            }
        };
        if w.start_revision > now {
            // Nothing can happen to the store during the step, so there is nothing to
            // collect; and etcd 3.6 sends no progress notification on a stream while a
            // watch on it starts after the current revision, so there is no way to ask.
            let _ = tokio::time::timeout(STEP_TIMEOUT, watcher.cancel()).await;
            return Outcome::Watched {
                events: Vec::new(),
                error: None,
            };
        }
        let mut events = Vec::new();
        let mut error = None;
        let collect = async {
            'asking: while error.is_none() {
                watcher.request_progress();
                loop {
                    let next = tokio::time::timeout(PROGRESS_WAIT, watcher.next()).await;
                    match next {
                        Ok(Some(Ok(r))) => {
                            if r.is_progress_notify() && r.header().revision().get() >= now {
                                break 'asking;
                            }
                            events.extend(r.events().iter().map(Ev::of));
                        }
                        Ok(Some(Err(e))) => {
                            error = Some(Failure::of(&e));
                            break 'asking;
                        }
                        Ok(None) => break 'asking,
                        Err(_) => {
                            // etcd may drop a progress request made while a watch on the
                            // stream is still catching up: ask again.
                            continue 'asking;
                        }
                    }
                }
            }
        };
        if tokio::time::timeout(STEP_TIMEOUT, collect).await.is_err() {
            return harness_failure("the watch sent no progress notification in time");
        }
        let _ = tokio::time::timeout(STEP_TIMEOUT, watcher.cancel()).await;
        Outcome::Watched { events, error }
    }

    /// `base` (made with the op's key and value) with the op's options.
    fn put<S>(&self, p: &PutOp, base: Put<S>) -> Put<S> {
        let mut put = base;
        if p.lease != 0 {
            put = put.lease(LeaseId(p.lease));
        }
        if p.prev_kv {
            put = put.prev_kv();
        }
        if p.ignore_value {
            put = put.ignore_value();
        }
        if p.ignore_lease {
            put = put.ignore_lease();
        }
        put
    }

    fn range<S>(&self, r: &RangeOp, base: Get<S>) -> Get<S> {
        let mut get = base.range(self.key_range(&r.key, &r.end));
        if r.limit != 0 {
            get = get.limit(r.limit);
        }
        if r.revision != 0 {
            get = get.revision(r.revision);
        }
        if r.keys_only {
            get = get.keys_only();
        }
        if r.count_only {
            get = get.count_only();
        }
        if r.serializable {
            get = get.serializable();
        }
        if let Some((target, order)) = r.sort {
            get = get.sort(target, order);
        }
        let [min_mod, max_mod, min_create, max_create] = r.rev_filters;
        if min_mod != 0 {
            get = get.min_mod_revision(min_mod);
        }
        if max_mod != 0 {
            get = get.max_mod_revision(max_mod);
        }
        if min_create != 0 {
            get = get.min_create_revision(min_create);
        }
        if max_create != 0 {
            get = get.max_create_revision(max_create);
        }
        get
    }

    fn delete<S>(&self, d: &DeleteOp, base: Delete<S>) -> Delete<S> {
        let mut delete = base.range(self.key_range(&d.key, &d.end));
        if d.prev_kv {
            delete = delete.prev_kv();
        }
        delete
    }

    fn key_range(&self, key: &Key, end: &End) -> etcdkit::KeyRange {
        let key = self.key(key);
        match end {
            End::Single => etcdkit::KeyRange::key(key),
            End::Prefix => etcdkit::KeyRange::prefix(key),
            End::FromKey => etcdkit::KeyRange::from_key(key),
            End::To(end) => etcdkit::KeyRange::range(key, self.key(end)),
        }
    }

    fn compare(&self, c: &CompareSpec) -> Compare {
        let key = self.key(&c.key);
        let compare = match &c.target {
            Target::Value(v) => Compare::value(key, c.op, v.bytes()),
            Target::Version(v) => Compare::version(key, c.op, *v),
            Target::Create(r) => Compare::create_revision(key, c.op, *r),
            Target::Mod(r) => Compare::mod_revision(key, c.op, *r),
            Target::Lease(l) => Compare::lease(key, c.op, (*l != 0).then_some(LeaseId(*l))),
        };
        match &c.end {
            End::Single => compare,
            End::Prefix => compare.prefix(),
            // A compare has no from-key helper: etcd's spelling is the end "\0".
            End::FromKey => compare.range_end(Bytes::from_static(b"\0")),
            End::To(end) => compare.range_end(self.key(end)),
        }
    }

    fn txn_op(&self, op: &TxnOpSpec) -> TxnOp {
        match op {
            TxnOpSpec::Range(r) => self.range(r, Get::new(Bytes::new())).into(),
            TxnOpSpec::Put(p) => self
                .put(p, Put::new(self.key(&p.key), p.value.bytes()))
                .into(),
            TxnOpSpec::Delete(d) => self.delete(d, Delete::new(Bytes::new())).into(),
            TxnOpSpec::Txn(t) => self.txn(t, Txn::new()).into(),
        }
    }

    fn txn<S>(&self, t: &TxnSpec, base: Txn<S>) -> Txn<S> {
        base.when(t.compares.iter().map(|c| self.compare(c)))
            .and_then(t.success.iter().map(|op| self.txn_op(op)))
            .or_else(t.failure.iter().map(|op| self.txn_op(op)))
    }
}

/// A request's result, normalized.
fn settle<T>(result: etcdkit::Result<T>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
    match result {
        Ok(r) => ok(r),
        Err(e) => Outcome::Failed(Failure::of(&e)),
    }
}

/// A failure of the harness itself (a step that hung), reported as an outcome so the run
/// stops with the op that caused it.
fn harness_failure(message: &str) -> Outcome {
    Outcome::Failed(Failure {
        kind: "Harness".into(),
        code: None,
        message: message.into(),
        compact_revision: None,
        outcome_unknown: false,
    })
}
