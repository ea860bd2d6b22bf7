//! Printing responses the way etcdctl does: `simple` (its default), `json`, `fields`,
//! `protobuf` and `table`, each for the commands etcdctl 3.6 prints it for.
//!
//! Printers write into a byte buffer that the command then writes to stdout in one go, so
//! a failure half-way through printing leaves no partial output behind.

pub mod admin;
mod auth;
mod downgrade;
mod endpoint;
mod fields;
mod json;
mod lease;
pub mod member;
pub mod mirror;
mod protobuf;
mod simple;
pub mod snapshot;
mod table;

use std::io;

use etcdkit::kv::{DeleteResponse, GetResponse, PutResponse, TxnResponse};
use etcdkit::watch::WatchResponse;

pub use auth::NameList;
pub use endpoint::EndpointAnswer;
pub use json::{EndpointHealth, Header};
pub use lease::Lease;

use crate::error::CliError;

/// Writes `value` as one line of etcdctl-style JSON.
pub fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> io::Result<()> {
    json::write(out, value)
}

/// The `-w` / `--write-out` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    /// `"Name" : value` lines.
    Fields,
    /// The response message's protobuf encoding, as raw bytes.
    Protobuf,
    /// An ASCII table (only lists of members and endpoints).
    Table,
}

/// [`Format`] for a command that prints only `simple` and `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basic {
    Simple,
    Json,
}

impl Format {
    /// This format as one of `simple` and `json`, for code that prints only those two:
    /// its printer was made with [`Supported::BASIC`], which refuses the others, or it
    /// has printed them already. Anything but json is simple.
    pub fn basic(self) -> Basic {
        if self == Format::Json {
            Basic::Json
        } else {
            Basic::Simple
        }
    }
}

/// The formats beyond `simple` and `json` that a command prints, as in etcdctl 3.6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    pub fields: bool,
    pub protobuf: bool,
    pub table: bool,
}

impl Supported {
    /// `simple` and `json` only.
    pub const BASIC: Supported = Supported {
        fields: false,
        protobuf: false,
        table: false,
    };
    /// Key-value commands (get, put, del, txn, watch), alarms, leases and most role and
    /// user commands: `fields` and `protobuf` but no table.
    pub const FIELDS_PROTOBUF: Supported = Supported {
        fields: true,
        protobuf: true,
        table: false,
    };
    /// `member list`: every format.
    pub const ALL: Supported = Supported {
        fields: true,
        protobuf: true,
        table: true,
    };
    /// `endpoint status|health|hashkv`: a table and fields, but they have no single
    /// response message to encode.
    pub const FIELDS_TABLE: Supported = Supported {
        fields: true,
        protobuf: false,
        table: true,
    };
    /// `auth status`, `user list` and `user get` (without `--detail`): protobuf but no
    /// fields.
    pub const PROTOBUF: Supported = Supported {
        fields: false,
        protobuf: true,
        table: false,
    };
    /// Whether `format` is printed.
    fn allows(self, format: Format) -> bool {
        match format {
            Format::Simple | Format::Json => true,
            Format::Fields => self.fields,
            Format::Protobuf => self.protobuf,
            Format::Table => self.table,
        }
    }
}

impl Format {
    /// Parses `-w` for a command that prints `supported`. A format the command does not
    /// print is refused before any request is sent (etcdctl itself sends the request and
    /// then fails to print the answer, so a refused `put -w table` writes nothing here),
    /// with etcdctl's message and its exit code for an unsupported feature.
    ///
    /// # Errors
    ///
    /// An unknown name, or a format this command has no printer for.
    pub fn parse(name: &str, supported: Supported) -> Result<Format, CliError> {
        let format = match name {
            "simple" => Format::Simple,
            "json" => Format::Json,
            "fields" => Format::Fields,
            "protobuf" => Format::Protobuf,
            "table" => Format::Table,
            _ => return Err(CliError::bad_feature("unsupported output format")),
        };
        if supported.allows(format) {
            Ok(format)
        } else {
            Err(CliError::bad_feature(format!(
                "{name} not supported as output format"
            )))
        }
    }
}

/// Prints responses in one format.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub format: Format,
    /// Simple output writes keys and values as `\xNN` escapes (json is unaffected, as in
    /// etcdctl).
    pub hex: bool,
}

impl Printer {
    pub fn get(&self, out: &mut Vec<u8>, r: &GetResponse, value_only: bool) -> io::Result<()> {
        match self.format {
            Format::Simple => simple::get(out, r, self.hex, value_only),
            Format::Json => json::write(out, &json::Range::from(r)),
            Format::Fields => fields::get(out, r),
            Format::Protobuf => protobuf::write(out, &protobuf::range(r)),
            Format::Table => Err(unsupported(self.format)),
        }
    }

    pub fn watch(&self, out: &mut Vec<u8>, r: &WatchResponse) -> io::Result<()> {
        match self.format {
            Format::Simple => simple::watch(out, r, self.hex),
            Format::Json => json::write(out, &json::Watch::from(r)),
            Format::Fields => fields::watch(out, r),
            Format::Protobuf => protobuf::write(out, &protobuf::watch(r)),
            Format::Table => Err(unsupported(self.format)),
        }
    }

    pub fn put(&self, out: &mut Vec<u8>, r: &PutResponse) -> io::Result<()> {
        match self.format {
            Format::Simple => simple::put(out, r, self.hex),
            Format::Json => json::write(out, &json::Put::from(r)),
            Format::Fields => fields::put(out, r),
            Format::Protobuf => protobuf::write(out, &protobuf::put(r)),
            Format::Table => Err(unsupported(self.format)),
        }
    }

    pub fn del(&self, out: &mut Vec<u8>, r: &DeleteResponse) -> io::Result<()> {
        match self.format {
            Format::Simple => simple::del(out, r, self.hex),
            Format::Json => json::write(out, &json::Delete::from(r)),
            Format::Fields => fields::del(out, r),
            Format::Protobuf => protobuf::write(out, &protobuf::delete(r)),
            Format::Table => Err(unsupported(self.format)),
        }
    }

    pub fn txn(&self, out: &mut Vec<u8>, r: &TxnResponse) -> io::Result<()> {
        match self.format {
            Format::Simple => simple::txn(out, r, self.hex),
            Format::Json => json::write(out, &json::Txn::from(r)),
            Format::Fields => fields::txn(out, r),
            Format::Protobuf => protobuf::write(out, &protobuf::txn(r)),
            Format::Table => Err(unsupported(self.format)),
        }
    }
}

/// The error for a printer asked of a format [`Format::parse`] refuses for its command
/// (so never seen by a user).
fn unsupported(format: Format) -> io::Error {
    io::Error::other(format!("{format:?} not supported as output format"))
}
