//! The in-memory `KitClient` drives a Registrar and an Instancer with no etcd, held to
//! the same test body as the etcd client (see `common/kit_contract.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::bounded;
use common::kit_contract::registrar_and_instancer_behave_alike;
use etcdkit_recipes::discovery::{
    Balancer, Endpointer, Instancer, InstancerEvent, KitClient, MemoryClient, RoundRobin,
};
use futures_util::StreamExt;

#[tokio::test]
async fn memory_client_registers_watches_deregisters_and_expires_like_etcd() {
    let client = MemoryClient::new();
    registrar_and_instancer_behave_alike(&client, "t-kit/").await;
}

#[tokio::test]
async fn memory_client_watch_sees_other_writers_only_under_its_prefix() {
    let client = MemoryClient::new();
    let instancer = Instancer::new(&client, "t-mem/");
    let mut events = instancer.events();
    let first = bounded(events.next()).await.unwrap();
    assert!(matches!(first, InstancerEvent::Instances(ref s) if s.is_empty()));

    client.put("t-mem-outside", "x");
    client.put("t-mem/a", "1");
    let next = bounded(events.next()).await.unwrap();
    assert!(
        matches!(next, InstancerEvent::Instances(ref s) if s.len() == 1 && s[0].value_str() == Some("1"))
    );
    // The same value again is the same set: nothing is sent; a new value is.
    client.put("t-mem/a", "1");
    client.put("t-mem/a", "2");
    let next = bounded(events.next()).await.unwrap();
    assert!(
        matches!(next, InstancerEvent::Instances(ref s) if s.len() == 1 && s[0].value_str() == Some("2"))
    );
    assert!(client.delete("t-mem/a"));
    assert!(!client.delete("t-mem/a"));
    let next = bounded(events.next()).await.unwrap();
    assert!(matches!(next, InstancerEvent::Instances(ref s) if s.is_empty()));
    assert_eq!(
        bounded(client.get_entries(Bytes::from_static(b"t-mem")))
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn memory_client_feeds_an_endpointer_and_a_balancer() {
    let client = MemoryClient::new();
    client.put("t-lb/a", "addr-a");
    let instancer = Instancer::new(&client, "t-lb/");
    let endpointer = Endpointer::new(&instancer, |instance| {
        Ok((instance.value_str().unwrap_or_default().to_owned(), None))
    });
    let mut updates = endpointer.updates();
    bounded(updates.wait_for(|n| *n == 1)).await.unwrap();
    assert_eq!(RoundRobin::new(endpointer).endpoint().unwrap(), "addr-a");
}
