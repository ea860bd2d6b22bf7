//! go-kit's `Retry(max, timeout, balancer)`: call through a balancer, moving on to
//! another endpoint after a failure, until a call succeeds, `max` attempts were made, or
//! `timeout` passed.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use tokio::time::Instant;

use super::{Balancer, Error};

/// Makes a [`Retry`] of at most `max` attempts within `timeout` in all.
pub fn retry<B, E>(max: usize, timeout: Duration, balancer: B) -> Retry<B, E>
where
    B: Balancer<E>,
{
    Retry {
        max: max.max(1),
        timeout,
        balancer,
        _endpoint: PhantomData,
    }
}

/// Calls through a balancer with retries. From [`retry`].
pub struct Retry<B, E> {
    max: usize,
    timeout: Duration,
    balancer: B,
    _endpoint: PhantomData<fn() -> E>,
}

impl<B: Balancer<E>, E> Retry<B, E> {
    /// Calls `call` with an endpoint from the balancer; after a failure, with the next
    /// endpoint the balancer gives. Stops at the first success, after `max` attempts
    /// ([`GaveUp::MaxAttempts`]), or when `timeout` has passed since the first attempt
    /// ([`GaveUp::Timeout`]; the call then running is dropped).
    ///
    /// # Errors
    ///
    /// A [`RetryError`] saying why it gave up ([`GaveUp::MaxAttempts`] or
    /// [`GaveUp::Timeout`]) with every attempt's error.
    pub async fn call<F, Fut, T, Er>(&self, mut call: F) -> Result<T, RetryError<Er>>
    where
        F: FnMut(E) -> Fut,
        Fut: Future<Output = Result<T, Er>>,
    {
        let deadline = Instant::now().checked_add(self.timeout);
        let mut errors = Vec::new();
        for _ in 0..self.max {
            let endpoint = match self.balancer.endpoint() {
                Ok(endpoint) => endpoint,
                Err(e) => {
                    errors.push(AttemptError::Balancer(e));
                    continue;
                }
            };
            let attempt = call(endpoint);
            let outcome = match deadline {
                Some(deadline) => match tokio::time::timeout_at(deadline, attempt).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        return Err(RetryError {
                            gave_up: GaveUp::Timeout,
                            errors,
                        });
                    }
                },
                None => attempt.await,
            };
            match outcome {
                Ok(value) => return Ok(value),
                Err(e) => errors.push(AttemptError::Call(e)),
            }
        }
        Err(RetryError {
            gave_up: GaveUp::MaxAttempts,
            errors,
        })
    }

    /// The balancer.
    pub fn balancer(&self) -> &B {
        &self.balancer
    }
}

impl<B, E> fmt::Debug for Retry<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retry")
            .field("max", &self.max)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why [`Retry::call`] gave up.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaveUp {
    /// `max` attempts failed.
    MaxAttempts,
    /// The timeout passed.
    Timeout,
}

/// One failed attempt.
#[derive(Debug)]
pub enum AttemptError<Er> {
    /// The balancer had no endpoint.
    Balancer(Error),
    /// The call failed.
    Call(Er),
}

/// Every attempt failed (go-kit's `RetryError`).
#[derive(Debug)]
pub struct RetryError<Er> {
    /// Why it gave up.
    pub gave_up: GaveUp,
    /// The failed attempts' errors, in order (the last is the final one).
    pub errors: Vec<AttemptError<Er>>,
}

impl<Er> RetryError<Er> {
    /// How many attempts failed before giving up.
    pub fn attempts(&self) -> usize {
        self.errors.len()
    }
}

impl<Er: fmt::Display> fmt::Display for RetryError<Er> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.gave_up {
            GaveUp::MaxAttempts => "gave up after the maximum number of attempts",
            GaveUp::Timeout => "gave up when the timeout passed",
        };
        write!(f, "retry {why} ({} failed)", self.errors.len())?;
        match self.errors.last() {
            Some(AttemptError::Balancer(e)) => write!(f, "; last error: {e}"),
            Some(AttemptError::Call(e)) => write!(f, "; last error: {e}"),
            None => Ok(()),
        }
    }
}

impl<Er: fmt::Display + fmt::Debug> std::error::Error for RetryError<Er> {}
