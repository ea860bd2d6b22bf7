//! One signal that tells every task of the run to wind down.

use tokio::sync::watch;

/// Sends the stop signal.
#[derive(Debug)]
pub struct StopSender(watch::Sender<bool>);

/// Receives it; cheap to clone, one per task.
#[derive(Debug, Clone)]
pub struct Stop(watch::Receiver<bool>);

pub fn channel() -> (StopSender, Stop) {
    let (tx, rx) = watch::channel(false);
    (StopSender(tx), Stop(rx))
}

impl StopSender {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Stop {
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Finishes once the stop signal was sent (or its sender dropped).
    pub async fn wait(&mut self) {
        // An error means the sender is gone: stopping is the only safe reading.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }

    /// Sleeps `d`, or less if stopped meanwhile; says whether it was stopped.
    pub async fn sleep(&mut self, d: std::time::Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(d) => self.is_stopped(),
            () = self.wait() => true,
        }
    }
}
