//! Setting up a container's network (the `berth-netns -` stage).
//!
//! Order, chosen so that a refusal leaves nothing behind and a crash leaves only what the
//! record names (so `berth-netns rm` can find it):
//! 1. check every argument, the bundle, links and the network, before touching anything;
//! 2. save the record with the network section naming what will be made (the journal);
//! 3. reserve host ports (conflicts are refused here, before any kernel change);
//! 4. create the namespace; take an address; bring the bridge up if this is the network's
//!    first container; add all rules in one iptables-restore batch; create the veth pair;
//!    configure the container side;
//! 5. write hostname, hosts and resolv.conf; edit config.json; save the record.
//!
//! Any failure after step 2 runs the teardown (`detach`) and returns the first error.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use super::detach::detach;
use super::error::{NetError, Result};
use super::firewall::{self, Batch};
use super::netlink::Netlink;
use super::networks::{self, Network};
use super::ports::{self, Ports};
use super::spec::{self, SpecEdits};
use super::{dnsfiles, host, ipam, links, netns};
use crate::paths::Paths;
use crate::protocol::{LinkInfo, NetworkSection, Record, Status};
use crate::state::{Containers, ids, truth};

/// The stage's flags (Docker's names).
#[derive(Debug, Clone, Default)]
pub struct NetOpts {
    /// `--network`: none, bridge (default), host, container:NAME|ID, or a network's name.
    pub network: Option<String>,
    pub publish: Vec<String>,
    pub publish_all: bool,
    pub expose: Vec<String>,
    pub hostname: Option<String>,
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    pub add_host: Vec<String>,
    pub links: Vec<String>,
    pub mac_address: Option<String>,
    /// `--ip`: a fixed address (user-defined networks only, as in Docker).
    pub ip: Option<String>,
}

enum Mode {
    None,
    Host,
    Container(Box<Record>),
    Bridge(Box<Network>),
}

/// The host end of a container's veth pair: `veth` + 11 characters of its id (IFNAMSIZ).
pub fn veth_name(id: &str) -> String {
    format!("veth{}", &id[..11.min(id.len())])
}

/// Docker's classic MAC for an address: 02:42 followed by the IPv4 bytes, so a reused
/// address comes back with the same MAC and neighbours' ARP caches stay right.
fn mac_for(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let bad = || {
        NetError::BadArgs(format!(
            "invalid --mac-address {s:?}: expected six hex bytes like 02:42:ac:11:00:02"
        ))
    };
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(bad());
        }
        mac[i] = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 == 1 {
        return Err(NetError::BadArgs(format!(
            "invalid --mac-address {s}: it is a multicast address"
        )));
    }
    Ok(mac)
}

fn format_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn conflict(what: &str, mode: &str) -> NetError {
    NetError::BadArgs(format!(
        "conflicting options: {what} and the network mode ({mode})"
    ))
}

/// A running container (or a refusal naming why not).
fn running(containers: &Containers, arg: &str, why: &str) -> Result<Record> {
    target(containers, arg, why, false)
}

/// A container that runs, or with `created` one that was created and not yet started: a
/// link may name it (its address is allocated at creation), as `docker create --link` does;
/// Docker checks that the target runs only when the linking container starts.
fn target(containers: &Containers, arg: &str, why: &str, created: bool) -> Result<Record> {
    let id = containers.resolve(arg).map_err(|e| match e {
        crate::state::StateError::NoSuchContainer(_) => NetError::State(
            crate::state::StateError::NoSuchContainer(format!("{arg} (cannot {why})")),
        ),
        e => e.into(),
    })?;
    let r = truth::observe(containers, containers.load(&id)?)?;
    let status = r
        .state
        .as_ref()
        .map(|s| s.status)
        .unwrap_or(Status::Created);
    if status != Status::Running && !(created && status == Status::Created) {
        return Err(NetError::WrongState(format!(
            "cannot {why}: container {arg} is {status}, not running (start it first)"
        )));
    }
    Ok(r)
}

/// Sets up the network of the container in `record` and fills its `network` section.
pub fn attach(paths: &Paths, record: &mut Record, o: &NetOpts) -> crate::Result<()> {
    let id = record.require_id()?.to_string();
    let bundle = record.bundle.clone().ok_or_else(|| {
        NetError::BadArgs(
            "the record has no bundle section (run berth-unpack earlier in the pipeline)".into(),
        )
    })?;
    spec::check(&bundle.path)?;
    let containers = Containers::new(paths);
    if record.network.is_some() {
        // Running the stage again replaces the old set-up.
        detach(paths, &id)?;
        record.network = None;
    }

    // 1. Everything is checked before anything is made.
    let mode_arg = o.network.clone().unwrap_or_else(|| "bridge".into());
    let mode = match mode_arg.as_str() {
        "none" => Mode::None,
        "host" => Mode::Host,
        "default" | "bridge" => Mode::Bridge(Box::new(networks::get(paths, "bridge")?)),
        m if m.starts_with("container:") => {
            let target = &m["container:".len()..];
            let r = running(
                &containers,
                target,
                &format!("join the network of {target}"),
            )?;
            if r.id == id {
                return Err(
                    NetError::BadArgs("a container cannot join its own network".into()).into(),
                );
            }
            Mode::Container(Box::new(r))
        }
        m => {
            let net = networks::get(paths, m)?;
            match net.driver.as_str() {
                "host" => Mode::Host,
                "null" => Mode::None,
                _ => Mode::Bridge(Box::new(net)),
            }
        }
    };
    let mode_name = match &mode {
        Mode::None => "none".to_string(),
        Mode::Host => "host".to_string(),
        Mode::Container(r) => format!("container:{}", r.id),
        Mode::Bridge(n) => n.name.clone(),
    };
    let bridged = matches!(mode, Mode::Bridge(_));
    if let Mode::Container(_) = mode {
        for (set, what) in [
            (o.hostname.is_some(), "--hostname"),
            (!o.publish.is_empty() || o.publish_all, "port publishing"),
            (
                !o.dns.is_empty() || !o.dns_search.is_empty() || !o.dns_options.is_empty(),
                "--dns",
            ),
            (!o.add_host.is_empty(), "--add-host"),
            (o.mac_address.is_some(), "--mac-address"),
            (!o.expose.is_empty(), "--expose"),
        ] {
            if set {
                return Err(conflict(what, &mode_name).into());
            }
        }
    }
    if !bridged && !o.links.is_empty() {
        return Err(conflict("--link", &mode_name).into());
    }
    if !bridged && o.mac_address.is_some() {
        return Err(conflict("--mac-address", &mode_name).into());
    }
    if o.ip.is_some() && (!bridged || mode_name == "bridge") {
        return Err(NetError::BadArgs(
            "--ip is only supported on user-defined networks (berth network create)".into(),
        )
        .into());
    }
    let wanted_ip =
        o.ip.as_deref()
            .map(|s| {
                s.parse::<Ipv4Addr>()
                    .map_err(|_| NetError::BadArgs(format!("invalid --ip {s:?}")))
            })
            .transpose()?;
    let mac = o.mac_address.as_deref().map(parse_mac).transpose()?;
    if let Some(h) = &o.hostname {
        dnsfiles::validate_hostname(h)?;
    }
    let specs = o
        .publish
        .iter()
        .map(|p| ports::parse_publish(p))
        .collect::<Result<Vec<_>>>()?;
    let mut exposed: Vec<String> = Vec::new();
    let mut add_exposed = |p: String| {
        if !exposed.contains(&p) {
            exposed.push(p);
        }
    };
    for p in &bundle.config.exposed_ports {
        let (port, proto) = ports::split_port(p)?;
        add_exposed(format!("{port}/{proto}"));
    }
    for e in &o.expose {
        ports::parse_expose(e)?
            .into_iter()
            .for_each(&mut add_exposed);
    }
    for s in &specs {
        for p in s.container_ports.0..=s.container_ports.1 {
            add_exposed(format!("{p}/{}", s.proto));
        }
    }
    let publish_all: Vec<String> = if o.publish_all {
        exposed.clone()
    } else {
        Vec::new()
    };
    let wanted = ports::expand(&specs, &publish_all)?;
    if !bridged && !wanted.is_empty() {
        log::warn!("published ports are discarded when using {mode_name} network mode");
    }
    let gateway = match &mode {
        Mode::Bridge(n) => n.gateway,
        _ => None,
    };
    let extra_hosts = o
        .add_host
        .iter()
        .map(|h| dnsfiles::parse_add_host(h, gateway))
        .collect::<Result<Vec<_>>>()?;
    // Links: the target must exist, run (or be created, not yet started), and be on the same
    // network.
    let mut link_infos = Vec::new();
    let mut link_targets = Vec::new();
    for l in &o.links {
        let (name, alias) = links::parse(l)?;
        let t = target(&containers, &name, &format!("link to {name}"), true)?;
        let tn = t.network.clone().unwrap_or_default();
        if tn.network.as_deref() != Some(mode_name.as_str()) || tn.ip_address.is_none() {
            return Err(NetError::BadArgs(format!(
                "cannot link to {name}: it is not on network {mode_name} (links work between containers of one bridge network)"
            ))
            .into());
        }
        link_infos.push(LinkInfo {
            name: t.name.clone(),
            alias,
            id: t.id.clone(),
            ip_address: tn.ip_address.clone().unwrap_or_default(),
            ports: tn.exposed_ports.clone(),
        });
        link_targets.push(t);
    }

    // 2. The journal: what is about to exist, so that rm can find it after a crash.
    let hostname = match &mode {
        Mode::Container(t) => t
            .network
            .as_ref()
            .map(|n| n.hostname.clone())
            .unwrap_or_default(),
        Mode::Host => o.hostname.clone().unwrap_or_else(host_hostname),
        _ => o
            .hostname
            .clone()
            .or_else(|| Some(bundle.config.hostname.clone()).filter(|h| !h.is_empty()))
            .unwrap_or_else(|| ids::short(&id).to_string()),
    };
    let dir = bundle.path.clone();
    let mut section = NetworkSection {
        mode: mode_name.clone(),
        hostname: hostname.clone(),
        dns: o.dns.clone(),
        dns_search: o.dns_search.clone(),
        dns_options: o.dns_options.clone(),
        extra_hosts: o.add_host.clone(),
        links: link_infos.clone(),
        exposed_ports: exposed.clone(),
        publish_all: o.publish_all,
        ..Default::default()
    };
    match &mode {
        Mode::None => section.netns = Some(paths.netns(&id)),
        Mode::Container(t) => {
            section.joined = Some(t.id.clone());
            section.netns = t.network.as_ref().and_then(|n| n.netns.clone());
        }
        Mode::Bridge(n) => {
            section.netns = Some(paths.netns(&id));
            section.network = Some(n.name.clone());
            section.network_id = Some(n.id.clone());
            section.bridge = Some(n.bridge.clone());
            section.host_veth = Some(veth_name(&id));
            section.gateway = n.gateway.map(|g| g.to_string());
            section.prefix_len = n.subnet.map(|s| s.prefix_len());
        }
        Mode::Host => {}
    }
    record.network = Some(section);
    containers.save(record)?;

    // 3-4. The kernel side; undone by detach on any failure.
    let made = (|| -> crate::Result<()> {
        match &mode {
            Mode::None => {
                let ns = netns::create(&paths.netns(&id))?;
                let mut nl = Netlink::open_in(std::os::fd::AsFd::as_fd(&ns))
                    .map_err(NetError::netlink("open in namespace"))?;
                nl.set_up(1).map_err(NetError::netlink("set lo up"))?;
            }
            Mode::Bridge(net) => {
                let section = record.network.as_mut().expect("set above");
                bring_up(paths, &id, net, &wanted, wanted_ip, mac, section)?;
            }
            _ => {}
        }
        Ok(())
    })();
    if let Err(e) = made {
        let _ = containers.save(record);
        let _ = detach(paths, &id);
        return Err(e);
    }
    containers.save(record)?;

    // 5. Files and config.json.
    let finished = (|| -> crate::Result<()> {
        let section = record.network.as_mut().expect("set above");
        let own_ip = section
            .ip_address
            .as_deref()
            .and_then(|s| s.parse::<Ipv4Addr>().ok());
        let files = match &mode {
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
            _ => {
                let config = networks::DefaultConfig::load(paths)?;
                let host_resolv = dnsfiles::host_resolv_conf(config.resolv_conf.as_deref());
                let resolv = dnsfiles::resolv_conf(
                    &host_resolv,
                    &o.dns,
                    &o.dns_search,
                    &o.dns_options,
                    matches!(mode, Mode::Host),
                )?;
                let link_hosts: Vec<(Ipv4Addr, Vec<String>)> = link_infos
                    .iter()
                    .zip(&link_targets)
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
                    .collect();
                let mut hosts = if matches!(mode, Mode::Host) {
                    let mut h = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
                    if !h.ends_with('\n') && !h.is_empty() {
                        h.push('\n');
                    }
                    for (n, ip) in &extra_hosts {
                        h.push_str(&format!("{ip}\t{n}\n"));
                    }
                    h
                } else {
                    dnsfiles::hosts(
                        own_ip.map(|ip| (ip, hostname.as_str(), bundle.config.domainname.as_str())),
                        &extra_hosts,
                        &link_hosts,
                    )
                };
                if own_ip.is_none() && !matches!(mode, Mode::Host) {
                    // none: the hostname still resolves, to loopback.
                    hosts.push_str(&format!("127.0.0.1\t{hostname}\n"));
                }
                let w = |name: &str, body: &str| -> crate::Result<PathBuf> {
                    Ok(dnsfiles::write(&dir, name, body)?)
                };
                let hp = w("hostname", &format!("{hostname}\n"))?;
                let hs = w("hosts", &hosts)?;
                let rs = w("resolv.conf", &resolv)?;
                section.hostname_path = Some(hp.clone());
                section.hosts_path = Some(hs.clone());
                section.resolv_conf_path = Some(rs.clone());
                vec![
                    ("/etc/hostname", hp),
                    ("/etc/hosts", hs),
                    ("/etc/resolv.conf", rs),
                ]
            }
        };
        let mut env = vec![format!("HOSTNAME={hostname}")];
        for (l, t) in link_infos.iter().zip(&link_targets) {
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
            env.extend(links::env(&record.name, &l.alias, ip, &ports, &tenv));
        }
        let netns_path = match &mode {
            Mode::Host => None,
            _ => section.netns.clone(),
        };
        if matches!(mode, Mode::Container(_)) && netns_path.is_none() {
            // The target shares the host's network: so does this one.
        }
        spec::apply(
            &dir,
            &SpecEdits {
                netns: netns_path,
                hostname: hostname.clone(),
                files,
                env,
            },
        )?;
        Ok(())
    })();
    if let Err(e) = finished {
        let _ = detach(paths, &id);
        if let Ok(mut r) = containers.load(&id) {
            r.network = None;
            let _ = containers.save(&r);
        }
        record.network = None;
        return Err(e);
    }
    containers.save(record)?;
    Ok(())
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

/// The bridge-mode kernel work (steps 3-4), filling `section` as it goes.
fn bring_up(
    paths: &Paths,
    id: &str,
    net: &Network,
    wanted: &[ports::Wanted],
    wanted_ip: Option<Ipv4Addr>,
    mac: Option<[u8; 6]>,
    section: &mut NetworkSection,
) -> crate::Result<()> {
    let (Some(subnet), Some(gateway), Some(range)) = (net.subnet, net.gateway, net.range()) else {
        return Err(NetError::BadArgs(format!("network {} has no subnet", net.name)).into());
    };
    // 3. Host ports, machine-wide.
    let bindings = {
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
        b
    };
    section.ports = bindings.clone();

    // 4. Namespace, address, bridge, rules, veth.
    let ns_path = paths.netns(id);
    let ns = netns::create(&ns_path)?;
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
        wanted_ip,
    )?;
    section.ip_address = Some(ip.to_string());
    let mac = mac.unwrap_or_else(|| mac_for(ip));
    section.mac_address = Some(format_mac(mac));
    // The section now names the address, bridge, ports and links: teardown regenerates the
    // same rules from the saved record.
    let rules = firewall::section_rules(id, section, net.icc);
    let mut batch = Batch::default();
    let bridge = match nl
        .link(&net.bridge)
        .map_err(NetError::netlink("look up bridge"))?
    {
        Some(b) if b.alias == net.tag() => {
            drop(net_lock);
            batch.add(&rules);
            firewall::apply(&batch)?;
            b.index
        }
        Some(b) => {
            return Err(NetError::Conflict(format!(
                "cannot bring up network {}: interface {} already exists and is not this network's bridge (alias {:?}); choose another bridge name",
                net.name, net.bridge, b.alias
            ))
            .into());
        }
        None => {
            // The network's first container: the bridge and its rules come up with it, under
            // the machine-wide lock (another root may be adding or removing berth's chains).
            let _host = host::lock()?;
            host::prepare(&mut nl, &net.bridge, !net.icc, &mut batch)?;
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
                nl.set_up(index)
                    .map_err(NetError::netlink(format!("set {} up", net.bridge)))?;
                batch.add(&firewall::network_rules(net));
                batch.add(&rules);
                firewall::apply(&batch)?;
                Ok(())
            })();
            if let Err(e) = up {
                let _ = nl.del_link(index);
                return Err(e);
            }
            drop(net_lock);
            index
        }
    };
    let host_veth = veth_name(id);
    nl.add_veth(
        &host_veth,
        &firewall::container_tag(id),
        bridge,
        net.mtu,
        "eth0",
        std::os::fd::AsFd::as_fd(&ns),
        mac,
    )
    .map_err(NetError::netlink(format!("create veth pair {host_veth}")))?;
    let mut inner = Netlink::open_in(std::os::fd::AsFd::as_fd(&ns))
        .map_err(NetError::netlink("open in namespace"))?;
    inner.set_up(1).map_err(NetError::netlink("set lo up"))?;
    let eth0 = inner
        .link("eth0")
        .map_err(NetError::netlink("find eth0"))?
        .ok_or_else(|| NetError::Netlink {
            op: "find eth0".into(),
            source: std::io::Error::from_raw_os_error(libc::ENODEV),
        })?;
    inner
        .add_address(eth0.index, ip, subnet.prefix_len())
        .map_err(NetError::netlink(format!("add {ip} to eth0")))?;
    inner
        .set_up(eth0.index)
        .map_err(NetError::netlink("set eth0 up"))?;
    if !net.internal {
        inner
            .add_default_route(gateway)
            .map_err(NetError::netlink(format!(
                "add default route via {gateway}"
            )))?;
    }
    Ok(())
}

fn host_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}
