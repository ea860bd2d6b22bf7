//! `completion bash | zsh | fish | powershell`: a shell completion script for etcdkit's
//! own commands and flags, generated from its argument definitions by `clap_complete`
//! (etcdctl's scripts are cobra's, for etcdctl's binary: not the same bytes, the same use:
//! `source <(etcdkit completion bash)`).

use clap::CommandFactory;
use clap_complete::Shell;

use super::write_stdout;
use crate::args::Cli;
use crate::error::CliError;

/// Prints the completion script for one shell; etcdctl's messages and exit code (1)
/// for a missing, extra or unknown argument.
pub fn run(args: &[String]) -> Result<(), CliError> {
    let [shell] = args else {
        return Err(CliError::error(format!(
            "accepts 1 arg(s), received {}",
            args.len()
        )));
    };
    let shell = match shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "powershell" => Shell::PowerShell,
        other => {
            return Err(CliError::error(format!(
                "invalid argument {} for \"etcdkit completion\"",
                crate::go_compat::quote(other.as_bytes())
            )));
        }
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "etcdkit", &mut script);
    write_stdout(&script)
}
