//! `downgrade validate | enable | cancel`: etcdctl 3.6 prints
//! `Downgrade <action> success, cluster version <version>` in the simple format, the
//! `DowngradeResponse` in json and protobuf, and has no fields or table form.

use std::io::{self, Write};

use etcdkit::maintenance::DowngradeResponse;
use serde::Serialize;

use super::json::Header;
use super::{Format, Printer, json, protobuf, unsupported};

/// `DowngradeResponse` in etcdctl's json (`version` is `omitempty`).
#[derive(Serialize)]
struct Downgrade<'a> {
    header: Header,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
}

impl Printer {
    /// The answer to `downgrade <action>` (`action`: `validate`, `enable` or `cancel`).
    pub fn downgrade(
        &self,
        out: &mut Vec<u8>,
        action: &str,
        r: &DowngradeResponse,
    ) -> io::Result<()> {
        match self.format {
            Format::Simple => writeln!(
                out,
                "Downgrade {action} success, cluster version {}",
                r.version()
            ),
            Format::Json => json::write(
                out,
                &Downgrade {
                    header: r.header().into(),
                    version: r.version(),
                },
            ),
            Format::Protobuf => protobuf::write(
                out,
                &protobuf::Message::new()
                    .message(1, &protobuf::header(r.header()))
                    .bytes(2, r.version().as_bytes()),
            ),
            Format::Fields | Format::Table => Err(unsupported(self.format)),
        }
    }
}
