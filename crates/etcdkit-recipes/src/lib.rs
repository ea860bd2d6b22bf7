//! Recipes built only on etcdkit's public API: the parts people otherwise write by hand
//! on top of an etcd client.
//!
//! Every recipe module has a "Behavior" section that says what happens on failure.

mod backoff;
pub mod discovery;
pub mod election;
pub mod lease_keeper;
pub mod mutex;
pub mod prefix_cache;
mod queue;
pub mod registry;
pub mod session;
