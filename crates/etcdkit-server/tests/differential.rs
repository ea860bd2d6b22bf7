//! The embedded server against real etcd: the same seeded random sequence of KV operations
//! (puts, gets with every option, delete ranges, txns with nested txns, compactions) sent
//! through the etcdkit client to both must get the same answers: header revisions, kvs,
//! counts, prev_kvs, deleted counts, and errors.
//!
//! Small on purpose: the larger differential harness lives on its own. Set
//! `ETCDKIT_DIFF_SEED` to replay one seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fmt::Write as _;

use common::{bounded, embedded, options};
use etcdkit::kv::{
    Compare, CompareOp, Delete, Get, Put, SortOrder, SortTarget, Txn, TxnOp, TxnOpResponse,
};
use etcdkit::{Client, KeyValue, LeaseId, Revision};
use etcdkit_testkit::EtcdServer;
use fastrand::Rng;
use tokio_stream::StreamExt;

const OPS: usize = 300;
const PREFIX: &str = "diff/";

/// Keys `diff/k0` .. `diff/k9`: few enough that ops collide often, and that a sort never
/// has more than 12 results (etcd's sort is stable only up to there).
fn key(rng: &mut Rng) -> String {
    format!("{PREFIX}k{}", rng.usize(0..10))
}

#[derive(Clone, Debug)]
enum Span {
    One,
    Prefix,
    FromKey,
    To(String),
}

#[derive(Clone, Debug)]
struct GetOp {
    key: String,
    span: Span,
    limit: i64,
    sort: Option<(SortTarget, SortOrder)>,
    keys_only: bool,
    count_only: bool,
    /// Relative to the store's revision when the op is made: `Some(d)` reads at
    /// `revision - d` (negative `d` is the future).
    revision: Option<i64>,
    min_mod: Option<i64>,
    max_create: Option<i64>,
}

#[derive(Clone, Debug)]
struct PutOp {
    key: String,
    value: String,
    prev_kv: bool,
    ignore_value: bool,
    bad_lease: bool,
}

#[derive(Clone, Debug)]
struct DeleteOp {
    key: String,
    span: Span,
    prev_kv: bool,
}

#[derive(Clone, Debug)]
enum CmpOp {
    Value(String, CompareOp, String),
    Version(String, CompareOp, i64),
    Create(String, CompareOp, i64),
    Mod(String, CompareOp, i64),
    PrefixVersion(CompareOp, i64),
}

#[derive(Clone, Debug)]
enum Op {
    Get(GetOp),
    Put(PutOp),
    Delete(DeleteOp),
    Txn(TxnDesc),
    Compact(i64),
}

#[derive(Clone, Debug)]
struct TxnDesc {
    when: Vec<CmpOp>,
    then: Vec<Op>,
    otherwise: Vec<Op>,
}

fn span(rng: &mut Rng) -> (String, Span) {
    let k = key(rng);
    let s = match rng.usize(0..6) {
        0 => Span::Prefix,
        1 => Span::FromKey,
        2 => Span::To(key(rng)),
        _ => Span::One,
    };
    let k = if matches!(s, Span::Prefix) {
        PREFIX.to_owned()
    } else {
        k
    };
    (k, s)
}

fn compare_op(rng: &mut Rng) -> CompareOp {
    [
        CompareOp::Equal,
        CompareOp::NotEqual,
        CompareOp::Less,
        CompareOp::Greater,
    ][rng.usize(0..4)]
}

fn gen_get(rng: &mut Rng) -> GetOp {
    let (key, span) = span(rng);
    let targets = [
        SortTarget::Key,
        SortTarget::Version,
        SortTarget::Create,
        SortTarget::Mod,
        SortTarget::Value,
    ];
    let orders = [SortOrder::None, SortOrder::Ascend, SortOrder::Descend];
    GetOp {
        key,
        span,
        limit: if rng.bool() { 0 } else { rng.i64(1..4) },
        sort: rng
            .bool()
            .then(|| (targets[rng.usize(0..5)], orders[rng.usize(0..3)])),
        keys_only: rng.usize(0..5) == 0,
        count_only: rng.usize(0..8) == 0,
        revision: (rng.usize(0..4) == 0).then(|| rng.i64(-2..8)),
        min_mod: (rng.usize(0..6) == 0).then(|| rng.i64(0..10)),
        max_create: (rng.usize(0..6) == 0).then(|| rng.i64(0..10)),
    }
}

fn gen_put(rng: &mut Rng) -> PutOp {
    let ignore_value = rng.usize(0..8) == 0;
    PutOp {
        key: key(rng),
        value: if ignore_value {
            String::new()
        } else {
            format!("v{}", rng.u32(0..50))
        },
        prev_kv: rng.bool(),
        ignore_value,
        bad_lease: rng.usize(0..25) == 0,
    }
}

fn gen_delete(rng: &mut Rng) -> DeleteOp {
    let (key, span) = span(rng);
    DeleteOp {
        key,
        span,
        prev_kv: rng.bool(),
    }
}

fn gen_cmp(rng: &mut Rng) -> CmpOp {
    match rng.usize(0..5) {
        0 => CmpOp::Value(key(rng), compare_op(rng), format!("v{}", rng.u32(0..50))),
        1 => CmpOp::Version(key(rng), compare_op(rng), rng.i64(0..4)),
        2 => CmpOp::Create(key(rng), compare_op(rng), rng.i64(0..30)),
        3 => CmpOp::Mod(key(rng), compare_op(rng), rng.i64(0..30)),
        _ => CmpOp::PrefixVersion(compare_op(rng), rng.i64(0..3)),
    }
}

/// A random txn; `reads` allows gets among its ops.
fn gen_txn(rng: &mut Rng, depth: usize, reads: bool) -> TxnDesc {
    let branch = |rng: &mut Rng| -> Vec<Op> {
        (0..rng.usize(0..4))
            .map(|_| match rng.usize(0..8) {
                0..=2 if reads => Op::Get(gen_get(rng)),
                0..=2 => Op::Delete(gen_delete(rng)),
                // No `ignore_value` in a txn: a txn that deletes a key and then puts it
                // with `ignore_value` crashes a real etcd member (its checks run before
                // the deletes); the embedded server refuses it instead.
                3..=5 => Op::Put(PutOp {
                    ignore_value: false,
                    value: format!("v{}", rng.u32(0..50)),
                    ..gen_put(rng)
                }),
                6 => Op::Delete(gen_delete(rng)),
                _ if depth == 0 => Op::Txn(gen_txn(rng, depth + 1, reads)),
                _ => Op::Put(PutOp {
                    ignore_value: false,
                    value: format!("v{}", rng.u32(0..50)),
                    ..gen_put(rng)
                }),
            })
            .collect()
    };
    TxnDesc {
        when: (0..rng.usize(0..3)).map(|_| gen_cmp(rng)).collect(),
        then: branch(rng),
        otherwise: branch(rng),
    }
}

/// A random op. Compactions come only in the `late` part of a run, and from then on txns
/// do not read: etcd 3.6.16 kills its member ("range failed to find revision pair") on
/// some reads inside a writing txn after a compaction, so a run mixing both would stop
/// at etcd's crash rather than test anything.
fn gen_op(rng: &mut Rng, late: bool) -> Op {
    match rng.usize(0..20) {
        0..=5 => Op::Put(gen_put(rng)),
        6..=10 => Op::Get(gen_get(rng)),
        11..=12 => Op::Delete(gen_delete(rng)),
        13..=18 => Op::Txn(gen_txn(rng, 0, !late)),
        _ if late => Op::Compact(rng.i64(0..6)),
        _ => Op::Put(gen_put(rng)),
    }
}

fn apply_span<T>(
    key_op: T,
    span: &Span,
    prefix: fn(T) -> T,
    from: fn(T) -> T,
    to: fn(T, String) -> T,
) -> T {
    match span {
        Span::One => key_op,
        Span::Prefix => prefix(key_op),
        Span::FromKey => from(key_op),
        Span::To(end) => to(key_op, end.clone()),
    }
}

fn rev_at(rev: i64, back: i64) -> Revision {
    Revision(rev - back)
}

fn get_opts<S>(g: Get<S>, o: &GetOp, rev: i64) -> Get<S> {
    let mut g = apply_span(g, &o.span, Get::prefix, Get::from_key, |g, e| {
        g.range_end(e)
    });
    if o.limit > 0 {
        g = g.limit(o.limit);
    }
    if let Some((t, ord)) = o.sort {
        g = g.sort(t, ord);
    }
    if o.keys_only {
        g = g.keys_only();
    }
    if o.count_only {
        g = g.count_only();
    }
    if let Some(back) = o.revision {
        g = g.revision(rev_at(rev, back));
    }
    if let Some(m) = o.min_mod {
        g = g.min_mod_revision(Revision(m));
    }
    if let Some(m) = o.max_create {
        g = g.max_create_revision(Revision(m));
    }
    g
}

fn put_opts<S>(mut p: Put<S>, o: &PutOp) -> Put<S> {
    if o.prev_kv {
        p = p.prev_kv();
    }
    if o.ignore_value {
        p = p.ignore_value();
    }
    if o.bad_lease {
        p = p.lease(LeaseId(0x7e57));
    }
    p
}

fn delete_opts<S>(d: Delete<S>, o: &DeleteOp) -> Delete<S> {
    let d = apply_span(d, &o.span, Delete::prefix, Delete::from_key, |d, e| {
        d.range_end(e)
    });
    if o.prev_kv { d.prev_kv() } else { d }
}

fn compare(c: &CmpOp) -> Compare {
    match c {
        CmpOp::Value(k, op, v) => Compare::value(k.clone(), *op, v.clone()),
        CmpOp::Version(k, op, v) => Compare::version(k.clone(), *op, *v),
        CmpOp::Create(k, op, r) => Compare::create_revision(k.clone(), *op, Revision(*r)),
        CmpOp::Mod(k, op, r) => Compare::mod_revision(k.clone(), *op, Revision(*r)),
        CmpOp::PrefixVersion(op, v) => Compare::version(PREFIX, *op, *v).prefix(),
    }
}

fn txn_ops(ops: &[Op], rev: i64) -> Vec<TxnOp> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Get(o) => Some(TxnOp::from(get_opts(Get::new(o.key.clone()), o, rev))),
            Op::Put(o) => Some(put_opts(Put::new(o.key.clone(), o.value.clone()), o).into()),
            Op::Delete(o) => Some(delete_opts(Delete::new(o.key.clone()), o).into()),
            Op::Txn(t) => Some(
                Txn::new()
                    .when(t.when.iter().map(compare))
                    .and_then(txn_ops(&t.then, rev))
                    .or_else(txn_ops(&t.otherwise, rev))
                    .into(),
            ),
            Op::Compact(_) => None,
        })
        .collect()
}

fn kv_text(out: &mut String, kv: &KeyValue) {
    let _ = write!(
        out,
        "[{:?}={:?} c{} m{} v{} l{:?}]",
        kv.key(),
        kv.value(),
        kv.create_revision().get(),
        kv.mod_revision().get(),
        kv.version(),
        kv.lease()
    );
}

fn txn_text(out: &mut String, responses: &[TxnOpResponse]) {
    for r in responses {
        if let Some(g) = r.as_get() {
            let _ = write!(out, " get(count {} more {}", g.count(), g.more());
            g.kvs().iter().for_each(|kv| kv_text(out, kv));
            out.push(')');
        } else if let Some(p) = r.as_put() {
            out.push_str(" put(");
            if let Some(prev) = p.prev_kv() {
                kv_text(out, prev);
            }
            out.push(')');
        } else if let Some(d) = r.as_delete() {
            let _ = write!(out, " del({}", d.deleted());
            d.prev_kvs().iter().for_each(|kv| kv_text(out, kv));
            out.push(')');
        } else if let Some(t) = r.as_txn() {
            let _ = write!(out, " txn({}:", t.succeeded());
            txn_text(out, t.responses());
            out.push(')');
        }
    }
}

/// Runs `op` on `c`; the answer as text. `rev` is the store's revision before the op
/// (the same on both servers, or the first difference has already failed the test).
async fn run(c: &Client, op: &Op, rev: i64) -> String {
    let mut out = String::new();
    let result: etcdkit::Result<()> = async {
        match op {
            Op::Get(o) => {
                let r = bounded(get_opts(c.kv().get(o.key.clone()), o, rev)).await?;
                let _ = write!(
                    out,
                    "rev {} count {} more {}",
                    r.header().revision().get(),
                    r.count(),
                    r.more()
                );
                r.kvs().iter().for_each(|kv| kv_text(&mut out, kv));
            }
            Op::Put(o) => {
                let r = bounded(put_opts(c.kv().put(o.key.clone(), o.value.clone()), o)).await?;
                let _ = write!(out, "rev {}", r.header().revision().get());
                if let Some(prev) = r.prev_kv() {
                    kv_text(&mut out, prev);
                }
            }
            Op::Delete(o) => {
                let r = bounded(delete_opts(c.kv().delete(o.key.clone()), o)).await?;
                let _ = write!(
                    out,
                    "rev {} deleted {}",
                    r.header().revision().get(),
                    r.deleted()
                );
                r.prev_kvs().iter().for_each(|kv| kv_text(&mut out, kv));
            }
            Op::Txn(t) => {
                let r = bounded(
                    c.kv()
                        .txn()
                        .when(t.when.iter().map(compare))
                        .and_then(txn_ops(&t.then, rev))
                        .or_else(txn_ops(&t.otherwise, rev)),
                )
                .await?;
                let _ = write!(
                    out,
                    "rev {} succeeded {}:",
                    r.header().revision().get(),
                    r.succeeded()
                );
                txn_text(&mut out, r.responses());
            }
            Op::Compact(back) => {
                let r = bounded(c.kv().compact(rev_at(rev, *back))).await?;
                let _ = write!(out, "rev {}", r.header().revision().get());
            }
        }
        Ok(())
    }
    .await;
    match result {
        // Refused by the client before sending: its wording is its own business.
        Err(e) if e.code().is_none() => {
            let _ = write!(out, "refused by the client: {:?}", e.kind());
        }
        Err(e) => {
            let _ = write!(out, "error {:?} {:?}: {}", e.kind(), e.code(), e.message());
        }
        Ok(()) => {}
    }
    out
}

/// Every event of a prefix watch from `start` with prev_kv, up to `until`, as text; or
/// how the watch ended.
async fn history(c: &Client, start: i64, until: i64) -> String {
    let mut out = String::new();
    let mut w = match bounded(
        c.watch()
            .prefix(PREFIX)
            .start_revision(Revision(start))
            .prev_kv(),
    )
    .await
    {
        Ok(w) => w,
        Err(e) => return format!("watch refused: {:?}", e.kind()),
    };
    loop {
        match bounded(w.next()).await {
            Some(Ok(r)) => {
                for e in r.events() {
                    let _ = write!(out, "\n{:?} ", e.event_type());
                    kv_text(&mut out, e.kv());
                    if let Some(prev) = e.prev_kv() {
                        out.push_str(" prev ");
                        kv_text(&mut out, prev);
                    }
                }
                if r.events()
                    .last()
                    .is_some_and(|e| e.revision().get() >= until)
                {
                    return out;
                }
            }
            Some(Err(e)) => {
                let _ = write!(
                    out,
                    "\nended: {:?} compact revision {:?}",
                    e.kind(),
                    e.compact_revision()
                );
                return out;
            }
            None => return out + "\nended",
        }
    }
}

async fn current_revision(c: &Client) -> i64 {
    bounded(c.kv().get("diff-probe"))
        .await
        .unwrap()
        .header()
        .revision()
        .get()
}

#[tokio::test]
async fn random_kv_and_txn_ops_answer_as_real_etcd_does() {
    let seed = std::env::var("ETCDKIT_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_e7cd);
    let etcd = bounded(EtcdServer::start()).await.expect("start real etcd");
    let real = bounded(options(etcd.endpoint()).connect()).await.unwrap();
    let (_server, ours) = embedded().await;
    let mut rng = Rng::with_seed(seed);
    for i in 0..OPS {
        let op = gen_op(&mut rng, i >= OPS * 2 / 3);
        let rev_real = current_revision(&real).await;
        let rev_ours = current_revision(&ours).await;
        assert_eq!(rev_ours, rev_real, "revisions drifted before op {i}");
        let want = run(&real, &op, rev_real).await;
        let got = run(&ours, &op, rev_ours).await;
        assert_eq!(
            got, want,
            "op {i} of seed {seed:#x} answered differently: {op:?}"
        );
    }
    // The history those ops wrote, replayed by a watch: from the first revision (most
    // likely compacted by then) and from a recent one.
    let until = current_revision(&real).await;
    for start in [1, until - 40, until] {
        let want = history(&real, start, until).await;
        let got = history(&ours, start, until).await;
        assert_eq!(got, want, "a watch from {start} (seed {seed:#x}) differs");
    }
}
