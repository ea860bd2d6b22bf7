//! Linearizability of the compare-and-swap register, checked with the Wing–Gong search
//! and Lowe's memoization (the algorithm porcupine implements). Porcupine itself is the
//! checker of record (`porcupine.rs`); this search cross-checks it, and judges alone
//! where there is no Go toolchain.
//!
//! The history becomes a list of call and return entries in time order. The search
//! repeatedly takes a pending call whose effect the model accepts in the current state,
//! "lifts" it (its call and return leave the list) and goes on; when it meets a return
//! whose call it has not linearized yet, no order works from here and it backtracks.
//! A cache of (set of linearized operations, state) pairs already explored keeps the
//! search from exploring the same configuration twice.
//!
//! Outcomes the client could not tell: a definitely failed operation had no effect and is
//! left out; a read of unknown outcome returned nothing and is left out; a CAS of unknown
//! outcome gets a return at the end of time, so it may take effect at any point after
//! its call, or never (it is linearized last, where its effect no longer matters).

use std::collections::HashSet;
use std::time::Duration;

use super::Anomaly;
use crate::history::{RegisterCall, RegisterOp, RegisterResult};

const NAME: &str = "register";
const NIL: usize = usize::MAX;

/// The verdict of the search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order fits; `detail` says where the longest attempt got stuck.
    NotLinearizable {
        detail: String,
    },
    /// The search gave up after `steps` steps without an answer.
    Inconclusive {
        steps: u64,
    },
    /// The check (porcupine's) gave up after `after` without an answer.
    TimedOut {
        after: Duration,
    },
}

/// The operation as the search sees it.
#[derive(Debug, Clone, Copy)]
struct Op {
    call: RegisterCall,
    result: RegisterResult,
}

/// The register's sequential specification: `Some(next state)` when `op` may take
/// effect in `state` and return what it returned.
fn step(state: u64, op: Op) -> Option<u64> {
    match (op.call, op.result) {
        (RegisterCall::Read, RegisterResult::Read(v)) => (v == state).then_some(state),
        (RegisterCall::Cas { from, to }, RegisterResult::Cas(true)) => {
            (state == from).then_some(to)
        }
        (RegisterCall::Cas { from, .. }, RegisterResult::Cas(false)) => {
            (state != from).then_some(state)
        }
        // Applied if the register held `from` at its linearization point, else no effect.
        (RegisterCall::Cas { from, to }, RegisterResult::Unknown) => {
            Some(if state == from { to } else { state })
        }
        _ => None,
    }
}

/// A call or return entry of the time-ordered list.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call, the index of its return entry.
    matching: usize,
}

/// The operations a check looks at: definite failures and reads of unknown outcome had
/// no effect and returned nothing, so they are left out. Shared with the porcupine path
/// so both checkers judge the same history.
pub fn checked(ops: &[RegisterOp]) -> impl Iterator<Item = &RegisterOp> {
    ops.iter().filter(|o| {
        !matches!(
            (o.call, o.result),
            (_, RegisterResult::Failed) | (RegisterCall::Read, RegisterResult::Unknown)
        )
    })
}

/// Checks `ops` against a register that starts at `initial`, with at most `max_steps`
/// search steps.
pub fn check(ops: &[RegisterOp], initial: u64, max_steps: u64) -> Verdict {
    let kept: Vec<&RegisterOp> = checked(ops).collect();
    let model_ops: Vec<Op> = kept
        .iter()
        .map(|o| Op {
            call: o.call,
            result: o.result,
        })
        .collect();

    // (time, is_return, op): calls sort before returns at equal times, which makes two
    // operations that touch in time concurrent: the more permissive reading.
    let mut times: Vec<(Duration, bool, usize)> = Vec::with_capacity(kept.len() * 2);
    for (i, o) in kept.iter().enumerate() {
        let ret = if o.result == RegisterResult::Unknown {
            Duration::MAX
        } else {
            o.complete
        };
        times.push((o.invoke, false, i));
        times.push((ret, true, i));
    }
    times.sort();
    let mut entries: Vec<Entry> = times
        .iter()
        .map(|&(_, is_return, op)| Entry {
            op,
            is_call: !is_return,
            matching: NIL,
        })
        .collect();
    let mut return_of = vec![NIL; kept.len()];
    for (idx, e) in entries.iter().enumerate() {
        if !e.is_call {
            return_of[e.op] = idx;
        }
    }
    for e in entries.iter_mut() {
        if e.is_call {
            e.matching = return_of[e.op];
        }
    }

    search(&entries, &model_ops, &kept, initial, max_steps)
}

/// The doubly linked list of entries still to linearize; `head` is a sentinel.
struct List {
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl List {
    fn new(n: usize) -> List {
        let head = n;
        let mut next = vec![NIL; n + 1];
        let mut prev = vec![NIL; n + 1];
        for i in 0..n {
            next[i] = if i + 1 < n { i + 1 } else { NIL };
            prev[i] = if i == 0 { head } else { i - 1 };
        }
        next[head] = if n > 0 { 0 } else { NIL };
        List { next, prev, head }
    }

    fn remove(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    /// Puts back an entry removed last (dancing links: its own pointers were kept).
    fn restore(&mut self, i: usize) {
        let (p, n) = (self.prev[i], self.next[i]);
        self.next[p] = i;
        if n != NIL {
            self.prev[n] = i;
        }
    }

    fn lift(&mut self, call: usize, ret: usize) {
        self.remove(call);
        self.remove(ret);
    }

    fn unlift(&mut self, call: usize, ret: usize) {
        self.restore(ret);
        self.restore(call);
    }
}

fn search(
    entries: &[Entry],
    ops: &[Op],
    originals: &[&RegisterOp],
    initial: u64,
    max_steps: u64,
) -> Verdict {
    let mut list = List::new(entries.len());
    let words = ops.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, u64)> = HashSet::new();
    // (call entry, state before it)
    let mut stack: Vec<(usize, u64)> = Vec::new();
    let mut state = initial;
    let mut entry = list.next[list.head];
    let mut steps = 0u64;
    // The deepest point reached, and the operation whose return stopped it there.
    let mut deepest = (0usize, NIL);

    while list.next[list.head] != NIL {
        steps += 1;
        if steps > max_steps {
            return Verdict::Inconclusive { steps };
        }
        // Every call left in the list has its return after it, so the walk meets a
        // return before the end; were it ever to run off, give up rather than index it.
        let Some(&e) = entries.get(entry) else {
            return Verdict::Inconclusive { steps };
        };
        if e.is_call {
            if let Some(next_state) = step(state, ops[e.op]) {
                linearized[e.op / 64] |= 1 << (e.op % 64);
                if cache.insert((linearized.clone(), next_state)) {
                    stack.push((entry, state));
                    state = next_state;
                    list.lift(entry, e.matching);
                    entry = list.next[list.head];
                    continue;
                }
                linearized[e.op / 64] &= !(1 << (e.op % 64));
            }
            entry = list.next[entry];
        } else {
            if stack.len() >= deepest.0 {
                deepest = (stack.len(), e.op);
            }
            let Some((call, prior)) = stack.pop() else {
                return Verdict::NotLinearizable {
                    detail: stuck_detail(originals, deepest.1, initial),
                };
            };
            let c = entries[call];
            state = prior;
            linearized[c.op / 64] &= !(1 << (c.op % 64));
            list.unlift(call, c.matching);
            entry = list.next[call];
        }
    }
    Verdict::Linearizable
}

fn stuck_detail(originals: &[&RegisterOp], op: usize, initial: u64) -> String {
    match originals.get(op) {
        Some(o) => format!(
            "no linearization (register starting at {initial}): the search could not place \
             process {}'s {:?} -> {:?} (invoked {:?}, completed {:?})",
            o.process, o.call, o.result, o.invoke, o.complete
        ),
        None => format!("no linearization (register starting at {initial})"),
    }
}

/// The verdict as anomalies (an inconclusive search is reported, not counted).
pub fn anomalies(verdict: &Verdict) -> Vec<Anomaly> {
    match verdict {
        Verdict::NotLinearizable { detail } => vec![Anomaly::new(NAME, detail.clone())],
        _ => Vec::new(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One operation of a test history, its times in milliseconds (also used by the
    /// porcupine checker's tests).
    pub(crate) fn op(
        process: usize,
        call: RegisterCall,
        result: RegisterResult,
        t: (u64, u64),
    ) -> RegisterOp {
        RegisterOp {
            process,
            call,
            result,
            invoke: Duration::from_millis(t.0),
            complete: Duration::from_millis(t.1),
        }
    }

    pub(crate) fn read(p: usize, v: u64, t: (u64, u64)) -> RegisterOp {
        op(p, RegisterCall::Read, RegisterResult::Read(v), t)
    }

    pub(crate) fn cas(p: usize, from: u64, to: u64, ok: bool, t: (u64, u64)) -> RegisterOp {
        cas_with(p, from, to, RegisterResult::Cas(ok), t)
    }

    /// A CAS with any result: an unknown outcome or a definite failure.
    pub(crate) fn cas_with(
        p: usize,
        from: u64,
        to: u64,
        result: RegisterResult,
        t: (u64, u64),
    ) -> RegisterOp {
        op(p, RegisterCall::Cas { from, to }, result, t)
    }

    /// The test histories, from an initial value of 0: one place for them, so that the
    /// porcupine checker is tried on exactly the histories this checker is.
    pub(crate) mod histories {
        use super::{RegisterOp, RegisterResult, cas, cas_with, read};

        const UNKNOWN: RegisterResult = RegisterResult::Unknown;

        pub(crate) fn sequential() -> Vec<RegisterOp> {
            vec![
                read(0, 0, (0, 1)),
                cas(0, 0, 1, true, (2, 3)),
                read(1, 1, (4, 5)),
                cas(1, 0, 2, false, (6, 7)),
                cas(1, 1, 2, true, (8, 9)),
                read(0, 2, (10, 11)),
            ]
        }

        /// The reads overlap the CAS, so each may see the old or the new value.
        pub(crate) fn reads_overlapping_a_cas() -> Vec<RegisterOp> {
            vec![
                cas(0, 0, 1, true, (0, 10)),
                read(1, 0, (1, 9)),
                read(2, 1, (2, 8)),
            ]
        }

        pub(crate) fn stale_read() -> Vec<RegisterOp> {
            vec![cas(0, 0, 1, true, (0, 1)), read(1, 0, (2, 3))]
        }

        /// Both claim to have swapped 0 away: only one can have.
        pub(crate) fn two_cas_from_the_same_value() -> Vec<RegisterOp> {
            vec![cas(0, 0, 1, true, (0, 5)), cas(1, 0, 2, true, (1, 6))]
        }

        pub(crate) fn read_going_back_in_time() -> Vec<RegisterOp> {
            vec![
                cas(0, 0, 1, true, (0, 1)),
                read(1, 1, (2, 3)),
                read(2, 0, (4, 5)),
            ]
        }

        pub(crate) fn unknown_cas_applied() -> Vec<RegisterOp> {
            vec![cas_with(0, 0, 1, UNKNOWN, (0, 1)), read(1, 1, (5, 6))]
        }

        pub(crate) fn unknown_cas_not_applied() -> Vec<RegisterOp> {
            vec![cas_with(0, 0, 1, UNKNOWN, (0, 1)), read(1, 0, (5, 6))]
        }

        /// Applied long after its call "completed" (a retry on the server).
        pub(crate) fn unknown_cas_applied_late() -> Vec<RegisterOp> {
            let mut h = unknown_cas_not_applied();
            h.push(read(1, 1, (7, 8)));
            h
        }

        /// Seen applied, then undone: an unknown CAS applies once at most.
        pub(crate) fn unknown_cas_applying_twice() -> Vec<RegisterOp> {
            let mut h = unknown_cas_applied();
            h.push(read(1, 0, (7, 8)));
            h
        }

        pub(crate) fn definite_failure_with_an_effect() -> Vec<RegisterOp> {
            vec![
                cas_with(0, 0, 1, RegisterResult::Failed, (0, 1)),
                read(1, 1, (2, 3)),
            ]
        }

        /// Three processes in lock step, each CAS chaining on the last; plenty of
        /// overlap.
        pub(crate) fn long_chain_of_overlapping_cas() -> Vec<RegisterOp> {
            let mut h = Vec::new();
            for i in 0..2000u64 {
                let p = (i % 3) as usize;
                h.push(cas(p, i, i + 1, true, (i * 10, i * 10 + 15)));
                h.push(read((p + 1) % 3, i + 1, (i * 10 + 12, i * 10 + 25)));
            }
            h
        }

        /// Every history, named, with whether it is linearizable.
        pub(crate) fn all() -> Vec<(&'static str, Vec<RegisterOp>, bool)> {
            vec![
                ("sequential", sequential(), true),
                ("reads overlapping a CAS", reads_overlapping_a_cas(), true),
                ("stale read", stale_read(), false),
                (
                    "two CASes from the same value",
                    two_cas_from_the_same_value(),
                    false,
                ),
                ("read going back in time", read_going_back_in_time(), false),
                ("unknown CAS applied", unknown_cas_applied(), true),
                ("unknown CAS not applied", unknown_cas_not_applied(), true),
                ("unknown CAS applied late", unknown_cas_applied_late(), true),
                (
                    "unknown CAS applying twice",
                    unknown_cas_applying_twice(),
                    false,
                ),
                (
                    "definite failure with an effect",
                    definite_failure_with_an_effect(),
                    false,
                ),
                (
                    "long chain of overlapping CASes",
                    long_chain_of_overlapping_cas(),
                    true,
                ),
            ]
        }
    }

    /// Ample for every test history, the long one included.
    const BUDGET: u64 = 10_000_000;

    /// Each history gets its verdict: a linearization exists exactly for those meant to
    /// have one (an overlapping read may see either value, an unknown CAS may apply once,
    /// late, or not at all) and none for a stale read, two CAS from one value, a read
    /// going back in time, an unknown CAS seen undone, or a failed CAS with an effect.
    /// The budget is ample, so a long history is also checked in time.
    #[test]
    fn every_test_history_gets_the_verdict_it_should() {
        for (name, h, linearizable) in histories::all() {
            let verdict = check(&h, 0, BUDGET);
            if linearizable {
                assert_eq!(verdict, Verdict::Linearizable, "{name}");
            } else {
                assert!(
                    matches!(verdict, Verdict::NotLinearizable { .. }),
                    "{name}: expected not linearizable, got {verdict:?}"
                );
            }
        }
    }

    #[test]
    fn the_budget_makes_a_search_inconclusive_rather_than_endless() {
        let h = [cas(0, 0, 1, true, (0, 1)), read(1, 1, (2, 3))];
        assert!(matches!(check(&h, 0, 1), Verdict::Inconclusive { .. }));
    }
}
