//! Network faults, through the proxies of a cluster started with
//! [`ClusterBuilder::network_faults`](crate::ClusterBuilder::network_faults).
//!
//! Each call changes what the member's proxies do from now on: new connections at once,
//! existing ones as soon as their tasks are woken (within moments; the call itself does
//! not wait). Faults of one member stay until [`EtcdCluster::heal_member`] or
//! [`EtcdCluster::heal`]; a later call for the same member replaces the mode it sets
//! (client side, peer side) and keeps the rest.

use std::time::Duration;

use super::EtcdCluster;
use crate::Error;
use crate::proxy::{MemberFaults, Mode, Network};

impl EtcdCluster {
    /// Whether the cluster was started with [`ClusterBuilder::network_faults`](crate::ClusterBuilder::network_faults), so that the
    /// network fault methods work.
    pub fn has_network_faults(&self) -> bool {
        self.network.is_some()
    }

    /// Member `i`'s own client URL, bypassing its client proxy (the same as
    /// [`EtcdCluster::endpoint`] when the cluster has no proxies). Network faults do not
    /// apply to it.
    pub fn direct_endpoint(&self, i: usize) -> Result<String, Error> {
        if self.is_embedded() {
            return self.endpoint(i);
        }
        Ok(self.member(i)?.listen_client_url())
    }

    /// Clients can no longer reach member `i`: its client proxy closes every open
    /// connection and closes new ones as soon as they are accepted (a client sees its
    /// connection reset or closed, not a silent one). Its peers still reach it, so it
    /// stays in the cluster and keeps up with it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] without [`ClusterBuilder::network_faults`](crate::ClusterBuilder::network_faults);
    /// [`Error::NoSuchMember`] for a bad index.
    pub fn isolate_from_clients(&self, i: usize) -> Result<(), Error> {
        self.set_faults(i, |f| f.client = Mode::Refuse)
    }

    /// Cuts member `i` off from its peers in both directions: connections to its peer
    /// proxy, and the connections it dials to its peers' proxies, are closed, and new
    /// ones are closed as soon as they are accepted. It can neither send nor receive raft
    /// messages, so it loses leadership (etcd's check-quorum) or cannot win it, while the
    /// others, a majority in a cluster of three or more, go on. Clients still reach it;
    /// what it answers them is etcd's business (reads and writes that need the leader
    /// fail or hang until their deadline).
    ///
    /// # Errors
    ///
    /// As for [`EtcdCluster::isolate_from_clients`].
    pub fn partition(&self, i: usize) -> Result<(), Error> {
        self.set_faults(i, |f| f.peer = Mode::Refuse)
    }

    /// Member `i`'s links go silent, clients' and peers' alike: connections stay open and
    /// new ones are accepted, but nothing passes in either direction (what was sent waits
    /// in the proxy and in the kernel's buffers), like a network that drops every packet.
    /// Unlike a refusal, a client learns of it only from its own timeouts or keepalives.
    /// [`EtcdCluster::heal_member`] lets what waited through.
    ///
    /// # Errors
    ///
    /// As for [`EtcdCluster::isolate_from_clients`].
    pub fn blackhole(&self, i: usize) -> Result<(), Error> {
        self.set_faults(i, |f| {
            f.client = Mode::Blackhole;
            f.peer = Mode::Blackhole;
        })
    }

    /// Adds latency to every link of member `i` (its client proxy and its peer links):
    /// each chunk of bytes read is held `latency` plus a random extra, uniform in
    /// `[0, jitter)`, before it is passed on, in each direction. So a request and its
    /// answer take at least `2 × latency` more; a peer link between two delayed members
    /// adds both delays. Chunks of one connection keep their order, and a connection
    /// passes at most one chunk (16 KiB) per hold, so a bulk transfer slows down more.
    /// `Duration::ZERO` for both removes the delay.
    ///
    /// # Errors
    ///
    /// As for [`EtcdCluster::isolate_from_clients`].
    pub fn delay(&self, i: usize, latency: Duration, jitter: Duration) -> Result<(), Error> {
        self.set_faults(i, |f| {
            f.latency = latency;
            f.jitter = jitter;
        })
    }

    /// Clears every fault of member `i`: refusals and blackholes end, what was held in a
    /// blackhole goes through, delays stop. Connections that were closed stay closed;
    /// clients and peers dial again.
    ///
    /// # Errors
    ///
    /// As for [`EtcdCluster::isolate_from_clients`].
    pub fn heal_member(&self, i: usize) -> Result<(), Error> {
        self.set_faults(i, |f| *f = MemberFaults::default())
    }

    /// Clears every fault of every member; see [`EtcdCluster::heal_member`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] without [`ClusterBuilder::network_faults`](crate::ClusterBuilder::network_faults).
    pub fn heal(&self) -> Result<(), Error> {
        self.network()?.heal();
        Ok(())
    }

    fn set_faults(&self, i: usize, change: impl FnOnce(&mut MemberFaults)) -> Result<(), Error> {
        let network = self.network()?;
        self.member(i)?;
        network.update(i, change);
        Ok(())
    }

    fn network(&self) -> Result<&Network, Error> {
        if self.is_embedded() {
            return Err(Error::EmbeddedUnsupported {
                operation: "network faults",
            });
        }
        self.network.as_ref().ok_or_else(|| Error::InvalidConfig {
            reason:
                "network faults need a cluster started with ClusterBuilder::network_faults(true)"
                    .to_owned(),
        })
    }
}
