//! The task that runs one shared watch stream: it multiplexes every watch of a client
//! over one gRPC stream, routes responses to watchers, and re-opens the stream after any
//! failure, re-creating each watch from where it stands.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::{mpsc, oneshot};

use super::fragment::Reassembly;
use super::hub::Hub;
use super::resume::{
    Progress, Spec, cancel_request, create_request, progress_request, reconnect_delay,
};
use super::types::{Event, WatchResponse};
use crate::error::{Code, Error, ErrorKind, Result, kind_from_server};
use crate::generated::etcdserverpb as pb;
use crate::namespace::Namespace;
use crate::transport::Transport;
use crate::types::Revision;

/// What a stream task is asked to do.
pub(crate) enum Command {
    Create(Box<NewWatch>),
    Cancel {
        id: i64,
        done: Option<oneshot::Sender<()>>,
    },
    Progress,
}

/// A watch to add to the stream.
pub(crate) struct NewWatch {
    pub id: i64,
    pub spec: Spec,
    pub namespace: Namespace,
    pub tx: mpsc::Sender<Result<WatchResponse>>,
    pub shared: Arc<WatcherShared>,
    /// Told, once the server created the watch, the revision up to which there is
    /// nothing to deliver (the store's revision then, or the one before the start).
    pub created: oneshot::Sender<Result<Revision>>,
}

/// What a watcher and the task share.
#[derive(Default)]
pub(crate) struct WatcherShared {
    /// Why the watch ended, handed over after the buffered responses.
    pub terminal: Mutex<Option<Error>>,
}

/// What is known of a stream, for callers who want to see where it runs.
#[derive(Default)]
pub(crate) struct StreamInfo {
    endpoint: Mutex<Option<String>>,
}

impl StreamInfo {
    pub fn endpoint(&self) -> Option<String> {
        self.endpoint.lock().ok().and_then(|e| e.clone())
    }

    fn set(&self, endpoint: Option<String>) {
        if let Ok(mut e) = self.endpoint.lock() {
            *e = endpoint;
        }
    }
}

/// One watch as the task sees it.
struct Entry {
    spec: Spec,
    namespace: Namespace,
    progress: Progress,
    tx: mpsc::Sender<Result<WatchResponse>>,
    shared: Arc<WatcherShared>,
    /// Until the first creation: who waits for it.
    created_tx: Option<oneshot::Sender<Result<Revision>>>,
    /// Created on the current stream.
    created: bool,
    fragments: Reassembly,
    /// Refused for its auth token since its last creation, and retried with a new one.
    auth_retried: bool,
    /// When its creation was last sent on the stream, in the stream's order of
    /// creations (see `State::sent`).
    sent: u64,
}

/// What the task knows of its watches.
#[derive(Default)]
struct State {
    watches: BTreeMap<i64, Entry>,
    /// Requests waiting for room on the stream (only while it is open).
    outbox: VecDeque<pb::WatchRequest>,
    online: bool,
    /// Whether the client has a user and password, so it can fetch a new token.
    can_refresh_token: bool,
    /// A creation was refused in a way a stale token explains: re-open with a new one.
    token_refresh_wanted: bool,
    /// Counts creations sent: etcd answers them in that order, which is not the order
    /// of the ids once callers choose some.
    sent: u64,
}

impl State {
    fn command(&mut self, command: Command) {
        match command {
            Command::Create(w) => {
                let w = *w;
                if self.watches.contains_key(&w.id) {
                    // etcd would refuse it too, but with watch id -1, which could not be
                    // told apart from a refusal of another creation in flight.
                    let error = Error::new(
                        ErrorKind::WatchIdInUse,
                        format!("watch id {} is held by another watch on this stream", w.id),
                    )
                    .with_operation("watch");
                    let _ = w.created.send(Err(error));
                    return;
                }
                let mut entry = Entry {
                    progress: Progress::new(w.spec.start_revision),
                    spec: w.spec,
                    namespace: w.namespace,
                    tx: w.tx,
                    shared: w.shared,
                    created_tx: Some(w.created),
                    created: false,
                    fragments: Reassembly::default(),
                    auth_retried: false,
                    sent: 0,
                };
                if self.online {
                    self.sent += 1;
                    entry.sent = self.sent;
                    self.outbox
                        .push_back(create_request(w.id, &entry.spec, &entry.progress));
                }
                self.watches.insert(w.id, entry);
            }
            Command::Cancel { id, done } => {
                if self.watches.remove(&id).is_some() && self.online {
                    self.outbox.push_back(cancel_request(id));
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Command::Progress => {
                if self.online {
                    self.outbox.push_back(progress_request());
                }
            }
        }
    }

    /// Ends a watch with an error, which its watcher gets after what it has buffered.
    fn finish(&mut self, id: i64, error: Error, tell_server: bool) {
        let Some(mut entry) = self.watches.remove(&id) else {
            return;
        };
        if tell_server && self.online {
            self.outbox.push_back(cancel_request(id));
        }
        match entry.created_tx.take() {
            Some(waiting) => {
                let _ = waiting.send(Err(error));
            }
            None => {
                if let Ok(mut t) = entry.shared.terminal.lock() {
                    *t = Some(error);
                }
            }
        }
        // Dropping the entry drops its sender: the watcher sees the end.
    }

    /// Hands a response to a watcher without waiting: a full buffer ends the watch.
    fn deliver(&mut self, id: i64, response: WatchResponse, last_revision: Option<i64>) {
        let Some(entry) = self.watches.get_mut(&id) else {
            return;
        };
        match entry.tx.try_send(Ok(response)) {
            Ok(()) => {
                if let Some(rev) = last_revision {
                    entry.progress.delivered(rev);
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                let last = entry.progress.last_delivered();
                let capacity = entry.tx.max_capacity();
                let error = Error::new(
                    ErrorKind::WatchLagged,
                    format!(
                        "the watcher fell behind: its buffer of {capacity} responses was full, \
                         so it was cancelled; everything up to revision {last} was delivered"
                    ),
                )
                .with_operation("watch")
                .with_last_delivered_revision(Revision(last));
                self.finish(id, error, true);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The watcher was dropped; its cancel is on its way, but do not wait.
                self.watches.remove(&id);
                if self.online {
                    self.outbox.push_back(cancel_request(id));
                }
            }
        }
    }

    fn on_response(&mut self, response: pb::WatchResponse, endpoint: &str) {
        let mut id = response.watch_id;
        if id == -1 && response.created {
            // A creation refused before it got an id (permission denied, stale token:
            // etcd 3.5.3 and newer answer those with watch id -1 instead of ours). etcd
            // answers a stream's creations in the order they were sent, so it is the
            // oldest creation still unanswered. (If
            // that watcher was dropped before its answer came, the refusal lands on the
            // next one, which is then re-created once on a stream with a new token, as any
            // refusal a stale token may explain is.)
            match self
                .watches
                .iter()
                .filter(|(_, e)| !e.created)
                .min_by_key(|(_, e)| e.sent)
            {
                Some((pending, _)) => id = *pending,
                None => return,
            }
        }
        if id == -1 && !response.created && !response.canceled {
            // A progress answer for the whole stream. Not used for resume bookkeeping:
            // it does not promise that every watch has caught up to it.
            let ids: Vec<i64> = self
                .watches
                .iter()
                .filter(|(_, e)| e.created && e.created_tx.is_none())
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                self.deliver(id, WatchResponse::new(response.header, Vec::new()), None);
            }
            return;
        }
        let Some(entry) = self.watches.get_mut(&id) else {
            return;
        };
        if !response.created && !entry.created {
            // etcd answers a creation before anything else of that watch, so this is
            // for an earlier watch under the same id (a caller-chosen one, used again
            // right after its cancel): its cancel confirmation, or events it had pending.
            return;
        }
        if response.created {
            entry.created = true;
            let header_revision = response.header.as_ref().map_or(0, |h| h.revision);
            entry.progress.on_created(header_revision);
            if response.canceled {
                let error = cancel_error(&response, endpoint);
                // etcd checks a watch's permission with the token the stream was opened
                // with, and answers "permission denied" when it no longer knows that
                // token (expired, or issued before a restart). Retry once on a stream
                // opened with a new token before believing it.
                if self.can_refresh_token && !entry.auth_retried && refused_for_auth(error.kind()) {
                    entry.auth_retried = true;
                    entry.created = false;
                    self.token_refresh_wanted = true;
                    return;
                }
                self.finish(id, error, false);
                return;
            }
            entry.auth_retried = false;
            if let Some(waiting) = entry.created_tx.take() {
                let _ = waiting.send(Ok(Revision(entry.progress.last_delivered())));
                if entry.spec.created_notify {
                    self.deliver(id, WatchResponse::created(response.header), None);
                }
            }
            return;
        }
        if response.canceled {
            let error = cancel_error(&response, endpoint);
            self.finish(id, error, false);
            return;
        }
        let Some(whole) = entry.fragments.push(response) else {
            return;
        };
        let had_events = !whole.events.is_empty();
        let events = entry.progress.fresh(whole.events);
        if had_events && events.is_empty() {
            return; // all of it was delivered before a resume
        }
        let last = events
            .last()
            .and_then(|e| e.kv.as_ref())
            .map(|kv| kv.mod_revision);
        let ns = entry.namespace.clone();
        let events = events.into_iter().map(|e| Event::from_pb(e, &ns)).collect();
        self.deliver(id, WatchResponse::new(whole.header, events), last);
    }

    /// The stream failed: every watch must be created again.
    fn offline(&mut self) {
        self.online = false;
        self.outbox.clear();
        for entry in self.watches.values_mut() {
            entry.created = false;
            entry.fragments.reset();
        }
    }

    /// After the stream failed and `failures` openings in a row failed: when that is
    /// `max` or more, ends every watch with [`ErrorKind::StreamReopensExhausted`] (the task
    /// then ends, having none left). Each watcher adds its last delivered revision.
    fn give_up_after(&mut self, failures: u32, max: Option<u32>, last: &Error) {
        let Some(max) = max else {
            return;
        };
        if failures < max {
            return;
        }
        let ids: Vec<i64> = self.watches.keys().copied().collect();
        for id in ids {
            let last_delivered = self
                .watches
                .get(&id)
                .map_or(0, |e| e.progress.last_delivered());
            let error = Error::new(
                ErrorKind::StreamReopensExhausted,
                format!(
                    "the watch stream was given up after {failures} failed re-openings in a \
                     row (max_stream_reopens {max}); last failure: {last}"
                ),
            )
            .with_operation("watch")
            .with_last_delivered_revision(Revision(last_delivered));
            self.finish(id, error, false);
        }
    }

    /// The lowest revision a watch resumes from (0: every watch resumes from "now").
    fn resume_from(&self) -> i64 {
        self.watches
            .values()
            .map(|e| e.progress.resume_revision())
            .filter(|r| *r > 0)
            .min()
            .unwrap_or(0)
    }

    /// The creations a new stream opens with, in the order they are sent.
    fn create_requests(&mut self) -> Vec<pb::WatchRequest> {
        let mut requests = Vec::with_capacity(self.watches.len());
        for (id, e) in self.watches.iter_mut() {
            self.sent += 1;
            e.sent = self.sent;
            requests.push(create_request(*id, &e.spec, &e.progress));
        }
        requests
    }
}

/// Whether a refused creation may be the stream's stale auth token's doing.
fn refused_for_auth(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::PermissionDenied | ErrorKind::InvalidToken | ErrorKind::OldAuthRevision
    )
}

/// The error for a watch the server cancelled.
fn cancel_error(response: &pb::WatchResponse, endpoint: &str) -> Error {
    if response.compact_revision > 0 {
        return Error::new(
            ErrorKind::Compacted,
            format!(
                "the watch's next revision has been compacted (the store keeps history from revision {} on)",
                response.compact_revision
            ),
        )
        .with_compact_revision(Revision(response.compact_revision))
        .with_operation("watch")
        .with_endpoint(endpoint);
    }
    // etcd words some reasons as a whole gRPC error ("rpc error: code = PermissionDenied
    // desc = etcdserver: permission denied"); the kind is in the description.
    let full = response.cancel_reason.as_str();
    let reason = full
        .strip_prefix("rpc error: code = ")
        .and_then(|rest| rest.split_once(" desc = "))
        .map_or(full, |(_, desc)| desc);
    let (kind, message) = if reason.is_empty() {
        (ErrorKind::Cancelled, "the server cancelled the watch")
    } else if reason.contains("duplicate watch ID") {
        (ErrorKind::WatchIdInUse, full)
    } else {
        (kind_from_server(Code::Unknown, reason), full)
    };
    Error::new(kind, message)
        .with_operation("watch")
        .with_endpoint(endpoint)
}

/// Runs one shared stream until no watch is left.
pub(crate) async fn run(
    transport: Transport,
    require_leader: bool,
    mut commands: mpsc::UnboundedReceiver<Command>,
    hub: Weak<Hub>,
    info: Arc<StreamInfo>,
) {
    let mut state = State {
        can_refresh_token: transport.options().credentials.is_some(),
        ..State::default()
    };
    let mut failures: u32 = 0;
    // Where the previous stream ran: set once one has opened, so any later opening is
    // a resume.
    let mut previous: Option<String> = None;
    loop {
        while let Ok(command) = commands.try_recv() {
            state.command(command);
        }
        if state.watches.is_empty() {
            if Hub::release(&hub, require_leader, &info, &commands) {
                return;
            }
            continue;
        }
        tokio::time::sleep(reconnect_delay(failures)).await;
        let initial = state.create_requests();
        let bidi = match transport.watch_stream(&initial, require_leader).await {
            Ok(bidi) => bidi,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the watch stream; will retry");
                failures = failures.saturating_add(1);
                state.give_up_after(failures, transport.options().max_stream_reopens, &e);
                continue;
            }
        };
        let endpoint = bidi.stream.endpoint().to_string();
        match &previous {
            Some(previous) => {
                crate::telemetry::watch_resume();
                tracing::info!(
                    endpoint,
                    previous = previous.as_str(),
                    watchers = state.watches.len(),
                    from_revision = state.resume_from(),
                    "watch stream resumed"
                );
            }
            None => tracing::debug!(
                endpoint,
                watchers = state.watches.len(),
                "watch stream open"
            ),
        }
        previous = Some(endpoint.clone());
        info.set(Some(endpoint.clone()));
        let (sender, mut stream) = (bidi.sender, bidi.stream);
        state.online = true;
        // Watches added while the stream was being opened went out with `initial`.
        let mut heard = false;
        let ended: Option<Error> = loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => state.command(command),
                    // Every watcher and the client are gone: nothing is left to serve.
                    None => {
                        info.set(None);
                        return;
                    }
                },
                message = stream.message() => match message {
                    Ok(Some(response)) => {
                        heard = true;
                        // A watch answer's header is as much "seen" as a read's: a read
                        // after it must not go back before it.
                        if let Some(header) = &response.header {
                            transport.saw_header(header);
                        }
                        state.on_response(response, &endpoint);
                        if state.token_refresh_wanted {
                            break Some(Error::new(
                                ErrorKind::InvalidToken,
                                "the server refused a watch for the stream's auth token",
                            ).with_endpoint(endpoint.as_str()));
                        }
                    }
                    Ok(None) => break Some(Error::new(
                        ErrorKind::Unavailable,
                        "the server ended the watch stream",
                    ).with_endpoint(endpoint.as_str())),
                    Err(e) => break Some(e),
                },
                permit = sender.reserve(), if !state.outbox.is_empty() => match permit {
                    Ok(permit) => {
                        if let Some(request) = state.outbox.pop_front() {
                            permit.send(request);
                        }
                    }
                    Err(_) => break Some(Error::new(
                        ErrorKind::Unavailable,
                        "the watch stream's request side closed",
                    ).with_endpoint(endpoint.as_str())),
                },
            }
            if state.watches.is_empty() {
                while let Ok(command) = commands.try_recv() {
                    state.command(command);
                }
                if state.watches.is_empty() && Hub::release(&hub, require_leader, &info, &commands)
                {
                    // Dropping the stream cancels every watch on the server.
                    info.set(None);
                    return;
                }
            }
        };
        info.set(None);
        state.offline();
        if state.token_refresh_wanted {
            state.token_refresh_wanted = false;
            if let Err(e) = stream.refresh_token().await {
                tracing::warn!(error = %e, "cannot fetch a new auth token for the watch stream");
            }
        }
        if let Some(e) = &ended {
            tracing::info!(
                endpoint,
                watchers = state.watches.len(),
                error = %e,
                "watch stream failed; resuming its watches"
            );
        }
        failures = if heard { 0 } else { failures.saturating_add(1) };
        if let Some(e) = &ended {
            state.give_up_after(failures, transport.options().max_stream_reopens, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canceled(reason: &str) -> pb::WatchResponse {
        pb::WatchResponse {
            canceled: true,
            cancel_reason: reason.to_string(),
            ..Default::default()
        }
    }

    #[test]
    fn cancel_reasons_worded_as_grpc_errors_get_their_kind() {
        let full = "rpc error: code = PermissionDenied desc = etcdserver: permission denied";
        let error = cancel_error(&canceled(full), "e");
        assert_eq!(error.kind(), ErrorKind::PermissionDenied);
        assert!(refused_for_auth(error.kind()));
        let error = cancel_error(&canceled("etcdserver: permission denied"), "e");
        assert_eq!(error.kind(), ErrorKind::PermissionDenied);
        let error = cancel_error(&canceled(""), "e");
        assert_eq!(error.kind(), ErrorKind::Cancelled);
        // etcd's answer to a creation whose id another watch on the stream holds.
        let duplicate = "mvcc: duplicate watch ID provided on the WatchStream";
        let error = cancel_error(&canceled(duplicate), "e");
        assert_eq!(error.kind(), ErrorKind::WatchIdInUse);
        assert!(!refused_for_auth(error.kind()));
    }
}
