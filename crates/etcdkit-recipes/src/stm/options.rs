//! How a transaction runs: its isolation level, how often it may retry, and the keys it
//! reads up front.

use std::time::Duration;

use bytes::Bytes;

use super::Isolation;

/// The first and the longest pause before retrying an attempt that conflicted.
const DEFAULT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Options of [`run_with`](super::run_with). `Options::default()` is serializable
/// snapshot isolation, retried without limit.
#[derive(Debug, Clone)]
#[must_use]
pub struct Options {
    pub(super) isolation: Isolation,
    pub(super) max_attempts: Option<u32>,
    pub(super) prefetch: Vec<Bytes>,
    pub(super) backoff: (Duration, Duration),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            isolation: Isolation::default(),
            max_attempts: None,
            prefetch: Vec::new(),
            backoff: DEFAULT_BACKOFF,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Options {
        Options::default()
    }

    /// The isolation level (default [`Isolation::SerializableSnapshot`]).
    pub fn isolation(mut self, isolation: Isolation) -> Self {
        self.isolation = isolation;
        self
    }

    /// Gives up with [`StmError::Conflict`](super::StmError::Conflict) after `n` attempts
    /// that conflicted (`n` counts the first attempt; 0 is taken as 1). Unlimited by
    /// default, as in Go.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n.max(1));
        self
    }

    /// Keys read in one request before an attempt starts (when it has nothing left from
    /// the previous attempt), so that an attempt that reads them anyway saves a round
    /// trip per key. A prefetched key joins the attempt's read set only when the attempt
    /// reads it.
    pub fn prefetch<K: Into<Bytes>>(mut self, keys: impl IntoIterator<Item = K>) -> Self {
        self.prefetch.extend(keys.into_iter().map(Into::into));
        self
    }

    /// The pause before retrying a conflicted attempt: capped exponential from `first`
    /// up to `max`, with full jitter (default 10 ms up to 1 s).
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = (first, max);
        self
    }
}
