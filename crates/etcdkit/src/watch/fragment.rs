//! Reassembly of fragmented responses.
//!
//! A watch created with `fragment` lets etcd split a response larger than its request
//! limit into several, each but the last marked `fragment`. They are joined back here,
//! so a watcher never sees part of a revision.

use crate::generated::etcdserverpb as pb;

/// The fragments received so far for one watch.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    pending: Option<pb::WatchResponse>,
}

impl Reassembly {
    /// Takes one response; returns the whole response once its last fragment is in.
    pub fn push(&mut self, mut response: pb::WatchResponse) -> Option<pb::WatchResponse> {
        let more = response.fragment;
        response.fragment = false;
        let whole = match self.pending.take() {
            None => response,
            Some(mut first) => {
                first.events.append(&mut response.events);
                // The last fragment's header is the most recent one.
                if response.header.is_some() {
                    first.header = response.header;
                }
                first
            }
        };
        if more {
            self.pending = Some(whole);
            None
        } else {
            Some(whole)
        }
    }

    /// Forgets a partial response (its stream failed; the watch resumes before it).
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// True while fragments are waiting for their last one.
    #[cfg(test)]
    pub fn is_partial(&self) -> bool {
        self.pending.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::mvccpb;

    fn response(revs: &[i64], fragment: bool) -> pb::WatchResponse {
        pb::WatchResponse {
            watch_id: 7,
            fragment,
            header: Some(pb::ResponseHeader {
                revision: revs.last().copied().unwrap_or(0),
                ..Default::default()
            }),
            events: revs
                .iter()
                .map(|r| mvccpb::Event {
                    kv: Some(mvccpb::KeyValue {
                        key: format!("k{r}").into(),
                        mod_revision: *r,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn revs(r: &pb::WatchResponse) -> Vec<i64> {
        r.events
            .iter()
            .map(|e| e.kv.as_ref().unwrap().mod_revision)
            .collect()
    }

    #[test]
    fn unfragmented_responses_pass_through() {
        let mut r = Reassembly::default();
        let whole = r.push(response(&[5, 5, 6], false)).unwrap();
        assert_eq!(revs(&whole), vec![5, 5, 6]);
        assert!(!r.is_partial());
    }

    #[test]
    fn fragments_are_joined_in_order_into_one_response() {
        let mut r = Reassembly::default();
        assert!(r.push(response(&[9, 9], true)).is_none());
        assert!(r.is_partial());
        assert!(r.push(response(&[9, 9], true)).is_none());
        let whole = r.push(response(&[9], false)).unwrap();
        assert_eq!(revs(&whole), vec![9, 9, 9, 9, 9]);
        assert!(!whole.fragment);
        assert_eq!(whole.header.unwrap().revision, 9);
        assert!(!r.is_partial());
        // The next response starts afresh.
        let next = r.push(response(&[10], false)).unwrap();
        assert_eq!(revs(&next), vec![10]);
    }

    #[test]
    fn a_reset_drops_a_partial_response() {
        let mut r = Reassembly::default();
        assert!(r.push(response(&[3, 3], true)).is_none());
        r.reset();
        let whole = r.push(response(&[3, 3, 3], false)).unwrap();
        assert_eq!(revs(&whole), vec![3, 3, 3]);
    }
}
