//! `bench get`: one read per operation, of a key of the key space.
//!
//! Reads must find something to measure a real read, so every key of the key space is
//! written once first (with `--val-size` values, `--clients` at a time, not measured and
//! not rate-limited). A read that finds no key counts as a `KeyMissing` failure.

use etcdkit::kv::Kv;
use serde_json::json;

use super::Bench;
use super::args::Consistency;
use super::report::{Failure, Report, Summary};
use super::runner::{Op, Plan};
use super::workload::{KeySpace, value};
use crate::error::CliError;

/// Runs the workload.
pub async fn run(bench: &Bench<'_>, consistency: Consistency) -> Result<Report, CliError> {
    preload(bench).await?;
    let plan = bench.plan();
    let serializable = consistency == Consistency::S;
    let outcome = bench
        .measure("get", plan, |client, _| {
            op(client.kv(), bench.keys.clone(), serializable)
        })
        .await;
    let summary = Summary::new(outcome.recorder, plan.total, outcome.elapsed);
    let name = if serializable { "s" } else { "l" };
    Ok(bench.report("get", vec![("consistency", json!(name))], summary))
}

/// Writes every key of the key space once; any failure stops the run, since the reads
/// would then measure misses.
async fn preload(bench: &Bench<'_>) -> Result<(), CliError> {
    let keys = &bench.keys;
    let plan = Plan {
        clients: bench.common.clients,
        total: keys.size(),
        rate: 0,
    };
    let value = value(bench.common.val_size);
    let outcome = bench
        .measure("writing keys", plan, |client, _| {
            let (kv, keys, value) = (client.kv(), keys.clone(), value.clone());
            Box::new(move |i| {
                let put = kv.put(keys.key(i), value.clone());
                Box::pin(async move { put.await.map(drop).map_err(Failure::from) })
            })
        })
        .await;
    let summary = Summary::new(outcome.recorder, plan.total, outcome.elapsed);
    if summary.error_count() > 0 {
        return Err(CliError::error(format!(
            "writing the {} keys to read failed {} times ({})",
            plan.total,
            summary.error_count(),
            summary.error_kinds()
        )));
    }
    Ok(())
}

/// One task's reads.
fn op(kv: Kv, keys: KeySpace, serializable: bool) -> Op {
    let mut rng = fastrand::Rng::new();
    Box::new(move |i| {
        let mut get = kv.get(keys.key(keys.pick(i, &mut rng)));
        if serializable {
            get = get.serializable();
        }
        Box::pin(async move {
            if get.await?.kvs().is_empty() {
                return Err(Failure::named("KeyMissing"));
            }
            Ok(())
        })
    })
}
