//! The check etcdctl's client makes of `--peer-urls` before `member add` and `member
//! update` send anything (etcd's `types.NewURLs`), with its messages.
//!
//! Done here, before connecting, so that a mistyped URL fails the way it does with
//! etcdctl (exit 1, its text) instead of as the server's terser "given member URLs are
//! invalid". Only the checks etcd's function adds on top of Go's URL parser are redone,
//! plus the parser's port check; other malformed URLs (a space in a host name, say) are
//! left to the server, which refuses them too, in its own words.

use crate::error::CliError;

/// Checks each of the comma-separated peer URLs as etcdctl's client does.
///
/// # Errors
///
/// The first bad URL, with etcdctl's message and its generic exit code (1).
pub fn check(urls: &[String]) -> Result<(), CliError> {
    urls.iter()
        .try_for_each(|url| check_one(url).map_err(CliError::error))
}

/// One URL: a scheme of http, https, unix or unixs; for http(s), a `host:port` with a
/// numeric port and no path.
fn check_one(input: &str) -> Result<(), String> {
    let url = input.trim();
    let (scheme, rest) = split_scheme(url);
    match scheme.as_deref() {
        Some("http" | "https") => {}
        Some("unix" | "unixs") => return Ok(()),
        _ => {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {url}"
            ));
        }
    }
    // What follows `//` up to a path, query or fragment is the host (and port).
    let Some(after) = rest.strip_prefix("//") else {
        // `http:x`: no host at all, so no `host:port`.
        return Err(no_host_port(url));
    };
    let host_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(host_end);
    // A `user:password@` part is not the host.
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    // Go's parser refuses a non-numeric port before etcd's checks run.
    let port = port_of(host);
    if let Some(port) = port
        && !port.chars().all(|c| c.is_ascii_digit())
    {
        return Err(format!(
            "parse {}: invalid port \":{port}\" after host",
            crate::go_compat::quote(url.as_bytes())
        ));
    }
    if port.is_none() {
        return Err(no_host_port(url));
    }
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    if !tail[..path_end].is_empty() {
        return Err(format!("URL must not contain a path: {url}"));
    }
    Ok(())
}

fn no_host_port(url: &str) -> String {
    format!("URL address does not have the form \"host:port\": {url}")
}

/// The scheme, lower-cased as Go's parser does, and the rest; no scheme when the text
/// before the first `:` is not one (`[A-Za-z][A-Za-z0-9+.-]*`).
fn split_scheme(url: &str) -> (Option<String>, &str) {
    let Some((scheme, rest)) = url.split_once(':') else {
        return (None, url);
    };
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid {
        (Some(scheme.to_ascii_lowercase()), rest)
    } else {
        (None, url)
    }
}

/// The port of `host:port` or `[v6]:port` (possibly empty), or `None` without one.
fn port_of(host: &str) -> Option<&str> {
    if let Some(bracketed) = host.strip_prefix('[') {
        let (_, after) = bracketed.split_once(']')?;
        return after.strip_prefix(':');
    }
    host.rsplit_once(':').map(|(_, port)| port)
}

#[cfg(test)]
mod tests {
    use super::check_one;

    #[test]
    fn accepts_what_etcd_accepts() {
        for url in [
            "http://127.0.0.1:2380",
            "HTTPS://[::1]:5",
            "unix://x",
            " http://h:1?q",
            "http://h:",
        ] {
            assert_eq!(check_one(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn refuses_with_etcdctls_messages() {
        for (url, message) in [
            ("bad", "URL scheme must be http, https, unix, or unixs: bad"),
            ("", "URL scheme must be http, https, unix, or unixs: "),
            (
                "http://127.0.0.1",
                "URL address does not have the form \"host:port\": http://127.0.0.1",
            ),
            ("http://h:5/", "URL must not contain a path: http://h:5/"),
            (
                "http://h:x",
                "parse \"http://h:x\": invalid port \":x\" after host",
            ),
        ] {
            assert_eq!(check_one(url), Err(message.to_owned()), "{url}");
        }
    }
}
