//! `bench txn-put`: one transaction per operation, with `--txn-ops` puts to consecutive
//! keys of the key space (starting at a picked key and wrapping around), so that no
//! transaction writes a key twice, which etcd refuses.

use bytes::Bytes;
use etcdkit::kv::{Kv, Put};
use serde_json::json;

use super::Bench;
use super::report::{Failure, Report, Summary};
use super::runner::Op;
use super::workload::{KeySpace, value};
use crate::error::CliError;

/// Refuses more puts per transaction than there are keys: they could not be distinct.
pub fn check(keys: &KeySpace, txn_ops: usize) -> Result<(), CliError> {
    if txn_ops as u64 > keys.size() {
        return Err(CliError::error(format!(
            "--txn-ops {txn_ops} needs at least as many keys, but --key-space-size is {}",
            keys.size()
        )));
    }
    Ok(())
}

/// Runs the workload.
pub async fn run(bench: &Bench<'_>, txn_ops: usize) -> Result<Report, CliError> {
    check(&bench.keys, txn_ops)?;
    let plan = bench.plan();
    let value = value(bench.common.val_size);
    let outcome = bench
        .measure("txn-put", plan, |client, _| {
            op(client.kv(), bench.keys.clone(), value.clone(), txn_ops)
        })
        .await;
    let summary = Summary::new(outcome.recorder, plan.total, outcome.elapsed);
    Ok(bench.report("txn-put", vec![("txn_ops", json!(txn_ops))], summary))
}

/// One task's transactions.
fn op(kv: Kv, keys: KeySpace, value: Bytes, txn_ops: usize) -> Op {
    let mut rng = fastrand::Rng::new();
    Box::new(move |i| {
        let first = keys.pick(i, &mut rng);
        let puts = (0..txn_ops as u64)
            .map(|j| Put::new(keys.key(first.wrapping_add(j) % keys.size()), value.clone()));
        let txn = kv.txn().and_then(puts);
        Box::pin(async move { txn.await.map(drop).map_err(Failure::from) })
    })
}
