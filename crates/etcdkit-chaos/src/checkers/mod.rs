//! Checkers over the recorded history, run after the cluster has healed. Each is a pure
//! function of what was recorded and of what was read back afterwards, so each is unit
//! tested on hand-made histories.

pub mod fencing;
pub mod leases;
pub mod porcupine;
pub mod register;
pub mod registry;
pub mod watches;
pub mod writes;

use std::fmt;

/// Something a checker found that etcdkit promises never happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// Which checker found it.
    pub checker: &'static str,
    /// What was seen, with enough detail to find it in the history.
    pub detail: String,
}

impl Anomaly {
    pub fn new(checker: &'static str, detail: impl Into<String>) -> Anomaly {
        Anomaly {
            checker,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "anomaly [{}]: {}", self.checker, self.detail)
    }
}
