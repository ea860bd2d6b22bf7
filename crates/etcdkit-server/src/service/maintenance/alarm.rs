//! Maintenance.Alarm: get, activate and deactivate alarms, as etcd applies them.

use crate::core::Shared;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::alarm_request::AlarmAction;
use crate::generated::etcdserverpb::{AlarmRequest, AlarmResponse};

/// Applies an alarm request. Activate answers the alarm (also one raised already),
/// deactivate the alarm it cleared (nothing when none was raised), get the raised alarms
/// of the type asked (all for `NONE`).
///
/// # Errors
///
/// None today; the signature leaves room for etcd's refusals.
pub(super) fn answer(shared: &Shared, req: &AlarmRequest) -> Result<AlarmResponse, EtcdError> {
    let mut core = shared.lock();
    let alarms = match AlarmAction::try_from(req.action) {
        Ok(AlarmAction::Get) => core.alarms.get(req.alarm),
        Ok(AlarmAction::Activate) => core
            .alarms
            .activate(req.member_id, req.alarm)
            .into_iter()
            .collect(),
        Ok(AlarmAction::Deactivate) => core
            .alarms
            .deactivate(req.member_id, req.alarm)
            .into_iter()
            .collect(),
        // An action etcd does not know applies nothing there either.
        Err(_) => Vec::new(),
    };
    let revision = core.store.revision();
    drop(core);
    Ok(AlarmResponse {
        header: Some(shared.info.header(revision)),
        alarms,
    })
}
