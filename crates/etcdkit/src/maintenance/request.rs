//! The request type of the maintenance and cluster APIs, and how it aims a call at one
//! member.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::error::Result;
use crate::transport::Call;

/// What the caller set on an [`AdminRequest`]: the calls it makes are built from it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub timeout: Option<Duration>,
    pub endpoint: Option<Arc<str>>,
}

impl Settings {
    /// A call that is safe to repeat (on another member, unless aimed at one).
    pub fn idempotent(&self, op: &'static str) -> Call {
        let mut call = Call::idempotent(op, self.timeout);
        call.endpoint = self.endpoint.clone();
        call
    }

    /// A call that is not safe to repeat.
    pub fn not_idempotent(&self, op: &'static str) -> Call {
        let mut call = Call::not_idempotent(op, self.timeout);
        call.endpoint = self.endpoint.clone();
        call
    }
}

/// A request of the maintenance or cluster API; await it.
///
/// [`timeout`](AdminRequest::timeout) overrides the client's request timeout for it;
/// [`endpoint`](AdminRequest::endpoint) aims it at one member.
#[must_use = "a request does nothing until awaited"]
pub struct AdminRequest<T> {
    op: &'static str,
    settings: Settings,
    run: Box<dyn FnOnce(Settings) -> BoxFuture<'static, Result<T>> + Send>,
}

impl<T> AdminRequest<T> {
    pub(crate) fn new<F, Fut>(op: &'static str, run: F) -> Self
    where
        F: FnOnce(Settings) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        AdminRequest {
            op,
            settings: Settings::default(),
            run: Box::new(move |settings| Box::pin(run(settings))),
        }
    }

    /// Overrides the client's request timeout for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = Some(timeout);
        self
    }

    /// Sends the request to this member only (`host:port` or `scheme://host:port`; it
    /// need not be one of the client's endpoints), never to another: a failure there
    /// is final, not retried elsewhere. For what concerns one member (status,
    /// defragmentation, hashes, alarms, leadership transfer).
    ///
    /// # Errors
    ///
    /// The request fails with
    /// [`ErrorKind::InvalidEndpoint`](crate::ErrorKind::InvalidEndpoint)
    /// when `endpoint` does not parse, before anything is sent.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.settings.endpoint = Some(endpoint.into().into());
        self
    }
}

impl<T> fmt::Debug for AdminRequest<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminRequest")
            .field("op", &self.op)
            .field("timeout", &self.settings.timeout)
            .field("endpoint", &self.settings.endpoint)
            .finish_non_exhaustive()
    }
}

impl<T: 'static> IntoFuture for AdminRequest<T> {
    type Output = Result<T>;
    type IntoFuture = BoxFuture<'static, Result<T>>;

    /// Sends the request.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidEndpoint`](crate::ErrorKind::InvalidEndpoint) for a named member that
    /// does not parse (before sending); the call's own failures (see each method); the failures of
    /// [every request](crate::Error#failures-of-every-request).
    fn into_future(self) -> Self::IntoFuture {
        (self.run)(self.settings)
    }
}
