//! Network definitions: the pre-defined `bridge` (the default, made on first use from the
//! root's network config file), `host` and `none`, and user-defined bridge networks
//! (`berth network create/ls/rm/inspect`).
//!
//! ```text
//! <root>/networks/default.json           the default network's settings (user-edited, optional)
//! <root>/networks/.lock                  create / rm / materialise
//! <root>/networks/nets/<name>/network.json   one definition (immutable while in use)
//! <root>/networks/nets/<name>/lock       IPAM and bridge bring-up/tear-down
//! <root>/networks/nets/<name>/ipam/<ip>  one file per address in use, holding the container id
//! <root>/networks/nets/<name>/ipam6/<ip> the same for IPv6 addresses (`--ipv6` networks)
//! ```
//!
//! A definition is only a file. The default network's bridge and firewall rules are made by
//! its first container and then kept, as dockerd keeps docker0 (a container's start costs no
//! bridge, and its removal no bridge teardown); `system prune` and `network prune` remove
//! them while no container is attached, and the next container makes them again. A
//! user-defined network's exist while at least one container is attached (see `attach`), as
//! netavark does.
//!
//! `default.json` holds dockerd's bridge settings as keys (there are no `--bip`-style flags):
//! `bridge` (default `berth0`, or the first `berthN` free on the host when another root
//! holds it), `bip` (like `172.17.0.1/16`), `fixed_cidr`, `mtu`, `icc`, `ip_masq`, and
//! `resolv_conf` (the host file containers' resolv.conf derives from). The default network
//! `bridge` (and `host`, `none`) is materialised from it on first use; an
//! edited file applies once the network has no containers (it stays IPv4-only, as Docker's
//! default bridge). User networks (`create`): `berth network create [--ipv6] [--subnet]...
//! [--gateway]... [--ip-range] [--internal] [--icc=false]
//! [-o com.docker.network.bridge.name|enable_icc|enable_ip_masquerade|driver.mtu]`, with
//! `--ipv6` dual-stack (`subnets6`, IPv6 addresses in `ipam6/`); the
//! bridge is `br-<id12>` unless named. Definitions are written with fsync (they are not
//! re-derived); IPAM entries and the `last` hint are not (`store::atomic`). `network ls`'s
//! rows, order and filters are `view`'s.

use std::collections::BTreeMap;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::error::{NetError, Result};
use super::ipam;
use crate::error::{IoContext, IoError};
use crate::paths::Paths;
use crate::state::ids;
use crate::store::{Lock, atomic};

/// The default network's name, as in Docker.
pub const DEFAULT_NETWORK: &str = "bridge";
/// The default bridge device.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// Docker's default `--bip`; a different subnet is picked if the host already routes it.
const DEFAULT_BIP: &str = "172.17.0.1/16";

mod create;
mod inspect;
mod prune;
mod subnets;
pub mod subnets6;
pub mod view;

pub use create::{CreateOpts, create};
pub use inspect::{NetworkInspect, inspect};
pub use prune::prune;
pub use subnets::overlaps;
use subnets::{check_subnet, first_host, parse_range, pick_subnet};

/// `<root>/networks/default.json`: the settings of the default `bridge` network, the
/// equivalents of dockerd's `--bip`, `--fixed-cidr`, `--mtu`, `--icc`, `--ip-masq` and
/// `--bridge`, plus where containers' resolv.conf comes from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DefaultConfig {
    /// The bridge device (default `berth0`).
    pub bridge: Option<String>,
    /// The bridge's address and prefix, `172.17.0.1/16` style.
    pub bip: Option<String>,
    /// The range containers' addresses come from, inside the bip's subnet.
    pub fixed_cidr: Option<String>,
    pub mtu: Option<u32>,
    pub icc: Option<bool>,
    pub ip_masq: Option<bool>,
    /// The host resolv.conf containers' /etc/resolv.conf derives from (default
    /// /etc/resolv.conf).
    pub resolv_conf: Option<PathBuf>,
}

impl DefaultConfig {
    pub fn load(paths: &Paths) -> Result<DefaultConfig> {
        let p = config_path(paths);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                NetError::BadArgs(format!("{}: {e} (fix or delete the file)", p.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DefaultConfig::default()),
            Err(e) => Err(IoError {
                op: "read",
                path: p,
                source: e,
            }
            .into()),
        }
    }
}

/// One network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    pub created: DateTime<Utc>,
    /// The bridge device, for bridge networks.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bridge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<Ipv4Net>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// Where container addresses come from (`--ip-range`, `fixed_cidr`); the subnet if unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<Ipv4Net>,
    /// `--ipv6` (Docker's `EnableIPv6`): dual-stack, with `subnet6` and `gateway6` besides
    /// the IPv4 subnet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ipv6: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet6: Option<Ipv6Net>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway6: Option<Ipv6Addr>,
    /// 0 means the kernel's default (1500).
    #[serde(default)]
    pub mtu: u32,
    /// Inter-container communication (Docker's com.docker.network.bridge.enable_icc).
    #[serde(default = "yes")]
    pub icc: bool,
    /// Outbound NAT (com.docker.network.bridge.enable_ip_masquerade).
    #[serde(default = "yes")]
    pub masquerade: bool,
    /// No traffic to or from outside the network (`--internal`).
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// For the default network: the config file it was made from, so that an edited file takes
    /// effect the next time the network is not in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_config: Option<DefaultConfig>,
}

fn yes() -> bool {
    true
}

impl Network {
    pub fn is_bridge(&self) -> bool {
        self.driver == "bridge"
    }

    /// The addresses containers may get.
    pub fn range(&self) -> Option<Ipv4Net> {
        self.ip_range.or(self.subnet)
    }

    /// The IPv6 subnet and gateway of a dual-stack network (`--ipv6`).
    pub fn v6(&self) -> Option<(Ipv6Net, Ipv6Addr)> {
        match (self.ipv6, self.subnet6, self.gateway6) {
            (true, Some(s), Some(g)) => Some((s, g)),
            _ => None,
        }
    }

    /// The short tag that marks this network's firewall rules and bridge.
    pub fn tag(&self) -> String {
        format!("berth-net:{}", ids::short(&self.id))
    }
}

pub fn config_path(paths: &Paths) -> PathBuf {
    paths.networks().join("default.json")
}

fn nets_dir(paths: &Paths) -> PathBuf {
    paths.networks().join("nets")
}

/// `<root>/networks/nets/<name>`.
pub fn network_dir(paths: &Paths, name: &str) -> PathBuf {
    nets_dir(paths).join(name)
}

fn def_path(paths: &Paths, name: &str) -> PathBuf {
    network_dir(paths, name).join("network.json")
}

/// The lock around one network's IPAM and bridge bring-up/tear-down.
pub fn lock_network(paths: &Paths, name: &str) -> Result<Lock> {
    Ok(Lock::exclusive(&network_dir(paths, name).join("lock"))?)
}

fn lock_all(paths: &Paths) -> Result<Lock> {
    Ok(Lock::exclusive(&paths.networks().join(".lock"))?)
}

/// Docker's network name rule.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = !name.is_empty()
        && name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(NetError::BadArgs(format!(
            "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// A Linux interface name: at most 15 bytes, no '/', ':' or whitespace.
pub fn validate_ifname(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if ok {
        Ok(())
    } else {
        Err(NetError::BadArgs(format!(
            "invalid bridge name {name:?}: at most 15 characters, without '/', ':' or spaces"
        )))
    }
}

fn read_def(paths: &Paths, name: &str) -> Result<Option<Network>> {
    let p = def_path(paths, name);
    match fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            NetError::BadArgs(format!(
                "network definition {} is unreadable: {e}",
                p.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(IoError {
            op: "read",
            path: p,
            source: e,
        }
        .into()),
    }
}

fn write_def(paths: &Paths, net: &Network) -> Result<()> {
    Ok(atomic::write_json(&def_path(paths, &net.name), net)?)
}

/// Whether `net`'s bridge and rules outlive its containers: the default network's do, as
/// dockerd's docker0 does (made on first use, kept; `detach::idle_bridge_down` removes them
/// when asked). A user-defined network's come and go with its containers.
pub fn persistent(net: &Network) -> bool {
    net.name == DEFAULT_NETWORK
}

fn predefined(name: &str) -> Option<&'static str> {
    match name {
        DEFAULT_NETWORK => Some("bridge"),
        "host" => Some("host"),
        "none" => Some("null"),
        _ => None,
    }
}

/// Loads a network by name, id or unique id prefix. The pre-defined networks are made on
/// first use; the default one from the root's config file.
pub fn get(paths: &Paths, arg: &str) -> Result<Network> {
    if predefined(arg).is_some() {
        return materialise(paths, arg);
    }
    if let Some(n) = read_def(paths, arg)? {
        return Ok(n);
    }
    if arg.len() >= 3 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut found = list(paths)?.into_iter().filter(|n| n.id.starts_with(arg));
        if let Some(first) = found.next() {
            if found.next().is_some() {
                return Err(NetError::BadArgs(format!(
                    "network id prefix {arg:?} is ambiguous (give more characters)"
                )));
            }
            return Ok(first);
        }
    }
    Err(NetError::NoSuchNetwork(arg.to_string()))
}

/// Every network, the pre-defined ones included, by name.
pub fn list(paths: &Paths) -> Result<Vec<Network>> {
    let mut out = Vec::new();
    for name in [DEFAULT_NETWORK, "host", "none"] {
        out.push(materialise(paths, name)?);
    }
    let dir = nets_dir(paths);
    let entries = crate::store::list_dir(&dir)?;
    let mut names: Vec<String> = entries
        .into_iter()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| predefined(n).is_none())
        .collect();
    names.sort();
    for n in names {
        if let Some(net) = read_def(paths, &n)? {
            out.push(net);
        }
    }
    Ok(out)
}

/// Makes (or refreshes, when its config changed and nobody uses it) a pre-defined network.
fn materialise(paths: &Paths, name: &str) -> Result<Network> {
    let driver = predefined(name).expect("pre-defined network");
    let config = if name == DEFAULT_NETWORK {
        Some(DefaultConfig::load(paths)?)
    } else {
        None
    };
    if let Some(n) = read_def(paths, name)?
        && n.from_config == config
    {
        return Ok(n);
    }
    let _l = lock_all(paths)?;
    let existing = read_def(paths, name)?;
    if let Some(n) = &existing
        && (n.from_config == config || !ipam::allocations(&network_dir(paths, name))?.is_empty())
    {
        // In use: the edited config applies once its containers are gone.
        return Ok(n.clone());
    }
    if let Some(old) = &existing {
        // The edited config applies now: the old bridge (kept up while idle) goes first.
        crate::net::detach::idle_bridge_down(paths, old)?;
    }
    let mut net = Network {
        name: name.to_string(),
        id: existing.as_ref().map_or_else(ids::new_id, |n| n.id.clone()),
        driver: driver.to_string(),
        created: existing.as_ref().map_or_else(Utc::now, |n| n.created),
        bridge: String::new(),
        subnet: None,
        gateway: None,
        ip_range: None,
        ipv6: false,
        subnet6: None,
        gateway6: None,
        mtu: 0,
        icc: true,
        masquerade: true,
        internal: false,
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        from_config: config.clone(),
    };
    if let Some(c) = config {
        let bridge = match c.bridge.clone() {
            Some(b) => b,
            None => subnets::free_bridge_name(&net.tag())?,
        };
        validate_ifname(&bridge)?;
        let (gateway, subnet) = match &c.bip {
            Some(bip) => {
                let n: Ipv4Net = bip.parse().map_err(|_| {
                    NetError::BadArgs(format!(
                        "{}: invalid bip {bip:?} (expected an address with a prefix, like 172.17.0.1/16)",
                        config_path(paths).display()
                    ))
                })?;
                (n.addr(), n.trunc())
            }
            None => {
                let preferred: Ipv4Net = DEFAULT_BIP.parse().unwrap();
                let subnet = pick_subnet(paths, Some(preferred.trunc()), name)?;
                (first_host(subnet), subnet)
            }
        };
        check_subnet(subnet, gateway)?;
        let ip_range = match &c.fixed_cidr {
            Some(r) => Some(parse_range(r, subnet)?),
            None => None,
        };
        net.bridge = bridge;
        net.subnet = Some(subnet);
        net.gateway = Some(gateway);
        net.ip_range = ip_range;
        net.mtu = c.mtu.unwrap_or(0);
        net.icc = c.icc.unwrap_or(true);
        net.masquerade = c.ip_masq.unwrap_or(true);
    }
    write_def(paths, &net)?;
    Ok(net)
}

/// `berth network rm`: refuses pre-defined networks and networks with containers.
pub fn remove(paths: &Paths, arg: &str) -> Result<Network> {
    let net = get(paths, arg)?;
    if predefined(&net.name).is_some() {
        return Err(NetError::Predefined(net.name));
    }
    let _l = lock_all(paths)?;
    let dir = network_dir(paths, &net.name);
    let _nl = lock_network(paths, &net.name)?;
    let users = ipam::allocations(&dir)?;
    if !users.is_empty() {
        return Err(NetError::NetworkInUse {
            name: net.name.clone(),
            count: users.len(),
            users: users
                .iter()
                .map(|(_, id)| ids::short(id).to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    fs::remove_dir_all(&dir).with_path("remove", &dir)?;
    crate::events::network(&paths.root, &net.id, &net.name, &net.driver, "destroy", &[]);
    Ok(net)
}

/// moby's event about container `container` on the network named `name` (`connect`,
/// `disconnect`): attributes `container`, `name` and `type`.
pub fn emit_endpoint(paths: &Paths, name: &str, container: &str, action: &str) {
    if let Ok(Some(net)) = read_def(paths, name) {
        let c = [("container", container.to_string())];
        crate::events::network(&paths.root, &net.id, &net.name, &net.driver, action, &c);
    }
}

/// The containers attached to a network: (address, container id).
pub fn endpoints(paths: &Paths, net: &Network) -> Result<Vec<(Ipv4Addr, String)>> {
    ipam::allocations(&network_dir(paths, &net.name))
}

/// True if `dir` holds a network definition (used by tests and GC).
pub fn exists(paths: &Paths, name: &str) -> bool {
    Path::new(&def_path(paths, name)).exists()
}
