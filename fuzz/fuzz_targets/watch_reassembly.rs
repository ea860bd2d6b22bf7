//! Watch responses joined from their fragments, then filtered by the resume bookkeeping,
//! as each watch's stream task does with what the server sends.
//!
//! The server is modelled: each response holds the events of whole revisions (several
//! events per revision, as a txn makes), split into fragments anywhere; the stream may
//! fail after any fragment, and the watch is then resumed and the server sends the
//! response again (and, sometimes, the one before it too, as it does when resuming from
//! an older revision). Properties: every event is delivered exactly once and in order; a
//! revision is never split across two deliveries; a partial response is never delivered;
//! no delivered response is marked `fragment`. Raw responses (any protobuf) in between
//! must not panic or yield a fragment.
#![no_main]

use arbitrary::Arbitrary;
use etcdkit::__fuzz::{Progress, Reassembly, mvccpb, pb};
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Arbitrary, Debug)]
enum Step {
    /// A response with one event per entry: 0 in the same revision as the event before,
    /// anything else in the next revision.
    Response {
        events: Vec<u8>,
        /// Events per fragment, cycled (0 makes an empty fragment).
        splits: Vec<u8>,
        /// The stream fails after this many fragments (when fewer than all).
        fail_after: Option<u8>,
        /// On resume the server also sends the previous response again.
        resend_previous: bool,
    },
    /// Whatever the bytes decode to, then a stream failure.
    Raw(Vec<Vec<u8>>),
}

struct Model {
    reassembly: Reassembly,
    progress: Progress,
    revision: i64,
    /// Every event the server made, each once, in order.
    expected: Vec<i64>,
    delivered: Vec<i64>,
    previous: Vec<mvccpb::Event>,
}

fn event(revision: i64, n: usize) -> mvccpb::Event {
    mvccpb::Event {
        kv: Some(mvccpb::KeyValue {
            key: format!("k{n}").into(),
            mod_revision: revision,
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn rev(e: &mvccpb::Event) -> i64 {
    e.kv.as_ref().map_or(0, |kv| kv.mod_revision)
}

impl Model {
    /// Sends `events` as fragments; false when the stream failed part way.
    fn send(&mut self, events: &[mvccpb::Event], splits: &[u8], fail_after: Option<usize>) -> bool {
        let mut sizes = splits.iter().map(|s| usize::from(*s % 8)).cycle();
        let mut rest = events;
        let mut sent = 0;
        let mut empty_before = false;
        loop {
            if fail_after == Some(sent) {
                self.reassembly.reset();
                return false;
            }
            let mut n = sizes.next().unwrap_or(rest.len()).min(rest.len());
            // Empty fragments are allowed, but not forever.
            if n == 0 && empty_before && !rest.is_empty() {
                n = 1;
            }
            empty_before = n == 0;
            let (chunk, tail) = rest.split_at(n);
            rest = tail;
            let last = rest.is_empty();
            let response = pb::WatchResponse {
                watch_id: 1,
                fragment: !last,
                header: Some(pb::ResponseHeader {
                    revision: chunk.last().map_or(self.revision, rev),
                    ..Default::default()
                }),
                events: chunk.to_vec(),
                ..Default::default()
            };
            sent += 1;
            let whole = self.reassembly.push(response);
            match whole {
                Some(whole) => {
                    assert!(last, "a response was delivered before its last fragment");
                    self.deliver(whole);
                    return true;
                }
                None => assert!(!last, "the last fragment yielded nothing"),
            }
        }
    }

    fn deliver(&mut self, whole: pb::WatchResponse) {
        assert!(!whole.fragment, "a delivered response is marked fragment");
        let fresh = self.progress.fresh(whole.events);
        let Some(last) = fresh.last().map(rev) else {
            return;
        };
        if let (Some(first), Some(before)) = (fresh.first(), self.delivered.last()) {
            assert!(
                rev(first) > *before,
                "revision {} delivered again or split (last delivered {before})",
                rev(first)
            );
        }
        self.delivered.extend(fresh.iter().map(rev));
        self.progress.delivered(last);
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let mut m = Model {
        reassembly: Reassembly::default(),
        progress: Progress::new(0),
        revision: 1,
        expected: Vec::new(),
        delivered: Vec::new(),
        previous: Vec::new(),
    };
    m.progress.on_created(1);
    for step in steps {
        match step {
            Step::Response {
                events,
                splits,
                fail_after,
                resend_previous,
            } => {
                let mut made = Vec::new();
                for (n, e) in events.iter().enumerate() {
                    if n == 0 || *e != 0 {
                        m.revision += 1;
                    }
                    made.push(event(m.revision, n));
                }
                m.expected.extend(made.iter().map(rev));
                if !m.send(&made, &splits, fail_after.map(usize::from)) {
                    // Resumed: the server starts again from the resume revision or before.
                    assert!(m.progress.resume_revision() <= made.first().map_or(i64::MAX, rev));
                    if resend_previous {
                        let previous = m.previous.clone();
                        assert!(m.send(&previous, &[], None));
                    }
                    assert!(m.send(&made, &splits, None));
                }
                m.previous = made;
            }
            Step::Raw(raw) => {
                for bytes in raw {
                    if let Ok(response) = pb::WatchResponse::decode(bytes.as_slice())
                        && let Some(whole) = m.reassembly.push(response)
                    {
                        assert!(!whole.fragment);
                    }
                }
                m.reassembly.reset();
            }
        }
    }
    assert_eq!(m.delivered, m.expected, "events lost or repeated");
});
