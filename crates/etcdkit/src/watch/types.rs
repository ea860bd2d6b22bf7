//! What a watcher delivers: responses made of events, in our own types.

use std::fmt;

use bytes::Bytes;

use crate::generated::{etcdserverpb as pb, mvccpb};
use crate::namespace::Namespace;
use crate::types::{KeyValue, ResponseHeader, Revision};

/// Whether an event wrote or removed a key.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The key was created or updated.
    Put,
    /// The key was deleted (explicitly, or by its lease expiring).
    Delete,
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Put => "PUT",
            EventType::Delete => "DELETE",
        })
    }
}

/// One change of one key.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    event_type: EventType,
    kv: KeyValue,
    prev_kv: Option<KeyValue>,
}

impl Event {
    pub(crate) fn from_pb(e: mvccpb::Event, ns: &Namespace) -> Event {
        // etcd defines only PUT (0) and DELETE (1).
        let event_type = if e.r#type == mvccpb::event::EventType::Delete as i32 {
            EventType::Delete
        } else {
            EventType::Put
        };
        let mut kv = e.kv.unwrap_or_default();
        ns.strip_kv(&mut kv);
        let prev_kv = e.prev_kv.map(|mut p| {
            ns.strip_kv(&mut p);
            KeyValue(p)
        });
        Event {
            event_type,
            kv: KeyValue(kv),
            prev_kv,
        }
    }

    /// Put or delete.
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// The key as written; for a delete, only the key and its `mod_revision` (the
    /// revision of the delete) are set.
    pub fn kv(&self) -> &KeyValue {
        &self.kv
    }

    /// The key's previous value, when the watch asked for it (`prev_kv`) and there was one.
    pub fn prev_kv(&self) -> Option<&KeyValue> {
        self.prev_kv.as_ref()
    }

    /// The key.
    pub fn key(&self) -> &Bytes {
        self.kv.key()
    }

    /// The revision of the change.
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("type", &self.event_type)
            .field("kv", &self.kv)
            .field("prev_kv", &self.prev_kv)
            .finish()
    }
}

/// What a watcher delivers: the events of one or more whole revisions (never part of
/// one), a progress notification (no events), or the notice that the watch was created
/// (only when asked for with `created_notify`).
#[derive(Debug, Clone)]
pub struct WatchResponse {
    header: ResponseHeader,
    events: Vec<Event>,
    created: bool,
}

impl WatchResponse {
    pub(crate) fn new(header: Option<pb::ResponseHeader>, events: Vec<Event>) -> WatchResponse {
        WatchResponse {
            header: header.into(),
            events,
            created: false,
        }
    }

    pub(crate) fn created(header: Option<pb::ResponseHeader>) -> WatchResponse {
        WatchResponse {
            header: header.into(),
            events: Vec::new(),
            created: true,
        }
    }

    /// The response header; its revision is the store's revision when the response was
    /// sent (for a progress notification: every event up to it has been delivered).
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// The events, in revision order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Takes the events.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// True for the notice that the watch was created (`created_notify`).
    pub fn is_created(&self) -> bool {
        self.created
    }

    /// True for a progress notification: no events, only a header revision.
    pub fn is_progress_notify(&self) -> bool {
        self.events.is_empty() && !self.created
    }
}
