//! Values as types rather than bytes: a prefix read as a map, and (with the `json`
//! feature) values written and read as JSON.
//!
//! What cannot be read as asked (a value that is not the JSON of the type, a key that is
//! not UTF-8) is an [`ErrorKind::Decode`] error naming the key; nothing here panics on what
//! the store holds.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Kv;
use crate::error::{Error, ErrorKind, Result};
use crate::types::KeyValue;
use crate::util::BytesDebug;

impl Kv {
    /// Reads every key that starts with `prefix` into a map from key to value, in key
    /// order. Keys are the full keys (the prefix included), as text.
    ///
    /// ```no_run
    /// # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
    /// let config = client.kv().get_prefix_map("config/").await?;
    /// if let Some(mode) = config.get("config/mode") {
    ///     println!("mode: {mode:?}");
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decode`] when a key is not UTF-8; [`ErrorKind::EmptyKey`] for an empty
    /// prefix (read the whole store with `get(..).from_key()` instead); the failures of
    /// [`Get`](super::Get).
    pub async fn get_prefix_map(
        &self,
        prefix: impl Into<Bytes>,
    ) -> Result<BTreeMap<String, Bytes>> {
        self.prefix_map(prefix, |kv| Ok(kv.value().clone())).await
    }

    /// Reads every key that starts with `prefix` into a map from key (as text) to
    /// `value(kv)`: the one read behind the typed prefix reads; the first key or value
    /// that cannot be read as asked fails the whole read.
    async fn prefix_map<T>(
        &self,
        prefix: impl Into<Bytes>,
        value: impl Fn(&KeyValue) -> Result<T>,
    ) -> Result<BTreeMap<String, T>> {
        let prefix = prefix.into();
        // An empty prefix would be every key in the store: refused, as documented, so a
        // prefix that is empty by mistake does not read (and hold) the whole store.
        if prefix.is_empty() {
            return Err(Error::new(
                ErrorKind::EmptyKey,
                "the prefix must not be empty (read the whole store with get(..).from_key())",
            )
            .with_operation("kv.get"));
        }
        let response = self.get(prefix).prefix().await?;
        response
            .kvs()
            .iter()
            .map(|kv| Ok((key_text(kv)?, value(kv)?)))
            .collect()
    }
}

/// A key as text, or the typed error that says it is not.
fn key_text(kv: &KeyValue) -> Result<String> {
    match kv.key_str() {
        Some(key) => Ok(key.to_string()),
        None => Err(Error::new(
            ErrorKind::Decode,
            format!("key {:?} is not UTF-8 text", BytesDebug(kv.key())),
        )
        .with_operation("kv.get")),
    }
}

#[cfg(feature = "json")]
mod json {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::Kv;
    use crate::error::{Error, ErrorKind, Result};
    use crate::kv::Put;
    use crate::types::KeyValue;
    use crate::util::BytesDebug;

    impl Kv {
        /// Reads a key's value as the JSON of a `T`; `None` when the key does not exist.
        ///
        /// ```no_run
        /// # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
        /// #[derive(serde::Deserialize)]
        /// struct Config { replicas: u32 }
        /// if let Some(config) = client.kv().get_json::<Config>("config").await? {
        ///     println!("{} replicas", config.replicas);
        /// }
        /// # Ok(()) }
        /// ```
        ///
        /// # Errors
        ///
        /// [`ErrorKind::Decode`] when the value is not the JSON of a `T`; the failures of
        /// [`Get`](crate::kv::Get).
        pub async fn get_json<T: DeserializeOwned>(
            &self,
            key: impl Into<Bytes>,
        ) -> Result<Option<T>> {
            let response = self.get(key).await?;
            response.first().map(decode).transpose()
        }

        /// Writes `value` as JSON. Returns the put, to be awaited (and given a lease or
        /// asked for the previous value first, like any put).
        ///
        /// ```no_run
        /// # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
        /// #[derive(serde::Serialize)]
        /// struct Config { replicas: u32 }
        /// client.kv().put_json("config", &Config { replicas: 3 })?.await?;
        /// # Ok(()) }
        /// ```
        ///
        /// # Errors
        ///
        /// [`ErrorKind::InvalidArgument`] when `value` cannot be written as JSON (a map
        /// whose keys are not strings, a failing `Serialize` impl), before anything is
        /// sent.
        pub fn put_json<T: Serialize + ?Sized>(
            &self,
            key: impl Into<Bytes>,
            value: &T,
        ) -> Result<Put<Kv>> {
            let json = serde_json::to_vec(value).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidArgument,
                    format!("the value cannot be written as JSON: {e}"),
                )
                .with_operation("kv.put")
                .with_source(e)
            })?;
            Ok(self.put(key, json))
        }

        /// Reads every key that starts with `prefix`, each value as the JSON of a `T`,
        /// into a map from key (full key, as text) to value, in key order.
        ///
        /// # Errors
        ///
        /// [`ErrorKind::Decode`] when a value is not the JSON of a `T` or a key is not
        /// UTF-8 (the whole read fails: no partial map); [`ErrorKind::EmptyKey`] for an
        /// empty prefix; the failures of [`Get`](crate::kv::Get).
        pub async fn get_prefix_json<T: DeserializeOwned>(
            &self,
            prefix: impl Into<Bytes>,
        ) -> Result<BTreeMap<String, T>> {
            self.prefix_map(prefix, decode).await
        }
    }

    /// A value read as the JSON of a `T`, or the typed error naming the key.
    fn decode<T: DeserializeOwned>(kv: &KeyValue) -> Result<T> {
        serde_json::from_slice(kv.value()).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!(
                    "the value of key {:?} is not the JSON expected: {e}",
                    BytesDebug(kv.key())
                ),
            )
            .with_operation("kv.get")
            .with_source(e)
        })
    }
}
