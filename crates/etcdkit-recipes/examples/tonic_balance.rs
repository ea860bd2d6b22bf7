//! A tonic client balancing over three registered tonic servers.
//!
//! Three tiny gRPC servers join the registry as service `whoami`; a client turns the
//! registry's instances into a `tower::discover::Discover` stream, feeds it to
//! `Channel::balance_channel`, and calls. Every server answers; after one leaves, no call
//! reaches it. Runs against a throwaway etcd from the test kit (or `ETCD_ENDPOINTS`), and
//! as a test (`tests/tonic_balance.rs`).
//!
//! ```sh
//! cargo run -p etcdkit-recipes --example tonic_balance
//! ```
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use etcdkit_recipes::discovery::Discover;
use etcdkit_recipes::registry::{Instance, Registry};
use http::uri::PathAndQuery;
use serde_json::json;
use tokio::sync::{oneshot, watch};
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic_prost::ProstCodec;

/// Any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The one method of the service: the request is ignored, the answer is the server's name.
pub const METHOD: &str = "/etcdkit.demo.WhoAmI/Call";

/// A gRPC server written by hand (no .proto): a `tower::Service` over HTTP requests that
/// answers [`METHOD`] with its name, counting the calls.
#[derive(Clone)]
pub struct WhoAmI {
    name: Arc<str>,
    calls: Arc<AtomicUsize>,
}

impl tower::Service<http::Request<tonic::body::Body>> for WhoAmI {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        let me = self.clone();
        Box::pin(async move {
            if request.uri().path() != METHOD {
                return Ok(tonic::Status::unimplemented("no such method").into_http());
            }
            let mut grpc = tonic::server::Grpc::new(ProstCodec::<String, String>::default());
            Ok(grpc.unary(Handler(me), request).await)
        })
    }
}

struct Handler(WhoAmI);

impl tonic::server::UnaryService<String> for Handler {
    type Response = String;
    type Future = std::future::Ready<Result<tonic::Response<String>, tonic::Status>>;

    fn call(&mut self, _: tonic::Request<String>) -> Self::Future {
        self.0.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(tonic::Response::new(self.0.name.to_string())))
    }
}

/// A running server, registered in its own registry (as a separate process would be).
pub struct Server {
    /// Its name (and instance id).
    pub name: String,
    /// The calls it answered.
    pub calls: Arc<AtomicUsize>,
    /// Its registry.
    pub registry: Registry,
    stop: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Starts a server on a free local port and joins `service` in the registry of
    /// `connection_string`.
    pub async fn start(
        connection_string: &str,
        service: &str,
        name: &str,
    ) -> Result<Server, BoxError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let calls = Arc::new(AtomicUsize::new(0));
        let svc = WhoAmI {
            name: name.into(),
            calls: calls.clone(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = tonic::transport::Server::builder()
                .serve_with_incoming_shutdown(svc, incoming, shutdown)
                .await
            {
                eprintln!("server stopped: {e}");
            }
        });
        let registry = Registry::connect(connection_string).await?;
        registry
            .join(
                service,
                json!({"id": name, "hostname": "127.0.0.1", "port": port}),
            )
            .await?;
        Ok(Server {
            name: name.to_owned(),
            calls,
            registry,
            stop: Some(stop),
        })
    }

    /// Leaves the registry (the instance goes at once); keeps serving.
    pub async fn leave(&self) -> Result<(), BoxError> {
        self.registry.leave_all().await?;
        Ok(())
    }

    /// Stops serving and stops renewing without leaving, as a crash would: the
    /// instance vanishes when its lease runs out.
    pub fn crash(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        drop(self.registry);
    }
}

/// A client channel balanced over the registered instances of `service`, and the number
/// of instances the balancer has now.
pub async fn balanced_channel(
    registry: &Registry,
    service: &str,
) -> Result<(Channel, watch::Receiver<usize>), BoxError> {
    let (channel, changes) = Channel::balance_channel::<Bytes>(16);
    let namespace = Bytes::from(registry.namespace().to_owned());
    let instancer = registry.instancer(service)?;
    let mut discover = Discover::new(&instancer, move |i| {
        let instance =
            Instance::decode(&namespace, i.key(), i.value()).ok_or("not a registry instance")?;
        let url = instance.url().ok_or("no url")?.to_owned();
        Ok(Endpoint::from_shared(url)?.connect_timeout(Duration::from_secs(2)))
    });
    let (count_tx, count) = watch::channel(0usize);
    tokio::spawn(async move {
        let mut n = 0usize;
        while let Some(Ok(change)) = discover.next().await {
            // tonic has its own `Change` for its balance channel.
            let change = match change {
                tower::discover::Change::Insert(key, endpoint) => {
                    n += 1;
                    tonic::transport::channel::Change::Insert(key, endpoint)
                }
                tower::discover::Change::Remove(key) => {
                    n = n.saturating_sub(1);
                    tonic::transport::channel::Change::Remove(key)
                }
            };
            if changes.send(change).await.is_err() {
                return;
            }
            count_tx.send_replace(n);
        }
    });
    Ok((channel, count))
}

/// One call through the balanced channel: the name of the server that answered.
pub async fn call(channel: &Channel) -> Result<String, BoxError> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await?;
    let response = grpc
        .unary(
            tonic::Request::new(String::new()),
            PathAndQuery::from_static(METHOD),
            ProstCodec::<String, String>::default(),
        )
        .await?;
    Ok(response.into_inner())
}

/// Who answered, per round of calls.
#[derive(Debug, Default)]
pub struct Report {
    /// Answers per server with all three registered.
    pub before: BTreeMap<String, usize>,
    /// Answers per server after `b` left.
    pub after: BTreeMap<String, usize>,
    /// Calls `b` received after it left.
    pub reached_b_after_leaving: usize,
}

/// Starts three servers registered under `connection_string`, balances `calls` calls
/// over them, has `b` leave, and calls again.
pub async fn run(connection_string: &str, calls: usize) -> Result<Report, BoxError> {
    let mut servers = Vec::new();
    for name in ["a", "b", "c"] {
        servers.push(Server::start(connection_string, "whoami", name).await?);
    }
    let client = Registry::connect(connection_string).await?;
    let (channel, mut count) = balanced_channel(&client, "whoami").await?;
    count.wait_for(|n| *n == 3).await?;
    let mut report = Report::default();
    for _ in 0..calls {
        *report.before.entry(call(&channel).await?).or_default() += 1;
    }
    let b = &servers[1];
    b.leave().await?;
    count.wait_for(|n| *n == 2).await?;
    let b_before = b.calls.load(Ordering::SeqCst);
    for _ in 0..calls {
        *report.after.entry(call(&channel).await?).or_default() += 1;
    }
    report.reached_b_after_leaving = b.calls.load(Ordering::SeqCst) - b_before;
    for server in servers {
        server.registry.leave_all().await?;
        server.crash();
    }
    Ok(report)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (_etcd, endpoints) = match std::env::var("ETCD_ENDPOINTS") {
        Ok(endpoints) => (None, endpoints),
        Err(_) => {
            let etcd = etcdkit_testkit::EtcdServer::start().await?;
            let endpoint = etcd.endpoint();
            (Some(etcd), endpoint)
        }
    };
    let hosts = endpoints.replace("http://", "");
    let report = run(&format!("http://{hosts}/tonic-example?ttl=5"), 30).await?;
    println!("answers with a, b and c registered: {:?}", report.before);
    println!("answers after b left:               {:?}", report.after);
    println!(
        "calls that reached b after it left: {}",
        report.reached_b_after_leaving
    );
    Ok(())
}
