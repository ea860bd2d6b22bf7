//! One typed method per unary RPC, so the rest of the crate never names tonic. Each
//! counts its request, and its failure, in the metrics (the retry loop counts retries).

use super::{Call, Transport};
use crate::error::Result;
use crate::generated::etcdserverpb as pb;
use crate::generated::v3electionpb as election;
use crate::generated::v3lockpb as lock;

macro_rules! unary_rpcs {
    ($( $(#[$doc:meta])* $name:ident => $path:literal ($req:ty) -> $resp:ty; )*) => {
        impl Transport {
            $(
                $(#[$doc])*
                pub(crate) fn $name(
                    &self,
                    call: Call,
                    request: $req,
                ) -> impl std::future::Future<Output = Result<$resp>> {
                    let op = call.op;
                    crate::telemetry::request(op);
                    // The request is encoded here, before the future is made: a future
                    // that held it would be that much bigger to move and allocate.
                    // (A combinator and not an async block: the block would hold the
                    // inner future twice, as its capture and as what it awaits.)
                    futures_util::FutureExt::inspect(self.unary(call, $path, request), move |result| {
                        if let Err(e) = result {
                            crate::telemetry::request_failed(op, e.kind());
                        }
                    })
                }
            )*
        }

        $(
            impl super::Headed for $resp {
                fn header(&self) -> Option<&pb::ResponseHeader> {
                    self.header.as_ref()
                }
            }
        )*

        /// Every method path, to check against the generated clients.
        #[cfg(test)]
        const PATHS: &[&str] = &[$($path),*];
    };
}

unary_rpcs! {
    range => "/etcdserverpb.KV/Range" (pb::RangeRequest) -> pb::RangeResponse;
    put => "/etcdserverpb.KV/Put" (pb::PutRequest) -> pb::PutResponse;
    delete_range => "/etcdserverpb.KV/DeleteRange" (pb::DeleteRangeRequest) -> pb::DeleteRangeResponse;
    txn => "/etcdserverpb.KV/Txn" (pb::TxnRequest) -> pb::TxnResponse;
    compact => "/etcdserverpb.KV/Compact" (pb::CompactionRequest) -> pb::CompactionResponse;

    lease_grant => "/etcdserverpb.Lease/LeaseGrant" (pb::LeaseGrantRequest) -> pb::LeaseGrantResponse;
    lease_revoke => "/etcdserverpb.Lease/LeaseRevoke" (pb::LeaseRevokeRequest) -> pb::LeaseRevokeResponse;
    lease_time_to_live => "/etcdserverpb.Lease/LeaseTimeToLive" (pb::LeaseTimeToLiveRequest) -> pb::LeaseTimeToLiveResponse;
    lease_leases => "/etcdserverpb.Lease/LeaseLeases" (pb::LeaseLeasesRequest) -> pb::LeaseLeasesResponse;

    member_add => "/etcdserverpb.Cluster/MemberAdd" (pb::MemberAddRequest) -> pb::MemberAddResponse;
    member_remove => "/etcdserverpb.Cluster/MemberRemove" (pb::MemberRemoveRequest) -> pb::MemberRemoveResponse;
    member_update => "/etcdserverpb.Cluster/MemberUpdate" (pb::MemberUpdateRequest) -> pb::MemberUpdateResponse;
    member_list => "/etcdserverpb.Cluster/MemberList" (pb::MemberListRequest) -> pb::MemberListResponse;
    member_promote => "/etcdserverpb.Cluster/MemberPromote" (pb::MemberPromoteRequest) -> pb::MemberPromoteResponse;

    alarm => "/etcdserverpb.Maintenance/Alarm" (pb::AlarmRequest) -> pb::AlarmResponse;
    status => "/etcdserverpb.Maintenance/Status" (pb::StatusRequest) -> pb::StatusResponse;
    defragment => "/etcdserverpb.Maintenance/Defragment" (pb::DefragmentRequest) -> pb::DefragmentResponse;
    hash => "/etcdserverpb.Maintenance/Hash" (pb::HashRequest) -> pb::HashResponse;
    hash_kv => "/etcdserverpb.Maintenance/HashKV" (pb::HashKvRequest) -> pb::HashKvResponse;
    move_leader => "/etcdserverpb.Maintenance/MoveLeader" (pb::MoveLeaderRequest) -> pb::MoveLeaderResponse;
    downgrade => "/etcdserverpb.Maintenance/Downgrade" (pb::DowngradeRequest) -> pb::DowngradeResponse;

    auth_enable => "/etcdserverpb.Auth/AuthEnable" (pb::AuthEnableRequest) -> pb::AuthEnableResponse;
    auth_disable => "/etcdserverpb.Auth/AuthDisable" (pb::AuthDisableRequest) -> pb::AuthDisableResponse;
    auth_status => "/etcdserverpb.Auth/AuthStatus" (pb::AuthStatusRequest) -> pb::AuthStatusResponse;
    authenticate => "/etcdserverpb.Auth/Authenticate" (pb::AuthenticateRequest) -> pb::AuthenticateResponse;
    user_add => "/etcdserverpb.Auth/UserAdd" (pb::AuthUserAddRequest) -> pb::AuthUserAddResponse;
    user_get => "/etcdserverpb.Auth/UserGet" (pb::AuthUserGetRequest) -> pb::AuthUserGetResponse;
    user_list => "/etcdserverpb.Auth/UserList" (pb::AuthUserListRequest) -> pb::AuthUserListResponse;
    user_delete => "/etcdserverpb.Auth/UserDelete" (pb::AuthUserDeleteRequest) -> pb::AuthUserDeleteResponse;
    user_change_password => "/etcdserverpb.Auth/UserChangePassword" (pb::AuthUserChangePasswordRequest) -> pb::AuthUserChangePasswordResponse;
    user_grant_role => "/etcdserverpb.Auth/UserGrantRole" (pb::AuthUserGrantRoleRequest) -> pb::AuthUserGrantRoleResponse;
    user_revoke_role => "/etcdserverpb.Auth/UserRevokeRole" (pb::AuthUserRevokeRoleRequest) -> pb::AuthUserRevokeRoleResponse;
    role_add => "/etcdserverpb.Auth/RoleAdd" (pb::AuthRoleAddRequest) -> pb::AuthRoleAddResponse;
    role_get => "/etcdserverpb.Auth/RoleGet" (pb::AuthRoleGetRequest) -> pb::AuthRoleGetResponse;
    role_list => "/etcdserverpb.Auth/RoleList" (pb::AuthRoleListRequest) -> pb::AuthRoleListResponse;
    role_delete => "/etcdserverpb.Auth/RoleDelete" (pb::AuthRoleDeleteRequest) -> pb::AuthRoleDeleteResponse;
    role_grant_permission => "/etcdserverpb.Auth/RoleGrantPermission" (pb::AuthRoleGrantPermissionRequest) -> pb::AuthRoleGrantPermissionResponse;
    role_revoke_permission => "/etcdserverpb.Auth/RoleRevokePermission" (pb::AuthRoleRevokePermissionRequest) -> pb::AuthRoleRevokePermissionResponse;

    lock => "/v3lockpb.Lock/Lock" (lock::LockRequest) -> lock::LockResponse;
    unlock => "/v3lockpb.Lock/Unlock" (lock::UnlockRequest) -> lock::UnlockResponse;

    campaign => "/v3electionpb.Election/Campaign" (election::CampaignRequest) -> election::CampaignResponse;
    proclaim => "/v3electionpb.Election/Proclaim" (election::ProclaimRequest) -> election::ProclaimResponse;
    leader => "/v3electionpb.Election/Leader" (election::LeaderRequest) -> election::LeaderResponse;
    resign => "/v3electionpb.Election/Resign" (election::ResignRequest) -> election::ResignResponse;
}

#[cfg(test)]
mod tests {
    /// The generated clients name every method's path; ours must match them exactly.
    #[test]
    fn method_paths_match_the_generated_clients() {
        let generated = [
            include_str!("../generated/etcdserverpb.rs"),
            include_str!("../generated/v3lockpb.rs"),
            include_str!("../generated/v3electionpb.rs"),
        ]
        .concat();
        for path in super::PATHS {
            assert!(
                generated.contains(&format!("\"{path}\"")),
                "{path} is not a method of the generated clients"
            );
        }
    }
}
