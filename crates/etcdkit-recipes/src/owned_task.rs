//! A background task that ends with its owner. The recipes that keep a task running for
//! a handle (the prefix cache, the instancer, the endpointer, the election observer)
//! abort it when the handle drops, so a dropped handle leaves nothing running; this is
//! that rule, in one place.

use std::future::Future;

use tokio::task::AbortHandle;

/// A spawned task, aborted (without blocking) when this is dropped.
#[derive(Debug)]
pub(crate) struct OwnedTask(AbortHandle);

impl OwnedTask {
    /// Spawns `future` on the current Tokio runtime (panics outside one, as
    /// `tokio::spawn` does: the recipes that call this say they need a runtime).
    pub fn spawn<F>(future: F) -> OwnedTask
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        OwnedTask(tokio::spawn(future).abort_handle())
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
