//! Resume bookkeeping: where each watch stands, so that after a stream failure it is
//! re-created from the revision after the last one it delivered, and nothing already
//! delivered is delivered again.
//!
//! etcd never splits the events of one revision across responses (fragments aside, and
//! those are joined before they get here), so "every revision up to N was delivered" is
//! an exact statement after each delivery, and filtering by revision is exact too.

use std::time::Duration;

use bytes::Bytes;

use crate::generated::{etcdserverpb as pb, mvccpb};

/// What a watch asks for: fixed when it is created (keys already in the namespace).
#[derive(Debug, Clone, Default)]
pub(crate) struct Spec {
    pub key: Bytes,
    pub range_end: Bytes,
    pub start_revision: i64,
    pub prev_kv: bool,
    pub progress_notify: bool,
    pub no_put: bool,
    pub no_delete: bool,
    pub fragment: bool,
    pub created_notify: bool,
}

/// How far one watch has got.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// The revision asked for at creation (0: from now).
    start: i64,
    /// The first revision not yet delivered; `None` until the server said where "now" was.
    next: Option<i64>,
}

impl Progress {
    pub fn new(start_revision: i64) -> Progress {
        Progress {
            start: start_revision,
            next: (start_revision > 0).then_some(start_revision),
        }
    }

    /// The server created the watch; its header revision is the store's revision then.
    /// A watch "from now" starts after it.
    pub fn on_created(&mut self, header_revision: i64) {
        if self.next.is_none() {
            self.next = Some(header_revision.saturating_add(1).max(1));
        }
    }

    /// Drops the events already delivered (a resumed watch may be sent them again).
    pub fn fresh(&self, mut events: Vec<mvccpb::Event>) -> Vec<mvccpb::Event> {
        if let Some(next) = self.next {
            events.retain(|e| e.kv.as_ref().map_or(0, |kv| kv.mod_revision) >= next);
        }
        events
    }

    /// Every event up to `revision` has been delivered.
    pub fn delivered(&mut self, revision: i64) {
        let after = revision.saturating_add(1);
        if self.next.is_none_or(|n| after > n) {
            self.next = Some(after);
        }
    }

    /// The revision to (re-)create the watch from: 0 means "now".
    pub fn resume_revision(&self) -> i64 {
        self.next.unwrap_or(self.start)
    }

    /// The last revision known to be delivered, for a lagging watcher's error.
    pub fn last_delivered(&self) -> i64 {
        self.next.map_or(0, |n| n.saturating_sub(1))
    }
}

/// The create request of a watch with our id, from where it stands.
pub(crate) fn create_request(id: i64, spec: &Spec, progress: &Progress) -> pb::WatchRequest {
    use pb::watch_create_request::FilterType;
    let mut filters = Vec::new();
    if spec.no_put {
        filters.push(FilterType::Noput as i32);
    }
    if spec.no_delete {
        filters.push(FilterType::Nodelete as i32);
    }
    pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: spec.key.clone(),
                range_end: spec.range_end.clone(),
                start_revision: progress.resume_revision(),
                progress_notify: spec.progress_notify,
                filters,
                prev_kv: spec.prev_kv,
                watch_id: id,
                fragment: spec.fragment,
            },
        )),
    }
}

pub(crate) fn cancel_request(id: i64) -> pb::WatchRequest {
    pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CancelRequest(
            pb::WatchCancelRequest { watch_id: id },
        )),
    }
}

pub(crate) fn progress_request() -> pb::WatchRequest {
    pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::ProgressRequest(
            pb::WatchProgressRequest {},
        )),
    }
}

/// The wait before re-opening a stream after `failures` attempts in a row that got
/// nothing from the server (none after a stream that worked).
pub(crate) fn reconnect_delay(failures: u32) -> Duration {
    const RECONNECT: crate::Backoff =
        crate::Backoff::new(Duration::from_millis(50), Duration::from_secs(3));
    RECONNECT.delay(failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(revs: &[i64]) -> Vec<mvccpb::Event> {
        revs.iter()
            .map(|r| mvccpb::Event {
                kv: Some(mvccpb::KeyValue {
                    key: "k".into(),
                    mod_revision: *r,
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect()
    }

    fn revs(e: &[mvccpb::Event]) -> Vec<i64> {
        e.iter()
            .map(|e| e.kv.as_ref().unwrap().mod_revision)
            .collect()
    }

    fn start_of(req: &pb::WatchRequest) -> i64 {
        match &req.request_union {
            Some(pb::watch_request::RequestUnion::CreateRequest(c)) => c.start_revision,
            _ => panic!("not a create"),
        }
    }

    #[test]
    fn a_watch_from_now_resumes_after_its_creation_revision() {
        let mut p = Progress::new(0);
        assert_eq!(p.resume_revision(), 0, "before creation: still from now");
        p.on_created(41);
        assert_eq!(p.resume_revision(), 42);
        // A second creation (after a resume) does not move it.
        p.on_created(100);
        assert_eq!(p.resume_revision(), 42);
        assert_eq!(p.last_delivered(), 41);
    }

    #[test]
    fn resumes_from_last_delivered_plus_one_or_the_start() {
        let mut p = Progress::new(10);
        let spec = Spec::default();
        assert_eq!(start_of(&create_request(1, &spec, &p)), 10);
        p.on_created(50);
        assert_eq!(p.resume_revision(), 10, "a start revision is kept");
        let fresh = p.fresh(events(&[10, 11, 11]));
        assert_eq!(revs(&fresh), vec![10, 11, 11]);
        p.delivered(11);
        assert_eq!(start_of(&create_request(1, &spec, &p)), 12);
        assert_eq!(p.last_delivered(), 11);
    }

    #[test]
    fn events_already_delivered_are_dropped_whole_revisions_kept() {
        let mut p = Progress::new(1);
        p.delivered(20);
        // After a resume the server may repeat revisions up to 20.
        let fresh = p.fresh(events(&[19, 20, 20, 21, 21, 22]));
        assert_eq!(revs(&fresh), vec![21, 21, 22]);
        assert!(p.fresh(events(&[18, 20])).is_empty());
        // Delivery never moves backwards.
        p.delivered(5);
        assert_eq!(p.resume_revision(), 21);
    }

    #[test]
    fn create_requests_carry_options_and_our_id() {
        let spec = Spec {
            key: "a".into(),
            range_end: "b".into(),
            prev_kv: true,
            progress_notify: true,
            no_put: true,
            no_delete: true,
            fragment: true,
            ..Default::default()
        };
        let req = create_request(77, &spec, &Progress::new(0));
        let Some(pb::watch_request::RequestUnion::CreateRequest(c)) = req.request_union else {
            panic!("not a create")
        };
        assert_eq!(c.watch_id, 77);
        assert_eq!(c.filters, vec![0, 1]);
        assert!(c.prev_kv && c.progress_notify && c.fragment);
        assert_eq!(
            (c.key.as_ref(), c.range_end.as_ref()),
            (&b"a"[..], &b"b"[..])
        );
    }

    #[test]
    fn reconnect_delay_grows_and_caps() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert!(reconnect_delay(1) <= Duration::from_millis(50));
        for _ in 0..20 {
            assert!(reconnect_delay(30) <= Duration::from_secs(3));
        }
    }
}
