//! Range: etcd's read with every option, at the store's revision or a past one.

use std::cmp::Ordering;

use super::{KeyRange, Store};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::generated::etcdserverpb::{RangeRequest, RangeResponse, ResponseHeader};
use crate::generated::mvccpb::KeyValue;

impl Store {
    /// Answers a range request at the store's revision.
    ///
    /// # Errors
    ///
    /// [`EtcdError::EmptyKey`] without a key; [`EtcdError::FutureRev`] or
    /// [`EtcdError::Compacted`] for a revision the store does not have.
    pub(crate) fn range(&self, req: &RangeRequest) -> Result<RangeResponse, EtcdError> {
        if req.key.is_empty() {
            return Err(EtcdError::EmptyKey);
        }
        self.range_at(req, self.current)
    }

    /// Answers a range request as if the store's revision were `current` (a txn reads its
    /// own writes at the revision it is making). The header carries `current`, not the
    /// revision read, as etcd's does.
    ///
    /// # Errors
    ///
    /// As [`Store::range`], except that the key is not checked.
    pub(crate) fn range_at(
        &self,
        req: &RangeRequest,
        current: i64,
    ) -> Result<RangeResponse, EtcdError> {
        let mut rev = req.revision;
        if rev > current {
            return Err(EtcdError::FutureRev);
        }
        if rev <= 0 {
            rev = current;
        }
        if rev < self.compacted {
            return Err(EtcdError::Compacted);
        }
        let range = KeyRange::new(&req.key, &req.range_end);
        let order = sort_order(req);
        let filtered = req.min_mod_revision != 0
            || req.max_mod_revision != 0
            || req.min_create_revision != 0
            || req.max_create_revision != 0;
        // Without sorting or filtering, one more than the limit is enough to know whether
        // there are more. etcd decides on the order as requested, before defaulting it:
        // a sort by another target without an order sorts only the keys fetched.
        let requested = SortOrder::try_from(req.sort_order).unwrap_or(SortOrder::None);
        let fetch = if req.limit > 0 && !filtered && requested == SortOrder::None {
            usize::try_from(req.limit.saturating_add(1)).unwrap_or(usize::MAX)
        } else {
            usize::MAX
        };
        let mut count: i64 = 0;
        let mut kvs: Vec<KeyValue> = Vec::new();
        for kv in self.live_at(&range, rev) {
            count += 1;
            if !req.count_only && kvs.len() < fetch {
                kvs.push(kv.clone());
            }
        }
        if filtered {
            kvs.retain(|kv| {
                !(req.max_mod_revision != 0 && kv.mod_revision > req.max_mod_revision
                    || req.min_mod_revision != 0 && kv.mod_revision < req.min_mod_revision
                    || req.max_create_revision != 0 && kv.create_revision > req.max_create_revision
                    || req.min_create_revision != 0 && kv.create_revision < req.min_create_revision)
            });
        }
        sort(&mut kvs, order, target(req));
        let mut more = false;
        if let Ok(limit) = usize::try_from(req.limit)
            && limit > 0
            && kvs.len() > limit
        {
            kvs.truncate(limit);
            more = true;
        }
        if req.keys_only {
            for kv in &mut kvs {
                kv.value = bytes::Bytes::new();
            }
        }
        Ok(RangeResponse {
            header: Some(ResponseHeader {
                revision: current,
                ..ResponseHeader::default()
            }),
            kvs,
            more,
            count,
        })
    }
}

/// The order to sort in: keys come out of the store ascending, so etcd sorts ascending by
/// default only for another target, and never re-sorts keys ascending.
fn sort_order(req: &RangeRequest) -> SortOrder {
    let order = SortOrder::try_from(req.sort_order).unwrap_or(SortOrder::None);
    match (target(req), order) {
        (SortTarget::Key, SortOrder::Ascend) => SortOrder::None,
        (t, SortOrder::None) if t != SortTarget::Key => SortOrder::Ascend,
        (_, o) => o,
    }
}

fn target(req: &RangeRequest) -> SortTarget {
    SortTarget::try_from(req.sort_target).unwrap_or(SortTarget::Key)
}

/// Sorts stably: ties stay in key order, as etcd's sort leaves them for small results.
fn sort(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    let cmp = |a: &KeyValue, b: &KeyValue| -> Ordering {
        match target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::None => {}
        SortOrder::Ascend => kvs.sort_by(cmp),
        SortOrder::Descend => kvs.sort_by(|a, b| cmp(b, a)),
    }
}
