//! The keepalive task's stream: when to open one, what opening it and losing it do to
//! the leases waiting on it, and the futures the task's loop selects on while it lives.

use super::*;

impl Task {
    pub(super) fn wants_stream(&self) -> bool {
        !self.entries.is_empty()
            && (self.force_open || !self.outbox.is_empty() || self.in_flight > 0)
    }

    /// Starts opening the stream when one is needed and none is open or opening.
    pub(super) fn maybe_open(&mut self, now: Instant) {
        if self.rpc.is_some() || self.opening.is_some() || !self.wants_stream() {
            return;
        }
        if self.open_after.is_some_and(|at| at > now) {
            return;
        }
        self.open_after = None;
        self.force_open = false;
        // etcd answers nothing, not even the stream's headers, before its first request:
        // open with every renewal that is due or was outstanding, or else with the one
        // due soonest (renewed a little early).
        let mut initial: Vec<i64> = self
            .entries
            .iter()
            .filter(|(_, e)| e.queued || e.sent.is_some() || e.due <= now)
            .map(|(id, _)| *id)
            .collect();
        if initial.is_empty()
            && let Some((id, _)) = self.entries.iter().min_by_key(|(_, e)| e.due)
        {
            initial.push(*id);
        }
        self.outbox.clear();
        let mut requests = Vec::with_capacity(initial.len());
        for id in &initial {
            if let Some(entry) = self.entries.get_mut(id) {
                entry.queued = false;
                if entry.sent.is_none() {
                    self.in_flight += 1;
                }
                entry.sent = Some(now);
                if let Some(deadline) = entry.deadline {
                    self.outstanding.insert((deadline, *id));
                }
                requests.push(Request { id: *id });
            }
        }
        for id in &initial {
            self.arm(*id);
        }
        self.opening_ids = initial;
        // The opening waits for the first answer: a member that does not give it in
        // time is left for the next, as a stuck open stream would be.
        let answer_within = self.stall_limit(now);
        let transport = self.transport.clone();
        self.opening = Some(Box::pin(async move {
            transport
                .lease_keep_alive_stream(&requests, Some(answer_within))
                .await
        }));
    }

    pub(super) fn on_opened(
        &mut self,
        result: Result<BidiStream<Request, Response>>,
        now: Instant,
    ) {
        match result {
            Ok(bidi) => {
                self.endpoint = bidi.stream.endpoint().to_string();
                tracing::debug!(endpoint = %self.endpoint, leases = self.entries.len(), "lease keepalive stream open");
                self.sender = Some(bidi.sender);
                self.rpc = Some(bidi.stream);
                for entry in self.entries.values() {
                    entry.slot.emit(KeepAliveEvent::Established {
                        endpoint: self.endpoint.clone(),
                    });
                }
                for id in std::mem::take(&mut self.opening_ids) {
                    if let Some(entry) = self.entries.get(&id) {
                        entry.slot.emit(KeepAliveEvent::Fired);
                    }
                }
                self.waiting_since = (self.in_flight > 0).then_some(now);
                if self.entries.is_empty() {
                    self.close_stream();
                }
            }
            Err(error) => {
                self.opening_ids.clear();
                self.on_failure(error, now);
            }
        }
    }

    /// The stream failed or could not be opened: tell every lease, and re-open at once
    /// (with backoff when it keeps failing).
    pub(super) fn on_failure(&mut self, error: Error, now: Instant) {
        tracing::info!(
            endpoint = self.endpoint.as_str(),
            leases = self.entries.len(),
            error = %error,
            "lease keepalive stream failed; re-opening"
        );
        self.close_stream();
        self.failures = self.failures.saturating_add(1);
        let error = Arc::new(error);
        for entry in self.entries.values() {
            entry.slot.emit(KeepAliveEvent::Failed {
                error: error.clone(),
            });
        }
        // The first failure is the stream's own; those after it are failed re-openings.
        if let Some(max) = self.transport.options().max_stream_reopens
            && self.failures > max
        {
            tracing::warn!(
                failures = self.failures,
                max,
                "lease keepalive stream given up (max_stream_reopens)"
            );
            let ids: Vec<i64> = self.entries.keys().copied().collect();
            for id in ids {
                self.lose(id, LostReason::ReopensExhausted);
            }
            self.failures = 0;
            return;
        }
        self.force_open = !self.entries.is_empty();
        let delay = if self.failures <= 1 {
            Duration::ZERO
        } else {
            self.transport
                .options()
                .retry_backoff
                .delay(self.failures - 1)
        };
        self.open_after = now.checked_add(delay);
    }

    pub(super) fn close_stream(&mut self) {
        self.sender = None;
        self.rpc = None;
        self.waiting_since = None;
    }
}

pub(super) async fn next_message(
    rpc: &mut Option<RpcStream<Response>>,
) -> Result<Option<Response>> {
    match rpc {
        Some(rpc) => rpc.message().await,
        None => std::future::pending().await,
    }
}

pub(super) async fn finish_opening(
    opening: &mut Option<BoxFuture<'static, Result<BidiStream<Request, Response>>>>,
) -> Result<BidiStream<Request, Response>> {
    match opening {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

/// Resolves when the stream's send queue has room (true) or is closed (false); never
/// while there is nothing to send.
pub(super) async fn send_ready(sender: &Option<mpsc::Sender<Request>>, has_work: bool) -> bool {
    match sender {
        Some(sender) if has_work => sender.reserve().await.is_ok(),
        _ => std::future::pending().await,
    }
}
