//! `endpoint health|status|hashkv` and `alarm` in each format etcdctl 3.6 prints them
//! in.

use std::io::{self, Write};

use etcdkit::maintenance::{AlarmResponse, HashKvResponse, StatusResponse};
use serde::Serialize;

use super::admin::{Alarms, EndpointHashKv};
use super::json::{self, EndpointHealth, EndpointStatus};
use super::{Format, Printer, fields, protobuf, table, unsupported};
use crate::go_compat::{self, quote};

impl Printer {
    /// Health results: healthy lines on `out`, unhealthy ones on `err` (etcdctl sends
    /// them to stderr); in json, every result on `out`.
    pub fn endpoint_health(
        &self,
        out: &mut Vec<u8>,
        err: &mut Vec<u8>,
        list: &[EndpointHealth],
    ) -> io::Result<()> {
        match self.format {
            Format::Json => return json::write(out, list),
            Format::Fields => {
                for h in list {
                    writeln!(out, "\"Endpoint\" : {}", quote(h.endpoint.as_bytes()))?;
                    writeln!(out, "\"Health\" : {}", h.health)?;
                    writeln!(out, "\"Took\" : {}", h.took)?;
                    writeln!(out, "\"Error\" : {}\n", h.error)?;
                }
                return Ok(());
            }
            // In a table, unhealthy endpoints are rows like the others, on stdout.
            Format::Table => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|h| {
                        vec![
                            h.endpoint.clone(),
                            h.health.to_string(),
                            h.took.clone(),
                            h.error.clone(),
                        ]
                    })
                    .collect();
                return table::write(out, &["ENDPOINT", "HEALTH", "TOOK", "ERROR"], &rows);
            }
            Format::Protobuf => return Err(unsupported(self.format)),
            Format::Simple => {}
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

    /// `endpoint status` and `endpoint hashkv`: each `(endpoint, answer)` as a row
    /// (comma-separated in simple output), a block of fields, or an object of a json list.
    pub fn endpoint_answers<T: EndpointAnswer>(
        &self,
        out: &mut Vec<u8>,
        list: &[(String, T)],
    ) -> io::Result<()> {
        match self.format {
            Format::Json => {
                let objects: Vec<_> = list.iter().map(|(e, answer)| answer.json(e)).collect();
                json::write(out, &objects)
            }
            Format::Simple => {
                for (endpoint, answer) in list {
                    writeln!(out, "{}", answer.row(endpoint).join(", "))?;
                }
                Ok(())
            }
            Format::Table => {
                let rows: Vec<Vec<String>> = list.iter().map(|(e, a)| a.row(e)).collect();
                table::write(out, T::HEADERS, &rows)
            }
            Format::Fields => {
                for (endpoint, answer) in list {
                    answer.fields(out, endpoint)?;
                }
                Ok(())
            }
            Format::Protobuf => Err(unsupported(self.format)),
        }
    }

    /// The alarms of an `alarm list` or `alarm disarm`, one per line as
    /// `memberID:<decimal id> alarm:<TYPE> ` (Go's text form, with its trailing space).
    pub fn alarms(&self, out: &mut Vec<u8>, r: &AlarmResponse) -> io::Result<()> {
        match self.format {
            Format::Json => return json::write(out, &Alarms::new(r.header(), r.alarms())),
            Format::Fields => {
                // etcdctl crashes on a disarm that had no alarm (it has no header);
                // etcdkit prints nothing for the missing header.
                if let Some(h) = r.header() {
                    fields::header(out, h)?;
                }
                for a in r.alarms() {
                    writeln!(out, "\"MemberID\" : {}", a.member_id().get())?;
                    writeln!(out, "\"AlarmType\" : {}\n", a.alarm())?;
                }
                return Ok(());
            }
            Format::Protobuf => {
                let mut m = protobuf::Message::new();
                if let Some(h) = r.header() {
                    m = m.message(1, &protobuf::header(h));
                }
                let alarms = r.alarms().iter().map(|a| {
                    protobuf::Message::new()
                        .uint(1, a.member_id().get())
                        .int(2, i64::from(super::admin::alarm_number(a.alarm())))
                });
                return protobuf::write(out, &m.messages(2, alarms));
            }
            Format::Table => return Err(unsupported(self.format)),
            Format::Simple => {}
        }
        for a in r.alarms() {
            writeln!(out, "memberID:{} alarm:{} ", a.member_id().get(), a.alarm())?;
        }
        Ok(())
    }
}

/// One member's answer to `endpoint status` or `endpoint hashkv`, in each of the
/// formats etcdctl 3.6 prints it in.
pub trait EndpointAnswer {
    /// The table's column names.
    const HEADERS: &'static [&'static str];

    /// The row of simple output and of the table.
    fn row(&self, endpoint: &str) -> Vec<String>;

    /// The answer in `fields`, then an empty line.
    fn fields(&self, out: &mut Vec<u8>, endpoint: &str) -> io::Result<()>;

    /// The answer's object in json.
    fn json<'a>(&'a self, endpoint: &'a str) -> impl Serialize + 'a;
}

impl EndpointAnswer for StatusResponse {
    const HEADERS: &'static [&'static str] = &STATUS_HEADERS;

    fn row(&self, endpoint: &str) -> Vec<String> {
        status_row(endpoint, self).to_vec()
    }

    fn fields(&self, out: &mut Vec<u8>, endpoint: &str) -> io::Result<()> {
        status_fields(out, endpoint, self)
    }

    fn json<'a>(&'a self, endpoint: &'a str) -> impl Serialize + 'a {
        EndpointStatus::new(endpoint, self)
    }
}

/// `<endpoint>, <hash>, <hash revision>`.
impl EndpointAnswer for HashKvResponse {
    const HEADERS: &'static [&'static str] = &["ENDPOINT", "HASH", "HASH REVISION"];

    fn row(&self, endpoint: &str) -> Vec<String> {
        vec![
            endpoint.to_owned(),
            self.hash().to_string(),
            self.hash_revision().get().to_string(),
        ]
    }

    fn fields(&self, out: &mut Vec<u8>, endpoint: &str) -> io::Result<()> {
        fields::header(out, self.header())?;
        writeln!(out, "\"Endpoint\" : {}", quote(endpoint.as_bytes()))?;
        writeln!(out, "\"Hash\" : {}", self.hash())?;
        writeln!(out, "\"HashRevision\" : {}\n", self.hash_revision().get())
    }

    fn json<'a>(&'a self, endpoint: &'a str) -> impl Serialize + 'a {
        EndpointHashKv::new(endpoint, self)
    }
}

/// etcdctl 3.6's status columns: endpoint, ID, version, storage version, db size, in
/// use, percentage not in use, quota, is leader, is learner, raft term, raft index, raft
/// applied index, errors, downgrade target version and downgrade enabled.
const STATUS_HEADERS: [&str; 16] = [
    "ENDPOINT",
    "ID",
    "VERSION",
    "STORAGE VERSION",
    "DB SIZE",
    "IN USE",
    "PERCENTAGE NOT IN USE",
    "QUOTA",
    "IS LEADER",
    "IS LEARNER",
    "RAFT TERM",
    "RAFT INDEX",
    "RAFT APPLIED INDEX",
    "ERRORS",
    "DOWNGRADE TARGET VERSION",
    "DOWNGRADE ENABLED",
];

fn status_row(endpoint: &str, s: &StatusResponse) -> [String; 16] {
    let member = s.header().member_id();
    let downgrade = s.downgrade_info().unwrap_or_default();
    [
        endpoint.to_owned(),
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
    ]
}

/// One endpoint's status as etcdctl 3.6's `fields` prints it (the raft term only in the
/// header), then an empty line.
fn status_fields(out: &mut Vec<u8>, endpoint: &str, s: &StatusResponse) -> io::Result<()> {
    let downgrade = s.downgrade_info().unwrap_or_default();
    fields::header(out, s.header())?;
    writeln!(out, "\"Version\" : {}", quote(s.version().as_bytes()))?;
    writeln!(
        out,
        "\"StorageVersion\" : {}",
        quote(s.storage_version().as_bytes())
    )?;
    writeln!(out, "\"DBSize\" : {}", s.db_size())?;
    writeln!(out, "\"DBSizeInUse\" : {}", s.db_size_in_use())?;
    writeln!(out, "\"DBSizeQuota\" : {}", s.db_size_quota())?;
    writeln!(out, "\"Leader\" : {}", s.leader().get())?;
    writeln!(out, "\"IsLearner\" : {}", s.is_learner())?;
    writeln!(out, "\"RaftIndex\" : {}", s.raft_index())?;
    writeln!(out, "\"RaftAppliedIndex\" : {}", s.raft_applied_index())?;
    // Go prints a list of strings as `[a b]`.
    writeln!(out, "\"Errors\" : [{}]", s.errors().join(" "))?;
    writeln!(out, "\"Endpoint\" : {}", quote(endpoint.as_bytes()))?;
    writeln!(
        out,
        "\"DowngradeTargetVersion\" : {}",
        quote(downgrade.target_version.as_bytes())
    )?;
    writeln!(out, "\"DowngradeEnabled\" : {}\n", downgrade.enabled)
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
