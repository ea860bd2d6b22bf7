//! Requests the etcdkit client will not send, sent as bare gRPC over HTTP/2.
//!
//! The client refuses an empty key before sending, so a server's own answer to one can
//! only be seen by going around it. The messages are a few bytes each and are encoded by
//! hand here, from the wire schema in `proto/` (field numbers noted at each one).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

/// A request sent raw, and what is wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawOp {
    /// A put with no key.
    PutEmptyKey,
    /// A range with no key.
    RangeEmptyKey,
    /// A delete with no key.
    DeleteEmptyKey,
    /// A transaction whose one compare has no key.
    TxnCompareEmptyKey,
    /// A transaction whose one put has no key.
    TxnPutEmptyKey,
}

/// Every raw request, for the generator.
pub(crate) const RAW_OPS: [RawOp; 5] = [
    RawOp::PutEmptyKey,
    RawOp::RangeEmptyKey,
    RawOp::DeleteEmptyKey,
    RawOp::TxnCompareEmptyKey,
    RawOp::TxnPutEmptyKey,
];

/// A length-delimited field (wire type 2): tag, length, bytes. Lengths here are small.
fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![(number << 3) | 2];
    let mut len = bytes.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(bytes);
    out
}

impl RawOp {
    /// The gRPC method and the encoded request.
    fn request(self) -> (&'static str, Vec<u8>) {
        // PutRequest: key = 1, value = 2. RangeRequest, DeleteRangeRequest: key = 1.
        let put = field(2, b"v");
        match self {
            RawOp::PutEmptyKey => ("/etcdserverpb.KV/Put", put),
            RawOp::RangeEmptyKey => ("/etcdserverpb.KV/Range", Vec::new()),
            RawOp::DeleteEmptyKey => ("/etcdserverpb.KV/DeleteRange", Vec::new()),
            // TxnRequest: compare = 1, success = 2. Compare: version = 4 (varint 0, so
            // the operand is set), key = 3 left out.
            RawOp::TxnCompareEmptyKey => ("/etcdserverpb.KV/Txn", field(1, &[0x20, 0x00])),
            // RequestOp: request_put = 2.
            RawOp::TxnPutEmptyKey => ("/etcdserverpb.KV/Txn", field(2, &field(2, &put))),
        }
    }
}

/// What the server answered: the gRPC status code's name and message (`OK` and empty on
/// success).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawReply {
    /// The status code's canonical name.
    pub code: String,
    /// The status message, percent-decoded.
    pub message: String,
}

/// Sends `op` to `endpoint` (`http://host:port`) over a connection of its own.
///
/// # Errors
///
/// A description of what failed on the way (connection, HTTP/2, a reply with no status).
pub async fn send(endpoint: &str, op: RawOp) -> Result<RawReply, String> {
    let authority = endpoint
        .strip_prefix("http://")
        .ok_or_else(|| format!("raw requests need an http:// endpoint, not {endpoint}"))?
        .trim_end_matches('/')
        .to_string();
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect(&authority)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (client, connection) = h2::client::handshake(tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let driver = tokio::spawn(connection);
        let reply = exchange(client, &authority, op).await;
        driver.abort();
        reply
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
}

async fn exchange(
    client: h2::client::SendRequest<Bytes>,
    authority: &str,
    op: RawOp,
) -> Result<RawReply, String> {
    let (path, message) = op.request();
    let request = http::Request::post(format!("http://{authority}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .map_err(|e| e.to_string())?;
    let mut client = client.ready().await.map_err(|e| format!("ready: {e}"))?;
    let (response, mut body) = client
        .send_request(request, false)
        .map_err(|e| format!("send: {e}"))?;
    // gRPC framing: not compressed, then the length, big-endian.
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).map_err(|e| e.to_string())?);
    frame.put_slice(&message);
    body.send_data(frame.freeze(), true)
        .map_err(|e| format!("send body: {e}"))?;
    let response = response.await.map_err(|e| format!("response: {e}"))?;
    // A failure usually comes as headers alone ("trailers-only").
    if let Some(reply) = status(response.headers()) {
        return Ok(reply);
    }
    let mut recv = response.into_body();
    while let Some(data) = recv.data().await {
        let data = data.map_err(|e| format!("body: {e}"))?;
        let _ = recv.flow_control().release_capacity(data.len());
    }
    let trailers = recv
        .trailers()
        .await
        .map_err(|e| format!("trailers: {e}"))?
        .unwrap_or_default();
    status(&trailers).ok_or_else(|| "a reply with no grpc-status".to_string())
}

fn status(headers: &http::HeaderMap) -> Option<RawReply> {
    let number: i32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let code = etcdkit::Code::from_i32(number)
        .map_or_else(|| number.to_string(), |c| c.as_str().to_string());
    let message = headers
        .get("grpc-message")
        .map(|m| percent_decode(m.as_bytes()))
        .unwrap_or_default();
    Some(RawReply { code, message })
}

/// gRPC percent-encodes its status message.
fn percent_decode(s: &[u8]) -> String {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            s[i],
            s.get(i + 1).copied().and_then(hex),
            s.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode(b"a%20b%3A c"), "a b: c");
        assert_eq!(percent_decode(b"100%"), "100%");
    }

    #[test]
    fn fields_are_tagged_and_length_prefixed() {
        assert_eq!(field(2, b"v"), vec![0x12, 1, b'v']);
        assert_eq!(field(1, &[0u8; 200])[..3], [0x0a, 0xc8, 0x01]);
    }
}
