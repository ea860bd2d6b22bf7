//! A [`tower::discover::Discover`] stream of services, one per instance, for tower's
//! balancers (and tonic's `Channel::balance_channel`).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use tower::discover::Change;

use super::{BoxError, Instance, Instancer, InstancerEvent};

type Factory<S> = Box<dyn Fn(&Instance) -> Result<S, BoxError> + Send + Sync>;

/// Turns an [`Instancer`]'s sets into [`Change::Insert`] / [`Change::Remove`], keyed by
/// the instance's etcd key, with a service made by a factory. It implements
/// [`tower::discover::Discover`] (every `TryStream` of changes does), so it can feed
/// `tower::balance::p2c::Balance` directly, or be forwarded into tonic's
/// `Channel::balance_channel` sender.
///
/// - An instance whose value changes is inserted again (which replaces it).
/// - An instance for which the factory fails is left out (and logged): one bad value
///   must not stop the balancer, which ends when its discover stream fails.
/// - The stream never fails and ends only when the instancer's watch ends.
pub struct Discover<S> {
    events: BoxStream<'static, InstancerEvent>,
    factory: Factory<S>,
    known: HashMap<Bytes, Bytes>,
    pending: VecDeque<Change<Bytes, S>>,
}

// Nothing in it is pinned in place: the services are only moved in and out.
impl<S> Unpin for Discover<S> {}

impl<S> Discover<S> {
    /// Follows `instancer`, making a service per instance with `factory`.
    pub fn new<F>(instancer: &Instancer, factory: F) -> Discover<S>
    where
        F: Fn(&Instance) -> Result<S, BoxError> + Send + Sync + 'static,
    {
        Discover {
            events: instancer.events().boxed(),
            factory: Box::new(factory),
            known: HashMap::new(),
            pending: VecDeque::new(),
        }
    }

    fn apply(&mut self, set: Vec<Instance>) {
        let mut seen: HashMap<Bytes, Bytes> = HashMap::with_capacity(set.len());
        for instance in set {
            seen.insert(instance.key().clone(), instance.value().clone());
            if self.known.get(instance.key()) == Some(instance.value()) {
                continue;
            }
            match (self.factory)(&instance) {
                Ok(service) => {
                    self.known
                        .insert(instance.key().clone(), instance.value().clone());
                    self.pending
                        .push_back(Change::Insert(instance.key().clone(), service));
                }
                Err(e) => {
                    tracing::warn!(error = %e, key = ?instance.key(), "discover: the factory failed; instance left out");
                    if self.known.remove(instance.key()).is_some() {
                        self.pending
                            .push_back(Change::Remove(instance.key().clone()));
                    }
                }
            }
        }
        let gone: Vec<Bytes> = self
            .known
            .keys()
            .filter(|k| !seen.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            self.known.remove(&key);
            self.pending.push_back(Change::Remove(key));
        }
    }
}

impl<S> Stream for Discover<S> {
    type Item = Result<Change<Bytes, S>, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(change) = this.pending.pop_front() {
                return Poll::Ready(Some(Ok(change)));
            }
            match this.events.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(InstancerEvent::Instances(set))) => this.apply(set),
                Poll::Ready(Some(InstancerEvent::Error(e))) => {
                    tracing::warn!(error = %e, "discover: no instance set yet");
                }
            }
        }
    }
}

impl<S> std::fmt::Debug for Discover<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discover")
            .field("instances", &self.known.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}
