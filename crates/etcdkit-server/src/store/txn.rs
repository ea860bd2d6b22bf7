//! Txn: compares, then one branch of ops, all at one revision, with etcd's checks first.
//!
//! etcd's order, kept here because clients see it in which error comes back:
//! 1. the request's shape (too many ops, empty keys, empty ops) and duplicate writes;
//! 2. the path: every compare on the chosen path, nested ones included, evaluated against
//!    the store before the txn;
//! 3. the ops on the path, in order: a put's previous key (for `ignore_*`) then its
//!    lease, a range's revision (neither compacted nor in the future);
//! 4. the ops, in order, reads seeing earlier writes of the same txn.

use std::cmp::Ordering;
use std::collections::HashSet;

use bytes::Bytes;

use super::write::{check_put, delete_in, put_in};
use super::{Committed, KeyRange, Store, Writer};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::generated::etcdserverpb::request_op::Request;
use crate::generated::etcdserverpb::response_op::Response;
use crate::generated::etcdserverpb::{
    Compare, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use crate::generated::mvccpb::KeyValue;

impl Store {
    /// Applies a txn.
    ///
    /// # Errors
    ///
    /// [`EtcdError::TooManyOps`] past `max_ops` compares or ops in a branch (at any depth),
    /// [`EtcdError::EmptyKey`], [`EtcdError::KeyNotFound`] for an empty op,
    /// [`EtcdError::DuplicateKey`], and the errors of the ops on the chosen path. Nothing
    /// is applied when it fails.
    pub(crate) fn txn(
        &mut self,
        req: &TxnRequest,
        max_ops: usize,
        lease_exists: impl Fn(i64) -> bool,
    ) -> Result<(TxnResponse, Committed), EtcdError> {
        check_shape(req, max_ops)?;
        check_intervals(&req.success)?;
        check_intervals(&req.failure)?;
        let mut path = Vec::new();
        self.compare_path(req, &mut path);
        let current = self.current;
        walk(req, &path, &mut 0, &mut |op| match op {
            Request::RequestPut(put) => {
                if (put.ignore_value || put.ignore_lease)
                    && self.get_at(&put.key, current).is_none()
                {
                    return Err(EtcdError::KeyNotFound);
                }
                if put.lease != 0 && !lease_exists(put.lease) {
                    return Err(EtcdError::LeaseNotFound);
                }
                Ok(())
            }
            Request::RequestRange(range) if range.revision != 0 => {
                if range.revision > current {
                    Err(EtcdError::FutureRev)
                } else if range.revision < self.compacted {
                    Err(EtcdError::Compacted)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        })?;
        let mut w = Writer::new(self);
        let mut resp = match execute(&mut w, req, &path, &mut 0) {
            Ok(resp) => resp,
            // Only an op that fails on what an earlier op of the same txn did gets here
            // (a put with `ignore_value` of a key the txn deleted first). etcd's checks
            // miss it too and its member panics; this server refuses the txn whole.
            Err(e) => {
                w.abort();
                return Err(e);
            }
        };
        let committed = w.commit();
        resp.header = Some(ResponseHeader {
            revision: committed.revision,
            ..ResponseHeader::default()
        });
        Ok((resp, committed))
    }

    /// Evaluates the compares on the chosen path, depth first, against the store as it is.
    fn compare_path(&self, req: &TxnRequest, path: &mut Vec<bool>) {
        let ok = req.compare.iter().all(|c| self.compare(c));
        path.push(ok);
        for op in if ok { &req.success } else { &req.failure } {
            if let Some(Request::RequestTxn(nested)) = &op.request {
                self.compare_path(nested, path);
            }
        }
    }

    /// One compare: true when every live key in its range satisfies it. No key satisfies a
    /// value compare; for the others, a missing key compares as zeroes.
    fn compare(&self, c: &Compare) -> bool {
        let range = KeyRange::new(&c.key, &c.range_end);
        let mut any = false;
        for kv in self.live_at(&range, self.current) {
            any = true;
            if !compare_kv(c, kv) {
                return false;
            }
        }
        if any {
            return true;
        }
        if CompareTarget::try_from(c.target) == Ok(CompareTarget::Value) {
            return false;
        }
        compare_kv(c, &KeyValue::default())
    }
}

fn compare_kv(c: &Compare, kv: &KeyValue) -> bool {
    let int = |want: Option<i64>, have: i64| have.cmp(&want.unwrap_or(0));
    let ordering = match CompareTarget::try_from(c.target) {
        Ok(CompareTarget::Value) => {
            let want: &[u8] = match &c.target_union {
                Some(TargetUnion::Value(v)) => v,
                _ => &[],
            };
            kv.value.as_ref().cmp(want)
        }
        Ok(CompareTarget::Create) => int(
            match c.target_union {
                Some(TargetUnion::CreateRevision(r)) => Some(r),
                _ => None,
            },
            kv.create_revision,
        ),
        Ok(CompareTarget::Mod) => int(
            match c.target_union {
                Some(TargetUnion::ModRevision(r)) => Some(r),
                _ => None,
            },
            kv.mod_revision,
        ),
        Ok(CompareTarget::Version) => int(
            match c.target_union {
                Some(TargetUnion::Version(r)) => Some(r),
                _ => None,
            },
            kv.version,
        ),
        Ok(CompareTarget::Lease) => int(
            match c.target_union {
                Some(TargetUnion::Lease(r)) => Some(r),
                _ => None,
            },
            kv.lease,
        ),
        // An unknown target compares nothing; etcd's switch falls through to "equal".
        Err(_) => Ordering::Equal,
    };
    match CompareResult::try_from(c.result) {
        Ok(CompareResult::Equal) => ordering == Ordering::Equal,
        Ok(CompareResult::NotEqual) => ordering != Ordering::Equal,
        Ok(CompareResult::Greater) => ordering == Ordering::Greater,
        Ok(CompareResult::Less) => ordering == Ordering::Less,
        Err(_) => true,
    }
}

/// Calls `f` on every non-txn op on the chosen `path`, depth first; `at` is the position in
/// `path` of `req`'s own compares.
fn walk<'r>(
    req: &'r TxnRequest,
    path: &[bool],
    at: &mut usize,
    f: &mut impl FnMut(&'r Request) -> Result<(), EtcdError>,
) -> Result<(), EtcdError> {
    let ok = path.get(*at).copied().unwrap_or(false);
    *at += 1;
    for op in if ok { &req.success } else { &req.failure } {
        match &op.request {
            Some(Request::RequestTxn(nested)) => walk(nested, path, at, f)?,
            Some(other) => f(other)?,
            None => {}
        }
    }
    Ok(())
}

/// etcd's shape checks, recursively.
fn check_shape(req: &TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    let widest = req
        .compare
        .len()
        .max(req.success.len())
        .max(req.failure.len());
    if widest > max_ops {
        return Err(EtcdError::TooManyOps);
    }
    if req.compare.iter().any(|c| c.key.is_empty()) {
        return Err(EtcdError::EmptyKey);
    }
    for op in req.success.iter().chain(&req.failure) {
        match &op.request {
            Some(Request::RequestRange(r)) if r.key.is_empty() => {
                return Err(EtcdError::EmptyKey);
            }
            Some(Request::RequestRange(_)) => {}
            Some(Request::RequestPut(p)) => check_put(p)?,
            Some(Request::RequestDeleteRange(d)) if d.key.is_empty() => {
                return Err(EtcdError::EmptyKey);
            }
            Some(Request::RequestDeleteRange(_)) => {}
            Some(Request::RequestTxn(nested)) => check_shape(nested, max_ops)?,
            // An op with nothing in it.
            None => return Err(EtcdError::KeyNotFound),
        }
    }
    Ok(())
}

/// A deleted interval: `[start, end)`, or the key `start` alone when `end` is `None`.
/// Compared as plain byte strings, like etcd's interval tree (so a `"\0"` end deletes
/// nothing a put could collide with).
struct Deleted {
    start: Bytes,
    end: Option<Bytes>,
}

impl Deleted {
    fn hits(&self, key: &[u8]) -> bool {
        match &self.end {
            None => self.start.as_ref() == key,
            Some(end) => self.start.as_ref() <= key && key < end.as_ref(),
        }
    }
}

/// etcd's duplicate-write rule for one branch: a key put twice, or put and deleted, fails.
/// Puts in the two branches of one nested txn may share keys (only one branch runs).
/// Returns the branch's puts and deletes, nested ones included.
fn check_intervals(ops: &[RequestOp]) -> Result<(HashSet<Bytes>, Vec<Deleted>), EtcdError> {
    let mut dels: Vec<Deleted> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(d)) => Some(Deleted {
                start: d.key.clone(),
                end: (!d.range_end.is_empty()).then(|| d.range_end.clone()),
            }),
            _ => None,
        })
        .collect();
    let mut puts: HashSet<Bytes> = HashSet::new();
    for op in ops {
        let Some(Request::RequestTxn(nested)) = &op.request else {
            continue;
        };
        let (puts_then, dels_then) = check_intervals(&nested.success)?;
        let (puts_else, dels_else) = check_intervals(&nested.failure)?;
        for k in &puts_then {
            if puts.contains(k) || dels.iter().any(|d| d.hits(k)) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        for k in &puts_else {
            if (puts.contains(k) && !puts_then.contains(k)) || dels.iter().any(|d| d.hits(k)) {
                return Err(EtcdError::DuplicateKey);
            }
            puts.insert(k.clone());
        }
        dels.extend(dels_then);
        dels.extend(dels_else);
    }
    for op in ops {
        let Some(Request::RequestPut(p)) = &op.request else {
            continue;
        };
        if puts.contains(&p.key) || dels.iter().any(|d| d.hits(&p.key)) {
            return Err(EtcdError::DuplicateKey);
        }
        puts.insert(p.key.clone());
    }
    Ok((puts, dels))
}

/// Runs the chosen branch of `req` (and of its nested txns) inside `w`. A nested txn's
/// response has an empty header, as etcd's.
fn execute(
    w: &mut Writer<'_>,
    req: &TxnRequest,
    path: &[bool],
    at: &mut usize,
) -> Result<TxnResponse, EtcdError> {
    let ok = path.get(*at).copied().unwrap_or(false);
    *at += 1;
    let ops = if ok { &req.success } else { &req.failure };
    let mut responses = Vec::with_capacity(ops.len());
    for op in ops {
        let response = match &op.request {
            Some(Request::RequestRange(r)) => {
                Response::ResponseRange(w.store().range_at(r, w.read_rev())?)
            }
            Some(Request::RequestPut(p)) => Response::ResponsePut(put_in(w, p)?),
            Some(Request::RequestDeleteRange(d)) => Response::ResponseDeleteRange(delete_in(w, d)),
            Some(Request::RequestTxn(nested)) => {
                Response::ResponseTxn(execute(w, nested, path, at)?)
            }
            None => continue,
        };
        responses.push(ResponseOp {
            response: Some(response),
        });
    }
    Ok(TxnResponse {
        header: Some(ResponseHeader::default()),
        succeeded: ok,
        responses,
    })
}

/// Whether a txn's ops (either branch, any depth) write anything.
/// The checks etcd makes of a txn's shape before anything else (before auth too): too
/// many ops, empty keys or ops, duplicate writes.
///
/// # Errors
///
/// As [`Store::txn`]'s first step.
pub(crate) fn validate(req: &TxnRequest, max_ops: usize) -> Result<(), EtcdError> {
    check_shape(req, max_ops)?;
    check_intervals(&req.success)?;
    check_intervals(&req.failure)?;
    Ok(())
}

pub(crate) fn writes(req: &TxnRequest) -> bool {
    req.success
        .iter()
        .chain(&req.failure)
        .any(|op| match &op.request {
            Some(Request::RequestPut(_)) | Some(Request::RequestDeleteRange(_)) => true,
            Some(Request::RequestTxn(nested)) => writes(nested),
            _ => false,
        })
}
