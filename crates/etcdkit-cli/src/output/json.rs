//! etcdctl's `json` format: Go's `json.Marshal` of the gogo-protobuf response structs,
//! plus a newline. Hence:
//!
//! - field names are the proto json tags, in proto field order;
//! - every field is `omitempty`: zero numbers, `false`, empty bytes and lists are left out;
//! - bytes are standard base64 with padding; uint64 ids are unsigned JSON numbers;
//! - strings are escaped as Go does (HTML-safe `\u003c`, `\u003e`, `\u0026`; `\u0008` and
//!   `\u000c` rather than `\b` and `\f`), see [`GoFormatter`].

use std::io::{self, Write};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use etcdkit::kv::{DeleteResponse, GetResponse, PutResponse, TxnOpResponse, TxnResponse};
use etcdkit::maintenance::StatusResponse;
use etcdkit::watch::{EventType, WatchResponse};
use etcdkit::{KeyValue, ResponseHeader};
use serde::{Serialize, Serializer};
use serde_json::ser::{CharEscape, Formatter};

/// Writes `value` as one line of JSON.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> io::Result<()> {
    let mut serializer = serde_json::Serializer::with_formatter(&mut *out, GoFormatter);
    value.serialize(&mut serializer)?;
    out.write_all(b"\n")
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_empty_bytes(b: &&[u8]) -> bool {
    b.is_empty()
}

fn base64<S: Serializer>(bytes: &&[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&BASE64.encode(bytes))
}

/// `etcdserverpb.ResponseHeader`. Headers inside a txn carry only the revision.
#[derive(Serialize)]
pub struct Header {
    #[serde(skip_serializing_if = "is_zero_u64")]
    cluster_id: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    member_id: u64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    revision: i64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    raft_term: u64,
}

impl From<&ResponseHeader> for Header {
    fn from(h: &ResponseHeader) -> Self {
        Header {
            cluster_id: h.cluster_id().0,
            member_id: h.member_id().get(),
            revision: h.revision().get(),
            raft_term: h.raft_term(),
        }
    }
}

/// `mvccpb.KeyValue`.
#[derive(Serialize)]
pub struct Kv<'a> {
    #[serde(skip_serializing_if = "is_empty_bytes", serialize_with = "base64")]
    key: &'a [u8],
    #[serde(skip_serializing_if = "is_zero_i64")]
    create_revision: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    mod_revision: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    version: i64,
    #[serde(skip_serializing_if = "is_empty_bytes", serialize_with = "base64")]
    value: &'a [u8],
    /// In decimal, as Go prints an int64.
    #[serde(skip_serializing_if = "is_zero_i64")]
    lease: i64,
}

impl<'a> From<&'a KeyValue> for Kv<'a> {
    fn from(kv: &'a KeyValue) -> Self {
        Kv {
            key: kv.key(),
            create_revision: kv.create_revision().get(),
            mod_revision: kv.mod_revision().get(),
            version: kv.version(),
            value: kv.value(),
            lease: kv.lease().map_or(0, |l| l.get()),
        }
    }
}

/// `mvccpb.Event`: the type is left out for a put (0).
#[derive(Serialize)]
pub struct Event<'a> {
    #[serde(rename = "type", skip_serializing_if = "is_zero_i64")]
    kind: i64,
    kv: Kv<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_kv: Option<Kv<'a>>,
}

/// clientv3's `WatchResponse` (a Go struct, so Go field names and no `omitempty`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Watch<'a> {
    header: Header,
    events: Vec<Event<'a>>,
    compact_revision: i64,
    canceled: bool,
    created: bool,
}

impl<'a> From<&'a WatchResponse> for Watch<'a> {
    fn from(r: &'a WatchResponse) -> Self {
        Watch {
            header: r.header().into(),
            events: r
                .events()
                .iter()
                .map(|e| Event {
                    kind: i64::from(e.event_type() == EventType::Delete),
                    kv: e.kv().into(),
                    prev_kv: e.prev_kv().map(Kv::from),
                })
                .collect(),
            compact_revision: 0,
            canceled: false,
            created: r.is_created(),
        }
    }
}

/// `RangeResponse`.
#[derive(Serialize)]
pub struct Range<'a> {
    header: Header,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    kvs: Vec<Kv<'a>>,
    #[serde(skip_serializing_if = "is_false")]
    more: bool,
    #[serde(skip_serializing_if = "is_zero_i64")]
    count: i64,
}

impl<'a> From<&'a GetResponse> for Range<'a> {
    fn from(r: &'a GetResponse) -> Self {
        Range {
            header: r.header().into(),
            kvs: r.kvs().iter().map(Kv::from).collect(),
            more: r.more(),
            count: r.count(),
        }
    }
}

/// `PutResponse`.
#[derive(Serialize)]
pub struct Put<'a> {
    header: Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_kv: Option<Kv<'a>>,
}

impl<'a> From<&'a PutResponse> for Put<'a> {
    fn from(r: &'a PutResponse) -> Self {
        Put {
            header: r.header().into(),
            prev_kv: r.prev_kv().map(Kv::from),
        }
    }
}

/// `DeleteRangeResponse`.
#[derive(Serialize)]
pub struct Delete<'a> {
    header: Header,
    #[serde(skip_serializing_if = "is_zero_i64")]
    deleted: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    prev_kvs: Vec<Kv<'a>>,
}

impl<'a> From<&'a DeleteResponse> for Delete<'a> {
    fn from(r: &'a DeleteResponse) -> Self {
        Delete {
            header: r.header().into(),
            deleted: r.deleted(),
            prev_kvs: r.prev_kvs().iter().map(Kv::from).collect(),
        }
    }
}

/// `TxnResponse`.
#[derive(Serialize)]
pub struct Txn<'a> {
    header: Header,
    #[serde(skip_serializing_if = "is_false")]
    succeeded: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    responses: Vec<ResponseOp<'a>>,
}

/// `ResponseOp`: its oneof field has no json tag in Go, hence the capitalised `Response`.
#[derive(Serialize)]
pub struct ResponseOp<'a> {
    #[serde(rename = "Response")]
    response: OneOf<'a>,
}

#[derive(Serialize)]
pub enum OneOf<'a> {
    #[serde(rename = "response_range")]
    Range(Range<'a>),
    #[serde(rename = "response_put")]
    Put(Put<'a>),
    #[serde(rename = "response_delete_range")]
    Delete(Delete<'a>),
    #[serde(rename = "response_txn")]
    Txn(Box<Txn<'a>>),
}

impl<'a> From<&'a TxnResponse> for Txn<'a> {
    fn from(r: &'a TxnResponse) -> Self {
        let responses = r
            .responses()
            .iter()
            .filter_map(|op| {
                let response = match op {
                    TxnOpResponse::Get(r) => OneOf::Range(r.into()),
                    TxnOpResponse::Put(r) => OneOf::Put(r.into()),
                    TxnOpResponse::Delete(r) => OneOf::Delete(r.into()),
                    TxnOpResponse::Txn(r) => OneOf::Txn(Box::new(r.into())),
                    _ => return None,
                };
                Some(ResponseOp { response })
            })
            .collect();
        Txn {
            header: r.header().into(),
            succeeded: r.succeeded(),
            responses,
        }
    }
}

/// One entry of `endpoint health -w json`: a plain Go struct, so `health` is always there.
#[derive(Serialize, Debug, Clone)]
pub struct EndpointHealth {
    pub endpoint: String,
    pub health: bool,
    pub took: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// One entry of `endpoint status -w json`.
#[derive(Serialize)]
pub struct EndpointStatus<'a> {
    #[serde(rename = "Endpoint")]
    endpoint: &'a str,
    #[serde(rename = "Status")]
    status: Status<'a>,
}

impl<'a> EndpointStatus<'a> {
    pub fn new(endpoint: &'a str, status: &'a StatusResponse) -> Self {
        EndpointStatus {
            endpoint,
            status: Status {
                header: status.header().into(),
                version: status.version(),
                db_size: status.db_size(),
                leader: status.leader().get(),
                raft_index: status.raft_index(),
                raft_term: status.raft_term(),
                raft_applied_index: status.raft_applied_index(),
                errors: status.errors(),
                db_size_in_use: status.db_size_in_use(),
                is_learner: status.is_learner(),
                storage_version: status.storage_version(),
                db_size_quota: status.db_size_quota(),
                downgrade_info: status.downgrade_info().map(|d| DowngradeInfo {
                    enabled: d.enabled,
                    target_version: d.target_version,
                }),
            },
        }
    }
}

/// `StatusResponse`, whose json tags are camelCase.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Status<'a> {
    header: Header,
    #[serde(skip_serializing_if = "str::is_empty")]
    version: &'a str,
    #[serde(skip_serializing_if = "is_zero_i64")]
    db_size: i64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    leader: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    raft_index: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    raft_term: u64,
    #[serde(skip_serializing_if = "is_zero_u64")]
    raft_applied_index: u64,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    errors: &'a [String],
    #[serde(skip_serializing_if = "is_zero_i64")]
    db_size_in_use: i64,
    #[serde(skip_serializing_if = "is_false")]
    is_learner: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    storage_version: &'a str,
    #[serde(skip_serializing_if = "is_zero_i64")]
    db_size_quota: i64,
    /// A message field: printed (as `{}` when empty) whenever the server sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    downgrade_info: Option<DowngradeInfo>,
}

/// `DowngradeInfo` (etcd 3.6).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DowngradeInfo {
    #[serde(skip_serializing_if = "is_false")]
    enabled: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    target_version: String,
}

/// Compact JSON with Go's `encoding/json` string escaping (unchanged from Go 1.16 to the
/// Go that builds etcdctl 3.6).
pub struct GoFormatter;

impl Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' => "\\u003c",
                '>' => "\\u003e",
                '&' => "\\u0026",
                '\u{2028}' => "\\u2028",
                '\u{2029}' => "\\u2029",
                _ => continue,
            };
            writer.write_all(&fragment.as_bytes()[start..i])?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        escape: CharEscape,
    ) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"\\/",
            CharEscape::Backspace => b"\\u0008",
            CharEscape::FormFeed => b"\\u000c",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write!(writer, "\\u{byte:04x}"),
        };
        writer.write_all(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_as_go_does() {
        let mut out = Vec::new();
        write(&mut out, "a<b>&\u{8}\u{c}\n\u{1b}\"\\é").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\u003cb\\u003e\\u0026\\u0008\\u000c\\n\\u001b\\\"\\\\é\"\n"
        );
    }

    #[test]
    fn health_keeps_false_and_drops_empty_error() {
        let mut out = Vec::new();
        let list = [
            EndpointHealth {
                endpoint: "a:1".into(),
                health: true,
                took: "2ms".into(),
                error: String::new(),
            },
            EndpointHealth {
                endpoint: "b:1".into(),
                health: false,
                took: "1s".into(),
                error: "context deadline exceeded".into(),
            },
        ];
        write(&mut out, &list[..]).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "[{\"endpoint\":\"a:1\",\"health\":true,\"took\":\"2ms\"},\
             {\"endpoint\":\"b:1\",\"health\":false,\"took\":\"1s\",\"error\":\"context deadline exceeded\"}]\n"
        );
    }
}
