//! `berth network connect [--alias A] [--ip IP] NET CONTAINER` and `berth network disconnect
//! [-f] NET CONTAINER`, as Docker's: one more interface (eth1, eth2, ...) on another bridge
//! network, live in the container's namespace, running or not (berth keeps the namespace
//! from create to rm), and the resolver's table updated at once, so names on the new
//! network resolve in the container and its names there resolve for the network's others.
//!
//! The interface's host end is `vx<id[..12]><N>` for ethN; its address comes from the
//! network's IPAM under the container's id, as the first network's does, so teardown
//! (`detach`, `disconnect`) finds it from the id. The first network keeps the default route.
//! Disconnecting a container from the network it was created on takes down its eth0, its
//! addresses and published ports, as Docker's does; the record keeps the mode (Docker's
//! `HostConfig.NetworkMode`) and forgets the endpoint. `disconnect -f` also removes what a
//! container no longer in the store left on the network (Docker's `ForceEndpointDelete`).

use std::net::Ipv4Addr;

use super::attach::{bridge, dns_entry};
use super::detach::endpoint_down;
use super::error::NetError;
use super::{dns, networks};
use crate::paths::Paths;
use crate::protocol::{Attachment, FixedAddrs, Record};
use crate::state::Containers;

/// The most networks a container joins with `network connect` (eth1..eth9: the host end's
/// name must fit IFNAMSIZ).
const MAX_CONNECTED: usize = 9;

/// `network connect`.
pub fn connect(
    paths: &Paths,
    network: &str,
    container: &str,
    aliases: &[String],
    ip: Option<&str>,
    ip6: Option<&str>,
) -> crate::Result<()> {
    let containers = Containers::new(paths);
    let id = containers.resolve(container)?;
    let rec = containers.load(&id)?;
    let net = networks::get(paths, network)?;
    let s = rec.network.clone().unwrap_or_default();
    let netns = check_connect(&rec, &net, aliases, ip.or(ip6))?;
    let wanted6 = ip6
        .map(|s| super::attach::check::parse_ip6(&net, s))
        .transpose()?;
    let wanted = ip
        .map(|s| {
            s.parse::<Ipv4Addr>()
                .map_err(|_| NetError::BadArgs(format!("invalid IP address {s:?} in --ip")))
        })
        .transpose()?;
    let n = (1..=MAX_CONNECTED)
        .find(|n| !s.connected.iter().any(|a| a.ifname == format!("eth{n}")))
        .ok_or_else(|| {
            NetError::Conflict(format!(
                "container {} is connected to {MAX_CONNECTED} networks besides its first: disconnect one first",
                rec.name
            ))
        })?;
    let mut att = Attachment {
        network: net.name.clone(),
        network_id: net.id.clone(),
        bridge: net.bridge.clone(),
        ifname: format!("eth{n}"),
        host_veth: format!("vx{}{n}", &id[..12.min(id.len())]),
        aliases: aliases.to_vec(),
        fixed: FixedAddrs::of(wanted, wanted6),
        ..Default::default()
    };
    let fixed = bridge::Fixed {
        ip: wanted,
        ip6: wanted6,
        mac: None,
    };
    bridge::join(paths, &id, &net, &netns, fixed, &mut att)?;
    let saved = containers.update(&id, |r| {
        if let Some(s) = r.network.as_mut() {
            s.connected.push(att.clone());
        }
        Ok::<_, crate::state::StateError>(())
    });
    if let Err(e) = saved
        .map_err(NetError::from)
        .and_then(|()| refresh_dns(paths, &id))
    {
        let _ = endpoint_down(paths, &id, &att);
        let _ = containers.update(&id, |r| {
            if let Some(s) = r.network.as_mut() {
                s.connected.retain(|a| a.network != att.network);
            }
            Ok::<_, crate::state::StateError>(())
        });
        return Err(e.into());
    }
    // Docker logs `connect` for a running container now, for a stopped one when it starts.
    if running(&rec) {
        networks::emit_endpoint(paths, &net.name, &id, "connect");
    }
    Ok(())
}

/// Whether the container runs (or is paused): its endpoints are live.
fn running(rec: &Record) -> bool {
    rec.state.as_ref().is_some_and(|s| s.status.is_active())
}

/// Docker's refusals for `connect`; returns the namespace to add the interface to.
fn check_connect(
    rec: &Record,
    net: &networks::Network,
    aliases: &[String],
    ip: Option<&str>,
) -> Result<std::path::PathBuf, NetError> {
    let s = rec.network.clone().unwrap_or_default();
    if s.mode == "host" || net.driver == "host" {
        return Err(NetError::BadArgs(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
        ));
    }
    if s.joined.is_some() {
        return Err(NetError::BadArgs(
            "container sharing network namespace with another container or host cannot be connected to any other network".into(),
        ));
    }
    if s.mode == "none" || net.driver == "null" {
        return Err(NetError::BadArgs(
            "container cannot be connected to multiple networks with one of the networks in private (none) mode".into(),
        ));
    }
    let name = rec.name.trim_start_matches('/');
    if s.network.as_deref() == Some(net.name.as_str())
        || s.connected.iter().any(|a| a.network == net.name)
    {
        return Err(NetError::Conflict(format!(
            "endpoint with name {name} already exists in network {}",
            net.name
        )));
    }
    if !dns::serves(&net.name) {
        if ip.is_some() {
            return Err(NetError::BadArgs(
                "user specified IP address is supported on user defined networks only".into(),
            ));
        }
        if !aliases.is_empty() {
            return Err(NetError::BadArgs(
                "network-scoped alias is supported only for containers in user defined networks"
                    .into(),
            ));
        }
    }
    s.netns.clone().ok_or_else(|| {
        NetError::WrongState(format!(
            "container {name} has no network namespace (it was made without berth-netns)"
        ))
    })
}

/// `network disconnect [-f]`.
pub fn disconnect(paths: &Paths, network: &str, container: &str, force: bool) -> crate::Result<()> {
    let containers = Containers::new(paths);
    let net = networks::get(paths, network)?;
    let id = match containers.resolve(container) {
        Ok(id) => id,
        Err(crate::state::StateError::NoSuchContainer(_)) if force => {
            return Ok(force_stale(paths, &net, container)?);
        }
        Err(e) => return Err(e.into()),
    };
    let rec = containers.load(&id)?;
    let s = rec.network.clone().unwrap_or_default();
    if s.mode == "host" || net.driver == "host" {
        return Err(NetError::BadArgs(
            "container cannot be disconnected from host network or connected to host network"
                .into(),
        )
        .into());
    }
    if s.network.as_deref() == Some(net.name.as_str()) {
        crate::net::detach::primary_down(paths, &id, &s)?;
        bridge::move_default_route(paths, &s)?;
        containers.update(&id, |r| {
            if let Some(s) = r.network.as_mut() {
                forget_primary(s);
            }
            Ok::<_, crate::state::StateError>(())
        })?;
        return Ok(refresh_dns(paths, &id)?);
    }
    let Some(att) = s.connected.iter().find(|a| a.network == net.name).cloned() else {
        return Err(NetError::WrongState(format!(
            "container {id} is not connected to network {}",
            net.name
        ))
        .into());
    };
    endpoint_down(paths, &id, &att)?;
    containers.update(&id, |r| {
        if let Some(s) = r.network.as_mut() {
            s.connected.retain(|a| a.network != att.network);
        }
        Ok::<_, crate::state::StateError>(())
    })?;
    if running(&rec) {
        networks::emit_endpoint(paths, &net.name, &id, "disconnect");
    }
    Ok(refresh_dns(paths, &id)?)
}

/// The record after its first network's endpoint is gone: no address, bridge, veth, ports
/// or aliases; the mode stays.
fn forget_primary(s: &mut crate::protocol::NetworkSection) {
    s.network = None;
    s.network_id = None;
    s.bridge = None;
    s.host_veth = None;
    s.ip_address = None;
    s.prefix_len = None;
    s.gateway = None;
    s.mac_address = None;
    s.ipv6_address = None;
    s.ipv6_prefix_len = None;
    s.ipv6_gateway = None;
    s.ports.clear();
    s.aliases.clear();
}

/// `disconnect -f` of a container that is not in the store: the endpoints its id (or id
/// prefix) still holds on `net` (an address, a veth, rules; the bridge with the last one)
/// are removed. None found is Docker's "no such container".
fn force_stale(paths: &Paths, net: &networks::Network, arg: &str) -> Result<(), NetError> {
    let dir = networks::network_dir(paths, &net.name);
    let containers = Containers::new(paths);
    let stale: Vec<(String, String)> = crate::net::ipam::allocations(&dir)?
        .into_iter()
        .filter(|(_, owner)| owner.starts_with(arg) && containers.load(owner).is_err())
        .map(|(ip, owner)| (ip.to_string(), owner))
        .collect();
    if stale.is_empty() {
        return Err(crate::state::StateError::NoSuchContainer(arg.to_string()).into());
    }
    for (ip, owner) in stale {
        crate::net::detach::stale_endpoint_down(paths, &owner, net, &ip)?;
    }
    Ok(())
}

/// The container's entry in the resolver's table, from its record as it is now: added,
/// replaced, or removed when no user-defined network is left.
fn refresh_dns(paths: &Paths, id: &str) -> Result<(), NetError> {
    let rec = Containers::new(paths).load(id)?;
    match dns_entry(paths, &rec)? {
        Some(entry) => dns::register(paths, id, entry),
        None => dns::unregister(paths, id),
    }
}
