//! Taking over a key held before a restart: a process that held a lock or a leadership,
//! restarted, and resumed its session's lease finds its key still at the head of the
//! queue and holds it again.

use etcdkit::kv::{Compare, CompareOp};
use etcdkit::{Error, ErrorKind, Result, Revision};

use super::{Held, Queue, first_kv, newest_before};

impl Queue {
    /// Holds this session's key again if it exists with creation revision `rev`, under
    /// the session's lease, and is the oldest key of the queue. Otherwise fails with the
    /// error `refused` makes of the reason.
    ///
    /// Why this cannot hand out a key a background release targets: only a key newer
    /// than every key this session handed out is taken over, the rule of
    /// [`Queue::enqueue`], and the slot's enqueue lock is held meanwhile.
    pub async fn resume(
        &self,
        rev: Revision,
        what: &str,
        refused: impl FnOnce(String) -> Error,
    ) -> Result<Held> {
        if let Some(cause) = self.session_ended() {
            return Err(cause.into_error(what));
        }
        self.releaser.start();
        let _only_enqueue = self.slot.enqueue.lock().await;
        let key = String::from_utf8_lossy(&self.key).into_owned();
        if rev <= self.slot.handed_out() {
            return Err(Error::new(
                ErrorKind::AlreadyExists,
                format!(
                    "{what}: this session already used its key {key} at revision {rev} or later"
                ),
            ));
        }
        let response = self
            .client
            .kv()
            .txn()
            .when([
                self.key_created_at(rev),
                Compare::lease(self.key.clone(), CompareOp::Equal, Some(self.lease)),
            ])
            .and_then([newest_before(&self.prefix, rev)])
            .await?;
        if !response.succeeded() {
            return Err(refused(format!(
                "{what}: the key {key} no longer exists with creation revision {rev} under lease {:x}",
                self.lease
            )));
        }
        let seen_at = response.header().revision();
        if let Some(older) = first_kv(response) {
            return Err(refused(format!(
                "{what}: the key {key} is not at the head of the queue ({} is older)",
                String::from_utf8_lossy(older.key())
            )));
        }
        self.slot.hand_out(rev);
        Ok(Held {
            queue: self.clone(),
            rev,
            seen_at,
            pending: Some(self.pending(rev)),
        })
    }
}
