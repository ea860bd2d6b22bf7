//! A compare-and-swap register on one key: each process reads it (a linearizable get)
//! and then tries to swap the value it read for a new unique one with a transaction
//! comparing the value. Values are unique, so comparing the value is comparing the
//! version that was read (no ABA).

use std::time::Duration;

use etcdkit::Client;
use etcdkit::kv::{Compare, CompareOp, Put};

use crate::history::{Clock, RegisterCall, RegisterOp, RegisterResult};
use crate::stop::Stop;

const PACE: Duration = Duration::from_millis(20);

fn parse(v: &[u8]) -> Option<u64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

pub async fn run(
    client: Client,
    key: String,
    process: usize,
    clock: Clock,
    mut stop: Stop,
) -> Vec<RegisterOp> {
    let mut ops = Vec::new();
    // Unique across processes: the process in the high digits.
    let mut next = (process as u64 + 1) * 1_000_000_000;
    while !stop.is_stopped() {
        let invoke = clock.now();
        let read = client.kv().get(key.clone()).await;
        let result = match &read {
            Ok(r) => match r.first().and_then(|kv| parse(kv.value())) {
                Some(v) => RegisterResult::Read(v),
                // The key is written before the run: a missing or garbled value can only
                // be a fault, and the checker must see it as a wrong read.
                None => RegisterResult::Read(u64::MAX),
            },
            Err(e) if e.is_outcome_unknown() => RegisterResult::Unknown,
            Err(_) => RegisterResult::Failed,
        };
        ops.push(RegisterOp {
            process,
            call: RegisterCall::Read,
            result,
            invoke,
            complete: clock.now(),
        });
        if let RegisterResult::Read(from) = result
            && from != u64::MAX
        {
            next += 1;
            let to = next;
            let invoke = clock.now();
            let txn = client
                .kv()
                .txn()
                .when([Compare::value(
                    key.clone(),
                    CompareOp::Equal,
                    from.to_string(),
                )])
                .and_then([Put::new(key.clone(), to.to_string())])
                .await;
            let result = match txn {
                Ok(r) => RegisterResult::Cas(r.succeeded()),
                Err(e) if e.is_outcome_unknown() => RegisterResult::Unknown,
                Err(_) => RegisterResult::Failed,
            };
            ops.push(RegisterOp {
                process,
                call: RegisterCall::Cas { from, to },
                result,
                invoke,
                complete: clock.now(),
            });
        }
        if stop.sleep(PACE).await {
            break;
        }
    }
    ops
}
