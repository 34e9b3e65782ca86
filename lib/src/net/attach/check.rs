//! Step 1 of the set-up: every argument, the network and the links are checked, and what the
//! later steps need is worked out, before anything is made.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::NetOpts;
use crate::net::error::{NetError, Result};
use crate::net::networks::{self, Network};
use crate::net::{dnsfiles, links, ports};
use crate::paths::Paths;
use crate::protocol::{BundleSection, LinkInfo, Record, Status};
use crate::state::{Containers, truth};

pub(super) enum Mode {
    None,
    Host,
    Container(Box<Record>),
    Bridge(Box<Network>),
}

/// What step 1 found: the mode and everything the flags asked for, checked.
pub(super) struct Plan {
    pub mode: Mode,
    /// The record's `mode`: none, host, `container:ID` or the network's name.
    pub mode_name: String,
    /// Host ports to reserve (bridge modes only).
    pub wanted: Vec<ports::Wanted>,
    /// `--ip`.
    pub wanted_ip: Option<Ipv4Addr>,
    /// `--ip6`.
    pub wanted_ip6: Option<Ipv6Addr>,
    /// `--mac-address`.
    pub mac: Option<[u8; 6]>,
    /// The image's, `--expose`'s and the published ports, `PORT/PROTO`, each once.
    pub exposed: Vec<String>,
    /// `--add-host`, parsed: `(name, address)`.
    pub extra_hosts: Vec<(String, String)>,
    /// `--link`, and the records of their targets (in the same order).
    pub links: Vec<LinkInfo>,
    pub link_targets: Vec<Record>,
}

pub(super) fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        NetError::BadArgs(format!(
            "invalid --mac-address {s:?}: expected six hex bytes like 02:42:ac:11:00:02"
        ))
    };
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(NetError::BadArgs(format!(
            "invalid --mac-address {s}: it is a multicast address"
        )));
    }
    Ok(mac)
}

fn conflict(what: &str, mode: &str) -> NetError {
    NetError::BadArgs(format!(
        "conflicting options: {what} and the network mode ({mode})"
    ))
}

/// A running container (or a refusal naming why not).
fn running(containers: &Containers, arg: &str, why: &str) -> Result<Record> {
    target(containers, arg, why, false)
}

/// A container that runs, or with `created` one that was created and not yet started: a
/// link may name it (its address is allocated at creation), as `docker create --link` does;
/// Docker checks that the target runs only when the linking container starts.
fn target(containers: &Containers, arg: &str, why: &str, created: bool) -> Result<Record> {
    let id = containers.resolve(arg).map_err(|e| match e {
        crate::state::StateError::NoSuchContainer(_) => NetError::State(
            crate::state::StateError::NoSuchContainer(format!("{arg} (cannot {why})")),
        ),
        e => e.into(),
    })?;
    let r = truth::observe(containers, containers.load(&id)?)?;
    let status = r
        .state
        .as_ref()
        .map(|s| s.status)
        .unwrap_or(Status::Created);
    if status != Status::Running && !(created && status == Status::Created) {
        return Err(NetError::WrongState(format!(
            "cannot {why}: container {arg} is {status}, not running (start it first)"
        )));
    }
    Ok(r)
}

/// Step 1: checks every flag against the mode, the bundle, the links and the network.
pub(super) fn check(
    paths: &Paths,
    containers: &Containers,
    id: &str,
    bundle: &BundleSection,
    o: &NetOpts,
) -> Result<Plan> {
    let mode = mode(paths, containers, id, o)?;
    let mode_name = match &mode {
        Mode::None => "none".to_string(),
        Mode::Host => "host".to_string(),
        Mode::Container(r) => format!("container:{}", r.id),
        Mode::Bridge(n) => n.name.clone(),
    };
    let bridged = matches!(mode, Mode::Bridge(_));
    refuse_conflicts(&mode, &mode_name, o)?;
    let wanted_ip =
        o.ip.as_deref()
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|_| NetError::BadArgs(format!("invalid --ip {s:?}")))
            })
            .transpose()?;
    let wanted_ip6 = match (&mode, o.ip6.as_deref()) {
        (Mode::Bridge(n), Some(s)) => Some(parse_ip6(n, s)?),
        _ => None,
    };
    let mac = o.mac_address.as_deref().map(parse_mac).transpose()?;
    if let Some(h) = &o.hostname {
        dnsfiles::validate_hostname(h)?;
    }
    let (exposed, wanted) = port_plan(bundle, o)?;
    if !bridged && !wanted.is_empty() {
        log::warn!("published ports are discarded when using {mode_name} network mode");
    }
    let gateway = match &mode {
        Mode::Bridge(n) => n.gateway,
        _ => None,
    };
    let extra_hosts = o
        .add_host
        .iter()
        .map(|h| dnsfiles::parse_add_host(h, gateway))
        .collect::<Result<Vec<_>>>()?;
    let (links, link_targets) = link_plan(containers, &mode_name, o)?;
    Ok(Plan {
        mode,
        mode_name,
        wanted,
        wanted_ip,
        wanted_ip6,
        mac,
        exposed,
        extra_hosts,
        links,
        link_targets,
    })
}

/// `--ip6` (and `network connect --ip6`) on `net`: an IPv6 address inside its IPv6 subnet,
/// refused as Docker refuses it otherwise (an IPv4-only network has no IPv6 subnet).
pub(crate) fn parse_ip6(net: &Network, s: &str) -> Result<Ipv6Addr> {
    let ip: Ipv6Addr = s.parse().map_err(|_| {
        NetError::BadArgs(format!(
            "invalid IPv6 address {s:?} in --ip6 (expected one like fd00:db8::5)"
        ))
    })?;
    if ip.is_unspecified() || ip.to_ipv4_mapped().is_some() {
        return Err(NetError::BadArgs(format!(
            "invalid endpoint settings: invalid IPv6 address: {ip}"
        )));
    }
    match net.v6() {
        Some((subnet, _)) if subnet.contains(&ip) => Ok(ip),
        _ => Err(NetError::BadArgs(format!(
            "invalid endpoint settings: no configured subnet contains IP address {ip}"
        ))),
    }
}

/// `--network`: none, host, bridge (the default), `container:NAME` or a network's name.
fn mode(paths: &Paths, containers: &Containers, id: &str, o: &NetOpts) -> Result<Mode> {
    let mode_arg = o.network.clone().unwrap_or_else(|| "bridge".into());
    Ok(match mode_arg.as_str() {
        "none" => Mode::None,
        "host" => Mode::Host,
        "default" | "bridge" => Mode::Bridge(Box::new(networks::get(paths, "bridge")?)),
        m if m.starts_with("container:") => {
            let target = &m["container:".len()..];
            let r = running(containers, target, &format!("join the network of {target}"))?;
            if r.id == id {
                return Err(NetError::BadArgs(
                    "a container cannot join its own network".into(),
                ));
            }
            Mode::Container(Box::new(r))
        }
        m => {
            let net = networks::get(paths, m)?;
            match net.driver.as_str() {
                "host" => Mode::Host,
                "null" => Mode::None,
                _ => Mode::Bridge(Box::new(net)),
            }
        }
    })
}

/// The flags a mode cannot take, refused as Docker refuses them.
fn refuse_conflicts(mode: &Mode, mode_name: &str, o: &NetOpts) -> Result<()> {
    let bridged = matches!(mode, Mode::Bridge(_));
    if let Mode::Container(_) = mode {
        for (set, what) in [
            (o.hostname.is_some(), "--hostname"),
            (!o.publish.is_empty() || o.publish_all, "port publishing"),
            (
                !o.dns.is_empty() || !o.dns_search.is_empty() || !o.dns_options.is_empty(),
                "--dns",
            ),
            (!o.add_host.is_empty(), "--add-host"),
            (o.mac_address.is_some(), "--mac-address"),
            (!o.expose.is_empty(), "--expose"),
        ] {
            if set {
                return Err(conflict(what, mode_name));
            }
        }
    }
    if !bridged && !o.links.is_empty() {
        return Err(conflict("--link", mode_name));
    }
    if !bridged && o.mac_address.is_some() {
        return Err(conflict("--mac-address", mode_name));
    }
    if !o.aliases.is_empty() && (!bridged || mode_name == "bridge") {
        return Err(NetError::BadArgs(
            "network-scoped alias is supported only for containers in user defined networks".into(),
        ));
    }
    if o.ip6.is_some() && (!bridged || mode_name == "bridge") {
        return Err(NetError::BadArgs(
            "user specified IP address is supported on user defined networks only".into(),
        ));
    }
    if o.ip.is_some() && (!bridged || mode_name == "bridge") {
        return Err(NetError::BadArgs(
            "--ip is only supported on user-defined networks (berth network create)".into(),
        ));
    }
    Ok(())
}

/// The exposed ports (the image's, `--expose`'s and the published ones) and the host ports
/// wanted for `--publish` and `--publish-all`.
fn port_plan(bundle: &BundleSection, o: &NetOpts) -> Result<(Vec<String>, Vec<ports::Wanted>)> {
    let specs = o
        .publish
        .iter()
        .map(|p| ports::parse_publish(p))
        .collect::<Result<Vec<_>>>()?;
    // In first-seen order, each once: a set beside the list keeps a 1,000-port range linear.
    let mut exposed: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut add_exposed = |p: String| {
        if seen.insert(p.clone()) {
            exposed.push(p);
        }
    };
    for p in &bundle.config.exposed_ports {
        let (port, proto) = ports::split_port(p)?;
        add_exposed(format!("{port}/{proto}"));
    }
    for e in &o.expose {
        ports::parse_expose(e)?
            .into_iter()
            .for_each(&mut add_exposed);
    }
    for s in &specs {
        for p in s.container_ports.0..=s.container_ports.1 {
            add_exposed(format!("{p}/{}", s.proto));
        }
    }
    let publish_all: Vec<String> = if o.publish_all {
        exposed.clone()
    } else {
        Vec::new()
    };
    let wanted = ports::expand(&specs, &publish_all)?;
    Ok((exposed, wanted))
}

/// Links: the target must exist, run (or be created, not yet started), and be on the same
/// network.
fn link_plan(
    containers: &Containers,
    mode_name: &str,
    o: &NetOpts,
) -> Result<(Vec<LinkInfo>, Vec<Record>)> {
    let mut link_infos = Vec::new();
    let mut link_targets = Vec::new();
    for l in &o.links {
        let (name, alias) = links::parse(l)?;
        let t = target(containers, &name, &format!("link to {name}"), true)?;
        let tn = t.network.clone().unwrap_or_default();
        if tn.network.as_deref() != Some(mode_name) || tn.ip_address.is_none() {
            return Err(NetError::BadArgs(format!(
                "cannot link to {name}: it is not on network {mode_name} (links work between containers of one bridge network)"
            )));
        }
        link_infos.push(LinkInfo {
            name: t.name.clone(),
            alias,
            id: t.id.clone(),
            ip_address: tn.ip_address.clone().unwrap_or_default(),
            ports: tn.exposed_ports.clone(),
        });
        link_targets.push(t);
    }
    Ok((link_infos, link_targets))
}
