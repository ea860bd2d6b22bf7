//! The arguments of `make-mirror`, with etcdctl 3.6's flags and defaults.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Args;

use crate::go_compat;
use crate::security::Secret;

/// `make-mirror [options] <destination>`
#[derive(Args, Debug, Clone)]
pub struct MakeMirrorArgs {
    /// Verify certificates of TLS enabled secure servers using this CA bundle
    #[arg(long)]
    pub dest_cacert: Option<PathBuf>,
    /// Identify secure client using this TLS certificate file for the destination cluster
    #[arg(long)]
    pub dest_cert: Option<PathBuf>,
    /// Identify secure client using this TLS key file
    #[arg(long)]
    pub dest_key: Option<PathBuf>,
    /// Disable transport security for client connections
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "true", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub dest_insecure_transport: bool,
    /// Destination username[:password] for authentication (prompt if password is not supplied)
    #[arg(long, value_parser = Secret::parse)]
    pub dest_user: Option<Secret>,
    /// Destination password for authentication (then --dest-user holds only the name)
    #[arg(long, value_parser = Secret::parse)]
    pub dest_password: Option<Secret>,
    /// Key-value prefix to mirror
    #[arg(long, default_value = "")]
    pub prefix: OsString,
    /// Destination prefix to mirror a prefix to a different prefix in the destination cluster
    #[arg(long, default_value = "")]
    pub dest_prefix: OsString,
    /// Mirror key-values to the root of the destination cluster
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value = "false", default_missing_value = "true", value_parser = go_compat::parse_bool)]
    pub no_dest_prefix: bool,
    /// Maximum number of operations permitted in a transaction during syncing updates
    #[arg(long, default_value_t = 128)]
    pub max_txn_ops: u32,
    /// Specify the kv revision to start to mirror
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    pub rev: i64,
    /// <destination>
    #[arg(value_name = "DESTINATION")]
    pub args: Vec<String>,
}
