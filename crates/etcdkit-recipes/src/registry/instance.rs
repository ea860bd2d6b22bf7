//! A registered instance: its JSON document, and the two value formats.

use bytes::Bytes;
use serde_json::{Map, Value};

/// How instances are written to etcd. Both formats are always read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ValueFormat {
    /// The instance's JSON document, e.g.
    /// `{"name":"api","port":8080,"hostname":"h","host":"h:8080","url":"http://h:8080"}`.
    #[default]
    Document,
    /// The Go client's `naming/endpoints` update, `{"Op":0,"Addr":"h:8080","Metadata":{…}}`,
    /// with the document as metadata, so Go services resolve Rust ones (and the other way
    /// round) through `etcd:///<namespace>/<name>`.
    GoEndpoints,
}

/// One instance of a service.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    key: Bytes,
    name: String,
    id: String,
    doc: Map<String, Value>,
}

impl Instance {
    /// The etcd key, `<namespace>/<name>/<id>`.
    pub fn key(&self) -> &Bytes {
        &self.key
    }

    /// The service name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The instance id (the last segment of the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The whole document.
    pub fn doc(&self) -> &Map<String, Value> {
        &self.doc
    }

    /// A string field of the document.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.doc.get(name).and_then(Value::as_str)
    }

    /// `hostname:port` (or the hostname alone when there is no port).
    pub fn host(&self) -> Option<&str> {
        self.field("host")
    }

    /// The host name.
    pub fn hostname(&self) -> Option<&str> {
        self.field("hostname")
    }

    /// `protocol://host`.
    pub fn url(&self) -> Option<&str> {
        self.field("url")
    }

    /// The port, when the document has one (as a number or a numeric string).
    pub fn port(&self) -> Option<u16> {
        match self.doc.get("port")? {
            Value::Number(n) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The value this instance is written as, in `format`.
    pub fn encode(&self, format: ValueFormat) -> Bytes {
        let value = match format {
            ValueFormat::Document => Value::Object(self.doc.clone()),
            ValueFormat::GoEndpoints => {
                let mut update = Map::new();
                update.insert("Op".into(), Value::from(0));
                update.insert(
                    "Addr".into(),
                    Value::from(self.host().unwrap_or_default().to_owned()),
                );
                update.insert("Metadata".into(), Value::Object(self.doc.clone()));
                Value::Object(update)
            }
        };
        Bytes::from(value.to_string())
    }

    /// Reads an instance from its key (`<namespace>/<name>/<id>`, `namespace` given with
    /// its trailing `/`) and value, in either format. A value that is not JSON is taken as
    /// an address (`host:port`) or a URL, as go-kit stores them. `None` for keys outside
    /// the namespace and for Go `Delete` updates.
    pub fn decode(namespace: &[u8], key: &Bytes, value: &[u8]) -> Option<Instance> {
        let rest = std::str::from_utf8(key.strip_prefix(namespace)?).ok()?;
        let (name, id) = rest.rsplit_once('/')?;
        let mut doc = match serde_json::from_slice::<Value>(value) {
            Ok(Value::Object(doc)) if is_go_update(&doc) => {
                if doc.get("Op").and_then(Value::as_u64).unwrap_or(0) != 0 {
                    return None;
                }
                let addr = doc.get("Addr").and_then(Value::as_str).unwrap_or_default();
                let mut meta = match doc.get("Metadata") {
                    Some(Value::Object(meta)) => meta.clone(),
                    _ => Map::new(),
                };
                meta.insert("host".into(), Value::from(addr.to_owned()));
                if !meta.contains_key("url") {
                    meta.insert("url".into(), Value::from(format!("http://{addr}")));
                }
                meta
            }
            Ok(Value::Object(doc)) => doc,
            _ => {
                let raw = std::str::from_utf8(value).ok()?.trim();
                let mut doc = Map::new();
                match raw.split_once("://") {
                    Some((_, host)) => {
                        doc.insert("host".into(), Value::from(host.to_owned()));
                        doc.insert("url".into(), Value::from(raw.to_owned()));
                    }
                    None => {
                        doc.insert("host".into(), Value::from(raw.to_owned()));
                        doc.insert("url".into(), Value::from(format!("http://{raw}")));
                    }
                }
                doc
            }
        };
        doc.entry("name")
            .or_insert_with(|| Value::from(name.to_owned()));
        Some(Instance {
            key: key.clone(),
            name: name.to_owned(),
            id: id.to_owned(),
            doc,
        })
    }

    /// A new instance of `name` with id `id` under `namespace` (with its trailing `/`):
    /// `name`, `hostname`, `host` and `url` are filled in unless `doc` has them.
    pub(crate) fn fill(
        namespace: &str,
        name: &str,
        id: &str,
        mut doc: Map<String, Value>,
    ) -> Instance {
        doc.entry("name")
            .or_insert_with(|| Value::from(name.to_owned()));
        let hostname = match doc.get("hostname").and_then(Value::as_str) {
            Some(h) => h.to_owned(),
            None => {
                let h = local_hostname();
                doc.insert("hostname".into(), Value::from(h.clone()));
                h
            }
        };
        let port = match doc.get("port") {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let host = match doc.get("host").and_then(Value::as_str) {
            Some(h) => h.to_owned(),
            None => {
                let h = match port {
                    Some(port) => format!("{hostname}:{port}"),
                    None => hostname,
                };
                doc.insert("host".into(), Value::from(h.clone()));
                h
            }
        };
        if !doc.contains_key("url") {
            let protocol = doc
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("http")
                .trim_end_matches(':')
                .to_owned();
            doc.insert("url".into(), Value::from(format!("{protocol}://{host}")));
        }
        Instance {
            key: Bytes::from(format!("{namespace}{name}/{id}")),
            name: name.to_owned(),
            id: id.to_owned(),
            doc,
        }
    }
}

fn is_go_update(doc: &Map<String, Value>) -> bool {
    doc.contains_key("Addr")
        && doc
            .keys()
            .all(|k| matches!(k.as_str(), "Op" | "Addr" | "Metadata"))
}

/// This machine's host name: the kernel's, `/etc/hostname`, `$HOSTNAME`, else `localhost`.
pub fn local_hostname() -> String {
    let from_file = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    from_file("/proc/sys/kernel/hostname")
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "localhost".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// Instance `a1` of service `api` in namespace `ns/`, filled from the JSON object
    /// `fields`.
    fn instance_a1(fields: Value) -> Instance {
        let fields = match fields {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Instance::fill("ns/", "api", "a1", fields)
    }

    #[test]
    fn fills_the_four_fields_unless_given() {
        let i = instance_a1(json!({"port": 8080, "hostname": "h"}));
        assert_eq!(i.key().as_ref(), b"ns/api/a1");
        assert_eq!(i.field("name"), Some("api"));
        assert_eq!(i.host(), Some("h:8080"));
        assert_eq!(i.url(), Some("http://h:8080"));
        assert_eq!(i.port(), Some(8080));
        let i = instance_a1(json!({"port": 1, "host": "x:9", "url": "https://x:9", "name": "n"}));
        assert_eq!(i.host(), Some("x:9"));
        assert_eq!(i.url(), Some("https://x:9"));
        assert_eq!(i.field("name"), Some("n"));
        let i = instance_a1(json!({"protocol": "https:", "hostname": "h"}));
        assert_eq!(i.url(), Some("https://h"));
    }

    #[test]
    fn both_formats_round_trip() {
        let i = instance_a1(json!({"port": 8080, "hostname": "h"}));
        for format in [ValueFormat::Document, ValueFormat::GoEndpoints] {
            let value = i.encode(format);
            let back = Instance::decode(b"ns/", i.key(), &value).unwrap();
            assert_eq!(back, i, "{format:?}");
        }
        let go: Value = serde_json::from_slice(&i.encode(ValueFormat::GoEndpoints)).unwrap();
        assert_eq!(go["Op"], 0);
        assert_eq!(go["Addr"], "h:8080");
    }

    #[test]
    fn reads_foreign_values() {
        let key = Bytes::from_static(b"ns/api/x");
        let go = Instance::decode(
            b"ns/",
            &key,
            br#"{"Op":0,"Addr":"10.0.0.1:80","Metadata":null}"#,
        )
        .unwrap();
        assert_eq!(go.host(), Some("10.0.0.1:80"));
        assert_eq!(go.url(), Some("http://10.0.0.1:80"));
        assert_eq!(go.name(), "api");
        assert!(Instance::decode(b"ns/", &key, br#"{"Op":1,"Addr":"a"}"#).is_none());
        let raw = Instance::decode(b"ns/", &key, b"https://a:1").unwrap();
        assert_eq!(raw.host(), Some("a:1"));
        assert!(Instance::decode(b"other/", &key, b"a").is_none());
        assert!(Instance::decode(b"ns/", &key, &[0xff]).is_none());
    }
}
