//! The run: generate an operation, send it to both sides at once, compare, repeat.

use std::collections::BTreeMap;
use std::fmt;

use crate::diff;
use crate::exec::Side;
use crate::generate::{Generator, Observed};
use crate::op::Op;
use crate::outcome::Outcome;

/// What a run does.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// The generator's seed.
    pub seed: u64,
    /// How many operations.
    pub ops: usize,
    /// Whether leases may be left to expire (each such step waits a second or two).
    pub expiry: bool,
    /// Prints each step (index, operation, the reference's result) to stderr: the
    /// history that led to a difference, for writing a regression test from it.
    pub trace: bool,
}

/// The first difference a run found, or a step that failed on both sides in a way that
/// says the harness itself is broken.
#[derive(Debug)]
pub struct Divergence {
    /// The run's seed.
    pub seed: u64,
    /// The index of the operation (0-based).
    pub index: usize,
    /// The operation.
    pub op: Op,
    /// The reference's normalized result.
    pub reference: Outcome,
    /// The candidate's normalized result.
    pub candidate: Outcome,
    /// Why it is reported.
    pub why: &'static str,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} at op {} of seed {} (replay with ETCDKIT_DIFF_SEED={} ETCDKIT_DIFF_OPS={})",
            self.why,
            self.index,
            self.seed,
            self.seed,
            self.index + 1
        )?;
        writeln!(f, "op: {:#?}", self.op)?;
        writeln!(f, "reference (-) vs candidate (+):")?;
        let a = format!("{:#?}", self.reference);
        let b = format!("{:#?}", self.candidate);
        f.write_str(&diff::lines(&a, &b))
    }
}

impl std::error::Error for Divergence {}

/// What a run that found no difference did: how many steps ended how, per operation.
#[derive(Debug, Default)]
pub struct Summary {
    /// Steps run.
    pub ops: usize,
    /// The store's revision at the end.
    pub revision: i64,
    /// Counts by "operation: result" (`"Put: ok"`, `"Range: Compacted"`, ...).
    pub counts: BTreeMap<String, usize>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ops agreed; final revision {}",
            self.ops, self.revision
        )?;
        for (what, n) in &self.counts {
            writeln!(f, "  {what}: {n}")?;
        }
        Ok(())
    }
}

/// Runs `config.ops` operations against both sides and stops at the first difference.
///
/// # Errors
///
/// The first [`Divergence`].
pub async fn run(
    config: Config,
    reference: &Side,
    candidate: &Side,
) -> Result<Summary, Box<Divergence>> {
    let mut generator = Generator::new(config.seed);
    let mut observed = Observed::default();
    let mut summary = Summary::default();
    for index in 0..config.ops {
        generator.observe(observed);
        let op = generator.next_op(config.expiry);
        let (a, b) = tokio::join!(reference.run(&op), candidate.run(&op));
        if config.trace {
            eprintln!("#{index} {op:?}\n  => {a:?}");
        }
        let why = if is_endpoint_failure(&a) || is_endpoint_failure(&b) {
            // Checked first: the messages name the endpoint, so they differ anyway.
            Some("an endpoint stopped answering (crashed or hung)")
        } else if a != b {
            Some("the results differ")
        } else if is_harness_failure(&a) {
            Some("the harness failed on both sides")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Box::new(Divergence {
                seed: config.seed,
                index,
                op,
                reference: a,
                candidate: b,
                why,
            }));
        }
        if let Some(revision) = a.revision() {
            observed.revision = revision;
        }
        if let (Op::Compact { revision, .. }, Outcome::Compacted { .. }) = (&op, &a) {
            observed.compacted = *revision;
        }
        *summary.counts.entry(label(&op, &a)).or_default() += 1;
        summary.ops += 1;
    }
    summary.revision = observed.revision;
    Ok(summary)
}

/// A failure that says the endpoint is gone or stuck rather than that it refused the
/// request: no server answers these on purpose to a well-formed request to a healthy
/// single member.
fn is_endpoint_failure(o: &Outcome) -> bool {
    let f = match o {
        Outcome::Failed(f) => f,
        Outcome::Watched { error: Some(f), .. } => f,
        _ => return false,
    };
    f.outcome_unknown
        || matches!(
            f.kind.as_str(),
            "Unavailable" | "Timeout" | "OutcomeUnknown" | "Io" | "StreamReopensExhausted"
        )
}

fn is_harness_failure(o: &Outcome) -> bool {
    match o {
        Outcome::Failed(f) => f.kind == "Harness",
        Outcome::Watched { error: Some(f), .. } => f.kind == "Harness",
        _ => false,
    }
}

/// `"Put: ok"`, `"Range: FutureRevision"`, `"Txn: ok (failure branch)"`, ...
fn label(op: &Op, o: &Outcome) -> String {
    let name = match op {
        Op::Put(_) => "Put",
        Op::Range(_) => "Range",
        Op::Delete(_) => "Delete",
        Op::Txn(_) => "Txn",
        Op::Compact { .. } => "Compact",
        Op::Grant { .. } => "Grant",
        Op::Revoke { .. } => "Revoke",
        Op::TimeToLive { .. } => "TimeToLive",
        Op::KeepAliveOnce { .. } => "KeepAliveOnce",
        Op::Leases => "Leases",
        Op::Expire { .. } => "Expire",
        Op::Watch(_) => "Watch",
        Op::Raw(_) => "Raw",
    };
    // Kinds too coarse to tell what happened carry the message too.
    let failure = |f: &crate::outcome::Failure| match f.kind.as_str() {
        "Server" | "InvalidArgument" | "Unknown" => format!("{} ({})", f.kind, f.message),
        _ => f.kind.clone(),
    };
    let result = match o {
        Outcome::Failed(f) => failure(f),
        Outcome::Raw { code, message } => format!("{code} ({message})"),
        Outcome::Txn {
            succeeded: false, ..
        } => "ok (failure branch)".into(),
        Outcome::Watched { error: Some(f), .. } => failure(f),
        Outcome::Watched { events, .. } if events.is_empty() => "ok, no events".into(),
        _ => "ok".into(),
    };
    format!("{name}: {result}")
}
