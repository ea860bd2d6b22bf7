//! The go-kit Instancer: a watched prefix delivering the current instance set.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Client, Error, ErrorKind, KeyValue, Revision};
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};

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

    fn from_kv(kv: &KeyValue) -> Instance {
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

/// Watches a prefix and delivers the current set of instances under it. See the
/// [module docs](super) for its behavior.
///
/// **Drop**: the watch stops once the instancer and every stream taken from it are gone.
#[derive(Debug, Clone)]
pub struct Instancer {
    cache: Arc<PrefixCache>,
    ready_timeout: Duration,
}

impl Instancer {
    /// Watches every key under `prefix`.
    pub fn new(client: &Client, prefix: impl Into<Bytes>) -> Instancer {
        Instancer::from_cache(Arc::new(PrefixCache::builder(client, prefix).start()))
    }

    /// An instancer over a prefix cache that is already running.
    pub fn from_cache(cache: Arc<PrefixCache>) -> Instancer {
        Instancer {
            cache,
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
        self.cache.ready().await;
    }

    /// The current instances, in key order (empty before the first read).
    pub fn instances(&self) -> Vec<Instance> {
        self.cache
            .snapshot()
            .entries()
            .iter()
            .map(Instance::from_kv)
            .collect()
    }

    /// The instance set now (once read) and after every change, as complete sets; a set
    /// equal to the last one sent is not repeated.
    pub fn events(&self) -> impl Stream<Item = InstancerEvent> + Send + Unpin + 'static + use<> {
        sets(self.cache.clone(), self.ready_timeout).map(|item| match item {
            Ok(snapshot) => InstancerEvent::Instances(
                snapshot.entries().iter().map(Instance::from_kv).collect(),
            ),
            Err(e) => InstancerEvent::Error(Arc::new(e)),
        })
    }

    /// The prefix cache underneath.
    pub fn cache(&self) -> &Arc<PrefixCache> {
        &self.cache
    }
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
    ready_timeout: Duration,
    reported: bool,
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
        ready_timeout,
        reported: false,
    };
    futures_util::stream::unfold(state, |mut st| async move {
        if !st.cache.is_ready() {
            if st.reported {
                st.cache.ready().await;
            } else if tokio::time::timeout(st.ready_timeout, st.cache.ready())
                .await
                .is_err()
            {
                st.reported = true;
                let e = Error::new(
                    ErrorKind::Unavailable,
                    "the instance set could not be read yet; still trying",
                );
                return Some((Err(e), st));
            }
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
