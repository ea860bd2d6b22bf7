//! The unary path's response decoding: HTTP/2 data chunks, however the server splits
//! them, into one gRPC frame (a 5-byte prefix and a protobuf message), and the status
//! in the headers or trailers.
//!
//! Properties: no panic; the decoder never holds more than one frame at the size limit
//! (a server cannot make it buffer without bound); it accepts exactly the bodies that
//! are one uncompressed frame within the limit whose message decodes, and then yields
//! that message; a frame we encode survives any split into chunks; a status other than
//! OK is never reported as OK.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use etcdkit::__fuzz::{UnaryDecoder, grpc_status, pb};
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Arbitrary, Debug)]
struct Input {
    max_len: u16,
    /// The body as the server's data frames carry it.
    chunks: Vec<Vec<u8>>,
    /// Chunk sizes for re-sending a frame of our own.
    splits: Vec<u8>,
    grpc_status: Vec<u8>,
    grpc_message: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let max_len = usize::from(input.max_len);
    body_is_one_frame_within_the_limit(max_len, &input.chunks);
    our_frames_survive_any_split(&input.chunks, &input.splits);
    statuses(&input.grpc_status, &input.grpc_message);
});

fn body_is_one_frame_within_the_limit(max_len: usize, chunks: &[Vec<u8>]) {
    let mut decoder = UnaryDecoder::new(max_len);
    let mut body = Vec::new();
    for chunk in chunks {
        body.extend_from_slice(chunk);
        if decoder.push(Bytes::copy_from_slice(chunk)).is_err() {
            return;
        }
        assert!(
            body.len() <= 5 + max_len,
            "the decoder holds {} bytes with a limit of {max_len}",
            body.len()
        );
    }
    let got = decoder.finish::<pb::RangeResponse>();
    let expected = (|| {
        let (head, rest) = body.split_at_checked(5)?;
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if head[0] != 0 || len > max_len || rest.len() != len {
            return None;
        }
        pb::RangeResponse::decode(rest).ok()
    })();
    match (got, expected) {
        (Ok(got), Some(expected)) => assert_eq!(got, expected),
        (Err(_), None) => {}
        (got, expected) => panic!("decoded {got:?}, expected {expected:?}"),
    }
}

fn our_frames_survive_any_split(chunks: &[Vec<u8>], splits: &[u8]) {
    let Some(Ok(message)) = chunks
        .first()
        .map(|c| pb::RangeResponse::decode(c.as_slice()))
    else {
        return;
    };
    let encoded = message.encode_to_vec();
    let mut frame = vec![0u8];
    frame.extend_from_slice(
        &u32::try_from(encoded.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(&encoded);
    let mut decoder = UnaryDecoder::new(encoded.len());
    let mut rest = frame.as_slice();
    let mut sizes = splits.iter().map(|s| usize::from(*s)).cycle();
    while !rest.is_empty() {
        let n = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        decoder
            .push(Bytes::copy_from_slice(chunk))
            .expect("a frame within the limit is accepted");
        rest = tail;
    }
    let back = decoder
        .finish::<pb::RangeResponse>()
        .expect("our own frame decodes");
    assert_eq!(back, message);
}

fn statuses(status: &[u8], message: &[u8]) {
    let mut headers = http::HeaderMap::new();
    let Ok(value) = http::HeaderValue::from_bytes(status) else {
        return;
    };
    headers.insert("grpc-status", value);
    if let Ok(value) = http::HeaderValue::from_bytes(message) {
        headers.insert("grpc-message", value);
    }
    if let Some((code, _message)) = grpc_status(&headers) {
        assert_ne!(code, 0, "an OK status reported as an error");
    }
    if status == b"0" {
        assert!(grpc_status(&headers).is_none());
    }
}
