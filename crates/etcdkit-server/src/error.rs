//! The errors the server answers with, as etcd spells them.
//!
//! Clients (etcdkit, etcdctl, the Go client) recognise etcd's errors by their gRPC code and
//! message text, so both are exactly etcd's (`api/v3rpc/rpctypes/error.go`).

use std::fmt;

use tonic::Code;

/// An error etcd defines, answered to the client as a gRPC status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EtcdError {
    /// A request without a key.
    EmptyKey,
    /// `ignore_value`/`ignore_lease` on a key that does not exist, or an empty txn op.
    KeyNotFound,
    /// `ignore_value` together with a value.
    ValueProvided,
    /// `ignore_lease` together with a lease.
    LeaseProvided,
    /// A txn with more compares or ops in a branch than the server allows.
    TooManyOps,
    /// A txn that writes one key twice (or puts a key it also deletes).
    DuplicateKey,
    /// A revision older than the last compaction.
    Compacted,
    /// A revision newer than the store's.
    FutureRev,
    /// A lease that does not exist.
    LeaseNotFound,
    /// A lease grant with an ID already in use.
    LeaseExist,
    /// A lease grant with a TTL above etcd's maximum.
    LeaseTtlTooLarge,
    /// A write larger than the server's maximum request size.
    RequestTooLarge,
    /// A write refused because the store passed its space quota (the NOSPACE alarm is on).
    NoSpace,
    /// Proclaim with a leader key that no longer leads (or a campaign whose key went).
    NotElectionLeader,
    /// Leader or Observe of an election nobody leads.
    NoElectionLeader,
    /// Proclaim or Resign without a leader key.
    MissingLeaderKey,
    /// A lock whose key went (its lease ended) while it waited.
    SessionExpired,
    /// A member ID this cluster does not have.
    MemberNotFound,
    /// A member update with a URL that does not parse.
    MemberBadUrls,
    /// Promote of a member that is not a learner.
    MemberNotLearner,
    /// A member add whose ID (derived from its peer URLs) is a member's already.
    MemberExist,
    /// A member add naming a peer URL a member has already.
    PeerUrlExist,
    /// A learner add past etcd's default `--max-learners` (1).
    TooManyLearners,
    /// A promote of a learner that is not in sync with the leader (this server's learners
    /// never start, so never are).
    LearnerNotReady,
    /// A membership change that would leave too few started members.
    NotEnoughStartedMembers,
    /// Move leader to a member that cannot lead.
    BadLeaderTransferee,
    /// A downgrade version that does not parse.
    WrongDowngradeVersionFormat,
    /// A downgrade to a version other than the previous minor release.
    InvalidDowngradeTargetVersion,
    /// A change that could not be written to the data directory (this server's own: etcd
    /// stops its member instead). The server takes no changes after it; restart it.
    StorageFailed,
    /// Auth enable without a `root` user.
    RootUserNotExist,
    /// Auth enable while the `root` user lacks the `root` role.
    RootRoleNotExist,
    /// A user add of a name already taken.
    UserAlreadyExist,
    /// A user add without a name, or, with auth on, a request without a token that needs one.
    UserEmpty,
    /// A user that does not exist.
    UserNotFound,
    /// A role add of a name already taken.
    RoleAlreadyExist,
    /// A role that does not exist.
    RoleNotFound,
    /// A role add without a name.
    RoleEmpty,
    /// Authenticate with an unknown user or a wrong password.
    AuthFailed,
    /// Authenticate as a user added without a password. etcd has no gRPC code for it: its
    /// clients see gRPC `UNKNOWN` and the auth store's own words.
    NoPasswordUser,
    /// A role grant without a permission.
    PermissionNotGiven,
    /// The caller's roles do not allow the request.
    PermissionDenied,
    /// A role revoke of a role the user does not have.
    RoleNotGranted,
    /// A permission revoke of a permission the role does not have.
    PermissionNotGranted,
    /// Authenticate while auth is off.
    AuthNotEnabled,
    /// A token the server does not know (never issued, expired or forgotten).
    InvalidAuthToken,
    /// A change etcd forbids: removing root's root role, deleting root or the root role
    /// while auth is on, a permission with an empty key or an inverted range.
    InvalidAuthMgmt,
}

impl EtcdError {
    /// The gRPC code etcd answers this error with.
    pub fn code(self) -> Code {
        match self {
            EtcdError::EmptyKey
            | EtcdError::KeyNotFound
            | EtcdError::ValueProvided
            | EtcdError::LeaseProvided
            | EtcdError::TooManyOps
            | EtcdError::DuplicateKey
            | EtcdError::RequestTooLarge
            | EtcdError::MemberBadUrls
            | EtcdError::WrongDowngradeVersionFormat
            | EtcdError::InvalidDowngradeTargetVersion
            | EtcdError::UserEmpty
            | EtcdError::RoleEmpty
            | EtcdError::AuthFailed
            | EtcdError::PermissionNotGiven
            | EtcdError::InvalidAuthMgmt => Code::InvalidArgument,
            EtcdError::RootUserNotExist
            | EtcdError::RootRoleNotExist
            | EtcdError::UserAlreadyExist
            | EtcdError::UserNotFound
            | EtcdError::RoleAlreadyExist
            | EtcdError::RoleNotFound
            | EtcdError::RoleNotGranted
            | EtcdError::PermissionNotGranted
            | EtcdError::AuthNotEnabled => Code::FailedPrecondition,
            EtcdError::PermissionDenied => Code::PermissionDenied,
            EtcdError::InvalidAuthToken => Code::Unauthenticated,
            EtcdError::Compacted | EtcdError::FutureRev | EtcdError::LeaseTtlTooLarge => {
                Code::OutOfRange
            }
            EtcdError::LeaseNotFound | EtcdError::MemberNotFound => Code::NotFound,
            EtcdError::LeaseExist
            | EtcdError::MemberNotLearner
            | EtcdError::MemberExist
            | EtcdError::PeerUrlExist
            | EtcdError::TooManyLearners
            | EtcdError::LearnerNotReady
            | EtcdError::BadLeaderTransferee => Code::FailedPrecondition,
            EtcdError::NoSpace => Code::ResourceExhausted,
            EtcdError::StorageFailed => Code::Internal,
            // The lock and election services return the recipes' plain errors, which gRPC
            // carries as UNKNOWN.
            EtcdError::NotElectionLeader
            | EtcdError::NoElectionLeader
            // etcd declares this one without a code (checked against etcd 3.6).
            | EtcdError::NotEnoughStartedMembers
            | EtcdError::MissingLeaderKey
            | EtcdError::SessionExpired
            // Not in etcd's table of gRPC errors (checked against etcd 3.6.16).
            | EtcdError::NoPasswordUser => Code::Unknown,
        }
    }

    /// The message etcd answers this error with, word for word.
    pub fn message(self) -> &'static str {
        match self {
            EtcdError::EmptyKey => "etcdserver: key is not provided",
            EtcdError::KeyNotFound => "etcdserver: key not found",
            EtcdError::ValueProvided => "etcdserver: value is provided",
            EtcdError::LeaseProvided => "etcdserver: lease is provided",
            EtcdError::TooManyOps => "etcdserver: too many operations in txn request",
            EtcdError::DuplicateKey => "etcdserver: duplicate key given in txn request",
            EtcdError::Compacted => "etcdserver: mvcc: required revision has been compacted",
            EtcdError::FutureRev => "etcdserver: mvcc: required revision is a future revision",
            EtcdError::LeaseNotFound => "etcdserver: requested lease not found",
            EtcdError::LeaseExist => "etcdserver: lease already exists",
            EtcdError::LeaseTtlTooLarge => "etcdserver: too large lease TTL",
            EtcdError::RequestTooLarge => "etcdserver: request is too large",
            EtcdError::NoSpace => "etcdserver: mvcc: database space exceeded",
            EtcdError::NotElectionLeader => "election: not leader",
            EtcdError::NoElectionLeader => "election: no leader",
            EtcdError::MissingLeaderKey => "\"leader\" field must be provided",
            EtcdError::SessionExpired => "mutex: session is expired",
            EtcdError::MemberNotFound => "etcdserver: member not found",
            EtcdError::MemberBadUrls => "etcdserver: given member URLs are invalid",
            EtcdError::MemberNotLearner => "etcdserver: can only promote a learner member",
            EtcdError::MemberExist => "etcdserver: member ID already exist",
            EtcdError::PeerUrlExist => "etcdserver: Peer URLs already exists",
            EtcdError::TooManyLearners => "etcdserver: too many learner members in cluster",
            EtcdError::LearnerNotReady => {
                "etcdserver: can only promote a learner member which is in sync with leader"
            }
            EtcdError::NotEnoughStartedMembers => {
                "etcdserver: re-configuration failed due to not enough started members"
            }
            EtcdError::BadLeaderTransferee => "etcdserver: bad leader transferee",
            EtcdError::WrongDowngradeVersionFormat => {
                "etcdserver: wrong downgrade target version format"
            }
            EtcdError::InvalidDowngradeTargetVersion => {
                "etcdserver: invalid downgrade target version"
            }
            EtcdError::StorageFailed => {
                "etcdkit-server: the data directory could not be written; restart the server"
            }
            EtcdError::RootUserNotExist => "etcdserver: root user does not exist",
            EtcdError::RootRoleNotExist => "etcdserver: root user does not have root role",
            EtcdError::UserAlreadyExist => "etcdserver: user name already exists",
            EtcdError::UserEmpty => "etcdserver: user name is empty",
            EtcdError::UserNotFound => "etcdserver: user name not found",
            EtcdError::RoleAlreadyExist => "etcdserver: role name already exists",
            EtcdError::RoleNotFound => "etcdserver: role name not found",
            EtcdError::RoleEmpty => "etcdserver: role name is empty",
            EtcdError::AuthFailed => {
                "etcdserver: authentication failed, invalid user ID or password"
            }
            EtcdError::NoPasswordUser => {
                "auth: authentication failed, password was given for no password user"
            }
            EtcdError::PermissionNotGiven => "etcdserver: permission not given",
            EtcdError::PermissionDenied => "etcdserver: permission denied",
            EtcdError::RoleNotGranted => "etcdserver: role is not granted to the user",
            EtcdError::PermissionNotGranted => "etcdserver: permission is not granted to the role",
            EtcdError::AuthNotEnabled => "etcdserver: authentication is not enabled",
            EtcdError::InvalidAuthToken => "etcdserver: invalid auth token",
            EtcdError::InvalidAuthMgmt => "etcdserver: invalid auth management",
        }
    }
}

impl fmt::Display for EtcdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EtcdError {}

impl From<EtcdError> for tonic::Status {
    fn from(e: EtcdError) -> Self {
        tonic::Status::new(e.code(), e.message())
    }
}
