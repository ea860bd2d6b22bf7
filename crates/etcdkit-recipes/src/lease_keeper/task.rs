//! The keeper's background task: grant, then follow the client's keepalive handle.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use etcdkit::LeaseId;
use etcdkit::lease::{KeepAliveEvent, KeepAliveState, LostReason as ClientLost};
use tokio::time::Instant;
use tokio_stream::StreamExt;

use super::{KeeperCore, KeeperEvent, KeeperState, LeaseKeeperBuilder, LostReason, deadline};

/// The waits between two grant attempts.
const GRANT_BACKOFF: etcdkit::Backoff =
    etcdkit::Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

pub(crate) async fn run(shared: Arc<KeeperCore>, builder: LeaseKeeperBuilder) {
    let (id, confirmed) = match builder.resume {
        Some(id) => (id, None),
        None => match grant(&shared, &builder).await {
            Some(granted) => granted,
            None => return,
        },
    };
    let mut keep = shared.client.lease().keep_alive(id);
    if let Some((ttl, until)) = confirmed {
        keep = keep.confirmed(ttl, until);
    }
    if let Some(interval) = builder.interval {
        keep = keep.interval(interval);
    }
    let keep = match keep.await {
        Ok(keep) => Arc::new(keep),
        Err(e) => {
            shared.lose(LostReason::GrantFailed(Arc::new(e)));
            return;
        }
    };
    let mut events = keep.events();
    let mut last_deadline = confirmed.map(|(_, until)| until);
    shared.set_keep(Some(keep));
    loop {
        tokio::select! {
            event = events.next() => {
                let Some(event) = event else { break };
                match event {
                    KeepAliveEvent::Established { endpoint } => {
                        shared.emit(KeeperEvent::KeepaliveEstablished { endpoint });
                    }
                    KeepAliveEvent::Fired => shared.emit(KeeperEvent::KeepaliveFired),
                    KeepAliveEvent::Succeeded { ttl, deadline, .. } => {
                        last_deadline = Some(deadline);
                        shared.state.send_if_modified(|state| match state {
                            KeeperState::Granting | KeeperState::Alive { .. } => {
                                *state = KeeperState::Alive { id, ttl, deadline };
                                true
                            }
                            _ => false,
                        });
                        shared.emit(KeeperEvent::KeepaliveSucceeded { ttl });
                    }
                    KeepAliveEvent::Failed { error } => {
                        shared.emit(KeeperEvent::KeepaliveFailed { error });
                    }
                    KeepAliveEvent::Lost { reason } => {
                        shared.lose(map_lost(&shared, reason));
                        return;
                    }
                    KeepAliveEvent::Lagged { .. } => {
                        // Only possible if this task starved; the state below is current.
                        if let Some(keep) = shared.keep() {
                            let now = keep.state().borrow().clone();
                            if let KeepAliveState::Lost(reason) = now {
                                shared.lose(map_lost(&shared, reason));
                                return;
                            }
                        }
                    }
                    _ => {}
                }
            }
            () = shared.stop.notified() => break,
        }
    }
    // Released (or revoked/closed, which set the state themselves): report the expiry
    // when the last confirmed deadline passes.
    drop(events);
    let released = matches!(*shared.state.borrow(), KeeperState::Released { .. });
    if released {
        let until = match &*shared.state.borrow() {
            KeeperState::Released { deadline, .. } => Some(*deadline),
            _ => last_deadline,
        };
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
        shared.lose(LostReason::Expired);
    }
}

/// Grants the lease, retrying retryable failures; `None` when it failed for good.
async fn grant(
    shared: &KeeperCore,
    builder: &LeaseKeeperBuilder,
) -> Option<(LeaseId, Option<(Duration, Instant)>)> {
    let mut attempt: u32 = 0;
    loop {
        let sent = Instant::now();
        let mut request = shared.client.lease().grant(builder.ttl);
        if let Some(id) = builder.id {
            request = request.id(id);
        }
        match request.await {
            Ok(granted) => {
                let ttl = granted.ttl_duration();
                let until = deadline(sent, ttl);
                shared.state.send_if_modified(|state| {
                    if matches!(state, KeeperState::Granting) {
                        *state = KeeperState::Alive {
                            id: granted.id(),
                            ttl,
                            deadline: until,
                        };
                        true
                    } else {
                        false
                    }
                });
                return Some((granted.id(), Some((ttl, until))));
            }
            Err(e) if e.is_retryable() => {
                tracing::debug!(error = %e, "lease grant failed; retrying");
                shared.emit(KeeperEvent::KeepaliveFailed { error: Arc::new(e) });
                attempt = attempt.saturating_add(1);
                tokio::time::sleep(GRANT_BACKOFF.delay(attempt)).await;
            }
            Err(e) => {
                shared.lose(LostReason::GrantFailed(Arc::new(e)));
                return None;
            }
        }
    }
}

/// The keeper's reason for a loss the client's keepalive reported.
fn map_lost(shared: &KeeperCore, reason: ClientLost) -> LostReason {
    match reason {
        ClientLost::NotFound if shared.revoking.load(Ordering::SeqCst) => LostReason::Revoked,
        ClientLost::NotFound => LostReason::NotFound,
        _ => LostReason::Expired,
    }
}
