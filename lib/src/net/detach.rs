//! Tearing down a container's network (`berth-netns rm ID`: [`detach`]; `container::teardown`
//! calls [`release`], the same work without rewriting a record it deletes next): idempotent,
//! and complete even after an interrupted set-up. Everything is found from the container id
//! and the record:
//!
//! - firewall rules: regenerated from the record and deleted in one batch; if that fails,
//!   every rule tagged `berth:<id>` (and `berth-peer:<id>`: links *to* it) is found with
//!   iptables-save and deleted;
//! - the veth pair: `veth<id[..11]>`;
//! - the namespace: `<run>/netns/<id>`;
//! - the addresses: the IPAM files (IPv4 and, on an `--ipv6` network, IPv6) holding the id,
//!   in the record's network; its IPv6 rules likewise in ip6tables (`firewall::v6`);
//! - host ports: the reservations holding the id;
//! - the bridge, its rules, and (if it was the last berth bridge) berth's chains and the
//!   sysctls: on a user-defined network, when its last address is freed; the default
//!   network's stay (as docker0 does) until `idle_bridge_down` (`system prune`, `network
//!   prune`, an edited `default.json`);
//! - no iptables exec at all for a record whose journal says it has no rules (`no_rules`:
//!   no published port, no link rule), unless the network has icc off (links *to* it).
//! - its entry in the DNS resolver's table (`dns::unregister`; the resolver exits with the
//!   last entry).

use super::error::{NetError, Result};
use super::firewall::{self, Batch};
use super::netlink::Netlink;
use super::networks;
use super::ports::Ports;
use super::{attach::veth_name, dns, host, ipam, netns};
use crate::paths::Paths;
use crate::protocol::{Attachment, NetworkSection};
use crate::state::{Containers, StateError};

/// Removes everything container `id`'s network set-up made, and the record's network section.
pub fn detach(paths: &Paths, id: &str) -> Result<()> {
    detach_as(paths, id, true)
}

/// [`detach`]'s work without forgetting the record's section. For `container::teardown`,
/// which deletes the record next: if it is killed in between, the record still names the
/// section, and `detach` (or `rm`) does it all again (every step is idempotent, found by the
/// id).
pub fn release(paths: &Paths, id: &str) -> Result<()> {
    detach_as(paths, id, false)
}

fn detach_as(paths: &Paths, id: &str, forget: bool) -> Result<()> {
    let containers = Containers::new(paths);
    let section = match containers.load(id) {
        Ok(r) => r.network,
        // No record, or an unreadable one: what the id names (journal, netns, veth).
        Err(StateError::NoSuchContainer(_) | StateError::CorruptRecord { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    take_down(paths, id, section.as_ref())?;
    // The network `disconnect` event is the container's end's (`container::attached`).
    if forget && section.is_some() {
        match containers.update(id, |r| {
            r.network = None;
            Ok::<_, StateError>(())
        }) {
            Ok(()) | Err(StateError::NoSuchContainer(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Removes what the set-up recorded in `section` made (`None`: only what is named by the id).
fn take_down(paths: &Paths, id: &str, section: Option<&NetworkSection>) -> Result<()> {
    let mut first: Option<NetError> = None;
    let mut keep = |r: Result<()>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    // First out of the resolver's table: it closes the sockets that hold the namespace.
    keep(dns::unregister(paths, id));
    if let Some(s) = section {
        for a in &s.connected {
            keep(endpoint_down(paths, id, a));
        }
        if s.mode != "host" && s.joined.is_none() && s.netns.is_some() {
            keep(netns::remove(&paths.netns(id)).map_err(Into::into));
        }
        if let Some(name) = &s.network {
            keep(bridge_down(paths, id, name, s, true));
        }
    } else {
        // No record of a set-up (or an unreadable one): remove only what is named by the id:
        // its addresses in any network's IPAM (with their veth, rules by tag and the bridge
        // if last, as `network disconnect -f` of a gone container), its netns, its veth.
        keep(stale_endpoints_down(paths, id));
        keep(netns::remove(&paths.netns(id)).map_err(Into::into));
        keep(
            Netlink::open()
                .map_err(NetError::netlink("open"))
                .and_then(|mut nl| {
                    nl.del_link_named_unfreed(&veth_name(id))
                        .map_err(NetError::netlink("delete veth"))
                }),
        );
    }
    keep(release_ports(id));
    first.map_or(Ok(()), Err)
}

/// Every endpoint whose address `id` holds in a network's IPAM, taken down.
fn stale_endpoints_down(paths: &Paths, id: &str) -> Result<()> {
    for net in networks::list(paths)? {
        let dir = networks::network_dir(paths, &net.name);
        for (ip, owner) in ipam::allocations(&dir)? {
            if owner == id {
                stale_endpoint_down(paths, id, &net, &ip.to_string())?;
            }
        }
    }
    Ok(())
}

fn release_ports(id: &str) -> Result<()> {
    let dir = host::host_dir();
    if !dir.join("ports.json").exists() {
        return Ok(());
    }
    let mut reg = Ports::open(&dir)?;
    if reg.release(id) {
        reg.save()?;
    }
    Ok(())
}

/// Takes down one network joined by `network connect`: its veth, its address, and the
/// network's bridge and rules if it was the last container there. The container's own rules
/// (ports, links) belong to its first network and stay.
pub(crate) fn endpoint_down(paths: &Paths, id: &str, a: &Attachment) -> Result<()> {
    let s = NetworkSection {
        bridge: Some(a.bridge.clone()),
        ip_address: Some(a.ip_address.clone()),
        host_veth: Some(a.host_veth.clone()),
        ..Default::default()
    };
    bridge_down(paths, id, &a.network, &s, false)
}

/// `network disconnect` from the network the container was created on: its eth0's veth,
/// addresses, published ports and their rules, and the network's bridge if it was the last.
pub(crate) fn primary_down(paths: &Paths, id: &str, s: &NetworkSection) -> Result<()> {
    let Some(name) = &s.network else {
        return Ok(());
    };
    bridge_down(paths, id, name, s, true)?;
    release_ports(id)
}

/// `network disconnect -f` of a container gone from the store: its endpoint on `net`, at
/// `ip`, found by its id (its veth, its rules by tag, its addresses; the bridge if last).
pub(crate) fn stale_endpoint_down(
    paths: &Paths,
    id: &str,
    net: &networks::Network,
    ip: &str,
) -> Result<()> {
    // A `network connect` endpoint's veth is `vx<id12><N>` on the bridge; the first one's is
    // `veth<id11>`.
    let mut nl = Netlink::open().map_err(NetError::netlink("open"))?;
    let links = nl.links().map_err(NetError::netlink("list links"))?;
    let bridge = links.iter().find(|l| l.name == net.bridge).map(|l| l.index);
    let connected = format!("vx{}", &id[..12.min(id.len())]);
    let host_veth = links
        .iter()
        .find(|l| l.name.starts_with(&connected) && bridge.is_some() && l.master == bridge)
        .map(|l| l.name.clone());
    let s = NetworkSection {
        bridge: Some(net.bridge.clone()),
        ip_address: Some(ip.to_string()),
        host_veth,
        ..Default::default()
    };
    dns::unregister(paths, id)?;
    bridge_down(paths, id, &net.name, &s, true)?;
    release_ports(id)
}

/// `by_tag`: whether rules tagged with the container's id are the endpoint's to delete (its
/// first network's), when regenerating them from the record does not delete them all.
fn bridge_down(
    paths: &Paths,
    id: &str,
    name: &str,
    s: &NetworkSection,
    by_tag: bool,
) -> Result<()> {
    let mut nl = Netlink::open().map_err(NetError::netlink("open"))?;
    let veth = s.host_veth.clone().unwrap_or_else(|| veth_name(id));
    nl.del_link_named_unfreed(&veth)
        .map_err(NetError::netlink(format!("delete {veth}")))?;
    let (rules, net) = teardown_rules(paths, id, name, s)?;
    // The IPv6 rules, on a dual-stack network: the container's (its `::` ports) are deleted
    // like the IPv4 ones, and the network's with its last container.
    let rules6 = if by_tag {
        firewall::v6::section_rules6(id, s)
    } else {
        Vec::new()
    };
    let has6 = s.ipv6_address.is_some() || net.as_ref().is_some_and(|n| n.v6().is_some());
    let Some(net) = net else {
        if !by_tag || s.no_rules {
            return Ok(());
        }
        if has6 {
            firewall::v6::release(&rules6, &[firewall::container_tag(id)], false)?;
        }
        return delete_rules(&rules, &[firewall::container_tag(id)]);
    };
    let dir = networks::network_dir(paths, name);
    let _l = networks::lock_network(paths, name)?;
    ipam::release(&dir, id)?;
    let last = ipam::allocations(&dir)?.is_empty() && !networks::persistent(&net);
    let mut tags = Vec::new();
    if by_tag {
        tags.push(firewall::container_tag(id));
        if !net.icc {
            tags.push(firewall::peer_tag(id));
        }
    }
    if last {
        let mut all6 = rules6;
        all6.extend(firewall::v6::network_rules6(&net));
        return shared_down(&mut nl, &net, rules, all6, tags);
    }
    if !by_tag {
        return Ok(());
    }
    if !s.no_rules {
        if has6 {
            firewall::v6::release(&rules6, &[firewall::container_tag(id)], false)?;
        }
        delete_rules(&rules, &tags)?;
    }
    if !net.icc {
        // Links made *to* this container by others: their rules name it as peer.
        let saved = firewall::parse_saved(&firewall::save()?);
        let mut b = Batch::default();
        firewall::delete_tagged(&saved, &[firewall::peer_tag(id)], &mut b);
        firewall::apply(&b)?;
    }
    Ok(())
}

/// Takes down network `net`'s bridge and rules (and, with the last berth bridge, berth's
/// chains and the sysctls), with `rules`/`rules6` (a last container's own) in the same
/// batch, under the machine-wide lock; the caller holds the network's lock and has seen no
/// address in use. If the exact batch fails, whatever carries `tags` or the network's tag
/// goes instead.
fn shared_down(
    nl: &mut Netlink,
    net: &networks::Network,
    rules: Vec<firewall::Rule>,
    rules6: Vec<firewall::Rule>,
    mut tags: Vec<String>,
) -> Result<()> {
    let bridge = nl
        .link(&net.bridge)
        .map_err(NetError::netlink("look up bridge"))?;
    let ours = bridge.as_ref().is_some_and(|b| b.alias == net.tag());
    let _h = host::lock()?;
    if net.v6().is_some() || !rules6.is_empty() {
        firewall::v6::release(&rules6, &tags_with(&tags, &net.tag()), true)?;
    }
    let mut all = rules;
    all.extend(firewall::network_rules(net));
    tags.push(net.tag());
    // One batch: the container's rules, the network's, and berth's chains if this was
    // the last berth bridge. If anything was missing, fall back to deleting by tag.
    let mut batch = Batch::default();
    batch.delete(&all);
    let released = host::release_with_batch(nl, &net.bridge, batch);
    if released.is_err() {
        delete_rules(&[], &tags)?;
    }
    if let Some(b) = bridge.filter(|_| ours) {
        nl.del_link(b.index)
            .map_err(NetError::netlink(format!("delete bridge {}", net.bridge)))?;
    }
    if !matches!(released, Ok(true)) {
        host::release_if_idle(nl)?;
    }
    Ok(())
}

/// Removes network `net`'s bridge and rules if no container holds an address on it and the
/// bridge is up (the default network's, which outlives its containers: `system prune`,
/// `network prune`, and a changed `default.json`). Returns whether it was up to remove.
pub(crate) fn idle_bridge_down(paths: &Paths, net: &networks::Network) -> Result<bool> {
    if net.bridge.is_empty() {
        return Ok(false);
    }
    let _l = networks::lock_network(paths, &net.name)?;
    if !ipam::allocations(&networks::network_dir(paths, &net.name))?.is_empty() {
        return Ok(false);
    }
    let mut nl = Netlink::open().map_err(NetError::netlink("open"))?;
    let up = nl
        .link(&net.bridge)
        .map_err(NetError::netlink("look up bridge"))?
        .is_some_and(|b| b.alias == net.tag());
    if !up {
        return Ok(false);
    }
    shared_down(&mut nl, net, Vec::new(), Vec::new(), Vec::new())?;
    Ok(true)
}

fn tags_with(tags: &[String], more: &str) -> Vec<String> {
    let mut v = tags.to_vec();
    v.push(more.to_string());
    v
}

/// The rules teardown deletes for container `id` on network `name`, regenerated from its
/// saved network section `s` by the function set-up used ([`firewall::section_rules`]), and
/// the network's definition (None when it is gone).
pub(super) fn teardown_rules(
    paths: &Paths,
    id: &str,
    name: &str,
    s: &NetworkSection,
) -> Result<(Vec<firewall::Rule>, Option<networks::Network>)> {
    let net = match networks::get(paths, name) {
        Ok(n) => Some(n),
        Err(NetError::NoSuchNetwork(_)) => None,
        Err(e) => return Err(e),
    };
    Ok((firewall::section_rules(id, s, net.as_ref()), net))
}

/// Deletes `rules` in one batch; if that fails (some are already gone, or the record was
/// incomplete), deletes whatever rules carry `tags` instead.
fn delete_rules(rules: &[firewall::Rule], tags: &[String]) -> Result<()> {
    if !rules.is_empty() {
        let mut b = Batch::default();
        b.delete(rules);
        if firewall::apply(&b).is_ok() {
            return Ok(());
        }
    }
    let saved = firewall::parse_saved(&firewall::save()?);
    let mut b = Batch::default();
    firewall::delete_tagged(&saved, tags, &mut b);
    firewall::apply(&b)
}
