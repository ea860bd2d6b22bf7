//! Transactions: compares, then one of two lists of operations, atomically.

use std::collections::HashSet;
use std::time::Duration;

use bytes::Bytes;

use super::Kv;
use super::KvRequest;
use super::{Delete, DeleteResponse, Get, GetResponse, Put, PutResponse};
use crate::error::{Error, ErrorKind, Result};
use crate::generated::etcdserverpb as pb;
use crate::generated::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::namespace::{Namespace, prefix_end};
use crate::transport::Call;
use crate::types::{LeaseId, ResponseHeader, Revision};

/// How a compare relates the key's attribute to the given operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `<`
    Less,
    /// `>`
    Greater,
}

impl CompareOp {
    fn to_pb(self) -> CompareResult {
        match self {
            CompareOp::Equal => CompareResult::Equal,
            CompareOp::NotEqual => CompareResult::NotEqual,
            CompareOp::Less => CompareResult::Less,
            CompareOp::Greater => CompareResult::Greater,
        }
    }
}

/// One condition of a transaction, on a key or (with [`range_end`](Compare::range_end) /
/// [`prefix`](Compare::prefix)) on every key of a range.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare(pub(crate) pb::Compare);

impl Compare {
    /// A compare of `key`'s attribute that `operand` holds a value of: the target etcd
    /// reads follows from the operand, so the two cannot disagree.
    fn new(key: impl Into<Bytes>, op: CompareOp, operand: TargetUnion) -> Self {
        let target = match operand {
            TargetUnion::Value(_) => CompareTarget::Value,
            TargetUnion::Version(_) => CompareTarget::Version,
            TargetUnion::CreateRevision(_) => CompareTarget::Create,
            TargetUnion::ModRevision(_) => CompareTarget::Mod,
            TargetUnion::Lease(_) => CompareTarget::Lease,
        };
        Compare(pb::Compare {
            result: op.to_pb() as i32,
            target: target as i32,
            key: key.into(),
            target_union: Some(operand),
            range_end: Bytes::new(),
        })
    }

    /// Compares the key's value. A missing key compares as failing.
    pub fn value(key: impl Into<Bytes>, op: CompareOp, value: impl Into<Bytes>) -> Self {
        Compare::new(key, op, TargetUnion::Value(value.into()))
    }

    /// Compares the key's version (0 for a key that does not exist).
    pub fn version(key: impl Into<Bytes>, op: CompareOp, version: i64) -> Self {
        Compare::new(key, op, TargetUnion::Version(version))
    }

    /// Compares the key's creation revision (0 for a key that does not exist).
    pub fn create_revision(
        key: impl Into<Bytes>,
        op: CompareOp,
        revision: impl Into<Revision>,
    ) -> Self {
        Compare::new(key, op, TargetUnion::CreateRevision(revision.into().0))
    }

    /// Compares the key's last modification revision (0 for a key that does not exist).
    pub fn mod_revision(
        key: impl Into<Bytes>,
        op: CompareOp,
        revision: impl Into<Revision>,
    ) -> Self {
        Compare::new(key, op, TargetUnion::ModRevision(revision.into().0))
    }

    /// Compares the key's lease (`None`: no lease).
    pub fn lease(key: impl Into<Bytes>, op: CompareOp, lease: Option<LeaseId>) -> Self {
        Compare::new(key, op, TargetUnion::Lease(lease.map_or(0, |l| l.0)))
    }

    /// Applies the compare to every key in `[key, end)`.
    pub fn range_end(mut self, end: impl Into<Bytes>) -> Self {
        self.0.range_end = end.into();
        self
    }

    /// Applies the compare to every key that starts with the key.
    pub fn prefix(mut self) -> Self {
        self.0.range_end = prefix_end(&self.0.key);
        self
    }
}

/// One operation of a transaction.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TxnOp {
    /// A range read.
    Get(Get),
    /// A write.
    Put(Put),
    /// A delete.
    Delete(Delete),
    /// A nested transaction.
    Txn(Txn),
}

// Each request type converts into the operation of its own name; `From` impls cannot
// be written generically over the variants, hence the macro.
macro_rules! txn_op_from {
    ($($op:ident),*) => {
        $(
            impl From<$op> for TxnOp {
                fn from(op: $op) -> Self {
                    TxnOp::$op(op)
                }
            }
        )*
    };
}

txn_op_from!(Get, Put, Delete, Txn);

impl TxnOp {
    fn validate(&self) -> Result<()> {
        match self {
            TxnOp::Get(op) => op.request.check(),
            TxnOp::Put(op) => op.request.check(),
            TxnOp::Delete(op) => op.request.check(),
            TxnOp::Txn(op) => op.validate(),
        }
    }

    fn is_read_only(&self) -> bool {
        match self {
            TxnOp::Get(_) => true,
            TxnOp::Put(_) | TxnOp::Delete(_) => false,
            TxnOp::Txn(t) => t.is_read_only(),
        }
    }

    fn into_pb(self, ns: &Namespace) -> pb::RequestOp {
        use pb::request_op::Request;
        let request = match self {
            TxnOp::Get(op) => Request::RequestRange(op.request.namespaced(ns)),
            TxnOp::Put(op) => Request::RequestPut(op.request.namespaced(ns)),
            TxnOp::Delete(op) => Request::RequestDeleteRange(op.request.namespaced(ns)),
            TxnOp::Txn(op) => Request::RequestTxn(op.into_pb(ns)),
        };
        pb::RequestOp {
            request: Some(request),
        }
    }
}

/// A transaction: if every compare in `when` holds, the `and_then` operations run,
/// otherwise the `or_else` ones; all at one revision, atomically.
///
/// ```no_run
/// # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
/// use etcdkit::kv::{Compare, CompareOp, Put, Get};
/// let response = client
///     .kv()
///     .txn()
///     .when([Compare::version("lock", CompareOp::Equal, 0)])
///     .and_then([Put::new("lock", "me")])
///     .or_else([Get::new("lock")])
///     .await?;
/// println!("acquired: {}", response.succeeded());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until awaited"]
pub struct Txn<S = ()> {
    sender: S,
    compares: Vec<Compare>,
    success: Vec<TxnOp>,
    failure: Vec<TxnOp>,
    timeout: Option<Duration>,
}

impl Txn<()> {
    /// A transaction, to be nested inside another one.
    pub fn new() -> Self {
        Txn {
            sender: (),
            compares: Vec::new(),
            success: Vec::new(),
            failure: Vec::new(),
            timeout: None,
        }
    }

    pub(crate) fn bind(self, kv: Kv) -> Txn<Kv> {
        Txn {
            sender: kv,
            compares: self.compares,
            success: self.success,
            failure: self.failure,
            timeout: self.timeout,
        }
    }
}

impl Default for Txn<()> {
    fn default() -> Self {
        Txn::new()
    }
}

impl<S> Txn<S> {
    /// Adds compares; all must hold for the `and_then` branch to run.
    pub fn when(mut self, compares: impl IntoIterator<Item = Compare>) -> Self {
        self.compares.extend(compares);
        self
    }

    /// Adds operations run when every compare holds.
    pub fn and_then<O: Into<TxnOp>>(mut self, ops: impl IntoIterator<Item = O>) -> Self {
        self.success.extend(ops.into_iter().map(Into::into));
        self
    }

    /// Adds operations run when some compare fails.
    pub fn or_else<O: Into<TxnOp>>(mut self, ops: impl IntoIterator<Item = O>) -> Self {
        self.failure.extend(ops.into_iter().map(Into::into));
        self
    }

    timeout_method!();

    fn is_read_only(&self) -> bool {
        self.success.iter().all(TxnOp::is_read_only) && self.failure.iter().all(TxnOp::is_read_only)
    }

    fn validate(&self) -> Result<()> {
        for compare in &self.compares {
            Error::check_key(&compare.0.key)?;
        }
        for op in self.success.iter().chain(&self.failure) {
            op.validate()?;
        }
        check_writes(&self.success)?;
        check_writes(&self.failure)?;
        Ok(())
    }

    fn into_pb(self, ns: &Namespace) -> pb::TxnRequest {
        let compares = self
            .compares
            .into_iter()
            .map(|Compare(mut c)| {
                ns.range(&mut c.key, &mut c.range_end);
                c
            })
            .collect();
        pb::TxnRequest {
            compare: compares,
            success: self.success.into_iter().map(|op| op.into_pb(ns)).collect(),
            failure: self.failure.into_iter().map(|op| op.into_pb(ns)).collect(),
        }
    }
}

/// Refuses, before sending, what etcd certainly refuses: one branch (at one level) that
/// puts a key twice, or puts a key that it also deletes by key or by an explicit range.
/// Anything subtler (nested transactions, open-ended deletes) is left to the server, which
/// answers [`ErrorKind::DuplicateKey`] itself: the client must never refuse what etcd
/// would accept.
fn check_writes(ops: &[TxnOp]) -> Result<()> {
    let duplicate = |key: &Bytes| {
        Error::new(
            ErrorKind::DuplicateKey,
            format!(
                "transaction writes key {:?} more than once in one branch",
                crate::util::BytesDebug(key)
            ),
        )
    };
    // The keys put, in the order of the operations (not of a hash set's), so that the
    // key an error names is the same from one run to the next.
    let mut seen: HashSet<&Bytes> = HashSet::new();
    let mut puts: Vec<&Bytes> = Vec::new();
    for op in ops {
        if let TxnOp::Put(p) = op {
            if !seen.insert(&p.request.key) {
                return Err(duplicate(&p.request.key));
            }
            puts.push(&p.request.key);
        }
    }
    for op in ops {
        let TxnOp::Delete(d) = op else { continue };
        let (start, end) = (&d.request.key, &d.request.range_end);
        for key in &puts {
            let hit = match end.as_ref() {
                b"" => *key == start,
                // etcd treats an end of "\0" as an empty interval here.
                b"\0" => false,
                end => key.as_ref() >= start.as_ref() && key.as_ref() < end,
            };
            if hit {
                return Err(duplicate(key));
            }
        }
    }
    for op in ops {
        if let TxnOp::Txn(t) = op {
            check_writes(&t.success)?;
            check_writes(&t.failure)?;
        }
    }
    Ok(())
}

request_future! {
    /// Sends the transaction.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::DuplicateKey`] when two operations write the same key,
    /// [`ErrorKind::TooManyOps`] over the server's limit, [`ErrorKind::EmptyKey`] for an empty key,
    /// [`ErrorKind::RequestTooLarge`] over the size limit (all before sending); the failures of its
    /// operations ([`ErrorKind::Compacted`], [`ErrorKind::LeaseNotFound`], ...); the failures of
    /// [every request](crate::Error#failures-of-every-request).
    impl for Txn<Kv> => TxnResponse, |this| {
        this.validate().map_err(|e| e.with_operation("kv.txn"))?;
        let client = this.sender.client.clone();
        // A transaction that only reads is as safe to repeat as a read.
        let call = if this.is_read_only() {
            Call::read("kv.txn", this.timeout)
        } else {
            Call::not_idempotent("kv.txn", this.timeout)
        };
        let request = this.into_pb(client.namespace());
        let response = client.transport().txn(call, request).await?;
        TxnResponse::from_pb(response, client.namespace())
    }
}

/// The result of one transaction operation.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TxnOpResponse {
    /// Of a [`TxnOp::Get`].
    Get(GetResponse),
    /// Of a [`TxnOp::Put`].
    Put(PutResponse),
    /// Of a [`TxnOp::Delete`].
    Delete(DeleteResponse),
    /// Of a [`TxnOp::Txn`].
    Txn(TxnResponse),
}

/// The result of a transaction.
#[derive(Debug, Clone)]
pub struct TxnResponse {
    header: ResponseHeader,
    succeeded: bool,
    responses: Vec<TxnOpResponse>,
}

impl TxnResponse {
    fn from_pb(r: pb::TxnResponse, ns: &Namespace) -> Result<Self> {
        use pb::response_op::Response;
        let mut responses = Vec::with_capacity(r.responses.len());
        for op in r.responses {
            let response = match op.response {
                Some(Response::ResponseRange(r)) => TxnOpResponse::Get(GetResponse::from_pb(r, ns)),
                Some(Response::ResponsePut(r)) => TxnOpResponse::Put(PutResponse::from_pb(r, ns)),
                Some(Response::ResponseDeleteRange(r)) => {
                    TxnOpResponse::Delete(DeleteResponse::from_pb(r, ns))
                }
                Some(Response::ResponseTxn(r)) => TxnOpResponse::Txn(TxnResponse::from_pb(r, ns)?),
                None => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "transaction response has an operation result of no known kind",
                    )
                    .with_operation("kv.txn"));
                }
            };
            responses.push(response);
        }
        Ok(TxnResponse {
            header: r.header.into(),
            succeeded: r.succeeded,
            responses,
        })
    }

    /// The response header.
    pub fn header(&self) -> &ResponseHeader {
        &self.header
    }

    /// Whether every compare held (and so the `and_then` branch ran).
    pub fn succeeded(&self) -> bool {
        self.succeeded
    }

    /// The results of the branch that ran, in order.
    pub fn responses(&self) -> &[TxnOpResponse] {
        &self.responses
    }

    /// Takes the results of the branch that ran.
    pub fn into_responses(self) -> Vec<TxnOpResponse> {
        self.responses
    }

    /// The result of the `i`-th operation of the branch that ran, if it was a get.
    ///
    /// `None` when there is no `i`-th operation or it was not a get: the branch that ran
    /// decides what sits at each index, so check [`succeeded`](TxnResponse::succeeded)
    /// first when the two branches differ.
    ///
    /// ```no_run
    /// # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
    /// use etcdkit::kv::{Compare, CompareOp, Get, Put};
    /// let response = client
    ///     .kv()
    ///     .txn()
    ///     .when([Compare::version("config", CompareOp::Equal, 0)])
    ///     .and_then([Put::new("config", "default")])
    ///     .or_else([Get::new("config")])
    ///     .await?;
    /// if let Some(existing) = response.get(0) {
    ///     println!("already set: {:?}", existing.first().map(|kv| kv.value()));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get(&self, i: usize) -> Option<&GetResponse> {
        self.responses.get(i).and_then(TxnOpResponse::as_get)
    }

    /// The result of the `i`-th operation of the branch that ran, if it was a put.
    pub fn put(&self, i: usize) -> Option<&PutResponse> {
        self.responses.get(i).and_then(TxnOpResponse::as_put)
    }

    /// The result of the `i`-th operation of the branch that ran, if it was a delete.
    pub fn delete(&self, i: usize) -> Option<&DeleteResponse> {
        self.responses.get(i).and_then(TxnOpResponse::as_delete)
    }

    /// The result of the `i`-th operation of the branch that ran, if it was a nested
    /// transaction.
    pub fn txn(&self, i: usize) -> Option<&TxnResponse> {
        self.responses.get(i).and_then(TxnOpResponse::as_txn)
    }

    /// The number of operation results (of the branch that ran).
    pub fn len(&self) -> usize {
        self.responses.len()
    }

    /// True when the branch that ran had no operations.
    pub fn is_empty(&self) -> bool {
        self.responses.is_empty()
    }
}

impl TxnOpResponse {
    /// The result, if of a get.
    pub fn as_get(&self) -> Option<&GetResponse> {
        match self {
            TxnOpResponse::Get(r) => Some(r),
            _ => None,
        }
    }

    /// The result, if of a put.
    pub fn as_put(&self) -> Option<&PutResponse> {
        match self {
            TxnOpResponse::Put(r) => Some(r),
            _ => None,
        }
    }

    /// The result, if of a delete.
    pub fn as_delete(&self) -> Option<&DeleteResponse> {
        match self {
            TxnOpResponse::Delete(r) => Some(r),
            _ => None,
        }
    }

    /// The result, if of a nested transaction.
    pub fn as_txn(&self) -> Option<&TxnResponse> {
        match self {
            TxnOpResponse::Txn(r) => Some(r),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_writes_in_a_branch_are_refused() {
        let twice = [TxnOp::from(Put::new("a", "1")), Put::new("a", "2").into()];
        assert_eq!(
            check_writes(&twice).err().map(|e| e.kind()),
            Some(ErrorKind::DuplicateKey)
        );
        let put_and_delete = [TxnOp::from(Delete::new("a")), Put::new("a", "1").into()];
        assert!(check_writes(&put_and_delete).is_err());
        let put_in_deleted_range = [
            TxnOp::from(Delete::new("a").prefix()),
            Put::new("ab", "1").into(),
        ];
        assert!(check_writes(&put_in_deleted_range).is_err());
        let nested_twice = [TxnOp::from(
            Txn::new().and_then([Put::new("n", "1"), Put::new("n", "2")]),
        )];
        assert!(check_writes(&nested_twice).is_err());
    }

    #[test]
    fn the_key_a_refusal_names_is_the_first_put_in_order() {
        let ops = [
            TxnOp::from(Put::new("p", "1")),
            Put::new("q", "1").into(),
            Put::new("r", "1").into(),
            Delete::new("a").range_end("z").into(),
        ];
        for _ in 0..20 {
            let err = check_writes(&ops).err().map(|e| e.message().to_string());
            assert_eq!(
                err.as_deref(),
                Some("transaction writes key \"p\" more than once in one branch")
            );
        }
    }

    #[test]
    fn what_etcd_accepts_is_not_refused() {
        let accepted: Vec<Vec<TxnOp>> = vec![
            vec![
                Put::new("a", "1").into(),
                Put::new("b", "2").into(),
                Get::new("a").into(),
            ],
            // Exclusive nested branches.
            vec![
                Txn::new()
                    .and_then([Put::new("k", "1")])
                    .or_else([Delete::new("k")])
                    .into(),
            ],
            // Sibling nested transactions: etcd checks each on its own.
            vec![
                Txn::new().and_then([Put::new("k", "1")]).into(),
                Txn::new().and_then([Delete::new("k")]).into(),
            ],
            // Open-ended deletes are empty intervals to etcd's check.
            vec![
                Delete::new("b").from_key().into(),
                Put::new("c", "1").into(),
            ],
            vec![Delete::new("").prefix().into(), Put::new("c", "1").into()],
        ];
        for ops in accepted {
            assert!(check_writes(&ops).is_ok(), "{ops:?}");
        }
    }
}
