//! The tonic example as a test: calls reach all three servers; after one deregisters,
//! none reaches it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/tonic_balance.rs"]
mod example;

use std::time::Duration;

#[tokio::test]
async fn tonic_balances_over_three_registered_servers() {
    let etcd = tokio::time::timeout(
        Duration::from_secs(30),
        etcdkit_testkit::EtcdServer::start(),
    )
    .await
    .unwrap()
    .unwrap();
    let hosts = etcd.endpoint().replace("http://", "");
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        example::run(&format!("http://{hosts}/t-tonic?ttl=5"), 30),
    )
    .await
    .expect("the example did not finish in time")
    .unwrap();
    assert_eq!(
        report.before.keys().collect::<Vec<_>>(),
        ["a", "b", "c"],
        "{report:?}"
    );
    assert_eq!(report.before.values().sum::<usize>(), 30);
    assert!(!report.after.contains_key("b"), "{report:?}");
    assert_eq!(report.after.values().sum::<usize>(), 30);
    assert_eq!(report.reached_b_after_leaving, 0);
}
