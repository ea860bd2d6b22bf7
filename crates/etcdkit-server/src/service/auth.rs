//! `etcdserverpb.Auth`: enable, disable, status, authenticate, users, roles and their
//! permissions, as a single etcd 3.6 member answers them. Every call but Authenticate,
//! UserGet and RoleGet is an admin call once auth is on (a root user's token, etcd's
//! `needAdminPermission`); a user may get itself and its own roles.

use std::sync::Arc;

use tokio::time::Instant;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use crate::auth::check::{self, Caller};
use crate::auth::password::PasswordHash;
use crate::core::{Core, Shared};
use crate::error::EtcdError;
use crate::generated::etcdserverpb::auth_server::Auth;
use crate::generated::etcdserverpb::{
    AuthDisableRequest, AuthDisableResponse, AuthEnableRequest, AuthEnableResponse,
    AuthRoleAddRequest, AuthRoleAddResponse, AuthRoleDeleteRequest, AuthRoleDeleteResponse,
    AuthRoleGetRequest, AuthRoleGetResponse, AuthRoleGrantPermissionRequest,
    AuthRoleGrantPermissionResponse, AuthRoleListRequest, AuthRoleListResponse,
    AuthRoleRevokePermissionRequest, AuthRoleRevokePermissionResponse, AuthStatusRequest,
    AuthStatusResponse, AuthUserAddRequest, AuthUserAddResponse, AuthUserChangePasswordRequest,
    AuthUserChangePasswordResponse, AuthUserDeleteRequest, AuthUserDeleteResponse,
    AuthUserGetRequest, AuthUserGetResponse, AuthUserGrantRoleRequest, AuthUserGrantRoleResponse,
    AuthUserListRequest, AuthUserListResponse, AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse, AuthenticateRequest, AuthenticateResponse, ResponseHeader,
};

pub(crate) struct AuthService(pub(crate) Arc<Shared>);

/// The answer when the system's random source fails (no salt, no token).
fn no_randomness() -> Status {
    Status::internal("etcdkit-server: the system's random source failed")
}

fn hash(password: &str) -> Result<PasswordHash, Status> {
    PasswordHash::new(password).ok_or_else(no_randomness)
}

impl AuthService {
    /// Runs `op` for a caller that passes `allow` (its token checked first), and the
    /// header etcd puts on auth answers: the store's revision.
    fn run<T>(
        &self,
        meta: &MetadataMap,
        allow: impl FnOnce(&Core, &Caller) -> Result<(), EtcdError>,
        op: impl FnOnce(&mut Core) -> Result<T, EtcdError>,
    ) -> Result<(T, Option<ResponseHeader>), Status> {
        let token = check::token(meta);
        let mut core = self.0.lock();
        let caller = core.caller(token.as_deref())?;
        allow(&core, &caller)?;
        let (enabled, revision) = (core.auth.enabled, core.auth.revision);
        let out = op(&mut core)?;
        // Every change of users, roles or permissions bumps the auth revision, and enabling
        // (which does not) flips `enabled`: either way, the store goes to the data
        // directory before the answer.
        if (core.auth.enabled, core.auth.revision) != (enabled, revision) {
            let auth = core.auth.clone();
            core.persist(|step| step.auth(&auth))?;
        }
        let header = self.0.info.header(core.store.revision());
        Ok((out, Some(header)))
    }

    /// An admin call: root's token while auth is on.
    fn admin<T>(
        &self,
        meta: &MetadataMap,
        op: impl FnOnce(&mut Core) -> Result<T, EtcdError>,
    ) -> Result<(T, Option<ResponseHeader>), Status> {
        self.run(meta, |core, caller| core.auth.check_admin(caller), op)
    }
}

/// The user name a caller acts as ("" without one).
fn name_of(caller: &Caller) -> &str {
    match caller {
        Caller::User(name) => name,
        Caller::Open | Caller::Anonymous => "",
    }
}

#[tonic::async_trait]
impl Auth for AuthService {
    async fn auth_enable(
        &self,
        req: Request<AuthEnableRequest>,
    ) -> Result<Response<AuthEnableResponse>, Status> {
        let ((), header) = self.admin(req.metadata(), |core| core.auth.enable())?;
        Ok(Response::new(AuthEnableResponse { header }))
    }

    async fn auth_disable(
        &self,
        req: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        let ((), header) = self.admin(req.metadata(), |core| {
            if core.auth.disable() {
                core.tokens.clear();
            }
            Ok(())
        })?;
        Ok(Response::new(AuthDisableResponse { header }))
    }

    async fn auth_status(
        &self,
        req: Request<AuthStatusRequest>,
    ) -> Result<Response<AuthStatusResponse>, Status> {
        let ((enabled, auth_revision), header) = self.admin(req.metadata(), |core| {
            Ok((core.auth.enabled, core.auth.revision))
        })?;
        Ok(Response::new(AuthStatusResponse {
            header,
            enabled,
            auth_revision,
        }))
    }

    async fn authenticate(
        &self,
        req: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        let token = check::token(req.metadata());
        let req = req.into_inner();
        let mut core = self.0.lock();
        // The password first, then (as etcd's raft path does) any token the request
        // carries.
        core.auth.check_password(&req.name, &req.password)?;
        core.caller(token.as_deref())?;
        let token = core
            .tokens
            .assign(&req.name, Instant::now())
            .ok_or_else(no_randomness)?;
        let header = Some(self.0.info.header(core.store.revision()));
        Ok(Response::new(AuthenticateResponse { header, token }))
    }

    async fn user_add(
        &self,
        req: Request<AuthUserAddRequest>,
    ) -> Result<Response<AuthUserAddResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let no_password = req.options.is_some_and(|o| o.no_password);
        // Hashed before the lock is taken: hashing is slow on purpose.
        let password = if no_password {
            None
        } else {
            Some(hash(&req.password)?)
        };
        let ((), header) = self.admin(&meta, |core| core.auth.user_add(&req.name, password))?;
        Ok(Response::new(AuthUserAddResponse { header }))
    }

    async fn user_get(
        &self,
        req: Request<AuthUserGetRequest>,
    ) -> Result<Response<AuthUserGetResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let (roles, header) = self.run(
            &meta,
            |core, caller| match core.auth.check_admin(caller) {
                Err(e) if req.name != name_of(caller) => Err(e),
                _ => Ok(()),
            },
            |core| core.auth.user_get(&req.name),
        )?;
        Ok(Response::new(AuthUserGetResponse { header, roles }))
    }

    async fn user_list(
        &self,
        req: Request<AuthUserListRequest>,
    ) -> Result<Response<AuthUserListResponse>, Status> {
        let (users, header) = self.admin(req.metadata(), |core| {
            Ok(core.auth.users.keys().cloned().collect())
        })?;
        Ok(Response::new(AuthUserListResponse { header, users }))
    }

    async fn user_delete(
        &self,
        req: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let ((), header) = self.admin(&meta, |core| {
            core.auth.user_delete(&req.name)?;
            core.tokens.revoke_user(&req.name);
            Ok(())
        })?;
        Ok(Response::new(AuthUserDeleteResponse { header }))
    }

    async fn user_change_password(
        &self,
        req: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let password = hash(&req.password)?;
        let ((), header) = self.admin(&meta, |core| {
            core.auth.user_change_password(&req.name, password)?;
            // Tokens issued with the old password stop working, as in etcd.
            core.tokens.revoke_user(&req.name);
            Ok(())
        })?;
        Ok(Response::new(AuthUserChangePasswordResponse { header }))
    }

    async fn user_grant_role(
        &self,
        req: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let ((), header) = self.admin(&meta, |core| {
            core.auth.user_grant_role(&req.user, &req.role)
        })?;
        Ok(Response::new(AuthUserGrantRoleResponse { header }))
    }

    async fn user_revoke_role(
        &self,
        req: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let ((), header) = self.admin(&meta, |core| {
            core.auth.user_revoke_role(&req.name, &req.role)
        })?;
        Ok(Response::new(AuthUserRevokeRoleResponse { header }))
    }

    async fn role_add(
        &self,
        req: Request<AuthRoleAddRequest>,
    ) -> Result<Response<AuthRoleAddResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let ((), header) = self.admin(&meta, |core| core.auth.role_add(&req.name))?;
        Ok(Response::new(AuthRoleAddResponse { header }))
    }

    async fn role_get(
        &self,
        req: Request<AuthRoleGetRequest>,
    ) -> Result<Response<AuthRoleGetResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let (perm, header) = self.run(
            &meta,
            |core, caller| match core.auth.check_admin(caller) {
                Err(e) => {
                    let has = core
                        .auth
                        .users
                        .get(name_of(caller))
                        .is_some_and(|u| u.roles.contains(&req.role));
                    if has { Ok(()) } else { Err(e) }
                }
                Ok(()) => Ok(()),
            },
            |core| core.auth.role_get(&req.role),
        )?;
        Ok(Response::new(AuthRoleGetResponse { header, perm }))
    }

    async fn role_list(
        &self,
        req: Request<AuthRoleListRequest>,
    ) -> Result<Response<AuthRoleListResponse>, Status> {
        let (roles, header) = self.admin(req.metadata(), |core| {
            Ok(core.auth.roles.keys().cloned().collect())
        })?;
        Ok(Response::new(AuthRoleListResponse { header, roles }))
    }

    async fn role_delete(
        &self,
        req: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let ((), header) = self.admin(&meta, |core| core.auth.role_delete(&req.role))?;
        Ok(Response::new(AuthRoleDeleteResponse { header }))
    }

    async fn role_grant_permission(
        &self,
        req: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let ((), header) = self.admin(&meta, |core| {
            core.auth.role_grant_permission(&req.name, req.perm)
        })?;
        Ok(Response::new(AuthRoleGrantPermissionResponse { header }))
    }

    async fn role_revoke_permission(
        &self,
        req: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        let (meta, _, req) = req.into_parts();
        let ((), header) = self.admin(&meta, |core| {
            core.auth
                .role_revoke_permission(&req.role, &req.key, &req.range_end)
        })?;
        Ok(Response::new(AuthRoleRevokePermissionResponse { header }))
    }
}
