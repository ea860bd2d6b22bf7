//! The registry of a client's shared watch streams: at most one per kind of metadata
//! (with or without require-leader), each run by its own task, started lazily by the
//! first watch and ended by the task itself when its last watch goes.

use std::sync::{Arc, Mutex, Weak};

use tokio::sync::mpsc;

use super::stream::{Command, StreamInfo, run};
use crate::error::{Error, ErrorKind, Result};
use crate::transport::Transport;

/// One running stream task.
struct Slot {
    commands: mpsc::UnboundedSender<Command>,
    info: Arc<StreamInfo>,
}

/// Shared by a client, its clones and namespaced views, and its watchers.
pub(crate) struct Hub {
    transport: Transport,
    /// Index 0: plain streams; 1: streams that require a leader.
    slots: Mutex<[Option<Slot>; 2]>,
}

impl Hub {
    pub fn new(transport: Transport) -> Hub {
        Hub {
            transport,
            slots: Mutex::new([None, None]),
        }
    }

    /// Hands a command to the stream of this kind, starting its task if there is none.
    /// Done under the lock that the task takes to decide it is idle, so a command is never
    /// handed to a task that is about to end.
    pub fn submit(
        self: &Arc<Self>,
        require_leader: bool,
        command: Command,
    ) -> Result<(mpsc::UnboundedSender<Command>, Arc<StreamInfo>)> {
        let mut slots = self.slots.lock().map_err(|_| poisoned())?;
        let slot = &mut slots[usize::from(require_leader)];
        let mut command = Some(command);
        if let Some(s) = slot.as_ref()
            && let Some(c) = command.take()
        {
            match s.commands.send(c) {
                Ok(()) => return Ok((s.commands.clone(), s.info.clone())),
                // The task ended on its own (it never does while registered, but a
                // runtime shutting down can stop it): start another.
                Err(mpsc::error::SendError(c)) => command = Some(c),
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let info = Arc::new(StreamInfo::default());
        if let Some(c) = command {
            let _ = tx.send(c);
        }
        tokio::spawn(run(
            self.transport.clone(),
            require_leader,
            rx,
            Arc::downgrade(self),
            info.clone(),
        ));
        *slot = Some(Slot {
            commands: tx.clone(),
            info: info.clone(),
        });
        Ok((tx, info))
    }

    /// Called by a task with no watches left: unregisters it unless a command is waiting
    /// for it. True when the task may end.
    pub fn release(
        hub: &Weak<Hub>,
        require_leader: bool,
        info: &Arc<StreamInfo>,
        commands: &mpsc::UnboundedReceiver<Command>,
    ) -> bool {
        let Some(hub) = hub.upgrade() else {
            // No client and no watcher left: nothing can send to it any more.
            return commands.is_empty();
        };
        let Ok(mut slots) = hub.slots.lock() else {
            return commands.is_empty();
        };
        if !commands.is_empty() {
            return false;
        }
        let slot = &mut slots[usize::from(require_leader)];
        if slot.as_ref().is_some_and(|s| Arc::ptr_eq(&s.info, info)) {
            *slot = None;
        }
        true
    }

    /// The endpoint carrying the stream of this kind now, if it is open.
    pub fn endpoint(&self, require_leader: bool) -> Option<String> {
        let slots = self.slots.lock().ok()?;
        slots[usize::from(require_leader)]
            .as_ref()
            .and_then(|s| s.info.endpoint())
    }
}

fn poisoned() -> Error {
    Error::new(
        ErrorKind::Cancelled,
        "the watch registry is unusable after a panic",
    )
}
