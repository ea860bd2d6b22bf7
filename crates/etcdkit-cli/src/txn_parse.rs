//! The non-interactive `txn` input of etcdctl, read from stdin:
//!
//! ```text
//! mod("k1") > "0"          compares, one per line
//! value("k2") = "v"
//!                          an empty line ends the compares
//! put k1 new               operations run when every compare holds
//! get k2
//!                          an empty line ends them
//! del k3                   operations run otherwise
//!                          an empty line ends the input
//! ```
//!
//! Each line is trimmed, so a line of blanks is empty. All three empty lines are required:
//! running out of input anywhere is an error (`EOF`), as in etcdctl, which reads lines
//! with Go's `ReadString('\n')`.
//!
//! A compare is `<target>(<quoted key>) <op> <quoted value>`, parsed as etcdctl's
//! `fmt.Sscanf(rest, "%q) %s %q")` would: the key and value are Go-quoted strings
//! (`"..."` with escapes, or `` `raw` ``), and there must be blanks around the operator.
//! Where etcdctl 3.5.1 panics, this parser gives an error instead: for an operator other
//! than `=`, `!=`, `<` and `>`, and for a `lease(...)` compare, which is supported here
//! (the id in hex as etcdctl prints it, with or without `0x`, or in decimal when it is
//! only digits).
//!
//! An operation line is split into arguments as etcdctl's `Argify` does; the command
//! (`get`, `put`, `del`) and its flags are then parsed by the caller, with the same
//! grammar as at the top level.

use std::fmt;
use std::io::BufRead;

use etcdkit::kv::{Compare, CompareOp};
use etcdkit::{LeaseId, Revision};

use crate::go_compat;

/// Input that is not a valid txn; the message is etcdctl's where it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnParseError(pub String);

impl fmt::Display for TxnParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One operation line, split into arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpLine {
    /// The trimmed line, for messages.
    pub line: String,
    /// The arguments: `["put", "k1", "v1"]`.
    pub args: Vec<Vec<u8>>,
}

/// Reads the three sections of a txn, one after the other (so an interactive caller can
/// prompt before each).
pub struct TxnReader<R> {
    input: R,
}

impl<R: BufRead> TxnReader<R> {
    pub fn new(input: R) -> Self {
        TxnReader { input }
    }

    /// The compares, up to the first empty line.
    pub fn compares(&mut self) -> Result<Vec<Compare>, TxnParseError> {
        let mut compares = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Ok(compares);
            }
            compares.push(parse_compare(&line)?);
        }
    }

    /// The operations of one branch, up to the next empty line, each handed to
    /// `convert` as soon as it is read (so a bad line is reported before a later end of
    /// input, as in etcdctl).
    pub fn ops<T, E: From<TxnParseError>>(
        &mut self,
        mut convert: impl FnMut(OpLine) -> Result<T, E>,
    ) -> Result<Vec<T>, E> {
        let mut ops = Vec::new();
        loop {
            let line = self.line()?;
            if line.is_empty() {
                return Ok(ops);
            }
            let args = argify(&line)?;
            let line = String::from_utf8_lossy(&line).into_owned();
            if args.len() < 2 {
                // (sic: etcdctl says "compare" here too.)
                return Err(TxnParseError(format!("invalid txn compare request: {line}")).into());
            }
            ops.push(convert(OpLine { line, args })?);
        }
    }

    /// The next line, trimmed. A last line without its `\n` counts as the end of input.
    fn line(&mut self) -> Result<Vec<u8>, TxnParseError> {
        let mut line = Vec::new();
        let read = self
            .input
            .read_until(b'\n', &mut line)
            .map_err(|e| TxnParseError(e.to_string()))?;
        if read == 0 || line.last() != Some(&b'\n') {
            return Err(TxnParseError("EOF".to_owned()));
        }
        Ok(trim_space(&line).to_vec())
    }
}

/// Go's `strings.TrimSpace` for ASCII blanks (vertical tab included, unlike Rust's
/// `trim_ascii`).
fn trim_space(bytes: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c');
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

/// Parses one compare line.
pub fn parse_compare(line: &[u8]) -> Result<Compare, TxnParseError> {
    let text = String::from_utf8_lossy(line);
    let Some(paren) = line.iter().position(|b| *b == b'(') else {
        return Err(TxnParseError(format!("malformed comparison: {text}")));
    };
    let target = String::from_utf8_lossy(&line[..paren]);
    let scanned = scan_compare(&line[paren + 1..]);
    let (key, op, value) = match scanned {
        Scanned::All(key, op, value) => (key, op, value),
        Scanned::Partial(key, op, value) => {
            return Err(TxnParseError(format!(
                "malformed comparison: {text}; got {target}({}) {} {}",
                go_compat::quote(&key),
                String::from_utf8_lossy(&op),
                go_compat::quote(&value)
            )));
        }
    };
    let invalid = || TxnParseError(format!("invalid txn compare request: {text}"));
    let number = || {
        std::str::from_utf8(&value)
            .ok()
            .and_then(|v| go_compat::parse_int(v, 10).ok())
            .ok_or_else(invalid)
    };
    // As in etcdctl, the target and the operand are checked before the operator.
    let build: Box<dyn FnOnce(CompareOp) -> Compare> = match target.as_ref() {
        "ver" | "version" => {
            let n = number()?;
            Box::new(move |op| Compare::version(key, op, n))
        }
        "c" | "create" => {
            let n = number()?;
            Box::new(move |op| Compare::create_revision(key, op, Revision(n)))
        }
        "m" | "mod" => {
            let n = number()?;
            Box::new(move |op| Compare::mod_revision(key, op, Revision(n)))
        }
        "val" | "value" => Box::new(move |op| Compare::value(key, op, value)),
        "lease" => {
            let id = parse_lease_id(&value).ok_or_else(invalid)?;
            let lease = (id != 0).then_some(LeaseId(id));
            Box::new(move |op| Compare::lease(key, op, lease))
        }
        _ => {
            return Err(TxnParseError(format!(
                "malformed comparison: {text} (unknown target {target})"
            )));
        }
    };
    let op = match op.as_slice() {
        b"=" => CompareOp::Equal,
        b"!=" => CompareOp::NotEqual,
        b"<" => CompareOp::Less,
        b">" => CompareOp::Greater,
        other => {
            return Err(TxnParseError(format!(
                "malformed comparison: {text} (unknown operator {}; expected =, !=, < or >)",
                String::from_utf8_lossy(other)
            )));
        }
    };
    Ok(build(op))
}

/// A lease id in a compare: `0x`-prefixed or with hex letters it is hex (as etcdctl
/// prints ids), only digits it is decimal (as `-w json` prints them).
fn parse_lease_id(value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?;
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    i64::from_str_radix(text, 16).ok()
}

/// What `Sscanf(rest, "%q) %s %q", &key, &op, &val)` managed to read.
enum Scanned {
    All(Vec<u8>, Vec<u8>, Vec<u8>),
    /// Fewer than three items; the ones not read are empty.
    Partial(Vec<u8>, Vec<u8>, Vec<u8>),
}

fn scan_compare(rest: &[u8]) -> Scanned {
    let mut pos = 0;
    let skip_blanks = |pos: &mut usize| {
        while *pos < rest.len() && is_blank(rest[*pos]) {
            *pos += 1;
        }
    };
    // A blank in the format needs at least one blank in the input, or its end.
    let blank_or_end = |pos: &mut usize| {
        if *pos < rest.len() && !is_blank(rest[*pos]) {
            return false;
        }
        skip_blanks(pos);
        true
    };

    skip_blanks(&mut pos);
    let Some(key) = scan_quoted(rest, &mut pos) else {
        return Scanned::Partial(Vec::new(), Vec::new(), Vec::new());
    };
    if rest.get(pos) != Some(&b')') {
        return Scanned::Partial(key, Vec::new(), Vec::new());
    }
    pos += 1;
    if !blank_or_end(&mut pos) {
        return Scanned::Partial(key, Vec::new(), Vec::new());
    }
    let start = pos;
    while pos < rest.len() && !is_blank(rest[pos]) {
        pos += 1;
    }
    let op = rest[start..pos].to_vec();
    if op.is_empty() {
        return Scanned::Partial(key, op, Vec::new());
    }
    if !blank_or_end(&mut pos) {
        return Scanned::Partial(key, op, Vec::new());
    }
    match scan_quoted(rest, &mut pos) {
        // What follows the value is ignored, as Sscanf ignores it.
        Some(value) => Scanned::All(key, op, value),
        None => Scanned::Partial(key, op, Vec::new()),
    }
}

/// Reads a Go-quoted string at `pos` (as fmt's `%q` does) and moves past it.
fn scan_quoted(input: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    match input.get(*pos)? {
        b'`' => {
            let len = input[*pos + 1..].iter().position(|b| *b == b'`')?;
            let raw = input[*pos + 1..*pos + 1 + len].to_vec();
            *pos += len + 2;
            Some(raw)
        }
        b'"' => {
            let mut end = *pos + 1;
            loop {
                match input.get(end)? {
                    b'\\' => end += 2,
                    b'"' => break,
                    _ => end += 1,
                }
            }
            let unquoted = unquote(input.get(*pos + 1..end)?)?;
            *pos = end + 1;
            Some(unquoted)
        }
        _ => None,
    }
}

/// The body of a double-quoted Go string literal with its escapes resolved
/// (`strconv.Unquote`). Bytes that are not escapes are kept as they are.
fn unquote(body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    // Only hex digits: `from_str_radix` would also take a sign (`\x+f`), which Go refuses.
    let hex = |digits: &[u8]| -> Option<u32> {
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    while i < body.len() {
        let b = body[i];
        if b == b'\n' || b == b'"' {
            return None;
        }
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let escape = *body.get(i + 1)?;
        i += 2;
        match escape {
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            b'\\' => out.push(b'\\'),
            b'"' => out.push(b'"'),
            b'x' => {
                let digits = body.get(i..i + 2)?;
                out.push(u8::try_from(hex(digits)?).ok()?);
                i += 2;
            }
            b'0'..=b'7' => {
                let digits = body.get(i - 1..i + 2)?;
                let text = std::str::from_utf8(digits).ok()?;
                out.push(u8::from_str_radix(text, 8).ok()?);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if escape == b'u' { 4 } else { 8 };
                let code = hex(body.get(i..i + n)?)?;
                let c = char::from_u32(code)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Splits an operation line into arguments as etcdctl's `Argify` does: tokens are
/// `"double quoted"` (Go escapes), `'single quoted'` (taken literally) or runs of
/// non-blanks; a quote that is never closed is skipped.
///
/// etcdctl 3.5.1 cuts single-quoted tokens by the number of tokens instead of the
/// token's length (`put k 'a b'` stores `a`); this takes the text between the quotes.
pub fn argify(line: &[u8]) -> Result<Vec<Vec<u8>>, TxnParseError> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if is_blank(b) || b == b'\n' {
            i += 1;
            continue;
        }
        if b == b'"' {
            let mut end = i + 1;
            let closed = loop {
                match line.get(end) {
                    None => break false,
                    Some(b'\\') if end + 1 < line.len() => end += 2,
                    Some(b'\\') => break false,
                    Some(b'"') => break true,
                    Some(_) => end += 1,
                }
            };
            if !closed {
                i += 1;
                continue;
            }
            let arg = unquote(&line[i + 1..end]).ok_or_else(|| {
                TxnParseError(format!(
                    "invalid txn request: {} (bad quoted string)",
                    String::from_utf8_lossy(line)
                ))
            })?;
            args.push(arg);
            i = end + 1;
        } else if b == b'\'' {
            match line[i + 1..].iter().position(|c| *c == b'\'') {
                Some(len) => {
                    args.push(line[i + 1..i + 1 + len].to_vec());
                    i += len + 2;
                }
                None => i += 1,
            }
        } else {
            let start = i;
            while i < line.len() && !(is_blank(line[i]) || line[i] == b'\n') {
                i += 1;
            }
            args.push(line[start..i].to_vec());
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Sections = (Vec<Compare>, Vec<OpLine>, Vec<OpLine>);

    fn read(input: &str) -> Result<Sections, TxnParseError> {
        let mut reader = TxnReader::new(input.as_bytes());
        let keep = Ok::<OpLine, TxnParseError>;
        Ok((reader.compares()?, reader.ops(keep)?, reader.ops(keep)?))
    }

    fn args(line: &str) -> Vec<String> {
        argify(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    fn err(line: &str) -> String {
        parse_compare(line.as_bytes()).unwrap_err().0
    }

    #[test]
    fn sections_are_read_in_order() {
        let (compares, success, failure) =
            read("mod(\"k1\") > \"0\"\n\nput k1 new\nget k2\n\ndel k3\n\n").unwrap();
        assert_eq!(
            compares,
            vec![Compare::mod_revision("k1", CompareOp::Greater, Revision(0))]
        );
        assert_eq!(success.len(), 2);
        assert_eq!(success[0].line, "put k1 new");
        assert_eq!(success[1].args, vec![b"get".to_vec(), b"k2".to_vec()]);
        assert_eq!(failure[0].args, vec![b"del".to_vec(), b"k3".to_vec()]);
    }

    #[test]
    fn the_minimal_input_is_three_empty_lines() {
        let (compares, success, failure) = read("\n\n\n").unwrap();
        assert!(compares.is_empty() && success.is_empty() && failure.is_empty());
        // Blank lines and CRLF count as empty; what follows the third is ignored.
        assert!(read(" \t\r\n\r\n  \ntrailing junk").is_ok());
    }

    #[test]
    fn running_out_of_input_is_eof() {
        for input in [
            "",
            "\n\n",
            "mod(\"k1\") > \"0\"\n\nget k1\n\n",
            "\n\nget k1\n",
        ] {
            assert_eq!(read(input).unwrap_err().0, "EOF", "{input:?}");
        }
    }

    #[test]
    fn compares_of_every_target() {
        let cases = [
            (
                "ver(\"k\") = \"2\"",
                Compare::version("k", CompareOp::Equal, 2),
            ),
            (
                "version(\"k\") != \"-1\"",
                Compare::version("k", CompareOp::NotEqual, -1),
            ),
            (
                "c(\"k\") < \"5\"",
                Compare::create_revision("k", CompareOp::Less, Revision(5)),
            ),
            (
                "create(\"k\") > \"5\"",
                Compare::create_revision("k", CompareOp::Greater, Revision(5)),
            ),
            (
                "m(\"k\") = \"7\"",
                Compare::mod_revision("k", CompareOp::Equal, Revision(7)),
            ),
            (
                "val(\"k\") = \"v\"",
                Compare::value("k", CompareOp::Equal, "v"),
            ),
            (
                "value(`k1`) = `v 1`",
                Compare::value("k1", CompareOp::Equal, "v 1"),
            ),
            (
                "value(\"k\\n\") = \"\\x00\\u00e9\" trailing junk",
                Compare::value("k\n", CompareOp::Equal, &b"\0\xc3\xa9"[..]),
            ),
            (
                "mod(\"k1\")  >   \"0\"",
                Compare::mod_revision("k1", CompareOp::Greater, Revision(0)),
            ),
            (
                "lease(\"k\") = \"2040a200b6ba5145\"",
                Compare::lease("k", CompareOp::Equal, Some(LeaseId(0x2040a200b6ba5145))),
            ),
            (
                "lease(\"k\") = \"0x10\"",
                Compare::lease("k", CompareOp::Equal, Some(LeaseId(16))),
            ),
            (
                "lease(\"k\") = \"1234\"",
                Compare::lease("k", CompareOp::Equal, Some(LeaseId(1234))),
            ),
            (
                "lease(\"k\") = \"0\"",
                Compare::lease("k", CompareOp::Equal, None),
            ),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_compare(line.as_bytes()), Ok(expected), "{line}");
        }
    }

    #[test]
    fn malformed_compares_are_worded_as_etcdctl_words_them() {
        assert_eq!(
            err("mod(\"k1\")>\"0\""),
            "malformed comparison: mod(\"k1\")>\"0\"; got mod(\"k1\")  \"\""
        );
        assert_eq!(
            err("mod(k1) > 0"),
            "malformed comparison: mod(k1) > 0; got mod(\"\")  \"\""
        );
        assert_eq!(
            err("mod(\"k1\") >"),
            "malformed comparison: mod(\"k1\") >; got mod(\"k1\") > \"\""
        );
        assert_eq!(
            err("foo(\"k1\") = \"1\""),
            "malformed comparison: foo(\"k1\") = \"1\" (unknown target foo)"
        );
        assert_eq!(
            err("mod (\"k1\") > \"0\""),
            "malformed comparison: mod (\"k1\") > \"0\" (unknown target mod )"
        );
        assert_eq!(
            err("mod(\"k1\") = \"abc\""),
            "invalid txn compare request: mod(\"k1\") = \"abc\""
        );
        assert_eq!(
            err("mod(\"k1\") > \"0x10\""),
            "invalid txn compare request: mod(\"k1\") > \"0x10\""
        );
        assert_eq!(
            err("lease(\"k1\") = \"zz\""),
            "invalid txn compare request: lease(\"k1\") = \"zz\""
        );
        assert_eq!(
            err("no parenthesis"),
            "malformed comparison: no parenthesis"
        );
    }

    #[test]
    fn unknown_operators_are_errors_not_panics() {
        for op in ["==", ">=", "=~"] {
            let line = format!("mod(\"k1\") {op} \"1\"");
            assert!(
                err(&line).contains(&format!("unknown operator {op}")),
                "{line}"
            );
        }
    }

    #[test]
    fn op_lines_are_split_like_argify() {
        assert_eq!(args("put k1 v1"), ["put", "k1", "v1"]);
        assert_eq!(
            args("put  \"a key\"  \"esc\\\"aped\\n\""),
            ["put", "a key", "esc\"aped\n"]
        );
        assert_eq!(
            args("put q2 'single quoted'"),
            ["put", "q2", "single quoted"]
        );
        assert_eq!(args("put q4 plain\\ x"), ["put", "q4", "plain\\", "x"]);
        assert_eq!(
            args("get k1 --prefix --keys-only"),
            ["get", "k1", "--prefix", "--keys-only"]
        );
        assert_eq!(args("put k \"unclosed"), ["put", "k", "unclosed"]);
        assert_eq!(args("put k1\"x\" v"), ["put", "k1\"x\"", "v"]);
    }

    #[test]
    fn an_op_needs_two_arguments() {
        let e = read("\nget\n\n\n").unwrap_err();
        assert_eq!(e.0, "invalid txn compare request: get");
    }

    #[test]
    fn a_sign_in_a_hex_escape_is_refused_as_go_refuses_it() {
        assert!(parse_compare(br#"value("k") = "\x+f""#).is_err());
        assert!(parse_compare(br#"value("k") = "\u+0e9""#).is_err());
        assert!(argify(br#"put k "\x+f""#).is_err());
        assert_eq!(
            argify(br#"put k "\x0f\u00e9""#).unwrap()[2],
            b"\x0f\xc3\xa9".to_vec()
        );
    }
}
