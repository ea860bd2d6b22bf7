//! The attempt counter of the recipes' background retries (the mutex's releaser, a
//! registration's writes) over the client's one backoff schedule, [`etcdkit::Backoff`]
//! (capped exponential with full jitter), so that many instances failing together do not
//! retry in step.

use std::time::Duration;

/// [`etcdkit::Backoff`] with the number of the attempt it is at.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    schedule: etcdkit::Backoff,
    attempt: u32,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            schedule: etcdkit::Backoff::new(first, max),
            attempt: 0,
        }
    }

    /// The pause before the next attempt.
    pub fn next_pause(&mut self) -> Duration {
        self.attempt = self.attempt.saturating_add(1);
        self.schedule.delay(self.attempt)
    }

    /// Starts again from the first pause (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_follow_the_clients_schedule_and_start_over_after_a_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let ceilings = [100u64, 200, 400, 800, 1600, 2000, 2000, 2000];
        for ms in ceilings {
            let d = b.next_pause();
            assert!(d <= Duration::from_millis(ms), "{d:?} over {ms} ms");
        }
        b.reset();
        assert!(b.next_pause() <= Duration::from_millis(100));
    }
}
