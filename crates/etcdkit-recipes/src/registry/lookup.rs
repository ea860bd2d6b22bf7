//! Finding instances: `lookup`, `list`, `watch` and the go-kit instancer read a
//! watch-fed [prefix cache](crate::prefix_cache) per service name, made on first use;
//! `list_all` reads etcd directly.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use etcdkit::ErrorKind;
use futures_util::{Stream, StreamExt};

use super::{Error, Instance, Registry};
use crate::discovery::{Instancer, sets};
use crate::prefix_cache::{PrefixCache, Snapshot};

impl Registry {
    /// One instance of `name`, chosen at random; [`Error::NoInstance`] when there is none.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for an empty name or one with `/`; [`Error::NoInstance`] when the
    /// service has none; [`Error::Etcd`] with [`ErrorKind::Timeout`] when the instances cannot be
    /// read within the registry's timeout.
    pub async fn lookup(&self, name: &str) -> Result<Instance, Error> {
        let mut instances = self.list(name).await?;
        if instances.is_empty() {
            return Err(Error::NoInstance {
                name: name.to_owned(),
            });
        }
        let i = fastrand::usize(..instances.len());
        Ok(instances.swap_remove(i))
    }

    /// Every instance of `name`, in key order.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for an empty name or one with `/`; [`Error::Etcd`] with
    /// [`ErrorKind::Timeout`] when the instances cannot be read within the registry's timeout.
    pub async fn list(&self, name: &str) -> Result<Vec<Instance>, Error> {
        let cache = self.cache(name)?;
        if !cache.is_ready()
            && tokio::time::timeout(self.inner.settings.timeout, cache.ready())
                .await
                .is_err()
        {
            return Err(Error::Etcd(etcdkit::Error::new(
                ErrorKind::Timeout,
                format!(
                    "the instances of `{name}` could not be read within {:?}",
                    self.inner.settings.timeout
                ),
            )));
        }
        Ok(self.decode(&cache.snapshot()))
    }

    /// Every instance of every service, by service name (read from etcd directly).
    ///
    /// # Errors
    ///
    /// [`Error::Etcd`] when the read fails ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`],
    /// ...).
    pub async fn list_all(&self) -> Result<BTreeMap<String, Vec<Instance>>, Error> {
        let prefix = Bytes::from(self.inner.settings.namespace.clone());
        let response = self.client().kv().get(prefix.clone()).prefix().await?;
        let mut all: BTreeMap<String, Vec<Instance>> = BTreeMap::new();
        for kv in response.kvs() {
            if let Some(i) = Instance::decode(&prefix, kv.key(), kv.value()) {
                all.entry(i.name().to_owned()).or_default().push(i);
            }
        }
        Ok(all)
    }

    /// The instances of `name` now (once read) and after every change, as complete
    /// sets in key order; an unchanged set is not repeated.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for an empty name or one with `/` (the stream itself never
    /// fails: it waits out disconnects).
    pub fn watch(
        &self,
        name: &str,
    ) -> Result<impl Stream<Item = Vec<Instance>> + Send + Unpin + 'static + use<>, Error> {
        let cache = self.cache(name)?;
        let namespace = Bytes::from(self.inner.settings.namespace.clone());
        Ok(
            sets(cache, self.inner.settings.timeout).filter_map(move |item| {
                let set = item.ok().map(|snapshot| decode(&namespace, &snapshot));
                std::future::ready(set)
            }),
        )
    }

    /// A go-kit [`Instancer`] of `name`'s instances (raw keys and values), sharing the
    /// registry's cache.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for an empty name or one with `/`.
    pub fn instancer(&self, name: &str) -> Result<Instancer, Error> {
        Ok(Instancer::from_cache(self.cache(name)?).ready_timeout(self.inner.settings.timeout))
    }

    fn cache(&self, name: &str) -> Result<Arc<PrefixCache>, Error> {
        let prefix = self.prefix(name)?;
        let mut caches = match self.inner.caches.lock() {
            Ok(caches) => caches,
            Err(poisoned) => poisoned.into_inner(),
        };
        Ok(caches
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(PrefixCache::builder(&self.inner.settings.client, prefix).start())
            })
            .clone())
    }

    fn decode(&self, snapshot: &Snapshot) -> Vec<Instance> {
        decode(self.inner.settings.namespace.as_bytes(), snapshot)
    }
}

fn decode(namespace: &[u8], snapshot: &Snapshot) -> Vec<Instance> {
    snapshot
        .entries()
        .iter()
        .filter_map(|kv| Instance::decode(namespace, kv.key(), kv.value()))
        .collect()
}
