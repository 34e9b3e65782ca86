//! Step 5 of the set-up: the hostname, hosts and resolv.conf files (the container's own, or
//! those of the container whose network it joins), the links' environment, and config.json.
//! On a user-defined network resolv.conf names the embedded resolver (`net::dns`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::NetOpts;
use super::check::{Mode, Plan};
use crate::net::spec::{self, SpecEdits};
use crate::net::{dns, dnsfiles, links, networks, ports};
use crate::paths::Paths;
use crate::protocol::{BundleSection, NetworkSection};

/// Writes the files and edits config.json, recording the files' paths in `section`.
pub(super) fn finish(
    paths: &Paths,
    plan: &Plan,
    o: &NetOpts,
    bundle: &BundleSection,
    name: &str,
    section: &mut NetworkSection,
) -> crate::Result<()> {
    let files = match &plan.mode {
        Mode::Container(t) => {
            let tn = t.network.clone().unwrap_or_default();
            [
                ("/etc/hostname", tn.hostname_path),
                ("/etc/hosts", tn.hosts_path),
                ("/etc/resolv.conf", tn.resolv_conf_path),
            ]
            .into_iter()
            .filter_map(|(d, p)| p.map(|p| (d, p)))
            .collect()
        }
        _ => own_files(paths, plan, o, bundle, section)?,
    };
    // Host mode: none; joined: the target's (none when it shares the host's network too).
    let netns = match &plan.mode {
        Mode::Host => None,
        _ => section.netns.clone(),
    };
    spec::apply(
        &bundle.path,
        &SpecEdits {
            netns,
            hostname: section.hostname.clone(),
            files,
            env: env(plan, name, &section.hostname),
        },
    )?;
    Ok(())
}

/// The container's own hostname, hosts and resolv.conf, written into the bundle.
fn own_files(
    paths: &Paths,
    plan: &Plan,
    o: &NetOpts,
    bundle: &BundleSection,
    section: &mut NetworkSection,
) -> crate::Result<Vec<(&'static str, PathBuf)>> {
    let host_mode = matches!(plan.mode, Mode::Host);
    let config = networks::DefaultConfig::load(paths)?;
    let host_resolv = dnsfiles::host_resolv_conf(config.resolv_conf.as_deref());
    let mut resolv = dnsfiles::resolv_conf(
        &host_resolv,
        &o.dns,
        &o.dns_search,
        &o.dns_options,
        host_mode,
    )?;
    if let Mode::Bridge(n) = &plan.mode
        && dns::serves(&n.name)
    {
        // The embedded resolver; `--dns` servers become its upstreams for this container.
        resolv = dns::resolv_conf(&host_resolv, &o.dns_search, &o.dns_options);
    }
    let hostname = section.hostname.clone();
    let own_ip = section
        .ip_address
        .as_deref()
        .and_then(|s| s.parse::<Ipv4Addr>().ok());
    let mut hosts = if host_mode {
        host_hosts(&plan.extra_hosts)
    } else {
        dnsfiles::hosts(
            own_ip.map(|ip| (ip, hostname.as_str(), bundle.config.domainname.as_str())),
            &plan.extra_hosts,
            &link_hosts(plan),
        )
    };
    if let Some(ip6) = &section.ipv6_address {
        // Docker 28 names the container by its IPv6 address too.
        let domain = &bundle.config.domainname;
        if domain.is_empty() {
            hosts.push_str(&format!("{ip6}\t{hostname}\n"));
        } else {
            hosts.push_str(&format!("{ip6}\t{hostname}.{domain} {hostname}\n"));
        }
    }
    if own_ip.is_none() && !host_mode {
        // none: the hostname still resolves, to loopback.
        hosts.push_str(&format!("127.0.0.1\t{hostname}\n"));
    }
    let dir: &Path = &bundle.path;
    let hp = dnsfiles::write(dir, "hostname", &format!("{hostname}\n"))?;
    let hs = dnsfiles::write(dir, "hosts", &hosts)?;
    let rs = dnsfiles::write(dir, "resolv.conf", &resolv)?;
    section.hostname_path = Some(hp.clone());
    section.hosts_path = Some(hs.clone());
    section.resolv_conf_path = Some(rs.clone());
    Ok(vec![
        ("/etc/hostname", hp),
        ("/etc/hosts", hs),
        ("/etc/resolv.conf", rs),
    ])
}

/// Host mode: the host's /etc/hosts, and `--add-host`'s entries after it.
fn host_hosts(extra_hosts: &[(String, String)]) -> String {
    let mut h = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    if !h.ends_with('\n') && !h.is_empty() {
        h.push('\n');
    }
    for (n, ip) in extra_hosts {
        h.push_str(&format!("{ip}\t{n}\n"));
    }
    h
}

/// Each link's hosts entry: its address, and its alias, hostname and name.
fn link_hosts(plan: &Plan) -> Vec<(Ipv4Addr, Vec<String>)> {
    plan.links
        .iter()
        .zip(&plan.link_targets)
        .filter_map(|(l, t)| {
            let ip = l.ip_address.parse().ok()?;
            let mut names = vec![l.alias.clone()];
            let th = t
                .network
                .as_ref()
                .map(|n| n.hostname.clone())
                .unwrap_or_default();
            if !th.is_empty() && th != l.alias {
                names.push(th);
            }
            if l.alias != l.name {
                names.push(l.name.clone());
            }
            Some((ip, names))
        })
        .collect()
}

/// `HOSTNAME`, and each link's variables (Docker's legacy `ALIAS_PORT_...` and `ALIAS_ENV_...`).
fn env(plan: &Plan, name: &str, hostname: &str) -> Vec<String> {
    let mut env = vec![format!("HOSTNAME={hostname}")];
    for (l, t) in plan.links.iter().zip(&plan.link_targets) {
        let ip = l.ip_address.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let ports: Vec<(u16, String)> = l
            .ports
            .iter()
            .filter_map(|p| {
                ports::split_port(p)
                    .ok()
                    .map(|(n, proto)| (n, proto.to_string()))
            })
            .collect();
        let tenv = t
            .bundle
            .as_ref()
            .map(|b| b.config.env.clone())
            .unwrap_or_default();
        env.extend(links::env(name, &l.alias, ip, &ports, &tenv));
    }
    env
}
