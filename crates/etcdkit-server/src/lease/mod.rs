//! Leases: TTLs, the keys attached to each, and which expire when. No I/O here; the
//! server's expiry task ([`crate::core`]) asks [`Lessor::next_expiry`] when to wake.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use tokio::time::{Duration, Instant};

use crate::error::EtcdError;

/// The longest TTL etcd accepts (`MaxLeaseTTL`, 9,000,000,000 s).
pub(crate) const MAX_TTL: i64 = 9_000_000_000;

#[derive(Debug)]
struct Lease {
    ttl: i64,
    expiry: Instant,
    keys: BTreeSet<Bytes>,
}

/// Every lease the server has granted and not yet revoked.
#[derive(Debug)]
pub(crate) struct Lessor {
    leases: HashMap<i64, Lease>,
    /// The next automatically chosen ID, to try.
    next_id: i64,
    /// Shorter TTLs are granted this (seconds).
    min_ttl: i64,
}

impl Lessor {
    /// A lessor whose automatic IDs start from a value built like etcd's request IDs (the
    /// member's low 16 bits, then the time), so they look like etcd's and differ between
    /// servers started at different times.
    pub(crate) fn new(member_id: u64, min_ttl: i64) -> Self {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let low_time = u64::try_from(millis & 0xff_ffff_ffff).unwrap_or(0);
        let seed = ((member_id & 0xffff) << 48) | (low_time << 8);
        Lessor {
            leases: HashMap::new(),
            next_id: i64::try_from(seed & (i64::MAX as u64)).unwrap_or(1).max(1),
            min_ttl,
        }
    }

    /// The keys attached to a lease (none for an unknown one).
    pub(crate) fn keys(&self, id: i64) -> Vec<Bytes> {
        self.leases
            .get(&id)
            .map(|l| l.keys.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn exists(&self, id: i64) -> bool {
        self.leases.contains_key(&id)
    }

    /// Grants a lease: `id` 0 picks one. Returns the ID and the TTL granted.
    ///
    /// # Errors
    ///
    /// [`EtcdError::LeaseTtlTooLarge`], [`EtcdError::LeaseExist`].
    pub(crate) fn grant(
        &mut self,
        id: i64,
        ttl: i64,
        now: Instant,
    ) -> Result<(i64, i64), EtcdError> {
        if ttl > MAX_TTL {
            return Err(EtcdError::LeaseTtlTooLarge);
        }
        let id = if id == 0 {
            while self.next_id == 0 || self.leases.contains_key(&self.next_id) {
                self.next_id = self.next_id.wrapping_add(1) & i64::MAX;
            }
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1) & i64::MAX;
            id
        } else if self.leases.contains_key(&id) {
            return Err(EtcdError::LeaseExist);
        } else {
            id
        };
        let ttl = ttl.max(self.min_ttl);
        self.restore(id, ttl, now);
        Ok((id, ttl))
    }

    /// Puts back a lease read from the data directory, with its full TTL from `now` (what
    /// etcd's lessor does for every lease when its member becomes leader after a restart);
    /// a grant's new lease starts the same way, with no keys.
    pub(crate) fn restore(&mut self, id: i64, ttl: i64, now: Instant) {
        self.leases.insert(
            id,
            Lease {
                ttl,
                expiry: now + secs(ttl),
                keys: BTreeSet::new(),
            },
        );
    }

    /// Removes a lease; returns its keys, sorted (etcd deletes them in that order).
    ///
    /// # Errors
    ///
    /// [`EtcdError::LeaseNotFound`].
    pub(crate) fn revoke(&mut self, id: i64) -> Result<Vec<Bytes>, EtcdError> {
        let lease = self.leases.remove(&id).ok_or(EtcdError::LeaseNotFound)?;
        Ok(lease.keys.into_iter().collect())
    }

    /// Renews a lease for its TTL from `now`; returns the TTL, or `None` for an unknown
    /// (or already expired) lease.
    pub(crate) fn renew(&mut self, id: i64, now: Instant) -> Option<i64> {
        let lease = self.leases.get_mut(&id)?;
        if lease.expiry <= now {
            return None;
        }
        lease.expiry = now + secs(lease.ttl);
        Some(lease.ttl)
    }

    /// Remaining whole seconds, granted TTL, and keys (sorted) of a lease.
    pub(crate) fn time_to_live(&self, id: i64, now: Instant) -> Option<(i64, i64, Vec<Bytes>)> {
        let lease = self.leases.get(&id)?;
        let remaining = lease.expiry.saturating_duration_since(now).as_secs();
        Some((
            i64::try_from(remaining).unwrap_or(i64::MAX),
            lease.ttl,
            lease.keys.iter().cloned().collect(),
        ))
    }

    /// Every lease ID, ascending.
    pub(crate) fn ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.leases.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    pub(crate) fn attach(&mut self, id: i64, key: &Bytes) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.insert(key.clone());
        }
    }

    pub(crate) fn detach(&mut self, id: i64, key: &Bytes) {
        if let Some(lease) = self.leases.get_mut(&id) {
            lease.keys.remove(key);
        }
    }

    /// The leases whose time is up at `now`, soonest first.
    pub(crate) fn expired(&self, now: Instant) -> Vec<i64> {
        let mut due: Vec<(Instant, i64)> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expiry <= now)
            .map(|(id, l)| (l.expiry, *id))
            .collect();
        due.sort_unstable();
        due.into_iter().map(|(_, id)| id).collect()
    }

    /// When the next lease expires, if any lease exists.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.leases.values().map(|l| l.expiry).min()
    }
}

fn secs(ttl: i64) -> Duration {
    Duration::from_secs(u64::try_from(ttl).unwrap_or(0))
}
