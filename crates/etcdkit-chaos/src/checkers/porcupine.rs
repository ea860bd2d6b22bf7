//! The register's checker of record: porcupine (github.com/anishathalye/porcupine, the
//! linearizability checker etcd's own robustness tests use), run through our small Go
//! tool `tools/lincheck`. Outside what etcdkit exists for, a well-kept library beats our
//! own code; the Rust search in `register.rs` stays as a cross-check, and as the only
//! check where there is no Go toolchain.
//!
//! The tool reads the history as JSON on stdin and prints one JSON line; its module docs
//! (`tools/lincheck/main.go`) define both. The operations sent are the ones
//! [`register::checked`] keeps, so both checkers judge the same history.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::Anomaly;
use super::register::{self, Verdict};
use crate::history::{RegisterCall, RegisterOp, RegisterResult};

/// Why porcupine cannot be used; either way the Rust search judges alone.
#[derive(Debug, Clone)]
pub enum Unavailable {
    /// No `go` on the PATH (etcd from `--debian`, say).
    NoGo,
    /// `go build` of the tool failed (no network for the module proxy, say).
    BuildFailed(String),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NoGo => write!(f, "no Go toolchain (`go` not found) for porcupine"),
            Unavailable::BuildFailed(why) => write!(f, "building tools/lincheck failed: {why}"),
        }
    }
}

/// The built tool.
#[derive(Debug, Clone)]
pub struct Lincheck {
    bin: PathBuf,
}

/// What the tool said, and how long it took (process start to exit).
#[derive(Debug, Clone)]
pub struct Checked {
    pub verdict: Verdict,
    pub elapsed: Duration,
}

/// The checkout the runner was built from: the tool's sources are found there, as the
/// runner is only ever run from its own checkout (`scripts/chaos`, `cargo test`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Lincheck {
    /// The tool, built on first use in this process and reused after.
    ///
    /// # Errors
    /// [`Unavailable`] when there is no Go toolchain or the build fails.
    pub fn get() -> Result<Lincheck, Unavailable> {
        // Once per process: the tests call this from several threads at a time.
        static TOOL: OnceLock<Result<Lincheck, Unavailable>> = OnceLock::new();
        TOOL.get_or_init(build).clone()
    }

    /// Checks the register history, starting from `initial`, giving porcupine `timeout`.
    ///
    /// # Errors
    /// When the tool cannot be run or says something other than a verdict.
    pub fn check(
        &self,
        ops: &[RegisterOp],
        initial: u64,
        timeout: Duration,
    ) -> anyhow::Result<Checked> {
        let input = serde_json::to_vec(&history_json(ops, initial))?;
        let start = Instant::now();
        let mut child = Command::new(&self.bin)
            .arg(format!("-timeout={}ms", timeout.as_millis()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running {}", self.bin.display()))?;
        // The tool reads all of stdin before it writes anything, so writing it all first
        // cannot deadlock on a full stdout pipe.
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(&input)
                .context("writing the history to lincheck")?;
        }
        let out = child.wait_with_output().context("waiting for lincheck")?;
        let elapsed = start.elapsed();
        if !out.status.success() {
            bail!(
                "lincheck exited with {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let verdict = parse_verdict(&out.stdout, timeout)?;
        Ok(Checked { verdict, elapsed })
    }
}

/// `go build`s the tool into `target/lincheck`, unless it is newer than its sources.
fn build() -> Result<Lincheck, Unavailable> {
    let root = repo_root();
    let src = root.join("tools/lincheck");
    let bin = root.join("target/lincheck");
    let go_found = Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !go_found {
        return Err(Unavailable::NoGo);
    }
    if is_fresh(&bin, &src) {
        return Ok(Lincheck { bin });
    }
    // Build under another name and rename: another runner (or test binary) starting at
    // the same moment then sees either the old tool or the new one, never half of one.
    let tmp = root.join(format!("target/lincheck.{}", std::process::id()));
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(".")
        .current_dir(&src)
        .output()
        .map_err(|e| Unavailable::BuildFailed(e.to_string()))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(Unavailable::BuildFailed(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    std::fs::rename(&tmp, &bin).map_err(|e| Unavailable::BuildFailed(e.to_string()))?;
    Ok(Lincheck { bin })
}

/// Whether `bin` was built after every source of the tool last changed.
fn is_fresh(bin: &Path, src: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else {
        return false;
    };
    ["go.mod", "go.sum", "main.go"]
        .iter()
        .all(|f| modified(&src.join(f)).is_some_and(|changed: SystemTime| changed <= built))
}

/// The history in the tool's input format.
fn history_json(ops: &[RegisterOp], initial: u64) -> Value {
    let operations: Vec<Value> = register::checked(ops)
        .filter_map(|o| {
            let input = match o.call {
                RegisterCall::Read => json!({ "kind": "read" }),
                RegisterCall::Cas { from, to } => json!({ "kind": "cas", "from": from, "to": to }),
            };
            let output = match o.result {
                RegisterResult::Read(value) => json!({ "kind": "read", "value": value }),
                RegisterResult::Cas(ok) => json!({ "kind": "cas", "ok": ok }),
                RegisterResult::Unknown => json!({ "kind": "unknown" }),
                // `checked` has left these out already: no effect, nothing to send.
                RegisterResult::Failed => return None,
            };
            Some(json!({
                "process": o.process,
                "call_ns": nanos(o.invoke),
                "return_ns": nanos(o.complete),
                "input": input,
                "output": output,
            }))
        })
        .collect();
    json!({ "initial": initial, "operations": operations })
}

/// Go's timestamps are i64 nanoseconds: 292 years, far beyond any run.
fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The tool's `{"linearizable": true|false|null, "detail": ...}` as a [`Verdict`].
fn parse_verdict(stdout: &[u8], timeout: Duration) -> anyhow::Result<Verdict> {
    let v: Value = serde_json::from_slice(stdout).with_context(|| {
        format!(
            "lincheck printed something other than a verdict: {:?}",
            String::from_utf8_lossy(stdout)
        )
    })?;
    let detail = v["detail"].as_str().unwrap_or_default();
    Ok(match v["linearizable"] {
        Value::Bool(true) => Verdict::Linearizable,
        Value::Bool(false) => Verdict::NotLinearizable {
            detail: format!("porcupine: {detail}"),
        },
        Value::Null => Verdict::TimedOut { after: timeout },
        ref other => bail!("lincheck's \"linearizable\" is {other}"),
    })
}

/// An anomaly when the two checkers reach opposite verdicts: one of them has a bug, and
/// the history that shows it is worth keeping. A search that gave up disagrees with
/// nothing.
pub fn disagreement(porcupine: &Verdict, ours: &Verdict) -> Option<Anomaly> {
    let detail = match (porcupine, ours) {
        (Verdict::Linearizable, Verdict::NotLinearizable { detail }) => format!(
            "register checkers disagree: porcupine found a linearization, the Rust search \
             found none ({detail})"
        ),
        (Verdict::NotLinearizable { detail }, Verdict::Linearizable) => format!(
            "register checkers disagree: the Rust search found a linearization, porcupine \
             found none ({detail})"
        ),
        _ => return None,
    };
    Some(Anomaly::new("register", detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkers::register::tests::{cas, cas_with, histories, op, read};

    const TIMEOUT: Duration = Duration::from_secs(30);

    fn linearizable(v: &Verdict) -> Option<bool> {
        match v {
            Verdict::Linearizable => Some(true),
            Verdict::NotLinearizable { .. } => Some(false),
            _ => None,
        }
    }

    /// The tool, or `None` (with the reason printed) where there is no Go; a failing
    /// build with Go present fails the test.
    fn tool_or_skip() -> Option<Lincheck> {
        match Lincheck::get() {
            Ok(tool) => Some(tool),
            Err(Unavailable::NoGo) => {
                println!("skipped: no Go toolchain, so no porcupine to run");
                None
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn porcupine_and_the_rust_search_agree_on_the_register_test_histories() {
        let Some(tool) = tool_or_skip() else {
            return;
        };
        for (name, h, expected) in histories::all() {
            let porcupine = tool.check(&h, 0, TIMEOUT).expect("lincheck runs").verdict;
            assert_eq!(
                linearizable(&porcupine),
                Some(expected),
                "porcupine on {name}: {porcupine:?}"
            );
            let ours = register::check(&h, 0, 10_000_000);
            assert_eq!(
                linearizable(&ours),
                Some(expected),
                "Rust search on {name}: {ours:?}"
            );
            assert!(disagreement(&porcupine, &ours).is_none(), "{name}");
        }
    }

    #[test]
    fn porcupine_names_the_read_it_could_not_place() {
        let Some(tool) = tool_or_skip() else {
            return;
        };
        let h = [cas(0, 0, 1, true, (0, 1)), read(7, 0, (2, 3))];
        let verdict = tool.check(&h, 0, TIMEOUT).expect("lincheck runs").verdict;
        let Verdict::NotLinearizable { detail } = verdict else {
            panic!("expected not linearizable, got {verdict:?}");
        };
        assert!(detail.contains("process 7's read -> 0"), "{detail}");
    }

    #[test]
    fn opposite_verdicts_are_an_anomaly_and_a_search_that_gave_up_is_not() {
        let no = Verdict::NotLinearizable { detail: "x".into() };
        let gave_up = Verdict::TimedOut {
            after: Duration::from_secs(1),
        };
        assert!(disagreement(&Verdict::Linearizable, &no).is_some());
        assert!(disagreement(&no, &Verdict::Linearizable).is_some());
        assert!(disagreement(&Verdict::Linearizable, &Verdict::Linearizable).is_none());
        assert!(disagreement(&gave_up, &no).is_none());
    }

    #[test]
    fn the_history_sent_leaves_out_failures_and_unknown_reads_and_keeps_an_unknown_cas() {
        let h = [
            cas_with(0, 0, 1, RegisterResult::Failed, (0, 1)),
            op(1, RegisterCall::Read, RegisterResult::Unknown, (2, 3)),
            cas_with(2, 0, 1, RegisterResult::Unknown, (4, 5)),
            read(3, 1, (6, 7)),
        ];
        let sent = history_json(&h, 5);
        assert_eq!(sent["initial"], 5);
        let ops = sent["operations"].as_array().expect("an array");
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0]["output"]["kind"], "unknown");
        assert_eq!(ops[0]["call_ns"], 4_000_000);
        assert_eq!(ops[1]["output"], json!({ "kind": "read", "value": 1 }));
    }
}
