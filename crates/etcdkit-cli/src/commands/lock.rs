//! `lock NAME [COMMAND ARGS...]`: takes the lock (the mutex recipe, etcdctl's key layout,
//! so etcdkit and etcdctl lock each other out). With a command, runs it while holding the
//! lock, with `ETCD_LOCK_KEY` and `ETCD_LOCK_REV` in its environment, releases the lock
//! and exits with the command's status. Without one, prints the key and holds the lock
//! until interrupted, then releases it.

use std::time::Duration;

use etcdkit_recipes::election::Leadership;
use etcdkit_recipes::mutex::{LostCause, Mutex, MutexGuard};
use etcdkit_recipes::session::Session;

use super::{arg_bytes, connect, write_stdout};
use crate::args::{GlobalArgs, LockArgs};
use crate::error::CliError;

pub async fn run(global: &GlobalArgs, args: &LockArgs) -> Result<(), CliError> {
    // etcdctl's flag parser drops the first `--` wherever it stands (`lock NAME -- CMD
    // ARGS`); clap keeps it once the trailing arguments have begun.
    let mut words = args.args.clone();
    if let Some(dashes) = words.iter().position(|w| w == "--") {
        words.remove(dashes);
    }
    let Some(name) = words.first() else {
        return Err(CliError::error(
            "lock takes a lock name argument and an optional command to execute",
        ));
    };
    // Installed before anything waits, so an interrupt is never the default "die".
    let mut interrupt = Interrupt::new()?;
    let client = connect(global).await?;
    let ttl = Duration::from_secs(u64::try_from(args.ttl).unwrap_or(0).max(1));
    let session = Session::builder(&client)
        .ttl(ttl)
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    let mutex = Mutex::new(&session, arg_bytes(name));
    let guard = tokio::select! {
        guard = mutex.lock() => guard.map_err(|e| CliError::from_etcd(&e))?,
        () = interrupt.wait() => {
            let _ = session.close().await;
            return Err(CliError::error("context canceled"));
        }
    };

    if let Some(program) = words.get(1) {
        let mut command = tokio::process::Command::new(program);
        command
            .args(&words[2..])
            .env("ETCD_LOCK_KEY", super::bytes_arg(guard.key().to_vec()))
            .env("ETCD_LOCK_REV", guard.fencing_token().to_string());
        // Interrupts reach the command through the terminal; this process waits for it.
        let status = match command.status().await {
            Ok(status) => status,
            Err(e) => {
                let _ = guard.unlock().await;
                let _ = session.close().await;
                return Err(CliError::error(spawn_error(program, &e)));
            }
        };
        let unlocked = guard.unlock().await;
        let closed = session.close().await;
        if let Some(code) = status.code() {
            if code != 0 {
                eprintln!("Error: exit status {code}");
                std::process::exit(code);
            }
        } else {
            eprintln!("Error: signal: {}", signal_name(&status));
            std::process::exit(255);
        }
        unlocked.map_err(|e| CliError::from_etcd(&e))?;
        return closed.map_err(|e| CliError::from_etcd(&e));
    }

    let mut out = guard.key().to_vec();
    out.extend_from_slice(b"\n\n");
    write_stdout(&out)?;
    hold_until_interrupted(guard, &mut interrupt, session, "session expired").await
}

/// What `lock` and `elect` hold until interrupted: a lock or a leadership.
pub(super) trait Held {
    /// Resolves when the session ends under it.
    async fn lost(&self) -> LostCause;

    /// Unlocks or resigns.
    async fn give_up(self) -> etcdkit::Result<bool>;
}

impl Held for MutexGuard {
    async fn lost(&self) -> LostCause {
        MutexGuard::lost(self).await
    }

    async fn give_up(self) -> etcdkit::Result<bool> {
        self.unlock().await
    }
}

impl Held for Leadership {
    async fn lost(&self) -> LostCause {
        Leadership::lost(self).await
    }

    async fn give_up(self) -> etcdkit::Result<bool> {
        self.resign().await
    }
}

/// Holds `held` until interrupted, then gives it up and closes the session, as etcdctl
/// does; fails with `lost` (etcdctl's words) when the session expires first.
pub(super) async fn hold_until_interrupted(
    held: impl Held,
    interrupt: &mut Interrupt,
    session: Session,
    lost: &'static str,
) -> Result<(), CliError> {
    let interrupted = tokio::select! {
        () = interrupt.wait() => true,
        _ = held.lost() => false,
    };
    if !interrupted {
        return Err(CliError::error(lost));
    }
    held.give_up().await.map_err(|e| CliError::from_etcd(&e))?;
    session.close().await.map_err(|e| CliError::from_etcd(&e))
}

/// How Go's `exec` words a command that could not be started.
pub fn spawn_error(program: &std::ffi::OsStr, e: &std::io::Error) -> String {
    let name = program.to_string_lossy();
    if e.kind() == std::io::ErrorKind::NotFound && !name.contains('/') {
        format!("exec: \"{name}\": executable file not found in $PATH")
    } else {
        format!("fork/exec {name}: {e}")
    }
}

/// Go's name for the signal that ended a command.
pub fn signal_name(status: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        match status.signal() {
            Some(1) => "hangup".to_owned(),
            Some(2) => "interrupt".to_owned(),
            Some(3) => "quit".to_owned(),
            Some(6) => "aborted".to_owned(),
            Some(9) => "killed".to_owned(),
            Some(11) => "segmentation fault".to_owned(),
            Some(13) => "broken pipe".to_owned(),
            Some(15) => "terminated".to_owned(),
            Some(n) => format!("signal {n}"),
            None => "unknown".to_owned(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = status;
        "unknown".to_owned()
    }
}

/// SIGINT or SIGTERM, caught from the moment this is made.
pub struct Interrupt {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Interrupt {
    pub fn new() -> Result<Interrupt, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Interrupt {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Interrupt {})
        }
    }

    /// Waits for the next interrupt.
    pub async fn wait(&mut self) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => {}
                _ = self.term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
