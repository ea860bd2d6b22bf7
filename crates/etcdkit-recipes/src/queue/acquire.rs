//! Taking the head of the queue within an optional time limit: what the mutex's `lock()`
//! and the election's `campaign()` share, so both bound the whole wait the same way.

use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Error, ErrorKind, KeyValue, Result};
use tokio::time::Instant;

use super::{Held, Queue};

impl Queue {
    /// Puts this session's key with `value`, waits until it is the oldest (with
    /// `try_only`, fails at once with `busy`'s error for the key ahead instead), and holds
    /// it. With `timeout`, gives up after that long in all, putting and waiting, with
    /// [`ErrorKind::Timeout`]; the key is then taken back out of the queue in the
    /// background, as for a dropped wait.
    pub(crate) async fn acquire(
        &self,
        value: Bytes,
        try_only: bool,
        timeout: Option<Duration>,
        what: &'static str,
        busy: impl Fn(&KeyValue) -> Error,
    ) -> Result<Held> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let timed_out = || {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "{what}: not acquired within {:?}",
                    timeout.unwrap_or_default()
                ),
            )
        };
        let enqueue = self.enqueue(value, what);
        let (rev, pending) = match deadline {
            // Cut short before it knew what its put did, the enqueue has the session's
            // releaser remove any key it may have left.
            Some(deadline) => match tokio::time::timeout_at(deadline, enqueue).await {
                Ok(enqueued) => enqueued?,
                Err(_) => return Err(timed_out()),
            },
            None => enqueue.await?,
        };
        let wait = self.wait_first(rev, try_only, what, busy);
        let waited = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, wait)
                .await
                .unwrap_or_else(|_| Err(timed_out())),
            None => wait.await,
        };
        self.hold(rev, pending, waited).await
    }
}
