//! Docker's events without a daemon: every stage appends what it did to one small log under
//! `<root>` ([`log`]), and `berth events` reads it back, filters it ([`filter`]) and follows
//! it.
//!
//! A line of the log is one of moby's `events.Message` as JSON (`{{json .}}` prints it
//! unchanged): `Type`, `Action`, `Actor{ID,Attributes}`, scope `local`, `time`, `timeNano`,
//! and for containers and images the deprecated `status`, `id` (and `from`) that moby still
//! fills. The emitters are one function per kind ([`container`], [`image`], [`network`],
//! [`volume`]), each called from the one place that does the thing (`container::*`,
//! `image::*`, `net::*`, `volume::*`); attributes are what moby puts there (a container's
//! `image`, `name` and labels; an image's `name` and labels; a network's `name` and `type`; a
//! volume's `driver`).
//!
//! Emitting never fails the command: a log that cannot be written costs a warning on stderr,
//! nothing else.

pub mod filter;
pub mod log;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use std::path::Path;

use crate::protocol::Record;

pub use filter::{Filter, Window};

/// moby's `events.Actor`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// moby's `events.Message`, in its field order (Go's encoder keeps it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(default)]
    pub time: i64,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

/// The kinds of object berth reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Network,
    Volume,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Image => "image",
            Kind::Network => "network",
            Kind::Volume => "volume",
        }
    }
}

impl Message {
    /// A message stamped now, with moby's deprecated fields filled as its `events.Log` does.
    pub fn new(kind: Kind, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Self {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let mut m = Message {
            kind: kind.as_str().into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
            ..Default::default()
        };
        if matches!(kind, Kind::Container | Kind::Image) {
            m.id = id.into();
            m.status = action.into();
        }
        if kind == Kind::Container {
            m.from = m.actor.attributes.get("image").cloned().unwrap_or_default();
        }
        m
    }

    /// The document `--format` templates see: the Go struct's field names (`.ID`, `.Status`,
    /// `.TimeNano`, `.Actor.Attributes`), not its JSON keys.
    pub fn template_doc(&self) -> serde_json::Value {
        serde_json::json!({
            "Status": self.status,
            "ID": self.id,
            "From": self.from,
            "Type": self.kind,
            "Action": self.action,
            "Actor": {"ID": self.actor.id, "Attributes": self.actor.attributes},
            "Scope": self.scope,
            "Time": self.time,
            "TimeNano": self.time_nano,
        })
    }

    /// Docker's line (docker/cli `prettyPrintEvent`): the time in the local zone with nine
    /// fraction digits, type, action, actor id, and the attributes sorted by key.
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} {} {} {}",
            go_nano_time(self.time_nano),
            self.kind,
            self.action,
            self.actor.id
        );
        if !self.actor.attributes.is_empty() {
            let attrs: Vec<String> = self
                .actor
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            s.push_str(&format!(" ({})", attrs.join(", ")));
        }
        s
    }
}

/// Go's `RFC3339NanoFixed` (`2006-01-02T15:04:05.000000000Z07:00`) in the local zone.
pub fn go_nano_time(nanos: i64) -> String {
    let t = chrono::DateTime::from_timestamp_nanos(nanos).with_timezone(&chrono::Local);
    let s = t.format("%Y-%m-%dT%H:%M:%S%.9f%:z").to_string();
    match s.strip_suffix("+00:00") {
        Some(base) => format!("{base}Z"),
        None => s,
    }
}

/// Appends one event to the log of the berth root `root`; never fails the caller (see the module doc).
pub fn emit(root: &Path, kind: Kind, action: &str, id: &str, attrs: BTreeMap<String, String>) {
    let m = Message::new(kind, action, id, attrs);
    if let Err(e) = log::EventLog::in_root(root).append(&m) {
        ::log::warn!("event {} {}: {e}", m.kind, m.action);
    }
}

/// A container event: `image`, `name` and the labels (moby's `LogContainerEventWithAttributes`),
/// plus `extra` (`exitCode`, `signal`, ...).
pub fn container(root: &Path, record: &Record, action: &str, extra: &[(&str, String)]) {
    let mut attrs: BTreeMap<String, String> = record
        .bundle
        .as_ref()
        .map(|b| b.config.labels.clone())
        .unwrap_or_default();
    // Docker's Config.Image: the image as the user named it, as `ps` shows it.
    let image = crate::views::ps::image_of(record, true);
    if !image.is_empty() {
        attrs.insert("image".into(), image);
    }
    attrs.insert("name".into(), record.name.clone());
    for (k, v) in extra {
        attrs.insert((*k).into(), v.clone());
    }
    emit(root, Kind::Container, action, &record.id, attrs);
}

/// An image event (moby's `LogImageEvent`): `name`, and the image's labels when it still
/// exists.
pub fn image(root: &Path, id: &str, name: &str, action: &str, labels: BTreeMap<String, String>) {
    let mut attrs = labels;
    if !name.is_empty() {
        attrs.insert("name".into(), name.into());
    }
    emit(root, Kind::Image, action, id, attrs);
}

/// A network event (moby's `LogNetworkEventWithAttributes`): `name`, `type`, plus `extra`
/// (`container` for connect and disconnect).
pub fn network(
    root: &Path,
    id: &str,
    name: &str,
    driver: &str,
    action: &str,
    extra: &[(&str, String)],
) {
    let mut attrs = BTreeMap::from([
        ("name".to_string(), name.to_string()),
        ("type".to_string(), driver.to_string()),
    ]);
    for (k, v) in extra {
        attrs.insert((*k).into(), v.clone());
    }
    emit(root, Kind::Network, action, id, attrs);
}

/// A volume event (moby's `LogVolumeEvent`): `driver`, plus `extra` (`container`,
/// `destination`, `read/write`, `propagation` for mount).
pub fn volume(root: &Path, name: &str, action: &str, extra: &[(&str, String)]) {
    let mut attrs = BTreeMap::from([("driver".to_string(), "local".to_string())]);
    for (k, v) in extra {
        attrs.insert((*k).into(), v.clone());
    }
    emit(root, Kind::Volume, action, name, attrs);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_moby_s_shape() {
        let attrs = BTreeMap::from([
            ("name".to_string(), "web".to_string()),
            ("image".to_string(), "busybox".to_string()),
        ]);
        let mut m = Message::new(Kind::Container, "create", "abc", attrs);
        m.time = 1_700_000_000;
        m.time_nano = 1_700_000_000_123_456_789;
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"status":"create","id":"abc","from":"busybox","Type":"container","Action":"create","Actor":{"ID":"abc","Attributes":{"image":"busybox","name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}"#
        );
        let n = Message::new(Kind::Network, "create", "n1", BTreeMap::new());
        let j = serde_json::to_string(&n).unwrap();
        assert!(j.starts_with(r#"{"Type":"network","Action":"create","Actor":{"ID":"n1","Attributes":{}},"scope":"local""#), "{j}");
    }

    #[test]
    fn lines_are_docker_s() {
        let mut m = Message::new(
            Kind::Container,
            "die",
            "abc",
            BTreeMap::from([
                ("name".to_string(), "web".to_string()),
                ("exitCode".to_string(), "0".to_string()),
                ("image".to_string(), "busybox".to_string()),
            ]),
        );
        m.time_nano = 1_764_756_000_000_000_123;
        let line = m.line();
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(
            rest,
            "container die abc (exitCode=0, image=busybox, name=web)"
        );
        assert!(time.contains(".000000123"), "{time}");
        let t = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        assert_eq!(t.timestamp_nanos_opt(), Some(1_764_756_000_000_000_123));
    }
}
