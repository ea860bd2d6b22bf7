//! The go-kit balancers: round robin and random over an [`Endpointer`]'s endpoints.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Endpointer, Error};

/// Picks one endpoint per call (go-kit's `lb.Balancer`).
pub trait Balancer<E>: Send + Sync {
    /// An endpoint, or [`Error::NoEndpoints`] when there is none.
    ///
    /// # Errors
    ///
    /// [`Error::NoEndpoints`] when there is no endpoint to give.
    fn endpoint(&self) -> Result<E, Error>;
}

/// Hands out the endpoints in turn.
#[derive(Debug)]
pub struct RoundRobin<E> {
    endpointer: Endpointer<E>,
    next: AtomicUsize,
}

impl<E: Clone + Send + Sync + 'static> RoundRobin<E> {
    /// Round robin over `endpointer`'s endpoints.
    pub fn new(endpointer: Endpointer<E>) -> RoundRobin<E> {
        RoundRobin {
            endpointer,
            next: AtomicUsize::new(0),
        }
    }
}

impl<E: Clone + Send + Sync + 'static> Balancer<E> for RoundRobin<E> {
    fn endpoint(&self) -> Result<E, Error> {
        let endpoints = self.endpointer.endpoints();
        if endpoints.is_empty() {
            return Err(Error::NoEndpoints);
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % endpoints.len();
        endpoints.get(i).cloned().ok_or(Error::NoEndpoints)
    }
}

/// Picks an endpoint at random, uniformly.
#[derive(Debug)]
pub struct Random<E> {
    endpointer: Endpointer<E>,
    rng: Mutex<fastrand::Rng>,
}

impl<E: Clone + Send + Sync + 'static> Random<E> {
    /// Random choice over `endpointer`'s endpoints, from this seed.
    pub fn new(endpointer: Endpointer<E>, seed: u64) -> Random<E> {
        Random {
            endpointer,
            rng: Mutex::new(fastrand::Rng::with_seed(seed)),
        }
    }
}

impl<E: Clone + Send + Sync + 'static> Balancer<E> for Random<E> {
    fn endpoint(&self) -> Result<E, Error> {
        let endpoints = self.endpointer.endpoints();
        if endpoints.is_empty() {
            return Err(Error::NoEndpoints);
        }
        let i = match self.rng.lock() {
            Ok(mut rng) => rng.usize(..endpoints.len()),
            Err(poisoned) => poisoned.into_inner().usize(..endpoints.len()),
        };
        endpoints.get(i).cloned().ok_or(Error::NoEndpoints)
    }
}

impl<E, B: Balancer<E> + ?Sized> Balancer<E> for std::sync::Arc<B> {
    fn endpoint(&self) -> Result<E, Error> {
        (**self).endpoint()
    }
}
