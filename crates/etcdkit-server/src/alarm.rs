//! Alarms and the space quota: which alarms are raised, and whether a write may take
//! space. etcd keeps alarms per member; so does this server (any member ID may be named,
//! as etcd allows), though only its own member raises NOSPACE by itself.

use std::collections::BTreeSet;

use crate::error::EtcdError;
use crate::generated::etcdserverpb::request_op::Request;
use crate::generated::etcdserverpb::{AlarmMember, AlarmType, RequestOp, TxnRequest};
use crate::store::Store;

/// What etcd charges a put on top of its key and value when checking the quota
/// (`kvOverhead` in its quota code).
pub(crate) const KV_OVERHEAD: u64 = 256;
/// What etcd charges a lease grant when checking the quota (`leaseOverhead`).
pub(crate) const LEASE_OVERHEAD: u64 = 64;

/// The raised alarms, as (member ID, alarm type) pairs.
#[derive(Debug, Default)]
pub(crate) struct Alarms {
    raised: BTreeSet<(u64, i32)>,
}

impl Alarms {
    /// The raised alarms of type `alarm`, or all of them for `NONE` (as etcd's get).
    pub(crate) fn get(&self, alarm: i32) -> Vec<AlarmMember> {
        self.raised
            .iter()
            .filter(|(_, a)| alarm == AlarmType::None as i32 || *a == alarm)
            .map(|&(member_id, alarm)| AlarmMember { member_id, alarm })
            .collect()
    }

    /// Raises an alarm; returns it (also when it was raised already). `NONE` raises
    /// nothing, as in etcd.
    pub(crate) fn activate(&mut self, member_id: u64, alarm: i32) -> Option<AlarmMember> {
        if alarm == AlarmType::None as i32 {
            return None;
        }
        self.raised.insert((member_id, alarm));
        Some(AlarmMember { member_id, alarm })
    }

    /// Clears an alarm; returns it if it was raised.
    pub(crate) fn deactivate(&mut self, member_id: u64, alarm: i32) -> Option<AlarmMember> {
        self.raised
            .remove(&(member_id, alarm))
            .then_some(AlarmMember { member_id, alarm })
    }

    /// Is `alarm` raised for `member_id`?
    pub(crate) fn is_raised(&self, member_id: u64, alarm: i32) -> bool {
        self.raised.contains(&(member_id, alarm))
    }

    fn no_space(&self) -> bool {
        self.raised
            .iter()
            .any(|(_, a)| *a == AlarmType::Nospace as i32)
    }

    /// May a write that needs `cost` more bytes go ahead? Callers ask for puts, txns with
    /// a put and lease grants only: with NOSPACE raised none of them may (etcd's "capped"
    /// applier; deletes, txns that only read or delete, and compactions pass). Without it, a write that would take the
    /// store past `quota` (0: no quota) raises NOSPACE for `member_id` and is refused, as
    /// etcd's quota check does before proposing it.
    ///
    /// # Errors
    ///
    /// [`EtcdError::NoSpace`].
    pub(crate) fn check_space(
        &mut self,
        store: &Store,
        quota: u64,
        member_id: u64,
        cost: u64,
    ) -> Result<(), EtcdError> {
        if self.no_space() {
            return Err(EtcdError::NoSpace);
        }
        if quota == 0 || cost == 0 {
            return Ok(());
        }
        if store.size_bytes().saturating_add(cost) > quota {
            self.activate(member_id, AlarmType::Nospace as i32);
            return Err(EtcdError::NoSpace);
        }
        Ok(())
    }
}

/// What a put costs against the quota.
pub(crate) fn put_cost(key: &[u8], value: &[u8]) -> u64 {
    KV_OVERHEAD + len(key) + len(value)
}

fn len(b: &[u8]) -> u64 {
    u64::try_from(b.len()).unwrap_or(u64::MAX)
}

/// What a txn costs against the quota: the puts of its costlier branch, nested txns
/// included.
pub(crate) fn txn_cost(req: &TxnRequest) -> u64 {
    let branch = |ops: &[RequestOp]| -> u64 {
        ops.iter()
            .map(|op| match &op.request {
                Some(Request::RequestPut(put)) => put_cost(&put.key, &put.value),
                Some(Request::RequestTxn(nested)) => txn_cost(nested),
                _ => 0,
            })
            .fold(0u64, u64::saturating_add)
    };
    branch(&req.success).max(branch(&req.failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOSPACE: i32 = AlarmType::Nospace as i32;
    const CORRUPT: i32 = AlarmType::Corrupt as i32;

    #[test]
    fn activate_answers_the_alarm_even_when_raised_already_and_none_raises_nothing() {
        let mut a = Alarms::default();
        let raised = Some(AlarmMember {
            member_id: 7,
            alarm: NOSPACE,
        });
        assert_eq!(a.activate(7, NOSPACE), raised);
        assert_eq!(a.activate(7, NOSPACE), raised);
        assert_eq!(a.activate(7, AlarmType::None as i32), None);
        assert_eq!(a.get(AlarmType::None as i32).len(), 1);
    }

    #[test]
    fn get_filters_by_type_and_deactivate_answers_only_what_it_cleared() {
        let mut a = Alarms::default();
        a.activate(1, NOSPACE);
        a.activate(2, CORRUPT);
        assert_eq!(a.get(AlarmType::None as i32).len(), 2);
        assert_eq!(a.get(CORRUPT).len(), 1);
        assert_eq!(a.deactivate(3, NOSPACE), None);
        assert!(a.deactivate(1, NOSPACE).is_some());
        assert!(a.get(NOSPACE).is_empty());
    }

    #[test]
    fn the_quota_raises_nospace_once_and_then_refuses_every_costly_write() {
        let store = Store::default();
        let mut a = Alarms::default();
        assert_eq!(a.check_space(&store, 1000, 9, 500), Ok(()));
        assert_eq!(
            a.check_space(&store, 1000, 9, 1001),
            Err(EtcdError::NoSpace)
        );
        assert_eq!(a.get(NOSPACE).len(), 1);
        assert_eq!(a.check_space(&store, 0, 9, 1), Err(EtcdError::NoSpace));
        assert_eq!(
            txn_cost(&TxnRequest {
                success: vec![RequestOp {
                    request: Some(Request::RequestPut(
                        crate::generated::etcdserverpb::PutRequest {
                            key: "k".into(),
                            value: "vv".into(),
                            ..Default::default()
                        }
                    )),
                }],
                ..Default::default()
            }),
            KV_OVERHEAD + 3
        );
    }
}
