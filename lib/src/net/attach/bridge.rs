//! Steps 3 and 4 of the set-up in bridge mode: host ports, then the namespace, the address,
//! the bridge and its rules, and the veth pair, filling the record's network section as they
//! go (the caller saves it, and runs `detach` if anything fails).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};

use super::veth_name;
use crate::net::error::{NetError, Result};
use crate::net::firewall::{self, Batch, Rule};
use crate::net::netlink::Netlink;
use crate::net::networks::{self, Network};
use crate::net::ports::{self, Ports};
use crate::net::{host, ipam, netns};
use crate::paths::Paths;
use crate::protocol::NetworkSection;
use crate::state::{Containers, ids};

/// Docker's classic MAC for an address: 02:42 followed by the IPv4 bytes, so a reused
/// address comes back with the same MAC and neighbours' ARP caches stay right.
pub(super) fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub(super) fn format_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Turns on `route_localnet` on a new bridge: `curl 127.0.0.1:PORT` on the host is DNAT'd in
/// nat OUTPUT with its loopback source kept, and may only leave through the bridge (to be
/// masqueraded to the bridge's address) and get its replies back with this. What else it
/// would let in, a frame for 127.0.0.0/8 from a container, is dropped by the network's raw
/// rule ([`firewall::network_rules`]).
fn localnet_on(bridge: &str) -> Result<()> {
    let p = format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet");
    std::fs::write(&p, "1").map_err(|e| {
        NetError::Io(crate::error::IoError {
            op: "write",
            path: p.into(),
            source: e,
        })
    })
}

/// What the user fixed for the endpoint: `--ip`, `--ip6`, `--mac-address`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fixed {
    pub ip: Option<Ipv4Addr>,
    pub ip6: Option<Ipv6Addr>,
    pub mac: Option<[u8; 6]>,
}

/// An endpoint's addresses: IPv4, and IPv6 on a dual-stack network, with the gateways the
/// container routes through.
#[derive(Debug, Clone, Copy)]
struct Addrs {
    ip: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
    v6: Option<(Ipv6Addr, u8, Option<Ipv6Addr>)>,
}

/// The IPv6 address of a dual-stack network's endpoint (none on an IPv4-only network),
/// from its IPAM under the network's lock, which the caller holds.
fn allocate6(
    paths: &Paths,
    id: &str,
    net: &Network,
    wanted: Option<Ipv6Addr>,
) -> Result<Option<(Ipv6Addr, u8, Ipv6Addr)>> {
    let Some((subnet, gateway)) = net.v6() else {
        return Ok(None);
    };
    let dir = networks::network_dir(paths, &net.name);
    let ip = ipam::allocate6(&dir, &net.name, subnet, gateway, id, wanted)?;
    Ok(Some((ip, subnet.prefix_len(), gateway)))
}

/// The `::` twin of every port published on every address, for a container with an IPv6
/// address (Docker 28 publishes `-p 8080:80` on `0.0.0.0` and `[::]`); the host port is the
/// IPv4 binding's reservation.
fn v6_bindings(ports: &mut Vec<crate::protocol::PortBinding>) {
    let twins: Vec<_> = ports
        .iter()
        .filter(|p| p.host_ip == "0.0.0.0" || p.host_ip.is_empty())
        .map(|p| crate::protocol::PortBinding {
            host_ip: "::".into(),
            ..p.clone()
        })
        .collect();
    ports.extend(twins);
}

/// Makes sure IPv6 works on a dual-stack network's new bridge (a host whose
/// `net.ipv6.conf.default.disable_ipv6` is 1 would give it none), and turns on the host's
/// IPv6 forwarding for published ports and outbound traffic, as Docker 28 does with ip6tables
/// on (`host::prepare6`; put back with the last bridge).
fn v6_on(bridge: &str, icc: bool) -> Result<()> {
    let p = format!("/proc/sys/net/ipv6/conf/{bridge}/disable_ipv6");
    std::fs::write(&p, "0").map_err(|e| {
        NetError::HostUnsupported(format!(
            "cannot enable IPv6 on {bridge} ({p}: {e}); is IPv6 disabled on this host (ipv6.disable=1)?"
        ))
    })?;
    host::prepare6(!icc)
}

/// The bridge-mode kernel work (steps 3-4), filling `section` as it goes.
pub(super) fn bring_up(
    paths: &Paths,
    id: &str,
    net: &Network,
    early: &mut super::Early,
    wanted: &[ports::Wanted],
    fixed: Fixed,
    section: &mut NetworkSection,
) -> crate::Result<()> {
    let (Some(subnet), Some(gateway), Some(range)) = (net.subnet, net.gateway, net.range()) else {
        return Err(NetError::BadArgs(format!("network {} has no subnet", net.name)).into());
    };
    // 3. Host ports, machine-wide.
    let reserving = crate::timings::phase("ports");
    section.ports = reserve_ports(paths, id, wanted)?;
    drop(reserving);
    if net.v6().is_some() {
        v6_bindings(&mut section.ports);
    }

    // 4. Namespace, address, bridge, rules, veth.
    let fresh = early.namespace()?;
    fresh.bind(&paths.netns(id))?;
    let addressing = crate::timings::phase("address");
    let mut nl = Netlink::open().map_err(NetError::netlink("open"))?;
    host::upgrade_if_stale(&mut nl)?;
    let net_lock = networks::lock_network(paths, &net.name)?;
    if !networks::exists(paths, &net.name) {
        return Err(NetError::NoSuchNetwork(net.name.clone()).into());
    }
    let ip = ipam::allocate(
        &networks::network_dir(paths, &net.name),
        &net.name,
        range,
        subnet,
        gateway,
        id,
        fixed.ip,
    )?;
    let v6 = allocate6(paths, id, net, fixed.ip6)?;
    if let Some((ip6, prefix6, gw6)) = v6 {
        section.ipv6_address = Some(ip6.to_string());
        section.ipv6_prefix_len = Some(prefix6);
        section.ipv6_gateway = Some(gw6.to_string());
    }
    let mac = fixed.mac.unwrap_or_else(|| mac_for(ip));
    let rules = addressed(section, id, net, ip, mac);
    let rules6 = firewall::v6::section_rules6(id, section);
    drop(addressing);
    let bridge = {
        let _p = crate::timings::phase("rules");
        bridge_with_rules(&mut nl, net, &rules, &rules6, net_lock)?
    };
    let _p = crate::timings::phase("veth");
    veth(
        &mut nl,
        id,
        &veth_name(id),
        "eth0",
        net,
        bridge,
        &fresh.ns,
        mac,
    )?;
    let addrs = Addrs {
        ip,
        prefix: subnet.prefix_len(),
        gateway: Some(gateway),
        v6: v6.map(|(a, p, g)| (a, p, Some(g))),
    };
    let netns::Fresh { ns, mut inner } = fresh;
    configure_inside(&ns, &mut inner, "eth0", net, addrs)?;
    Ok(())
}

/// `network connect`: one more interface, `ifname`, in the namespace at `netns_path`, on
/// `net` (its bridge brought up if this is its first container), with an address from its
/// IPAM (`wanted` with `--ip`) and no default route (the first network keeps it, as in
/// Docker). Fills `att`'s address, MAC, prefix and gateway; on failure nothing it made is
/// left but what `crate::net::detach` finds from the id.
pub(crate) fn join(
    paths: &Paths,
    id: &str,
    net: &Network,
    netns_path: &std::path::Path,
    fixed: Fixed,
    att: &mut crate::protocol::Attachment,
) -> crate::Result<()> {
    let (Some(subnet), Some(gateway), Some(range)) = (net.subnet, net.gateway, net.range()) else {
        return Err(NetError::BadArgs(format!("network {} has no subnet", net.name)).into());
    };
    let ns = netns::open(netns_path)?;
    let mut nl = Netlink::open().map_err(NetError::netlink("open"))?;
    host::upgrade_if_stale(&mut nl)?;
    let net_lock = networks::lock_network(paths, &net.name)?;
    if !networks::exists(paths, &net.name) {
        return Err(NetError::NoSuchNetwork(net.name.clone()).into());
    }
    let dir = networks::network_dir(paths, &net.name);
    let ip = ipam::allocate(&dir, &net.name, range, subnet, gateway, id, fixed.ip)?;
    let v6 = match allocate6(paths, id, net, fixed.ip6) {
        Ok(v) => v,
        Err(e) => {
            let _ = ipam::release(&dir, id);
            return Err(e.into());
        }
    };
    let mac = mac_for(ip);
    att.ip_address = ip.to_string();
    att.mac_address = format_mac(mac);
    att.prefix_len = subnet.prefix_len();
    att.gateway = Some(gateway.to_string());
    if let Some((ip6, prefix6, gw6)) = v6 {
        att.ipv6_address = Some(ip6.to_string());
        att.ipv6_prefix_len = Some(prefix6);
        att.ipv6_gateway = Some(gw6.to_string());
    }
    let made = (|| -> crate::Result<()> {
        let bridge = bridge_with_rules(&mut nl, net, &[], &[], net_lock)?;
        veth(
            &mut nl,
            id,
            &att.host_veth,
            &att.ifname,
            net,
            bridge,
            &ns,
            mac,
        )?;
        let addrs = Addrs {
            ip,
            prefix: subnet.prefix_len(),
            gateway: None,
            v6: v6.map(|(a, p, _)| (a, p, None)),
        };
        let mut inner =
            Netlink::open_in(ns.as_fd()).map_err(NetError::netlink("open in namespace"))?;
        inner.set_up(1).map_err(NetError::netlink("set lo up"))?;
        configure_inside(&ns, &mut inner, &att.ifname, net, addrs)?;
        Ok(())
    })();
    if made.is_err() {
        let _ = nl.del_link_named(&att.host_veth);
        let _l = networks::lock_network(paths, &net.name);
        let _ = ipam::release(&dir, id);
    }
    made
}

/// After `network disconnect` took the first network's endpoint (and its default routes),
/// the container routes through the first network it is still connected to that has a
/// gateway and is not internal, as Docker's sandbox picks a new gateway endpoint.
pub(crate) fn move_default_route(paths: &Paths, s: &NetworkSection) -> crate::Result<()> {
    let Some(ns_path) = &s.netns else {
        return Ok(());
    };
    let Some((a, _)) = s.connected.iter().find_map(|a| {
        networks::get(paths, &a.network)
            .ok()
            .filter(|n| !n.internal && a.gateway.is_some())
            .map(|n| (a, n))
    }) else {
        return Ok(());
    };
    let ns = netns::open(ns_path)?;
    let mut inner = Netlink::open_in(ns.as_fd()).map_err(NetError::netlink("open in namespace"))?;
    let link = inner
        .link(&a.ifname)
        .map_err(NetError::netlink(format!("find {}", a.ifname)))?;
    if let Some(gw) = a
        .gateway
        .as_deref()
        .and_then(|g| g.parse::<Ipv4Addr>().ok())
    {
        inner
            .add_default_route(gw)
            .map_err(NetError::netlink(format!("add default route via {gw}")))?;
    }
    let gw6 = a
        .ipv6_gateway
        .as_deref()
        .and_then(|g| g.parse::<Ipv6Addr>().ok());
    if let (Some(gw6), Some(link)) = (gw6, link) {
        inner
            .add_default_route6(gw6, link.index)
            .map_err(NetError::netlink(format!("add default route via {gw6}")))?;
    }
    Ok(())
}

/// Records the container's address and MAC in `section` and returns the firewall rules its
/// set-up adds. The section then names the address, bridge, ports and links, and teardown
/// regenerates the same rules from the saved record with the same function
/// ([`firewall::section_rules`]).
pub(super) fn addressed(
    section: &mut NetworkSection,
    id: &str,
    net: &Network,
    ip: Ipv4Addr,
    mac: [u8; 6],
) -> Vec<Rule> {
    section.ip_address = Some(ip.to_string());
    section.mac_address = Some(format_mac(mac));
    firewall::section_rules(id, section, Some(net))
}

/// Reserves the host ports machine-wide (a conflict is refused here, before any kernel
/// change), naming the holder of a taken port in the error. A container that publishes
/// nothing does not touch the registry (nor wait for its machine-wide lock).
fn reserve_ports(
    paths: &Paths,
    id: &str,
    wanted: &[ports::Wanted],
) -> Result<Vec<crate::protocol::PortBinding>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let mut reg = Ports::open(&host::host_dir())?;
    let name_of = |r: &ports::Reservation| -> String {
        let p = Paths::new(&r.root, "/");
        Containers::new(&p)
            .load(&r.id)
            .ok()
            .filter(|rec| !rec.name.is_empty())
            .map_or_else(|| ids::short(&r.id).to_string(), |rec| rec.name)
    };
    let b = reg.reserve(wanted, id, &paths.root, &name_of)?;
    reg.save()?;
    Ok(b)
}

/// Adds the container's `rules` on the network's bridge, bringing the bridge and the
/// network's rules up first if this is its first container. Returns the bridge's index.
fn bridge_with_rules(
    nl: &mut Netlink,
    net: &Network,
    rules: &[Rule],
    rules6: &[Rule],
    net_lock: crate::store::Lock,
) -> crate::Result<u32> {
    let mut batch = Batch::default();
    match nl
        .link(&net.bridge)
        .map_err(NetError::netlink("look up bridge"))?
    {
        Some(b) if b.alias == net.tag() && b.up => {
            drop(net_lock);
            batch.add(rules);
            firewall::apply(&batch)?;
            let mut b6 = Batch::default();
            b6.add(rules6);
            firewall::apply6(&b6)?;
            Ok(b.index)
        }
        Some(b) if b.alias == net.tag() => {
            // Down: a first set-up was killed before its rules were all in (the bridge is
            // set up last). Start over: its rules by tag, the bridge, then a new one.
            half_made_down(nl, net, b.index)?;
            let index = new_bridge(nl, net, rules, rules6, batch)?;
            drop(net_lock);
            Ok(index)
        }
        Some(b) => Err(NetError::Conflict(format!(
            "cannot bring up network {}: interface {} already exists and is not this network's bridge (alias {:?}); choose another bridge name",
            net.name, net.bridge, b.alias
        ))
        .into()),
        None => {
            let index = new_bridge(nl, net, rules, rules6, batch)?;
            drop(net_lock);
            Ok(index)
        }
    }
}

/// The network's first container: the bridge and its rules come up with it, under the
/// machine-wide lock (another root may be adding or removing berth's chains).
fn new_bridge(
    nl: &mut Netlink,
    net: &Network,
    rules: &[Rule],
    rules6: &[Rule],
    mut batch: Batch,
) -> crate::Result<u32> {
    let (Some(subnet), Some(gateway)) = (net.subnet, net.gateway) else {
        return Err(NetError::BadArgs(format!("network {} has no subnet", net.name)).into());
    };
    let _host = host::lock()?;
    host::prepare(nl, &net.bridge, !net.icc, &mut batch)?;
    let index = nl
        .add_bridge(&net.bridge, net.mtu, &net.tag())
        .map_err(NetError::netlink(format!("create bridge {}", net.bridge)))?;
    let up = (|| -> crate::Result<()> {
        nl.add_address(index, gateway, subnet.prefix_len())
            .map_err(NetError::netlink(format!(
                "add {gateway} to {}",
                net.bridge
            )))?;
        // No port joins the bridge before the batch below, with its loopback drop, is
        // in (the veth comes after it).
        localnet_on(&net.bridge)?;
        if let Some((subnet6, gateway6)) = net.v6() {
            v6_on(&net.bridge, net.icc)?;
            nl.add_address6(index, gateway6, subnet6.prefix_len())
                .map_err(NetError::netlink(format!(
                    "add {gateway6} to {}",
                    net.bridge
                )))?;
        }
        batch.add(&firewall::network_rules(net));
        batch.add(rules);
        firewall::apply(&batch)?;
        if net.v6().is_some() {
            let mut all6 = firewall::v6::network_rules6(net);
            all6.extend_from_slice(rules6);
            firewall::v6::ensure_globals(&all6)?;
        }
        // Up last: an up bridge with berth's alias is one whose rules are all in, which is
        // what later set-ups take for granted (the default bridge is kept).
        nl.set_up(index)
            .map_err(NetError::netlink(format!("set {} up", net.bridge)))?;
        Ok(())
    })();
    if let Err(e) = up {
        let _ = nl.del_link(index);
        return Err(e);
    }
    Ok(index)
}

/// Removes what a killed first set-up left of network `net`: its rules, found by tag (they
/// may be partly in), and its bridge at `index`, still down.
fn half_made_down(nl: &mut Netlink, net: &Network, index: u32) -> crate::Result<()> {
    let _host = host::lock()?;
    let tag = [net.tag()];
    let mut b = Batch::default();
    firewall::delete_tagged(&firewall::parse_saved(&firewall::save()?), &tag, &mut b);
    firewall::apply(&b)?;
    if net.v6().is_some() {
        firewall::v6::release(&[], &tag, false)?;
    }
    nl.del_link(index)
        .map_err(NetError::netlink(format!("delete bridge {}", net.bridge)))?;
    Ok(())
}

/// The veth pair: the host end `host_veth` on the bridge, `ifname` in the container's
/// namespace.
#[allow(clippy::too_many_arguments)]
fn veth(
    nl: &mut Netlink,
    id: &str,
    host_veth: &str,
    ifname: &str,
    net: &Network,
    bridge: u32,
    ns: &OwnedFd,
    mac: [u8; 6],
) -> Result<()> {
    nl.add_veth(
        host_veth,
        &firewall::container_tag(id),
        bridge,
        net.mtu,
        ifname,
        ns.as_fd(),
        mac,
    )
    .map_err(NetError::netlink(format!("create veth pair {host_veth}")))
}

/// Inside the namespace `ns`, through `inner` (a socket in it; its loopback is up already):
/// `ifname` up, the addresses, and with a gateway the default route of each family (none on
/// an internal network).
fn configure_inside(
    ns: &OwnedFd,
    inner: &mut Netlink,
    ifname: &str,
    net: &Network,
    a: Addrs,
) -> Result<()> {
    let eth0 = inner
        .link(ifname)
        .map_err(NetError::netlink(format!("find {ifname}")))?
        .ok_or_else(|| NetError::Netlink {
            op: format!("find {ifname}"),
            source: std::io::Error::from_raw_os_error(libc::ENODEV),
        })?;
    let ip = a.ip;
    inner
        .add_address(eth0.index, ip, a.prefix)
        .map_err(NetError::netlink(format!("add {ip} to {ifname}")))?;
    if let Some((ip6, prefix6, _)) = a.v6 {
        // A host whose new namespaces inherit `disable_ipv6=1` would refuse the address;
        // Docker turns IPv6 on for the interface the same way.
        let key = format!("net.ipv6.conf.{ifname}.disable_ipv6");
        netns::write_sysctl_in(ns, &key, "0")?;
        inner
            .add_address6(eth0.index, ip6, prefix6)
            .map_err(NetError::netlink(format!("add {ip6} to {ifname}")))?;
    }
    inner
        .set_up(eth0.index)
        .map_err(NetError::netlink(format!("set {ifname} up")))?;
    if net.internal {
        return Ok(());
    }
    if let Some(gateway) = a.gateway {
        inner
            .add_default_route(gateway)
            .map_err(NetError::netlink(format!(
                "add default route via {gateway}"
            )))?;
    }
    if let Some((_, _, Some(gw6))) = a.v6 {
        inner
            .add_default_route6(gw6, eth0.index)
            .map_err(NetError::netlink(format!("add default route via {gw6}")))?;
    }
    Ok(())
}
