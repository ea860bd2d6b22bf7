//! The same seeded operations, sent to real etcd and to a candidate, get the same answers:
//! a second real etcd (any difference is the harness's own non-determinism) and etcdkit's
//! embedded server (any difference is an incompatibility).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use etcdkit_difftest::{
    Config, Side, StartError, Target, run, start_candidate, start_embedded, start_reference,
};

/// The seed of the test suite's run; `ETCDKIT_DIFF_SEED` picks another.
const DEFAULT_SEED: u64 = 20_261_130;

/// The test suite's run length; `ETCDKIT_DIFF_OPS` picks another (10000 for the long run).
const DEFAULT_OPS: usize = 1000;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The real-vs-real run only proves the harness deterministic, so the suite keeps it
/// short; `ETCDKIT_DIFF_OPS` lengthens it as it does the other.
const HARNESS_OPS: usize = 300;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_real_vs_real_agrees() {
    compare_with(start_candidate(), HARNESS_OPS).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_real_vs_embedded_server_agrees() {
    compare_with(start_embedded(), DEFAULT_OPS).await;
}

async fn compare_with(
    candidate: impl Future<Output = Result<Target, StartError>>,
    default_ops: usize,
) {
    let seed = env_or("ETCDKIT_DIFF_SEED", DEFAULT_SEED);
    let ops = env_or("ETCDKIT_DIFF_OPS", default_ops);
    let start = Duration::from_secs(60);
    let (reference, candidate) =
        tokio::time::timeout(start, async { tokio::join!(start_reference(), candidate) })
            .await
            .expect("endpoints start in time");
    let (reference, candidate) = (reference.unwrap(), candidate.unwrap());
    let prefix = format!("difftest/{seed}/");
    let connect = Duration::from_secs(10);
    let a = tokio::time::timeout(connect, Side::connect(reference.endpoint(), &prefix))
        .await
        .unwrap()
        .unwrap();
    let b = tokio::time::timeout(connect, Side::connect(candidate.endpoint(), &prefix))
        .await
        .unwrap()
        .unwrap();
    let config = Config {
        seed,
        ops,
        expiry: true,
        trace: std::env::var_os("ETCDKIT_DIFF_TRACE").is_some(),
    };
    // Generous: a step is milliseconds, an expiring lease a few seconds.
    let bound = Duration::from_secs(120) + Duration::from_millis(200) * ops as u32;
    match tokio::time::timeout(bound, run(config, &a, &b)).await {
        Ok(Ok(summary)) => eprintln!("{} vs {}: {summary}", reference.name(), candidate.name()),
        Ok(Err(divergence)) => panic!("{} vs {}: {divergence}", reference.name(), candidate.name()),
        Err(_) => panic!("the run of {ops} ops (seed {seed}) did not finish within {bound:?}"),
    }
}
