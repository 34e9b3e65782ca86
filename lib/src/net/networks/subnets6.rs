//! IPv6 subnets of dual-stack (`--ipv6`) networks: the one given with `--subnet`, or, as
//! Docker 28 does when none is given, the first free /64 of a ULA /48 derived from the host's
//! identity (moby's `DeriveULABaseNetwork`: `fd00::/8` plus 40 bits of the SHA-256 of the
//! host id, here `/etc/machine-id`), so a host's networks get stable, unique-local subnets.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;
use sha2::{Digest, Sha256};

use super::{nets_dir, read_def};
use crate::net::error::{NetError, Result};
use crate::paths::Paths;

/// What `network create` was given for IPv6.
#[derive(Debug, Default)]
pub struct Given6 {
    pub subnet: Option<Ipv6Net>,
    pub gateway: Option<Ipv6Addr>,
}

/// The ULA /48 of `host_id` (an empty id gives `fd42:98fc:1c14::/48`, as moby's test says).
pub fn ula_base(host_id: &str) -> Ipv6Net {
    let sha = Sha256::digest(host_id.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&sha[..8]);
    let gid = u64::from_be_bytes(first) & ((1u64 << 40) - 1);
    let addr = u128::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0)) | (u128::from(gid) << 80);
    Ipv6Net::new(Ipv6Addr::from(addr), 48).expect("a /48 is a valid prefix")
}

fn host_id() -> String {
    std::fs::read_to_string("/etc/machine-id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The first address after the subnet's own (`::1`), Docker's default gateway.
fn first_host6(subnet: Ipv6Net) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(subnet.network()) + 1)
}

fn overlaps6(a: Ipv6Net, b: Ipv6Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The subnet and gateway of a new dual-stack network called `name`.
pub(super) fn pick(paths: &Paths, name: &str, given: Given6) -> Result<(Ipv6Net, Ipv6Addr)> {
    let taken = taken6(paths, name)?;
    let subnet = match given.subnet {
        Some(n) => {
            if n.trunc() != n {
                return Err(NetError::BadArgs(format!(
                    "invalid subnet {n}: host bits are set (did you mean {}?)",
                    n.trunc()
                )));
            }
            if n.prefix_len() > 126 {
                return Err(NetError::BadArgs(format!(
                    "subnet {n} is too small (at most /126)"
                )));
            }
            if let Some(t) = taken.iter().find(|t| overlaps6(n, **t)) {
                return Err(NetError::Conflict(format!(
                    "subnet {n} overlaps {t}, which is already in use (choose another --subnet)"
                )));
            }
            n
        }
        None => free_in(ula_base(&host_id()), &taken).ok_or_else(|| {
            NetError::Conflict(
                "could not find an available, non-overlapping IPv6 address pool among the defaults to assign to the network (give one with --subnet)".into(),
            )
        })?,
    };
    let gateway = given.gateway.unwrap_or_else(|| first_host6(subnet));
    if !subnet.contains(&gateway) || gateway == subnet.network() {
        return Err(NetError::BadArgs(format!(
            "gateway {gateway} is not a usable address of subnet {subnet}"
        )));
    }
    Ok((subnet, gateway))
}

/// The first /64 of `base` that overlaps none of `taken`.
fn free_in(base: Ipv6Net, taken: &[Ipv6Net]) -> Option<Ipv6Net> {
    base.subnets(64)
        .ok()?
        .find(|c| !taken.iter().any(|t| overlaps6(*c, *t)))
}

/// IPv6 subnets the host routes (but the link-local and multicast ones every interface has),
/// and those of this root's other networks.
fn taken6(paths: &Paths, skip_name: &str) -> Result<Vec<Ipv6Net>> {
    let mut nl = crate::net::netlink::Netlink::open().map_err(NetError::netlink("open"))?;
    let mut taken: Vec<Ipv6Net> = nl
        .routes_v6()
        .map_err(NetError::netlink("list IPv6 routes"))?
        .into_iter()
        .filter(|(a, _)| !(a.is_unicast_link_local() || a.is_multicast()))
        .filter_map(|(a, p)| Ipv6Net::new(a, p).ok())
        .collect();
    if let Ok(entries) = std::fs::read_dir(nets_dir(paths)) {
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if name != skip_name
                && let Some(n) = read_def(paths, &name)?
                && let Some(s) = n.subnet6
            {
                taken.push(s);
            }
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ula_base_is_mobys() {
        // moby's TestDeriveULABaseNetwork vectors.
        assert_eq!(ula_base("").to_string(), "fd42:98fc:1c14::/48");
        assert_eq!(
            ula_base("499d4bc0-b0b3-416f-b1ee-cf6486315593").to_string(),
            "fd62:fb69:18af::/48"
        );
    }

    #[test]
    fn the_first_free_64_is_taken() {
        let base = ula_base("");
        let first = free_in(base, &[]).unwrap();
        assert_eq!(first.to_string(), "fd42:98fc:1c14::/64");
        let second = free_in(base, &[first]).unwrap();
        assert_eq!(second.to_string(), "fd42:98fc:1c14:1::/64");
        assert_eq!(first_host6(second).to_string(), "fd42:98fc:1c14:1::1");
        // A wider route over the whole pool leaves nothing.
        assert!(free_in(base, &["fd00::/8".parse().unwrap()]).is_none());
    }
}
