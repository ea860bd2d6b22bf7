//! A minimal HTTP/1.0 GET over a tokio `TcpStream`, enough for etcd's `/health` and
//! `/metrics`. The test kit knows nothing of any etcd client, so it speaks plain HTTP here.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Upper bound on a response we are willing to read (metrics text is a few hundred KiB).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// A parsed response: status code and body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// `GET path` on `127.0.0.1:port`, the whole exchange bounded by `timeout`.
///
/// HTTP/1.0 is used so that the server closes the connection after the body and (being Go's
/// server) never answers with chunked encoding; chunked bodies are decoded anyway.
pub(crate) async fn get(port: u16, path: &str, timeout: Duration) -> io::Result<Response> {
    match tokio::time::timeout(timeout, get_inner(port, path)).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("no answer within {timeout:?}"),
        )),
    }
}

async fn get_inner(port: u16, path: &str) -> io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE)
        .read_to_end(&mut raw)
        .await?;
    parse(&raw)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn parse(raw: &[u8]) -> io::Result<Response> {
    let head_end = find(raw, b"\r\n\r\n")
        .ok_or_else(|| invalid("incomplete HTTP response (no end of headers)"))?;
    let head = std::str::from_utf8(&raw[..head_end])
        .map_err(|_| invalid("HTTP response headers are not UTF-8"))?;
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(invalid(format!("bad HTTP status line: {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("bad HTTP status line: {status_line:?}")))?;
    let mut chunked = false;
    let mut content_length: Option<usize> = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().ok();
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(len) = content_length {
        if rest.len() < len {
            return Err(invalid(format!(
                "HTTP body cut short: {} of {len} bytes",
                rest.len()
            )));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response { status, body })
}

fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end =
            find(data, b"\r\n").ok_or_else(|| invalid("bad chunked body (no size line)"))?;
        let size_line = std::str::from_utf8(&data[..line_end])
            .map_err(|_| invalid("bad chunked body (size line not UTF-8)"))?;
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_hex:?}")))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let chunk = data
            .get(..size)
            .ok_or_else(|| invalid("chunked body cut short"))?;
        out.extend_from_slice(chunk);
        data = data.get(size + 2..).unwrap_or_default();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length() {
        let r =
            parse(b"HTTP/1.0 200 OK\r\nContent-Length: 17\r\n\r\n{\"health\":\"true\"}").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{\"health\":\"true\"}");
    }

    #[test]
    fn parses_chunked() {
        let r = parse(
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.status, 503);
        assert_eq!(r.body, b"abcde");
    }

    #[test]
    fn parses_until_close() {
        let r = parse(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello").unwrap();
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(b"hello").is_err());
        assert!(parse(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").is_err());
    }
}
