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
/// [`EtcdError::StorageFailed`] when the change could not be stored.
pub(super) fn answer(shared: &Shared, req: &AlarmRequest) -> Result<AlarmResponse, EtcdError> {
    let mut core = shared.lock();
    let alarms = match AlarmAction::try_from(req.action) {
        Ok(AlarmAction::Get) => core.alarms.get(req.alarm),
        Ok(AlarmAction::Activate) => {
            let raised = core.alarms.activate(req.member_id, req.alarm);
            if let Some(a) = raised {
                core.persist(|step| step.alarm_raised(a.member_id, a.alarm))?;
            }
            raised.into_iter().collect()
        }
        Ok(AlarmAction::Deactivate) => {
            let cleared = core.alarms.deactivate(req.member_id, req.alarm);
            if let Some(a) = cleared {
                core.persist(|step| step.alarm_cleared(a.member_id, a.alarm))?;
            }
            cleared.into_iter().collect()
        }
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
