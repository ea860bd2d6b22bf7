//! A registry member as a process of its own: joins a service, heartbeats, and leaves on
//! interrupt. The registry tests kill it with SIGKILL to show a crashed instance vanishes
//! within the TTL.
//!
//! ```sh
//! cargo run -p etcdkit-recipes --example registrant -- 'http://127.0.0.1:2379/services?ttl=10' api 8080
//! ```

use etcdkit_recipes::registry::Registry;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(name), Some(port)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: registrant CONNECTION_STRING NAME PORT".into());
    };
    let port: u16 = port.parse()?;
    let registry = Registry::connect(&url).await?;
    let joined = registry.join(&name, json!({ "port": port })).await?;
    println!(
        "joined {} {}",
        String::from_utf8_lossy(joined.instance().key()),
        joined.instance().url().unwrap_or_default()
    );
    tokio::signal::ctrl_c().await?;
    registry.leave_all().await?;
    println!("left");
    Ok(())
}
