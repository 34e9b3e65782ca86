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
