//! The CLI's `txn` grammar (etcdctl's non-interactive input, read from stdin): compare
//! lines with Go-quoted keys and values, and operation lines split into arguments.
//!
//! The CLI is a binary crate with no library target; its two parser modules only use
//! `etcdkit` and each other, so they are compiled into this target as they are with
//! `#[path]` (no change to the CLI crate).
//!
//! Properties: no panic on any input; a compare line written from a key, operator and
//! value (quoted as etcdctl quotes them) parses to that compare; an operation line of
//! quoted arguments splits back into those arguments; a whole txn written from its parts
//! reads back to them.
#![no_main]

#[path = "../../crates/etcdkit-cli/src/go_compat.rs"]
#[allow(dead_code)]
mod go_compat;
#[path = "../../crates/etcdkit-cli/src/txn_parse.rs"]
#[allow(dead_code)]
mod txn_parse;

use arbitrary::Arbitrary;
use etcdkit::kv::{Compare, CompareOp};
use etcdkit::{LeaseId, Revision};
use libfuzzer_sys::fuzz_target;

use go_compat::quote;
use txn_parse::{TxnReader, argify, parse_compare};

#[derive(Arbitrary, Debug)]
enum Target {
    Value(Vec<u8>),
    Version(i64),
    Create(i64),
    Mod(i64),
    Lease(u64),
}

#[derive(Arbitrary, Debug)]
struct CompareSpec {
    key: Vec<u8>,
    op: u8,
    target: Target,
}

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Vec<u8>,
    compares: Vec<CompareSpec>,
    success: Vec<Vec<Vec<u8>>>,
    failure: Vec<Vec<Vec<u8>>>,
}

fn compare(spec: &CompareSpec) -> (String, Compare) {
    let (op_text, op) = match spec.op % 4 {
        0 => ("=", CompareOp::Equal),
        1 => ("!=", CompareOp::NotEqual),
        2 => ("<", CompareOp::Less),
        _ => (">", CompareOp::Greater),
    };
    let key = spec.key.clone();
    let (target, operand, expected) = match &spec.target {
        Target::Value(v) => ("value", v.clone(), Compare::value(key, op, v.clone())),
        Target::Version(n) => (
            "ver",
            n.to_string().into_bytes(),
            Compare::version(key, op, *n),
        ),
        Target::Create(n) => (
            "c",
            n.to_string().into_bytes(),
            Compare::create_revision(key, op, Revision(*n)),
        ),
        Target::Mod(n) => (
            "mod",
            n.to_string().into_bytes(),
            Compare::mod_revision(key, op, Revision(*n)),
        ),
        Target::Lease(id) => {
            let id = (*id >> 1) as i64;
            let lease = (id != 0).then_some(LeaseId(id));
            (
                "lease",
                format!("0x{id:x}").into_bytes(),
                Compare::lease(key, op, lease),
            )
        }
    };
    let line = format!(
        "{target}({}) {op_text} {}",
        quote(&spec.key),
        quote(&operand)
    );
    (line, expected)
}

/// Operation lines need a command and at least one argument.
fn op_lines(ops: &[Vec<Vec<u8>>]) -> Vec<Vec<Vec<u8>>> {
    ops.iter().filter(|args| args.len() >= 2).cloned().collect()
}

fn op_line(args: &[Vec<u8>]) -> String {
    args.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ")
}

fuzz_target!(|input: Input| {
    // Anything at all.
    let _ = parse_compare(&input.raw);
    let _ = argify(&input.raw);
    let mut reader = TxnReader::new(input.raw.as_slice());
    if reader.compares().is_ok() && reader.ops(Ok::<_, txn_parse::TxnParseError>).is_ok() {
        let _ = reader.ops(Ok::<_, txn_parse::TxnParseError>);
    }

    // Written from parts, read back.
    let mut text = String::new();
    let mut expected = Vec::new();
    for spec in &input.compares {
        let (line, compare) = compare(spec);
        assert_eq!(
            parse_compare(line.as_bytes()),
            Ok(compare.clone()),
            "{line}"
        );
        text.push_str(&line);
        text.push('\n');
        expected.push(compare);
    }
    text.push('\n');
    let success = op_lines(&input.success);
    let failure = op_lines(&input.failure);
    for ops in [&success, &failure] {
        for args in ops {
            let line = op_line(args);
            assert_eq!(argify(line.as_bytes()).as_ref(), Ok(args), "{line}");
            text.push_str(&line);
            text.push('\n');
        }
        text.push('\n');
    }
    let mut reader = TxnReader::new(text.as_bytes());
    let keep = |op: txn_parse::OpLine| Ok::<_, txn_parse::TxnParseError>(op.args);
    assert_eq!(reader.compares().as_ref(), Ok(&expected), "{text}");
    assert_eq!(reader.ops(keep).as_ref(), Ok(&success), "{text}");
    assert_eq!(reader.ops(keep).as_ref(), Ok(&failure), "{text}");
});
