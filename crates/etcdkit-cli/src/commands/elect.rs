//! `elect NAME PROPOSAL`: campaigns (the election recipe, etcdctl's key layout), prints
//! the leader key and value once elected, holds the leadership until interrupted, then
//! resigns. `elect --listen NAME`: prints the leader's key and value at each change.

use etcdkit_recipes::election::{Election, LeaderEvent};
use etcdkit_recipes::session::Session;
use futures_util::StreamExt;

use super::lock::{Interrupt, hold_until_interrupted};
use super::{arg_bytes, connect, printer, write_stdout};
use crate::args::{ElectArgs, GlobalArgs};
use crate::error::CliError;
use crate::output::Format;

pub async fn run(global: &GlobalArgs, args: &ElectArgs) -> Result<(), CliError> {
    if args.args.is_empty() || args.args.len() > 2 {
        return Err(CliError::bad_args(
            "elect takes one election name argument and an optional proposal argument",
        ));
    }
    let proposal = args.args.get(1);
    if args.listen && proposal.is_some() {
        return Err(CliError::bad_args("proposal given but -l is set"));
    }
    if !args.listen && proposal.is_none() {
        return Err(CliError::bad_args("no proposal argument but -l not set"));
    }
    let printer = printer(global)?;
    if printer.format != Format::Simple {
        return Err(CliError::bad_feature(format!(
            "{} not supported as output format for elect",
            global.write_out
        )));
    }
    let mut interrupt = Interrupt::new()?;
    let client = connect(global).await?;
    let session = Session::new(&client)
        .await
        .map_err(|e| CliError::from_etcd(&e))?;
    let election = Election::new(&session, arg_bytes(&args.args[0]));

    let Some(proposal) = proposal else {
        let mut observer = election.observe();
        loop {
            tokio::select! {
                event = observer.next() => match event {
                    Some(Ok(LeaderEvent::Leader(kv))) => {
                        let mut out = Vec::new();
                        line(&mut out, kv.key(), printer.hex);
                        line(&mut out, kv.value(), printer.hex);
                        write_stdout(&out)?;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(CliError::from_etcd(&e)),
                    None => return Err(CliError::error("elect: observer lost")),
                },
                () = interrupt.wait() => {
                    drop(observer);
                    return session.close().await.map_err(|e| CliError::from_etcd(&e));
                }
            }
        }
    };

    let leadership = tokio::select! {
        won = election.campaign(arg_bytes(proposal)) => won.map_err(|e| CliError::from_etcd(&e))?,
        () = interrupt.wait() => {
            let _ = session.close().await;
            return Err(CliError::error("context canceled"));
        }
    };
    let mut out = Vec::new();
    line(&mut out, leadership.key(), printer.hex);
    line(&mut out, &arg_bytes(proposal), printer.hex);
    write_stdout(&out)?;
    hold_until_interrupted(
        leadership,
        &mut interrupt,
        session,
        "elect: session expired",
    )
    .await
}

/// One line of etcdctl's simple format: the bytes as they are, or as `\xNN` with `--hex`.
fn line(out: &mut Vec<u8>, bytes: &[u8], hex: bool) {
    if hex {
        for b in bytes {
            out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
        }
    } else {
        out.extend_from_slice(bytes);
    }
    out.push(b'\n');
}
