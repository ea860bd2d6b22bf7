//! The store the go-kit types talk to (go-kit's `sd/etcdv3` `Client` interface), and its
//! etcd implementation on [`etcdkit::Client`].
//!
//! [`Registrar`](super::Registrar) and [`Instancer`](super::Instancer) only use this
//! trait, so a test can hand them a [`MemoryClient`](super::MemoryClient) instead of a
//! connection to etcd.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use etcdkit::{Client, LeaseId};
use futures_util::future::{self, BoxFuture};
use futures_util::stream::BoxStream;
use futures_util::{FutureExt, StreamExt};

use super::instancer::sets;
use super::registration::{Registrant, Spec};
use super::{Error, Instance, Service};
use crate::prefix_cache::PrefixCache;

/// What the go-kit discovery types need from the store that holds the instances: the
/// operations of go-kit's `sd/etcdv3` `Client` (`GetEntries`, `WatchPrefix`,
/// `Register`, `Deregister`, `LeaseID`), asynchronous and object safe (`Arc<dyn
/// KitClient>` works).
///
/// Implemented for [`etcdkit::Client`] (etcd itself) and for
/// [`MemoryClient`](super::MemoryClient) (in memory, for unit tests). Both behave the
/// same way, as seen through this trait:
///
/// - a registered service's key is listed under every prefix of it until deregistered,
///   or until its TTL has passed after its [`Registrant`] was dropped;
/// - [`watch_prefix`](Self::watch_prefix) sends the complete set under the prefix once
///   read, then after changes under it, so that the last set sent is the current one.
pub trait KitClient: Send + Sync + 'static {
    /// The instances under `prefix`, in key order (go-kit's `GetEntries`).
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] when the store cannot be read.
    fn get_entries(&self, prefix: Bytes) -> BoxFuture<'static, Result<Vec<Instance>, Error>>;

    /// The complete set of instances under `prefix`, in key order, once read and then
    /// after changes under the prefix (go-kit's `WatchPrefix`, which signals and lets
    /// the caller re-read; here the set comes with the signal). Sets may be skipped but
    /// never the last one; a set may repeat the previous one (the
    /// [`Instancer`](super::Instancer) drops repeats). Failures are retried inside: the
    /// stream only waits. Dropping the stream stops the watch.
    fn watch_prefix(&self, prefix: Bytes) -> BoxStream<'static, Vec<Instance>>;

    /// Starts keeping `service` registered in the background (go-kit's `Register`):
    /// its key is written under a lease of its TTL, renewed every heartbeat, and written
    /// again under a new lease if that one is lost. The returned [`Registrant`] owns the
    /// registration; its [`view`](Registrant::view) says how it stands.
    ///
    /// # Errors
    ///
    /// [`Error::NoKey`] or [`Error::NoValue`] for an empty key or value. A failed write
    /// is retried in the background, not returned.
    fn register(&self, service: &Service) -> Result<Registrant, Error>;

    /// Ends the registration and deletes its key at once (go-kit's `Deregister`).
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] when the key could not be deleted (it then expires after its
    /// TTL).
    fn deregister(&self, registrant: Registrant) -> BoxFuture<'static, Result<(), Error>> {
        // The registrant's task knows its lease and does the deletion.
        async move { registrant.close().await.map_err(Error::Etcd) }.boxed()
    }

    /// The lease `key` is attached to now, if the key exists and has one (go-kit's
    /// `LeaseID`, asked of one key since a client here registers any number of them).
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] when the store cannot be read.
    fn lease_id(&self, key: Bytes) -> BoxFuture<'static, Result<Option<LeaseId>, Error>>;
}

/// Refuses what go-kit refuses: an empty key or value.
pub(crate) fn check(service: &Service) -> Result<(), Error> {
    if service.key.is_empty() {
        return Err(Error::NoKey);
    }
    if service.value.is_empty() {
        return Err(Error::NoValue);
    }
    Ok(())
}

impl KitClient for Client {
    fn get_entries(&self, prefix: Bytes) -> BoxFuture<'static, Result<Vec<Instance>, Error>> {
        let client = self.clone();
        async move {
            let response = client.kv().get(prefix).prefix().await?;
            Ok(response.kvs().iter().map(Instance::from_kv).collect())
        }
        .boxed()
    }

    fn watch_prefix(&self, prefix: Bytes) -> BoxStream<'static, Vec<Instance>> {
        // The prefix cache resumes its watch after disconnects and re-reads after a
        // compaction; the stream owns it, so dropping the stream stops it.
        let cache = Arc::new(PrefixCache::builder(self, prefix).start());
        sets(cache, Duration::MAX)
            .filter_map(|set| {
                future::ready(
                    set.ok()
                        .map(|snapshot| snapshot.entries().iter().map(Instance::from_kv).collect()),
                )
            })
            .boxed()
    }

    fn register(&self, service: &Service) -> Result<Registrant, Error> {
        check(service)?;
        Ok(Registrant::start(Spec {
            client: self.clone(),
            key: service.key.clone(),
            value: service.value.clone(),
            ttl: service.ttl.ttl(),
            heartbeat: service.ttl.heartbeat(),
        }))
    }

    fn lease_id(&self, key: Bytes) -> BoxFuture<'static, Result<Option<LeaseId>, Error>> {
        let client = self.clone();
        async move {
            let response = client.kv().get(key).await?;
            Ok(response.kvs().first().and_then(|kv| kv.lease()))
        }
        .boxed()
    }
}
