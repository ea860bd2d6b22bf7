//! Put and delete-range, alone or as ops of a txn.

use super::{Committed, KeyRange, Store, Writer};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::{
    DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, ResponseHeader,
};

impl Store {
    /// Applies a put.
    ///
    /// # Errors
    ///
    /// etcd's: [`EtcdError::EmptyKey`], [`EtcdError::ValueProvided`],
    /// [`EtcdError::LeaseProvided`], [`EtcdError::LeaseNotFound`] when `lease_exists` says
    /// no, [`EtcdError::KeyNotFound`] for `ignore_value`/`ignore_lease` on a missing key.
    pub(crate) fn put(
        &mut self,
        req: &PutRequest,
        lease_exists: impl Fn(i64) -> bool,
    ) -> Result<(PutResponse, Committed), EtcdError> {
        check_put(req)?;
        // A put alone checks the lease before the previous key; a txn the other way round.
        if req.lease != 0 && !lease_exists(req.lease) {
            return Err(EtcdError::LeaseNotFound);
        }
        let mut w = Writer::new(self);
        let resp = put_in(&mut w, req)?;
        Ok((resp, w.commit()))
    }

    /// Applies a delete-range.
    ///
    /// # Errors
    ///
    /// [`EtcdError::EmptyKey`] without a key.
    pub(crate) fn delete_range(
        &mut self,
        req: &DeleteRangeRequest,
    ) -> Result<(DeleteRangeResponse, Committed), EtcdError> {
        if req.key.is_empty() {
            return Err(EtcdError::EmptyKey);
        }
        let mut w = Writer::new(self);
        let resp = delete_in(&mut w, req);
        Ok((resp, w.commit()))
    }
}

/// The checks etcd makes of a put before looking at the store.
pub(crate) fn check_put(req: &PutRequest) -> Result<(), EtcdError> {
    if req.key.is_empty() {
        return Err(EtcdError::EmptyKey);
    }
    if req.ignore_value && !req.value.is_empty() {
        return Err(EtcdError::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(EtcdError::LeaseProvided);
    }
    Ok(())
}

/// Puts inside `w`. Fails before changing anything.
pub(super) fn put_in(w: &mut Writer<'_>, req: &PutRequest) -> Result<PutResponse, EtcdError> {
    let needs_prev = req.ignore_value || req.ignore_lease || req.prev_kv;
    let prev = if needs_prev {
        w.store().get_at(&req.key, w.read_rev()).cloned()
    } else {
        None
    };
    let (mut value, mut lease) = (req.value.clone(), req.lease);
    if req.ignore_value || req.ignore_lease {
        let Some(prev) = &prev else {
            return Err(EtcdError::KeyNotFound);
        };
        if req.ignore_value {
            value = prev.value.clone();
        }
        if req.ignore_lease {
            lease = prev.lease;
        }
    }
    w.put(req.key.clone(), value, lease);
    Ok(PutResponse {
        header: Some(ResponseHeader {
            revision: w.main(),
            ..ResponseHeader::default()
        }),
        prev_kv: if req.prev_kv { prev } else { None },
    })
}

/// Deletes inside `w`.
pub(super) fn delete_in(w: &mut Writer<'_>, req: &DeleteRangeRequest) -> DeleteRangeResponse {
    let deleted = w.delete(&KeyRange::new(&req.key, &req.range_end));
    // A delete that deleted nothing, in a write that changed nothing, is at the store's
    // revision; otherwise at the write's.
    let revision = if w.changed() { w.main() } else { w.read_rev() };
    DeleteRangeResponse {
        header: Some(ResponseHeader {
            revision,
            ..ResponseHeader::default()
        }),
        deleted: i64::try_from(deleted.len()).unwrap_or(i64::MAX),
        prev_kvs: if req.prev_kv { deleted } else { Vec::new() },
    }
}
