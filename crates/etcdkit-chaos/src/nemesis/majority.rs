//! The optional phase that takes the majority away (two of three members killed) and
//! checks that requests then end in clean failures: a typed error within their deadline,
//! never a hang and never a success.

use std::future::IntoFuture;
use std::time::Duration;

use etcdkit::kv::{Compare, CompareOp, Put};
use etcdkit::{ClientOptions, ErrorKind, Result};
use etcdkit_testkit::EtcdCluster;
use futures_util::future::BoxFuture;

use crate::checkers::Anomaly;
use crate::checkers::leases::Down;
use crate::history::Clock;

const NAME: &str = "lose-majority";
/// Each request's own deadline in this phase.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How long past its deadline a request may take before it counts as hanging: the
/// client's last attempt may start just before the deadline and need a moment to end.
const GRACE: Duration = Duration::from_secs(2);
const ROUNDS: usize = 3;

#[derive(Debug, Default)]
pub struct MajorityReport {
    pub operations: usize,
    /// `(operation, error kind, how long it took)`.
    pub failures: Vec<(&'static str, ErrorKind, Duration)>,
    pub anomalies: Vec<Anomaly>,
    /// The two members' downtime, for the lease checker.
    pub downs: Vec<Down>,
}

/// Kills `victims`, runs the probes, brings them back.
pub async fn run(
    cluster: &EtcdCluster,
    victims: [usize; 2],
    prefix: &str,
    clock: Clock,
) -> anyhow::Result<MajorityReport> {
    let mut report = MajorityReport::default();
    let client = ClientOptions::new(cluster.endpoints())
        .request_timeout(REQUEST_TIMEOUT)
        .connect()
        .await?;
    let start = clock.now();
    for &v in &victims {
        cluster.kill(v)?;
    }
    for round in 0..ROUNDS {
        let key = format!("{prefix}majority/{round}");
        let probes: Vec<(&'static str, BoxFuture<'static, Result<()>>)> = vec![
            ("put", {
                let c = client.clone();
                let k = key.clone();
                Box::pin(async move { c.kv().put(k, "x").await.map(drop) })
            }),
            ("get", {
                let c = client.clone();
                let k = key.clone();
                Box::pin(async move { c.kv().get(k).await.map(drop) })
            }),
            ("txn", {
                let c = client.clone();
                let k = key.clone();
                Box::pin(async move {
                    c.kv()
                        .txn()
                        .when([Compare::version(k.clone(), CompareOp::Equal, 0)])
                        .and_then([Put::new(k, "y")])
                        .into_future()
                        .await
                        .map(drop)
                })
            }),
            ("lease-grant", {
                let c = client.clone();
                Box::pin(async move { c.lease().grant(Duration::from_secs(5)).await.map(drop) })
            }),
        ];
        for (op, fut) in probes {
            report.operations += 1;
            let invoked = std::time::Instant::now();
            match tokio::time::timeout(REQUEST_TIMEOUT + GRACE, fut).await {
                Ok(Ok(())) => report.anomalies.push(Anomaly::new(
                    NAME,
                    format!("{op} succeeded with two of three members down (round {round})"),
                )),
                Ok(Err(e)) => report.failures.push((op, e.kind(), invoked.elapsed())),
                Err(_) => report.anomalies.push(Anomaly::new(
                    NAME,
                    format!(
                        "{op} hung: no answer within {:?} (its deadline {REQUEST_TIMEOUT:?} \
                         plus {GRACE:?}), round {round}",
                        REQUEST_TIMEOUT + GRACE
                    ),
                )),
            }
        }
    }
    for &v in &victims {
        cluster.start_member(v).await?;
    }
    super::heal_all(cluster).await?;
    let end = clock.now();
    report.downs = victims
        .iter()
        .map(|&member| Down { member, start, end })
        .collect();
    Ok(report)
}
