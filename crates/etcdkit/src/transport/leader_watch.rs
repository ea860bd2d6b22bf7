//! Noticing that a write in flight has lost its leader.
//!
//! A member that is not the leader forwards a proposal to the leader and waits for it to
//! be applied. When that leader dies, or steps down cut off from its peers, a proposal
//! it had not yet replicated is gone: raft never forwards it again, and the member
//! answers only when etcd's own request timeout runs out (7 s with default settings),
//! or never before the client's deadline. A proposal that the old leader had replicated
//! is committed by the new leader as soon as it is elected, so it is answered within
//! moments of the election. (etcd's `processInternalRaftRequestOnce` waits on the
//! apply of the request id or the context; `parseProposeCtxErr` then says "request
//! timed out, possibly due to previous leader failure".)
//!
//! So a write unanswered for a while asks its member for its status: once the member
//! has a newer raft term than the one the write was sent in, or no leader at all, the
//! write is abandoned with its outcome unknown (which it is: it may have been
//! committed) instead of holding its caller until the deadline. Abandoning is always
//! safe; checking too eagerly only turns a slow success into an unknown outcome, so the
//! check starts after [`ClientOptions::leader_check_interval`](crate::ClientOptions::leader_check_interval)
//! and only counts a term change the client can date after the send.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use super::channel::CallMetadata;
use super::endpoint::Node;
use super::grpc;
use crate::generated::etcdserverpb as pb;

/// How long a status request of the check may take.
const STATUS_TIMEOUT: Duration = Duration::from_millis(500);

/// Answers this recent are shared by every write waiting on the same member.
const PROBE_REUSE: Duration = Duration::from_millis(100);

/// The raft term of the newest response header the client has had, and when: the term
/// a write is sent in, if the client heard it recently enough to be sure no election
/// came between.
pub(crate) struct TermTracker {
    epoch: std::time::Instant,
    term: AtomicU64,
    /// When `term` was last confirmed, in milliseconds since `epoch`.
    heard_at_ms: AtomicU64,
}

/// A term heard longer ago than this says nothing about the term a write is sent in.
const TERM_FRESH: Duration = Duration::from_secs(1);

impl Default for TermTracker {
    fn default() -> TermTracker {
        TermTracker {
            epoch: std::time::Instant::now(),
            term: AtomicU64::new(0),
            heard_at_ms: AtomicU64::new(0),
        }
    }
}

impl TermTracker {
    /// Records the term of a response header.
    pub fn heard(&self, term: u64) {
        if term == 0 {
            return;
        }
        let known = self.term.fetch_max(term, Ordering::AcqRel);
        if term >= known {
            self.heard_at_ms.store(self.now_ms(), Ordering::Release);
        }
    }

    /// The term current now, if the client heard it within [`TERM_FRESH`].
    pub fn current(&self) -> Option<u64> {
        let term = self.term.load(Ordering::Acquire);
        let age = self
            .now_ms()
            .saturating_sub(self.heard_at_ms.load(Ordering::Acquire));
        (term > 0 && u128::from(age) <= TERM_FRESH.as_millis()).then_some(term)
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

/// What a member said of its leader.
#[derive(Debug, Clone, Copy)]
struct LeaderStatus {
    at: Instant,
    term: u64,
    /// The leader's member id; 0 when the member knows of none.
    leader: u64,
}

/// The newest status answer of one member, shared by the writes waiting on it.
#[derive(Default)]
pub(crate) struct LeaderProbe {
    last: tokio::sync::Mutex<Option<LeaderStatus>>,
}

/// Why a write was abandoned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeaderLost {
    /// The term the write was sent in, as far as the client knows.
    pub sent_in: u64,
    /// The member's term when it was asked; equal to `sent_in` when it has no leader.
    pub now: u64,
}

impl LeaderLost {
    pub fn describe(self) -> String {
        if self.now > self.sent_in {
            format!(
                "the cluster elected a new leader (raft term {} -> {}) while the request waited: \
                 etcd drops a proposal forwarded to a leader that is gone",
                self.sent_in, self.now
            )
        } else {
            "the member lost its leader while the request waited".to_string()
        }
    }
}

/// Resolves when the member `node` shows that the leader a write sent in `sent_in` went
/// to is gone: a newer term, or no leader. Checks first after `interval`, then every
/// half `interval`; never resolves while the member does not answer its status (the
/// keepalive pings judge a silent member).
pub(crate) async fn leader_lost(
    node: &Node,
    sent_in: Option<u64>,
    interval: Duration,
    metadata: CallMetadata,
) -> LeaderLost {
    tokio::time::sleep(interval).await;
    // Boxed: the probing future holds a Status call (kilobytes), and every write carries
    // this future while it waits for its answer; almost none gets past the sleep.
    Box::pin(probe_until_lost(node, sent_in, interval, metadata)).await
}

/// Asks the member for its status every half `interval` until its term has moved past
/// `sent_in` or it has no leader.
async fn probe_until_lost(
    node: &Node,
    sent_in: Option<u64>,
    interval: Duration,
    metadata: CallMetadata,
) -> LeaderLost {
    let mut baseline = sent_in;
    loop {
        if let Some(status) = node.leader_probe.status(node, metadata.clone()).await {
            match baseline {
                Some(sent_in) if status.term > sent_in || status.leader == 0 => {
                    return LeaderLost {
                        sent_in,
                        now: status.term.max(sent_in),
                    };
                }
                Some(_) => {}
                // The term at the send was not known: the first answer is the baseline.
                None if status.leader == 0 => {
                    return LeaderLost {
                        sent_in: status.term,
                        now: status.term,
                    };
                }
                None => baseline = Some(status.term),
            }
        }
        tokio::time::sleep(interval / 2).await;
    }
}

impl LeaderProbe {
    /// The member's status, asked now or shared from an answer under [`PROBE_REUSE`]
    /// old; `None` when it does not answer within [`STATUS_TIMEOUT`].
    async fn status(&self, node: &Node, metadata: CallMetadata) -> Option<LeaderStatus> {
        let mut last = self.last.lock().await;
        if let Some(status) = *last
            && status.at.elapsed() < PROBE_REUSE
        {
            return Some(status);
        }
        let frame = grpc::encode(&pb::StatusRequest {});
        // Status is answered by the member itself, with or without a leader.
        let metadata = CallMetadata {
            require_leader: false,
            ..metadata
        };
        let asked = node.channel.unary::<pb::StatusResponse>(
            "/etcdserverpb.Maintenance/Status",
            frame,
            metadata,
            64 * 1024,
        );
        let response = tokio::time::timeout(STATUS_TIMEOUT, asked)
            .await
            .ok()?
            .ok()?;
        let status = LeaderStatus {
            at: Instant::now(),
            term: response.raft_term,
            leader: response.leader,
        };
        *last = Some(status);
        Some(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_term_a_write_is_sent_in_is_known_only_once_heard() {
        let terms = TermTracker::default();
        assert_eq!(terms.current(), None, "nothing heard yet");
        terms.heard(0);
        assert_eq!(terms.current(), None, "term 0 is no term");
        terms.heard(7);
        terms.heard(5);
        assert_eq!(terms.current(), Some(7), "the newest term wins");
    }

    #[test]
    fn a_lost_leader_says_which_terms() {
        let elected = LeaderLost { sent_in: 3, now: 4 };
        assert!(elected.describe().contains("raft term 3 -> 4"));
        let none = LeaderLost { sent_in: 3, now: 3 };
        assert!(none.describe().contains("lost its leader"));
    }
}
