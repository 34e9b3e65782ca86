//! The resolver's table, `<run>/dns/table.json`: for each container on a user-defined
//! network, its namespace, its upstream servers and its endpoints (network, address, DNS
//! names). Written by berth-netns under `<run>/dns/lock` (set-up, teardown, connect,
//! disconnect), replaced by rename; the resolver reads it again after every change it is told
//! of, so the file, not the process, is the truth a restarted resolver starts from.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, IoError};
use crate::store::atomic;

/// The file's name in the resolver's directory (also its path inside the resolver's chroot).
pub const FILE: &str = "table.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Table {
    /// By container id.
    #[serde(default)]
    pub containers: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The container's bind-mounted namespace, where its 127.0.0.11:53 sockets are made.
    pub netns: PathBuf,
    /// Where names not on its networks are forwarded (from the host's resolv.conf, or
    /// `--dns`), in order.
    #[serde(default)]
    pub upstreams: Vec<SocketAddr>,
    /// One per network the container is connected to.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    /// Not running (created, or stopped): its names resolve for nobody until it starts, as
    /// Docker's resolver answers only for running containers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub ip: Ipv4Addr,
    /// On an `--ipv6` network: the endpoint's IPv6 address (AAAA, and PTR in ip6.arpa).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<Ipv6Addr>,
    /// Docker's `DNSNames`: name, aliases, short id, hostname; the first names the PTR.
    pub names: Vec<String>,
}

impl Table {
    /// Reads the table; a missing file is an empty table.
    pub fn load(path: &Path) -> Result<Table, IoError> {
        match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| IoError {
                op: "parse",
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Table::default()),
            Err(e) => Err(e).with_path("read", path),
        }
    }

    /// Replaces the file (rename-atomic, no fsync: `<run>` is tmpfs and the table is
    /// re-derived by every set-up).
    pub fn save(&self, path: &Path) -> Result<(), IoError> {
        atomic::write_json_volatile(path, self)
    }

    /// Every address (and its endpoint's owner) that the container `me` may resolve: the
    /// endpoints of every running container that shares a network with it, its own included.
    /// A container not in the table sees nothing.
    pub fn visible<'a>(&'a self, me: &str) -> Vec<(&'a str, &'a Endpoint)> {
        let Some(mine) = self.containers.get(me) else {
            return Vec::new();
        };
        let nets: Vec<&str> = mine.endpoints.iter().map(|e| e.network.as_str()).collect();
        self.containers
            .iter()
            .filter(|(id, e)| !e.stopped || id.as_str() == me)
            .flat_map(|(id, e)| e.endpoints.iter().map(move |ep| (id.as_str(), ep)))
            .filter(|(_, ep)| nets.contains(&ep.network.as_str()))
            .collect()
    }

    /// The endpoints visible to container `me` that are called `name` (case-insensitive,
    /// without a trailing dot), in table order.
    pub fn named<'a>(&'a self, me: &str, name: &str) -> Vec<&'a Endpoint> {
        let name = name.trim_end_matches('.');
        self.visible(me)
            .into_iter()
            .map(|(_, ep)| ep)
            .filter(|ep| ep.names.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .collect()
    }

    /// The IPv4 addresses `name` has for container `me`, in table order, each once.
    pub fn lookup(&self, me: &str, name: &str) -> Vec<Ipv4Addr> {
        dedup(self.named(me, name).into_iter().map(|ep| ep.ip))
    }

    /// The IPv6 addresses `name` has for container `me` (AAAA), in table order, each once.
    pub fn lookup6(&self, me: &str, name: &str) -> Vec<Ipv6Addr> {
        dedup(self.named(me, name).into_iter().filter_map(|ep| ep.ip6))
    }

    /// The PTR name of `ip` for container `me`: the first DNS name of the endpoint holding it,
    /// with the network's name as domain (Docker's `name.network`).
    pub fn reverse(&self, me: &str, ip: IpAddr) -> Option<String> {
        self.visible(me)
            .into_iter()
            .find(|(_, ep)| match ip {
                IpAddr::V4(a) => ep.ip == a,
                IpAddr::V6(a) => ep.ip6 == Some(a),
            })
            .and_then(|(_, ep)| ep.names.first().map(|n| format!("{n}.{}", ep.network)))
    }
}

/// Each item once, in order.
pub fn dedup<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Docker's `DNSNames` of an endpoint (moby's buildEndpointDNSNames): the container's name,
/// the endpoint's aliases, the short id and the hostname, each once, in that order.
pub fn dns_names(name: &str, aliases: &[String], id: &str, hostname: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let short = &id[..12.min(id.len())];
    let all = std::iter::once(name)
        .chain(aliases.iter().map(String::as_str))
        .chain([short, hostname]);
    for n in all {
        let n = n.trim_start_matches('/');
        if !n.is_empty() && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(network: &str, ip: [u8; 4], names: &[&str]) -> Endpoint {
        Endpoint {
            network: network.into(),
            ip: ip.into(),
            ip6: None,
            names: names.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn table() -> Table {
        let mut t = Table::default();
        let mut add = |id: &str, eps: Vec<Endpoint>| {
            t.containers.insert(
                id.into(),
                Entry {
                    netns: format!("/run/netns/{id}").into(),
                    upstreams: vec![],
                    endpoints: eps,
                    stopped: false,
                },
            );
        };
        add("a", vec![ep("front", [10, 0, 0, 2], &["web", "www"])]);
        add("b", vec![ep("front", [10, 0, 0, 3], &["api"])]);
        add("c", vec![ep("back", [10, 1, 0, 2], &["db"])]);
        add(
            "d",
            vec![
                ep("front", [10, 0, 0, 4], &["both"]),
                ep("back", [10, 1, 0, 3], &["both", "bk"]),
            ],
        );
        t
    }

    #[test]
    fn a_container_sees_only_the_networks_it_is_on() {
        let t = table();
        assert_eq!(t.lookup("b", "WEB."), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert_eq!(t.lookup("b", "www"), [Ipv4Addr::new(10, 0, 0, 2)]);
        assert!(t.lookup("a", "db").is_empty(), "db is on back only");
        assert!(t.lookup("c", "web").is_empty());
        assert_eq!(t.lookup("c", "both"), [Ipv4Addr::new(10, 1, 0, 3)]);
        assert!(t.lookup("c", "api").is_empty());
        // On both networks: both addresses, and names of both.
        assert_eq!(t.lookup("d", "both").len(), 2);
        assert_eq!(t.lookup("d", "db"), [Ipv4Addr::new(10, 1, 0, 2)]);
        assert_eq!(t.lookup("d", "web"), [Ipv4Addr::new(10, 0, 0, 2)]);
        // Unknown containers see nothing.
        assert!(t.lookup("zzz", "web").is_empty());
        assert_eq!(
            t.reverse("b", Ipv4Addr::new(10, 0, 0, 2).into()).as_deref(),
            Some("web.front")
        );
        assert_eq!(t.reverse("b", Ipv4Addr::new(10, 1, 0, 2).into()), None);
    }

    #[test]
    fn a_stopped_container_resolves_for_nobody_and_ipv6_names_have_aaaa() {
        let mut t = table();
        t.containers.get_mut("a").unwrap().stopped = true;
        assert!(t.lookup("b", "web").is_empty());
        assert!(t.reverse("b", Ipv4Addr::new(10, 0, 0, 2).into()).is_none());
        assert_eq!(t.lookup("a", "api"), [Ipv4Addr::new(10, 0, 0, 3)]);
        let ip6: Ipv6Addr = "fd00::3".parse().unwrap();
        t.containers.get_mut("b").unwrap().endpoints[0].ip6 = Some(ip6);
        assert_eq!(t.lookup6("d", "api"), [ip6]);
        assert!(t.lookup6("d", "both").is_empty());
        assert_eq!(t.reverse("d", ip6.into()).as_deref(), Some("api.front"));
    }

    #[test]
    fn dns_names_in_dockers_order() {
        let id = "0123456789abcdef0123";
        assert_eq!(
            dns_names("/web", &["www".into(), "web".into()], id, "0123456789ab"),
            ["web", "www", "0123456789ab"]
        );
        assert_eq!(dns_names("", &[], id, "box"), ["0123456789ab", "box"]);
    }

    #[test]
    fn load_save_round_trip_and_missing_is_empty() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(FILE);
        assert_eq!(Table::load(&p).unwrap(), Table::default());
        let t = table();
        t.save(&p).unwrap();
        assert_eq!(Table::load(&p).unwrap(), t);
    }
}
