//! `--discovery-srv`: the endpoints of a domain's etcd cluster, from DNS SRV records, as
//! etcdctl finds them (through [`etcdkit::srv`]).

use crate::args::GlobalArgs;
use crate::error::CliError;

/// The endpoints discovered for `--discovery-srv` (with `--discovery-srv-name`), when
/// it is given: TLS members' first, then plain ones', the plain ones left out (each
/// said on stderr) unless `--insecure-discovery` (the default) accepts them. `None`
/// when there is nothing to discover, or when nothing is left: as etcdctl, the
/// `--endpoints` then apply.
///
/// # Errors
///
/// Neither SRV service has a record: exit 1, with etcdctl's `dns lookup errors: ...`.
pub async fn endpoints(global: &GlobalArgs) -> Result<Option<Vec<String>>, CliError> {
    if global.discovery_srv.is_empty() {
        return Ok(None);
    }
    let name = Some(global.discovery_srv_name.as_str()).filter(|n| !n.is_empty());
    let found = etcdkit::srv::discover(&global.discovery_srv, name)
        .await
        .map_err(|e| CliError::error(e.message()))?;
    let kept: Vec<String> = if global.insecure_discovery {
        found
    } else {
        found
            .into_iter()
            .filter(|endpoint| {
                let plain = endpoint.starts_with("http://");
                if plain {
                    eprintln!("ignoring discovered insecure endpoint {endpoint:?}");
                }
                !plain
            })
            .collect()
    };
    Ok((!kept.is_empty()).then_some(kept))
}
