//! Writers of unique keys: each put writes a key nobody ever writes again, so the read
//! after healing can tell exactly which puts are there and at which revision.

use std::time::Duration;

use etcdkit::Client;

use crate::history::{Clock, Outcome, WriteOp};
use crate::stop::Stop;

/// Pause between puts: keeps the history (and every watcher's share of it) small enough
/// to check in seconds while still writing every few milliseconds.
const PACE: Duration = Duration::from_millis(10);

pub async fn run(
    client: Client,
    prefix: String,
    id: usize,
    clock: Clock,
    mut stop: Stop,
) -> Vec<WriteOp> {
    let mut ops = Vec::new();
    let mut n = 0u64;
    while !stop.is_stopped() {
        let key = format!("{prefix}w/{id:02}/{n:08}");
        let value = format!("{id}-{n}");
        n += 1;
        let invoke = clock.now();
        let outcome = match client.kv().put(key.clone(), value.clone()).await {
            Ok(r) => Outcome::Ok {
                revision: r.header().revision().get(),
            },
            Err(e) => Outcome::from_error(&e),
        };
        ops.push(WriteOp {
            key,
            value,
            invoke,
            complete: clock.now(),
            outcome,
        });
        if stop.sleep(PACE).await {
            break;
        }
    }
    ops
}
