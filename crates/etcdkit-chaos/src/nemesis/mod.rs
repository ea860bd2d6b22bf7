//! The nemesis: a seeded schedule of faults, one at a time, each healed before the next.
//!
//! Every fault is a [`Fault`] value: drawing one and injecting-and-healing it are the
//! only places that know the kinds. Process faults (kill, kill the leader, freeze,
//! restart) work on any cluster; network faults (partition from the peers, isolation
//! from the clients, blackhole, latency) need one started behind the test kit's proxies.

mod leader;
pub mod majority;

use std::sync::Arc;
use std::time::Duration;

use etcdkit::Client;
use etcdkit_testkit::EtcdCluster;

use crate::history::Clock;
use crate::stop::Stop;

/// Longest wait for a healed member to answer `/health` again.
const HEAL_TIMEOUT: Duration = Duration::from_secs(20);

/// One fault, drawn before it is injected (the member of `KillLeader` is found when it
/// is injected).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL a member, start it again after `down_for`.
    Kill { member: usize, down_for: Duration },
    /// SIGKILL the current leader, start it again after `down_for`.
    KillLeader { down_for: Duration },
    /// SIGSTOP a member for `frozen_for`, then SIGCONT.
    Freeze { member: usize, frozen_for: Duration },
    /// Kill and start again at once (a crash-restart).
    Restart { member: usize },
    /// Cut a member off from its peers (both directions) for `lasting`; clients still
    /// reach it, and it has no leader to serve them with.
    Partition { member: usize, lasting: Duration },
    /// Refuse clients' connections to a member for `lasting`; its peers still reach it.
    IsolateFromClients { member: usize, lasting: Duration },
    /// Let nothing through to or from a member (clients and peers) for `lasting`, with
    /// its connections left open: silence, not refusal.
    Blackhole { member: usize, lasting: Duration },
    /// Delay everything to and from a member by `latency` plus up to `jitter`, for
    /// `lasting`.
    Latency {
        member: usize,
        latency: Duration,
        jitter: Duration,
        lasting: Duration,
    },
}

impl Fault {
    /// The kind's name, for the figures.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Kill { .. } => "kill",
            Fault::KillLeader { .. } => "kill-leader",
            Fault::Freeze { .. } => "freeze",
            Fault::Restart { .. } => "restart",
            Fault::Partition { .. } => "partition",
            Fault::IsolateFromClients { .. } => "isolate-from-clients",
            Fault::Blackhole { .. } => "blackhole",
            Fault::Latency { .. } => "latency",
        }
    }

    /// The member a fault is drawn for (`None` for `KillLeader`, found when injected).
    #[cfg(test)]
    pub fn member(&self) -> Option<usize> {
        match *self {
            Fault::KillLeader { .. } => None,
            Fault::Kill { member, .. }
            | Fault::Freeze { member, .. }
            | Fault::Restart { member }
            | Fault::Partition { member, .. }
            | Fault::IsolateFromClients { member, .. }
            | Fault::Blackhole { member, .. }
            | Fault::Latency { member, .. } => Some(member),
        }
    }

    /// Draws the next fault from `rng`; a freeze, partition or blackhole lasts at most
    /// `max_freeze`; network faults only when `network` (a proxied cluster).
    pub fn draw(
        rng: &mut fastrand::Rng,
        members: usize,
        max_freeze: Duration,
        network: bool,
    ) -> Fault {
        let member = rng.usize(0..members);
        let between =
            |rng: &mut fastrand::Rng, lo: u64, hi: u64| Duration::from_millis(rng.u64(lo..=hi));
        let longest = (max_freeze.as_millis() as u64).max(500);
        let kinds = if network { 8 } else { 4 };
        match rng.u8(0..kinds) {
            0 => Fault::Kill {
                member,
                down_for: between(rng, 300, 2000),
            },
            1 => Fault::KillLeader {
                down_for: between(rng, 300, 2000),
            },
            // By default frozen for less than the shortest lease TTL of the run (5 s): a
            // lease must survive it by renewing through the other members.
            2 => Fault::Freeze {
                member,
                frozen_for: between(rng, 500, (max_freeze.as_millis() as u64).max(500)),
            },
            3 => Fault::Restart { member },
            4 => Fault::Partition {
                member,
                lasting: between(rng, 500, longest),
            },
            5 => Fault::IsolateFromClients {
                member,
                lasting: between(rng, 500, 3000),
            },
            6 => Fault::Blackhole {
                member,
                lasting: between(rng, 500, longest),
            },
            _ => Fault::Latency {
                member,
                latency: between(rng, 20, 200),
                jitter: between(rng, 0, 50),
                lasting: between(rng, 1000, 4000),
            },
        }
    }
}

/// A fault as it happened.
#[derive(Debug, Clone)]
pub struct FaultRecord {
    pub fault: Fault,
    /// The member it hit (for `KillLeader`, the leader found; `None` if none was found
    /// and nothing was done).
    pub member: Option<usize>,
    /// When the member went down.
    pub start: Duration,
    /// When the member was healthy again.
    pub end: Duration,
    /// What went wrong injecting or healing it, if anything.
    pub error: Option<String>,
    /// The leader just before the fault, if it could be found.
    pub leader: Option<usize>,
}

pub struct Nemesis {
    pub cluster: Arc<EtcdCluster>,
    /// A client of all endpoints, to find the leader.
    pub client: Client,
    pub rng: fastrand::Rng,
    pub clock: Clock,
    /// The longest freeze.
    pub max_freeze: Duration,
}

impl Nemesis {
    /// Injects a fault every 1–3 s (from one injection to the next, or right after the
    /// previous fault healed if that took longer) until stopped.
    pub async fn run(mut self, mut stop: Stop) -> Vec<FaultRecord> {
        let mut records = Vec::new();
        // Let the workloads get going before the first fault.
        if stop.sleep(Duration::from_secs(1)).await {
            return records;
        }
        while !stop.is_stopped() {
            let interval = Duration::from_millis(self.rng.u64(1000..=3000));
            let started = self.clock.now();
            let fault = Fault::draw(
                &mut self.rng,
                self.cluster.len(),
                self.max_freeze,
                self.cluster.has_network_faults(),
            );
            let record = self.inject_and_heal(fault).await;
            // A fault that did not heal must not leave a member down under the next one
            // (that could take the majority away).
            if record.error.is_some()
                && let Err(e) = heal_all(&self.cluster).await
            {
                eprintln!("chaos: nemesis could not heal the cluster: {e:#}");
            }
            records.push(record);
            let elapsed = self.clock.now().saturating_sub(started);
            if stop.sleep(interval.saturating_sub(elapsed)).await {
                break;
            }
        }
        records
    }

    async fn inject_and_heal(&self, fault: Fault) -> FaultRecord {
        let cluster = &self.cluster;
        // Looked up for every fault so the report can tell leader faults from follower
        // faults; a failed lookup changes nothing else.
        let leader = leader::find(&self.client, cluster).await.ok();
        let start = self.clock.now();
        let mut record = FaultRecord {
            fault,
            member: None,
            start,
            end: start,
            error: None,
            leader,
        };
        let result: Result<(), String> = async {
            match fault {
                Fault::Kill { member, down_for } => {
                    record.member = Some(member);
                    kill_and_restart(cluster, member, down_for).await
                }
                Fault::KillLeader { down_for } => {
                    let member = match leader {
                        Some(m) => m,
                        None => leader::find(&self.client, cluster).await?,
                    };
                    record.member = Some(member);
                    kill_and_restart(cluster, member, down_for).await
                }
                Fault::Freeze { member, frozen_for } => {
                    record.member = Some(member);
                    cluster.stop(member).await.map_err(|e| e.to_string())?;
                    tokio::time::sleep(frozen_for).await;
                    cluster.resume(member).map_err(|e| e.to_string())?;
                    wait_healed(cluster, member).await
                }
                Fault::Restart { member } => {
                    record.member = Some(member);
                    cluster.restart(member).await.map_err(|e| e.to_string())
                }
                Fault::Partition { member, lasting }
                | Fault::IsolateFromClients { member, lasting }
                | Fault::Blackhole { member, lasting }
                | Fault::Latency {
                    member, lasting, ..
                } => {
                    record.member = Some(member);
                    let injected = match fault {
                        Fault::Partition { .. } => cluster.partition(member),
                        Fault::IsolateFromClients { .. } => cluster.isolate_from_clients(member),
                        Fault::Blackhole { .. } => cluster.blackhole(member),
                        Fault::Latency {
                            latency, jitter, ..
                        } => cluster.delay(member, latency, jitter),
                        _ => Ok(()),
                    };
                    injected.map_err(|e| e.to_string())?;
                    tokio::time::sleep(lasting).await;
                    cluster.heal_member(member).map_err(|e| e.to_string())?;
                    wait_healed(cluster, member).await
                }
            }
        }
        .await;
        record.end = self.clock.now();
        record.error = result.err();
        record
    }
}

/// Kills a member, leaves it down for `down_for`, then starts it again and waits until
/// it is healthy: how both kill faults (of a named member and of the leader) play out.
async fn kill_and_restart(
    cluster: &EtcdCluster,
    member: usize,
    down_for: Duration,
) -> Result<(), String> {
    cluster.kill(member).map_err(|e| e.to_string())?;
    tokio::time::sleep(down_for).await;
    cluster
        .start_member(member)
        .await
        .map_err(|e| e.to_string())?;
    wait_healed(cluster, member).await
}

/// Waits until a member a fault touched answers healthy again: the end of every fault
/// that does not restart the member through the test kit (which waits by itself).
async fn wait_healed(cluster: &EtcdCluster, member: usize) -> Result<(), String> {
    cluster
        .wait_healthy(member, HEAL_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}

/// Brings every member back (running, thawed, healthy): after the run, and after an
/// injection that failed half-way.
pub async fn heal_all(cluster: &EtcdCluster) -> anyhow::Result<()> {
    if cluster.has_network_faults() {
        cluster.heal()?;
    }
    for i in 0..cluster.len() {
        if cluster.is_running(i) {
            cluster.resume(i)?;
        } else {
            cluster.start_member(i).await?;
        }
    }
    cluster.wait_all_healthy(HEAL_TIMEOUT * 2).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let draw = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            (0..50)
                .map(|_| Fault::draw(&mut rng, 3, Duration::from_secs(3), true))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
    }

    #[test]
    fn every_kind_is_drawn_and_members_stay_in_range() {
        let mut rng = fastrand::Rng::with_seed(1);
        let faults: Vec<Fault> = (0..200)
            .map(|_| Fault::draw(&mut rng, 3, Duration::from_secs(3), true))
            .collect();
        for kind in [
            "kill",
            "kill-leader",
            "freeze",
            "restart",
            "partition",
            "isolate-from-clients",
            "blackhole",
            "latency",
        ] {
            assert!(
                faults.iter().any(|f| f.kind() == kind),
                "{kind} never drawn"
            );
        }
        assert!(faults.iter().all(|f| f.member().is_none_or(|m| m < 3)));
        let mut rng = fastrand::Rng::with_seed(1);
        assert!(
            (0..200)
                .map(|_| Fault::draw(&mut rng, 3, Duration::from_secs(3), false))
                .all(|f| matches!(
                    f,
                    Fault::Kill { .. }
                        | Fault::KillLeader { .. }
                        | Fault::Freeze { .. }
                        | Fault::Restart { .. }
                )),
            "a network fault drawn for a cluster without proxies"
        );
    }
}
