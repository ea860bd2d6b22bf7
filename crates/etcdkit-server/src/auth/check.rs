//! The checks a request passes while auth is on, in etcd's words: who is asking (the
//! `token` gRPC metadata), and whether that user's roles allow the keys the request reads
//! or writes, or, for admin calls, whether the user has the root role.

use bytes::Bytes;
use tokio::time::Instant;
use tonic::metadata::MetadataMap;

use super::AuthStore;
use super::perms::{Access, covers};
use crate::core::Core;
use crate::error::EtcdError;
use crate::generated::etcdserverpb::TxnRequest;
use crate::generated::etcdserverpb::request_op::Request;

/// Who sent a request, as far as auth cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    /// Auth is off: everything is allowed, tokens are not looked at.
    Open,
    /// Auth is on and the request carries no token.
    Anonymous,
    /// The user a valid token names.
    User(String),
}

/// The token a request carries: etcd reads the `token` metadata key (and `authorization`
/// from its gRPC gateway).
pub(crate) fn token(meta: &MetadataMap) -> Option<String> {
    meta.get("token")
        .or_else(|| meta.get("authorization"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl Core {
    /// Who `token` belongs to; using a token extends its life.
    ///
    /// # Errors
    ///
    /// [`EtcdError::InvalidAuthToken`] for a token this server does not know (any more),
    /// only while auth is on.
    pub(crate) fn caller(&mut self, token: Option<&str>) -> Result<Caller, EtcdError> {
        if !self.auth.enabled {
            return Ok(Caller::Open);
        }
        match token {
            None => Ok(Caller::Anonymous),
            Some(t) => self
                .tokens
                .user(t, Instant::now())
                .map(Caller::User)
                .ok_or(EtcdError::InvalidAuthToken),
        }
    }
}

impl Core {
    /// [`Core::caller`] for a request any user may make but nobody anonymous: with auth on,
    /// etcd 3.6 refuses every request without a token (status, alarms and the member list
    /// too: checked against 3.6.16).
    ///
    /// # Errors
    ///
    /// [`EtcdError::UserEmpty`] without a token while auth is on; as [`Core::caller`].
    pub(crate) fn user(&mut self, token: Option<&str>) -> Result<Caller, EtcdError> {
        match self.caller(token)? {
            Caller::Anonymous => Err(EtcdError::UserEmpty),
            caller => Ok(caller),
        }
    }

    /// The checks of the lock and election services, which etcd runs as its client
    /// recipes over KV with the caller's token: each `(access, key, range_end)` in the
    /// order the recipe's requests need them. Their errors come back as the recipes'
    /// plain errors: gRPC `UNKNOWN` with etcd's words (checked against etcd 3.6.16).
    ///
    /// # Errors
    ///
    /// As [`Core::caller`] and [`AuthStore::check`], as gRPC `UNKNOWN`.
    pub(crate) fn check_recipe(
        &mut self,
        token: Option<&str>,
        needs: &[(Access, &[u8], &[u8])],
    ) -> Result<(), tonic::Status> {
        let unknown = |e: EtcdError| tonic::Status::unknown(e.message());
        let caller = self.caller(token).map_err(unknown)?;
        for (access, key, end) in needs {
            self.auth
                .check(&caller, *access, key, end)
                .map_err(unknown)?;
        }
        Ok(())
    }
}

impl AuthStore {
    /// Whether `caller` may read or write `key` (to `range_end`).
    ///
    /// # Errors
    ///
    /// [`EtcdError::UserEmpty`] without a token, [`EtcdError::PermissionDenied`] (also
    /// for a token whose user was deleted since, as in etcd).
    pub(crate) fn check(
        &self,
        caller: &Caller,
        access: Access,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        let name = match caller {
            Caller::Open => return Ok(()),
            Caller::Anonymous => return Err(EtcdError::UserEmpty),
            Caller::User(name) => name,
        };
        let user = self.users.get(name).ok_or(EtcdError::PermissionDenied)?;
        if user.is_root() {
            return Ok(());
        }
        let perms = user
            .roles
            .iter()
            .filter_map(|r| self.roles.get(r))
            .flat_map(|r| r.perms.iter());
        if covers(perms, access, key, range_end) {
            Ok(())
        } else {
            Err(EtcdError::PermissionDenied)
        }
    }

    /// Whether `caller` may make an admin call (etcd's `IsAdminPermitted`).
    ///
    /// # Errors
    ///
    /// [`EtcdError::UserEmpty`], [`EtcdError::UserNotFound`],
    /// [`EtcdError::PermissionDenied`] for a user without the root role.
    pub(crate) fn check_admin(&self, caller: &Caller) -> Result<(), EtcdError> {
        let name = match caller {
            Caller::Open => return Ok(()),
            Caller::Anonymous => return Err(EtcdError::UserEmpty),
            Caller::User(name) => name,
        };
        let user = self.users.get(name).ok_or(EtcdError::UserNotFound)?;
        if user.is_root() {
            Ok(())
        } else {
            Err(EtcdError::PermissionDenied)
        }
    }

    /// A txn's checks, in etcd's order: every compare needs read, then each branch's ops
    /// (success first, nested txns in place): a range read, a put write, a delete write
    /// (and read too with `prev_kv`).
    ///
    /// # Errors
    ///
    /// As [`AuthStore::check`].
    pub(crate) fn check_txn(&self, caller: &Caller, txn: &TxnRequest) -> Result<(), EtcdError> {
        if *caller == Caller::Open {
            return Ok(());
        }
        for c in &txn.compare {
            self.check(caller, Access::Read, &c.key, &c.range_end)?;
        }
        for op in txn.success.iter().chain(&txn.failure) {
            match &op.request {
                Some(Request::RequestRange(r)) => {
                    self.check(caller, Access::Read, &r.key, &r.range_end)?;
                }
                Some(Request::RequestPut(p)) => {
                    self.check(caller, Access::Write, &p.key, &[])?;
                }
                Some(Request::RequestDeleteRange(d)) => {
                    if d.prev_kv {
                        self.check(caller, Access::Read, &d.key, &d.range_end)?;
                    }
                    self.check(caller, Access::Write, &d.key, &d.range_end)?;
                }
                Some(Request::RequestTxn(t)) => self.check_txn(caller, t)?,
                None => {}
            }
        }
        Ok(())
    }

    /// Whether `caller` may write every key of a lease: what revoking it, or attaching
    /// a new key to it, needs in etcd (an admin passes at once).
    ///
    /// # Errors
    ///
    /// As [`AuthStore::check`].
    pub(crate) fn check_lease_keys(
        &self,
        caller: &Caller,
        keys: &[Bytes],
    ) -> Result<(), EtcdError> {
        if self.check_admin(caller).is_ok() {
            return Ok(());
        }
        for key in keys {
            self.check(caller, Access::Write, key, &[])?;
        }
        Ok(())
    }
}
