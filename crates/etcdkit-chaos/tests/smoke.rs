//! A short chaos run against real etcd (from `ETCD_BIN` or `PATH`, like every test of
//! the test kit), with a fixed seed: it must end with zero anomalies.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The run: 15 s of faults, then the lose-majority phase, then checking. Far more than
/// that means the runner hung.
const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn a_short_fixed_seed_run_finds_no_anomaly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_etcdkit-chaos"))
        .args(["--duration", "15", "--seed", "13", "--lose-majority"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the chaos runner starts");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    // Read on a thread so that the wait below stays bounded.
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the runner can be waited for") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the chaos run did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = reader.join().expect("the reader thread ends");
    print!("{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("chaos: ") && last.ends_with(" 0 anomalies"),
        "last line: {last:?}"
    );
    assert!(status.success(), "exit status {status}");
    // The run did run: faults were injected and operations recorded.
    assert!(!last.starts_with("chaos: 0 faults"), "{last}");
}
