//! Making a cluster's members before they are spawned: fresh (new ports, a new token,
//! recorded in a kept directory when there is one) or from the saved record of a kept
//! cluster (same names, ports and token).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::builder::client_scheme;
use super::{ClusterBuilder, EtcdCluster};
use crate::embedded::Embedded;
use crate::member::{Member, MemberProcess, SpawnSpec};
use crate::proxy::{Listeners, Network, Upstream};
use crate::root::Root;
use crate::saved::{self, SavedCluster, SavedMember};
use crate::{Error, EtcdVersion, ports};

/// Counter that makes each cluster token unique within the process.
static CLUSTER_SEQ: AtomicU64 = AtomicU64::new(0);

impl EtcdCluster {
    /// Picks ports and creates the member directories in `root` (recording the cluster
    /// there when `root` is kept); spawns nothing.
    pub(super) fn prepare(
        builder: &ClusterBuilder,
        n: usize,
        bin: PathBuf,
        version: Option<EtcdVersion>,
        mut root: Root,
    ) -> Result<EtcdCluster, Error> {
        let ports = ports::free_ports(n.saturating_mul(3))?;
        let mut members = Vec::with_capacity(n);
        let scheme = client_scheme(builder);
        for (i, triple) in ports.chunks(3).enumerate() {
            let [client_port, peer_port, metrics_port] = *triple else {
                return Err(Error::io(
                    "cannot pick ports",
                    std::io::Error::other("too few free ports"),
                ));
            };
            let saved = SavedMember {
                name: format!("m{i}"),
                client_port,
                peer_port,
                metrics_port,
            };
            let member = Member::new(root.path(), saved, scheme);
            if let Some(dir) = member.dir() {
                std::fs::create_dir(dir)
                    .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
                root.created(dir.to_path_buf());
            }
            members.push(member);
        }
        let network = if builder.network_faults {
            Some(start_network(&mut members)?)
        } else {
            None
        };
        let seq = CLUSTER_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let token = format!("etcdkit-testkit-{}-{seq}-{nanos}", std::process::id());
        if root.is_kept() {
            let record = SavedCluster {
                token: token.clone(),
                members: members.iter().map(Member::saved).collect(),
            };
            // Recorded before it is done, so that a failed save leaves nothing behind.
            root.created(saved::path(root.path()));
            saved::save(root.path(), &record)?;
        }
        let mut cluster = Self::assemble(builder, bin, version, token, members, root);
        cluster.network = network;
        Ok(cluster)
    }

    /// The cluster kept in `dir` as `saved` describes it; spawns nothing.
    pub(super) fn from_saved(
        builder: &ClusterBuilder,
        bin: PathBuf,
        version: Option<EtcdVersion>,
        dir: PathBuf,
        saved: &SavedCluster,
    ) -> Result<EtcdCluster, Error> {
        let scheme = client_scheme(builder);
        let members: Vec<Member> = saved
            .members
            .iter()
            .map(|m| Member::new(&dir, m.clone(), scheme))
            .collect();
        // Keeps this process's other clusters off these ports.
        ports::reserve(
            members
                .iter()
                .flat_map(|m| [m.client_port, m.peer_port, m.metrics_port]),
        );
        for dir in members.iter().filter_map(Member::dir) {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        }
        let root = Root::kept_existing(dir);
        let token = saved.token.clone();
        Ok(Self::assemble(builder, bin, version, token, members, root))
    }

    /// The embedded server, started on the current runtime, as a one-member cluster with no
    /// process, no directory of its own but an empty throwaway one, and no etcd binary.
    pub(super) async fn start_embedded(
        builder: &ClusterBuilder,
        settings: etcdkit_server::ServerBuilder,
    ) -> Result<EtcdCluster, Error> {
        let root = Root::temp(false, 0)?;
        let server = Embedded::start("m0", settings).await?;
        let mut cluster = Self::assemble(
            builder,
            PathBuf::new(),
            Embedded::version(),
            String::new(),
            Vec::new(),
            root,
        );
        cluster.embedded = Some(server);
        Ok(cluster)
    }

    fn assemble(
        builder: &ClusterBuilder,
        bin: PathBuf,
        version: Option<EtcdVersion>,
        token: String,
        members: Vec<Member>,
        root: Root,
    ) -> EtcdCluster {
        EtcdCluster {
            spec: SpawnSpec {
                bin,
                token,
                args: builder.args.clone(),
                client_tls: builder.client_tls.clone(),
            },
            version,
            startup_timeout: builder.startup_timeout,
            procs: members
                .into_iter()
                .enumerate()
                .map(|(i, m)| MemberProcess::new(i, m))
                .collect(),
            new_members: AtomicU64::new(0),
            data_in_tmpfs: builder.data_in_tmpfs,
            network: None,
            embedded: None,
            root,
        }
    }

    /// Spawns every member and waits until all are healthy (the startup timeout).
    pub(super) async fn spawn_all_and_wait(&self) -> Result<(), Error> {
        (0..self.len()).try_for_each(|i| self.spawn(i))?;
        self.wait_all_healthy(self.startup_timeout).await
    }

    /// Whether any member's log says a port was already in use.
    pub(super) fn port_conflict(&self) -> bool {
        self.procs.iter().any(|p| p.member.port_conflict())
    }
}

/// Binds a client and a peer proxy for each member, makes the members advertise them,
/// and starts serving them.
fn start_network(members: &mut [Member]) -> Result<Network, Error> {
    let mut upstreams = Vec::with_capacity(members.len());
    for member in members.iter_mut() {
        let listeners = Listeners::bind()?;
        let (client, peer) = listeners.ports()?;
        member.proxy_client_port = Some(client);
        member.proxy_peer_port = Some(peer);
        upstreams.push(Upstream {
            listeners,
            client_port: member.client_port,
            peer_port: member.peer_port,
            advertised_peer_url: member.peer_url(),
        });
    }
    Network::start(upstreams)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::binary;

    /// What `start()` relies on to retry: a member that loses its port to another process
    /// exits, and its log says so.
    #[tokio::test]
    async fn lost_port_is_detected() {
        let builder = ClusterBuilder::new().members(1);
        let bin = binary::resolve(None).unwrap();
        let root = Root::temp(true, 1).unwrap();
        let cluster = EtcdCluster::prepare(&builder, 1, bin, None, root).unwrap();
        let port = cluster.procs[0].member.client_port;
        let _taken = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        cluster.spawn(0).unwrap();
        let err = tokio::time::timeout(
            Duration::from_secs(30),
            cluster.wait_all_healthy(Duration::from_secs(20)),
        )
        .await
        .unwrap()
        .unwrap_err();
        assert!(matches!(err, Error::Exited { member: 0, .. }), "{err}");
        assert!(cluster.port_conflict(), "{err}");
        assert!(err.to_string().contains("address already in use"), "{err}");
    }
}
