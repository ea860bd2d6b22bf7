//! The text `etcdkit up` prints: what it started, how to reach it, and what changed.
//! Kept apart from the running so that the wording can be checked without an etcd.

use std::path::{Path, PathBuf};

use etcdkit_testkit::{EtcdCluster, MemberHealth};

/// What is printed about one member once the cluster is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSummary {
    pub name: String,
    pub pid: Option<u32>,
    pub endpoint: String,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
}

/// What is printed once the cluster is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub version: Option<String>,
    pub bin: PathBuf,
    pub members: Vec<MemberSummary>,
    pub root: PathBuf,
    /// Whether the data outlives this run (`--data-dir`).
    pub kept: bool,
}

impl Summary {
    /// Reads the summary off a started cluster.
    pub fn of(cluster: &EtcdCluster, kept: bool) -> Summary {
        let members = (0..cluster.len())
            .map(|i| MemberSummary {
                name: cluster.name(i).unwrap_or_default(),
                pid: cluster.pid(i),
                endpoint: cluster.endpoint(i).unwrap_or_default(),
                data_dir: cluster.data_dir(i).unwrap_or_default(),
                log_path: cluster.log_path(i).unwrap_or_default(),
            })
            .collect();
        Summary {
            version: cluster.etcd_version().map(|v| v.to_string()),
            bin: cluster.etcd_bin().to_path_buf(),
            members,
            root: cluster.root_dir().to_path_buf(),
            kept,
        }
    }

    /// The client URLs, comma separated: the form both `--endpoints` and
    /// `ETCDCTL_ENDPOINTS` take, for etcdctl and etcdkit alike.
    pub fn endpoints(&self) -> String {
        self.members
            .iter()
            .map(|m| m.endpoint.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The lines printed once every member is healthy; the `export` line can be pasted
    /// into a shell as it is.
    pub fn render(&self) -> String {
        let version = self.version.as_deref().unwrap_or("(version unknown)");
        let n = self.members.len();
        let plural = if n == 1 { "" } else { "s" };
        let mut out = format!(
            "etcd {version} ({}): {n} member{plural} up\n",
            self.bin.display()
        );
        for m in &self.members {
            let pid = m
                .pid
                .map_or_else(|| "not running".to_owned(), |p| p.to_string());
            out.push_str(&format!(
                "member {}: pid {pid}, client {}, data {}, log {}\n",
                m.name,
                m.endpoint,
                m.data_dir.display(),
                m.log_path.display()
            ));
        }
        let fate = if self.kept { "kept" } else { "removed on exit" };
        out.push_str(&format!(
            "data directory: {} ({fate})\n",
            self.root.display()
        ));
        out.push_str(&format!("endpoints: {}\n", self.endpoints()));
        out.push_str(&format!("export ETCDCTL_ENDPOINTS={}\n", self.endpoints()));
        out.push_str("watching member health; stop with Ctrl-C (SIGINT) or SIGTERM\n");
        out
    }
}

/// The line for a member whose health changed, or `None` if it did not: healthy to not
/// healthy says why, the way back says `healthy again`.
pub fn health_change(
    name: &str,
    endpoint: &str,
    was_healthy: bool,
    now: &MemberHealth,
) -> Option<String> {
    match (was_healthy, now.is_healthy()) {
        (true, false) => Some(format!("member {name} ({endpoint}) unhealthy: {now}\n")),
        (false, true) => Some(format!("member {name} ({endpoint}) healthy again\n")),
        _ => None,
    }
}

/// The last line, once every member has stopped.
pub fn stopped(root: &Path, kept: bool) -> String {
    if kept {
        format!(
            "stopped; data kept in {0} (etcdkit up --data-dir {0} starts the cluster again)\n",
            root.display()
        )
    } else {
        format!("stopped; removed {}\n", root.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(kept: bool) -> Summary {
        Summary {
            version: Some("3.6.16".to_owned()),
            bin: PathBuf::from("/opt/etcd"),
            members: (0..2)
                .map(|i| MemberSummary {
                    name: format!("m{i}"),
                    pid: Some(100 + i),
                    endpoint: format!("http://127.0.0.1:{}", 2379 + i),
                    data_dir: PathBuf::from(format!("/d/m{i}/data")),
                    log_path: PathBuf::from(format!("/d/m{i}/etcd.log")),
                })
                .collect(),
            root: PathBuf::from("/d"),
            kept,
        }
    }

    #[test]
    fn summary_names_members_endpoints_and_the_export_line() {
        let text = summary(false).render();
        assert_eq!(
            text,
            "etcd 3.6.16 (/opt/etcd): 2 members up\n\
             member m0: pid 100, client http://127.0.0.1:2379, data /d/m0/data, log /d/m0/etcd.log\n\
             member m1: pid 101, client http://127.0.0.1:2380, data /d/m1/data, log /d/m1/etcd.log\n\
             data directory: /d (removed on exit)\n\
             endpoints: http://127.0.0.1:2379,http://127.0.0.1:2380\n\
             export ETCDCTL_ENDPOINTS=http://127.0.0.1:2379,http://127.0.0.1:2380\n\
             watching member health; stop with Ctrl-C (SIGINT) or SIGTERM\n"
        );
        assert!(
            summary(true)
                .render()
                .contains("data directory: /d (kept)\n")
        );
    }

    #[test]
    fn only_changes_of_health_are_reported() {
        let down = MemberHealth::NotRunning;
        assert_eq!(
            health_change("m1", "http://h:1", true, &down).as_deref(),
            Some("member m1 (http://h:1) unhealthy: not running\n")
        );
        assert_eq!(health_change("m1", "http://h:1", false, &down), None);
        assert_eq!(
            health_change("m1", "http://h:1", false, &MemberHealth::Healthy).as_deref(),
            Some("member m1 (http://h:1) healthy again\n")
        );
        assert_eq!(
            health_change("m1", "http://h:1", true, &MemberHealth::Healthy),
            None
        );
    }

    #[test]
    fn last_line_says_where_the_data_went() {
        assert_eq!(stopped(Path::new("/d"), false), "stopped; removed /d\n");
        assert!(stopped(Path::new("/d"), true).contains("--data-dir /d"));
    }
}
