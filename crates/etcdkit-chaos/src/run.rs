//! One chaos run: start the cluster, run the workloads under the nemesis, heal, read
//! back, check, report.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use etcdkit::Client;
use etcdkit_recipes::registry::Registry;
use etcdkit_testkit::EtcdCluster;
use tokio::task::JoinHandle;

use crate::checkers::leases::Down;
use crate::checkers::{self, Anomaly};
use crate::history::{Clock, History, RegisterOp, RegistryLog};
use crate::nemesis::{self, FaultRecord, Nemesis};
use crate::workloads::{self, client};
use crate::{Args, readback, report, stop};

const MEMBERS: usize = 3;
/// How long a workload may take to wind down once told to stop: longer than any of its
/// requests' deadlines, so hitting it means something hung.
const WIND_DOWN: Duration = Duration::from_secs(30);
/// How long the nemesis may take to heal the fault under way when told to stop: a
/// restart alone may wait the test kit's 30 s startup timeout, then `/health` for 20 s.
const NEMESIS_WIND_DOWN: Duration = Duration::from_secs(90);
/// How long watchers get to deliver everything up to the end marker after healing.
const CATCH_UP: Duration = Duration::from_secs(30);
/// Search budget of the Rust linearizability check.
const LINEARIZABILITY_STEPS: u64 = 50_000_000;
/// How long porcupine may search (twice, when it finds no linearization and looks again
/// for the detail).
const PORCUPINE_TIMEOUT: Duration = Duration::from_secs(120);

/// The register's verdicts, and the anomalies they make.
struct RegisterCheck {
    summary: String,
    anomalies: Vec<Anomaly>,
}

/// Porcupine is the checker of record and the Rust search cross-checks it; without Go
/// (or when the tool fails) the Rust search judges alone, and the run says so.
fn check_register(ops: &[RegisterOp]) -> RegisterCheck {
    let ours = checkers::register::check(ops, 0, LINEARIZABILITY_STEPS);
    let fallback = |why: String| {
        println!("register: {why}; the Rust search alone judges the register");
        RegisterCheck {
            summary: format!("Rust search: {ours:?}"),
            anomalies: checkers::register::anomalies(&ours),
        }
    };
    let tool = match checkers::porcupine::Lincheck::get() {
        Ok(tool) => tool,
        Err(why) => return fallback(why.to_string()),
    };
    let checked = match tool.check(ops, 0, PORCUPINE_TIMEOUT) {
        Ok(checked) => checked,
        Err(e) => return fallback(format!("porcupine failed ({e:#})")),
    };
    let mut anomalies = checkers::register::anomalies(&checked.verdict);
    anomalies.extend(checkers::porcupine::disagreement(&checked.verdict, &ours));
    RegisterCheck {
        summary: format!(
            "porcupine: {:?} in {} ms; Rust search: {ours:?}",
            checked.verdict,
            checked.elapsed.as_millis()
        ),
        anomalies,
    }
}

/// What the summary line says.
pub struct RunOutcome {
    pub faults: usize,
    pub operations: usize,
    pub anomalies: usize,
}

/// Waits for a task, at most `limit`; a task that does not finish is aborted and becomes
/// an anomaly (a hang), a task that panicked too.
async fn join<T: Default>(
    name: String,
    handle: JoinHandle<T>,
    limit: Duration,
    anomalies: &mut Vec<Anomaly>,
) -> T {
    let abort = handle.abort_handle();
    match tokio::time::timeout(limit, handle).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            anomalies.push(Anomaly::new("runner", format!("{name} failed: {e}")));
            T::default()
        }
        Err(_) => {
            abort.abort();
            anomalies.push(Anomaly::new(
                "hang",
                format!("{name} did not wind down within {limit:?} of being stopped"),
            ));
            T::default()
        }
    }
}

fn spawn<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> JoinHandle<T> {
    tokio::spawn(f)
}

/// Spawns `n` processes of one workload, numbered from 0, each on the client
/// `connect` gives it; a failed connection stops the run there.
async fn spawn_processes<T: Send + 'static, F: Future<Output = T> + Send + 'static>(
    n: usize,
    mut connect: impl AsyncFnMut() -> anyhow::Result<Client>,
    mut process: impl FnMut(Client, usize) -> F,
) -> anyhow::Result<Vec<JoinHandle<T>>> {
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        handles.push(spawn(process(connect().await?, i)));
    }
    Ok(handles)
}

pub async fn run(args: Args) -> anyhow::Result<RunOutcome> {
    let seed = args.seed.unwrap_or_else(|| fastrand::u64(..1_000_000));
    println!(
        "chaos: seed {seed}, duration {} s, {MEMBERS} members{}",
        args.duration,
        if args.lose_majority {
            ", then lose the majority"
        } else {
            ""
        }
    );
    let mut builder = EtcdCluster::builder()
        .members(MEMBERS)
        .network_faults(!args.no_network_faults);
    if let Some(etcd) = &args.etcd {
        builder = builder.etcd_bin(etcd);
    }
    let cluster = Arc::new(builder.start().await.context("starting the etcd cluster")?);
    if let Some(v) = cluster.etcd_version() {
        println!("chaos: etcd {v} at {}", cluster.etcd_bin().display());
    }
    let endpoints = cluster.endpoints();
    let prefix = format!("chaos/{seed}/");
    let admin = client(&endpoints, 0).await?;

    let register_key = format!("{prefix}register");
    let start_rev = admin
        .kv()
        .put(register_key.clone(), "0")
        .await
        .context("initializing the register")?
        .header()
        .revision()
        .get();

    let clock = Clock::new();
    let (stop_tx, stop) = stop::channel();
    let (give_up_tx, give_up) = stop::channel();
    let (end_tx, end_rx) = tokio::sync::watch::channel(None);
    let mut offset = 0;
    let mut next_client = || {
        offset += 1;
        client(&endpoints, offset)
    };

    // The writers share one client; every other process connects its own.
    let writers_client = next_client().await?;
    let writers = spawn_processes(
        args.writers,
        async || Ok(writers_client.clone()),
        |client, id| workloads::writers::run(client, prefix.clone(), id, clock, stop.clone()),
    )
    .await?;
    let register = spawn_processes(args.register_processes, &mut next_client, |client, p| {
        workloads::register::run(client, register_key.clone(), p, clock, stop.clone())
    })
    .await?;
    let watchers = spawn_processes(args.watchers, &mut next_client, |client, w| {
        let end = end_rx.clone();
        workloads::watchers::run(
            client,
            w,
            prefix.clone(),
            start_rev,
            end,
            clock,
            give_up.clone(),
        )
    })
    .await?;
    let holders = spawn_processes(args.holders, &mut next_client, |client, h| {
        let rng = fastrand::Rng::with_seed(seed.wrapping_add(1 + h as u64));
        let (lock, fenced) = (format!("{prefix}lock"), format!("{prefix}fenced"));
        workloads::mutex::run(client, h, lock, fenced, rng, clock, stop.clone())
    })
    .await?;
    let lease_ttl = Duration::from_secs(args.lease_ttl);
    let lease = spawn(workloads::lease::run(
        next_client().await?,
        lease_ttl,
        clock,
        stop.clone(),
    ));
    let registry_ttl = Duration::from_secs(args.registry_ttl);
    let registry = Registry::builder(&next_client().await?)
        .namespace(format!("{prefix}reg"))
        .ttl(registry_ttl)
        .heartbeat(registry_ttl / 3)
        .build();
    let service_prefix = format!("{}{}/", registry.namespace(), workloads::registry::SERVICE);
    let discoverers = spawn_processes(args.discoverers, &mut next_client, |client, d| {
        workloads::registry::run_discoverer(client, d, service_prefix.clone(), clock, stop.clone())
    })
    .await?;
    let instance = spawn(workloads::registry::run_instance(
        registry.clone(),
        clock,
        stop.clone(),
    ));

    let nemesis = spawn(
        Nemesis {
            cluster: cluster.clone(),
            client: admin.clone(),
            rng: fastrand::Rng::with_seed(seed),
            clock,
            max_freeze: Duration::try_from_secs_f64(args.max_freeze)
                .context("--max-freeze must be a number of seconds")?,
        }
        .run(stop.clone()),
    );

    tokio::time::sleep(Duration::from_secs(args.duration)).await;
    stop_tx.stop();
    let end = clock.now();
    println!("chaos: stopping at {:.1} s", end.as_secs_f64());

    let mut anomalies: Vec<Anomaly> = Vec::new();
    // The nemesis finishes healing its current fault first.
    let faults: Vec<FaultRecord> =
        join("nemesis".into(), nemesis, NEMESIS_WIND_DOWN, &mut anomalies).await;
    let mut history = History {
        end,
        ..History::default()
    };
    for (i, h) in writers.into_iter().enumerate() {
        history
            .writes
            .extend(join(format!("writer {i}"), h, WIND_DOWN, &mut anomalies).await);
    }
    for (i, h) in register.into_iter().enumerate() {
        history.register.extend(
            join(
                format!("register process {i}"),
                h,
                WIND_DOWN,
                &mut anomalies,
            )
            .await,
        );
    }
    for (i, h) in holders.into_iter().enumerate() {
        let log = join(format!("mutex holder {i}"), h, WIND_DOWN, &mut anomalies).await;
        history.mutex.holdings.extend(log.holdings);
        history.mutex.writes.extend(log.writes);
        history.mutex.lock_failures.extend(log.lock_failures);
    }
    history.lease = join("lease keeper".into(), lease, WIND_DOWN, &mut anomalies).await;
    history.lease.ttl = lease_ttl;
    let instance_log = join(
        "registry instance".into(),
        instance,
        WIND_DOWN,
        &mut anomalies,
    )
    .await;
    history.registry = RegistryLog {
        ttl: registry_ttl,
        joined: instance_log.joined,
        discoverers: Vec::new(),
        events: instance_log.events,
    };
    for (i, h) in discoverers.into_iter().enumerate() {
        history
            .registry
            .discoverers
            .push(join(format!("discoverer {i}"), h, WIND_DOWN, &mut anomalies).await);
    }

    nemesis::heal_all(&cluster)
        .await
        .context("healing the cluster")?;
    // The end marker: every watcher must deliver everything up to it.
    let end_rev = admin
        .kv()
        .put(format!("{prefix}end"), "end")
        .timeout(Duration::from_secs(30))
        .await
        .context("writing the end marker")?
        .header()
        .revision()
        .get();
    end_tx.send_replace(Some(end_rev));
    let catch_up = tokio::time::sleep(CATCH_UP);
    tokio::pin!(catch_up);
    for (i, mut h) in watchers.into_iter().enumerate() {
        let log = tokio::select! {
            r = &mut h => r.ok(),
            () = &mut catch_up => None,
        };
        let log = match log {
            Some(log) => log,
            None => {
                // Too slow: told to give up, it returns what it has (and the checker
                // says what is missing).
                give_up_tx.stop();
                join(format!("watcher {i}"), h, WIND_DOWN, &mut anomalies).await
            }
        };
        history.watches.push(log);
    }
    give_up_tx.stop();

    // Reads after healing.
    let checker_client = client(&endpoints, 0).await?;
    let stored = readback::writer_keys(&checker_client, &prefix).await?;
    let reference =
        readback::reference_events(&checker_client, &prefix, start_rev, end_rev).await?;
    let fenced_key = format!("{prefix}fenced");
    let applied: Vec<checkers::fencing::Applied> = reference
        .iter()
        .filter(|e| e.put && e.key == fenced_key)
        .map(|e| (e.revision, e.value.clone()))
        .collect();
    let queue_prefix = format!("{prefix}lock/");
    let queues = readback::queues(
        &checker_client,
        &queue_prefix,
        &checkers::fencing::revisions_needed(&history.mutex, &applied),
    )
    .await?;

    let mut downs: Vec<Down> = faults
        .iter()
        .filter_map(|f| {
            f.member.map(|member| Down {
                member,
                start: f.start,
                end: f.end,
            })
        })
        .collect();

    let majority = if args.lose_majority {
        let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
        let spared = rng.usize(0..MEMBERS);
        let victims: Vec<usize> = (0..MEMBERS).filter(|&m| m != spared).collect();
        let victims = [victims[0], victims[1]];
        println!("chaos: losing the majority: killing members {victims:?}");
        let r = nemesis::majority::run(&cluster, victims, &prefix, clock).await?;
        downs.extend(r.downs.iter().copied());
        Some(r)
    } else {
        None
    };

    // The checkers.
    let writes = checkers::writes::check(&history.writes, &stored);
    anomalies.extend(writes.anomalies.iter().cloned());
    let register = check_register(&history.register);
    anomalies.extend(register.anomalies.iter().cloned());
    anomalies.extend(checkers::watches::check_reference(
        &reference,
        &history.writes,
        start_rev,
    ));
    anomalies.extend(checkers::watches::check(
        &history.watches,
        &reference,
        end_rev,
    ));
    let fencing = checkers::fencing::check(&history.mutex, &applied, &queues);
    anomalies.extend(fencing.anomalies.iter().cloned());
    anomalies.extend(checkers::leases::check(&history.lease, &downs, MEMBERS));
    anomalies.extend(checkers::registry::check(&history.registry, history.end));
    if let Some(m) = &majority {
        anomalies.extend(m.anomalies.iter().cloned());
    }

    // Figures.
    println!("faults by kind: {:?}", report::faults_by_kind(&faults));
    if args.verbose || !anomalies.is_empty() {
        for f in &faults {
            println!(
                "  {:>7.3} s .. {:>7.3} s  {:?} on member {:?} (leader before: {:?})",
                f.start.as_secs_f64(),
                f.end.as_secs_f64(),
                f.fault,
                f.member,
                f.leader
            );
        }
    }
    for f in faults.iter().filter(|f| f.error.is_some()) {
        println!(
            "  fault {:?} at {:.1} s did not go as planned: {}",
            f.fault,
            f.start.as_secs_f64(),
            f.error.as_deref().unwrap_or_default()
        );
    }
    println!(
        "writes: {} (unknown outcome: {} applied, {} not applied)",
        report::outcome_counts(history.writes.iter().map(|w| &w.outcome)),
        writes.unknown_applied,
        writes.unknown_not_applied
    );
    let reg_unknown = history
        .register
        .iter()
        .filter(|o| o.result == crate::history::RegisterResult::Unknown)
        .count();
    println!(
        "register: {} operations ({reg_unknown} outcome unknown), {}",
        history.register.len(),
        register.summary
    );
    println!(
        "watches: {} watchers, {} reference events from revision {start_rev} to {end_rev}, \
         errors {:?}",
        history.watches.len(),
        reference.len(),
        history
            .watches
            .iter()
            .map(|w| w.errors.len())
            .collect::<Vec<_>>()
    );
    println!(
        "mutex: {} grants ({} stalled past the session TTL), {} fenced writes accepted, \
         {} refused (lock lost), {} local overlaps, {} lock/unlock failures; fenced \
         writes: {}",
        fencing.grants,
        fencing.stalled,
        fencing.accepted_writes,
        fencing.refused_writes,
        fencing.local_overlaps,
        history.mutex.lock_failures.len(),
        report::outcome_counts(
            history
                .mutex
                .writes
                .iter()
                .filter(|w| !w.refused)
                .map(|w| &w.outcome)
        )
    );
    let stalled_tokens: Vec<i64> = history
        .mutex
        .holdings
        .iter()
        .filter(|h| h.stalled)
        .map(|h| h.token)
        .collect();
    println!(
        "  writes of stalled holders: {} ({} refused by the fence); lock failures {:?}",
        report::outcome_counts(
            history
                .mutex
                .writes
                .iter()
                .filter(|w| stalled_tokens.contains(&w.token) && !w.refused)
                .map(|w| &w.outcome)
        ),
        history
            .mutex
            .writes
            .iter()
            .filter(|w| stalled_tokens.contains(&w.token) && w.refused)
            .count(),
        report::count_kinds(history.mutex.lock_failures.iter().map(|(_, k)| *k))
    );
    for h in history.mutex.holdings.iter().filter(|h| h.stalled) {
        let writes: Vec<String> = history
            .mutex
            .writes
            .iter()
            .filter(|w| w.token == h.token)
            .map(|w| {
                if w.refused {
                    "refused".into()
                } else {
                    format!("{:?}", w.outcome)
                }
            })
            .collect();
        println!(
            "  stalled holder {} token {} at {:.1} s: {}; writes {writes:?}",
            h.holder,
            h.token,
            h.acquired.as_secs_f64(),
            h.stall_note.as_deref().unwrap_or("-")
        );
    }
    println!(
        "lease: TTL {:?}, {} renewals, {} losses",
        history.lease.ttl,
        history.lease.renewals,
        history.lease.losses.len()
    );
    println!(
        "registry: TTL {:?}, joined at {:?}, longest absence per discoverer {:?}",
        history.registry.ttl,
        history.registry.joined,
        checkers::registry::longest_absences(&history.registry, history.end)
            .iter()
            .map(|(d, gap, _)| (*d, *gap))
            .collect::<Vec<_>>()
    );
    let (gaps, never) = report::availability(&faults, &history.writes);
    let within = gaps
        .iter()
        .filter(|g| **g <= Duration::from_millis(1500))
        .count();
    println!(
        "write availability after a fault: {}; within 1.5 s after {within} of {} faults{}",
        report::format_spread(report::spread(&gaps)),
        faults.len(),
        if never > 0 {
            format!(" ({never} with no write after them)")
        } else {
            String::new()
        }
    );
    let (by_fault, _) = report::availability_by_fault(&faults, &history.writes);
    for kind in report::faults_by_kind(&faults).keys() {
        let gaps: Vec<Duration> = by_fault
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, gap)| *gap)
            .collect();
        println!(
            "  after {kind}: {}",
            report::format_spread(report::spread(&gaps))
        );
    }
    let lags = report::watch_lag(&history);
    let all: Vec<Duration> = lags.iter().map(|(_, lag)| *lag).collect();
    println!(
        "watch delivery lag: {}; of writes acknowledged during a fault: {}",
        report::format_spread(report::spread(&all)),
        report::format_spread(report::spread(&report::during_faults(&lags, &faults)))
    );
    println!(
        "watches on a member when it went silent (frozen or blackholed): {}",
        report::format_after_silences(&report::watches_after_silences(
            &history, &faults, &endpoints
        ))
    );
    println!(
        "lease keepalive stream on a member when it went silent: {}",
        report::format_after_silences(&report::leases_after_silences(
            &history.lease,
            &faults,
            &endpoints
        ))
    );
    if let Some(m) = &majority {
        println!(
            "lose majority: {} requests, failures {:?}",
            m.operations,
            m.failures
                .iter()
                .map(|(op, kind, took)| format!("{op} {kind:?} in {:.2} s", took.as_secs_f64()))
                .collect::<Vec<_>>()
        );
    }
    for a in &anomalies {
        println!("{a}");
    }
    if let Err(e) = cluster.shutdown(Duration::from_secs(5)).await {
        eprintln!("chaos: shutting the cluster down: {e}");
    }
    Ok(RunOutcome {
        faults: faults.len(),
        operations: history.operations() + majority.map_or(0, |m| m.operations),
        anomalies: anomalies.len(),
    })
}
