//! Test-only fault injection: makes chosen requests of a queue fail with an unknown
//! outcome without sending them (as if the connection broke before the server read
//! them), and holds the background releaser back, so that tests can drive the queue
//! through the interleavings that randomized fault runs find.

use std::sync::atomic::{AtomicU32, Ordering};

use etcdkit::{Error, ErrorKind};
use tokio::sync::watch;

use super::Step;

#[derive(Debug)]
pub(crate) struct Faults {
    enqueue: AtomicU32,
    enqueue_sent: AtomicU32,
    look: AtomicU32,
    unlock: AtomicU32,
    held: watch::Sender<bool>,
    done: watch::Sender<u64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            enqueue: AtomicU32::new(0),
            enqueue_sent: AtomicU32::new(0),
            look: AtomicU32::new(0),
            unlock: AtomicU32::new(0),
            held: watch::channel(false).0,
            done: watch::channel(0).0,
        }
    }
}

impl Faults {
    fn counter(&self, step: Step) -> &AtomicU32 {
        match step {
            Step::Enqueue => &self.enqueue,
            Step::EnqueueSent => &self.enqueue_sent,
            Step::Look => &self.look,
            Step::Unlock => &self.unlock,
        }
    }

    /// The next `n` requests of `step` fail: with an unknown outcome, or (a read)
    /// unavailable.
    pub fn fail_next(&self, step: Step, n: u32) {
        self.counter(step).store(n, Ordering::SeqCst);
    }

    /// The injected failure for this request of `step`, if one is due.
    pub fn injected(&self, step: Step) -> Option<Error> {
        let due = self
            .counter(step)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        due.then(|| match step {
            Step::Look => Error::new(
                ErrorKind::Unavailable,
                format!("injected: no endpoint answered {step:?}"),
            ),
            _ => Error::new(
                ErrorKind::OutcomeUnknown,
                format!("injected: the connection broke during {step:?}"),
            ),
        })
    }

    /// Holds the background releaser before its next attempt (or lets it go).
    pub fn hold_releases(&self, hold: bool) {
        self.held.send_replace(hold);
    }

    /// Waits while the releaser is held.
    pub async fn release_may_go(&self) {
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|held| !held).await;
    }

    /// Counts a job the background releaser finished with.
    pub fn count_release(&self) {
        self.done.send_modify(|n| *n += 1);
    }

    /// Waits until the background releaser finished with `n` jobs in all.
    pub async fn releases_done(&self, n: u64) {
        let mut done = self.done.subscribe();
        let _ = done.wait_for(|done| *done >= n).await;
    }
}
