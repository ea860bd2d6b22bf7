//! One behavioral test body for every `KitClient`: the in-memory client runs it with no
//! server, the etcd client against real etcd, so both are held to the same contract.

use std::time::Duration;

use bytes::Bytes;
use etcdkit_recipes::discovery::{
    Error, Instance, Instancer, InstancerEvent, KitClient, Registrar, Service, TtlOption,
};
use futures_util::{Stream, StreamExt};

use super::bounded;

fn service(key: &str, value: &str) -> Service {
    Service::new(key.to_owned(), value.to_owned()).ttl(TtlOption::new(
        Duration::from_secs(1),
        Duration::from_secs(2),
    ))
}

fn pairs(set: &[Instance]) -> Vec<(String, String)> {
    set.iter()
        .map(|i| {
            (
                String::from_utf8_lossy(i.key()).into_owned(),
                String::from_utf8_lossy(i.value()).into_owned(),
            )
        })
        .collect()
}

/// The next instance set the stream sends (failing on an error event).
async fn next_set(
    events: &mut (impl Stream<Item = InstancerEvent> + Unpin),
) -> Vec<(String, String)> {
    match bounded(events.next()).await {
        Some(InstancerEvent::Instances(set)) => pairs(&set),
        other => panic!("expected an instance set, got {other:?}"),
    }
}

/// Registers, watches, deregisters and drops under `prefix` (which ends with `/`) and
/// checks what `get_entries`, `lease_id`, the registration and an instancer's stream say
/// at each step.
pub async fn registrar_and_instancer_behave_alike<C: KitClient + Clone>(client: &C, prefix: &str) {
    let key = |name: &str| format!("{prefix}{name}");
    let entries = |client: &C| client.get_entries(Bytes::from(prefix.to_owned()));

    // Empty keys or values are refused before anything is written.
    assert!(matches!(
        Registrar::new(client, service("", "v")).register(),
        Err(Error::NoKey)
    ));
    assert!(matches!(
        Registrar::new(client, service(&key("k"), "")).register(),
        Err(Error::NoValue)
    ));
    assert!(bounded(entries(client)).await.unwrap().is_empty());

    // The first set is sent once read, empty or not.
    let instancer = Instancer::new(client, prefix.to_owned());
    let mut events = instancer.events();
    assert_eq!(next_set(&mut events).await, []);
    bounded(instancer.ready()).await;
    assert!(instancer.instances().is_empty());

    // A registration writes the key under its lease; the watch sends the new set.
    let a = Registrar::new(client, service(&key("a"), "addr-a"));
    let lease_a = bounded(a.register().unwrap().registered(1)).await.unwrap();
    assert_eq!(
        bounded(client.lease_id(Bytes::from(key("a"))))
            .await
            .unwrap(),
        Some(lease_a)
    );
    assert_eq!(
        next_set(&mut events).await,
        [(key("a"), "addr-a".to_owned())]
    );
    // Registering again while registered is the same registration.
    assert_eq!(a.register().unwrap().current().lease(), Some(lease_a));

    // A key beside the prefix is not part of the set; the next event is b's arrival.
    let beside = Registrar::new(
        client,
        service(&format!("{}-beside", prefix.trim_end_matches('/')), "x"),
    );
    bounded(beside.register().unwrap().registered(1))
        .await
        .unwrap();
    let b = Registrar::new(client, service(&key("b"), "addr-b"));
    let lease_b = bounded(b.register().unwrap().registered(1)).await.unwrap();
    assert_ne!(lease_a, lease_b);
    let both = vec![
        (key("a"), "addr-a".to_owned()),
        (key("b"), "addr-b".to_owned()),
    ];
    assert_eq!(next_set(&mut events).await, both);
    assert_eq!(pairs(&bounded(entries(client)).await.unwrap()), both);
    assert_eq!(pairs(&instancer.instances()), both);

    // A second stream starts from the current set.
    let mut late = instancer.events();
    assert_eq!(next_set(&mut late).await, both);

    // Deregistering deletes the key at once; both streams see it go.
    bounded(a.deregister()).await.unwrap();
    let only_b = vec![(key("b"), "addr-b".to_owned())];
    assert_eq!(next_set(&mut events).await, only_b);
    assert_eq!(next_set(&mut late).await, only_b);
    assert_eq!(
        bounded(client.lease_id(Bytes::from(key("a"))))
            .await
            .unwrap(),
        None
    );
    // Deregistering what is not registered does nothing.
    bounded(a.deregister()).await.unwrap();

    // Dropping a registrar stops renewals: the key stays until its TTL has passed.
    drop(b);
    assert_eq!(
        bounded(client.lease_id(Bytes::from(key("b"))))
            .await
            .unwrap(),
        Some(lease_b)
    );
    assert_eq!(next_set(&mut events).await, []);
    assert!(bounded(entries(client)).await.unwrap().is_empty());
    bounded(beside.deregister()).await.unwrap();
}
