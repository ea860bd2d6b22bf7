//! Free loopback ports.
//!
//! A port is found by binding `127.0.0.1:0` and reading what the kernel chose; the listener
//! is dropped before etcd binds the port, so another process can grab it in between. The
//! cluster start handles that by retrying with new ports. Within this process, a port is
//! never handed out twice, so parallel tests of one test binary cannot collide.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

use crate::Error;

/// Every port this process has handed out.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// Returns `n` distinct free ports on 127.0.0.1, none handed out before by this process.
pub(crate) fn free_ports(n: usize) -> Result<Vec<u16>, Error> {
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // All listeners stay open until the end, so the kernel gives distinct ports.
    let mut listeners = Vec::with_capacity(n);
    let mut ports = Vec::with_capacity(n);
    let max_tries = n.saturating_mul(64).max(64);
    let mut tries = 0;
    while ports.len() < n {
        tries += 1;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::io("cannot bind a free port on 127.0.0.1", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("cannot read a bound port", e))?
            .port();
        // Past max_tries (an almost exhausted range), accept a port used before.
        if handed_out.insert(port) || tries > max_tries {
            ports.push(port);
        }
        listeners.push(listener);
    }
    Ok(ports)
}

/// Marks ports as handed out without checking that they are free: those of a kept cluster,
/// which must be the ones it had before.
pub(crate) fn reserve(ports: impl IntoIterator<Item = u16>) {
    HANDED_OUT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .extend(ports);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_never_reused() {
        let a = free_ports(6).unwrap();
        let b = free_ports(6).unwrap();
        let all: BTreeSet<u16> = a.iter().chain(b.iter()).copied().collect();
        assert_eq!(all.len(), 12);
        assert!(all.iter().all(|p| *p != 0));
    }

    #[test]
    fn reserved_ports_are_not_handed_out() {
        // Ports the kernel just gave out, so likely to come again.
        let probe: Vec<u16> = (0..8)
            .map(|_| {
                let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
                l.local_addr().unwrap().port()
            })
            .collect();
        reserve(probe.iter().copied());
        let got = free_ports(8).unwrap();
        assert!(got.iter().all(|p| !probe.contains(p)), "{got:?} {probe:?}");
    }
}
