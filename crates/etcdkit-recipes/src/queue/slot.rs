//! One session's place on one key ([`Slot`]), and the places of all its queues
//! ([`Places`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use etcdkit::{Client, Error, Revision};
use tokio::sync::watch;

use super::ReleaseState;
use super::release::Releaser;
use crate::lease_keeper::KeeperState;

/// What the queues of one session share: a [`Slot`] per key, and the background
/// releaser. Owned by the [`Session`] and by every queue made from it.
pub(crate) struct Places {
    slots: std::sync::Mutex<HashMap<Bytes, Arc<Slot>>>,
    pub(super) releaser: Releaser,
}

impl fmt::Debug for Places {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Places").finish_non_exhaustive()
    }
}

impl Places {
    pub fn new(client: Client, state: watch::Receiver<KeeperState>) -> Places {
        Places {
            slots: std::sync::Mutex::default(),
            releaser: Releaser::new(client, state),
        }
    }

    /// The slot of `key`, shared by every queue of the session on it.
    pub(super) fn slot(&self, key: &Bytes) -> Arc<Slot> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A slot no queue, guard or release refers to any more, with no key left
        // behind, is forgotten: every key it handed out is gone, so whatever key of the
        // session is found there later was never handed out (see `Queue::enqueue`).
        slots.retain(|_, slot| Arc::strong_count(slot) > 1 || !slot.is_idle());
        slots.entry(key.clone()).or_default().clone()
    }
}

/// One session's place on one key.
pub(crate) struct Slot {
    /// Held through an enqueue, so that one enqueue never adopts the key another one
    /// of the same session is creating.
    pub(super) enqueue: tokio::sync::Mutex<()>,
    inner: std::sync::Mutex<SlotInner>,
    pub(super) release: watch::Sender<ReleaseState>,
}

#[derive(Default)]
struct SlotInner {
    /// The creation revision of the last key handed out (to a waiter, then maybe a
    /// guard). Only grows.
    handed_out: Revision,
    /// Whether the key of `handed_out` is known to be gone (unlocked, withdrawn, or
    /// released in the background).
    handed_out_gone: bool,
    /// Handed-out keys given up and not known to be gone: being released (`None`), or
    /// whose release failed for good.
    given_up: BTreeMap<Revision, Option<Arc<Error>>>,
}

impl Default for Slot {
    fn default() -> Self {
        Slot {
            enqueue: tokio::sync::Mutex::new(()),
            inner: std::sync::Mutex::default(),
            release: watch::channel(ReleaseState::Idle).0,
        }
    }
}

impl Slot {
    fn inner(&self) -> std::sync::MutexGuard<'_, SlotInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn is_idle(&self) -> bool {
        self.inner().given_up.is_empty()
    }

    pub(super) fn handed_out(&self) -> Revision {
        self.inner().handed_out
    }

    pub(super) fn hand_out(&self, rev: Revision) {
        let mut inner = self.inner();
        if rev > inner.handed_out {
            inner.handed_out = rev;
            inner.handed_out_gone = false;
        }
    }

    /// What the existing key of `rev`, handed out before, is now.
    pub(super) fn handed_out_key(&self, rev: Revision) -> Found {
        let inner = self.inner();
        if inner.given_up.contains_key(&rev) {
            Found::GivenUp(rev)
        } else if rev == inner.handed_out && !inner.handed_out_gone {
            Found::Held
        } else {
            // Gone since it was read: unlocked, withdrawn, or released meanwhile.
            Found::Gone
        }
    }

    /// Whether the key of `rev` still waits for its background release.
    pub(super) fn is_releasing(&self, rev: Revision) -> bool {
        matches!(self.inner().given_up.get(&rev), Some(None))
    }

    pub(super) fn give_up(&self, rev: Revision) {
        self.update(|inner| {
            inner.given_up.insert(rev, None);
        });
    }

    /// The key of `rev` is gone (deleted, found replaced, or gone with the lease).
    pub(super) fn gone(&self, rev: Revision) {
        self.update(|inner| {
            inner.given_up.remove(&rev);
            if rev == inner.handed_out {
                inner.handed_out_gone = true;
            }
        });
    }

    pub(super) fn release_failed(&self, rev: Revision, error: Arc<Error>) {
        self.update(|inner| {
            if let Some(entry) = inner.given_up.get_mut(&rev) {
                *entry = Some(error);
            }
        });
    }

    fn update(&self, f: impl FnOnce(&mut SlotInner)) {
        let mut inner = self.inner();
        f(&mut inner);
        let releasing = inner
            .given_up
            .iter()
            .rev()
            .find(|(_, failed)| failed.is_none());
        let state = match releasing {
            Some((rev, _)) => ReleaseState::Releasing {
                fencing_token: *rev,
            },
            None => match inner.given_up.iter().next_back() {
                Some((rev, Some(error))) => ReleaseState::Failed {
                    fencing_token: *rev,
                    error: error.clone(),
                },
                _ => ReleaseState::Idle,
            },
        };
        // Published under the lock, so that states are seen in the order they arose.
        self.release.send_replace(state);
    }
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("handed_out", &self.handed_out())
            .finish_non_exhaustive()
    }
}

/// Which key of the session an enqueue found in its way, and what to do with it.
pub(super) enum Found {
    /// A key this session handed out and still holds (a waiter or a guard).
    Held,
    /// A key this session handed out, gone since it was read: put again.
    Gone,
    /// A key this session handed out and gave up: remove it (finishing its release).
    GivenUp(Revision),
    /// A key of the session's lease never handed out: adopt it.
    Adoptable(Revision),
    /// A key never handed out that is not ours to adopt as it is: remove it.
    Stray(Revision),
    /// A key under another lease (or none): someone else's.
    Foreign,
}
