//! The write load of `check perf` and `check datascale`: one task per client puts values
//! of zero bytes under random keys, handed out by a pacer over a channel as deep as there
//! are clients, so when the cluster falls behind the pacer waits and the numbers show it.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use etcdkit::Client;
use tokio::sync::{Mutex, mpsc};
use tokio::time::Instant;

use crate::error::etcd_message;

/// How many puts, how fast, of what size.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Puts per second over all clients (`None`: as fast as they go).
    pub rate: Option<u64>,
    /// Stop handing out keys after this long (`None`: when `total` are out).
    pub duration: Option<Duration>,
    /// Stop after this many puts (`None`: when `duration` is over).
    pub total: Option<u64>,
    /// Bytes after the prefix in each key.
    pub key_size: usize,
    pub value_size: usize,
}

/// Each put's latency or error message, and how long the whole run took.
pub type Results = (Vec<Result<Duration, String>>, Duration);

/// Runs `plan` from one task per client; returns when every put has been answered (each
/// is bounded by the client's request timeout).
pub async fn run(clients: &[Client], prefix: &Bytes, plan: Plan) -> Results {
    let (tx, rx) = mpsc::channel::<Bytes>(clients.len().max(1));
    let rx = Arc::new(Mutex::new(rx));
    let value = Bytes::from(vec![0u8; plan.value_size]);
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for client in clients {
        let (client, rx, value) = (client.clone(), rx.clone(), value.clone());
        workers.spawn(async move {
            let mut results = Vec::new();
            loop {
                let key = rx.lock().await.recv().await;
                let Some(key) = key else {
                    return results;
                };
                let sent = Instant::now();
                let put = client.kv().put(key, value.clone()).await;
                results.push(put.map(|_| sent.elapsed()).map_err(|e| etcd_message(&e)));
            }
        });
    }
    let deadline = plan.duration.map(|d| start + d);
    let interval = plan
        .rate
        .map(|rate| Duration::from_secs_f64(1.0 / rate.max(1) as f64));
    let mut rng = fastrand::Rng::new();
    let mut next = start;
    let mut sent = 0u64;
    loop {
        if plan.total.is_some_and(|total| sent >= total) || deadline.is_some_and(|d| next >= d) {
            break;
        }
        if let Some(interval) = interval {
            tokio::time::sleep_until(next).await;
            next += interval;
        }
        let send = tx.send(random_key(prefix, plan.key_size, &mut rng));
        let delivered = match deadline {
            Some(deadline) => matches!(tokio::time::timeout_at(deadline, send).await, Ok(Ok(()))),
            None => send.await.is_ok(),
        };
        if !delivered {
            break;
        }
        sent += 1;
    }
    drop(tx);
    let mut results = Vec::new();
    while let Some(joined) = workers.join_next().await {
        if let Ok(mut worker) = joined {
            results.append(&mut worker);
        }
    }
    (results, start.elapsed())
}

/// The prefix, then `size` bytes: a random non-negative number as a zigzag varint (Go's
/// `binary.PutVarint`, as etcdctl makes its keys), the rest zero.
fn random_key(prefix: &Bytes, size: usize, rng: &mut fastrand::Rng) -> Bytes {
    let mut key = BytesMut::with_capacity(prefix.len() + size);
    key.put_slice(prefix);
    let n = rng.i64(0..i64::MAX);
    let mut zigzag = ((n << 1) ^ (n >> 63)) as u64;
    let mut varint = Vec::with_capacity(10);
    while zigzag >= 0x80 {
        varint.push((zigzag as u8) | 0x80);
        zigzag >>= 7;
    }
    varint.push(zigzag as u8);
    varint.truncate(size);
    key.put_slice(&varint);
    key.put_bytes(0, size - varint.len());
    key.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_exactly_the_asked_bytes() {
        let mut rng = fastrand::Rng::with_seed(7);
        for size in [256, 512, 3] {
            let key = random_key(&Bytes::from_static(b"/p/"), size, &mut rng);
            assert_eq!(key.len(), 3 + size);
            assert!(key.starts_with(b"/p/"));
        }
    }
}
