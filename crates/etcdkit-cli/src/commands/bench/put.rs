//! `bench put`: one put per operation, to a key of the key space.

use bytes::Bytes;
use etcdkit::kv::Kv;

use super::Bench;
use super::report::{Failure, Report, Summary};
use super::runner::Op;
use super::workload::{KeySpace, value};
use crate::error::CliError;

/// Runs the workload.
pub async fn run(bench: &Bench<'_>) -> Result<Report, CliError> {
    let plan = bench.plan();
    let value = value(bench.common.val_size);
    let outcome = bench
        .measure("put", plan, |client, _| {
            op(client.kv(), bench.keys.clone(), value.clone())
        })
        .await;
    let summary = Summary::new(outcome.recorder, plan.total, outcome.elapsed);
    Ok(bench.report("put", Vec::new(), summary))
}

/// One task's puts.
fn op(kv: Kv, keys: KeySpace, value: Bytes) -> Op {
    let mut rng = fastrand::Rng::new();
    Box::new(move |i| {
        let put = kv.put(keys.key(keys.pick(i, &mut rng)), value.clone());
        Box::pin(async move { put.await.map(drop).map_err(Failure::from) })
    })
}
