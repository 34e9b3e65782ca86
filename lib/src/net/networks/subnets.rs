//! Subnets: Docker's default address pools, a free one for a network given none, and the
//! checks on a subnet, gateway and range given by the user.

use std::fs;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{nets_dir, read_def};
use crate::net::error::{NetError, Result};
use crate::paths::Paths;

/// Docker's default address pools, for networks created without `--subnet`.
fn address_pools() -> impl Iterator<Item = Ipv4Net> {
    let a = (17..=31).map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16).unwrap());
    let b = (0..16).map(|c| Ipv4Net::new(Ipv4Addr::new(192, 168, c * 16, 0), 20).unwrap());
    a.chain(b)
}

pub(super) fn first_host(subnet: Ipv4Net) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()) + 1)
}

pub(super) fn check_subnet(subnet: Ipv4Net, gateway: Ipv4Addr) -> Result<()> {
    if subnet.prefix_len() > 30 {
        return Err(NetError::BadArgs(format!(
            "subnet {subnet} is too small (at most /30)"
        )));
    }
    if !subnet.contains(&gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
        return Err(NetError::BadArgs(format!(
            "gateway {gateway} is not a usable address of subnet {subnet}"
        )));
    }
    Ok(())
}

pub(super) fn parse_range(r: &str, subnet: Ipv4Net) -> Result<Ipv4Net> {
    let n: Ipv4Net = r.parse().map_err(|_| {
        NetError::BadArgs(format!(
            "invalid IP range {r:?} (expected CIDR, like 172.17.1.0/24)"
        ))
    })?;
    let n = n.trunc();
    if !subnet.contains(&n) {
        return Err(NetError::BadArgs(format!(
            "IP range {n} is not inside subnet {subnet}"
        )));
    }
    Ok(n)
}

/// A free subnet: `preferred` if it overlaps nothing, else the first free pool.
pub(super) fn pick_subnet(
    paths: &Paths,
    preferred: Option<Ipv4Net>,
    skip_name: &str,
) -> Result<Ipv4Net> {
    let taken = taken_subnets(paths, skip_name)?;
    preferred
        .into_iter()
        .chain(address_pools())
        .find(|c| !taken.iter().any(|t| overlaps(*c, *t)))
        .ok_or_else(|| {
            NetError::Conflict(
                "no free address pool left for a new network (give one with --subnet)".into(),
            )
        })
}

/// The default network's bridge name when the config names none: `berth0`, else the first
/// `berthN` free on the host or already this network's (its alias is `tag`). Another berth
/// root on the same host (a second `BERTH_ROOT`) holds `berth0` with its own default network:
/// each root gets a bridge of its own, as it gets a subnet of its own.
pub(super) fn free_bridge_name(tag: &str) -> Result<String> {
    let mut nl = crate::net::netlink::Netlink::open().map_err(NetError::netlink("open"))?;
    let links = nl.links().map_err(NetError::netlink("list links"))?;
    first_free_bridge(&links, tag).ok_or_else(|| {
        NetError::Conflict(
            "berth0 to berth99 are all taken on this host: name the default bridge in the root's networks/default.json (\"bridge\")".into(),
        )
    })
}

/// [`free_bridge_name`] among `links`.
fn first_free_bridge(links: &[crate::net::netlink::Link], tag: &str) -> Option<String> {
    std::iter::once(super::DEFAULT_BRIDGE.to_string())
        .chain((1..100).map(|i| format!("berth{i}")))
        .find(|name| {
            links
                .iter()
                .find(|l| l.name == *name)
                .is_none_or(|l| l.alias == tag)
        })
}

/// Subnets the host routes, and those of this root's other networks.
pub(super) fn taken_subnets(paths: &Paths, skip_name: &str) -> Result<Vec<Ipv4Net>> {
    let mut nl = crate::net::netlink::Netlink::open().map_err(NetError::netlink("open"))?;
    let mut taken: Vec<Ipv4Net> = nl
        .routes_v4()
        .map_err(NetError::netlink("list routes"))?
        .into_iter()
        .filter_map(|(a, p)| Ipv4Net::new(a, p).ok())
        .collect();
    let dir = nets_dir(paths);
    if let Ok(entries) = fs::read_dir(&dir) {
        for e in entries.flatten() {
            let Some(name) = e.file_name().into_string().ok() else {
                continue;
            };
            if name == skip_name {
                continue;
            }
            if let Some(n) = read_def(paths, &name)?
                && let Some(s) = n.subnet
            {
                taken.push(s);
            }
        }
    }
    Ok(taken)
}

pub fn overlaps(a: Ipv4Net, b: Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::Link;

    fn bridge(name: &str, alias: &str) -> Link {
        Link {
            index: 1,
            name: name.into(),
            kind: "bridge".into(),
            alias: alias.into(),
            master: None,
            up: true,
        }
    }

    #[test]
    fn the_default_bridge_is_berth0_unless_another_network_holds_it() {
        let ours = "berth-net:aaaaaaaaaaaa";
        assert_eq!(first_free_bridge(&[], ours).unwrap(), "berth0");
        let mine = [bridge("berth0", ours)];
        assert_eq!(first_free_bridge(&mine, ours).unwrap(), "berth0");
        let other = [
            bridge("berth0", "berth-net:bbbbbbbbbbbb"),
            bridge("berth1", ""),
        ];
        assert_eq!(first_free_bridge(&other, ours).unwrap(), "berth2");
        let all: Vec<Link> = (0..100)
            .map(|i| bridge(&format!("berth{i}"), "x"))
            .collect();
        assert_eq!(first_free_bridge(&all, ours), None);
    }
}
