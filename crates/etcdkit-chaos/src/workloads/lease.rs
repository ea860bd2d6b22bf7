//! A lease kept alive by the recipes' lease keeper for the whole run. A loss is recorded
//! (the lease checker decides whether it was excusable) and a new keeper started.

use std::time::Duration;

use etcdkit::Client;
use etcdkit_recipes::lease_keeper::{KeeperEvent, LeaseKeeper};
use futures_util::StreamExt;

use crate::history::{Clock, LeaseLog, LeaseLoss};
use crate::stop::Stop;

pub async fn run(client: Client, ttl: Duration, clock: Clock, mut stop: Stop) -> LeaseLog {
    let mut log = LeaseLog {
        ttl,
        ..LeaseLog::default()
    };
    while !stop.is_stopped() {
        let keeper = LeaseKeeper::new(&client, ttl);
        let mut events = keeper.events();
        loop {
            tokio::select! {
                ev = events.next() => match ev {
                    Some(KeeperEvent::KeepaliveSucceeded { .. }) => {
                        log.renewals += 1;
                        log.renewed_at.push(clock.now());
                    }
                    Some(KeeperEvent::KeepaliveEstablished { endpoint }) => {
                        log.carried_by.push((clock.now(), endpoint));
                    }
                    // Every other event goes into the loss's detail: what the keeper
                    // tried and when.
                    Some(KeeperEvent::KeepaliveFired) => {}
                    Some(other) => log.events.push((clock.now(), format!("{other:?}"))),
                    None => break,
                },
                reason = keeper.lost() => {
                    log.losses.push(LeaseLoss { at: clock.now(), reason: reason.to_string() });
                    break;
                }
                () = stop.wait() => break,
            }
        }
        if stop.is_stopped() {
            // Revoked so it does not linger; a failure here changes nothing for the run.
            let _ = tokio::time::timeout(Duration::from_secs(5), keeper.close()).await;
        }
    }
    log
}
