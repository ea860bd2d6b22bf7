//! Printing responses the way etcdctl does: `simple` (its default) and `json`.
//!
//! Printers write into a byte buffer that the command then writes to stdout in one go, so
//! a failure half-way through printing leaves no partial output behind.

pub mod admin;
mod endpoint;
mod json;
mod simple;

use std::io;

use etcdkit::kv::{DeleteResponse, GetResponse, PutResponse, TxnResponse};
use etcdkit::watch::WatchResponse;

pub use json::{EndpointHealth, Header};

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
}

impl Format {
    /// Parses `-w`. etcdctl also has `fields`, `protobuf` and `table`; they are refused here
    /// before any request is sent (etcdctl itself runs a put before failing to print it as a
    /// table), with etcdctl's exit code for an unsupported feature.
    pub fn parse(name: &str) -> Result<Format, CliError> {
        match name {
            "simple" => Ok(Format::Simple),
            "json" => Ok(Format::Json),
            "fields" | "protobuf" | "table" => Err(CliError::bad_feature(format!(
                "{name} not supported as output format"
            ))),
            _ => Err(CliError::bad_feature("unsupported output format")),
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
        let simple = |out: &mut Vec<u8>, r, hex| simple::get(out, r, hex, value_only);
        self.either(out, r, simple, json::Range::from)
    }

    pub fn watch(&self, out: &mut Vec<u8>, r: &WatchResponse) -> io::Result<()> {
        self.either(out, r, simple::watch, json::Watch::from)
    }

    pub fn put(&self, out: &mut Vec<u8>, r: &PutResponse) -> io::Result<()> {
        self.either(out, r, simple::put, json::Put::from)
    }

    pub fn del(&self, out: &mut Vec<u8>, r: &DeleteResponse) -> io::Result<()> {
        self.either(out, r, simple::del, json::Delete::from)
    }

    pub fn txn(&self, out: &mut Vec<u8>, r: &TxnResponse) -> io::Result<()> {
        self.either(out, r, simple::txn, json::Txn::from)
    }

    /// Prints `r` with `simple` (given the hex flag) or as the json of `to_json(r)`.
    fn either<'r, R, J: serde::Serialize>(
        &self,
        out: &mut Vec<u8>,
        r: &'r R,
        simple: impl FnOnce(&mut Vec<u8>, &'r R, bool) -> io::Result<()>,
        to_json: impl FnOnce(&'r R) -> J,
    ) -> io::Result<()> {
        match self.format {
            Format::Simple => simple(out, r, self.hex),
            Format::Json => json::write(out, &to_json(r)),
        }
    }
}
