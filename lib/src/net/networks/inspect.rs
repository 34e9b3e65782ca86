//! `docker network inspect`'s document: moby's `network.Inspect` (Docker 28), field for field
//! in moby's order, so that JSON keeps Docker's order and a template prints Go's structs
//! (`{{.IPAM}}` is `{default map[] [{172.18.0.0/16  172.18.0.1 map[]}]}`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Network, Result, endpoints, ipam, network_dir};
use crate::format::GoTime;
use crate::paths::Paths;

/// moby `network.Inspect`. `Peers` and `Services` (swarm) are never set.
#[derive(Debug, Serialize)]
#[serde(rename = "go-omitempty Peers:l Services:m", rename_all = "PascalCase")]
pub struct NetworkInspect {
    pub name: String,
    #[serde(rename = "Id")]
    pub id: String,
    pub created: GoTime,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigReference,
    pub config_only: bool,
    pub containers: BTreeMap<String, EndpointResource>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<BTreeMap<String, String>>,
}

/// moby `network.IPAM`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub config: Vec<IpamConfig>,
}

/// moby `network.IPAMConfig`: every field `omitempty`.
#[derive(Debug, Default, Serialize)]
#[serde(
    rename = "go-omitempty Subnet:s IPRange:s Gateway:s AuxiliaryAddresses:m",
    rename_all = "PascalCase"
)]
pub struct IpamConfig {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "Option::is_none")]
    pub aux_address: Option<BTreeMap<String, String>>,
}

/// moby `network.ConfigReference`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    pub network: String,
}

/// moby `network.EndpointResource`: one container on the network. berth keeps no endpoint
/// ids, so `EndpointID` is empty.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointResource {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// A network as `docker network inspect` shows it.
pub fn inspect(paths: &Paths, n: &Network) -> Result<NetworkInspect> {
    Ok(NetworkInspect {
        name: n.name.clone(),
        id: n.id.clone(),
        created: GoTime(n.created),
        scope: "local".into(),
        driver: n.driver.clone(),
        enable_ipv4: true,
        enable_ipv6: n.ipv6,
        ipam: Ipam {
            driver: "default".into(),
            options: BTreeMap::new(),
            config: ipam_config(n),
        },
        internal: n.internal,
        attachable: false,
        ingress: false,
        config_from: ConfigReference::default(),
        config_only: false,
        containers: containers(paths, n)?,
        options: options(n),
        labels: n.labels.clone(),
        peers: None,
        services: None,
    })
}

fn containers(paths: &Paths, n: &Network) -> Result<BTreeMap<String, EndpointResource>> {
    let containers = crate::state::Containers::new(paths);
    let prefix = n.subnet.map(|s| s.prefix_len()).unwrap_or(0);
    let v6: BTreeMap<String, String> = match n.v6() {
        Some((s6, _)) => ipam::allocations6(&network_dir(paths, &n.name))?
            .into_iter()
            .map(|(ip, id)| (id, format!("{ip}/{}", s6.prefix_len())))
            .collect(),
        None => BTreeMap::new(),
    };
    let mut eps = BTreeMap::new();
    for (ip, id) in endpoints(paths, n)? {
        let rec = containers.load(&id).ok();
        let name = rec.as_ref().map(|r| r.name.clone()).unwrap_or_default();
        // The MAC of the endpoint on this network: the first one, or one `network connect` made.
        let mac = rec
            .as_ref()
            .and_then(|r| r.network.as_ref())
            .and_then(|s| match s.connected.iter().find(|a| a.network == n.name) {
                Some(a) => Some(a.mac_address.clone()),
                None => s.mac_address.clone(),
            })
            .unwrap_or_default();
        let ipv6_address = v6.get(&id).cloned().unwrap_or_default();
        eps.insert(
            id,
            EndpointResource {
                name,
                endpoint_id: String::new(),
                mac_address: mac,
                ipv4_address: format!("{ip}/{prefix}"),
                ipv6_address,
            },
        );
    }
    Ok(eps)
}

fn options(n: &Network) -> BTreeMap<String, String> {
    let mut options = n.options.clone();
    if n.is_bridge() {
        let mut set = |k: &str, v: String| options.insert(format!("com.docker.network.{k}"), v);
        set("bridge.name", n.bridge.clone());
        set("bridge.enable_icc", n.icc.to_string());
        set("bridge.enable_ip_masquerade", n.masquerade.to_string());
        if n.mtu > 0 {
            set("driver.mtu", n.mtu.to_string());
        }
    }
    options
}

fn ipam_config(n: &Network) -> Vec<IpamConfig> {
    let mut config = Vec::new();
    let v4 = IpamConfig {
        subnet: n.subnet.map(|s| s.to_string()).unwrap_or_default(),
        ip_range: n.ip_range.map(|r| r.to_string()).unwrap_or_default(),
        gateway: n.gateway.map(|g| g.to_string()).unwrap_or_default(),
        aux_address: None,
    };
    if !(v4.subnet.is_empty() && v4.ip_range.is_empty() && v4.gateway.is_empty()) {
        config.push(v4);
    }
    if let Some((s6, g6)) = n.v6() {
        config.push(IpamConfig {
            subnet: s6.to_string(),
            gateway: g6.to_string(),
            ..IpamConfig::default()
        });
    }
    config
}
