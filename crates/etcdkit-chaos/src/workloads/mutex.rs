//! Holders of one mutex, each on its own client and session, writing under the lock with
//! transactions fenced by the guard's compare.

use std::time::Duration;

use etcdkit::kv::Put;
use etcdkit::{Client, ErrorKind};
use etcdkit_recipes::mutex::Mutex;
use etcdkit_recipes::session::Session;

use crate::checkers::fencing::fenced_value;
use crate::history::{Clock, FencedWrite, Holding, MutexLog, Outcome};
use crate::stop::Stop;

/// Session TTL: short, so that faults do make sessions (and with them locks) lost and the
/// fencing is put to work.
pub const SESSION_TTL: Duration = Duration::from_secs(5);
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);
const WRITES_PER_HOLD: usize = 3;
const PACE: Duration = Duration::from_millis(20);
/// One hold in this many (drawn from the seeded RNG) stalls: the holder stops renewing
/// its session and, once the lease has expired, goes on writing as if it still held the
/// lock, like a process back from a long pause. Its writes must be refused by the fence.
const STALL_ONE_IN: u8 = 8;
/// How long a stalled holder waits: past the session's TTL, with room for the server to
/// notice the expiry (it checks leases every 500 ms).
const STALL: Duration = Duration::from_secs(SESSION_TTL.as_secs() + 2);

pub async fn run(
    client: Client,
    holder: usize,
    name: String,
    fenced_key: String,
    mut rng: fastrand::Rng,
    clock: Clock,
    mut stop: Stop,
) -> MutexLog {
    let mut log = MutexLog::default();
    'session: while !stop.is_stopped() {
        let session = match Session::builder(&client).ttl(SESSION_TTL).await {
            Ok(s) => s,
            Err(e) => {
                log.lock_failures.push((clock.now(), e.kind()));
                if stop.sleep(PACE * 5).await {
                    break;
                }
                continue;
            }
        };
        let mutex = Mutex::new(&session, name.clone());
        while !stop.is_stopped() {
            if session.is_lost() {
                continue 'session;
            }
            let guard = match mutex.lock().timeout(LOCK_TIMEOUT).await {
                Ok(g) => g,
                Err(e) => {
                    log.lock_failures.push((clock.now(), e.kind()));
                    if e.kind() == ErrorKind::SessionLost {
                        continue 'session;
                    }
                    if stop.sleep(PACE).await {
                        break 'session;
                    }
                    continue;
                }
            };
            let token = guard.fencing_token().get();
            let key = String::from_utf8_lossy(guard.key()).into_owned();
            let acquired = clock.now();
            let stalled = rng.u8(0..STALL_ONE_IN) == 0;
            let mut stall_note = None;
            if stalled {
                let term_before = raft_term(&client).await;
                session.keeper().release_passively();
                if stop.sleep(STALL).await {
                    break 'session;
                }
                stall_note = Some(stall_diagnosis(&client, &session, term_before).await);
            }
            for n in 0..WRITES_PER_HOLD {
                let value = fenced_value(holder, token, n);
                let invoke = clock.now();
                let txn = client
                    .kv()
                    .txn()
                    .when([guard.compare()])
                    .and_then([Put::new(fenced_key.clone(), value.clone())])
                    .await;
                let (outcome, refused) = match txn {
                    Ok(r) if r.succeeded() => (
                        Outcome::Ok {
                            revision: r.header().revision().get(),
                        },
                        false,
                    ),
                    // Answered, compare failed: nothing written, the lock is gone.
                    Ok(_) => (
                        Outcome::Failed {
                            kind: ErrorKind::Locked,
                        },
                        true,
                    ),
                    Err(e) => (Outcome::from_error(&e), false),
                };
                log.writes.push(FencedWrite {
                    holder,
                    token,
                    value,
                    lock_key: key.clone(),
                    invoke,
                    complete: clock.now(),
                    outcome,
                    refused,
                });
                if refused || stop.sleep(PACE).await {
                    break;
                }
            }
            // The holding ends, as far as this holder knows, when it starts releasing.
            log.holdings.push(Holding {
                holder,
                token,
                acquired_at: guard.acquired_at().get(),
                key,
                acquired,
                released: clock.now(),
                stalled,
                stall_note,
            });
            if let Err(e) = guard.unlock().await {
                // Released in the background by the session; the next lock copes.
                log.lock_failures.push((clock.now(), e.kind()));
            }
            if stop.sleep(PACE).await {
                break 'session;
            }
            if stalled {
                // Its lease is gone for good: a new session, as an application would.
                continue 'session;
            }
        }
    }
    log
}

/// The raft term the cluster is in, if a member answers.
async fn raft_term(client: &Client) -> Option<u64> {
    let status = client
        .maintenance()
        .status()
        .timeout(Duration::from_secs(1))
        .await;
    status.ok().map(|s| s.header().raft_term())
}

/// Whether the stalled session's lease is still alive after the stall, and whether a
/// leader was elected meanwhile: a new leader extends every lease by its TTL, which
/// explains a lease outliving the stall; the same term and a live lease would mean it was
/// renewed after `release_passively`.
async fn stall_diagnosis(client: &Client, session: &Session, term_before: Option<u64>) -> String {
    let ttl = client
        .lease()
        .time_to_live(session.lease_id())
        .timeout(Duration::from_secs(2))
        .await;
    let term_after = raft_term(client).await;
    let lease = match ttl {
        Ok(r) if r.ttl() > 0 => format!("lease alive (ttl {} s)", r.ttl()),
        // Expired on the leader's clock, but its keys go only once the revocation has
        // gone through raft: a write may still find them.
        Ok(r) if r.ttl() == 0 => String::from("lease expiring (ttl 0)"),
        Ok(_) => String::from("lease expired"),
        Err(e) => format!("lease unknown ({:?})", e.kind()),
    };
    format!("{lease}, raft term {term_before:?} -> {term_after:?}")
}
