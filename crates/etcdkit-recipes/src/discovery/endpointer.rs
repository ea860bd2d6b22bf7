//! The go-kit Endpointer: instances turned into endpoints by a factory, closed when the
//! instance goes.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::watch;

use super::{BoxError, Instance, Instancer, InstancerEvent};
use crate::owned_task::OwnedTask;

/// Runs when the endpoint of an instance is dropped (the instance went away, or the
/// endpointer stopped): go-kit's `io.Closer`.
pub type Closer = Box<dyn FnOnce() + Send>;

/// Runs its closer when dropped.
struct Closing(Option<Closer>);

impl Drop for Closing {
    fn drop(&mut self) {
        if let Some(close) = self.0.take() {
            close();
        }
    }
}

struct Entry<E> {
    value: Bytes,
    endpoint: E,
    _closer: Closing,
}

/// The current endpoints, shared by the endpointer and the task that keeps them.
struct EndpointSet<E> {
    current: RwLock<Arc<Vec<E>>>,
    updates: watch::Sender<usize>,
    ready: watch::Sender<bool>,
}

/// The endpoints of an [`Instancer`]'s instances, made by a factory. Cheap to clone.
///
/// The factory is called once per instance (and again when the instance's value
/// changes); an instance for which it fails is left out and logged. When an instance
/// goes, its endpoint is dropped and its [`Closer`] runs.
///
/// **Drop**: when the last clone is dropped, the background task is aborted, every
/// endpoint is dropped and every closer runs.
pub struct Endpointer<E> {
    shared: Arc<EndpointSet<E>>,
    /// The task that keeps `shared`, shared by the clones: the last one aborts it.
    _owner: Arc<OwnedTask>,
}

impl<E> Clone for Endpointer<E> {
    fn clone(&self) -> Self {
        Endpointer {
            shared: self.shared.clone(),
            _owner: self._owner.clone(),
        }
    }
}

impl<E: Clone + Send + Sync + 'static> Endpointer<E> {
    /// Follows `instancer`, making an endpoint (and an optional closer) per instance.
    pub fn new<F>(instancer: &Instancer, factory: F) -> Endpointer<E>
    where
        F: Fn(&Instance) -> Result<(E, Option<Closer>), BoxError> + Send + Sync + 'static,
    {
        let (updates, _) = watch::channel(0);
        let (ready, _) = watch::channel(false);
        let shared = Arc::new(EndpointSet {
            current: RwLock::new(Arc::new(Vec::new())),
            updates,
            ready,
        });
        let events = instancer.events().boxed();
        let task = OwnedTask::spawn(run(events, factory, shared.clone()));
        Endpointer {
            shared,
            _owner: Arc::new(task),
        }
    }

    /// The current endpoints, in instance key order.
    pub fn endpoints(&self) -> Arc<Vec<E>> {
        match self.shared.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Waits for the first instance set.
    pub async fn ready(&self) {
        let mut ready = self.shared.ready.subscribe();
        let _ = ready.wait_for(|r| *r).await;
    }

    /// The number of endpoints, as a watch receiver that sees every update.
    pub fn updates(&self) -> watch::Receiver<usize> {
        self.shared.updates.subscribe()
    }
}

impl<E> std::fmt::Debug for Endpointer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpointer")
            .field("endpoints", &*self.shared.updates.borrow())
            .finish()
    }
}

async fn run<E, F>(
    mut events: impl futures_util::Stream<Item = InstancerEvent> + Unpin,
    factory: F,
    shared: Arc<EndpointSet<E>>,
) where
    E: Clone + Send + Sync + 'static,
    F: Fn(&Instance) -> Result<(E, Option<Closer>), BoxError>,
{
    let mut entries: BTreeMap<Bytes, Entry<E>> = BTreeMap::new();
    while let Some(event) = events.next().await {
        let set = match event {
            InstancerEvent::Instances(set) => set,
            InstancerEvent::Error(e) => {
                tracing::warn!(error = %e, "endpointer: no instance set yet");
                continue;
            }
        };
        let mut next = BTreeMap::new();
        for instance in set {
            match entries.remove(instance.key()) {
                Some(entry) if entry.value == *instance.value() => {
                    next.insert(instance.key().clone(), entry);
                }
                _ => match factory(&instance) {
                    Ok((endpoint, closer)) => {
                        next.insert(
                            instance.key().clone(),
                            Entry {
                                value: instance.value().clone(),
                                endpoint,
                                _closer: Closing(closer),
                            },
                        );
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, key = ?instance.key(), "endpointer: the factory failed; instance left out");
                    }
                },
            }
        }
        // What is left in `entries` is gone: dropping it closes it.
        entries = next;
        let endpoints: Vec<E> = entries.values().map(|e| e.endpoint.clone()).collect();
        let count = endpoints.len();
        match shared.current.write() {
            Ok(mut current) => *current = Arc::new(endpoints),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(endpoints),
        }
        shared.updates.send_replace(count);
        shared.ready.send_replace(true);
    }
}
