//! The `metrics` feature against real etcd: request, error, retry, failover, watch-resume,
//! lease-loss counters and the keepalive-margin histogram.
//!
//! Each test installs its own recorder as its thread's local recorder and runs on a
//! current-thread runtime, so the client's background tasks record into it and tests
//! running in parallel do not see each other's numbers.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bounded, client, cluster, options, server};
use etcdkit::ErrorKind;
use etcdkit::lease::LostReason;
use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use tokio_stream::StreamExt;

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// A tiny recorder: counters and histogram samples by `name{label=value,...}`, labels
/// sorted.
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<Samples>>>,
}

fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    if labels.is_empty() {
        key.name().to_string()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut counters = self.counters.lock().unwrap();
        Counter::from_arc(counters.entry(render(key)).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut histograms = self.histograms.lock().unwrap();
        Histogram::from_arc(histograms.entry(render(key)).or_default().clone())
    }
}

impl TestRecorder {
    fn counter(&self, name: &str) -> u64 {
        self.counters
            .lock()
            .unwrap()
            .get(name)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn samples(&self, name: &str) -> Vec<f64> {
        self.histograms
            .lock()
            .unwrap()
            .get(name)
            .map_or_else(Vec::new, |h| h.0.lock().unwrap().clone())
    }

    fn dump(&self) -> String {
        let mut lines: Vec<String> = self
            .counters
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k} {}", v.load(Ordering::Relaxed)))
            .collect();
        lines.sort();
        lines.join("\n")
    }

    /// Waits (bounded) until counter `name` reaches `at_least`.
    async fn wait_counter(&self, name: &str, at_least: u64) {
        bounded(async {
            while self.counter(name) < at_least {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

fn fault_tolerant_options(endpoints: Vec<String>) -> etcdkit::ClientOptions {
    options(endpoints)
        .keepalive_interval(Duration::from_millis(500))
        .keepalive_timeout(Duration::from_secs(1))
}

#[tokio::test]
async fn requests_are_counted_by_op_and_a_compacted_read_by_its_kind() {
    let recorder = TestRecorder::default();
    let _local = metrics::set_default_local_recorder(&recorder);
    let etcd = server().await;
    let c = client(&etcd).await;

    let old = bounded(c.kv().put("met/req/a", "1")).await.unwrap();
    let new = bounded(c.kv().put("met/req/a", "2")).await.unwrap();
    bounded(c.kv().get("met/req/a")).await.unwrap();
    bounded(c.kv().compact(new.header().revision()))
        .await
        .unwrap();
    let err = bounded(c.kv().get("met/req/a").revision(old.header().revision()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Compacted);
    let watcher = bounded(c.watch().key("met/req/a")).await.unwrap();

    assert_eq!(recorder.counter("etcdkit_requests_total{op=kv.put}"), 2);
    assert_eq!(recorder.counter("etcdkit_requests_total{op=kv.get}"), 2);
    assert_eq!(recorder.counter("etcdkit_requests_total{op=kv.compact}"), 1);
    assert_eq!(recorder.counter("etcdkit_requests_total{op=watch}"), 1);
    assert_eq!(
        recorder.counter("etcdkit_request_errors_total{kind=compacted,op=kv.get}"),
        1,
        "{}",
        recorder.dump()
    );
    assert_eq!(
        recorder.counter("etcdkit_request_errors_total{kind=compacted,op=kv.put}"),
        0
    );
    assert_eq!(recorder.counter("etcdkit_retries_total{op=kv.get}"), 0);
    drop(watcher);
}

#[tokio::test]
async fn a_killed_member_counts_retries_and_endpoint_switches_and_reads_succeed() {
    let recorder = TestRecorder::default();
    let _local = metrics::set_default_local_recorder(&recorder);
    let etcd = cluster(3).await;
    let c = bounded(fault_tolerant_options(etcd.endpoints()).connect())
        .await
        .unwrap();
    bounded(c.kv().put("met/failover/k", "v")).await.unwrap();
    assert_eq!(recorder.counter("etcdkit_endpoint_switches_total"), 0);

    etcd.kill(0).unwrap();
    // Requests go round the members, so one of the next few lands on the dead one.
    for _ in 0..10 {
        let got = bounded(c.kv().get("met/failover/k")).await.unwrap();
        assert_eq!(got.kvs()[0].value().as_ref(), b"v");
        if recorder.counter("etcdkit_retries_total{op=kv.get}") > 0 {
            break;
        }
    }
    assert!(
        recorder.counter("etcdkit_retries_total{op=kv.get}") >= 1,
        "{}",
        recorder.dump()
    );
    assert!(recorder.counter("etcdkit_endpoint_switches_total") >= 1);
    // Every read succeeded in the end: no request errors.
    assert_eq!(
        recorder.counter("etcdkit_request_errors_total{kind=unavailable,op=kv.get}"),
        0
    );
}

#[tokio::test]
async fn a_watch_resume_after_its_member_is_killed_is_counted() {
    let recorder = TestRecorder::default();
    let _local = metrics::set_default_local_recorder(&recorder);
    let etcd = cluster(3).await;
    let c = bounded(fault_tolerant_options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let mut watcher = bounded(c.watch().prefix("met/watch/")).await.unwrap();
    bounded(c.kv().put("met/watch/a", "1")).await.unwrap();
    bounded(watcher.next()).await.unwrap().unwrap();
    assert_eq!(recorder.counter("etcdkit_watch_resumes_total"), 0);

    let carrier = watcher.endpoint().unwrap();
    let port = carrier.rsplit(':').next().unwrap().to_string();
    let index = (0..3)
        .find(|i| etcd.endpoint(*i).unwrap().ends_with(&format!(":{port}")))
        .unwrap();
    etcd.kill(index).unwrap();

    recorder
        .wait_counter("etcdkit_watch_resumes_total", 1)
        .await;
    assert!(recorder.counter("etcdkit_requests_total{op=watch}") >= 2);
}

#[tokio::test]
async fn keepalive_answers_record_the_margin_left_and_a_lost_lease_is_counted() {
    let recorder = TestRecorder::default();
    let _local = metrics::set_default_local_recorder(&recorder);
    let etcd = server().await;
    let c = client(&etcd).await;
    let other = client(&etcd).await;
    let ttl = Duration::from_secs(3);
    let lease = bounded(c.lease().grant(ttl)).await.unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();

    // The first answer confirms the lease; every later one has a margin to report.
    bounded(keep.renew_now()).await.unwrap();
    bounded(keep.renew_now()).await.unwrap();
    let samples = recorder.samples("etcdkit_lease_keepalive_margin_seconds");
    assert!(!samples.is_empty(), "{}", recorder.dump());
    for margin in &samples {
        assert!(
            *margin >= 0.0 && *margin <= ttl.as_secs_f64(),
            "{samples:?}"
        );
    }

    bounded(other.lease().revoke(lease.id())).await.unwrap();
    assert_eq!(bounded(keep.lost()).await, LostReason::NotFound);
    assert_eq!(
        recorder.counter("etcdkit_leases_lost_total{reason=not_found}"),
        1
    );
}
