//! Setting up a container's network (the `berth-netns -` stage).
//!
//! Order, chosen so that a refusal leaves nothing behind and a crash leaves only what the
//! record names (so `berth-netns rm` can find it):
//! 1. check every argument, the bundle, links and the network, before touching anything;
//! 2. save the record with the network section naming what will be made (the journal);
//! 3. reserve host ports (conflicts are refused here, before any kernel change; none without
//!    a published port);
//! 4. bind the namespace, made while the stage waited for its record ([`Early`]) or now,
//!    at `<run>/netns/<id>`; take an address (and an IPv6 one on an `--ipv6` network); bring
//!    the bridge up if it is not (the default network's stays up once made; a user-defined
//!    network's comes with its first container); add the container's rules in one
//!    iptables-restore batch (and one ip6tables-restore), none at all when the journal says
//!    it has none (`no_rules`); create the veth pair; configure the container side;
//! 5. write hostname, hosts and resolv.conf; edit config.json; save the record;
//! 6. on a user-defined network, enter the container in the resolver's table (`dns`), which
//!    binds its 127.0.0.11:53 sockets and starts the resolver if none runs.
//!
//! Any failure after step 2 runs the teardown (`detach`) and returns the first error.
//!
//! Step 1 is `check`, steps 3-4 in bridge mode `bridge`, step 5 `files`. The firewall rules
//! added in step 4 and deleted by `detach` both come from [`super::firewall::section_rules`],
//! on the record's network section.

use super::detach::detach;
use super::error::NetError;
use super::{dns, dnsfiles, netns, networks, spec};
use crate::paths::Paths;
use crate::protocol::{BundleSection, FixedAddrs, NetworkSection, Record, Status};
use crate::state::{Containers, ids};

pub(crate) mod bridge;
pub(crate) mod check;
mod files;
#[cfg(test)]
mod tests;

use check::{Mode, Plan};

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
    /// `--ip6`: a fixed IPv6 address (user-defined `--ipv6` networks only).
    pub ip6: Option<String>,
    /// `--network-alias`: more DNS names on the network (user-defined networks only).
    pub aliases: Vec<String>,
}

/// The host end of a container's veth pair: `veth` + 11 characters of its id (IFNAMSIZ).
pub fn veth_name(id: &str) -> String {
    format!("veth{}", &id[..11.min(id.len())])
}

/// The part of the set-up that needs no record, started as the stage starts so that it
/// overlaps the wait for the stages before: a namespace of its own ([`netns::Fresh`]) for
/// every mode that has one (all but `host` and `container:X`, which the flags say). It is
/// held by descriptors only until step 4 binds it, so a refusal, an upstream error or a
/// kill -9 leaves nothing of it.
pub struct Early(Option<std::thread::JoinHandle<Result<netns::Fresh, NetError>>>);

impl Early {
    /// Starts making what `o` will need.
    pub fn start(o: &NetOpts) -> Early {
        Early(own_namespace(o).then(netns::Fresh::start))
    }

    /// Nothing made ahead: the set-up makes everything itself.
    pub fn none() -> Early {
        Early(None)
    }

    /// The namespace made ahead, else one made now.
    fn namespace(&mut self) -> Result<netns::Fresh, NetError> {
        let _p = crate::timings::phase("namespace");
        match self.0.take() {
            Some(h) => h.join().unwrap_or_else(|_| netns::Fresh::make()),
            None => netns::Fresh::make(),
        }
    }
}

/// Whether the mode `o` asks for gives the container a namespace of its own: all but `host`
/// and `container:X` (none, the default bridge, a user-defined network; a network that does
/// not exist is refused later, and its namespace dropped unbound).
fn own_namespace(o: &NetOpts) -> bool {
    match o.network.as_deref() {
        Some("host") => false,
        Some(m) => !m.starts_with("container:"),
        None => true,
    }
}

/// Sets up the network of the container in `record` and fills its `network` section.
pub fn attach(paths: &Paths, record: &mut Record, o: &NetOpts) -> crate::Result<()> {
    attach_early(paths, record, o, Early::none())
}

/// [`attach`], with what `early` made before the record came.
pub fn attach_early(
    paths: &Paths,
    record: &mut Record,
    o: &NetOpts,
    mut early: Early,
) -> crate::Result<()> {
    let id = record.require_id()?.to_string();
    let bundle = record.bundle.clone().ok_or_else(|| {
        NetError::BadArgs(
            "the record has no bundle section (run berth-unpack earlier in the pipeline)".into(),
        )
    })?;
    let checking = crate::timings::phase("check");
    spec::check(&bundle.path)?;
    let containers = Containers::new(paths);
    if record.network.is_some() {
        // Running the stage again replaces the old set-up.
        detach(paths, &id)?;
        record.network = None;
    }

    // 1. Everything is checked before anything is made.
    let plan = check::check(paths, &containers, &id, &bundle, o)?;
    drop(checking);

    // 2. The journal: what is about to exist, so that rm can find it after a crash.
    record.network = Some(journal(paths, &id, &plan, o, &bundle));
    save(&containers, record)?;

    // 3-4. The kernel side; undone by detach on any failure.
    let section = record.network.as_mut().expect("set above");
    let journaled = section.clone();
    if let Err(e) = make(paths, &id, &plan, section, &mut early) {
        let _ = containers.save(record);
        let _ = detach(paths, &id);
        return Err(e);
    }
    // What the kernel side learnt (an address, ports), saved before the files when teardown
    // needs it: to regenerate the container's rules. Without rules (`no_rules`: no published
    // port, no link rule) teardown finds all it made from the id and the journal (netns and
    // veth by name, the address by the IPAM file holding the id), and `none` adds nothing.
    let section = record.network.as_ref().expect("set above");
    if *section != journaled && !section.no_rules {
        save(&containers, record)?;
    }

    // 5. Files and config.json.
    let name = record.name.clone();
    let section = record.network.as_mut().expect("set above");
    let writing = crate::timings::phase("files");
    if let Err(e) = files::finish(paths, &plan, o, &bundle, &name, section) {
        let _ = detach(paths, &id);
        if let Ok(mut r) = containers.load(&id) {
            r.network = None;
            let _ = containers.save(&r);
        }
        record.network = None;
        return Err(e);
    }
    drop(writing);
    save(&containers, record)?;

    // 6. A user-defined network's containers resolve each other through the resolver.
    if let Err(e) = register_dns(paths, record) {
        let _ = detach(paths, &id);
        record.network = None;
        return Err(e);
    }
    // The network `connect` event is the start's (`container::attached`), as in Docker.
    Ok(())
}

/// Saves the record (the `--timings` phase `save`).
fn save(containers: &Containers, record: &Record) -> crate::Result<()> {
    let _p = crate::timings::phase("save");
    Ok(containers.save(record)?)
}

/// Step 6: the container's entry in the resolver's table, for bridge modes on a user-defined
/// network (the default bridge has no name resolution but links, as in Docker).
fn register_dns(paths: &Paths, record: &Record) -> crate::Result<()> {
    let Some(entry) = dns_entry(paths, record)? else {
        return Ok(());
    };
    Ok(dns::register(paths, &record.id, entry)?)
}

/// The resolver's entry for `record`: its namespace, upstream servers and every endpoint on
/// a user-defined network (the one it was made on, and those joined by `network connect`);
/// None when it has none.
pub fn dns_entry(paths: &Paths, record: &Record) -> Result<Option<dns::Entry>, NetError> {
    let Some(s) = &record.network else {
        return Ok(None);
    };
    let Some(netns) = s.netns.clone().filter(|_| s.joined.is_none()) else {
        return Ok(None);
    };
    let mut endpoints = Vec::new();
    let names = |aliases: &[String]| dns::dns_names(&record.name, aliases, &record.id, &s.hostname);
    let ip6 = |a: &Option<String>| a.as_deref().and_then(|a| a.parse().ok());
    if let (Some(net), Some(ip)) = (&s.network, &s.ip_address)
        && dns::serves(net)
        && let Ok(ip) = ip.parse()
    {
        endpoints.push(dns::Endpoint {
            network: net.clone(),
            ip,
            ip6: ip6(&s.ipv6_address),
            names: names(&s.aliases),
        });
    }
    for c in &s.connected {
        if let (true, Ok(ip)) = (dns::serves(&c.network), c.ip_address.parse()) {
            endpoints.push(dns::Endpoint {
                network: c.network.clone(),
                ip,
                ip6: ip6(&c.ipv6_address),
                names: names(&c.aliases),
            });
        }
    }
    if endpoints.is_empty() {
        return Ok(None);
    }
    let config = networks::DefaultConfig::load(paths)?;
    let host = dnsfiles::host_resolv_conf(config.resolv_conf.as_deref());
    // Docker's resolver answers for running containers only: one created and not started,
    // or stopped, is in the table (its sockets stay bound) but invisible to the others until
    // it runs (`dns::set_running`, from the container's start and exit).
    let status = record.state.as_ref().map(|s| s.status).unwrap_or_default();
    Ok(Some(dns::Entry {
        netns,
        upstreams: dns::upstreams(&host, &s.dns),
        endpoints,
        stopped: !matches!(status, Status::Running | Status::Paused),
    }))
}

/// Step 2: the network section naming everything the set-up is about to make (the
/// namespace, the bridge and veth, the links and ports), saved before any of it exists.
fn journal(
    paths: &Paths,
    id: &str,
    plan: &Plan,
    o: &NetOpts,
    bundle: &BundleSection,
) -> NetworkSection {
    let hostname = match &plan.mode {
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
            .unwrap_or_else(|| ids::short(id).to_string()),
    };
    let mut section = NetworkSection {
        mode: plan.mode_name.clone(),
        hostname,
        dns: o.dns.clone(),
        dns_search: o.dns_search.clone(),
        dns_options: o.dns_options.clone(),
        extra_hosts: o.add_host.clone(),
        links: plan.links.clone(),
        exposed_ports: plan.exposed.clone(),
        publish_all: o.publish_all,
        aliases: o.aliases.clone(),
        ..Default::default()
    };
    match &plan.mode {
        Mode::None => section.netns = Some(paths.netns(id)),
        Mode::Container(t) => {
            section.joined = Some(t.id.clone());
            section.netns = t.network.as_ref().and_then(|n| n.netns.clone());
        }
        Mode::Bridge(n) => {
            section.netns = Some(paths.netns(id));
            section.network = Some(n.name.clone());
            section.network_id = Some(n.id.clone());
            section.bridge = Some(n.bridge.clone());
            section.host_veth = Some(veth_name(id));
            section.gateway = n.gateway.map(|g| g.to_string());
            section.prefix_len = n.subnet.map(|s| s.prefix_len());
            section.fixed = FixedAddrs::of(plan.wanted_ip, plan.wanted_ip6);
            // Links make rules only where icc is off (`firewall::section_rules`).
            section.no_rules = plan.wanted.is_empty() && (n.icc || plan.links.is_empty());
        }
        Mode::Host => {}
    }
    section
}

/// Steps 3-4: the kernel side. None: a namespace with loopback up; bridge: ports, namespace,
/// address, bridge, rules and veth; host and joined: nothing.
fn make(
    paths: &Paths,
    id: &str,
    plan: &Plan,
    section: &mut NetworkSection,
    early: &mut Early,
) -> crate::Result<()> {
    match &plan.mode {
        Mode::None => {
            let fresh = early.namespace()?;
            fresh.bind(&paths.netns(id))?;
        }
        Mode::Bridge(net) => {
            bridge::bring_up(
                paths,
                id,
                net,
                early,
                &plan.wanted,
                bridge::Fixed {
                    ip: plan.wanted_ip,
                    ip6: plan.wanted_ip6,
                    mac: plan.mac,
                },
                section,
            )?;
        }
        Mode::Host | Mode::Container(_) => {}
    }
    Ok(())
}

fn host_hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}
