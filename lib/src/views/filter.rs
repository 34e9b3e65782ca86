//! `ps --filter KEY=VALUE`: Docker's container filters. Values of one key are alternatives
//! (OR), different keys must all hold (AND); `label` values must all hold.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::protocol::{MountKind, Record, Status};
use crate::reference::Reference;
use crate::state::Containers;
use crate::store::ImageStore;
use crate::views::{Result, ViewError};

const KEYS: &[&str] = &[
    "ancestor", "before", "exited", "expose", "health", "id", "label", "name", "network",
    "publish", "since", "status", "volume",
];

/// The parsed `--filter` flags, before anything is looked up.
#[derive(Debug, Default, Clone)]
pub struct Filters {
    pairs: BTreeMap<String, Vec<String>>,
}

impl Filters {
    pub fn parse(args: &[String]) -> Result<Filters> {
        let mut pairs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                return Err(ViewError::BadArgs(format!(
                    "bad format of filter {a:?} (expected name=value)"
                )));
            };
            let k = k.trim().to_lowercase();
            if !KEYS.contains(&k.as_str()) {
                return Err(ViewError::BadArgs(format!(
                    "invalid filter '{k}' (valid filters: {})",
                    KEYS.join(", ")
                )));
            }
            pairs.entry(k).or_default().push(v.to_string());
        }
        Ok(Filters { pairs })
    }

    fn get(&self, key: &str) -> &[String] {
        self.pairs.get(key).map_or(&[], Vec::as_slice)
    }

    /// `status` and `exited` filters show stopped containers without `-a`, as in Docker.
    pub fn implies_all(&self) -> bool {
        self.pairs.contains_key("status") || self.pairs.contains_key("exited")
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Filters made ready to match: regexes compiled, images and reference containers resolved.
pub struct Matcher {
    ids: Vec<Regex>,
    names: Vec<Regex>,
    labels: Vec<(String, Option<String>)>,
    status: Vec<Status>,
    exited: Vec<i32>,
    /// `health=starting|healthy|unhealthy|none`.
    health: Vec<String>,
    /// Image ids the `ancestor` values resolve to, and the familiar names as given.
    ancestor_ids: Vec<String>,
    ancestor_names: Vec<String>,
    volumes: Vec<String>,
    networks: Vec<String>,
    before: Option<DateTime<Utc>>,
    since: Option<DateTime<Utc>>,
    publish: Vec<(u16, u16, Option<String>)>,
    expose: Vec<(u16, u16, Option<String>)>,
}

impl Matcher {
    pub fn new(f: &Filters, containers: &Containers) -> Result<Matcher> {
        let regexes = |key: &str| -> Result<Vec<Regex>> {
            f.get(key)
                .iter()
                .map(|v| {
                    Regex::new(v)
                        .map_err(|e| ViewError::BadArgs(format!("invalid filter '{key}={v}': {e}")))
                })
                .collect()
        };
        let status = f
            .get("status")
            .iter()
            .map(|s| {
                s.parse::<Status>()
                    .map_err(|e| ViewError::BadArgs(format!("invalid filter 'status={s}': {e}")))
            })
            .collect::<Result<_>>()?;
        let exited = f
            .get("exited")
            .iter()
            .map(|s| {
                s.parse::<i32>().map_err(|_| {
                    ViewError::BadArgs(format!(
                        "invalid filter 'exited={s}' (expected an exit code)"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let labels = f
            .get("label")
            .iter()
            .map(|l| match l.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (l.clone(), None),
            })
            .collect();
        let mut ancestor_ids = Vec::new();
        let mut ancestor_names = Vec::new();
        if !f.get("ancestor").is_empty() {
            // Only an existing store is opened: filtering creates nothing.
            let store = containers
                .paths()
                .images()
                .join("index.json")
                .exists()
                .then(|| ImageStore::open(containers.paths()).ok())
                .flatten();
            for a in f.get("ancestor") {
                if let Some(img) = store.as_ref().and_then(|s| s.image(a, None).ok()) {
                    ancestor_ids.push(img.id());
                }
                ancestor_names.push(familiar(a));
            }
        }
        let created_of = |key: &str| -> Result<Option<DateTime<Utc>>> {
            match f.get(key).last() {
                None => Ok(None),
                Some(c) => {
                    let id = containers.resolve(c)?;
                    Ok(containers.load(&id)?.created)
                }
            }
        };
        let health = f
            .get("health")
            .iter()
            .map(|h| match h.as_str() {
                "starting" | "healthy" | "unhealthy" | "none" => Ok(h.clone()),
                _ => Err(ViewError::BadArgs(format!(
                    "Unrecognised filter value for health: {h}"
                ))),
            })
            .collect::<Result<_>>()?;
        Ok(Matcher {
            health,
            ids: regexes("id")?,
            names: regexes("name")?,
            labels,
            status,
            exited,
            ancestor_ids,
            ancestor_names,
            volumes: f.get("volume").to_vec(),
            networks: f.get("network").to_vec(),
            before: created_of("before")?,
            since: created_of("since")?,
            publish: port_filters(f.get("publish"), "publish")?,
            expose: port_filters(f.get("expose"), "expose")?,
        })
    }

    pub fn matches(&self, r: &Record, status: Status) -> bool {
        let any = |v: &[Regex], s: &str| v.is_empty() || v.iter().any(|re| re.is_match(s));
        // Docker's names carry a leading slash, and `name=^/web$` is how people anchor.
        if !any(&self.ids, &r.id) || !any(&self.names, &format!("/{}", r.name)) {
            return false;
        }
        if !self.status.is_empty() && !self.status.contains(&status) {
            return false;
        }
        if !self.health.is_empty() {
            // Docker's: a container without a check is `none`.
            let h = r
                .state
                .as_ref()
                .and_then(|s| s.health.as_ref())
                .map_or("none", |h| h.status.as_str());
            if !self.health.iter().any(|v| v == h) {
                return false;
            }
        }
        if !self.exited.is_empty() {
            let code = r.state.as_ref().map(|s| s.exit_code);
            if status != Status::Exited || !code.is_some_and(|c| self.exited.contains(&c)) {
                return false;
            }
        }
        let config = r.bundle.as_ref().map(|b| &b.config);
        let labels = config.map(|c| &c.labels);
        for (k, v) in &self.labels {
            let have = labels.and_then(|l| l.get(k));
            match (have, v) {
                (None, _) => return false,
                (Some(h), Some(v)) if h != v => return false,
                _ => {}
            }
        }
        if (!self.ancestor_ids.is_empty() || !self.ancestor_names.is_empty())
            && !self.ancestor_matches(r)
        {
            return false;
        }
        if !self.volumes.is_empty() {
            let mounts = r.mounts.as_deref().unwrap_or_default();
            let hit = mounts.iter().any(|m| {
                let name = match (m.kind, &m.name) {
                    (MountKind::Volume, Some(n)) => n.clone(),
                    _ => m.source.display().to_string(),
                };
                self.volumes
                    .iter()
                    .any(|v| *v == name || *v == m.destination)
            });
            if !hit {
                return false;
            }
        }
        if !self.networks.is_empty() {
            let net = network_name(r);
            if !self
                .networks
                .iter()
                .any(|n| Some(n.as_str()) == net.as_deref())
            {
                return false;
            }
        }
        let created = r.created;
        if let Some(b) = self.before
            && created.is_none_or(|c| c >= b)
        {
            return false;
        }
        if let Some(s) = self.since
            && created.is_none_or(|c| c <= s)
        {
            return false;
        }
        if !self.publish.is_empty() {
            let bound = r
                .network
                .as_ref()
                .map(|n| n.ports.as_slice())
                .unwrap_or_default();
            if !bound
                .iter()
                .any(|p| port_hit(&self.publish, p.container_port, &p.protocol))
            {
                return false;
            }
        }
        if !self.expose.is_empty() {
            let exposed = config
                .map(|c| c.exposed_ports.as_slice())
                .unwrap_or_default();
            let hit = exposed.iter().any(|e| {
                let (p, proto) = e.split_once('/').unwrap_or((e, "tcp"));
                p.parse().is_ok_and(|p| port_hit(&self.expose, p, proto))
            });
            if !hit {
                return false;
            }
        }
        true
    }

    fn ancestor_matches(&self, r: &Record) -> bool {
        if let Some(img) = &r.image
            && self.ancestor_ids.contains(&img.id)
        {
            return true;
        }
        let mut names = Vec::new();
        if let Some(img) = &r.image {
            names.push(familiar(&img.reference));
        }
        if let Some(b) = &r.bundle {
            names.push(familiar(&b.config.image));
        }
        names
            .iter()
            .any(|n| !n.is_empty() && self.ancestor_names.contains(n))
    }
}

/// The network a container is attached to, by name: `bridge`, `host`, `none`, or a
/// user-defined network; none once `network disconnect` took it off the network it was
/// created on (its mode, Docker's `HostConfig.NetworkMode`, stays).
pub fn network_name(r: &Record) -> Option<String> {
    let n = r.network.as_ref()?;
    match &n.network {
        Some(net) => Some(net.clone()),
        None if n.bridge.is_none() && n.host_veth.is_none() && !is_bridged_mode(&n.mode) => {
            Some(n.mode.clone())
        }
        None => None,
    }
}

/// Whether a network mode names a bridge network (default or user-defined).
fn is_bridged_mode(mode: &str) -> bool {
    !matches!(mode, "none" | "host" | "") && !mode.starts_with("container:")
}

fn familiar(s: &str) -> String {
    Reference::parse(s).map_or_else(|_| s.to_string(), |r| r.familiar())
}

fn port_filters(values: &[String], key: &str) -> Result<Vec<(u16, u16, Option<String>)>> {
    values
        .iter()
        .map(|v| {
            let bad = || {
                ViewError::BadArgs(format!(
                    "invalid filter '{key}={v}' (expected PORT[-PORT][/PROTO])"
                ))
            };
            let (ports, proto) = match v.split_once('/') {
                Some((p, proto)) => (p, Some(proto.to_lowercase())),
                None => (v.as_str(), None),
            };
            let (a, b) = ports.split_once('-').unwrap_or((ports, ports));
            let a: u16 = a.parse().map_err(|_| bad())?;
            let b: u16 = b.parse().map_err(|_| bad())?;
            Ok((a.min(b), a.max(b), proto))
        })
        .collect()
}

fn port_hit(filters: &[(u16, u16, Option<String>)], port: u16, proto: &str) -> bool {
    let proto = if proto.is_empty() { "tcp" } else { proto };
    filters
        .iter()
        .any(|(a, b, p)| (*a..=*b).contains(&port) && p.as_deref().unwrap_or("tcp") == proto)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::protocol::{BundleSection, ImageSection, MountEntry, NetworkSection, StateSection};

    fn rec(name: &str, status: Status, code: i32) -> Record {
        let mut r = Record::new();
        r.id = format!(
            "{:0<64}",
            format!("ab{name}").replace(|c: char| !c.is_ascii_hexdigit(), "c")
        );
        r.name = name.into();
        r.image = Some(ImageSection {
            reference: "busybox:latest".into(),
            id: "sha256:1111".into(),
            ..Default::default()
        });
        let mut b = BundleSection::default();
        b.config.image = "busybox".into();
        b.config.labels.insert("tier".into(), "web".into());
        b.config.exposed_ports = vec!["80/tcp".into()];
        r.bundle = Some(b);
        r.mounts = Some(vec![MountEntry {
            kind: MountKind::Volume,
            name: Some("data".into()),
            destination: "/data".into(),
            rw: true,
            ..Default::default()
        }]);
        r.network = Some(NetworkSection {
            mode: "bridge".into(),
            network: Some("bridge".into()),
            ..Default::default()
        });
        r.state = Some(StateSection {
            status,
            exit_code: code,
            ..Default::default()
        });
        r
    }

    fn m(args: &[&str]) -> Result<Matcher> {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(&Paths::new(d.path().join("r"), d.path().join("run")));
        let f = Filters::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Matcher::new(&f, &c)
    }

    #[test]
    fn filters_match_like_docker() {
        let web = rec("web", Status::Running, 0);
        let dead = rec("db", Status::Exited, 137);
        let yes =
            |a: &[&str], r: &Record| m(a).unwrap().matches(r, r.state.as_ref().unwrap().status);
        assert!(yes(&["name=web"], &web) && !yes(&["name=web"], &dead));
        assert!(yes(&["name=^/web$"], &web) && yes(&["name=we"], &web));
        assert!(yes(&["name=web", "name=db"], &dead));
        assert!(yes(&["status=exited"], &dead) && !yes(&["status=exited"], &web));
        assert!(yes(&["exited=137"], &dead) && !yes(&["exited=0"], &dead));
        assert!(yes(&["label=tier"], &web) && yes(&["label=tier=web"], &web));
        assert!(!yes(&["label=tier=db"], &web) && !yes(&["label=tier", "label=x"], &web));
        assert!(yes(&["ancestor=busybox"], &web) && yes(&["ancestor=busybox:latest"], &web));
        assert!(!yes(&["ancestor=alpine"], &web));
        assert!(yes(&["volume=data"], &web) && yes(&["volume=/data"], &web));
        assert!(!yes(&["volume=other"], &web));
        assert!(yes(&["network=bridge"], &web) && !yes(&["network=host"], &web));
        assert!(yes(&["expose=80"], &web) && yes(&["expose=1-100/tcp"], &web));
        assert!(!yes(&["expose=80/udp"], &web) && !yes(&["publish=80"], &web));
        assert!(yes(&[&format!("id={}", &web.id[..6])], &web));
        assert!(yes(&["status=exited", "name=db"], &dead));
        assert!(!yes(&["status=running", "name=db"], &dead));
    }

    #[test]
    fn bad_filters_are_rejected() {
        for bad in [
            "nope=1",
            "status=sleeping",
            "exited=x",
            "noequals",
            "name=(",
            "publish=x",
        ] {
            let e = m(&[bad]).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(crate::Coded::code(&e), crate::Code::BAD_ARGS, "{bad}: {e}");
        }
        assert!(
            Filters::parse(&["status=exited".into()])
                .unwrap()
                .implies_all()
        );
    }
}
