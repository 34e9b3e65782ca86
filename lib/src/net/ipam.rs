//! File-based IPAM, in the spirit of CNI's host-local plugin: one file per address in use,
//! named by the address and holding the container id, under the network's lock. A `last`
//! file makes allocation round-robin, so a just-freed address (and its stale ARP entries in
//! other containers) is not handed out again at once.
//!
//! A dual-stack network's IPv6 addresses live beside them in `ipam6/`, allocated the same
//! way (sequentially from `::2`, round-robin, never the subnet's own address or the gateway):
//! a container holds one address of each family, both released together.
//!
//! The caller holds the network's lock (`networks::lock_network`) around every call.

use std::collections::BTreeSet;
use std::fs;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use ipnet::{Ipv4Net, Ipv6Net};

use super::error::{NetError, Result};
use crate::error::IoContext;
use crate::store::atomic;

fn ipam_dir(net_dir: &Path) -> PathBuf {
    net_dir.join("ipam")
}

fn ipam6_dir(net_dir: &Path) -> PathBuf {
    net_dir.join("ipam6")
}

/// Every address in use, with its container id, in address order.
pub fn allocations(net_dir: &Path) -> Result<Vec<(Ipv4Addr, String)>> {
    allocated_in(&ipam_dir(net_dir))
}

/// The allocations kept in `dir` (one file per address, named by it, holding the id).
fn allocated_in<A: std::str::FromStr + Ord>(dir: &Path) -> Result<Vec<(A, String)>> {
    let mut out = Vec::new();
    for e in crate::store::list_dir(dir)? {
        let Some(ip) = e.file_name().to_str().and_then(|n| n.parse::<A>().ok()) else {
            continue;
        };
        let id = fs::read_to_string(e.path()).unwrap_or_default();
        out.push((ip, id.trim().to_string()));
    }
    out.sort();
    Ok(out)
}

/// The addresses taken in `dir`: its file names alone (an allocation reads no file, so its
/// cost under the network's lock does not grow with the files' number read one by one).
fn taken_in<A: std::str::FromStr + Ord>(dir: &Path) -> Result<BTreeSet<A>> {
    Ok(crate::store::list_dir(dir)?
        .into_iter()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<A>().ok()))
        .collect())
}

/// Allocates an address in `range` (never the network, broadcast or `gateway` address) for
/// container `id`; `wanted` asks for a particular one.
pub fn allocate(
    net_dir: &Path,
    network: &str,
    range: Ipv4Net,
    subnet: Ipv4Net,
    gateway: Ipv4Addr,
    id: &str,
    wanted: Option<Ipv4Addr>,
) -> Result<Ipv4Addr> {
    let dir = ipam_dir(net_dir);
    let used: BTreeSet<Ipv4Addr> = taken_in(&dir)?;
    let usable = |ip: Ipv4Addr| {
        range.contains(&ip) && ip != subnet.network() && ip != subnet.broadcast() && ip != gateway
    };
    if let Some(ip) = wanted {
        if !usable(ip) {
            return Err(NetError::BadArgs(format!(
                "address {ip} is not usable in network {network} (range {range}, gateway {gateway})"
            )));
        }
        if used.contains(&ip) {
            return Err(NetError::Conflict(format!(
                "address {ip} is already in use in network {network}"
            )));
        }
        take(&dir, ip, id)?;
        return Ok(ip);
    }
    let first = u32::from(range.network());
    let last = u32::from(range.broadcast());
    let size = (last - first + 1) as u64;
    let start = fs::read_to_string(dir.join("last"))
        .ok()
        .and_then(|s| s.trim().parse::<Ipv4Addr>().ok())
        .map(u32::from)
        .filter(|a| (first..=last).contains(a))
        .map_or(first, |a| if a == last { first } else { a + 1 });
    for i in 0..size {
        let a = first + ((start - first) as u64 + i).rem_euclid(size) as u32;
        let ip = Ipv4Addr::from(a);
        if usable(ip) && !used.contains(&ip) {
            take(&dir, ip, id)?;
            crate::store::atomic::write_volatile(&dir.join("last"), ip.to_string().as_bytes())?;
            return Ok(ip);
        }
    }
    Err(NetError::Exhausted {
        network: network.to_string(),
        range: range.to_string(),
    })
}

fn take(dir: &Path, ip: Ipv4Addr, id: &str) -> Result<()> {
    let p = dir.join(ip.to_string());
    if !atomic::create_exclusive_volatile(&p, id.as_bytes())? {
        return Err(NetError::Conflict(format!(
            "address {ip} is already in use"
        )));
    }
    Ok(())
}

/// Every IPv6 address in use, with its container id, in address order.
pub fn allocations6(net_dir: &Path) -> Result<Vec<(Ipv6Addr, String)>> {
    allocated_in(&ipam6_dir(net_dir))
}

/// Allocates an IPv6 address in `subnet` (never its own address or `gateway`) for container
/// `id`; `wanted` asks for a particular one (`--ip6`).
pub fn allocate6(
    net_dir: &Path,
    network: &str,
    subnet: Ipv6Net,
    gateway: Ipv6Addr,
    id: &str,
    wanted: Option<Ipv6Addr>,
) -> Result<Ipv6Addr> {
    let dir = ipam6_dir(net_dir);
    let used: BTreeSet<Ipv6Addr> = taken_in(&dir)?;
    let usable = |ip: Ipv6Addr| subnet.contains(&ip) && ip != subnet.network() && ip != gateway;
    if let Some(ip) = wanted {
        if !usable(ip) {
            return Err(NetError::BadArgs(format!(
                "address {ip} is not usable in network {network} (subnet {subnet}, gateway {gateway})"
            )));
        }
        if used.contains(&ip) {
            return Err(NetError::Conflict(format!(
                "address {ip} is already in use in network {network}"
            )));
        }
        take6(&dir, ip, id)?;
        return Ok(ip);
    }
    let first = u128::from(subnet.network());
    let last = u128::from(subnet.broadcast());
    let start = fs::read_to_string(dir.join("last"))
        .ok()
        .and_then(|s| s.trim().parse::<Ipv6Addr>().ok())
        .map(u128::from)
        .filter(|a| (first..=last).contains(a))
        .map_or(first, |a| if a == last { first } else { a + 1 });
    // At most every used address, the subnet's own and the gateway are skipped before a
    // free one comes, unless the subnet is full.
    let tries = (used.len() as u128 + 3).min(last - first + 1);
    for i in 0..tries {
        let a = first + (start - first + i) % (last - first + 1);
        let ip = Ipv6Addr::from(a);
        if usable(ip) && !used.contains(&ip) {
            take6(&dir, ip, id)?;
            atomic::write_volatile(&dir.join("last"), ip.to_string().as_bytes())?;
            return Ok(ip);
        }
    }
    Err(NetError::Exhausted {
        network: network.to_string(),
        range: subnet.to_string(),
    })
}

fn take6(dir: &Path, ip: Ipv6Addr, id: &str) -> Result<()> {
    crate::store::private::create_dir_all(dir)?;
    let p = dir.join(ip.to_string());
    if !atomic::create_exclusive_volatile(&p, id.as_bytes())? {
        return Err(NetError::Conflict(format!(
            "address {ip} is already in use"
        )));
    }
    Ok(())
}

/// Frees every address (of either family) that `id` holds: its own, and any an interrupted
/// set-up took before it was recorded. Idempotent.
pub fn release(net_dir: &Path, id: &str) -> Result<()> {
    let v4 = allocations(net_dir)?
        .into_iter()
        .map(|(ip, o)| (ipam_dir(net_dir).join(ip.to_string()), o));
    let v6 = allocations6(net_dir)?
        .into_iter()
        .map(|(ip, o)| (ipam6_dir(net_dir).join(ip.to_string()), o));
    for (p, owner) in v4.chain(v6) {
        if owner == id {
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_path("remove", &p).map_err(Into::into),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_round_robin_and_skips_reserved() {
        let d = tempfile::tempdir().unwrap();
        let subnet: Ipv4Net = "10.0.0.0/29".parse().unwrap();
        let gw: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let a = allocate(d.path(), "n", subnet, subnet, gw, "a", None).unwrap();
        let b = allocate(d.path(), "n", subnet, subnet, gw, "b", None).unwrap();
        assert_eq!(a.to_string(), "10.0.0.2");
        assert_eq!(b.to_string(), "10.0.0.3");
        release(d.path(), "a").unwrap();
        // Round-robin: the freed .2 comes back only after the rest of the range.
        let c = allocate(d.path(), "n", subnet, subnet, gw, "c", None).unwrap();
        assert_eq!(c.to_string(), "10.0.0.4");
        for id in ["d", "e", "f"] {
            allocate(d.path(), "n", subnet, subnet, gw, id, None).unwrap();
        }
        // .2 .. .6 are taken (.0 network, .1 gateway, .7 broadcast).
        let e = allocate(d.path(), "n", subnet, subnet, gw, "g", None).unwrap_err();
        assert!(matches!(e, NetError::Exhausted { .. }), "{e}");
        assert_eq!(allocations(d.path()).unwrap().len(), 5);
        let e = allocate(d.path(), "n", subnet, subnet, gw, "h", Some(b)).unwrap_err();
        assert!(matches!(e, NetError::Conflict(_)));
    }

    #[test]
    fn ipv6_addresses_are_sequential_round_robin_and_released_with_the_v4_one() {
        let d = tempfile::tempdir().unwrap();
        let subnet: Ipv6Net = "fd00:db8::/64".parse().unwrap();
        let gw: Ipv6Addr = "fd00:db8::1".parse().unwrap();
        let a = allocate6(d.path(), "n", subnet, gw, "a", None).unwrap();
        let b = allocate6(d.path(), "n", subnet, gw, "b", None).unwrap();
        assert_eq!(
            (a.to_string(), b.to_string()),
            ("fd00:db8::2".into(), "fd00:db8::3".into())
        );
        let v4: Ipv4Net = "10.0.0.0/29".parse().unwrap();
        allocate(
            d.path(),
            "n",
            v4,
            v4,
            "10.0.0.1".parse().unwrap(),
            "a",
            None,
        )
        .unwrap();
        release(d.path(), "a").unwrap();
        assert!(allocations(d.path()).unwrap().is_empty());
        assert_eq!(allocations6(d.path()).unwrap(), [(b, "b".to_string())]);
        // Round-robin: ::2 is not handed out again at once.
        let c = allocate6(d.path(), "n", subnet, gw, "c", None).unwrap();
        assert_eq!(c.to_string(), "fd00:db8::4");
        // --ip6: inside the subnet, not the gateway, not taken.
        let want = |ip: &str| allocate6(d.path(), "n", subnet, gw, "w", Some(ip.parse().unwrap()));
        assert_eq!(want("fd00:db8::99").unwrap().to_string(), "fd00:db8::99");
        assert!(matches!(want("fd00:db8::1"), Err(NetError::BadArgs(_))));
        assert!(matches!(want("fd00:db9::5"), Err(NetError::BadArgs(_))));
        assert!(matches!(want("fd00:db8::3"), Err(NetError::Conflict(_))));
        // A full subnet is exhausted, not an endless search.
        let tiny: Ipv6Net = "fd00:1::/126".parse().unwrap();
        let g: Ipv6Addr = "fd00:1::1".parse().unwrap();
        for id in ["x", "y"] {
            allocate6(d.path(), "t", tiny, g, id, None).unwrap();
        }
        let e = allocate6(d.path(), "t", tiny, g, "z", None).unwrap_err();
        assert!(matches!(e, NetError::Exhausted { .. }), "{e}");
    }

    #[test]
    fn fixed_range_is_respected() {
        let d = tempfile::tempdir().unwrap();
        let subnet: Ipv4Net = "10.0.0.0/24".parse().unwrap();
        let range: Ipv4Net = "10.0.0.128/25".parse().unwrap();
        let gw: Ipv4Addr = "10.0.0.1".parse().unwrap();
        let a = allocate(d.path(), "n", range, subnet, gw, "a", None).unwrap();
        assert_eq!(a.to_string(), "10.0.0.128");
    }
}
