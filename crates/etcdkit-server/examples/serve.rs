//! Runs an embedded server until Ctrl-C, for trying it with etcdctl or any etcd client:
//!
//! ```text
//! cargo run -p etcdkit-server --example serve -- 127.0.0.1:2379
//! etcdctl --endpoints 127.0.0.1:2379 put a 1
//! ```
#![allow(clippy::expect_used)]

use std::net::SocketAddr;

#[tokio::main]
async fn main() {
    let listen: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2379".to_owned())
        .parse()
        .expect("an address such as 127.0.0.1:2379");
    let server = etcdkit_server::Server::builder()
        .listen(listen)
        .start()
        .await
        .expect("start the server");
    println!("serving etcd v3 on {}", server.url());
    tokio::signal::ctrl_c().await.expect("wait for Ctrl-C");
    server.shutdown().await;
}
