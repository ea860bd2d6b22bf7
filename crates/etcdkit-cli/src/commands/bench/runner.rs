//! Runs a measured phase: `--clients` tasks take operation numbers from one counter until
//! `--total` are taken, each timing its own requests into its own recorder.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use etcdkit::Client;
use futures_util::future::BoxFuture;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::progress::Ticker;
use super::rate::Pacer;
use super::report::{Failure, Recorder};

/// One task's operation: given the operation's number, a request to await. Each task owns
/// one, so it may keep state (a random number generator) without sharing it.
pub type Op = Box<dyn FnMut(u64) -> BoxFuture<'static, Result<(), Failure>> + Send>;

/// How a phase runs.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Concurrent tasks.
    pub clients: usize,
    /// Operations in all.
    pub total: u64,
    /// Operations per second over all tasks (0: no cap).
    pub rate: u64,
}

/// What a phase measured.
#[derive(Debug)]
pub struct Outcome {
    pub recorder: Recorder,
    pub elapsed: Duration,
}

/// Runs `plan.total` operations from `plan.clients` tasks. Task `t` uses connection
/// `t mod clients.len()` (so tasks are spread round-robin over the connections) and the
/// operation `make_op(connection, t)` builds for it. A failed operation is counted and the
/// task goes on. Every request is bounded by the client's request timeout, so this ends.
pub async fn drive(
    clients: &[Client],
    plan: Plan,
    ticker: &Ticker,
    mut make_op: impl FnMut(&Client, usize) -> Op,
) -> Outcome {
    let next = Arc::new(AtomicU64::new(0));
    let pacer = Arc::new(Pacer::new(plan.rate));
    let start = Instant::now();
    let per_task = usize::try_from(plan.total / plan.clients.max(1) as u64 + 1).unwrap_or(0);
    let mut tasks = JoinSet::new();
    for (task, client) in (0..plan.clients).zip(clients.iter().cycle()) {
        let mut op = make_op(client, task);
        let (next, pacer, ticker) = (next.clone(), pacer.clone(), ticker.clone());
        let total = plan.total;
        tasks.spawn(async move {
            let mut recorder = Recorder::with_capacity(per_task);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return recorder;
                }
                pacer.wait(i).await;
                let sent = Instant::now();
                match op(i).await {
                    Ok(()) => recorder.record(sent.elapsed()),
                    Err(failure) => recorder.fail(failure),
                }
                ticker.tick();
            }
        });
    }
    let mut recorder = Recorder::with_capacity(usize::try_from(plan.total).unwrap_or(0));
    while let Some(joined) = tasks.join_next().await {
        // A task that panicked loses its records; the summary counts its operations as
        // not run, so the totals still add up.
        if let Ok(task_recorder) = joined {
            recorder.merge(task_recorder);
        }
    }
    Outcome {
        recorder,
        elapsed: start.elapsed(),
    }
}
