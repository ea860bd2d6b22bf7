//! etcd's auth: users, roles and their key permissions ([`AuthStore`], plain data kept in
//! the server's `Core` so it can be persisted with the store), the simple tokens clients
//! authenticate with ([`tokens`]), password hashes ([`password`]), permission ranges
//! ([`perms`]) and the checks each request passes when auth is on ([`check`]).
//!
//! The rules and their order follow etcd 3.6 (`server/auth/store.go`): every successful
//! change of users, roles or permissions bumps the auth revision, and so does disabling
//! auth; enabling it does not. A fresh store is at auth revision 1, as etcd's is.

pub(crate) mod check;
mod codec;
pub(crate) mod password;
pub(crate) mod perms;
pub(crate) mod tokens;

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::error::EtcdError;
use crate::generated::authpb::Permission;
use password::PasswordHash;

/// The user, and the role, that may do everything; auth cannot be enabled without them.
pub(crate) const ROOT: &str = "root";

/// A user as etcd keeps it.
#[derive(Clone, Debug, Default)]
pub(crate) struct User {
    /// `None` for a user added with `no_password` (it cannot authenticate).
    pub(crate) password: Option<PasswordHash>,
    /// Sorted, without duplicates.
    pub(crate) roles: Vec<String>,
}

impl User {
    pub(crate) fn is_root(&self) -> bool {
        self.roles
            .binary_search_by(|r| r.as_str().cmp(ROOT))
            .is_ok()
    }
}

/// A role: its key permissions, sorted by key as etcd sorts them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Role {
    pub(crate) perms: Vec<Permission>,
}

/// Users, roles and whether auth is on: everything of auth a restart would keep.
#[derive(Clone, Debug)]
pub(crate) struct AuthStore {
    pub(crate) enabled: bool,
    pub(crate) revision: u64,
    pub(crate) users: BTreeMap<String, User>,
    pub(crate) roles: BTreeMap<String, Role>,
}

impl Default for AuthStore {
    fn default() -> Self {
        AuthStore {
            enabled: false,
            revision: 1,
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
        }
    }
}

/// A permission range etcd accepts: a key, and no range end, an open end (`"\0"`) or an
/// end past the key.
fn valid_range(key: &[u8], range_end: &[u8]) -> bool {
    !key.is_empty() && (range_end.is_empty() || range_end[0] == 0 || key < range_end)
}

impl AuthStore {
    fn bump(&mut self) {
        self.revision += 1;
    }

    fn user_mut(&mut self, name: &str) -> Result<&mut User, EtcdError> {
        self.users.get_mut(name).ok_or(EtcdError::UserNotFound)
    }

    /// Turns auth on (nothing to do if it is on).
    ///
    /// # Errors
    ///
    /// [`EtcdError::RootUserNotExist`], [`EtcdError::RootRoleNotExist`].
    pub(crate) fn enable(&mut self) -> Result<(), EtcdError> {
        if self.enabled {
            return Ok(());
        }
        let root = self.users.get(ROOT).ok_or(EtcdError::RootUserNotExist)?;
        if !root.is_root() {
            return Err(EtcdError::RootRoleNotExist);
        }
        // etcd does not bump the revision here.
        self.enabled = true;
        Ok(())
    }

    /// Turns auth off; true if it was on (the caller then forgets every token).
    pub(crate) fn disable(&mut self) -> bool {
        if !self.enabled {
            return false;
        }
        self.enabled = false;
        self.bump();
        true
    }

    /// Adds a user with its password's hash (`None`: a user without a password).
    ///
    /// # Errors
    ///
    /// [`EtcdError::UserEmpty`], [`EtcdError::UserAlreadyExist`].
    pub(crate) fn user_add(
        &mut self,
        name: &str,
        password: Option<PasswordHash>,
    ) -> Result<(), EtcdError> {
        if name.is_empty() {
            return Err(EtcdError::UserEmpty);
        }
        if self.users.contains_key(name) {
            return Err(EtcdError::UserAlreadyExist);
        }
        self.users.insert(
            name.to_owned(),
            User {
                password,
                roles: Vec::new(),
            },
        );
        self.bump();
        Ok(())
    }

    /// Deletes a user (the caller forgets its tokens).
    ///
    /// # Errors
    ///
    /// [`EtcdError::InvalidAuthMgmt`] for root while auth is on, [`EtcdError::UserNotFound`].
    pub(crate) fn user_delete(&mut self, name: &str) -> Result<(), EtcdError> {
        if self.enabled && name == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        self.users.remove(name).ok_or(EtcdError::UserNotFound)?;
        self.bump();
        Ok(())
    }

    /// Sets a user's password. A user without a password keeps none, as in etcd.
    ///
    /// # Errors
    ///
    /// [`EtcdError::UserNotFound`].
    pub(crate) fn user_change_password(
        &mut self,
        name: &str,
        password: PasswordHash,
    ) -> Result<(), EtcdError> {
        let user = self.user_mut(name)?;
        if user.password.is_some() {
            user.password = Some(password);
        }
        self.bump();
        Ok(())
    }

    /// Grants a role to a user; `root` needs no role add first. Granting a role the user
    /// has changes nothing (and bumps nothing).
    ///
    /// # Errors
    ///
    /// [`EtcdError::UserNotFound`], [`EtcdError::RoleNotFound`].
    pub(crate) fn user_grant_role(&mut self, name: &str, role: &str) -> Result<(), EtcdError> {
        if !self.users.contains_key(name) {
            return Err(EtcdError::UserNotFound);
        }
        if role != ROOT && !self.roles.contains_key(role) {
            return Err(EtcdError::RoleNotFound);
        }
        let user = self.user_mut(name)?;
        let Err(at) = user.roles.binary_search_by(|r| r.as_str().cmp(role)) else {
            return Ok(());
        };
        user.roles.insert(at, role.to_owned());
        self.bump();
        Ok(())
    }

    /// Revokes a role from a user.
    ///
    /// # Errors
    ///
    /// [`EtcdError::InvalidAuthMgmt`] for root's root role while auth is on,
    /// [`EtcdError::UserNotFound`], [`EtcdError::RoleNotGranted`].
    pub(crate) fn user_revoke_role(&mut self, name: &str, role: &str) -> Result<(), EtcdError> {
        if self.enabled && name == ROOT && role == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        let user = self.user_mut(name)?;
        let before = user.roles.len();
        user.roles.retain(|r| r != role);
        if user.roles.len() == before {
            return Err(EtcdError::RoleNotGranted);
        }
        self.bump();
        Ok(())
    }

    /// A user's roles.
    ///
    /// # Errors
    ///
    /// [`EtcdError::UserNotFound`].
    pub(crate) fn user_get(&self, name: &str) -> Result<Vec<String>, EtcdError> {
        self.users
            .get(name)
            .map(|u| u.roles.clone())
            .ok_or(EtcdError::UserNotFound)
    }

    /// Adds a role without permissions.
    ///
    /// # Errors
    ///
    /// [`EtcdError::RoleEmpty`], [`EtcdError::RoleAlreadyExist`].
    pub(crate) fn role_add(&mut self, name: &str) -> Result<(), EtcdError> {
        if name.is_empty() {
            return Err(EtcdError::RoleEmpty);
        }
        if self.roles.contains_key(name) {
            return Err(EtcdError::RoleAlreadyExist);
        }
        self.roles.insert(name.to_owned(), Role::default());
        self.bump();
        Ok(())
    }

    /// Deletes a role and takes it from every user who had it.
    ///
    /// # Errors
    ///
    /// [`EtcdError::InvalidAuthMgmt`] for the root role while auth is on,
    /// [`EtcdError::RoleNotFound`].
    pub(crate) fn role_delete(&mut self, name: &str) -> Result<(), EtcdError> {
        if self.enabled && name == ROOT {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        self.roles.remove(name).ok_or(EtcdError::RoleNotFound)?;
        for user in self.users.values_mut() {
            user.roles.retain(|r| r != name);
        }
        self.bump();
        Ok(())
    }

    /// A role's permissions; the root role (once added) shows etcd's "everything":
    /// read-write from the empty key on.
    ///
    /// # Errors
    ///
    /// [`EtcdError::RoleNotFound`].
    pub(crate) fn role_get(&self, name: &str) -> Result<Vec<Permission>, EtcdError> {
        let role = self.roles.get(name).ok_or(EtcdError::RoleNotFound)?;
        if name == ROOT {
            return Ok(vec![Permission {
                perm_type: crate::generated::authpb::permission::Type::Readwrite as i32,
                key: Bytes::new(),
                range_end: Bytes::from_static(b"\0"),
            }]);
        }
        Ok(role.perms.clone())
    }

    /// Grants a permission to a role: the same key and range end again replaces its
    /// type, a new one is kept in key order.
    ///
    /// # Errors
    ///
    /// [`EtcdError::PermissionNotGiven`], [`EtcdError::InvalidAuthMgmt`] for an empty key
    /// or a range end not past the key, [`EtcdError::RoleNotFound`].
    pub(crate) fn role_grant_permission(
        &mut self,
        name: &str,
        perm: Option<Permission>,
    ) -> Result<(), EtcdError> {
        let perm = perm.ok_or(EtcdError::PermissionNotGiven)?;
        if !valid_range(&perm.key, &perm.range_end) {
            return Err(EtcdError::InvalidAuthMgmt);
        }
        let role = self.roles.get_mut(name).ok_or(EtcdError::RoleNotFound)?;
        if let Some(same) = role
            .perms
            .iter_mut()
            .find(|p| p.key == perm.key && p.range_end == perm.range_end)
        {
            same.perm_type = perm.perm_type;
        } else {
            // In key order, after any with the same key. etcd appends and sorts by key
            // with an unstable sort, so two permissions on one key (different range
            // ends) may list in the other order there.
            let at = role.perms.partition_point(|p| p.key <= perm.key);
            role.perms.insert(at, perm);
        }
        self.bump();
        Ok(())
    }

    /// Revokes the permission with exactly this key and range end from a role.
    ///
    /// # Errors
    ///
    /// [`EtcdError::RoleNotFound`], [`EtcdError::PermissionNotGranted`].
    pub(crate) fn role_revoke_permission(
        &mut self,
        name: &str,
        key: &[u8],
        range_end: &[u8],
    ) -> Result<(), EtcdError> {
        let role = self.roles.get_mut(name).ok_or(EtcdError::RoleNotFound)?;
        let before = role.perms.len();
        role.perms
            .retain(|p| !(p.key.as_ref() == key && p.range_end.as_ref() == range_end));
        if role.perms.len() == before {
            return Err(EtcdError::PermissionNotGranted);
        }
        self.bump();
        Ok(())
    }

    /// Checks a user's password for Authenticate.
    ///
    /// # Errors
    ///
    /// [`EtcdError::AuthNotEnabled`], [`EtcdError::AuthFailed`] (no such user, wrong
    /// password), [`EtcdError::NoPasswordUser`].
    pub(crate) fn check_password(&self, name: &str, password: &str) -> Result<(), EtcdError> {
        if !self.enabled {
            return Err(EtcdError::AuthNotEnabled);
        }
        let user = self.users.get(name).ok_or(EtcdError::AuthFailed)?;
        let hash = user.password.as_ref().ok_or(EtcdError::NoPasswordUser)?;
        if hash.matches(password) {
            Ok(())
        } else {
            Err(EtcdError::AuthFailed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(p: &str) -> Option<PasswordHash> {
        PasswordHash::new(p)
    }

    #[test]
    fn enabling_needs_root_with_the_root_role_and_does_not_bump() {
        let mut a = AuthStore::default();
        assert_eq!(a.enable(), Err(EtcdError::RootUserNotExist));
        assert_eq!(a.user_add("root", hash("pw")), Ok(()));
        assert_eq!(a.enable(), Err(EtcdError::RootRoleNotExist));
        assert_eq!(a.user_grant_role("root", ROOT), Ok(()));
        assert_eq!(a.revision, 3);
        assert_eq!(a.enable(), Ok(()));
        assert_eq!(a.revision, 3);
        assert_eq!(
            a.user_revoke_role("root", ROOT),
            Err(EtcdError::InvalidAuthMgmt)
        );
        assert_eq!(a.user_delete("root"), Err(EtcdError::InvalidAuthMgmt));
        assert!(a.disable());
        assert_eq!(a.revision, 4);
        assert!(!a.disable());
    }

    #[test]
    fn permissions_are_kept_in_key_order_and_replaced_by_key_and_end() {
        let mut a = AuthStore::default();
        a.role_add("r").ok();
        let p = |t: i32, k: &'static [u8], e: &'static [u8]| Permission {
            perm_type: t,
            key: Bytes::from_static(k),
            range_end: Bytes::from_static(e),
        };
        for perm in [p(0, b"k", b""), p(2, b"/a/", b"/a0"), p(1, b"/z", b"\0")] {
            assert_eq!(a.role_grant_permission("r", Some(perm)), Ok(()));
        }
        assert_eq!(a.role_grant_permission("r", Some(p(1, b"k", b""))), Ok(()));
        let keys: Vec<_> = a.role_get("r").unwrap_or_default();
        let shown: Vec<_> = keys.iter().map(|p| (p.key.clone(), p.perm_type)).collect();
        assert_eq!(
            shown,
            [
                (Bytes::from_static(b"/a/"), 2),
                (Bytes::from_static(b"/z"), 1),
                (Bytes::from_static(b"k"), 1)
            ]
        );
        assert_eq!(
            a.role_grant_permission("r", Some(p(0, b"/q", b"/a"))),
            Err(EtcdError::InvalidAuthMgmt)
        );
        assert_eq!(
            a.role_revoke_permission("r", b"/nope", b""),
            Err(EtcdError::PermissionNotGranted)
        );
    }
}
