//! `bench lease-keepalive`: each task grants one lease (not measured), then renews it once
//! per operation over a short LeaseKeepAlive stream of its own (as etcd's tool does with
//! `KeepAliveOnce`); the leases are revoked at the end.

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::LeaseId;
use etcdkit::lease::Lease;
use futures_util::future::join_all;

use super::Bench;
use super::report::{Failure, Report, Summary};
use super::runner::Op;
use crate::error::CliError;

/// The leases' TTL: long enough that none expires between two renewals of a slow run.
const TTL: Duration = Duration::from_secs(60);

/// Runs the workload.
pub async fn run(bench: &Bench<'_>) -> Result<Report, CliError> {
    // Task `t` uses connection `t mod conns` (see `runner::drive`); its lease is granted
    // over the same one.
    let connections = || (0..bench.common.clients).zip(bench.clients.iter().cycle());
    let grants = connections().map(|(_, c)| c.lease().grant(TTL).into_future());
    let ids = join_all(grants)
        .await
        .into_iter()
        .map(|granted| granted.map(|g| g.id()))
        .collect::<Result<Vec<LeaseId>, _>>()
        .map_err(|e| CliError::from_etcd(&e))?;

    let plan = bench.plan();
    let outcome = bench
        .measure("lease-keepalive", plan, |client, task| {
            op(client.lease(), ids.get(task).copied())
        })
        .await;

    // Best effort: a lease not revoked expires after its TTL anyway.
    let revokes = connections()
        .zip(&ids)
        .map(|((_, c), id)| c.lease().revoke(*id).into_future());
    join_all(revokes).await;

    let summary = Summary::new(outcome.recorder, plan.total, outcome.elapsed);
    Ok(bench.report("lease-keepalive", Vec::new(), summary))
}

/// One task's renewals of its lease.
fn op(lease: Lease, id: Option<LeaseId>) -> Op {
    Box::new(move |_| {
        let once = id.map(|id| lease.keep_alive_once(id));
        Box::pin(async move {
            match once {
                Some(once) => once.await.map(drop).map_err(Failure::from),
                None => Err(Failure::named("NoLease")),
            }
        })
    })
}
