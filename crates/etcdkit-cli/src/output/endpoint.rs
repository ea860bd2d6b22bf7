//! `endpoint health|status|hashkv` and `alarm` in both formats, as etcdctl 3.6 prints
//! them.

use std::io::{self, Write};

use etcdkit::maintenance::{AlarmResponse, HashKvResponse, StatusResponse};

use super::admin::{Alarms, EndpointHashKv};
use super::json::{self, EndpointHealth, EndpointStatus};
use super::{Format, Printer};
use crate::go_compat;

impl Printer {
    /// Health results: healthy lines on `out`, unhealthy ones on `err` (etcdctl sends
    /// them to stderr); in json, every result on `out`.
    pub fn endpoint_health(
        &self,
        out: &mut Vec<u8>,
        err: &mut Vec<u8>,
        list: &[EndpointHealth],
    ) -> io::Result<()> {
        if self.format == Format::Json {
            return json::write(out, list);
        }
        for h in list {
            if h.error.is_empty() {
                writeln!(
                    out,
                    "{} is healthy: successfully committed proposal: took = {}",
                    h.endpoint, h.took
                )?;
            } else {
                writeln!(
                    err,
                    "{} is unhealthy: failed to commit proposal: {}",
                    h.endpoint, h.error
                )?;
            }
        }
        Ok(())
    }

    /// Status rows, each `(endpoint, status)`.
    pub fn endpoint_status(
        &self,
        out: &mut Vec<u8>,
        list: &[(String, StatusResponse)],
    ) -> io::Result<()> {
        if self.format == Format::Json {
            let list: Vec<EndpointStatus<'_>> = list
                .iter()
                .map(|(endpoint, status)| EndpointStatus::new(endpoint, status))
                .collect();
            return json::write(out, &list);
        }
        for (endpoint, s) in list {
            let member = s.header().member_id();
            let downgrade = s.downgrade_info().unwrap_or_default();
            // etcdctl 3.6's columns: endpoint, ID, version, storage version, db size, in
            // use, percentage not in use, quota, is leader, is learner, raft term, raft
            // index, raft applied index, errors, downgrade target version and downgrade
            // enabled.
            let row = [
                endpoint.clone(),
                format!("{member:x}"),
                s.version().to_owned(),
                s.storage_version().to_owned(),
                humanize_size(s.db_size()),
                humanize_size(s.db_size_in_use()),
                percentage_not_in_use(s.db_size(), s.db_size_in_use()),
                humanize_size(s.db_size_quota()),
                (s.leader() == member).to_string(),
                s.is_learner().to_string(),
                s.raft_term().to_string(),
                s.raft_index().to_string(),
                s.raft_applied_index().to_string(),
                s.errors().join(", "),
                downgrade.target_version,
                downgrade.enabled.to_string(),
            ];
            writeln!(out, "{}", row.join(", "))?;
        }
        Ok(())
    }

    /// Hash rows, each `(endpoint, hash)`: `<endpoint>, <hash>, <hash revision>`.
    pub fn endpoint_hashkv(
        &self,
        out: &mut Vec<u8>,
        list: &[(String, HashKvResponse)],
    ) -> io::Result<()> {
        if self.format == Format::Json {
            let list: Vec<EndpointHashKv<'_>> = list
                .iter()
                .map(|(endpoint, hash)| EndpointHashKv::new(endpoint, hash))
                .collect();
            return json::write(out, &list);
        }
        for (endpoint, hash) in list {
            writeln!(out, "{endpoint}, {}, {}", hash.hash(), hash.hash_revision())?;
        }
        Ok(())
    }

    /// The alarms of an `alarm list` or `alarm disarm`, one per line as
    /// `memberID:<decimal id> alarm:<TYPE> ` (Go's text form, with its trailing space).
    pub fn alarms(&self, out: &mut Vec<u8>, r: &AlarmResponse) -> io::Result<()> {
        if self.format == Format::Json {
            return json::write(out, &Alarms::new(r.header(), r.alarms()));
        }
        for a in r.alarms() {
            writeln!(out, "memberID:{} alarm:{} ", a.member_id().get(), a.alarm())?;
        }
        Ok(())
    }
}

/// A size in bytes as etcdctl prints it (`20 kB`); a negative size, which no server sends,
/// as 0.
fn humanize_size(bytes: i64) -> String {
    go_compat::humanize_bytes(u64::try_from(bytes).unwrap_or(0))
}

/// The share of the database file not in use, in whole percent rounded down as etcdctl
/// computes it (`100 - in_use * 100 / size`, in integers); `0%` for an empty file.
fn percentage_not_in_use(size: i64, in_use: i64) -> String {
    let in_use_percent = in_use.saturating_mul(100).checked_div(size).unwrap_or(100);
    format!("{}%", 100i64.saturating_sub(in_use_percent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentage_not_in_use_rounds_as_etcdctl_does() {
        assert_eq!(percentage_not_in_use(20480, 16384), "20%");
        assert_eq!(percentage_not_in_use(3, 1), "67%");
        assert_eq!(percentage_not_in_use(29000, 29000), "0%");
        assert_eq!(percentage_not_in_use(0, 0), "0%");
    }
}
