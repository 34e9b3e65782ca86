//! `berth network create`: a user-defined bridge network's definition, from Docker's flags
//! and `-o com.docker.network.*` options.

use std::collections::BTreeMap;

use chrono::Utc;
use ipnet::Ipv4Net;

use super::subnets::{check_subnet, first_host, overlaps, parse_range, pick_subnet, taken_subnets};
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
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
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
    let subnet = match &o.subnet {
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
    let gateway = match &o.gateway {
        Some(g) => g
            .parse()
            .map_err(|_| NetError::BadArgs(format!("invalid gateway {g:?}")))?,
        None => first_host(subnet),
    };
    check_subnet(subnet, gateway)?;
    let ip_range = match &o.ip_range {
        Some(r) => Some(parse_range(r, subnet)?),
        None => None,
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
