//! What the workloads recorded: every operation with its outcome and its invoke and
//! complete times. Times are offsets from the start of the run, so records of different
//! tasks (and the nemesis's fault log) share one clock.

use std::time::Duration;

use etcdkit::{Error, ErrorKind};
use tokio::time::Instant;

/// The run's clock: offsets since it started.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            start: Instant::now(),
        }
    }

    /// Time since the run started.
    pub fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged by etcd at this revision.
    Ok { revision: i64 },
    /// Certainly not applied.
    Failed { kind: ErrorKind },
    /// May or may not have been applied (the client said so).
    Unknown { kind: ErrorKind },
}

impl Outcome {
    /// The outcome of a failed call, told apart as the client tells it apart.
    pub fn from_error(e: &Error) -> Outcome {
        if e.is_outcome_unknown() {
            Outcome::Unknown { kind: e.kind() }
        } else {
            Outcome::Failed { kind: e.kind() }
        }
    }
}

/// A put of a key that nobody else ever writes.
#[derive(Debug, Clone)]
pub struct WriteOp {
    pub key: String,
    pub value: String,
    pub invoke: Duration,
    pub complete: Duration,
    pub outcome: Outcome,
}

/// What a register operation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterCall {
    /// A linearizable read.
    Read,
    /// Set the register to `to` if it holds `from`.
    Cas { from: u64, to: u64 },
}

/// What a register operation returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterResult {
    /// A read saw this value.
    Read(u64),
    /// A compare-and-swap applied (`true`) or found another value (`false`).
    Cas(bool),
    /// Certainly not applied: the operation has no effect and no result.
    Failed,
    /// May or may not have applied; nothing was returned.
    Unknown,
}

/// One operation on the compare-and-swap register.
#[derive(Debug, Clone)]
pub struct RegisterOp {
    pub process: usize,
    pub call: RegisterCall,
    pub result: RegisterResult,
    pub invoke: Duration,
    pub complete: Duration,
}

/// One response a watcher delivered: its events, all of one or more whole revisions.
#[derive(Debug, Clone)]
pub struct WatchDelivery {
    pub received: Duration,
    /// The endpoint carrying the watch when it was delivered.
    pub endpoint: Option<String>,
    pub events: Vec<WatchEvent>,
}

/// One watch event, reduced to what the reference read can be compared on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchEvent {
    pub revision: i64,
    pub put: bool,
    pub key: String,
    pub value: String,
}

/// Everything one watcher saw.
#[derive(Debug, Clone, Default)]
pub struct WatchLog {
    pub watcher: usize,
    pub deliveries: Vec<WatchDelivery>,
    /// Errors that ended the watch (it is then opened again from the next revision).
    pub errors: Vec<(Duration, ErrorKind)>,
}

/// One time a mutex holder held the lock.
#[derive(Debug, Clone)]
pub struct Holding {
    pub holder: usize,
    pub token: i64,
    /// The revision at which the guard saw its key first in the queue.
    pub acquired_at: i64,
    pub key: String,
    pub acquired: Duration,
    pub released: Duration,
    /// The holder stalled on purpose (stopped renewing its session until it expired)
    /// before its writes: they must all have been refused.
    pub stalled: bool,
    /// For a stall: whether the lease outlived it, and the raft terms around it.
    pub stall_note: Option<String>,
}

/// A write fenced by a guard's compare.
#[derive(Debug, Clone)]
pub struct FencedWrite {
    pub holder: usize,
    pub token: i64,
    /// The value put (unique: it names the holder, the token and the write).
    pub value: String,
    pub lock_key: String,
    pub invoke: Duration,
    pub complete: Duration,
    /// `Ok` only when the transaction succeeded (the compare held and the put applied).
    pub outcome: Outcome,
    /// The transaction answered, but the compare failed: the lock had been lost.
    pub refused: bool,
}

/// What the mutex workload recorded.
#[derive(Debug, Clone, Default)]
pub struct MutexLog {
    pub holdings: Vec<Holding>,
    pub writes: Vec<FencedWrite>,
    /// Lock attempts that failed, by kind.
    pub lock_failures: Vec<(Duration, ErrorKind)>,
}

/// A lease lost, as the lease keeper reported it.
#[derive(Debug, Clone)]
pub struct LeaseLoss {
    pub at: Duration,
    pub reason: String,
}

/// What the lease keeper workload recorded.
#[derive(Debug, Clone, Default)]
pub struct LeaseLog {
    pub ttl: Duration,
    pub losses: Vec<LeaseLoss>,
    pub renewals: u64,
    /// When each renewal was answered.
    pub renewed_at: Vec<Duration>,
    /// When the keepalive stream was (re-)established, and on which endpoint.
    pub carried_by: Vec<(Duration, String)>,
    /// The keeper's events other than renewals, with their times.
    pub events: Vec<(Duration, String)>,
}

/// When a discoverer saw the registry instance appear or disappear.
#[derive(Debug, Clone, Default)]
pub struct DiscoveryLog {
    pub discoverer: usize,
    /// `(time, present)`, one entry per change.
    pub changes: Vec<(Duration, bool)>,
}

/// What the registry workload recorded.
#[derive(Debug, Clone, Default)]
pub struct RegistryLog {
    pub ttl: Duration,
    /// When the instance was first written (discoverers are judged from then on).
    pub joined: Option<Duration>,
    pub discoverers: Vec<DiscoveryLog>,
    /// Registration events, for the report.
    pub events: Vec<(Duration, String)>,
}

/// The whole recorded history of a run.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub writes: Vec<WriteOp>,
    pub register: Vec<RegisterOp>,
    pub watches: Vec<WatchLog>,
    pub mutex: MutexLog,
    pub lease: LeaseLog,
    pub registry: RegistryLog,
    /// When the run stopped injecting faults and the workloads were told to stop.
    pub end: Duration,
}

impl History {
    /// Operations recorded, of every workload.
    pub fn operations(&self) -> usize {
        self.writes.len()
            + self.register.len()
            + self
                .watches
                .iter()
                .map(|w| w.deliveries.len())
                .sum::<usize>()
            + self.mutex.holdings.len()
            + self.mutex.writes.len()
            + self.mutex.lock_failures.len()
            + self.lease.renewals as usize
    }
}
