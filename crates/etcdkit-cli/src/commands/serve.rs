//! `serve`: runs the in-process etcd v3 server (`etcdkit-server`) in the foreground until
//! interrupted, for trying a client, etcdctl or a test against an etcd without an etcd
//! binary.
//!
//! - One member, etcd's default limits. Data in memory only (gone when the command exits)
//!   unless `--data-dir DIR` keeps it there: every acknowledged change is on disk before
//!   it is answered, and `serve` started again on DIR (after a stop, a crash or a kill)
//!   finds it all. For clusters and failover run real etcd (`etcdkit up`).
//! - Prints one line when it answers (`serving etcd v3 on http://ADDR (member ID, in
//!   memory)`, or `..., data in DIR)`), then runs until SIGINT or SIGTERM and exits 0.
//! - An address that cannot be bound ends the command with `Error: cannot listen on ...`,
//!   a data directory that is another program's, damaged or in use by another server with
//!   `Error: cannot use data directory DIR: ...`; both with exit code 1.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::lock::Interrupt;
use super::write_stdout;
use crate::error::CliError;

/// `serve [--listen ADDR] [--name NAME] [--data-dir DIR] [--auth-token-ttl SECONDS]`. The limits are etcd's defaults (1.5 MiB requests,
/// 128 operations per transaction): the global `--max-request-bytes` is the client's.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The address to answer on: IP:PORT, localhost:PORT or a client URL as etcd's
    /// --listen-client-urls takes one (http://IP:PORT); port 0 picks a free port
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:2379", value_parser = parse_listen)]
    pub listen: SocketAddr,
    /// The member's name (its member and cluster IDs are derived from it and the address; a
    /// --data-dir keeps those of its first start)
    #[arg(long, value_name = "NAME", default_value = "default")]
    pub name: String,
    /// Keep the data in this directory (created if missing): every acknowledged change is
    /// on disk before it is answered, and serve started again on the directory finds it
    /// all, with the same member ID. Without it, data is in memory only
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seconds a simple auth token lives without being used (etcd's --auth-token-ttl)
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_token_ttl: u64,
}

/// Reads `--listen`: an IP address and port, with `localhost` for the loopback address
/// and an optional `http://` in front (the form etcd's `--listen-client-urls` takes).
fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    if value.starts_with("https://") || value.starts_with("unixs://") {
        return Err("this server answers plain HTTP/2 only (no TLS): use http://".to_owned());
    }
    let addr = value.strip_prefix("http://").unwrap_or(value);
    let addr = addr.strip_suffix('/').unwrap_or(addr);
    let addr = match addr.strip_prefix("localhost:") {
        Some(port) => format!("127.0.0.1:{port}"),
        None => addr.to_owned(),
    };
    addr.parse()
        .map_err(|_| format!("expected IP:PORT, localhost:PORT or http://IP:PORT, got {value:?}"))
}

/// Runs the server until interrupted.
pub async fn run(args: &ServeArgs) -> Result<(), CliError> {
    // Installed first, so an early interrupt still ends the command cleanly.
    let mut interrupt = Interrupt::new()?;
    let mut builder = etcdkit_server::Server::builder()
        .listen(args.listen)
        .name(args.name.clone())
        .auth_token_ttl(std::time::Duration::from_secs(args.auth_token_ttl));
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir.clone());
    }
    let server = builder
        .start()
        .await
        .map_err(|e| CliError::error(e.to_string()))?;
    let storage = match &args.data_dir {
        Some(dir) => format!("data in {}", dir.display()),
        None => "in memory".to_owned(),
    };
    write_stdout(
        format!(
            "serving etcd v3 on {} (member {:x}, {storage})\n",
            server.url(),
            server.member_id()
        )
        .as_bytes(),
    )?;
    interrupt.wait().await;
    server.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_listen;

    #[test]
    fn listen_takes_an_address_or_a_client_url() {
        let loopback = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert_eq!(parse_listen("127.0.0.1:2379"), Ok(loopback(2379)));
        assert_eq!(parse_listen("http://127.0.0.1:0"), Ok(loopback(0)));
        assert_eq!(parse_listen("http://localhost:2380/"), Ok(loopback(2380)));
        assert_eq!(parse_listen("[::1]:2379").map(|a| a.port()), Ok(2379));
        assert!(
            parse_listen("https://127.0.0.1:2379")
                .unwrap_err()
                .contains("no TLS")
        );
        assert!(parse_listen("127.0.0.1").unwrap_err().contains("IP:PORT"));
        assert!(parse_listen("example.com:2379").is_err());
    }
}
