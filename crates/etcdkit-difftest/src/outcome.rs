//! Normalized results: what two etcd-compatible servers must agree on, with what may
//! differ taken out.
//!
//! Taken out: the header's cluster id, member id and raft term (each cluster has its
//! own); a lease's remaining TTL (a clock reading: only "alive or not" is kept); the order
//! of lists etcd does not define (leases, a lease's keys); and, for ranges sorted by
//! something other than the key, the order among keys that tie on the sort target (etcd
//! sorts with Go's unstable sort). Everything else is compared: revisions, key-values
//! with their create/mod revisions, versions and leases, previous key-values, deleted
//! counts, `more` and `count`, events, and errors (kind, gRPC code, message, compact
//! revision).

use etcdkit::kv::{
    DeleteResponse, GetResponse, PutResponse, SortOrder, SortTarget, TxnOpResponse, TxnResponse,
};
use etcdkit::watch::{Event, EventType};
use etcdkit::{Error, KeyValue};

use crate::op::{TxnOpSpec, TxnSpec};

/// A value as compared: text when short and UTF-8, else its length and a hash.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bytes {
    /// Short UTF-8.
    Text(String),
    /// Anything else: length and FNV-1a hash.
    Opaque {
        /// Length in bytes.
        len: usize,
        /// FNV-1a of the bytes.
        hash: u64,
    },
}

impl Bytes {
    pub(crate) fn of(b: &[u8]) -> Bytes {
        match std::str::from_utf8(b) {
            Ok(s) if s.len() <= 64 => Bytes::Text(s.to_string()),
            _ => Bytes::Opaque {
                len: b.len(),
                hash: b.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &x| {
                    (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
                }),
            },
        }
    }
}

/// A key-value as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kv {
    /// The key (with the run's prefix).
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// Creation revision.
    pub create: i64,
    /// Last modification revision.
    pub modified: i64,
    /// Version.
    pub version: i64,
    /// Lease (0: none).
    pub lease: i64,
}

impl Kv {
    pub(crate) fn of(kv: &KeyValue) -> Kv {
        Kv {
            key: Bytes::of(kv.key()),
            value: Bytes::of(kv.value()),
            create: kv.create_revision().get(),
            modified: kv.mod_revision().get(),
            version: kv.version(),
            lease: kv.lease().map_or(0, |l| l.get()),
        }
    }
}

/// An error as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The client's kind for it.
    pub kind: String,
    /// The gRPC code, when the server sent one.
    pub code: Option<&'static str>,
    /// The message (etcd's, for a server error).
    pub message: String,
    /// For a compaction error, the revision history starts at.
    pub compact_revision: Option<i64>,
    /// Whether the request may or may not have been applied (the connection failed after
    /// it was sent).
    pub outcome_unknown: bool,
}

impl Failure {
    pub(crate) fn of(e: &Error) -> Failure {
        Failure {
            kind: format!("{:?}", e.kind()),
            code: e.code().map(|c| c.as_str()),
            message: e.message().to_string(),
            compact_revision: e.compact_revision().map(|r| r.get()),
            outcome_unknown: e.is_outcome_unknown(),
        }
    }
}

/// A watch event as compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ev {
    /// `true` for a put, `false` for a delete.
    pub put: bool,
    /// The key-value (for a delete: the key and the delete's revision).
    pub kv: Kv,
    /// The previous key-value, when asked for.
    pub prev: Option<Kv>,
}

impl Ev {
    pub(crate) fn of(e: &Event) -> Ev {
        Ev {
            put: e.event_type() == EventType::Put,
            kv: Kv::of(e.kv()),
            prev: e.prev_kv().map(Kv::of),
        }
    }
}

/// A normalized result of one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A refused request.
    Failed(Failure),
    /// A put.
    Put {
        /// Header revision.
        revision: i64,
        /// The previous key-value.
        prev: Option<Kv>,
    },
    /// A range read.
    Range {
        /// Header revision.
        revision: i64,
        /// The key-values, in the order compared (see the module docs).
        kvs: Vec<Kv>,
        /// Whether a limit cut the result.
        more: bool,
        /// Keys in the range.
        count: i64,
        /// Sort-target values of the last tie group a limit cut, when its keys may differ.
        cut_ties: Option<Vec<String>>,
    },
    /// A delete.
    Delete {
        /// Header revision.
        revision: i64,
        /// Keys deleted.
        deleted: i64,
        /// The deleted key-values.
        prev: Vec<Kv>,
    },
    /// A transaction.
    Txn {
        /// Header revision.
        revision: i64,
        /// Whether the compares held.
        succeeded: bool,
        /// The results of the branch that ran.
        responses: Vec<Outcome>,
    },
    /// A compaction.
    Compacted {
        /// Header revision.
        revision: i64,
    },
    /// A lease grant.
    Granted {
        /// Header revision.
        revision: i64,
        /// The lease id.
        id: i64,
        /// The TTL granted.
        ttl: i64,
    },
    /// A lease revoke.
    Revoked {
        /// Header revision (`None`: settled as gone by the client after a retry).
        revision: Option<i64>,
    },
    /// A lease's time to live.
    TimeToLive {
        /// Header revision.
        revision: i64,
        /// Whether the lease exists (the remaining TTL itself is a clock reading).
        alive: bool,
        /// The TTL it was granted with.
        granted_ttl: i64,
        /// Its keys, sorted.
        keys: Vec<Bytes>,
    },
    /// One keepalive.
    KeptAlive {
        /// The TTL renewed to.
        ttl: i64,
    },
    /// The lease list.
    Leases {
        /// Header revision.
        revision: i64,
        /// The ids, sorted.
        ids: Vec<i64>,
    },
    /// A lease left to expire with its keys.
    Expired {
        /// The grant's result.
        grant: Box<Outcome>,
        /// The puts' results.
        puts: Vec<Outcome>,
        /// The keys read back after the expiry (a range over them), with the revision.
        after: Vec<Outcome>,
    },
    /// A watch's events up to the revision it was opened at, or its error.
    Watched {
        /// The events, in order.
        events: Vec<Ev>,
        /// The error the watch failed or ended with, if any.
        error: Option<Failure>,
    },
    /// The gRPC status of a request sent around the client.
    Raw {
        /// The status code's name.
        code: String,
        /// The status message.
        message: String,
    },
}

impl Outcome {
    /// The header revision, when the step has one (the store's revision after it).
    pub fn revision(&self) -> Option<i64> {
        match self {
            Outcome::Put { revision, .. }
            | Outcome::Range { revision, .. }
            | Outcome::Delete { revision, .. }
            | Outcome::Txn { revision, .. }
            | Outcome::Compacted { revision }
            | Outcome::Granted { revision, .. }
            | Outcome::TimeToLive { revision, .. }
            | Outcome::Leases { revision, .. } => Some(*revision),
            Outcome::Revoked { revision } => *revision,
            Outcome::Expired { after, .. } => after.last().and_then(Outcome::revision),
            Outcome::Failed(_)
            | Outcome::KeptAlive { .. }
            | Outcome::Watched { .. }
            | Outcome::Raw { .. } => None,
        }
    }

    pub(crate) fn put(r: &PutResponse) -> Outcome {
        Outcome::Put {
            revision: r.header().revision().get(),
            prev: r.prev_kv().map(Kv::of),
        }
    }

    pub(crate) fn range(r: &GetResponse, sort: Option<(SortTarget, SortOrder)>) -> Outcome {
        let mut kvs: Vec<Kv> = r.kvs().iter().map(Kv::of).collect();
        let mut cut_ties = None;
        if let Some((target, _)) = sort
            && target != SortTarget::Key
        {
            // Ties on the target come in an order etcd does not define: order each tie
            // group by key. A group a limit cut may hold different keys on each side:
            // keep only its sort values.
            let tie = |kv: &Kv| sort_value(kv, target);
            let mut groups: Vec<Vec<Kv>> = Vec::new();
            for kv in kvs {
                match groups.last_mut() {
                    Some(g) if g.first().map(tie) == Some(tie(&kv)) => g.push(kv),
                    _ => groups.push(vec![kv]),
                }
            }
            for g in &mut groups {
                g.sort_by(|a, b| a.key.cmp(&b.key));
            }
            if r.more()
                && let Some(last) = groups.pop()
            {
                cut_ties = Some(last.iter().map(tie).collect());
            }
            kvs = groups.into_iter().flatten().collect();
        }
        Outcome::Range {
            revision: r.header().revision().get(),
            kvs,
            more: r.more(),
            count: r.count(),
            cut_ties,
        }
    }

    pub(crate) fn delete(r: &DeleteResponse) -> Outcome {
        Outcome::Delete {
            revision: r.header().revision().get(),
            deleted: r.deleted(),
            prev: r.prev_kvs().iter().map(Kv::of).collect(),
        }
    }

    /// A transaction's result; `spec` is its request, whose branch that ran says how
    /// each range in it was sorted.
    pub(crate) fn txn(r: &TxnResponse, spec: &TxnSpec) -> Outcome {
        let branch = if r.succeeded() {
            &spec.success
        } else {
            &spec.failure
        };
        let responses = r
            .responses()
            .iter()
            .enumerate()
            .map(|(i, op)| match (op, branch.get(i)) {
                (TxnOpResponse::Get(g), Some(TxnOpSpec::Range(range))) => {
                    Outcome::range(g, range.sort)
                }
                (TxnOpResponse::Get(g), _) => Outcome::range(g, None),
                (TxnOpResponse::Put(p), _) => Outcome::put(p),
                (TxnOpResponse::Delete(d), _) => Outcome::delete(d),
                (TxnOpResponse::Txn(t), Some(TxnOpSpec::Txn(inner))) => Outcome::txn(t, inner),
                (TxnOpResponse::Txn(t), _) => Outcome::txn(t, &TxnSpec::default()),
                _ => Outcome::Failed(Failure {
                    kind: "Unknown".into(),
                    code: None,
                    message: "a transaction result of a kind this harness does not know".into(),
                    compact_revision: None,
                    outcome_unknown: false,
                }),
            })
            .collect();
        Outcome::Txn {
            revision: r.header().revision().get(),
            succeeded: r.succeeded(),
            responses,
        }
    }
}

/// The value a range is sorted by, as text.
fn sort_value(kv: &Kv, target: SortTarget) -> String {
    match target {
        SortTarget::Version => kv.version.to_string(),
        SortTarget::Create => kv.create.to_string(),
        SortTarget::Mod => kv.modified.to_string(),
        SortTarget::Value => format!("{:?}", kv.value),
        _ => format!("{:?}", kv.key),
    }
}
