//! The file that lets a cluster kept in a directory ([`crate::ClusterBuilder::data_dir`]) be
//! started again: its members' names and ports, and its token.
//!
//! The ports have to be the same on every start: etcd records each member's peer URL in
//! the cluster's membership, and the members of a restarted cluster find each other there.
//! Plain text, one fact a line, so the test kit needs no serialisation library.

use std::path::{Path, PathBuf};

use crate::Error;

/// The file's name inside the kept directory.
pub(crate) const FILE_NAME: &str = "etcdkit-testkit.cluster";
/// The first line, naming the format and its version.
const HEADER: &str = "etcdkit-testkit cluster 1";

/// A kept cluster, as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedCluster {
    pub(crate) token: String,
    pub(crate) members: Vec<SavedMember>,
}

/// One member of a kept cluster, as saved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SavedMember {
    pub(crate) name: String,
    pub(crate) client_port: u16,
    pub(crate) peer_port: u16,
    pub(crate) metrics_port: u16,
}

/// Where the file of the cluster kept in `dir` is.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// Reads the cluster kept in `dir`; `None` when `dir` holds no such file.
pub(crate) fn load(dir: &Path) -> Result<Option<SavedCluster>, Error> {
    let file = path(dir);
    let text = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("cannot read {}", file.display()), e)),
    };
    parse(&text).map(Some).map_err(|why| Error::InvalidConfig {
        reason: format!(
            "{} is not a cluster file the test kit wrote: {why}",
            file.display()
        ),
    })
}

/// Writes the file of the cluster kept in `dir`, replacing it whole (written aside, then
/// renamed) so that a crash never leaves half a file.
pub(crate) fn save(dir: &Path, cluster: &SavedCluster) -> Result<(), Error> {
    let file = path(dir);
    let aside = dir.join(format!("{FILE_NAME}.new"));
    std::fs::write(&aside, render(cluster))
        .map_err(|e| Error::io(format!("cannot write {}", aside.display()), e))?;
    std::fs::rename(&aside, &file)
        .map_err(|e| Error::io(format!("cannot write {}", file.display()), e))
}

fn render(cluster: &SavedCluster) -> String {
    let mut out = format!("{HEADER}\ntoken {}\n", cluster.token);
    for m in &cluster.members {
        out.push_str(&format!(
            "member {} {} {} {}\n",
            m.name, m.client_port, m.peer_port, m.metrics_port
        ));
    }
    out
}

fn parse(text: &str) -> Result<SavedCluster, String> {
    let mut lines = text.lines().enumerate().map(|(n, l)| (n + 1, l.trim()));
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => return Err(format!("the first line is not {HEADER:?}")),
    }
    let mut token = None;
    let mut members = Vec::new();
    for (n, line) in lines.filter(|(_, l)| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["token", value] => token = Some(value.to_owned()),
            ["member", name, client, peer, metrics] => {
                // The name becomes a directory name: nothing that could leave the directory.
                if !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                {
                    return Err(format!("line {n}: bad member name {name:?}"));
                }
                let port = |s: &str| {
                    s.parse::<u16>()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("line {n}: bad port {s:?}"))
                };
                members.push(SavedMember {
                    name: name.to_owned(),
                    client_port: port(client)?,
                    peer_port: port(peer)?,
                    metrics_port: port(metrics)?,
                });
            }
            _ => return Err(format!("line {n} is not understood: {line:?}")),
        }
    }
    let token = token.ok_or("no token line")?;
    if members.is_empty() {
        return Err("no member lines".to_owned());
    }
    Ok(SavedCluster { token, members })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SavedCluster {
        SavedCluster {
            token: "etcdkit-testkit-1-2-3".to_owned(),
            members: (0..3)
                .map(|i| SavedMember {
                    name: format!("m{i}"),
                    client_port: 40000 + i * 3,
                    peer_port: 40001 + i * 3,
                    metrics_port: 40002 + i * 3,
                })
                .collect(),
        }
    }

    #[test]
    fn saved_cluster_reads_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        save(dir.path(), &sample()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(sample()));
        // Nothing is left aside.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let good = render(&sample());
        assert!(parse(&good).is_ok());
        assert!(parse("").unwrap_err().contains("first line"));
        assert!(parse(&good.replace("token ", "tok ")).is_err());
        assert!(
            parse(&good.replace("member m1", "member ../x"))
                .unwrap_err()
                .contains("bad member name")
        );
        assert!(
            parse(&good.replace("40000", "70000"))
                .unwrap_err()
                .contains("bad port")
        );
        assert!(parse(&format!("{HEADER}\ntoken t\n")).is_err());

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "garbage").unwrap();
        let err = load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig { .. }), "{err}");
        assert!(err.to_string().contains(FILE_NAME), "{err}");
    }
}
