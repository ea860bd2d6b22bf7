//! Reads after healing: what etcd holds and what happened, to judge the history by.

use std::collections::HashMap;
use std::time::Duration;

use etcdkit::{Client, Revision};
use futures_util::StreamExt;

use crate::checkers::fencing::Queues;
use crate::checkers::writes::Stored;
use crate::history::WatchEvent;
use crate::workloads::watchers::event;

/// Every writer key and what it holds now.
pub async fn writer_keys(client: &Client, prefix: &str) -> anyhow::Result<HashMap<String, Stored>> {
    let resp = client
        .kv()
        .get(format!("{prefix}w/"))
        .prefix()
        .timeout(Duration::from_secs(30))
        .await?;
    Ok(resp
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                Stored {
                    mod_revision: kv.mod_revision().get(),
                    value: String::from_utf8_lossy(kv.value()).into_owned(),
                },
            )
        })
        .collect())
}

/// The history itself: every event under `prefix` from `start` through `end`, read by
/// one watch on a healthy cluster (it should never need to resume).
pub async fn reference_events(
    client: &Client,
    prefix: &str,
    start: i64,
    end: i64,
) -> anyhow::Result<Vec<WatchEvent>> {
    let read = async {
        let mut watcher = client
            .watch()
            .prefix(prefix.to_owned())
            .start_revision(Revision(start))
            .await?;
        let mut events = Vec::new();
        while let Some(resp) = watcher.next().await {
            let resp = resp?;
            events.extend(resp.events().iter().map(event));
            if events.last().is_some_and(|e| e.revision >= end) {
                return Ok(events);
            }
        }
        anyhow::bail!("the reference watch ended before revision {end}")
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .map_err(|_| anyhow::anyhow!("the reference watch did not reach revision {end} in 60 s"))?
}

/// The lock's queue at each of `revisions`.
pub async fn queues(
    client: &Client,
    queue_prefix: &str,
    revisions: &[i64],
) -> anyhow::Result<Queues> {
    let mut out = Queues::new();
    for &rev in revisions {
        let resp = client
            .kv()
            .get(queue_prefix.to_owned())
            .prefix()
            .revision(Revision(rev))
            .timeout(Duration::from_secs(10))
            .await?;
        out.insert(
            rev,
            resp.kvs()
                .iter()
                .map(|kv| {
                    (
                        String::from_utf8_lossy(kv.key()).into_owned(),
                        kv.create_revision().get(),
                    )
                })
                .collect(),
        );
    }
    Ok(out)
}
