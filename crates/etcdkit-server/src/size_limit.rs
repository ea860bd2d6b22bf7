//! A request over the server's size limit is refused in etcd's (grpc-go's) words.
//!
//! tonic refuses such a request before any service sees it, as `OUT_OF_RANGE` "Error,
//! decoded message length too large: found N bytes, the limit is: M bytes". etcd, whose
//! gRPC is grpc-go, answers `RESOURCE_EXHAUSTED` "grpc: received message larger than max
//! (N vs. M)", and clients tell a request that is too large by those words. This layer
//! rewrites the one into the other on the answer's headers, where tonic puts the status of
//! a request it refused whole (a trailers-only answer); every other answer passes as is.

use tonic::Status;
use tonic::body::Body;
use tonic::codegen::http::Response;

/// What tonic's refusal starts with, then `N bytes, the limit is: M bytes`.
const TONIC_PREFIX: &str = "Error, decoded message length too large: found ";

/// The layer for the server's router.
pub(crate) fn layer() -> tower::util::MapResponseLayer<fn(Response<Body>) -> Response<Body>> {
    tower::util::MapResponseLayer::new(in_grpc_go_words as fn(Response<Body>) -> Response<Body>)
}

fn in_grpc_go_words(mut response: Response<Body>) -> Response<Body> {
    let Some(status) = Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() != tonic::Code::OutOfRange {
        return response;
    }
    let Some((found, limit)) = sizes(status.message()) else {
        return response;
    };
    let etcds = Status::resource_exhausted(format!(
        "grpc: received message larger than max ({found} vs. {limit})"
    ));
    // Leaves tonic's answer alone if the new one cannot be written (it always can: the
    // message is ASCII).
    let mut headers = response.headers().clone();
    if etcds.add_header(&mut headers).is_ok() {
        *response.headers_mut() = headers;
    }
    response
}

/// `(N, M)` from tonic's "...found N bytes, the limit is: M bytes".
fn sizes(message: &str) -> Option<(u64, u64)> {
    let rest = message.strip_prefix(TONIC_PREFIX)?;
    let (found, rest) = rest.split_once(" bytes, the limit is: ")?;
    let limit = rest.strip_suffix(" bytes")?;
    Some((found.parse().ok()?, limit.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tonics_refusal_is_read_and_anything_else_is_not() {
        assert_eq!(
            sizes(
                "Error, decoded message length too large: found 4194320 bytes, the limit is: \
                 2097152 bytes"
            ),
            Some((4_194_320, 2_097_152))
        );
        assert_eq!(sizes("etcdserver: request is too large"), None);
        assert_eq!(
            sizes("Error, decoded message length too large: found x"),
            None
        );
    }

    #[test]
    fn the_refusal_becomes_resource_exhausted_in_grpc_gos_words() {
        let tonics = Status::out_of_range(
            "Error, decoded message length too large: found 10 bytes, the limit is: 5 bytes",
        );
        let answer = in_grpc_go_words(tonics.into_http());
        let status = Status::from_header_map(answer.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert_eq!(
            status.message(),
            "grpc: received message larger than max (10 vs. 5)"
        );
        let other = in_grpc_go_words(Status::out_of_range("other").into_http());
        let status = Status::from_header_map(other.headers()).unwrap();
        assert_eq!(status.code(), tonic::Code::OutOfRange);
    }
}
