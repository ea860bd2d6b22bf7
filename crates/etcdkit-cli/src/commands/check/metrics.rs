//! `process_resident_memory_bytes` from a member's `/metrics`, which `check datascale`
//! reads before and after its load. A plain HTTP/1.0 GET over TCP, as etcdctl makes with
//! Go's `http.Get`: the CLI has no HTTP client of its own, and one request needs none.
//! `https://` endpoints are not supported yet (a clear fetch error).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "process_resident_memory_bytes";
/// A bound on the whole fetch, and on the body's size.
const TIMEOUT: Duration = Duration::from_secs(30);
const MAX_BODY: u64 = 64 << 20;

/// The member's resident memory in bytes, or the line etcdctl prints when it cannot be
/// read (then etcdctl's check fails).
pub async fn resident_memory(endpoint: &str) -> Result<f64, String> {
    let body = tokio::time::timeout(TIMEOUT, fetch(endpoint))
        .await
        .map_err(|_| format!("fetch error: {endpoint}/metrics: timed out"))??;
    parse(&body)
}

async fn fetch(endpoint: &str) -> Result<String, String> {
    if endpoint.starts_with("https://") {
        return Err(format!(
            "fetch error: {endpoint}/metrics: etcdkit reads metrics over plain http only"
        ));
    }
    let host = endpoint.strip_prefix("http://").unwrap_or(endpoint);
    let host = host.split('/').next().unwrap_or(host);
    let fetch_error = |e: std::io::Error| format!("fetch error: {endpoint}/metrics: {e}");
    let mut stream = TcpStream::connect(host).await.map_err(fetch_error)?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(fetch_error)?;
    let mut response = Vec::new();
    stream
        .take(MAX_BODY)
        .read_to_end(&mut response)
        .await
        .map_err(fetch_error)?;
    let text = String::from_utf8_lossy(&response);
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.") && head.contains(" 200 ") => {
            Ok(body.to_owned())
        }
        _ => Err(format!(
            "fetch error: {endpoint}/metrics: not a 200 response"
        )),
    }
}

/// The value of the first line starting with the metric's name.
fn parse(body: &str) -> Result<f64, String> {
    let value = body
        .lines()
        .find_map(|line| line.strip_prefix(KEY))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("could not find: {KEY}"))?;
    value.parse().map_err(|e| format!("parse error: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resident_memory_line_is_found_and_parsed() {
        let body = "# HELP x\nprocess_resident_memory_bytes 3.2768e+07\nother 1\n";
        assert_eq!(parse(body), Ok(32_768_000.0));
        assert_eq!(
            parse("nothing here\n"),
            Err("could not find: process_resident_memory_bytes".to_owned())
        );
        assert!(parse("process_resident_memory_bytes x\n").is_err());
    }
}
