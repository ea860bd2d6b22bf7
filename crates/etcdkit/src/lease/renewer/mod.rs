//! The client's keepalive task: one LeaseKeepAlive stream for every lease the client keeps
//! alive. See the [module docs](super) for the promises; this file keeps them.
//!
//! Each lease is in one of three conditions: idle (waiting for its next renewal), queued
//! (due, waiting for room in the stream's send queue) or in flight (sent, unanswered).
//! One timer heap holds each lease's next moment of interest (its renewal while idle, its
//! confirmed deadline always); stale timers are skipped by generation number.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::keep_alive::{KeepAliveEvent, KeepAliveState, LostReason, new_slot_channels};
use super::schedule;
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::transport::{BidiStream, RpcStream, Transport};

mod stream;
use stream::{finish_opening, next_message, send_ready};

type Request = pb::LeaseKeepAliveRequest;
type Response = pb::LeaseKeepAliveResponse;

/// What the handles share about one kept-alive lease.
pub(crate) struct Slot {
    pub id: crate::types::LeaseId,
    pub interval: Option<Duration>,
    pub confirmed: Option<(Duration, Instant)>,
    pub state: watch::Sender<KeepAliveState>,
    pub events: broadcast::Sender<KeepAliveEvent>,
}

impl Slot {
    fn emit(&self, event: KeepAliveEvent) {
        // No subscriber is fine: nobody is listening.
        let _ = self.events.send(event);
    }
}

enum Command {
    Add(Arc<Slot>),
    Remove(Arc<Slot>),
    RenewNow(i64),
}

/// Registered leases and how many handles each has.
type Registry = Mutex<HashMap<i64, (Arc<Slot>, usize)>>;

fn lock(registry: &Registry) -> MutexGuard<'_, HashMap<i64, (Arc<Slot>, usize)>> {
    match registry.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The client's side of the keepalive task. Dropping it (with the last client clone and
/// the last [`KeepAlive`](super::KeepAlive) handle) aborts the task.
pub(crate) struct Renewer {
    commands: mpsc::UnboundedSender<Command>,
    registry: Arc<Registry>,
    task: tokio::task::AbortHandle,
}

impl Drop for Renewer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Renewer {
    /// Spawns the (idle until needed) keepalive task of a client.
    pub fn start(transport: Transport) -> Arc<Renewer> {
        let (commands, receiver) = mpsc::unbounded_channel();
        let registry: Arc<Registry> = Arc::default();
        let task = Task::new(transport, registry.clone(), receiver);
        let task = tokio::spawn(task.run()).abort_handle();
        Arc::new(Renewer {
            commands,
            registry,
            task,
        })
    }

    /// Registers a handle of lease `id`: the lease's shared slot, and an event receiver
    /// subscribed before anything about the registration can be emitted.
    pub fn acquire(
        &self,
        id: crate::types::LeaseId,
        interval: Option<Duration>,
        confirmed: Option<(Duration, Instant)>,
    ) -> Result<(Arc<Slot>, broadcast::Receiver<KeepAliveEvent>)> {
        let mut registry = lock(&self.registry);
        if let Some((slot, handles)) = registry.get_mut(&id.0) {
            *handles += 1;
            return Ok((slot.clone(), slot.events.subscribe()));
        }
        let (state, events) = new_slot_channels(confirmed);
        let first = events.subscribe();
        let slot = Arc::new(Slot {
            id,
            interval,
            confirmed,
            state,
            events,
        });
        if self.commands.send(Command::Add(slot.clone())).is_err() {
            return Err(Error::new(
                ErrorKind::Cancelled,
                "the client's keepalive task has stopped",
            )
            .with_operation("lease.keep_alive"));
        }
        registry.insert(id.0, (slot.clone(), 1));
        Ok((slot, first))
    }

    /// Unregisters a handle; the last one of a lease stops its renewals.
    pub fn release(&self, slot: &Arc<Slot>) {
        let mut registry = lock(&self.registry);
        let last = match registry.get_mut(&slot.id.0) {
            Some((registered, handles)) if Arc::ptr_eq(registered, slot) => {
                *handles = handles.saturating_sub(1);
                *handles == 0
            }
            // Already lost and unregistered by the task.
            _ => false,
        };
        if last {
            registry.remove(&slot.id.0);
            let _ = self.commands.send(Command::Remove(slot.clone()));
        }
    }

    /// Asks for a renewal of `id` now.
    pub fn renew_now(&self, id: crate::types::LeaseId) {
        let _ = self.commands.send(Command::RenewNow(id.0));
    }
}

struct Entry {
    slot: Arc<Slot>,
    ttl: Option<Duration>,
    deadline: Option<Instant>,
    due: Instant,
    /// When the unanswered renewal was sent (the latest send, after a re-open).
    sent: Option<Instant>,
    queued: bool,
    generation: u64,
}

/// What woke the task up.
enum Step {
    Command(Option<Command>),
    Message(Result<Option<Response>>),
    Opened(Box<Result<BidiStream<Request, Response>>>),
    SendReady(bool),
    Wake,
}

struct Task {
    transport: Transport,
    registry: Arc<Registry>,
    commands: mpsc::UnboundedReceiver<Command>,
    entries: HashMap<i64, Entry>,
    timers: BinaryHeap<Reverse<(Instant, u64, i64)>>,
    generation: u64,
    outbox: VecDeque<i64>,
    sender: Option<mpsc::Sender<Request>>,
    rpc: Option<RpcStream<Response>>,
    endpoint: String,
    opening: Option<BoxFuture<'static, Result<BidiStream<Request, Response>>>>,
    /// The leases whose renewal went out with the stream being opened.
    opening_ids: Vec<i64>,
    /// Open a stream as soon as allowed, even if nothing is due (after a failure).
    force_open: bool,
    /// Not before this (backoff after repeated failures).
    open_after: Option<Instant>,
    failures: u32,
    in_flight: usize,
    /// Since when the stream has been silent with renewals outstanding.
    waiting_since: Option<Instant>,
    /// The confirmed deadlines of the leases with a renewal queued or in flight. The
    /// stall limit depends on the earliest, and the loop asks for it at every step: a
    /// scan of every lease there made each answer cost O(leases), and 10,000 leases on a
    /// loaded machine fell behind their own renewals.
    outstanding: BTreeSet<(Instant, i64)>,
    min_ttl: Option<Duration>,
    /// Where the renewal grid starts (see `schedule::next_renewal`).
    epoch: Instant,
}

impl Task {
    fn new(
        transport: Transport,
        registry: Arc<Registry>,
        commands: mpsc::UnboundedReceiver<Command>,
    ) -> Task {
        Task {
            transport,
            registry,
            commands,
            entries: HashMap::new(),
            timers: BinaryHeap::new(),
            generation: 0,
            outbox: VecDeque::new(),
            sender: None,
            rpc: None,
            endpoint: String::new(),
            opening: None,
            opening_ids: Vec::new(),
            force_open: false,
            open_after: None,
            failures: 0,
            in_flight: 0,
            waiting_since: None,
            outstanding: BTreeSet::new(),
            min_ttl: None,
            epoch: Instant::now(),
        }
    }

    async fn run(mut self) {
        loop {
            let now = Instant::now();
            self.maybe_open(now);
            let wake = self.next_wake();
            let has_work = !self.outbox.is_empty();
            let step = tokio::select! {
                command = self.commands.recv() => Step::Command(command),
                message = next_message(&mut self.rpc) => Step::Message(message),
                opened = finish_opening(&mut self.opening) => Step::Opened(Box::new(opened)),
                ready = send_ready(&self.sender, has_work) => Step::SendReady(ready),
                () = sleep_until(wake) => Step::Wake,
            };
            let now = Instant::now();
            match step {
                Step::Command(None) => return,
                Step::Command(Some(command)) => self.on_command(command, now),
                Step::Message(Ok(Some(response))) => self.on_response(response, now),
                Step::Message(Ok(None)) => {
                    let error = Error::new(
                        ErrorKind::Unavailable,
                        "the server ended the keepalive stream",
                    )
                    .with_operation("lease.keep_alive")
                    .with_endpoint(self.endpoint.clone());
                    self.on_failure(error, now);
                }
                Step::Message(Err(error)) => self.on_failure(error, now),
                Step::Opened(result) => {
                    self.opening = None;
                    self.on_opened(*result, now);
                }
                Step::SendReady(true) => self.flush(now),
                Step::SendReady(false) => {
                    let error = Error::new(ErrorKind::Unavailable, "the keepalive stream closed")
                        .with_operation("lease.keep_alive")
                        .with_endpoint(self.endpoint.clone());
                    self.on_failure(error, now);
                }
                Step::Wake => self.on_wake(now),
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
        let stall = match (&self.rpc, self.in_flight, self.waiting_since) {
            (Some(_), 1.., Some(since)) => since.checked_add(self.stall_limit(since)),
            _ => None,
        };
        let open = match (&self.rpc, &self.opening, self.open_after) {
            (None, None, Some(at)) if self.wants_stream() => Some(at),
            _ => None,
        };
        [timer, stall, open].into_iter().flatten().min()
    }

    /// How long renewals outstanding since `since` may wait for an answer before the
    /// stream is given up (see [`schedule::stall_limit`]).
    fn stall_limit(&self, since: Instant) -> Duration {
        let earliest = self.outstanding.first().map(|(deadline, _)| *deadline);
        schedule::stall_limit(
            schedule::stall_after(self.min_ttl),
            earliest.map(|d| d.saturating_duration_since(since)),
        )
    }

    fn on_command(&mut self, command: Command, now: Instant) {
        match command {
            Command::Add(slot) => {
                let id = slot.id.0;
                let (ttl, deadline, due) = match slot.confirmed {
                    Some((ttl, deadline)) => {
                        let interval = schedule::interval(ttl, slot.interval);
                        (
                            Some(ttl),
                            Some(deadline),
                            schedule::next_renewal(deadline, ttl, interval, self.epoch),
                        )
                    }
                    None => (None, None, now),
                };
                if let Some(ttl) = ttl {
                    self.note_ttl(ttl);
                }
                if self.rpc.is_some() {
                    slot.emit(KeepAliveEvent::Established {
                        endpoint: self.endpoint.clone(),
                    });
                }
                if let Some(old) = self.entries.remove(&id) {
                    if let Some(deadline) = old.deadline {
                        self.outstanding.remove(&(deadline, id));
                    }
                    if old.sent.is_some() {
                        self.in_flight = self.in_flight.saturating_sub(1);
                    }
                }
                self.entries.insert(
                    id,
                    Entry {
                        slot,
                        ttl,
                        deadline,
                        due,
                        sent: None,
                        queued: false,
                        generation: 0,
                    },
                );
                self.on_due(id, now);
            }
            Command::Remove(slot) => {
                let id = slot.id.0;
                if self
                    .entries
                    .get(&id)
                    .is_some_and(|e| Arc::ptr_eq(&e.slot, &slot))
                {
                    self.remove(id);
                }
            }
            Command::RenewNow(id) => {
                if let Some(entry) = self.entries.get_mut(&id)
                    && entry.sent.is_none()
                {
                    entry.due = now;
                    self.on_due(id, now);
                }
            }
        }
    }

    fn on_response(&mut self, response: Response, now: Instant) {
        self.failures = 0;
        if let Some(header) = &response.header {
            self.transport.saw_header(header);
        }
        let id = response.id;
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        let Some(sent) = entry.sent else {
            // Not an answer to anything outstanding (the lease was re-registered).
            return;
        };
        match schedule::server_ttl(response.ttl) {
            None => {
                self.lose(id, LostReason::NotFound);
            }
            Some(ttl) => {
                entry.sent = None;
                self.in_flight = self.in_flight.saturating_sub(1);
                if let Some(previous) = entry.deadline {
                    self.outstanding.remove(&(previous, id));
                    // How close the lease came to running out: the safety margin.
                    crate::telemetry::keepalive_margin(previous.saturating_duration_since(now));
                }
                let deadline = schedule::confirmed_deadline(sent, ttl);
                let deadline = entry.deadline.map_or(deadline, |d| d.max(deadline));
                let interval = schedule::interval(ttl, entry.slot.interval);
                entry.ttl = Some(ttl);
                entry.deadline = Some(deadline);
                entry.due = schedule::next_renewal(deadline, ttl, interval, self.epoch);
                entry
                    .slot
                    .state
                    .send_replace(KeepAliveState::Alive { ttl, deadline });
                entry.slot.emit(KeepAliveEvent::Succeeded {
                    ttl,
                    deadline,
                    header: response.header.into(),
                });
                self.note_ttl(ttl);
                self.on_due(id, now);
            }
        }
        self.waiting_since = (self.in_flight > 0).then_some(now);
    }

    fn note_ttl(&mut self, ttl: Duration) {
        self.min_ttl = Some(self.min_ttl.map_or(ttl, |m| m.min(ttl)));
    }

    /// Queues the lease if its renewal is due, and arms its timer.
    fn on_due(&mut self, id: i64, now: Instant) {
        if let Some(entry) = self.entries.get_mut(&id)
            && !entry.queued
            && entry.sent.is_none()
            && entry.due <= now
        {
            entry.queued = true;
            self.outbox.push_back(id);
            if let Some(deadline) = entry.deadline {
                self.outstanding.insert((deadline, id));
            }
        }
        self.arm(id);
    }

    /// Sets the lease's timer to its next moment of interest.
    fn arm(&mut self, id: i64) {
        self.generation += 1;
        let generation = self.generation;
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.generation = generation;
        let renewal = (!entry.queued && entry.sent.is_none()).then_some(entry.due);
        if let Some(at) = [renewal, entry.deadline].into_iter().flatten().min() {
            self.timers.push(Reverse((at, generation, id)));
        }
    }

    fn on_wake(&mut self, now: Instant) {
        while let Some(Reverse((at, generation, id))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let Some(entry) = self.entries.get(&id) else {
                continue;
            };
            if entry.generation != generation {
                continue;
            }
            if entry.deadline.is_some_and(|d| d <= now) {
                self.lose(id, LostReason::Expired);
            } else {
                self.on_due(id, now);
            }
        }
        if self.rpc.is_some()
            && self.in_flight > 0
            && let Some(since) = self.waiting_since
        {
            let stall = self.stall_limit(since);
            if since.checked_add(stall).is_some_and(|at| at <= now) {
                let reason = format!(
                    "no keepalive answer within {}",
                    crate::util::fmt_duration(stall)
                );
                if let Some(rpc) = &self.rpc {
                    rpc.mark_endpoint_failed(&reason);
                }
                let error = Error::new(ErrorKind::Timeout, reason)
                    .with_operation("lease.keep_alive")
                    .with_endpoint(self.endpoint.clone());
                self.on_failure(error, now);
            }
        }
    }

    /// Hands queued renewals to the stream while it has room.
    fn flush(&mut self, now: Instant) {
        let Some(sender) = &self.sender else {
            return;
        };
        while let Some(id) = self.outbox.pop_front() {
            let Some(entry) = self.entries.get_mut(&id) else {
                continue;
            };
            if !entry.queued {
                continue;
            }
            match sender.try_send(Request { id }) {
                Ok(()) => {
                    entry.queued = false;
                    entry.sent = Some(now);
                    entry.slot.emit(KeepAliveEvent::Fired);
                    if self.in_flight == 0 {
                        self.waiting_since = Some(now);
                    }
                    self.in_flight += 1;
                }
                Err(_) => {
                    // Full (wait for room) or closed (the stream's failure will show).
                    self.outbox.push_front(id);
                    break;
                }
            }
        }
    }

    fn remove(&mut self, id: i64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        if let Some(deadline) = entry.deadline {
            self.outstanding.remove(&(deadline, id));
        }
        if entry.sent.is_some() {
            self.in_flight = self.in_flight.saturating_sub(1);
        }
        if self.entries.is_empty() {
            // Nothing left to renew: let the server forget the stream.
            self.close_stream();
            self.opening = None;
            self.force_open = false;
            self.outbox.clear();
            self.in_flight = 0;
            self.outstanding.clear();
            self.min_ttl = None;
        }
        Some(entry)
    }

    fn lose(&mut self, id: i64, reason: LostReason) {
        let Some(entry) = self.remove(id) else {
            return;
        };
        {
            let mut registry = lock(&self.registry);
            if registry
                .get(&id)
                .is_some_and(|(slot, _)| Arc::ptr_eq(slot, &entry.slot))
            {
                registry.remove(&id);
            }
        }
        crate::telemetry::lease_lost(match reason {
            LostReason::NotFound => "not_found",
            LostReason::Expired => "expired",
            LostReason::ReopensExhausted => "reopens_exhausted",
        });
        tracing::warn!(lease = entry.slot.id.0, reason = ?reason, detail = %reason, "lease lost");
        entry.slot.state.send_replace(KeepAliveState::Lost(reason));
        entry.slot.emit(KeepAliveEvent::Lost { reason });
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
