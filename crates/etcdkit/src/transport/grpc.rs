//! gRPC's framing for unary calls, done by hand: a message is a 5-byte prefix (a
//! compression flag and a big-endian length) and the protobuf bytes; the outcome is the
//! `grpc-status` (and `grpc-message`) in the response's trailers, or in its headers when
//! the server answers with an error and no body ("trailers-only").
//!
//! Unary calls are most of what an etcd client sends, and most of them are small; going
//! through tonic's generic streaming codec for each costs more than the framing itself.
//! Streams (watch, keepalive, snapshot, observe) still use tonic's generated clients.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;

use super::status::AttemptError;

/// Encodes `message` as one gRPC frame.
pub(crate) fn encode<M: prost::Message>(message: &M) -> Bytes {
    let len = message.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    // The caller has checked the size against the send limit, far below 4 GiB.
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Encoding into a buffer with room for the whole message cannot fail.
    let _ = message.encode(&mut buf);
    buf.freeze()
}

/// Collects the frames of a unary response body and decodes its one message.
pub(crate) struct Decoder {
    max_len: usize,
    buf: BytesMut,
    /// The first data chunk, kept as is: usually the whole frame, decoded without a copy.
    first: Option<Bytes>,
}

impl Decoder {
    pub fn new(max_len: usize) -> Decoder {
        Decoder {
            max_len,
            buf: BytesMut::new(),
            first: None,
        }
    }

    /// Adds received bytes; fails as soon as the frame's declared length is over the limit,
    /// or the body holds more than that one frame.
    pub fn push(&mut self, data: Bytes) -> Result<(), AttemptError> {
        match self.first.take() {
            None if self.buf.is_empty() => self.first = Some(data),
            None => self.buf.extend_from_slice(&data),
            Some(first) => {
                self.buf.reserve(first.len() + data.len());
                self.buf.extend_from_slice(&first);
                self.buf.extend_from_slice(&data);
            }
        }
        let head: &[u8] = match &self.first {
            Some(first) => first,
            None => &self.buf,
        };
        if head.len() >= 5 {
            let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
            if len > self.max_len {
                return Err(AttemptError::Unreadable(format!(
                    "the message is {len} bytes, over the limit of {} bytes (max_recv_size)",
                    self.max_len
                )));
            }
            // A unary response is one message. Without this check a server that keeps
            // sending after it would have us buffer without bound (found by fuzzing).
            if head.len() > 5 + len {
                return Err(AttemptError::Unreadable(format!(
                    "the response holds more than its one message ({} bytes after a {len}-byte message)",
                    head.len() - 5 - len
                )));
            }
        }
        Ok(())
    }

    /// Decodes the message once the body has ended.
    pub fn finish<M: prost::Message + Default>(self) -> Result<M, AttemptError> {
        let mut frame: Bytes = match self.first {
            Some(first) => first,
            None => self.buf.freeze(),
        };
        if frame.len() < 5 {
            return Err(AttemptError::Unreadable(
                "the response had no complete message".into(),
            ));
        }
        let compressed = frame.get_u8();
        let len = frame.get_u32() as usize;
        if compressed != 0 {
            return Err(AttemptError::Unreadable(
                "the response is compressed, which was not asked for".into(),
            ));
        }
        if frame.len() != len {
            return Err(AttemptError::Unreadable(format!(
                "the response was cut short: {} of {len} bytes",
                frame.len()
            )));
        }
        M::decode(frame.slice(..len))
            .map_err(|e| AttemptError::Unreadable(format!("cannot decode the response: {e}")))
    }
}

/// The call's error, when `headers` (or trailers) carry a status other than OK; `None` for
/// OK or no status at all.
pub(crate) fn error_in(headers: &HeaderMap) -> Option<tonic::Status> {
    // The common case, checked before building a whole Status for it.
    if headers.get("grpc-status").is_none_or(|code| code == "0") {
        return None;
    }
    let status = tonic::Status::from_header_map(headers)?;
    (status.code() != tonic::Code::Ok).then_some(status)
}

/// Whether `headers` carry a gRPC status at all (trailers-only responses do).
pub(crate) fn has_status(headers: &HeaderMap) -> bool {
    headers.contains_key("grpc-status")
}

/// The error for a response that is not gRPC at all (a proxy's error page, say).
pub(crate) fn http_error(status: http::StatusCode) -> tonic::Status {
    let code = match status {
        http::StatusCode::BAD_REQUEST => tonic::Code::Internal,
        http::StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
        http::StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
        http::StatusCode::NOT_FOUND => tonic::Code::Unimplemented,
        http::StatusCode::TOO_MANY_REQUESTS
        | http::StatusCode::BAD_GATEWAY
        | http::StatusCode::SERVICE_UNAVAILABLE
        | http::StatusCode::GATEWAY_TIMEOUT => tonic::Code::Unavailable,
        _ => tonic::Code::Unknown,
    };
    tonic::Status::new(code, format!("the server answered HTTP {status}, not gRPC"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generated::etcdserverpb as pb;

    #[test]
    fn a_message_round_trips_whole_or_in_pieces() {
        let message = pb::PutRequest {
            key: Bytes::from_static(b"k"),
            value: Bytes::from(vec![7u8; 300]),
            ..Default::default()
        };
        let frame = encode(&message);
        assert_eq!(frame.len(), 5 + prost::Message::encoded_len(&message));

        let mut whole = Decoder::new(1024);
        whole.push(frame.clone()).unwrap();
        assert_eq!(whole.finish::<pb::PutRequest>().unwrap(), message);

        let mut pieces = Decoder::new(1024);
        for chunk in frame.chunks(3) {
            pieces.push(Bytes::copy_from_slice(chunk)).unwrap();
        }
        assert_eq!(pieces.finish::<pb::PutRequest>().unwrap(), message);
    }

    #[test]
    fn oversized_cut_short_and_garbage_responses_are_errors() {
        let message = pb::PutRequest {
            value: Bytes::from(vec![1u8; 100]),
            ..Default::default()
        };
        let frame = encode(&message);
        let mut small = Decoder::new(10);
        let unreadable = |e| matches!(e, AttemptError::Unreadable(_));
        assert!(unreadable(small.push(frame.clone()).unwrap_err()));

        let mut cut = Decoder::new(1024);
        cut.push(frame.slice(..20)).unwrap();
        assert!(unreadable(cut.finish::<pb::PutRequest>().unwrap_err()));

        let mut empty = Decoder::new(1024);
        empty.push(Bytes::new()).unwrap();
        assert!(unreadable(empty.finish::<pb::PutRequest>().unwrap_err()));

        let mut garbage = Decoder::new(1024);
        garbage
            .push(Bytes::from_static(&[0, 0, 0, 0, 3, 0xff, 0xff, 0xff]))
            .unwrap();
        assert!(unreadable(garbage.finish::<pb::PutRequest>().unwrap_err()));
    }

    #[test]
    fn bytes_after_the_one_message_are_refused_as_they_arrive() {
        let message = pb::PutRequest {
            key: Bytes::from_static(b"k"),
            ..Default::default()
        };
        let frame = encode(&message);
        let unreadable = |e| matches!(e, AttemptError::Unreadable(_));

        // In the same chunk as the frame.
        let mut same = Decoder::new(1024);
        let mut body = frame.to_vec();
        body.push(0);
        assert!(unreadable(same.push(Bytes::from(body)).unwrap_err()));

        // After it: refused at the first extra byte, not buffered until the body ends.
        let mut after = Decoder::new(1024);
        after.push(frame.clone()).unwrap();
        assert!(unreadable(
            after.push(Bytes::from_static(&[0; 4096])).unwrap_err()
        ));

        // An empty message followed by more: the length prefix says 0.
        let mut empty = Decoder::new(1024);
        empty.push(Bytes::from_static(&[0, 0, 0, 0, 0])).unwrap();
        assert!(unreadable(
            empty.push(Bytes::from_static(&[0])).unwrap_err()
        ));
    }

    #[test]
    fn status_comes_from_headers_or_trailers() {
        let mut headers = HeaderMap::new();
        assert!(error_in(&headers).is_none());
        headers.insert("grpc-status", "0".parse().unwrap());
        assert!(error_in(&headers).is_none());
        headers.insert("grpc-status", "9".parse().unwrap());
        headers.insert(
            "grpc-message",
            "etcdserver:%20requested%20lease%20not%20found"
                .parse()
                .unwrap(),
        );
        let status = error_in(&headers).unwrap();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(status.message(), "etcdserver: requested lease not found");
    }
}
