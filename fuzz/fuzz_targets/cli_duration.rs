//! The CLI's Go-compatible value parsers, which read flags and environment variables
//! (`--dial-timeout 1.5s`, `ETCDCTL_COMMAND_TIMEOUT`, lease ids): `time.ParseDuration`
//! and `strconv.ParseInt`, compiled in from the CLI crate with `#[path]` (a binary crate).
//!
//! Properties: no panic; a duration printed as Go prints it parses back to itself (to
//! within the float rounding of very long ones); a number printed in a base parses back.
#![no_main]

#[path = "../../crates/etcdkit-cli/src/go_compat.rs"]
#[allow(dead_code)]
mod go_compat;

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    text: String,
    nanos: u64,
    number: i64,
    base: u8,
}

fuzz_target!(|input: Input| {
    if let Ok(d) = go_compat::parse_duration(&input.text) {
        round_trips(d);
    }
    let _ = go_compat::parse_int(&input.text, 10);
    let _ = go_compat::parse_int(&input.text, 16);
    round_trips(Duration::from_nanos(input.nanos));

    let base = u32::from(input.base % 35) + 2;
    let text = to_base(input.number, base);
    assert_eq!(
        go_compat::parse_int(&text, base),
        Ok(input.number),
        "{text} in base {base}"
    );
});

fn round_trips(d: Duration) {
    let printed = go_compat::format_duration(d);
    let back = go_compat::parse_duration(&printed)
        .unwrap_or_else(|e| panic!("{d:?} printed as {printed:?}: {e}"));
    // The parser sums in f64: exact to 2^53 ns (104 days), then within its precision.
    let tolerance = d.as_nanos() >> 50;
    let diff = back.as_nanos().abs_diff(d.as_nanos());
    assert!(
        diff <= tolerance,
        "{d:?} printed as {printed:?} parsed as {back:?}"
    );
}

fn to_base(n: i64, base: u32) -> String {
    let mut digits = Vec::new();
    let mut m = n.unsigned_abs();
    loop {
        digits.push(char::from_digit((m % u64::from(base)) as u32, base).unwrap_or('?'));
        m /= u64::from(base);
        if m == 0 {
            break;
        }
    }
    if n < 0 {
        digits.push('-');
    }
    digits.iter().rev().collect()
}
