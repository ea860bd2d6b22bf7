//! Tracing against real etcd: every RPC attempt runs in an `rpc` span, and failover,
//! retries, watch resumes and lease losses are reported as events.
//!
//! Each test installs a capturing subscriber as its thread's default and runs on a
//! current-thread runtime, so the client's background tasks (watch stream, keepalive,
//! prober) run on that thread too and their events are captured, while tests running in
//! parallel do not see each other's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{bounded, client, cluster, options, server};
use etcdkit::Client;
use etcdkit::auth::Permission;
use etcdkit::lease::LostReason;
use tokio_stream::StreamExt;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// A span opened or an event emitted, with its fields as text.
#[derive(Debug, Clone)]
struct Record {
    is_span: bool,
    level: Level,
    /// The span's name, or the event's message.
    name: String,
    fields: BTreeMap<String, String>,
}

impl Record {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }
}

/// A tiny layer that keeps everything it sees.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Record>>>);

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, _id: &Id, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        self.0.lock().unwrap().push(Record {
            is_span: true,
            level: *attrs.metadata().level(),
            name: attrs.metadata().name().to_string(),
            fields: fields.0,
        });
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let name = fields.0.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push(Record {
            is_span: false,
            level: *event.metadata().level(),
            name,
            fields: fields.0,
        });
    }
}

impl Capture {
    /// Installs a new capture as this thread's default subscriber.
    fn install() -> (Capture, tracing::subscriber::DefaultGuard) {
        let capture = Capture::default();
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        (capture, tracing::subscriber::set_default(subscriber))
    }

    fn spans(&self, name: &str) -> Vec<Record> {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .filter(|r| r.is_span && r.name == name)
            .cloned()
            .collect()
    }

    fn events(&self, message: &str) -> Vec<Record> {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .filter(|r| !r.is_span && r.name == message)
            .cloned()
            .collect()
    }

    /// Waits (bounded) until an event with `message` satisfies `matches`.
    async fn wait_event(&self, message: &str, matches: impl Fn(&Record) -> bool) -> Record {
        bounded(async {
            loop {
                if let Some(r) = self.events(message).into_iter().find(|r| matches(r)) {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
    }

    fn dump(&self) -> String {
        let records = self.0.lock().unwrap();
        records
            .iter()
            .map(|r| format!("{r:?}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn fault_tolerant_options(endpoints: Vec<String>) -> etcdkit::ClientOptions {
    options(endpoints)
        .keepalive_interval(Duration::from_millis(500))
        .keepalive_timeout(Duration::from_secs(1))
}

/// The endpoint as the client names it (`scheme://host:port`).
fn normalised(client: &Client, raw: &str) -> String {
    let port = raw.rsplit(':').next().unwrap();
    client
        .endpoints()
        .into_iter()
        .find(|e| e.ends_with(&format!(":{port}")))
        .unwrap()
}

#[tokio::test]
async fn puts_watch_and_keepalive_openings_run_in_rpc_spans_with_op_endpoint_and_attempt() {
    let (capture, _guard) = Capture::install();
    let etcd = server().await;
    let c = client(&etcd).await;
    let endpoint = c.endpoints().remove(0);

    bounded(c.kv().put("obs/span/k", "v")).await.unwrap();
    let watcher = bounded(c.watch().key("obs/span/k")).await.unwrap();
    let lease = bounded(c.lease().grant(Duration::from_secs(10)))
        .await
        .unwrap();
    bounded(c.lease().keep_alive_once(lease.id()))
        .await
        .unwrap();

    for op in ["kv.put", "watch", "lease.grant", "lease.keep_alive"] {
        let spans = capture.spans("rpc");
        let span = spans
            .iter()
            .find(|s| s.field("op") == Some(op))
            .unwrap_or_else(|| panic!("no rpc span for {op}:\n{}", capture.dump()));
        assert_eq!(span.field("endpoint"), Some(endpoint.as_str()), "{op}");
        assert_eq!(span.field("attempt"), Some("0"), "{op}");
        assert_eq!(span.level, Level::DEBUG);
    }
    drop(watcher);
}

#[tokio::test]
async fn killing_a_member_in_use_reports_unhealthy_retry_and_failover_and_reads_succeed() {
    let (capture, _guard) = Capture::install();
    let etcd = cluster(3).await;
    let c = bounded(fault_tolerant_options(etcd.endpoints()).connect())
        .await
        .unwrap();
    bounded(c.kv().put("obs/failover/k", "v")).await.unwrap();
    let dead = normalised(&c, &etcd.endpoint(0).unwrap());

    etcd.kill(0).unwrap();
    // Requests go round the members, so one of the next few lands on the dead one. (Others
    // may be retried too, while the survivors elect a new leader.)
    let from_dead = |r: &Record| r.field("endpoint") == Some(dead.as_str());
    let mut landed = false;
    for _ in 0..10 {
        let got = bounded(c.kv().get("obs/failover/k")).await.unwrap();
        assert_eq!(got.kvs()[0].value().as_ref(), b"v");
        if capture.events("retrying").iter().any(from_dead) {
            landed = true;
            break;
        }
    }
    assert!(
        landed,
        "no read landed on the killed member:\n{}",
        capture.dump()
    );

    let retry = capture.wait_event("retrying", from_dead).await;
    assert_eq!(retry.level, Level::DEBUG);
    assert_eq!(retry.field("op"), Some("kv.get"));
    assert!(retry.field("kind").is_some() && retry.field("error").is_some());
    assert!(retry.field("attempt").is_some());

    let failover = capture
        .wait_event("failing over to another endpoint", |r| {
            r.field("from") == Some(dead.as_str())
        })
        .await;
    assert_eq!(failover.level, Level::INFO);
    assert_eq!(failover.field("op"), Some("kv.get"));
    // The attempt after the one that failed on the dead member.
    assert!(failover.field("attempt").unwrap().parse::<u32>().unwrap() >= 1);
    assert_ne!(failover.field("to"), Some(dead.as_str()));

    let unhealthy = capture
        .wait_event("endpoint marked unhealthy", |r| {
            r.field("endpoint") == Some(dead.as_str())
        })
        .await;
    assert_eq!(unhealthy.level, Level::WARN);
    assert!(unhealthy.field("reason").is_some());

    // A retried attempt ran in an rpc span of its own.
    assert!(
        capture
            .spans("rpc")
            .iter()
            .any(|s| s.field("op") == Some("kv.get") && s.field("attempt") == Some("1")),
        "{}",
        capture.dump()
    );
}

#[tokio::test]
async fn a_watch_whose_member_is_killed_reports_its_resume_and_from_which_revision() {
    let (capture, _guard) = Capture::install();
    let etcd = cluster(3).await;
    let c = bounded(fault_tolerant_options(etcd.endpoints()).connect())
        .await
        .unwrap();
    let mut watcher = bounded(c.watch().prefix("obs/watch/")).await.unwrap();
    let first = bounded(c.kv().put("obs/watch/a", "1")).await.unwrap();
    let revision = first.header().revision().0;
    bounded(watcher.next()).await.unwrap().unwrap();

    let carrier = watcher.endpoint().unwrap();
    let index = (0..3)
        .find(|i| normalised(&c, &etcd.endpoint(*i).unwrap()) == carrier)
        .unwrap();
    etcd.kill(index).unwrap();

    let failed = capture
        .wait_event("watch stream failed; resuming its watches", |_| true)
        .await;
    assert_eq!(failed.field("endpoint"), Some(carrier.as_str()));
    let resumed = capture.wait_event("watch stream resumed", |_| true).await;
    assert_eq!(resumed.level, Level::INFO);
    assert_eq!(resumed.field("previous"), Some(carrier.as_str()));
    assert_ne!(resumed.field("endpoint"), Some(carrier.as_str()));
    assert_eq!(resumed.field("watchers"), Some("1"));
    let from = (revision + 1).to_string();
    assert_eq!(resumed.field("from_revision"), Some(from.as_str()));
    // The stream was opened again in an rpc span.
    assert!(
        capture
            .spans("rpc")
            .iter()
            .filter(|s| s.field("op") == Some("watch"))
            .count()
            >= 2
    );

    // And the resumed watch still delivers. A write racing the kill may be reported as
    // of unknown outcome; write again until one is acknowledged.
    bounded(async {
        while c.kv().put("obs/watch/b", "2").await.is_err() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let next = bounded(watcher.next()).await.unwrap().unwrap();
    assert_eq!(next.events()[0].key().as_ref(), b"obs/watch/b");
}

#[tokio::test]
async fn a_kept_alive_lease_revoked_from_outside_reports_its_loss_and_reason() {
    let (capture, _guard) = Capture::install();
    let etcd = server().await;
    let c = client(&etcd).await;
    let other = client(&etcd).await;
    let lease = bounded(c.lease().grant(Duration::from_secs(3)))
        .await
        .unwrap();
    let keep = bounded(c.lease().keep_alive(lease.id())).await.unwrap();
    bounded(other.lease().revoke(lease.id())).await.unwrap();
    assert_eq!(bounded(keep.lost()).await, LostReason::NotFound);

    let lost = capture.wait_event("lease lost", |_| true).await;
    assert_eq!(lost.level, Level::WARN);
    let id = lease.id().0.to_string();
    assert_eq!(lost.field("lease"), Some(id.as_str()));
    assert_eq!(lost.field("reason"), Some("NotFound"));
    assert!(lost.field("detail").is_some());
}

#[tokio::test]
async fn a_token_the_server_no_longer_knows_is_refreshed_and_reported() {
    let (capture, _guard) = Capture::install();
    let etcd = server().await;
    let admin = client(&etcd).await;
    let auth = admin.auth();
    bounded(auth.user_add("root", "rootpw")).await.unwrap();
    bounded(auth.user_grant_role("root", "root")).await.unwrap();
    bounded(auth.role_add("app")).await.unwrap();
    bounded(auth.role_grant_permission("app", Permission::read_write("/obs/tok/").prefix()))
        .await
        .unwrap();
    bounded(auth.user_add("app", "apppw")).await.unwrap();
    bounded(auth.user_grant_role("app", "app")).await.unwrap();
    bounded(auth.enable()).await.unwrap();
    let login = |user: &'static str, password: &'static str| {
        options(vec![etcd.endpoint()])
            .auth(user, password)
            .connect()
    };
    let app = bounded(login("app", "apppw")).await.unwrap();
    bounded(app.kv().get("/obs/tok/k")).await.unwrap();
    assert!(capture.events("auth token refreshed").is_empty());

    // Turning auth off and on again forgets every token issued: the next call is
    // refused for its token.
    let root = bounded(login("root", "rootpw")).await.unwrap();
    bounded(root.auth().disable()).await.unwrap();
    bounded(admin.auth().enable()).await.unwrap();
    bounded(app.kv().get("/obs/tok/k")).await.unwrap();

    let refreshed = capture
        .wait_event("auth token refreshed", |r| r.field("user") == Some("app"))
        .await;
    assert_eq!(refreshed.level, Level::INFO);
    assert!(refreshed.field("generation").is_some());
}
