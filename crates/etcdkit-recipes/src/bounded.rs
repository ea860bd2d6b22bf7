//! The one shape every wait of the barrier, queue and read/write mutex recipes has: a
//! future to await, with an optional timeout set before awaiting it.
//!
//! The timeout is not a blunt `tokio::time::timeout` around the whole operation: each
//! recipe bounds only the steps that are safe to cut short (reads, watches, a put whose
//! key the session's releaser removes), never a delete that hands out an item, so a
//! timed-out dequeue never loses an item it had already taken.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::time::Duration;

use etcdkit::{Error, ErrorKind, Result};
use futures_util::future::BoxFuture;
use tokio::time::Instant;

/// When a wait gives up, if ever.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Option<Instant>,
    timeout: Duration,
    what: &'static str,
}

impl Deadline {
    /// No deadline.
    pub const NONE: Deadline = Deadline {
        at: None,
        timeout: Duration::ZERO,
        what: "",
    };

    /// `f`, ended with [`ErrorKind::Timeout`] when the deadline passes first.
    pub async fn bound<T>(&self, f: impl Future<Output = Result<T>>) -> Result<T> {
        match self.at {
            Some(at) => tokio::time::timeout_at(at, f)
                .await
                .unwrap_or_else(|_| Err(self.expired())),
            None => f.await,
        }
    }

    /// The error of a wait whose deadline passed.
    pub fn expired(&self) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!("{}: not done within {:?}", self.what, self.timeout),
        )
    }
}

/// A wait of a sync recipe (a barrier, a queue, a read/write lock): await it, after
/// setting a [`timeout`](Bounded::timeout) if you want one. Without a timeout it waits as
/// long as it takes (or, for the recipes on a session, as long as the session lives).
///
/// **Drop** (of the future, before it finished) cancels the wait; each recipe's module
/// docs say what a wait cut short leaves behind.
#[must_use = "a wait does nothing until awaited"]
pub struct Bounded<'a, T> {
    what: &'static str,
    timeout: Option<Duration>,
    run: Box<dyn FnOnce(Deadline) -> BoxFuture<'a, Result<T>> + Send + 'a>,
}

impl<T> fmt::Debug for Bounded<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bounded")
            .field("what", &self.what)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl<'a, T> Bounded<'a, T> {
    /// The wait `what` (named in its timeout error) that `run` does within a deadline.
    pub(crate) fn new(
        what: &'static str,
        run: impl FnOnce(Deadline) -> BoxFuture<'a, Result<T>> + Send + 'a,
    ) -> Self {
        Bounded {
            what,
            timeout: None,
            run: Box::new(run),
        }
    }

    /// Gives up after `timeout` (counted from the first poll) with
    /// [`ErrorKind::Timeout`]. No timeout unless set.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
}

impl<'a, T: 'a> IntoFuture for Bounded<'a, T> {
    type Output = Result<T>;
    type IntoFuture = BoxFuture<'a, Result<T>>;

    fn into_future(self) -> Self::IntoFuture {
        let Bounded { what, timeout, run } = self;
        Box::pin(async move {
            // Computed when first polled, so a wait built early and awaited later still
            // gets its whole timeout.
            let deadline = Deadline {
                at: timeout.and_then(|t| Instant::now().checked_add(t)),
                timeout: timeout.unwrap_or_default(),
                what,
            };
            run(deadline).await
        })
    }
}
