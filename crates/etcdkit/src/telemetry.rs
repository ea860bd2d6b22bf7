//! Metrics, recorded through the [`metrics`](https://docs.rs/metrics) facade when the
//! crate's `metrics` feature is on; without it every function here is empty and inlined
//! away, so the rest of the crate calls them unconditionally.
//!
//! The metrics' names, labels and meanings are listed in the crate docs (`lib.rs`,
//! "Observability") and in the README; change them there too.
//!
//! `op` is the operation's name as errors report it (`kv.range`, `kv.put`, `watch`,
//! `lease.keep_alive`, ...). Every label value is a static string: recording allocates
//! nothing (the `op` label of the per-request counters is interned once per call site).
//! The crate installs no recorder; the application does, with the exporter it likes.

use std::time::Duration;

use crate::error::ErrorKind;

#[cfg(feature = "metrics")]
mod enabled {
    use std::sync::OnceLock;
    use std::time::Duration;

    use metrics::{Key, Label, Level, Metadata};

    use crate::error::ErrorKind;

    pub const REQUESTS: &str = "etcdkit_requests_total";
    pub const ERRORS: &str = "etcdkit_request_errors_total";
    pub const RETRIES: &str = "etcdkit_retries_total";
    pub const SWITCHES: &str = "etcdkit_endpoint_switches_total";
    pub const WATCH_RESUMES: &str = "etcdkit_watch_resumes_total";
    pub const LEASES_LOST: &str = "etcdkit_leases_lost_total";
    pub const KEEPALIVE_MARGIN: &str = "etcdkit_lease_keepalive_margin_seconds";

    static METADATA: Metadata<'static> =
        Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

    /// An `op` label made once and kept for the life of the process, so the per-request
    /// counters need no allocation: `metrics` keys with dynamic labels copy them into a
    /// fresh vector each time, keys with `'static` labels do not.
    struct Interned {
        op: &'static str,
        labels: [Label; 1],
    }

    /// Room for every call site's operation name (there are fewer than a hundred).
    const SLOTS: usize = 256;
    static OPS: [OnceLock<Interned>; SLOTS] = [const { OnceLock::new() }; SLOTS];

    /// The interned `op` label, found by the address of the `&'static str` (open
    /// addressing). Two copies of one name at different addresses get a slot each,
    /// which is harmless. `None` when the table is full.
    pub(super) fn op_labels(op: &'static str) -> Option<&'static [Label]> {
        let address = op.as_ptr() as usize as u64;
        // Fibonacci hashing of the address, top 8 bits.
        let start = ((address >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize;
        for i in 0..SLOTS {
            let slot = &OPS[(start + i) % SLOTS];
            let interned = slot.get_or_init(|| Interned {
                op,
                labels: [Label::from_static_parts("op", op)],
            });
            if std::ptr::eq(interned.op, op) {
                return Some(&interned.labels);
            }
        }
        None
    }

    fn count_by_op(name: &'static str, op: &'static str) {
        match op_labels(op) {
            Some(labels) => {
                let key = Key::from_static_parts(name, labels);
                metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(1);
            }
            None => metrics::counter!(name, "op" => op).increment(1),
        }
    }

    pub fn request(op: &'static str) {
        count_by_op(REQUESTS, op);
    }

    pub fn retry(op: &'static str) {
        count_by_op(RETRIES, op);
    }

    pub fn request_failed(op: &'static str, kind: ErrorKind) {
        // Errors are the exception: the allocation of a two-label key is fine here.
        metrics::counter!(ERRORS, "op" => op, "kind" => kind.as_str()).increment(1);
    }

    pub fn count(name: &'static str) {
        static NO_LABELS: [Label; 0] = [];
        let key = Key::from_static_parts(name, &NO_LABELS);
        metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(1);
    }

    pub fn lease_lost(reason: &'static str) {
        metrics::counter!(LEASES_LOST, "reason" => reason).increment(1);
    }

    pub fn keepalive_margin(margin: Duration) {
        static NO_LABELS: [Label; 0] = [];
        let key = Key::from_static_parts(KEEPALIVE_MARGIN, &NO_LABELS);
        metrics::with_recorder(|r| r.register_histogram(&key, &METADATA))
            .record(margin.as_secs_f64());
    }
}

// The recording functions that pass their arguments on: with the `metrics` feature each
// calls its namesake in `enabled`; without it each only uses its arguments (so that
// the build without the feature has no unused-variable warnings). Written once here,
// since the two `cfg` branches would otherwise be repeated in every function.
macro_rules! forwarded {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),+);)*) => {
        $(
            $(#[$doc])*
            #[inline]
            pub(crate) fn $name($($arg: $ty),+) {
                #[cfg(feature = "metrics")]
                enabled::$name($($arg),+);
                #[cfg(not(feature = "metrics"))]
                let _ = ($($arg,)+);
            }
        )*
    };
}

forwarded! {
    /// A request (unary call or stream opening) starts.
    fn request(op: &'static str);
    /// A request failed for good (after any retries).
    fn request_failed(op: &'static str, kind: ErrorKind);
    /// A request makes another attempt.
    fn retry(op: &'static str);
    /// A kept-alive lease was lost; `reason` is a snake_case word.
    fn lease_lost(reason: &'static str);
    /// A renewal's answer arrived with `margin` of the lease's confirmed TTL left.
    fn keepalive_margin(margin: Duration);
}

/// A request's attempt goes to another endpoint than its previous one.
#[inline]
pub(crate) fn endpoint_switch() {
    #[cfg(feature = "metrics")]
    enabled::count(enabled::SWITCHES);
}

/// A shared watch stream was re-opened after a failure.
#[inline]
pub(crate) fn watch_resume() {
    #[cfg(feature = "metrics")]
    enabled::count(enabled::WATCH_RESUMES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_labels_are_the_debug_names_in_snake_case() {
        for kind in [
            ErrorKind::Compacted,
            ErrorKind::OutcomeUnknown,
            ErrorKind::LeaseTtlTooLarge,
            ErrorKind::NoElectionLeader,
            ErrorKind::Io,
            ErrorKind::Decode,
        ] {
            let debug = format!("{kind:?}");
            let mut snake = String::new();
            for (i, c) in debug.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(kind.as_str(), snake);
        }
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn an_op_is_interned_once_and_labelled_with_its_name() {
        static OP: &str = "kv.interning_test";
        let a = enabled::op_labels(OP).unwrap();
        let b = enabled::op_labels(OP).unwrap();
        assert!(std::ptr::eq(a, b));
        assert_eq!((a[0].key(), a[0].value()), ("op", OP));
    }
}
