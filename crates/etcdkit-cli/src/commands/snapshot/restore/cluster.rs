//! The new cluster a restore makes: members from `--initial-cluster`, checked as etcd
//! checks a bootstrap configuration, with member and cluster IDs computed as etcd
//! computes them, so the restored members agree with etcd about who they are.
//!
//! - member ID: the first 8 bytes (big-endian) of SHA-1 over the member's peer URLs,
//!   sorted and concatenated, then the cluster token (etcd's `membership.NewMember`
//!   without a timestamp);
//! - cluster ID: the first 8 bytes of SHA-1 over the sorted member IDs, each as 8
//!   big-endian bytes (etcd's `RaftCluster.genID`).

use std::collections::BTreeMap;

use ring::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};

/// One member of the new cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub id: u64,
    pub name: String,
    /// Sorted, as etcd keeps them.
    pub peer_urls: Vec<String>,
}

impl Member {
    /// The member as etcd stores it in the backend's `members` bucket and in the raft
    /// ConfChange's context: Go's JSON of `membership.Member` (the client URLs and the
    /// learner flag are empty, so left out).
    pub fn json(&self) -> String {
        format!(
            r#"{{"id":{},"peerURLs":{},"name":{}}}"#,
            self.id,
            go_json_strings(&self.peer_urls),
            go_json_string(&self.name)
        )
    }

    /// The member's `RaftAttributes` as Go's JSON, the value etcd keeps in its v2 store.
    pub fn raft_attributes_json(&self) -> String {
        format!(r#"{{"peerURLs":{}}}"#, go_json_strings(&self.peer_urls))
    }

    /// The member ID as etcd prints it and keys it: lower-case hex without padding.
    pub fn hex_id(&self) -> String {
        format!("{:x}", self.id)
    }
}

/// The new cluster: its members sorted by ID, its ID, and the local member's ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub members: Vec<Member>,
    pub id: u64,
    pub local: u64,
}

/// The settings a restore takes its cluster from, with etcdutl's defaults filled in.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    pub name: &'a str,
    pub initial_cluster: &'a str,
    pub token: &'a str,
    pub advertise_peer_urls: &'a str,
}

/// Builds the new cluster, refusing what etcd's bootstrap check refuses.
///
/// # Errors
///
/// etcd's message for a URL it does not take, a name missing from the initial cluster, an
/// advertised URL list that differs from the name's, a URL given to two members, or two
/// members with the same ID.
pub fn build(settings: &Settings<'_>) -> Result<Cluster, String> {
    let advertised = urls(settings.advertise_peer_urls.split(','))?;
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    // etcd's `types.NewURLsMap`: comma-separated `name=url` pairs, a name may repeat.
    for pair in settings
        .initial_cluster
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let (name, url) = pair.split_once('=').unwrap_or((pair, ""));
        by_name.entry(name).or_default().push(url);
    }
    let mut named: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (name, list) in &by_name {
        named.insert(name, urls(list.iter().copied())?);
    }
    let Some(local_urls) = named.get(settings.name) else {
        return Err(format!(
            "couldn't find local name {} in the initial cluster configuration",
            go_json_string(settings.name)
        ));
    };
    if *local_urls != advertised {
        return Err(format!(
            "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={} \
             (resolved urls: {} != {})",
            settings.name,
            local_urls.join(","),
            advertised.join(","),
            go_json_string(&advertised.join(",")),
            go_json_string(&local_urls.join(","))
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if named
        .values()
        .flatten()
        .any(|url| !seen.insert(url.as_str()))
    {
        let all: Vec<String> = named
            .iter()
            .flat_map(|(name, list)| list.iter().map(move |url| format!("{name}={url}")))
            .collect();
        return Err(format!(
            "initial cluster {} has duplicate url",
            all.join(",")
        ));
    }
    let mut members: Vec<Member> = named
        .into_iter()
        .map(|(name, peer_urls)| Member {
            id: member_id(&peer_urls, settings.token),
            name: name.to_owned(),
            peer_urls,
        })
        .collect();
    members.sort_by_key(|m| m.id);
    if let Some(pair) = members.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(format!(
            "member exists with identical ID {}",
            pair[0].hex_id()
        ));
    }
    if members.iter().any(|m| m.id == 0) {
        return Err("cannot use 0 as member id".to_owned());
    }
    let local = members
        .iter()
        .find(|m| m.name == settings.name)
        .map_or(0, |m| m.id);
    Ok(Cluster {
        id: cluster_id(members.iter().map(|m| m.id)),
        members,
        local,
    })
}

/// Checks each URL as etcd's `types.NewURLs` does (a scheme etcd serves, `host:port`, no
/// path) and returns them sorted.
fn urls<'a>(list: impl Iterator<Item = &'a str>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for url in list {
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {url}"
            ));
        };
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {url}"
            ));
        }
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if matches!(scheme, "http" | "https") && !has_port(host) {
            return Err(format!(
                "URL address does not have the form \"host:port\": {url}"
            ));
        }
        if !path.is_empty() {
            return Err(format!("URL must not contain a path: {url}"));
        }
        out.push(url.to_owned());
    }
    out.sort();
    Ok(out)
}

/// Whether `host` is `name:port` or `[v6]:port`.
fn has_port(host: &str) -> bool {
    let port = match host.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map(|(_, port)| port),
        None => host.rsplit_once(':').and_then(|(name, port)| {
            // A bare IPv6 address has more colons and no brackets: not host:port.
            (!name.contains(':')).then_some(port)
        }),
    };
    port.is_some()
}

/// etcd's member ID for these (sorted) peer URLs in a cluster named by `token`.
pub fn member_id(sorted_urls: &[String], token: &str) -> u64 {
    let mut input = sorted_urls.concat().into_bytes();
    input.extend_from_slice(token.as_bytes());
    first_u64(digest(&SHA1_FOR_LEGACY_USE_ONLY, &input).as_ref())
}

/// etcd's cluster ID for these member IDs.
pub fn cluster_id(ids: impl Iterator<Item = u64>) -> u64 {
    let mut ids: Vec<u64> = ids.collect();
    ids.sort_unstable();
    let input: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    first_u64(digest(&SHA1_FOR_LEGACY_USE_ONLY, &input).as_ref())
}

fn first_u64(hash: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_be_bytes(first)
}

/// A string as Go's `encoding/json` writes it (which also escapes `<`, `>` and `&`).
pub fn go_json_string(s: &str) -> String {
    let json = serde_json::Value::String(s.to_owned()).to_string();
    json.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn go_json_strings(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| go_json_string(s)).collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings<'a>(name: &'a str, cluster: &'a str, urls: &'a str) -> Settings<'a> {
        Settings {
            name,
            initial_cluster: cluster,
            token: "tok",
            advertise_peer_urls: urls,
        }
    }

    #[test]
    fn ids_are_the_ones_etcdutl_wrote_for_the_same_cluster() {
        // From a data directory etcdutl 3.6.16 restored with these flags.
        let c = build(&settings(
            "n1",
            "n1=http://127.0.0.1:2380,n2=http://127.0.0.1:2381",
            "http://127.0.0.1:2380",
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<String> = c.members.iter().map(Member::hex_id).collect();
        assert_eq!(ids, ["321b4ccd5c32edea", "71405583d3e2d5ce"]);
        assert_eq!(c.local, 0x7140_5583_d3e2_d5ce);
        assert_eq!(
            c.members[1].json(),
            r#"{"id":8160616549479273934,"peerURLs":["http://127.0.0.1:2380"],"name":"n1"}"#
        );
        let default = build(&Settings {
            token: "etcd-cluster",
            ..settings(
                "default",
                "default=http://localhost:2380",
                "http://localhost:2380",
            )
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(default.members[0].hex_id(), "8e9e05c52164694d");
    }

    #[test]
    fn bad_bootstrap_settings_get_etcds_messages() {
        let e = build(&settings("x", "default=http://a:1", "http://a:1")).unwrap_err();
        assert_eq!(
            e,
            "couldn't find local name \"x\" in the initial cluster configuration"
        );
        let e = build(&settings("a", "a=http://h:1,b=http://h:1", "http://h:1")).unwrap_err();
        assert_eq!(
            e,
            "initial cluster a=http://h:1,b=http://h:1 has duplicate url"
        );
        let e = build(&settings("a", "a=foo", "foo")).unwrap_err();
        assert_eq!(e, "URL scheme must be http, https, unix, or unixs: foo");
        let e = build(&settings("a", "a=http://h:1", "http://h:2")).unwrap_err();
        assert!(
            e.starts_with("--initial-cluster has a=http://h:1 but missing"),
            "{e}"
        );
        assert!(build(&settings("a", "a=http://h", "http://h")).is_err());
        assert!(build(&settings("a", "a=http://h:1/p", "http://h:1/p")).is_err());
    }
}
