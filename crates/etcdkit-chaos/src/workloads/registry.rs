//! One registry instance, joined for the whole run, and discoverers (each an instancer on
//! its own client) recording when they see it and when they do not.

use std::time::Duration;

use etcdkit::Client;
use etcdkit_recipes::discovery::{Instancer, InstancerEvent};
use etcdkit_recipes::registry::Registry;
use futures_util::StreamExt;

use crate::history::{Clock, DiscoveryLog};
use crate::stop::Stop;

/// The instance's id: its key is `<namespace>svc/<ID>`.
pub const ID: &str = "chaos-instance";
pub const SERVICE: &str = "svc";

/// What the registered instance side recorded.
#[derive(Debug, Default)]
pub struct InstanceLog {
    pub joined: Option<Duration>,
    pub events: Vec<(Duration, String)>,
}

/// Joins the instance and keeps it joined until stopped; then leaves.
pub async fn run_instance(registry: Registry, clock: Clock, mut stop: Stop) -> InstanceLog {
    let mut log = InstanceLog::default();
    let doc = serde_json::json!({ "id": ID, "port": 8080 });
    let joined = loop {
        match registry.join(SERVICE, doc.clone()).await {
            Ok(j) => break Some(j),
            // The registration goes on in the background after a failed join.
            Err(e) => {
                log.events.push((clock.now(), format!("join failed: {e}")));
                if let Some(j) = registry.joined().into_iter().next() {
                    break Some(j);
                }
                if stop.sleep(Duration::from_millis(200)).await {
                    break None;
                }
            }
        }
    };
    let Some(joined) = joined else {
        return log;
    };
    let registration = joined.registration().clone();
    let mut events = registration.events();
    tokio::select! {
        r = registration.registered(1) => {
            if r.is_ok() {
                log.joined = Some(clock.now());
            }
        }
        () = stop.wait() => return log,
    }
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(ev) => log.events.push((clock.now(), format!("{ev:?}"))),
                None => break,
            },
            () = stop.wait() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), registry.leave(SERVICE)).await;
    log
}

/// Follows the service's prefix and records each time the instance appears or goes.
pub async fn run_discoverer(
    client: Client,
    discoverer: usize,
    prefix: String,
    clock: Clock,
    mut stop: Stop,
) -> DiscoveryLog {
    let mut log = DiscoveryLog {
        discoverer,
        changes: Vec::new(),
    };
    let instancer = Instancer::new(&client, prefix);
    let mut events = instancer.events();
    let mut present = false;
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(InstancerEvent::Instances(set)) => {
                    let now = set.iter().any(|i| i.key().ends_with(ID.as_bytes()));
                    if now != present {
                        present = now;
                        log.changes.push((clock.now(), now));
                    }
                }
                Some(_) => {}
                None => break,
            },
            () = stop.wait() => break,
        }
    }
    log
}
