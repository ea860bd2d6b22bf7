//! `snapshot status` in etcdutl 3.6's four formats: `simple` (one comma-separated line),
//! `json`, `table` and `fields`. etcdutl has no protobuf form for it.

use std::io::{self, Write};

use serde::Serialize;

use super::{Format, json, table};
use crate::go_compat::humanize_bytes;

/// What `snapshot status` reports; the JSON field names are etcdutl's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SnapshotStatus {
    pub hash: u32,
    pub revision: i64,
    #[serde(rename = "totalKey")]
    pub total_key: u64,
    #[serde(rename = "totalSize")]
    pub total_size: u64,
    /// Empty for snapshots of etcd before 3.6 (always printed, even empty).
    pub version: String,
}

/// Writes `s` in `format` (protobuf is refused before this is called).
pub fn status(out: &mut Vec<u8>, format: Format, s: &SnapshotStatus) -> io::Result<()> {
    let row = vec![
        format!("{:x}", s.hash),
        s.revision.to_string(),
        s.total_key.to_string(),
        humanize_bytes(s.total_size),
        s.version.clone(),
    ];
    match format {
        Format::Json => json::write(out, s),
        Format::Table => table::write(
            out,
            &["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "VERSION"],
            &[row],
        ),
        Format::Fields => {
            writeln!(out, "\"Hash\" : {}", s.hash)?;
            writeln!(out, "\"Revision\" : {}", s.revision)?;
            writeln!(out, "\"Keys\" : {}", s.total_key)?;
            writeln!(out, "\"Size\" : {}", s.total_size)?;
            writeln!(out, "\"Version\" : {}", s.version)
        }
        Format::Simple | Format::Protobuf => writeln!(out, "{}", row.join(", ")),
    }
}
