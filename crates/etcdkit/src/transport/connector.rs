//! The TCP (and TLS) dialer behind every channel, and the unix socket one.
//!
//! We dial ourselves, rather than let tonic do it, for one reason: a failure here is
//! certain proof that a request never left the client, which is what makes it safe to
//! retry a write on another member. [`DialError`] marks such failures so the retry
//! policy can find them in an error's source chain.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::tls::TlsConnect;

/// A request certainly never left: the connection could not be made, or was found closed
/// before the request was written.
#[derive(Debug)]
pub(crate) struct DialError {
    target: String,
    reason: String,
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot connect to {}: {}", self.target, self.reason)
    }
}

impl std::error::Error for DialError {}

#[derive(Clone)]
pub(crate) struct Connector {
    dial_timeout: Duration,
    tls: Option<TlsConnect>,
    /// Dials this unix socket instead of `host:port`.
    unix_path: Option<String>,
}

impl Connector {
    pub fn new(dial_timeout: Duration, tls: Option<TlsConnect>) -> Self {
        Connector {
            dial_timeout,
            tls,
            unix_path: None,
        }
    }

    /// Dials the unix socket at `path` (when given) instead of TCP.
    pub fn unix(mut self, path: Option<String>) -> Self {
        self.unix_path = path;
        self
    }
}

/// A connection: plain TCP, TLS over TCP (with any bytes already read from it), or a
/// unix socket.
pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsConn>),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

pub(crate) struct TlsConn {
    stream: tokio_rustls::client::TlsStream<TcpStream>,
    /// Bytes read while checking the server accepted us; handed out before any others.
    pending: Vec<u8>,
    offset: usize,
}

/// How long to wait, after a TLS handshake, for the server's first bytes (its HTTP/2
/// settings) or its refusal. Under TLS 1.3 a server checks the client's certificate only
/// after the client considers the handshake done; without this look, a refused or
/// missing certificate would surface later as a bare "broken pipe".
const POST_HANDSHAKE_WAIT: Duration = Duration::from_millis(500);

/// Reads the server's first bytes, or its refusal, after a TLS handshake.
async fn confirm_tls(
    mut stream: tokio_rustls::client::TlsStream<TcpStream>,
) -> Result<TlsConn, String> {
    use tokio::io::AsyncReadExt;
    let mut first = vec![0u8; 16 * 1024];
    match tokio::time::timeout(POST_HANDSHAKE_WAIT, stream.read(&mut first)).await {
        Ok(Ok(0)) => Err(
            "the server closed the connection right after the TLS handshake \
             (does it require a client certificate?)"
                .to_string(),
        ),
        Ok(Ok(n)) => {
            first.truncate(n);
            Ok(TlsConn {
                stream,
                pending: first,
                offset: 0,
            })
        }
        Ok(Err(e)) => Err(format!("TLS: {e}")),
        // Nothing yet: a server that waits for the client to speak first.
        Err(_) => Ok(TlsConn {
            stream,
            pending: Vec::new(),
            offset: 0,
        }),
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => {
                let tls = s.as_mut();
                if tls.offset < tls.pending.len() {
                    let rest = &tls.pending[tls.offset..];
                    let n = rest.len().min(buf.remaining());
                    buf.put_slice(&rest[..n]);
                    tls.offset += n;
                    if tls.offset == tls.pending.len() {
                        tls.pending = Vec::new();
                        tls.offset = 0;
                    }
                    return Poll::Ready(Ok(()));
                }
                Pin::new(&mut tls.stream).poll_read(cx, buf)
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(&mut s.stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Conn::Tls(s) => Pin::new(&mut s.stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Plain(s) => s.is_write_vectored(),
            #[cfg(unix)]
            Conn::Unix(s) => s.is_write_vectored(),
            Conn::Tls(s) => s.stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(&mut s.stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(unix)]
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(&mut s.stream).poll_shutdown(cx),
        }
    }
}

impl Connector {
    /// Connects to `host:port` (TCP, then TLS when configured), within the dial timeout.
    pub async fn dial(&self, host: &str, port: u16) -> Result<Conn, DialError> {
        let fail = |reason: String| self.dial_error(host, port, reason);
        #[cfg(unix)]
        if let Some(path) = &self.unix_path {
            let dial = tokio::net::UnixStream::connect(path);
            return match tokio::time::timeout(self.dial_timeout, dial).await {
                Ok(Ok(stream)) => Ok(Conn::Unix(stream)),
                Ok(Err(e)) => Err(fail(e.to_string())),
                Err(_) => Err(fail(format!(
                    "no connection within the dial timeout ({})",
                    crate::util::fmt_duration(self.dial_timeout)
                ))),
            };
        }
        // The dial timeout covers the TCP connection and the TLS handshake together.
        let dial = async {
            let stream = TcpStream::connect((host, port))
                .await
                .map_err(|e| fail(e.to_string()))?;
            // Small requests must not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            match &self.tls {
                None => Ok(Conn::Plain(stream)),
                Some(tls) => {
                    let connector = tokio_rustls::TlsConnector::from(tls.config.clone());
                    let stream = connector
                        .connect(tls.server_name.clone(), stream)
                        .await
                        .map_err(|e| fail(format!("TLS handshake failed: {e}")))?;
                    let conn = confirm_tls(stream).await.map_err(fail)?;
                    Ok(Conn::Tls(Box::new(conn)))
                }
            }
        };
        match tokio::time::timeout(self.dial_timeout, dial).await {
            Ok(result) => result,
            Err(_) => Err(fail(format!(
                "no connection within the dial timeout ({})",
                crate::util::fmt_duration(self.dial_timeout)
            ))),
        }
    }

    /// The error for a request that never left for `host:port`, and why.
    pub fn dial_error(&self, host: &str, port: u16, reason: String) -> DialError {
        let target = match &self.unix_path {
            Some(path) => format!("unix socket {path}"),
            None => format!("{host}:{port}"),
        };
        DialError { target, reason }
    }
}

/// True when `err` or any of its causes is a [`DialError`].
pub(crate) fn is_dial_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<DialError>() {
            return true;
        }
        current = e.source();
    }
    false
}
