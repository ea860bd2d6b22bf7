//! One typed method per unary RPC, so the rest of the crate never names tonic. Each
//! counts its request, and its failure, in the metrics (the retry loop counts retries).

use super::{Call, Transport};
use crate::error::Result;
use crate::generated::etcdserverpb as pb;
use crate::generated::etcdserverpb::auth_client::AuthClient;
use crate::generated::etcdserverpb::cluster_client::ClusterClient;
use crate::generated::etcdserverpb::kv_client::KvClient;
use crate::generated::etcdserverpb::lease_client::LeaseClient;
use crate::generated::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::generated::v3electionpb as election;
use crate::generated::v3electionpb::election_client::ElectionClient;
use crate::generated::v3lockpb as lock;
use crate::generated::v3lockpb::lock_client::LockClient;

macro_rules! unary_rpcs {
    ($( $(#[$doc:meta])* $name:ident => $client:ident :: $method:ident ($req:ty) -> $resp:ty; )*) => {
        impl Transport {
            $(
                $(#[$doc])*
                pub(crate) async fn $name(&self, call: Call, request: $req) -> Result<$resp> {
                    let max_send = self.options().max_send_size;
                    let max_recv = self.options().max_recv_size;
                    crate::telemetry::request(call.op);
                    let result = self.unary(call, request, |channel, request| async move {
                        $client::new(channel)
                            .max_encoding_message_size(max_send)
                            .max_decoding_message_size(max_recv)
                            .$method(request)
                            .await
                    })
                    .await;
                    if let Err(e) = &result {
                        crate::telemetry::request_failed(call.op, e.kind());
                    }
                    result
                }
            )*
        }
    };
}

unary_rpcs! {
    range => KvClient::range(pb::RangeRequest) -> pb::RangeResponse;
    put => KvClient::put(pb::PutRequest) -> pb::PutResponse;
    delete_range => KvClient::delete_range(pb::DeleteRangeRequest) -> pb::DeleteRangeResponse;
    txn => KvClient::txn(pb::TxnRequest) -> pb::TxnResponse;
    compact => KvClient::compact(pb::CompactionRequest) -> pb::CompactionResponse;

    lease_grant => LeaseClient::lease_grant(pb::LeaseGrantRequest) -> pb::LeaseGrantResponse;
    lease_revoke => LeaseClient::lease_revoke(pb::LeaseRevokeRequest) -> pb::LeaseRevokeResponse;
    lease_time_to_live => LeaseClient::lease_time_to_live(pb::LeaseTimeToLiveRequest) -> pb::LeaseTimeToLiveResponse;
    lease_leases => LeaseClient::lease_leases(pb::LeaseLeasesRequest) -> pb::LeaseLeasesResponse;

    member_add => ClusterClient::member_add(pb::MemberAddRequest) -> pb::MemberAddResponse;
    member_remove => ClusterClient::member_remove(pb::MemberRemoveRequest) -> pb::MemberRemoveResponse;
    member_update => ClusterClient::member_update(pb::MemberUpdateRequest) -> pb::MemberUpdateResponse;
    member_list => ClusterClient::member_list(pb::MemberListRequest) -> pb::MemberListResponse;
    member_promote => ClusterClient::member_promote(pb::MemberPromoteRequest) -> pb::MemberPromoteResponse;

    alarm => MaintenanceClient::alarm(pb::AlarmRequest) -> pb::AlarmResponse;
    status => MaintenanceClient::status(pb::StatusRequest) -> pb::StatusResponse;
    defragment => MaintenanceClient::defragment(pb::DefragmentRequest) -> pb::DefragmentResponse;
    hash => MaintenanceClient::hash(pb::HashRequest) -> pb::HashResponse;
    hash_kv => MaintenanceClient::hash_kv(pb::HashKvRequest) -> pb::HashKvResponse;
    move_leader => MaintenanceClient::move_leader(pb::MoveLeaderRequest) -> pb::MoveLeaderResponse;
    downgrade => MaintenanceClient::downgrade(pb::DowngradeRequest) -> pb::DowngradeResponse;

    auth_enable => AuthClient::auth_enable(pb::AuthEnableRequest) -> pb::AuthEnableResponse;
    auth_disable => AuthClient::auth_disable(pb::AuthDisableRequest) -> pb::AuthDisableResponse;
    auth_status => AuthClient::auth_status(pb::AuthStatusRequest) -> pb::AuthStatusResponse;
    authenticate => AuthClient::authenticate(pb::AuthenticateRequest) -> pb::AuthenticateResponse;
    user_add => AuthClient::user_add(pb::AuthUserAddRequest) -> pb::AuthUserAddResponse;
    user_get => AuthClient::user_get(pb::AuthUserGetRequest) -> pb::AuthUserGetResponse;
    user_list => AuthClient::user_list(pb::AuthUserListRequest) -> pb::AuthUserListResponse;
    user_delete => AuthClient::user_delete(pb::AuthUserDeleteRequest) -> pb::AuthUserDeleteResponse;
    user_change_password => AuthClient::user_change_password(pb::AuthUserChangePasswordRequest) -> pb::AuthUserChangePasswordResponse;
    user_grant_role => AuthClient::user_grant_role(pb::AuthUserGrantRoleRequest) -> pb::AuthUserGrantRoleResponse;
    user_revoke_role => AuthClient::user_revoke_role(pb::AuthUserRevokeRoleRequest) -> pb::AuthUserRevokeRoleResponse;
    role_add => AuthClient::role_add(pb::AuthRoleAddRequest) -> pb::AuthRoleAddResponse;
    role_get => AuthClient::role_get(pb::AuthRoleGetRequest) -> pb::AuthRoleGetResponse;
    role_list => AuthClient::role_list(pb::AuthRoleListRequest) -> pb::AuthRoleListResponse;
    role_delete => AuthClient::role_delete(pb::AuthRoleDeleteRequest) -> pb::AuthRoleDeleteResponse;
    role_grant_permission => AuthClient::role_grant_permission(pb::AuthRoleGrantPermissionRequest) -> pb::AuthRoleGrantPermissionResponse;
    role_revoke_permission => AuthClient::role_revoke_permission(pb::AuthRoleRevokePermissionRequest) -> pb::AuthRoleRevokePermissionResponse;

    lock => LockClient::lock(lock::LockRequest) -> lock::LockResponse;
    unlock => LockClient::unlock(lock::UnlockRequest) -> lock::UnlockResponse;

    campaign => ElectionClient::campaign(election::CampaignRequest) -> election::CampaignResponse;
    proclaim => ElectionClient::proclaim(election::ProclaimRequest) -> election::ProclaimResponse;
    leader => ElectionClient::leader(election::LeaderRequest) -> election::LeaderResponse;
    resign => ElectionClient::resign(election::ResignRequest) -> election::ResignResponse;
}
