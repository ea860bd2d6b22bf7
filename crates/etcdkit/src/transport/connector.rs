//! The TCP connector behind every channel.
//!
//! We dial ourselves, rather than let tonic do it, for one reason: a failure here is
//! certain proof that a request never left the client, which is what makes it safe to
//! retry a write on another member. [`DialError`] marks such failures so the retry
//! policy can find them in an error's source chain.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A connection attempt failed: nothing was sent.
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
}

impl Connector {
    pub fn new(dial_timeout: Duration) -> Self {
        Connector { dial_timeout }
    }
}

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<TcpStream>;
    type Error = DialError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, DialError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), DialError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let dial_timeout = self.dial_timeout;
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(2379);
            let target = format!("{host}:{port}");
            let fail = |reason: String| DialError {
                target: target.clone(),
                reason,
            };
            let stream =
                match tokio::time::timeout(dial_timeout, TcpStream::connect((host.as_str(), port)))
                    .await
                {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return Err(fail(e.to_string())),
                    Err(_) => {
                        return Err(fail(format!(
                            "no connection within the dial timeout ({})",
                            crate::util::fmt_duration(dial_timeout)
                        )));
                    }
                };
            // Small requests must not wait for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            Ok(TokioIo::new(stream))
        })
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
