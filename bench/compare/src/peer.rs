//! The two clients under comparison, behind one small interface, each used the way its
//! documentation shows: etcdkit takes `Bytes` keys and values, etcd-client takes owned
//! `Vec<u8>`s and `&mut self`, so each of its calls works on its own clone of the handle.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which client a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    Etcdkit,
    EtcdClient,
}

impl Which {
    pub const BOTH: [Which; 2] = [Which::Etcdkit, Which::EtcdClient];

    pub fn name(self) -> &'static str {
        match self {
            Which::Etcdkit => "etcdkit",
            Which::EtcdClient => "etcd-client",
        }
    }

    pub fn parse(s: &str) -> Result<Which, BoxError> {
        match s {
            "etcdkit" => Ok(Which::Etcdkit),
            "etcd-client" => Ok(Which::EtcdClient),
            other => Err(format!("unknown client {other:?}: etcdkit or etcd-client").into()),
        }
    }
}

/// One connected client; cloning shares its connection.
#[derive(Clone)]
// One per process: boxing etcd-client's handle would add an allocation to each of its
// per-call clones and tilt the comparison.
#[allow(clippy::large_enum_variant)]
pub enum Peer {
    Etcdkit(etcdkit::Client),
    EtcdClient(etcd_client::Client),
}

/// Keys and values prepared once, in each client's own currency.
pub struct Data {
    pub keys: Vec<Bytes>,
    pub keys_vec: Vec<Vec<u8>>,
    pub value: Bytes,
    pub value_vec: Vec<u8>,
}

impl Data {
    pub fn new(prefix: &str, key_space: usize, value_size: usize) -> Data {
        let keys_vec: Vec<Vec<u8>> = (0..key_space)
            .map(|i| format!("{prefix}{i:08}").into_bytes())
            .collect();
        Data {
            keys: keys_vec.iter().map(|k| Bytes::from(k.clone())).collect(),
            keys_vec,
            value: Bytes::from(vec![b'v'; value_size]),
            value_vec: vec![b'v'; value_size],
        }
    }
}

/// A measured key-value operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Put,
    GetSerializable,
    GetLinearizable,
}

impl Op {
    pub fn parse(s: &str) -> Result<Op, BoxError> {
        match s {
            "put" => Ok(Op::Put),
            "get-s" => Ok(Op::GetSerializable),
            "get-l" => Ok(Op::GetLinearizable),
            other => Err(format!("unknown op {other:?}: put, get-s or get-l").into()),
        }
    }
}

impl Peer {
    pub async fn connect(which: Which, endpoint: &str) -> Result<Peer, BoxError> {
        Ok(match which {
            Which::Etcdkit => Peer::Etcdkit(etcdkit::Client::connect([endpoint]).await?),
            Which::EtcdClient => {
                Peer::EtcdClient(etcd_client::Client::connect([endpoint], None).await?)
            }
        })
    }

    /// Runs operation `op` on key number `i`.
    pub async fn run(&mut self, op: Op, data: &Data, i: usize) -> Result<(), BoxError> {
        let n = i % data.keys.len();
        match self {
            Peer::Etcdkit(client) => {
                let kv = client.kv();
                match op {
                    Op::Put => drop(kv.put(data.keys[n].clone(), data.value.clone()).await?),
                    Op::GetSerializable => drop(kv.get(data.keys[n].clone()).serializable().await?),
                    Op::GetLinearizable => drop(kv.get(data.keys[n].clone()).await?),
                }
            }
            Peer::EtcdClient(client) => match op {
                Op::Put => drop(
                    client
                        .put(data.keys_vec[n].clone(), data.value_vec.clone(), None)
                        .await?,
                ),
                Op::GetSerializable => {
                    let options = etcd_client::GetOptions::new().with_serializable();
                    drop(client.get(data.keys_vec[n].clone(), Some(options)).await?)
                }
                Op::GetLinearizable => drop(client.get(data.keys_vec[n].clone(), None).await?),
            },
        }
        Ok(())
    }

    /// Opens `count` watchers on distinct keys and keeps them open (returned as opaque
    /// handles, so the caller decides when they are dropped).
    pub async fn open_watchers(
        &self,
        prefix: &str,
        count: usize,
    ) -> Result<Vec<Box<dyn Send>>, BoxError> {
        let mut handles: Vec<Box<dyn Send>> = Vec::with_capacity(count);
        for i in 0..count {
            let key = format!("{prefix}{i}");
            match self {
                Peer::Etcdkit(client) => handles.push(Box::new(client.watch().key(key).await?)),
                Peer::EtcdClient(client) => {
                    let mut client = client.clone();
                    handles.push(Box::new(client.watch(key, None).await?));
                }
            }
        }
        Ok(handles)
    }

    /// Grants `count` leases of `ttl` and keeps them alive in the background until the
    /// returned handles are dropped.
    pub async fn keep_leases(
        &self,
        count: usize,
        ttl: Duration,
    ) -> Result<Vec<Box<dyn Send>>, BoxError> {
        let mut handles: Vec<Box<dyn Send>> = Vec::with_capacity(count);
        for _ in 0..count {
            match self {
                Peer::Etcdkit(client) => {
                    let lease = client.lease();
                    let id = lease.grant(ttl).await?.id();
                    handles.push(Box::new(lease.keep_alive(id).await?));
                }
                Peer::EtcdClient(client) => {
                    let mut client = client.clone();
                    let id = client.lease_grant(ttl.as_secs() as i64, None).await?.id();
                    // etcd-client leaves the renewal loop to its user: one stream per lease,
                    // renewed at a third of the TTL, as its documentation suggests.
                    let (mut keeper, mut stream) = client.lease_keep_alive(id).await?;
                    let every = ttl / 3;
                    let task = tokio::spawn(async move {
                        loop {
                            if keeper.keep_alive().await.is_err() {
                                return;
                            }
                            match stream.next().await {
                                Some(Ok(_)) => {}
                                _ => return,
                            }
                            tokio::time::sleep(every).await;
                        }
                    });
                    handles.push(Box::new(AbortOnDrop(task)));
                }
            }
        }
        Ok(handles)
    }

    /// Counts the leases the server holds.
    pub async fn lease_count(&self) -> Result<usize, BoxError> {
        Ok(match self {
            Peer::Etcdkit(client) => client.lease().leases().await?.leases().len(),
            Peer::EtcdClient(client) => client.clone().leases().await?.leases().len(),
        })
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
