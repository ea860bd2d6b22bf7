//! Round-trip time of put and get against a real one-member etcd started by the test kit.
//!
//! ```text
//! cargo bench -p etcdkit --bench kv
//! ```
//!
//! - `kv/put`, `kv/get`, `kv/get_serializable`: one request at a time.
//! - `kv/put_x64`, `kv/get_x64`: 64 requests in flight at once (64 tasks, one shared
//!   client); the time is for the whole batch.
//!
//! Kept short (20 samples, a few seconds each) so the whole run takes well under a minute.

// A bench cannot go on without its server or after a failed request: fail loudly.
#![allow(clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use etcdkit::Client;
use etcdkit::kv::Kv;
use etcdkit_testkit::EtcdServer;
use tokio::runtime::Runtime;
use tokio::task::JoinSet;

const KEY_SPACE: usize = 10_000;
const BATCH: usize = 64;
const VALUE_SIZE: usize = 256;

struct Fixture {
    // Dropping the server kills etcd: keep it for the whole run.
    _server: EtcdServer,
    _client: Client,
    kv: Kv,
    keys: Vec<Bytes>,
    value: Bytes,
}

fn fixture(rt: &Runtime) -> Fixture {
    rt.block_on(async {
        let server = EtcdServer::start().await.expect("start etcd");
        let client = Client::connect([server.endpoint()])
            .await
            .expect("connect to etcd");
        let kv = client.kv();
        let keys: Vec<Bytes> = (0..KEY_SPACE)
            .map(|i| Bytes::from(format!("bench/{i}")))
            .collect();
        let value = Bytes::from(vec![b'x'; VALUE_SIZE]);
        // Fill the key space so every get finds its key.
        let mut tasks = JoinSet::new();
        for chunk in keys.chunks(KEY_SPACE / BATCH + 1) {
            let kv = kv.clone();
            let chunk = chunk.to_vec();
            let value = value.clone();
            tasks.spawn(async move {
                for key in chunk {
                    kv.put(key, value.clone()).await?;
                }
                Ok::<_, etcdkit::Error>(())
            });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.expect("fill task").expect("fill put");
        }
        Fixture {
            _server: server,
            _client: client,
            kv,
            keys,
            value,
        }
    })
}

/// Runs `BATCH` requests at once, each in its own task, starting at key index `base`.
async fn batch(kv: &Kv, keys: &[Bytes], value: &Bytes, base: usize, put: bool) {
    let mut tasks = JoinSet::new();
    for j in 0..BATCH {
        let kv = kv.clone();
        let key = keys[(base + j) % keys.len()].clone();
        let value = value.clone();
        tasks.spawn(async move {
            if put {
                kv.put(key, value).await.map(|r| r.header().revision())
            } else {
                kv.get(key).await.map(|r| r.header().revision())
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        black_box(joined.expect("task").expect("request"));
    }
}

fn kv_benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let f = fixture(&rt);
    let mut group = c.benchmark_group("kv");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    let mut i = 0usize;
    group.bench_function("put", |b| {
        b.to_async(&rt).iter(|| {
            i = i.wrapping_add(1);
            let put = f.kv.put(f.keys[i % KEY_SPACE].clone(), f.value.clone());
            async move {
                black_box(put.await.expect("put"));
            }
        })
    });
    group.bench_function("get", |b| {
        b.to_async(&rt).iter(|| {
            i = i.wrapping_add(1);
            let get = f.kv.get(f.keys[i % KEY_SPACE].clone());
            async move {
                black_box(get.await.expect("get"));
            }
        })
    });
    group.bench_function("get_serializable", |b| {
        b.to_async(&rt).iter(|| {
            i = i.wrapping_add(1);
            let get = f.kv.get(f.keys[i % KEY_SPACE].clone()).serializable();
            async move {
                black_box(get.await.expect("get"));
            }
        })
    });

    // A batch takes tens of milliseconds: flat sampling keeps the run inside its budget.
    group.sampling_mode(SamplingMode::Flat);
    for (name, put) in [("put_x64", true), ("get_x64", false)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                i = i.wrapping_add(BATCH);
                batch(&f.kv, &f.keys, &f.value, i, put)
            })
        });
    }
    group.finish();
    drop(f);
}

criterion_group! {
    name = benches;
    // No plots: drawing them takes longer than the measurements on a small machine.
    config = Criterion::default().without_plots();
    targets = kv_benches
}
criterion_main!(benches);
