//! The `network` section, written by berth-netns.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkSection {
    /// `none`, `bridge`, `host`, `container:<id>`, or a user-defined network's name.
    pub mode: String,
    /// The bridge network's name, for bridge modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The bridge network's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    /// For `container:<id>` mode: the container whose namespace this one joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub joined: Option<String>,
    /// The bind-mounted namespace (`<run>/netns/<id>`) that berth-spawn joins; `None` for host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_len: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    /// On an `--ipv6` network: the IPv6 address (Docker's `GlobalIPv6Address`), its prefix
    /// length and the network's IPv6 gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_prefix_len: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<String>,
    /// The host end of the veth pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_veth: Option<String>,
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub dns_search: Vec<String>,
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// `NAME:IP`, as given to `--add-host`.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    #[serde(default)]
    pub links: Vec<LinkInfo>,
    /// Every port the container exposes, `80/tcp` style: the image's EXPOSE, `--expose`,
    /// and the container side of `-p` (Docker's `Config.ExposedPorts`). Links read it.
    #[serde(default)]
    pub exposed_ports: Vec<String>,
    /// `-P`.
    #[serde(default)]
    pub publish_all: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf_path: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname_path: Option<PathBuf>,
    /// `--network-alias`: more DNS names on the network given to `--network` (user-defined
    /// networks only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Networks joined later by `network connect`, one interface each (eth1, eth2, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connected: Vec<Attachment>,
    /// `--ip` / `--ip6` as given (Docker's `IPAMConfig`); none when allocated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<FixedAddrs>,
    /// Written in the journal, before anything exists: the set-up adds no firewall rule of
    /// the container's own (no published port, no link exception), so teardown runs no
    /// iptables at all. False (the default, and an older record) means it may have: teardown
    /// deletes them, by tag if the record is short of the truth.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_rules: bool,
}

/// The addresses a user fixed for an endpoint (`--ip`, `--ip6`, and `network connect`'s):
/// what Docker shows as the endpoint's `IPAMConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedAddrs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
}

impl FixedAddrs {
    /// The fixed addresses, or none if neither was given.
    pub fn of(ipv4: Option<impl ToString>, ipv6: Option<impl ToString>) -> Option<FixedAddrs> {
        let f = FixedAddrs {
            ipv4: ipv4.map(|a| a.to_string()),
            ipv6: ipv6.map(|a| a.to_string()),
        };
        (f.ipv4.is_some() || f.ipv6.is_some()).then_some(f)
    }
}

/// One more network a container is connected to (`berth network connect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub network_id: String,
    pub bridge: String,
    /// The interface inside the container (`eth1`...).
    pub ifname: String,
    /// The host end of its veth pair.
    pub host_veth: String,
    pub ip_address: String,
    pub prefix_len: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    pub mac_address: String,
    /// On an `--ipv6` network: the IPv6 address, prefix length and gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_prefix_len: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_gateway: Option<String>,
    /// `--alias`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// `--ip` / `--ip6` as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<FixedAddrs>,
}

/// One published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    /// `0.0.0.0` when bound to every address.
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// A legacy `--link`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// The target container's name.
    pub name: String,
    pub alias: String,
    pub id: String,
    /// The target's address when the link was made.
    #[serde(default)]
    pub ip_address: String,
    /// The target's exposed ports (`3306/tcp`), which icc=false opens along the link.
    #[serde(default)]
    pub ports: Vec<String>,
}
