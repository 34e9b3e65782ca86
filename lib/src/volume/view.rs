//! `volume ls` and `volume inspect`, shaped as Docker prints them: `ls` rows are docker/cli's
//! volume formatter fields (`{{.Name}}`, `{{.Driver}}`, `{{.Mountpoint}}`, `{{.Labels}}`,
//! `{{.Links}}`...), `inspect` is moby's `volume.Volume` JSON.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::format::Columns;
use crate::paths::Paths;
use crate::volume::store::Usage;
use crate::volume::{Result, VolumeError, VolumeMeta};

/// `docker volume inspect`'s document: moby's `volume.Volume`, in its field order (the swarm
/// and usage fields are never set), so that a template prints Go's struct.
#[derive(Debug, Clone, Serialize)]
#[serde(
    rename = "go-omitempty CreatedAt:s Status:m",
    rename_all = "PascalCase"
)]
pub struct VolumeJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_volume: Option<Value>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub created_at: String,
    pub driver: String,
    #[serde(serialize_with = "crate::format::go_nil_map")]
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    #[serde(serialize_with = "crate::format::go_nil_map")]
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<Value>,
}

pub fn inspect(paths: &Paths, v: &VolumeMeta) -> VolumeJson {
    VolumeJson {
        cluster_volume: None,
        created_at: v
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        driver: v.driver.clone(),
        labels: (!v.labels.is_empty()).then(|| v.labels.clone()),
        mountpoint: paths.volume_data(&v.name).display().to_string(),
        name: v.name.clone(),
        options: (!v.options.is_empty()).then(|| v.options.clone()),
        scope: "local".into(),
        status: None,
        usage_data: None,
    }
}

/// One `volume ls` row, with docker/cli's field names.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    #[serde(rename = "Availability")]
    pub availability: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Group")]
    pub group: String,
    #[serde(rename = "Labels")]
    pub labels: String,
    #[serde(rename = "Links")]
    pub links: String,
    #[serde(rename = "Mountpoint")]
    pub mountpoint: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Scope")]
    pub scope: String,
    #[serde(rename = "Size")]
    pub size: String,
    #[serde(rename = "Status")]
    pub status: String,
}

pub const COLUMNS: Columns<'static> = Columns {
    headers: &[
        ("Availability", "AVAILABILITY"),
        ("Driver", "DRIVER"),
        ("Group", "GROUP"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Name", "VOLUME NAME"),
        ("Scope", "SCOPE"),
        ("Size", "SIZE"),
        ("Status", "STATUS"),
    ],
    default_table: "table {{.Driver}}\t{{.Name}}",
};

/// The row of `v`; LINKS is the number of containers that use it (we know it, unlike Docker
/// without `system df`).
pub fn row(paths: &Paths, v: &VolumeMeta, usage: &Usage) -> Row {
    let na = || "N/A".to_string();
    Row {
        availability: na(),
        driver: v.driver.clone(),
        group: na(),
        labels: v
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        links: usage.users(&v.name, None).len().to_string(),
        mountpoint: paths.volume_data(&v.name).display().to_string(),
        name: v.name.clone(),
        scope: "local".into(),
        size: na(),
        status: na(),
    }
}

/// `volume ls --filter` / `volume prune --filter`: `dangling`, `name` (a regular expression,
/// as Docker matches it), `label` (`key` or `key=value`; `label!=` excludes), `driver`, and
/// for prune `all` (named volumes too, as `-a`).
/// Values of one key are alternatives; different keys must all hold.
#[derive(Debug, Default)]
pub struct Filter {
    dangling: Option<bool>,
    all: Option<bool>,
    names: Vec<Regex>,
    labels: Vec<(String, Option<String>)>,
    not_labels: Vec<(String, Option<String>)>,
    drivers: Vec<String>,
}

impl Filter {
    pub fn parse(args: &[String], allowed: &[&str]) -> Result<Filter> {
        let mut f = Filter::default();
        for a in args {
            let bad = || {
                VolumeError::BadSpec(format!("bad format of filter {a:?} (expected name=value)"))
            };
            let (k, v) = if let Some((k, v)) = a.split_once("!=") {
                (format!("{}!", k.trim()), v)
            } else {
                let (k, v) = a.split_once('=').ok_or_else(bad)?;
                (k.trim().to_lowercase(), v)
            };
            let key = k.trim_end_matches('!');
            if !allowed.contains(&key) {
                return Err(VolumeError::BadSpec(format!(
                    "invalid filter '{key}' (valid filters: {})",
                    allowed.join(", ")
                )));
            }
            let label = || {
                let (lk, lv) = v.split_once('=').map_or((v, None), |(a, b)| (a, Some(b)));
                (lk.to_string(), lv.map(str::to_string))
            };
            match k.as_str() {
                "dangling" | "all" => {
                    let b = match v.to_lowercase().as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => {
                            return Err(VolumeError::BadSpec(format!(
                                "invalid filter '{key}={v}' (use true or false)"
                            )));
                        }
                    };
                    *if key == "all" {
                        &mut f.all
                    } else {
                        &mut f.dangling
                    } = Some(b);
                }
                "name" => f.names.push(Regex::new(v).map_err(|e| {
                    VolumeError::BadSpec(format!("invalid filter 'name={v}': {e}"))
                })?),
                "label" => f.labels.push(label()),
                "label!" => f.not_labels.push(label()),
                "driver" => f.drivers.push(v.to_string()),
                _ => return Err(bad()),
            }
        }
        Ok(f)
    }

    /// The `all=` filter of `volume prune`, if given.
    pub fn all(&self) -> Option<bool> {
        self.all
    }

    pub fn matches(&self, v: &VolumeMeta, usage: &Usage) -> bool {
        let has = |(k, val): &(String, Option<String>)| match (v.labels.get(k), val) {
            (Some(_), None) => true,
            (Some(x), Some(want)) => x == want,
            (None, _) => false,
        };
        self.dangling
            .is_none_or(|d| d == usage.users(&v.name, None).is_empty())
            && (self.names.is_empty() || self.names.iter().any(|r| r.is_match(&v.name)))
            && self.labels.iter().all(has)
            && !self.not_labels.iter().any(has)
            && (self.drivers.is_empty() || self.drivers.contains(&v.driver))
    }
}

/// `volume inspect` output: Docker's indented JSON array.
pub fn inspect_text(docs: &[VolumeJson]) -> String {
    crate::views::inspect::pretty(&docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::store::User;

    fn vol(name: &str, labels: &[(&str, &str)]) -> VolumeMeta {
        VolumeMeta {
            berth: 1,
            name: name.into(),
            created_at: "2024-01-02T03:04:05.5Z".parse().unwrap(),
            driver: "local".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options: Default::default(),
            anonymous: false,
        }
    }

    #[test]
    fn filters_and_documents() {
        let mut usage = Usage::default();
        usage.0.insert(
            "used".into(),
            vec![User {
                id: "a".repeat(64),
                name: "web".into(),
            }],
        );
        let all = ["dangling", "name", "label", "driver"];
        let f = |a: &[&str]| {
            Filter::parse(&a.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &all).unwrap()
        };
        let f_in = |a: &[&str], allowed: &[&str]| {
            Filter::parse(
                &a.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                allowed,
            )
            .unwrap()
        };
        let used = vol("used", &[("env", "prod")]);
        let free = vol("free", &[("env", "dev"), ("keep", "")]);
        assert!(f(&["dangling=true"]).matches(&free, &usage));
        assert!(!f(&["dangling=true"]).matches(&used, &usage));
        assert!(f(&["dangling=false"]).matches(&used, &usage));
        assert!(f(&["label=env=prod"]).matches(&used, &usage));
        assert!(!f(&["label=env=prod"]).matches(&free, &usage));
        assert!(f(&["label=keep"]).matches(&free, &usage));
        assert!(!f(&["label!=keep"]).matches(&free, &usage));
        assert!(f(&["name=fr", "name=zzz"]).matches(&free, &usage));
        assert!(Filter::parse(&["bogus=1".into()], &all).is_err());
        assert!(Filter::parse(&["dangling=maybe".into()], &all).is_err());
        assert!(
            Filter::parse(&["all=true".into()], &all).is_err(),
            "ls has no all="
        );
        let prune = ["label", "all"];
        assert_eq!(f_in(&["all=true"], &prune).all(), Some(true));
        assert_eq!(f_in(&["all=False"], &prune).all(), Some(false));
        assert_eq!(f_in(&["label=a"], &prune).all(), None);
        assert!(Filter::parse(&["all=yes".into()], &prune).is_err());

        let paths = Paths::new("/r", "/run");
        let typed = inspect(&paths, &used);
        let doc = serde_json::to_value(&typed).unwrap();
        assert_eq!(doc["Mountpoint"], "/r/volumes/used/_data");
        assert_eq!(doc["CreatedAt"], "2024-01-02T03:04:05Z");
        assert_eq!(doc["Labels"]["env"], "prod");
        assert_eq!(doc["Options"], Value::Null);
        // A template sees moby's struct: fields in order, nil maps as map[].
        let t = crate::format::Template::parse("{{.}}").unwrap();
        assert_eq!(
            t.render(&typed).unwrap(),
            "{<nil> 2024-01-02T03:04:05Z local map[env:prod] /r/volumes/used/_data used map[] \
             local map[] <nil>}"
        );
        let r = serde_json::to_value(row(&paths, &used, &usage)).unwrap();
        assert_eq!(
            (r["Links"].as_str(), r["Labels"].as_str()),
            (Some("1"), Some("env=prod"))
        );
    }
}
