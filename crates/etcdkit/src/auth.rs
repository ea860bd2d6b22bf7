//! Auth administration: enable and disable auth, users, roles and their permissions.
//!
//! To *use* auth, give the client a user and password
//! ([`ClientOptions::auth`](crate::ClientOptions::auth)), or a token fetched once with
//! [`Auth::authenticate`] ([`ClientOptions::token`](crate::ClientOptions::token)); the rest
//! of this module changes who may do what.

use bytes::Bytes;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::generated::{authpb, etcdserverpb as pb};
use crate::key_range::KeyRange;
use crate::transport::Call;
use crate::types::ResponseHeader;

/// The auth administration API of a [`Client`].
#[derive(Clone, Debug)]
pub struct Auth {
    pub(crate) client: Client,
}

/// An auth token, as [`Auth::authenticate`] returns it: a bearer secret, so its `Debug`
/// output hides it. [`secret`](AuthToken::secret) shows it, and it converts into the
/// `String` that [`ClientOptions::token`](crate::ClientOptions::token) takes.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthToken(String);

impl AuthToken {
    /// The token itself, to store or to pass to another process.
    pub fn secret(&self) -> &str {
        &self.0
    }

    /// Takes the token itself.
    pub fn into_secret(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for AuthToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthToken(<hidden>)")
    }
}

impl From<AuthToken> for String {
    fn from(token: AuthToken) -> String {
        token.0
    }
}

/// What a permission allows.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PermissionType {
    /// Reads.
    Read,
    /// Writes.
    Write,
    /// Reads and writes.
    ReadWrite,
}

/// A role's permission over a key, a range or a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    kind: PermissionType,
    key: Bytes,
    range_end: Bytes,
}

impl Permission {
    /// A permission over one key.
    pub fn new(kind: PermissionType, key: impl Into<Bytes>) -> Self {
        Permission {
            kind,
            key: key.into(),
            range_end: Bytes::new(),
        }
    }

    /// A permission over the keys of `range`.
    pub fn over(kind: PermissionType, range: KeyRange) -> Self {
        let (key, range_end) = range.into_parts();
        Permission {
            kind,
            key,
            range_end,
        }
    }

    /// The keys the permission covers.
    pub fn range(&self) -> KeyRange {
        KeyRange::range(self.key.clone(), self.range_end.clone())
    }

    /// Read access to one key.
    pub fn read(key: impl Into<Bytes>) -> Self {
        Permission::new(PermissionType::Read, key)
    }

    /// Write access to one key.
    pub fn write(key: impl Into<Bytes>) -> Self {
        Permission::new(PermissionType::Write, key)
    }

    /// Read and write access to one key.
    pub fn read_write(key: impl Into<Bytes>) -> Self {
        Permission::new(PermissionType::ReadWrite, key)
    }

    /// Extends the permission to `[key, end)`.
    pub fn range_end(mut self, end: impl Into<Bytes>) -> Self {
        let end = end.into();
        KeyRange::update(&mut self.key, &mut self.range_end, |r| r.with_end(end));
        self
    }

    /// Extends the permission to every key that starts with the key (every key, when
    /// the key is empty).
    pub fn prefix(mut self) -> Self {
        KeyRange::update(&mut self.key, &mut self.range_end, KeyRange::into_prefix);
        self
    }

    /// What the permission allows.
    pub fn kind(&self) -> PermissionType {
        self.kind
    }

    /// The key (or the range's start).
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The range's end (empty for one key).
    pub fn range_end_key(&self) -> &Bytes {
        &self.range_end
    }

    fn to_pb(&self) -> authpb::Permission {
        let kind = match self.kind {
            PermissionType::Read => authpb::permission::Type::Read,
            PermissionType::Write => authpb::permission::Type::Write,
            PermissionType::ReadWrite => authpb::permission::Type::Readwrite,
        };
        authpb::Permission {
            perm_type: kind as i32,
            key: self.key.clone(),
            range_end: self.range_end.clone(),
        }
    }

    fn from_pb(p: authpb::Permission) -> Self {
        let kind = match authpb::permission::Type::try_from(p.perm_type) {
            Ok(authpb::permission::Type::Write) => PermissionType::Write,
            Ok(authpb::permission::Type::Readwrite) => PermissionType::ReadWrite,
            _ => PermissionType::Read,
        };
        Permission {
            kind,
            key: p.key,
            range_end: p.range_end,
        }
    }
}

/// Whether auth is enabled, and the auth store's revision.
#[derive(Debug, Clone)]
pub struct AuthStatus {
    /// The response header.
    pub header: ResponseHeader,
    /// Whether auth is enabled.
    pub enabled: bool,
    /// The auth store's revision: it grows with every change to users and roles.
    pub auth_revision: u64,
}

impl Auth {
    fn call(op: &'static str) -> Call {
        // Auth writes are not safe to repeat blindly (an add would fail as a duplicate),
        // so they follow the write policy; reads follow the read policy.
        Call::not_idempotent(op, None)
    }

    /// Authenticates as `user` and returns the token the server issued, without the
    /// client keeping it: an application can save it and hand it later to another client
    /// as its preset token ([`ClientOptions::token`](crate::ClientOptions::token)). The
    /// token expires as the server's `--auth-token` setting says (a simple token after
    /// `--auth-token-ttl` of disuse); a client given only the token cannot renew it.
    ///
    /// ```no_run
    /// # async fn f(client: etcdkit::Client) -> etcdkit::Result<()> {
    /// let token = client.auth().authenticate("alice", "secret").await?;
    /// let as_alice = etcdkit::ClientOptions::new(["127.0.0.1:2379"])
    ///     .token(token)
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty user name (before sending);
    /// [`ErrorKind::AuthFailed`] for a wrong user name or password;
    /// [`ErrorKind::AuthNotEnabled`] when auth is not enabled; [`ErrorKind::Protocol`] when
    /// the server's token cannot go in a gRPC header; the call's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn authenticate(&self, user: &str, password: &str) -> Result<AuthToken> {
        const OP: &str = "auth.authenticate";
        if user.is_empty() {
            return Err(
                Error::new(ErrorKind::InvalidArgument, "a user name must not be empty")
                    .with_operation(OP),
            );
        }
        let request = pb::AuthenticateRequest {
            name: user.to_string(),
            password: password.to_string(),
        };
        // Its own credentials are the point of the call: it carries no token, so that a
        // client with an expired or foreign token can still authenticate.
        let mut call = Call::idempotent(OP, None);
        call.with_token = false;
        let r = self.client.transport().authenticate(call, request).await?;
        if http::HeaderValue::from_str(&r.token).is_err() {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the auth token has characters that cannot go in a gRPC header",
            )
            .with_operation(OP));
        }
        Ok(AuthToken(r.token))
    }

    /// Enables auth (a `root` user with the `root` role must exist).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AuthNotEnabled`] when there is no `root` user with the `root` role; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a
    /// write cut short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn enable(&self) -> Result<ResponseHeader> {
        let r = self
            .client
            .transport()
            .auth_enable(Self::call("auth.enable"), pb::AuthEnableRequest {})
            .await?;
        Ok(r.header.into())
    }

    /// Disables auth.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`] for a caller that is not root; the call's own
    /// failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a write cut
    /// short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn disable(&self) -> Result<ResponseHeader> {
        let r = self
            .client
            .transport()
            .auth_disable(Self::call("auth.disable"), pb::AuthDisableRequest {})
            .await?;
        Ok(r.header.into())
    }

    /// Whether auth is enabled, and the auth revision.
    ///
    /// # Errors
    ///
    /// the call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn status(&self) -> Result<AuthStatus> {
        let r = self
            .client
            .transport()
            .auth_status(
                Call::idempotent("auth.status", None),
                pb::AuthStatusRequest {},
            )
            .await?;
        Ok(AuthStatus {
            header: r.header.into(),
            enabled: r.enabled,
            auth_revision: r.auth_revision,
        })
    }

    /// Adds a user with a password.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty name (before sending);
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::PermissionDenied`]; the call's own
    /// failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a write cut
    /// short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn user_add(&self, name: &str, password: &str) -> Result<ResponseHeader> {
        self.add_user(name, password, false).await
    }

    /// Adds a user that cannot log in with a password (for certificate authentication).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidArgument`] for an empty name (before sending);
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::PermissionDenied`]; the call's own
    /// failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a write cut
    /// short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn user_add_without_password(&self, name: &str) -> Result<ResponseHeader> {
        self.add_user(name, "", true).await
    }

    async fn add_user(
        &self,
        name: &str,
        password: &str,
        no_password: bool,
    ) -> Result<ResponseHeader> {
        if name.is_empty() {
            // etcd's answer to an empty name is the one it gives a call without a token,
            // which the client would take for an expired token.
            return Err(
                Error::new(ErrorKind::InvalidArgument, "a user name must not be empty")
                    .with_operation("auth.user_add"),
            );
        }
        let request = pb::AuthUserAddRequest {
            name: name.to_string(),
            password: password.to_string(),
            options: Some(authpb::UserAddOptions { no_password }),
            hashed_password: String::new(),
        };
        let r = self
            .client
            .transport()
            .user_add(Self::call("auth.user_add"), request)
            .await?;
        Ok(r.header.into())
    }

    /// Deletes a user.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown user; [`ErrorKind::PermissionDenied`]; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a
    /// write cut short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn user_delete(&self, name: &str) -> Result<ResponseHeader> {
        let request = pb::AuthUserDeleteRequest {
            name: name.to_string(),
        };
        let r = self
            .client
            .transport()
            .user_delete(Self::call("auth.user_delete"), request)
            .await?;
        Ok(r.header.into())
    }

    /// The roles of a user.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown user; [`ErrorKind::PermissionDenied`]; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn user_get(&self, name: &str) -> Result<Vec<String>> {
        let request = pb::AuthUserGetRequest {
            name: name.to_string(),
        };
        let r = self
            .client
            .transport()
            .user_get(Call::idempotent("auth.user_get", None), request)
            .await?;
        Ok(r.roles)
    }

    /// Every user.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`]; the call's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn user_list(&self) -> Result<Vec<String>> {
        let r = self
            .client
            .transport()
            .user_list(
                Call::idempotent("auth.user_list", None),
                pb::AuthUserListRequest {},
            )
            .await?;
        Ok(r.users)
    }

    /// Changes a user's password.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown user; [`ErrorKind::PermissionDenied`]; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a
    /// write cut short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn user_change_password(&self, name: &str, password: &str) -> Result<ResponseHeader> {
        let request = pb::AuthUserChangePasswordRequest {
            name: name.to_string(),
            password: password.to_string(),
            hashed_password: String::new(),
        };
        let r = self
            .client
            .transport()
            .user_change_password(Self::call("auth.user_change_password"), request)
            .await?;
        Ok(r.header.into())
    }

    /// Grants a role to a user.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown user or role;
    /// [`ErrorKind::PermissionDenied`]; the call's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a write cut short may
    /// fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn user_grant_role(&self, user: &str, role: &str) -> Result<ResponseHeader> {
        let request = pb::AuthUserGrantRoleRequest {
            user: user.to_string(),
            role: role.to_string(),
        };
        let r = self
            .client
            .transport()
            .user_grant_role(Self::call("auth.user_grant_role"), request)
            .await?;
        Ok(r.header.into())
    }

    /// Revokes a role from a user.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown user or a role not granted;
    /// [`ErrorKind::PermissionDenied`]; the call's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a write cut short may
    /// fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn user_revoke_role(&self, user: &str, role: &str) -> Result<ResponseHeader> {
        let request = pb::AuthUserRevokeRoleRequest {
            name: user.to_string(),
            role: role.to_string(),
        };
        let r = self
            .client
            .transport()
            .user_revoke_role(Self::call("auth.user_revoke_role"), request)
            .await?;
        Ok(r.header.into())
    }

    /// Adds a role.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::AlreadyExists`]; [`ErrorKind::PermissionDenied`]; the call's own
    /// failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a write cut
    /// short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn role_add(&self, name: &str) -> Result<ResponseHeader> {
        let request = pb::AuthRoleAddRequest {
            name: name.to_string(),
        };
        let r = self
            .client
            .transport()
            .role_add(Self::call("auth.role_add"), request)
            .await?;
        Ok(r.header.into())
    }

    /// Deletes a role.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown role; [`ErrorKind::PermissionDenied`]; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a
    /// write cut short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn role_delete(&self, name: &str) -> Result<ResponseHeader> {
        let request = pb::AuthRoleDeleteRequest {
            role: name.to_string(),
        };
        let r = self
            .client
            .transport()
            .role_delete(Self::call("auth.role_delete"), request)
            .await?;
        Ok(r.header.into())
    }

    /// A role's permissions.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown role; [`ErrorKind::PermissionDenied`]; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn role_get(&self, name: &str) -> Result<Vec<Permission>> {
        let request = pb::AuthRoleGetRequest {
            role: name.to_string(),
        };
        let r = self
            .client
            .transport()
            .role_get(Call::idempotent("auth.role_get", None), request)
            .await?;
        Ok(r.perm.into_iter().map(Permission::from_pb).collect())
    }

    /// Every role.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PermissionDenied`]; the call's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...).
    pub async fn role_list(&self) -> Result<Vec<String>> {
        let r = self
            .client
            .transport()
            .role_list(
                Call::idempotent("auth.role_list", None),
                pb::AuthRoleListRequest {},
            )
            .await?;
        Ok(r.roles)
    }

    /// Grants a permission to a role.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown role; [`ErrorKind::PermissionDenied`]; the
    /// call's own failures ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a
    /// write cut short may fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn role_grant_permission(
        &self,
        role: &str,
        permission: Permission,
    ) -> Result<ResponseHeader> {
        let request = pb::AuthRoleGrantPermissionRequest {
            name: role.to_string(),
            perm: Some(permission.to_pb()),
        };
        let r = self
            .client
            .transport()
            .role_grant_permission(Self::call("auth.role_grant_permission"), request)
            .await?;
        Ok(r.header.into())
    }

    /// Revokes a role's permission over a key (`range_end` empty) or a range.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::NotFound`] for an unknown role or a permission not granted;
    /// [`ErrorKind::PermissionDenied`]; the call's own failures
    /// ([`ErrorKind::Unavailable`], [`ErrorKind::Timeout`], ...); a write cut short may
    /// fail with its outcome unknown
    /// ([`Error::is_outcome_unknown`](crate::Error::is_outcome_unknown)).
    pub async fn role_revoke_permission(
        &self,
        role: &str,
        key: impl Into<Bytes>,
        range_end: impl Into<Bytes>,
    ) -> Result<ResponseHeader> {
        let request = pb::AuthRoleRevokePermissionRequest {
            role: role.to_string(),
            key: key.into(),
            range_end: range_end.into(),
        };
        let r = self
            .client
            .transport()
            .role_revoke_permission(Self::call("auth.role_revoke_permission"), request)
            .await?;
        Ok(r.header.into())
    }
}
