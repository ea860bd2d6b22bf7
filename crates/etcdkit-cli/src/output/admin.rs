//! etcdctl's `json` format for the administration commands (auth, users, roles, members,
//! alarms, hashes): the same rules as [`super::json`] (proto json tags in field order,
//! every field `omitempty`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use etcdkit::ResponseHeader;
use etcdkit::auth::{Permission, PermissionType};
use etcdkit::cluster::Member as EtcdMember;
use etcdkit::maintenance::{Alarm as EtcdAlarm, AlarmType, HashKvResponse};
use serde::Serialize;

use super::json::Header;

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_empty_str(s: &&str) -> bool {
    s.is_empty()
}

/// A response that is a header and maybe one list of names (`users`, `roles`).
#[derive(Serialize)]
pub struct HeaderOnly {
    header: Header,
}

impl HeaderOnly {
    pub fn new(header: &ResponseHeader) -> Self {
        HeaderOnly {
            header: header.into(),
        }
    }
}

/// `AuthStatusResponse`.
#[derive(Serialize)]
pub struct AuthStatus {
    header: Header,
    #[serde(skip_serializing_if = "is_false")]
    enabled: bool,
    #[serde(rename = "authRevision", skip_serializing_if = "is_zero_u64")]
    auth_revision: u64,
}

impl From<&etcdkit::auth::AuthStatus> for AuthStatus {
    fn from(s: &etcdkit::auth::AuthStatus) -> Self {
        AuthStatus {
            header: (&s.header).into(),
            enabled: s.enabled,
            auth_revision: s.auth_revision,
        }
    }
}

/// `AuthUserGetResponse` and `AuthRoleListResponse` (`roles`), `AuthUserListResponse`
/// (`users`).
#[derive(Serialize)]
pub struct Names<'a> {
    header: Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    users: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<&'a [String]>,
}

impl<'a> Names<'a> {
    pub fn users(header: &ResponseHeader, users: &'a [String]) -> Self {
        Names {
            header: header.into(),
            users: (!users.is_empty()).then_some(users),
            roles: None,
        }
    }

    pub fn roles(header: &ResponseHeader, roles: &'a [String]) -> Self {
        Names {
            header: header.into(),
            users: None,
            roles: (!roles.is_empty()).then_some(roles),
        }
    }
}

/// `authpb.Permission`: the type is a number (READ 0, WRITE 1, READWRITE 2).
#[derive(Serialize)]
struct Perm {
    #[serde(rename = "permType", skip_serializing_if = "is_zero_i32")]
    perm_type: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    range_end: Option<String>,
}

fn b64(bytes: &[u8]) -> Option<String> {
    (!bytes.is_empty()).then(|| BASE64.encode(bytes))
}

/// `AuthRoleGetResponse`.
#[derive(Serialize)]
pub struct RoleGet {
    header: Header,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    perm: Vec<Perm>,
}

impl RoleGet {
    pub fn new(header: &ResponseHeader, perms: &[Permission]) -> Self {
        RoleGet {
            header: header.into(),
            perm: perms
                .iter()
                .map(|p| Perm {
                    perm_type: match p.kind() {
                        PermissionType::Write => 1,
                        PermissionType::ReadWrite => 2,
                        _ => 0,
                    },
                    key: b64(p.key()),
                    range_end: b64(p.range_end_key()),
                })
                .collect(),
        }
    }
}

/// `etcdserverpb.Member`.
#[derive(Serialize)]
pub struct Member<'a> {
    #[serde(rename = "ID", skip_serializing_if = "is_zero_u64")]
    id: u64,
    #[serde(skip_serializing_if = "is_empty_str")]
    name: &'a str,
    #[serde(rename = "peerURLs", skip_serializing_if = "<[String]>::is_empty")]
    peer_urls: &'a [String],
    #[serde(rename = "clientURLs", skip_serializing_if = "<[String]>::is_empty")]
    client_urls: &'a [String],
    #[serde(rename = "isLearner", skip_serializing_if = "is_false")]
    is_learner: bool,
}

impl<'a> From<&'a EtcdMember> for Member<'a> {
    fn from(m: &'a EtcdMember) -> Self {
        Member {
            id: m.id().get(),
            name: m.name(),
            peer_urls: m.peer_urls(),
            client_urls: m.client_urls(),
            is_learner: m.is_learner(),
        }
    }
}

/// `MemberListResponse`, `MemberRemoveResponse`, ... and `MemberAddResponse` (with
/// `member`).
#[derive(Serialize)]
pub struct Members<'a> {
    header: Header,
    #[serde(skip_serializing_if = "Option::is_none")]
    member: Option<Member<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    members: Vec<Member<'a>>,
}

impl<'a> Members<'a> {
    pub fn new(
        header: &ResponseHeader,
        member: Option<&'a EtcdMember>,
        all: &'a [EtcdMember],
    ) -> Self {
        Members {
            header: header.into(),
            member: member.map(Member::from),
            members: all.iter().map(Member::from).collect(),
        }
    }
}

/// `AlarmMember`: the alarm is a number (NONE 0, NOSPACE 1, CORRUPT 2).
#[derive(Serialize)]
struct AlarmMember {
    #[serde(rename = "memberID", skip_serializing_if = "is_zero_u64")]
    member_id: u64,
    #[serde(skip_serializing_if = "is_zero_i32")]
    alarm: i32,
}

/// `AlarmResponse`: a disarm of no alarm has not even a header (`{}`).
#[derive(Serialize)]
pub struct Alarms {
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<Header>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    alarms: Vec<AlarmMember>,
}

impl Alarms {
    pub fn new(header: Option<&ResponseHeader>, alarms: &[EtcdAlarm]) -> Self {
        Alarms {
            header: header.map(Header::from),
            alarms: alarms
                .iter()
                .map(|a| AlarmMember {
                    member_id: a.member_id().get(),
                    alarm: alarm_number(a.alarm()),
                })
                .collect(),
        }
    }
}

/// The wire number of an alarm type.
pub fn alarm_number(alarm: AlarmType) -> i32 {
    match alarm {
        AlarmType::NoSpace => 1,
        AlarmType::Corrupt => 2,
        AlarmType::Other(raw) => raw,
        _ => 0,
    }
}

/// `HashKVResponse`.
#[derive(Serialize)]
struct HashKv {
    header: Header,
    #[serde(skip_serializing_if = "is_zero_u64")]
    hash: u64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    compact_revision: i64,
    #[serde(skip_serializing_if = "is_zero_i64")]
    hash_revision: i64,
}

/// One entry of `endpoint hashkv -w json` (a Go struct: Go field names, no omitempty).
#[derive(Serialize)]
pub struct EndpointHashKv<'a> {
    #[serde(rename = "Endpoint")]
    endpoint: &'a str,
    #[serde(rename = "HashKV")]
    hash_kv: HashKv,
}

impl<'a> EndpointHashKv<'a> {
    pub fn new(endpoint: &'a str, r: &HashKvResponse) -> Self {
        EndpointHashKv {
            endpoint,
            hash_kv: HashKv {
                header: r.header().into(),
                hash: u64::from(r.hash()),
                compact_revision: r.compact_revision().get(),
                hash_revision: r.hash_revision().get(),
            },
        }
    }
}
