//! The narrowest entry points to the crate's private parsers, for the `cargo fuzz`
//! targets in the repository's `fuzz/` directory. Compiled only with the `fuzzing`
//! feature and hidden from the docs: not a stable API, and nothing else should use it.
//!
//! Each item wraps one parser that reads bytes from outside (the server's replies, the
//! user's endpoints and TLS files) without changing what it does; errors are turned into
//! strings, since the crate's internal error types are private.

use bytes::Bytes;

pub use crate::generated::{etcdserverpb as pb, mvccpb};

/// The unary path's gRPC response framing: data chunks in, one message out.
pub struct UnaryDecoder(crate::transport::UnaryDecoder);

impl UnaryDecoder {
    /// A decoder refusing messages over `max_len` bytes (`max_recv_size`).
    pub fn new(max_len: usize) -> UnaryDecoder {
        UnaryDecoder(crate::transport::UnaryDecoder::new(max_len))
    }

    /// Adds one data chunk of the response body, as it came off the HTTP/2 stream.
    ///
    /// # Errors
    ///
    /// The response is unreadable (declares a message over the limit, say), as the
    /// unary call would report it.
    pub fn push(&mut self, data: Bytes) -> Result<(), String> {
        self.0
            .push(data)
            .map_err(|e| crate::transport::describe_attempt_error(&e))
    }

    /// Decodes the one message once the body has ended.
    ///
    /// # Errors
    ///
    /// The body held no complete, well-formed message.
    pub fn finish<M: prost::Message + Default>(self) -> Result<M, String> {
        self.0
            .finish()
            .map_err(|e| crate::transport::describe_attempt_error(&e))
    }
}

/// The gRPC status a unary call takes from response headers or trailers, as
/// `(code, message)`; `None` when they carry no error.
pub fn grpc_status(headers: &http::HeaderMap) -> Option<(i32, String)> {
    crate::transport::grpc_error_in(headers).map(|s| (s.code() as i32, s.message().to_owned()))
}

/// An endpoint as the client would connect to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `scheme://host:port`, the name the client gives it everywhere.
    pub url: String,
    /// Whether it is reached over TLS.
    pub tls: bool,
    /// The host as written (an IPv6 address in brackets).
    pub host: String,
    /// The port.
    pub port: u16,
    /// For a unix socket endpoint, the socket's path.
    pub unix_path: Option<String>,
}

/// Parses an endpoint string as `Client::connect` does.
///
/// # Errors
///
/// The endpoint is invalid; the message says why.
pub fn parse_endpoint(raw: &str, default_tls: bool) -> Result<Endpoint, String> {
    let addr = crate::transport::parse_endpoint(raw, default_tls).map_err(|e| e.to_string())?;
    Ok(Endpoint {
        url: addr.url,
        tls: addr.tls,
        host: addr.host,
        port: addr.port,
        unix_path: addr.unix_path,
    })
}

/// Builds the TLS client configuration from PEM text, as a client with these
/// [`TlsOptions`](crate::TlsOptions) does when it connects.
///
/// # Errors
///
/// A certificate or key does not parse or cannot be used.
pub fn tls_config(ca_pem: Option<&[u8]>, identity: Option<(&[u8], &[u8])>) -> Result<(), String> {
    let mut options = crate::TlsOptions::new();
    if let Some(ca) = ca_pem {
        options = options.ca_pem(ca);
    }
    if let Some((cert, key)) = identity {
        options = options.identity_pem(cert, key);
    }
    options
        .client_config()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Joins a fragmented watch response, as each watch's stream task does.
#[derive(Debug, Default)]
pub struct Reassembly(crate::watch::Reassembly);

impl Reassembly {
    /// Takes one response off the stream; the whole response once its last fragment is in.
    pub fn push(&mut self, response: pb::WatchResponse) -> Option<pb::WatchResponse> {
        self.0.push(response)
    }

    /// The stream failed: a partial response is dropped.
    pub fn reset(&mut self) {
        self.0.reset();
    }
}

/// Where one watch stands: what a resumed watch must not deliver again.
#[derive(Debug, Clone)]
pub struct Progress(crate::watch::Progress);

impl Progress {
    /// A watch from `start_revision` (0: from now).
    pub fn new(start_revision: i64) -> Progress {
        Progress(crate::watch::Progress::new(start_revision))
    }

    /// The server created the watch at `header_revision`.
    pub fn on_created(&mut self, header_revision: i64) {
        self.0.on_created(header_revision);
    }

    /// The events not delivered yet.
    pub fn fresh(&self, events: Vec<mvccpb::Event>) -> Vec<mvccpb::Event> {
        self.0.fresh(events)
    }

    /// Everything up to `revision` was delivered.
    pub fn delivered(&mut self, revision: i64) {
        self.0.delivered(revision);
    }

    /// The revision a resumed watch is created from (0: now).
    pub fn resume_revision(&self) -> i64 {
        self.0.resume_revision()
    }
}

/// A member's `Status.version` as the client reads it for
/// [`min_member_version`](crate::ClientOptions::min_member_version): its normal form
/// `major.minor.patch`, or `None` when it is no version.
pub fn member_version(text: &str) -> Option<String> {
    crate::transport::MemberVersion::parse(text).map(|v| v.to_string())
}
