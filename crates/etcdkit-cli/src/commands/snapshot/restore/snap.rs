//! The restored member's raft snapshot file, `member/snap/TERM-INDEX.snap` (both as 16
//! hex digits): a `snappb.Snapshot` holding the CRC-32C of a `raftpb.Snapshot` and the
//! snapshot itself, whose metadata carries the index, term and ConfState of the WAL's
//! last snapshot record, and whose data is etcd's v2 store as JSON.
//!
//! etcd 3.6 keeps membership in the backend, but still loads the v2 store from the raft
//! snapshot at start (and refuses one with data outside membership), so the store is
//! written as etcdutl writes it: the members' `raftAttributes` under `/0/members`, an
//! empty `/1`, the event history of those creations, and the store's counters.

use super::cluster::{Member, go_json_string};
use super::proto;

static CASTAGNOLI: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// etcd's v2 event history capacity: the JSON lists this many slots.
const HISTORY_CAPACITY: usize = 1000;
/// Go's zero `time.Time`, as JSON: a permanent node's expiry.
const PERMANENT: &str = "0001-01-01T00:00:00Z";

/// The snapshot file's name for this term and index.
pub fn file_name(term: u64, index: u64) -> String {
    format!("{term:016x}-{index:016x}.snap")
}

/// The snapshot file's bytes. `members` are in ascending ID order, the order they are
/// created in the store here (their creation indexes are 1..n). etcdutl creates them in
/// Go's map order, which varies from run to run, so with two members or more its file
/// differs from this one (and from its own next run) only in those indexes and the
/// event order; etcd reads either the same way.
pub fn encode(members: &[Member], index: u64, term: u64) -> Vec<u8> {
    let ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    let conf_state = proto::conf_state(&ids);
    let snapshot = proto::raft_snapshot(v2_store(members).as_bytes(), &conf_state, index, term);
    proto::snap_file(CASTAGNOLI.checksum(&snapshot), &snapshot)
}

/// A v2 store node as Go's JSON of etcd's `node`.
fn node(path: &str, index: usize, value: &str, children: Option<&str>) -> String {
    format!(
        r#"{{"Path":{},"CreatedIndex":{index},"ModifiedIndex":{index},"ExpireTime":"{PERMANENT}","Value":{},"Children":{}}}"#,
        go_json_string(path),
        go_json_string(value),
        children.unwrap_or("null")
    )
}

/// The v2 store holding the members, as etcd's `store.Save` writes it.
fn v2_store(members: &[Member]) -> String {
    // Creation index: position in ID order, from 1.
    let created: Vec<(usize, &Member)> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (i + 1, m))
        .collect();
    // Go writes map keys sorted as strings: the hex IDs, which need not sort as numbers.
    let mut by_key = created.clone();
    by_key.sort_by_key(|(_, m)| m.hex_id());
    let children: Vec<String> = by_key
        .iter()
        .map(|(i, m)| {
            let dir = format!("/0/members/{}", m.hex_id());
            let attributes = node(
                &format!("{dir}/raftAttributes"),
                *i,
                &m.raft_attributes_json(),
                None,
            );
            let entry = node(
                &dir,
                *i,
                "",
                Some(&format!(r#"{{"raftAttributes":{attributes}}}"#)),
            );
            format!("{}:{entry}", go_json_string(&m.hex_id()))
        })
        .collect();
    // The members directory is created with the first member.
    let members_dir = node(
        "/0/members",
        usize::from(!members.is_empty()),
        "",
        Some(&format!("{{{}}}", children.join(","))),
    );
    let zero = node(
        "/0",
        0,
        "",
        Some(&format!(r#"{{"members":{members_dir}}}"#)),
    );
    let one = node("/1", 0, "", Some("{}"));
    let root = node("/", 0, "", Some(&format!(r#"{{"0":{zero},"1":{one}}}"#)));
    let mut events: Vec<String> = created
        .iter()
        .map(|(i, m)| {
            format!(
                r#"{{"action":"create","node":{{"key":{},"value":{},"modifiedIndex":{i},"createdIndex":{i}}}}}"#,
                go_json_string(&format!("/0/members/{}/raftAttributes", m.hex_id())),
                go_json_string(&m.raft_attributes_json())
            )
        })
        .collect();
    let n = members.len();
    events.resize(HISTORY_CAPACITY.max(n), "null".to_owned());
    format!(
        concat!(
            r#"{{"Root":{root},"WatcherHub":{{"EventHistory":{{"Queue":{{"Events":[{events}],"#,
            r#""Size":{n},"Front":0,"Back":{n},"Capacity":{cap}}},"StartIndex":1,"LastIndex":{n}}}}},"#,
            r#""CurrentIndex":{n},"Stats":{{"getsSuccess":0,"getsFail":1,"setsSuccess":0,"#,
            r#""setsFail":0,"deleteSuccess":0,"deleteFail":0,"updateSuccess":0,"updateFail":0,"#,
            r#""createSuccess":{n},"createFail":0,"compareAndSwapSuccess":0,"compareAndSwapFail":0,"#,
            r#""compareAndDeleteSuccess":0,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}},"#,
            r#""CurrentVersion":2}}"#
        ),
        root = root,
        events = events.join(","),
        n = n,
        cap = HISTORY_CAPACITY,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_name_is_term_then_index_in_hex() {
        assert_eq!(file_name(1, 3), "0000000000000001-0000000000000003.snap");
    }

    #[test]
    fn the_store_is_valid_json_with_the_members_under_slash_zero() {
        let m = Member {
            id: 0x10,
            name: "a".into(),
            peer_urls: vec!["http://h:1".into()],
        };
        let store: serde_json::Value =
            serde_json::from_str(&v2_store(&[m])).unwrap_or_else(|e| panic!("{e}"));
        let attributes = &store["Root"]["Children"]["0"]["Children"]["members"]["Children"]["10"]["Children"]
            ["raftAttributes"];
        assert_eq!(attributes["Value"], r#"{"peerURLs":["http://h:1"]}"#);
        assert_eq!(
            store["WatcherHub"]["EventHistory"]["Queue"]["Events"]
                .as_array()
                .map(Vec::len),
            Some(1000)
        );
    }
}
