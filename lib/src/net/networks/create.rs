//! `berth network create`: a user-defined bridge network's definition, from Docker's flags
//! and `-o com.docker.network.*` options.

use std::collections::BTreeMap;

use std::net::{IpAddr, Ipv4Addr};

use chrono::Utc;
use ipnet::{Ipv4Net, Ipv6Net};

use super::subnets::{check_subnet, first_host, overlaps, parse_range, pick_subnet, taken_subnets};
use super::subnets6::Given6;
use super::{
    Network, list, lock_all, predefined, read_def, validate_ifname, validate_name, write_def,
};
use crate::net::error::{NetError, Result};
use crate::paths::Paths;
use crate::state::ids;

/// What `berth network create` takes.
#[derive(Debug, Clone, Default)]
pub struct CreateOpts {
    pub name: String,
    pub driver: Option<String>,
    /// `--subnet` (repeatable: one IPv4 and, with `--ipv6`, one IPv6 subnet).
    pub subnets: Vec<String>,
    /// `--gateway` (repeatable: each belongs to the subnet of its family).
    pub gateways: Vec<String>,
    pub ip_range: Option<String>,
    /// `--ipv6`: dual-stack (an IPv6 subnet besides the IPv4 one).
    pub ipv6: bool,
    /// `-o key=value` driver options (Docker's com.docker.network.*).
    pub options: Vec<String>,
    pub labels: Vec<String>,
    /// `--icc=false`.
    pub icc: Option<bool>,
    pub internal: bool,
    pub mtu: Option<u32>,
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(NetError::BadArgs(format!(
            "invalid value {v:?} for option {key}: expected true or false"
        ))),
    }
}

/// `berth network create`.
pub fn create(paths: &Paths, o: &CreateOpts) -> Result<Network> {
    validate_name(&o.name)?;
    if predefined(&o.name).is_some() {
        return Err(NetError::Conflict(format!(
            "{} is a pre-defined network (choose another name)",
            o.name
        )));
    }
    match o.driver.as_deref() {
        None | Some("bridge") => {}
        Some(d) => {
            return Err(NetError::Unsupported(format!(
                "network driver {d:?} is not supported (only bridge)"
            )));
        }
    }
    let mut options = BTreeMap::new();
    let mut bridge = None;
    let mut icc = o.icc.unwrap_or(true);
    let mut masquerade = true;
    let mut mtu = o.mtu.unwrap_or(0);
    for kv in &o.options {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            NetError::BadArgs(format!("invalid option {kv:?}: expected KEY=VALUE"))
        })?;
        match k {
            "com.docker.network.bridge.name" => bridge = Some(v.to_string()),
            "com.docker.network.bridge.enable_icc" => icc = parse_bool(k, v)?,
            "com.docker.network.bridge.enable_ip_masquerade" => masquerade = parse_bool(k, v)?,
            "com.docker.network.driver.mtu" => {
                mtu = v
                    .parse()
                    .map_err(|_| NetError::BadArgs(format!("invalid MTU {v:?} for option {k}")))?
            }
            _ => {
                return Err(NetError::Unsupported(format!(
                    "network option {k:?} is not supported"
                )));
            }
        }
        options.insert(k.to_string(), v.to_string());
    }
    if o.icc == Some(false) {
        options.insert(
            "com.docker.network.bridge.enable_icc".into(),
            "false".into(),
        );
    }
    let mut labels = BTreeMap::new();
    for kv in &o.labels {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        labels.insert(k.to_string(), v.to_string());
    }
    // Listed before taking the lock: listing materialises the pre-defined networks, which
    // takes the same lock (flock is per open file, so this process would wait on itself).
    let others = list(paths)?;
    let _l = lock_all(paths)?;
    if read_def(paths, &o.name)?.is_some() {
        return Err(NetError::NetworkExists(o.name.clone()));
    }
    let (v4, v6) = split_families(o)?;
    let subnet = match v4.subnet {
        Some(s) => {
            let n: Ipv4Net = s.parse().map_err(|_| {
                NetError::BadArgs(format!(
                    "invalid subnet {s:?} (expected IPv4 CIDR, like 10.1.0.0/24)"
                ))
            })?;
            if n.trunc() != n {
                return Err(NetError::BadArgs(format!(
                    "invalid subnet {n}: host bits are set (did you mean {}?)",
                    n.trunc()
                )));
            }
            if let Some(t) = taken_subnets(paths, &o.name)?
                .into_iter()
                .find(|t| overlaps(n, *t))
            {
                return Err(NetError::Conflict(format!(
                    "subnet {n} overlaps {t}, which is already in use (choose another --subnet)"
                )));
            }
            n
        }
        None => pick_subnet(paths, None, &o.name)?,
    };
    let gateway = match v4.gateway {
        Some(g) => g,
        None => first_host(subnet),
    };
    check_subnet(subnet, gateway)?;
    let ip_range = match &o.ip_range {
        Some(r) => Some(parse_range(r, subnet)?),
        None => None,
    };
    let (subnet6, gateway6) = if o.ipv6 {
        let (s6, g6) = super::subnets6::pick(paths, &o.name, v6)?;
        (Some(s6), Some(g6))
    } else {
        (None, None)
    };
    let id = ids::new_id();
    let bridge = bridge.unwrap_or_else(|| format!("br-{}", &id[..12]));
    validate_ifname(&bridge)?;
    if let Some(other) = others.into_iter().find(|n| n.bridge == bridge) {
        return Err(NetError::Conflict(format!(
            "bridge {bridge} is already used by network {} (choose another com.docker.network.bridge.name)",
            other.name
        )));
    }
    let net = Network {
        name: o.name.clone(),
        id,
        driver: "bridge".into(),
        created: Utc::now(),
        bridge,
        subnet: Some(subnet),
        gateway: Some(gateway),
        ip_range,
        ipv6: o.ipv6,
        subnet6,
        gateway6,
        mtu,
        icc,
        masquerade,
        internal: o.internal,
        labels,
        options,
        from_config: None,
    };
    write_def(paths, &net)?;
    crate::events::network(&paths.root, &net.id, &net.name, &net.driver, "create", &[]);
    Ok(net)
}

/// The `--subnet` and `--gateway` values of each family: the IPv4 ones (as typed, checked
/// later) and the IPv6 ones. At most one subnet per family; a gateway belongs to the subnet of
/// its family; an IPv6 subnet needs `--ipv6`.
fn split_families(o: &CreateOpts) -> Result<(Given4, Given6)> {
    let mut v4 = Given4::default();
    let mut v6 = Given6::default();
    for s in &o.subnets {
        if s.contains(':') {
            let n: Ipv6Net = s.parse().map_err(|_| {
                NetError::BadArgs(format!(
                    "invalid subnet {s:?} (expected IPv6 CIDR, like fd00:db8::/64)"
                ))
            })?;
            if v6.subnet.replace(n).is_some() {
                return Err(NetError::Unsupported(
                    "only one IPv6 --subnet per network is supported".into(),
                ));
            }
        } else if v4.subnet.replace(s.clone()).is_some() {
            return Err(NetError::Unsupported(
                "only one IPv4 --subnet per network is supported".into(),
            ));
        }
    }
    for g in &o.gateways {
        let ip: IpAddr = g
            .parse()
            .map_err(|_| NetError::BadArgs(format!("invalid gateway {g:?}")))?;
        let dup = match ip {
            IpAddr::V4(a) => v4.gateway.replace(a).is_some(),
            IpAddr::V6(a) => v6.gateway.replace(a).is_some(),
        };
        if dup {
            return Err(NetError::BadArgs(format!(
                "more than one --gateway of the family of {g}"
            )));
        }
    }
    if v4.gateway.is_some() && v4.subnet.is_none() {
        return Err(NetError::BadArgs(
            "--gateway needs a --subnet of its family".into(),
        ));
    }
    if !o.ipv6 && (v6.subnet.is_some() || v6.gateway.is_some()) {
        return Err(NetError::BadArgs(
            "an IPv6 --subnet or --gateway needs --ipv6 (the network would be IPv4-only)".into(),
        ));
    }
    Ok((v4, v6))
}

#[derive(Default)]
struct Given4 {
    subnet: Option<String>,
    gateway: Option<Ipv4Addr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(subnets: &[&str], gateways: &[&str], ipv6: bool) -> CreateOpts {
        CreateOpts {
            name: "n6".into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            gateways: gateways.iter().map(|s| s.to_string()).collect(),
            ipv6,
            ..Default::default()
        }
    }

    #[test]
    fn subnets_and_gateways_go_to_their_family() {
        let (v4, v6) = split_families(&opts(
            &["fd00:77::/64", "10.77.0.0/24"],
            &["fd00:77::fe", "10.77.0.254"],
            true,
        ))
        .unwrap();
        assert_eq!(v4.subnet.as_deref(), Some("10.77.0.0/24"));
        assert_eq!(v4.gateway, Some("10.77.0.254".parse().unwrap()));
        assert_eq!(v6.subnet, Some("fd00:77::/64".parse().unwrap()));
        assert_eq!(v6.gateway, Some("fd00:77::fe".parse().unwrap()));
        for (subnets, gateways, ipv6) in [
            (&["fd00:77::/64"][..], &[][..], false),
            (&["fd00:77::/64", "fd00:78::/64"][..], &[][..], true),
            (
                &["10.77.0.0/24"][..],
                &["10.77.0.1", "10.77.0.2"][..],
                false,
            ),
            (&[][..], &["10.77.0.1"][..], false),
            (&["fd00::zz/64"][..], &[][..], true),
        ] {
            assert!(
                split_families(&opts(subnets, gateways, ipv6)).is_err(),
                "{subnets:?} {gateways:?} {ipv6}"
            );
        }
    }

    #[test]
    fn an_ipv6_network_is_dual_stack_and_a_bad_gateway_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
        let n = create(
            &paths,
            &opts(&["10.231.9.0/24", "fd00:231:9::/64"], &[], true),
        )
        .unwrap();
        assert_eq!(n.subnet, Some("10.231.9.0/24".parse().unwrap()));
        assert_eq!(
            n.v6(),
            Some((
                "fd00:231:9::/64".parse().unwrap(),
                "fd00:231:9::1".parse().unwrap()
            ))
        );
        let mut o = opts(
            &["10.231.10.0/24", "fd00:231:10::/64"],
            &["fd00:999::1"],
            true,
        );
        o.name = "bad".into();
        assert!(create(&paths, &o).is_err());
        // Overlapping another network's IPv6 subnet.
        let mut o = opts(&["10.231.11.0/24", "fd00:231:9::/80"], &[], true);
        o.name = "over".into();
        assert!(matches!(create(&paths, &o), Err(NetError::Conflict(_))));
    }
}
