//! The arguments of the administration commands: `auth`, `user`, `role`, `member`,
//! `alarm`, `defrag` and `snapshot`.

use std::ffi::OsString;

use clap::{ArgAction, Args, Subcommand};

/// `auth` subcommands.
#[derive(Subcommand, Debug)]
pub enum AuthCommand {
    /// Enables authentication
    Enable {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
    /// Disables authentication
    Disable {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
    /// Returns authentication status
    Status {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
}

/// `user` subcommands.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Adds a new user
    Add(UserAddArgs),
    /// Deletes a user
    Delete {
        /// <user name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Gets detailed information of a user
    Get {
        /// Show permissions of roles granted to the user
        #[arg(long)]
        detail: bool,
        /// <user name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Lists all users
    List {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
    /// Changes password of user
    Passwd {
        /// Read password from stdin instead of interactive terminal
        #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", require_equals = true)]
        interactive: bool,
        /// <user name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Grants a role to a user
    #[command(name = "grant-role")]
    GrantRole {
        /// <user name> <role name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Revokes a role from a user
    #[command(name = "revoke-role")]
    RevokeRole {
        /// <user name> <role name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
}

/// `user add <user name or user:password> [options]`
#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// Read password from stdin instead of interactive terminal
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true", require_equals = true)]
    pub interactive: bool,
    /// Supply password from the command line flag
    #[arg(long, default_value = "", hide_default_value = true)]
    pub new_user_password: String,
    /// Create a user without password (CN based auth only)
    #[arg(long)]
    pub no_password: bool,
    /// <user name or user:password>
    #[arg(value_name = "NAME")]
    pub args: Vec<String>,
}

/// `role` subcommands.
#[derive(Subcommand, Debug)]
pub enum RoleCommand {
    /// Adds a new role
    Add {
        /// <role name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Deletes a role
    Delete {
        /// <role name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Gets detailed information of a role
    Get {
        /// <role name>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Lists all roles
    List {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
    /// Grants a key to a role
    #[command(name = "grant-permission")]
    GrantPermission(PermArgs),
    /// Revokes a key from a role
    #[command(name = "revoke-permission")]
    RevokePermission(PermArgs),
}

/// `role grant-permission <role> <read|write|readwrite> <key> [endkey]` and
/// `role revoke-permission <role> <key> [endkey]`.
#[derive(Args, Debug)]
pub struct PermArgs {
    /// Grant (or revoke) a prefix permission
    #[arg(long)]
    pub prefix: bool,
    /// Grant (or revoke) a permission of keys that are greater than or equal to the given key
    #[arg(long)]
    pub from_key: bool,
    /// The arguments
    #[arg(value_name = "ARG")]
    pub args: Vec<OsString>,
}

/// `member` subcommands.
#[derive(Subcommand, Debug)]
pub enum MemberCommand {
    /// Lists all members in the cluster
    List,
    /// Adds a member into the cluster
    Add {
        /// Comma separated peer URLs for the new member
        #[arg(long, default_value = "")]
        peer_urls: String,
        /// Indicates if the new member is raft learner
        #[arg(long)]
        learner: bool,
        /// <memberName>
        #[arg(value_name = "NAME")]
        args: Vec<String>,
    },
    /// Removes a member from the cluster
    Remove {
        /// <memberID>
        #[arg(value_name = "ID")]
        args: Vec<String>,
    },
    /// Updates a member in the cluster
    Update {
        /// Comma separated peer URLs for the updated member
        #[arg(long, default_value = "")]
        peer_urls: String,
        /// <memberID>
        #[arg(value_name = "ID")]
        args: Vec<String>,
    },
    /// Promotes a non-voting member in the cluster
    Promote {
        /// <memberID>
        #[arg(value_name = "ID")]
        args: Vec<String>,
    },
}

/// `alarm` subcommands.
#[derive(Subcommand, Debug)]
pub enum AlarmCommand {
    /// Lists all alarms
    List {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
    /// Disarms all alarms
    Disarm {
        /// Refused: the command takes no arguments
        #[arg(hide = true)]
        args: Vec<String>,
    },
}

/// `defrag [options]`
#[derive(Args, Debug)]
pub struct DefragArgs {
    /// Use all endpoints from the cluster member list
    #[arg(long)]
    pub cluster: bool,
    /// Ignored, as etcdctl ignores them
    #[arg(hide = true)]
    pub args: Vec<String>,
}

/// `snapshot` subcommands.
#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Stores an etcd node backend snapshot to a given file
    Save {
        /// <filename>
        #[arg(value_name = "FILE")]
        args: Vec<String>,
    },
    /// Gets backend snapshot status of a given file (as etcdutl does)
    Status {
        /// <filename>
        #[arg(value_name = "FILE")]
        args: Vec<String>,
    },
    /// Restores an etcd member snapshot to an etcd directory
    Restore(SnapshotRestoreArgs),
}

/// `snapshot restore <filename> --data-dir {output dir} [options]`: etcdutl's flags (see
/// `commands/snapshot/restore/`).
#[derive(Args, Debug, Default)]
pub struct SnapshotRestoreArgs {
    /// <filename>
    #[arg(value_name = "FILE")]
    pub args: Vec<String>,
    /// Path to the output data directory
    #[arg(long)]
    pub data_dir: Option<String>,
    /// Path to the WAL directory (use --data-dir if none given)
    #[arg(long)]
    pub wal_dir: Option<String>,
    /// Human-readable name for this member [etcdutl's default: default]
    #[arg(long)]
    pub name: Option<String>,
    /// Initial cluster configuration for restore bootstrap [default: default=http://localhost:2380]
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// Initial cluster token for the etcd cluster during restore bootstrap [default: etcd-cluster]
    #[arg(long)]
    pub initial_cluster_token: Option<String>,
    /// List of this member's peer URLs to advertise to the rest of the cluster [default: http://localhost:2380]
    #[arg(long)]
    pub initial_advertise_peer_urls: Option<String>,
    /// Ignore snapshot integrity hash value (required if copied from data directory)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::go_compat::parse_bool)]
    pub skip_hash_check: Option<bool>,
    /// Initial memory map size of the database in bytes (accepted for etcdutl's sake; no
    /// effect here, it sizes etcdutl's own memory map)
    #[arg(long)]
    pub initial_memory_map_size: Option<u64>,
    /// How much to increase the latest revision after restore
    #[arg(long)]
    pub bump_revision: Option<u64>,
    /// Mark the latest revision after restore as the point of scheduled compaction
    /// (required if --bump-revision > 0, disallowed otherwise)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_parser = crate::go_compat::parse_bool)]
    pub mark_compacted: Option<bool>,
}

/// `downgrade` subcommands.
#[derive(Subcommand, Debug)]
pub enum DowngradeCommand {
    /// Validate downgrade capability before starting downgrade
    Validate {
        /// <TARGET_VERSION> (major.minor, for example 3.5)
        #[arg(value_name = "TARGET_VERSION")]
        args: Vec<String>,
    },
    /// Start a downgrade action to cluster
    Enable {
        /// <TARGET_VERSION> (major.minor, for example 3.5)
        #[arg(value_name = "TARGET_VERSION")]
        args: Vec<String>,
    },
    /// Cancel the ongoing downgrade action to cluster
    Cancel {
        /// Ignored, as by etcdctl
        #[arg(hide = true)]
        args: Vec<String>,
    },
}
