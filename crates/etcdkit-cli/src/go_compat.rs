//! The few Go library behaviours etcdctl's output and messages depend on, redone in Rust
//! so that `etcdkit` prints the same bytes: `strconv.ParseInt` (and its error text),
//! `strconv.Quote`, `time.ParseDuration`, `time.Duration.String` and go-humanize's
//! `Bytes`.

use std::time::Duration;

/// `strconv.ParseInt(s, base, 64)`, with Go's error text
/// (`strconv.ParseInt: parsing "abc": invalid syntax`). No `0x` prefix is accepted, as
/// with an explicit base in Go.
pub fn parse_int(s: &str, base: u32) -> Result<i64, String> {
    // Rust accepts the same optional sign and digits as Go does for an explicit base;
    // only the error text differs.
    i64::from_str_radix(s, base).map_err(|e| {
        let why = match e.kind() {
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
                "value out of range"
            }
            _ => "invalid syntax",
        };
        format!("strconv.ParseInt: parsing {}: {why}", quote(s.as_bytes()))
    })
}

/// `strconv.ParseBool`, with Go's error text: pflag reads `--hex=T` or `--hex=0` this way.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            quote(s.as_bytes())
        )),
    }
}

/// grpc-go's name of a status code (`codes.Code.String()`), as `rpc error: code = NAME`
/// prints it.
pub fn grpc_code_name(code: etcdkit::Code) -> &'static str {
    use etcdkit::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
        // A code newer than this list: Go prints those as `Code(N)`.
        _ => "Unknown",
    }
}

/// `strconv.Quote` of some bytes: double-quoted, with Go's escapes. Invalid UTF-8 bytes
/// are written as `\xNN`, as Go does.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    out.push_str(&format!("\\x{:02x}", c as u32));
                }
                c if c.is_control() => {
                    if (c as u32) <= 0xffff {
                        out.push_str(&format!("\\u{:04x}", c as u32));
                    } else {
                        out.push_str(&format!("\\U{:08x}", c as u32));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// `time.ParseDuration`: a sequence of decimal numbers with units, such as `2s`, `1.5h`,
/// `1m30s` or `500ms`; `0` alone is allowed. Negative durations are refused: a timeout
/// cannot be negative.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {}", quote(s.as_bytes()));
    let rest = s.strip_prefix('+').unwrap_or(s);
    if rest.starts_with('-') {
        return Err(format!(
            "negative duration {} is not allowed",
            quote(s.as_bytes())
        ));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = 0f64;
    let mut rest = rest;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..number_len];
        if number.is_empty() || number == "." || number.matches('.').count() > 1 {
            return Err(invalid());
        }
        let value: f64 = number.parse().map_err(|_| invalid())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => {
                return Err(format!(
                    "time: missing unit in duration {}",
                    quote(s.as_bytes())
                ));
            }
            unit => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit.as_bytes()),
                    quote(s.as_bytes())
                ));
            }
        };
        total += value * nanos_per_unit;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// `time.Duration.String`: `850µs`, `2.7368ms`, `5.002733545s`, `1m0s`.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", decimal(nanos, 3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", decimal(nanos, 6));
    }
    let secs = d.as_secs();
    let (hours, minutes) = (secs / 3600, (secs / 60) % 60);
    let seconds = decimal(
        u128::from(secs % 60) * 1_000_000_000 + u128::from(d.subsec_nanos()),
        9,
    );
    if hours > 0 {
        format!("{hours}h{minutes}m{seconds}s")
    } else if minutes > 0 {
        format!("{minutes}m{seconds}s")
    } else {
        format!("{seconds}s")
    }
}

/// `value / 10^digits` written with up to `digits` fraction digits, trailing zeros cut.
fn decimal(value: u128, digits: u32) -> String {
    let scale = 10u128.pow(digits);
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let fraction = format!("{fraction:0width$}", width = digits as usize);
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// go-humanize's `Bytes`: SI units, `41 kB`, `4.5 MB`, `8 B`.
pub fn humanize_bytes(size: u64) -> String {
    const SUFFIXES: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    if size < 10 {
        return format!("{size} B");
    }
    let size = size as f64;
    let exponent = (size.ln() / 1000f64.ln()).floor();
    let suffix = SUFFIXES[(exponent as usize).min(SUFFIXES.len() - 1)];
    let value = (size / 1000f64.powf(exponent) * 10.0 + 0.5).floor() / 10.0;
    if value < 10.0 {
        format!("{value:.1} {suffix}")
    } else {
        format!("{value:.0} {suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_int_matches_go() {
        assert_eq!(parse_int("42", 10), Ok(42));
        assert_eq!(parse_int("-1", 10), Ok(-1));
        assert_eq!(parse_int("2040a200b6ba5145", 16), Ok(0x2040a200b6ba5145));
        assert_eq!(
            parse_int("abc", 10),
            Err("strconv.ParseInt: parsing \"abc\": invalid syntax".to_owned())
        );
        assert_eq!(
            parse_int("0x10", 16),
            Err("strconv.ParseInt: parsing \"0x10\": invalid syntax".to_owned())
        );
        assert_eq!(
            parse_int("99999999999999999999", 10),
            Err(
                "strconv.ParseInt: parsing \"99999999999999999999\": value out of range".to_owned()
            )
        );
        assert!(parse_int("", 10).is_err());
    }

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote(b"k1"), "\"k1\"");
        assert_eq!(quote(b""), "\"\"");
        assert_eq!(quote(b"a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(quote(b"\xff\x01"), "\"\\xff\\x01\"");
        assert_eq!(quote("é".as_bytes()), "\"é\"");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1x").is_err());
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_nanos(999)), "999ns");
        assert_eq!(format_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(format_duration(Duration::from_nanos(2_736_800)), "2.7368ms");
        assert_eq!(
            format_duration(Duration::from_nanos(5_002_733_545)),
            "5.002733545s"
        );
        assert_eq!(format_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(format_duration(Duration::from_secs(3661)), "1h1m1s");
    }

    #[test]
    fn bytes_humanize_like_go() {
        assert_eq!(humanize_bytes(8), "8 B");
        assert_eq!(humanize_bytes(40960), "41 kB");
        assert_eq!(humanize_bytes(4_530_176), "4.5 MB");
        assert_eq!(humanize_bytes(8192), "8.2 kB");
        assert_eq!(humanize_bytes(1000), "1.0 kB");
    }
}
