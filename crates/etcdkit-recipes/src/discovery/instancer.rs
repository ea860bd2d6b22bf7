//! The go-kit Instancer: a watched prefix delivering the current instance set.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Error, ErrorKind, KeyValue, Revision};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

use tokio::sync::watch;

use super::KitClient;
use crate::owned_task::OwnedTask;
use crate::prefix_cache::{CacheEvent, PrefixCache, Snapshot};

/// One instance: a key under the watched prefix and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    key: Bytes,
    value: Bytes,
}

impl Instance {
    /// An instance from its key and value.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Instance {
        Instance {
            key: key.into(),
            value: value.into(),
        }
    }

    /// The full key.
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The value (go-kit's instance string, usually an address).
    pub fn value(&self) -> &Bytes {
        &self.value
    }

    /// The value as UTF-8, if it is.
    pub fn value_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.value).ok()
    }

    pub(crate) fn from_kv(kv: &KeyValue) -> Instance {
        Instance::new(kv.key().clone(), kv.value().clone())
    }
}

/// What an [`Instancer`] delivers.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum InstancerEvent {
    /// The complete current instance set, in key order.
    Instances(Vec<Instance>),
    /// The instance set could not be read yet (etcd unreachable at start); the instancer
    /// keeps trying and sends the set as soon as it has it.
    Error(Arc<Error>),
}

/// Watches a prefix and delivers the current set of instances under it, through any
/// [`KitClient`] (etcd, or a [`MemoryClient`](super::MemoryClient) in tests). See the
/// [module docs](super) for its behavior.
///
/// **Drop**: the watch stops once the instancer and every stream taken from it are gone.
#[derive(Debug, Clone)]
pub struct Instancer {
    core: Arc<Core>,
    ready_timeout: Duration,
}

/// What the clones of an instancer and their streams share.
#[derive(Debug)]
struct Core {
    /// The last set the client's watch sent; `None` until the first.
    set: watch::Receiver<Option<Arc<[Instance]>>>,
    /// The task that copies the watch's sets into `set`.
    _task: OwnedTask,
    /// The prefix cache underneath, when the instancer was made from one.
    cache: Option<Arc<PrefixCache>>,
}

impl Instancer {
    /// Watches every key under `prefix` through `client` (an [`etcdkit::Client`], a
    /// [`MemoryClient`](super::MemoryClient), or any other [`KitClient`]).
    pub fn new<C: KitClient + ?Sized>(client: &C, prefix: impl Into<Bytes>) -> Instancer {
        Instancer::from_sets(client.watch_prefix(prefix.into()), None)
    }

    /// An instancer over a prefix cache that is already running.
    pub fn from_cache(cache: Arc<PrefixCache>) -> Instancer {
        let stream = sets(cache.clone(), Duration::MAX)
            .filter_map(|set| {
                std::future::ready(
                    set.ok()
                        .map(|snapshot| snapshot.entries().iter().map(Instance::from_kv).collect()),
                )
            })
            .boxed();
        Instancer::from_sets(stream, Some(cache))
    }

    fn from_sets(
        mut sets: BoxStream<'static, Vec<Instance>>,
        cache: Option<Arc<PrefixCache>>,
    ) -> Instancer {
        let (tx, rx) = watch::channel(None);
        let task = OwnedTask::spawn(async move {
            while let Some(set) = sets.next().await {
                let set: Arc<[Instance]> = set.into();
                tx.send_if_modified(|last| {
                    if last.as_deref() == Some(&*set) {
                        return false;
                    }
                    *last = Some(set);
                    true
                });
            }
        });
        Instancer {
            core: Arc::new(Core {
                set: rx,
                _task: task,
                cache,
            }),
            ready_timeout: Duration::from_secs(5),
        }
    }

    /// How long the first read may take before [`events`](Self::events) reports
    /// [`InstancerEvent::Error`] (it keeps waiting afterwards). Default 5 s.
    pub fn ready_timeout(mut self, timeout: Duration) -> Instancer {
        self.ready_timeout = timeout;
        self
    }

    /// Waits for the first read of the prefix.
    pub async fn ready(&self) {
        let mut set = self.core.set.clone();
        // Only fails when the copying task is gone, which the instancer prevents.
        let _ = set.wait_for(Option::is_some).await;
    }

    /// The current instances, in key order (empty before the first read).
    pub fn instances(&self) -> Vec<Instance> {
        self.core
            .set
            .borrow()
            .as_deref()
            .map(<[Instance]>::to_vec)
            .unwrap_or_default()
    }

    /// The instance set now (once read) and after every change, as complete sets; a set
    /// equal to the last one sent (same keys and values) is not repeated.
    pub fn events(&self) -> impl Stream<Item = InstancerEvent> + Send + Unpin + 'static + use<> {
        let state = EventState {
            set: self.core.set.clone(),
            _core: self.core.clone(),
            last: None,
            first_read: FirstRead::new(self.ready_timeout),
        };
        futures_util::stream::unfold(state, |mut st| async move {
            if st.set.borrow().is_none() {
                let mut set = st.set.clone();
                match st
                    .first_read
                    .wait(async move { set.wait_for(Option::is_some).await.is_ok() })
                    .await
                {
                    Ok(true) => {}
                    // The copying task is gone: no set will ever come.
                    Ok(false) => return None,
                    Err(e) => return Some((InstancerEvent::Error(Arc::new(e)), st)),
                }
            }
            loop {
                let now = st.set.borrow_and_update().clone();
                if let Some(now) = now
                    && st.last.as_ref() != Some(&now)
                {
                    st.last = Some(now.clone());
                    return Some((InstancerEvent::Instances(now.to_vec()), st));
                }
                st.set.changed().await.ok()?;
            }
        })
        .boxed()
    }

    /// The prefix cache underneath, when the instancer was made
    /// [from one](Self::from_cache).
    pub fn cache(&self) -> Option<&Arc<PrefixCache>> {
        self.core.cache.as_ref()
    }
}

/// The wait for the first read of the instance set, by a stream that says once when it
/// is slow: the first wait lasts `timeout` at most, and a stream that yields the error
/// it then gets waits again, without a bound and without reporting it again (the read
/// keeps being retried underneath).
struct FirstRead {
    timeout: Duration,
    reported: bool,
}

impl FirstRead {
    fn new(timeout: Duration) -> FirstRead {
        FirstRead {
            timeout,
            reported: false,
        }
    }

    /// Waits for `read`, the first read finishing, and returns what it returns; fails
    /// with [`ErrorKind::Unavailable`] when it has not finished within the timeout, the
    /// first time only.
    async fn wait<T>(&mut self, read: impl Future<Output = T>) -> Result<T, Error> {
        if self.reported {
            return Ok(read.await);
        }
        match tokio::time::timeout(self.timeout, read).await {
            Ok(done) => Ok(done),
            Err(_) => {
                self.reported = true;
                Err(Error::new(
                    ErrorKind::Unavailable,
                    "the instance set could not be read yet; still trying",
                ))
            }
        }
    }
}

/// The state of one [`Instancer::events`] stream.
struct EventState {
    set: watch::Receiver<Option<Arc<[Instance]>>>,
    /// Keeps the watch running while the stream lives.
    _core: Arc<Core>,
    last: Option<Arc<[Instance]>>,
    first_read: FirstRead,
}

/// The keys and modification revisions of a snapshot: equal signatures, equal sets.
fn signature(snapshot: &Snapshot) -> Vec<(Bytes, Revision)> {
    snapshot
        .entries()
        .iter()
        .map(|kv| (kv.key().clone(), kv.mod_revision()))
        .collect()
}

struct SetState {
    cache: Arc<PrefixCache>,
    changes: Option<BoxStream<'static, CacheEvent>>,
    last: Option<Vec<(Bytes, Revision)>>,
    first_read: FirstRead,
}

/// The cache's snapshot once loaded and after every change that altered it.
pub(crate) fn sets(
    cache: Arc<PrefixCache>,
    ready_timeout: Duration,
) -> BoxStream<'static, Result<Snapshot, Error>> {
    let state = SetState {
        changes: Some(cache.changes().boxed()),
        cache,
        last: None,
        first_read: FirstRead::new(ready_timeout),
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if !st.cache.is_ready()
            && let Err(e) = st.first_read.wait(st.cache.ready()).await
        {
            return Some((Err(e), st));
        }
        loop {
            let snapshot = st.cache.snapshot();
            let sig = signature(&snapshot);
            if st.last.as_ref() != Some(&sig) {
                st.last = Some(sig);
                return Some((Ok(snapshot), st));
            }
            // Wait for the next change (any kind: the snapshot is the truth).
            st.changes.as_mut()?.next().await?;
        }
    })
    .boxed()
}
