//! `etcdkit registry join|leave|lookup|list|watch`: the registry recipe on the command
//! line. Instances print as one JSON document per line.

use std::time::Duration;

use etcdkit::ClientOptions;
use etcdkit_recipes::discovery::RegistrationEvent;
use etcdkit_recipes::registry::{ConnectionString, Error, Instance, Registry};
use serde_json::Value;
use tokio_stream::StreamExt;

use crate::args::{GlobalArgs, RegistryArgs, RegistryCommand};
use crate::commands::{endpoints, write_stdout};
use crate::error::{CliError, ExitCode};

/// Runs a registry subcommand.
pub async fn run(global: &GlobalArgs, args: &RegistryArgs) -> Result<(), CliError> {
    let c = connection_string(global, args.registry.as_deref())?;
    let ttl = match &args.command {
        RegistryCommand::Join { ttl: Some(ttl), .. } => Some(Duration::from_secs((*ttl).max(1))),
        _ => None,
    };
    let registry = connect(global, &c, ttl).await?;
    match &args.command {
        RegistryCommand::Join {
            name,
            port,
            hostname,
            data,
            ..
        } => join(&registry, name, *port, hostname.as_deref(), data.as_deref()).await,
        RegistryCommand::Leave { name } => {
            let n = registry.evict(name).await.map_err(registry_error)?;
            write_stdout(format!("removed {n} instance(s) of {name}\n").as_bytes())
        }
        RegistryCommand::Lookup { name } => {
            let instance = registry.lookup(name).await.map_err(registry_error)?;
            print_instances(std::slice::from_ref(&instance))
        }
        RegistryCommand::List { name: Some(name) } => {
            print_instances(&registry.list(name).await.map_err(registry_error)?)
        }
        RegistryCommand::List { name: None } => {
            let all = registry.list_all().await.map_err(registry_error)?;
            let instances: Vec<Instance> = all.into_values().flatten().collect();
            print_instances(&instances)
        }
        RegistryCommand::Watch { name } => {
            let mut sets = registry.watch(name).map_err(registry_error)?;
            loop {
                tokio::select! {
                    set = sets.next() => match set {
                        Some(set) => {
                            let docs: Vec<Value> =
                                set.iter().map(|i| Value::Object(i.doc().clone())).collect();
                            write_stdout(format!("{}\n", Value::Array(docs)).as_bytes())?;
                        }
                        None => return Err(CliError::error("the watch ended")),
                    },
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
            }
        }
    }
}

/// The `--registry` string, or one made of `--endpoints` and the default namespace.
fn connection_string(
    global: &GlobalArgs,
    given: Option<&str>,
) -> Result<ConnectionString, CliError> {
    let text = match given {
        Some(text) => text.to_owned(),
        None => {
            let hosts: Vec<String> = endpoints(global)?
                .iter()
                .map(|e| {
                    e.split_once("://")
                        .map_or(e.as_str(), |(_, h)| h)
                        .to_owned()
                })
                .collect();
            let scheme = if global.endpoints.iter().any(|e| e.starts_with("https://")) {
                "https"
            } else {
                "http"
            };
            format!("{scheme}://{}/", hosts.join(","))
        }
    };
    text.parse()
        .map_err(|e: Error| CliError::new(ExitCode::BadArgs, e.to_string()))
}

async fn connect(
    global: &GlobalArgs,
    c: &ConnectionString,
    ttl: Option<Duration>,
) -> Result<Registry, CliError> {
    let client = ClientOptions::new(c.endpoints().to_vec())
        .dial_timeout(global.dial_timeout)
        .request_timeout(global.command_timeout)
        .connect()
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    let mut builder = Registry::builder(&client)
        .namespace(c.namespace())
        .ttl(c.ttl())
        .heartbeat(c.heartbeat())
        .format(c.format())
        .timeout(c.timeout());
    if let Some(ttl) = ttl {
        builder = builder.ttl(ttl).heartbeat(ttl / 2);
    }
    Ok(builder.build())
}

async fn join(
    registry: &Registry,
    name: &str,
    port: u16,
    hostname: Option<&str>,
    data: Option<&str>,
) -> Result<(), CliError> {
    let mut doc = match data {
        Some(data) => match serde_json::from_str::<Value>(data) {
            Ok(Value::Object(doc)) => doc,
            Ok(_) => return Err(CliError::bad_args("--data must be a JSON object")),
            Err(e) => return Err(CliError::bad_args(format!("--data is not JSON: {e}"))),
        },
        None => serde_json::Map::new(),
    };
    doc.insert("port".into(), Value::from(port));
    if let Some(hostname) = hostname {
        doc.insert("hostname".into(), Value::from(hostname));
    }
    let joined = registry
        .join(name, Value::Object(doc))
        .await
        .map_err(registry_error)?;
    write_stdout(
        format!(
            "joined {} {}\n",
            String::from_utf8_lossy(joined.instance().key()),
            Value::Object(joined.instance().doc().clone())
        )
        .as_bytes(),
    )?;
    // Held until interrupted; what happens to the registration meanwhile (it keeps
    // trying through every failure) is told on stderr.
    let mut events = joined.registration().events();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            _ = &mut interrupted => break,
            event = events.next() => match event {
                Some(event) => report(&event),
                None => break,
            },
        }
    }
    registry.leave_all().await.map_err(registry_error)?;
    write_stdout(b"left\n")
}

/// Tells on stderr what happened to a held registration.
fn report(event: &RegistrationEvent) {
    match event {
        RegistrationEvent::LeaseLost { lease, reason } => {
            eprintln!("lease {lease:x} lost ({reason}); registering again");
        }
        RegistrationEvent::Failed { error, retry_in } => {
            eprintln!("registration failed: {error}; retrying in {retry_in:?}");
        }
        RegistrationEvent::Reregistered { lease, .. } => {
            eprintln!("registered again under lease {lease:x}");
        }
        _ => {}
    }
}

fn print_instances(instances: &[Instance]) -> Result<(), CliError> {
    let mut out = String::new();
    for instance in instances {
        out.push_str(&Value::Object(instance.doc().clone()).to_string());
        out.push('\n');
    }
    write_stdout(out.as_bytes())
}

fn registry_error(e: Error) -> CliError {
    match e {
        Error::Etcd(e) => CliError::from_etcd(&e),
        Error::InvalidConnectionString { .. }
        | Error::InvalidName { .. }
        | Error::InvalidDocument { .. } => CliError::bad_args(e.to_string()),
        other => CliError::error(other.to_string()),
    }
}
