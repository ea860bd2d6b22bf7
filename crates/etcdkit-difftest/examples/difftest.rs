//! The long run: `cargo run -p etcdkit-difftest --example difftest -- --ops 10000 --seed 7`
//! (`--no-expiry` leaves out leases that expire, which wait a second or two each;
//! `--trace` prints every step and the reference's result).
//! Prints a summary of what ran, or the first difference, and exits 1 on a difference.

use std::process::ExitCode;

use etcdkit_difftest::{Config, Side, run, start_candidate, start_reference};

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = Config {
        seed: 1,
        ops: 10_000,
        expiry: true,
        trace: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let number = |v: Option<String>| v.and_then(|v| v.parse::<u64>().ok());
        match arg.as_str() {
            "--ops" => match number(args.next()) {
                Some(n) => config.ops = usize::try_from(n).unwrap_or(usize::MAX),
                None => return usage(),
            },
            "--seed" => match number(args.next()) {
                Some(n) => config.seed = n,
                None => return usage(),
            },
            "--no-expiry" => config.expiry = false,
            "--trace" => config.trace = true,
            _ => return usage(),
        }
    }
    let (reference, candidate) = match tokio::join!(start_reference(), start_candidate()) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("cannot start the endpoints: {e}");
            return ExitCode::FAILURE;
        }
    };
    let prefix = format!("difftest/{}/", config.seed);
    let sides = tokio::try_join!(
        Side::connect(reference.endpoint(), &prefix),
        Side::connect(candidate.endpoint(), &prefix)
    );
    let (a, b) = match sides {
        Ok(sides) => sides,
        Err(e) => {
            eprintln!("cannot connect: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = std::time::Instant::now();
    let result = run(config, &a, &b).await;
    println!(
        "{} vs {}, seed {}, {:.1} s",
        reference.name(),
        candidate.name(),
        config.seed,
        started.elapsed().as_secs_f64()
    );
    match result {
        Ok(summary) => {
            print!("{summary}");
            ExitCode::SUCCESS
        }
        Err(divergence) => {
            print!("{divergence}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: difftest [--ops N] [--seed N] [--no-expiry] [--trace]");
    ExitCode::from(2)
}
