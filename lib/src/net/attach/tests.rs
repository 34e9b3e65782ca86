//! Set-up and teardown agree on the firewall: the rules `detach` deletes, regenerated from
//! the saved record, are exactly the rules `attach` added.

use std::net::Ipv4Addr;

use super::check::{self, Mode};
use super::{NetOpts, bridge, journal};
use crate::net::detach::teardown_rules;
use crate::net::firewall::{self, Table};
use crate::net::networks::{self, CreateOpts};
use crate::paths::Paths;
use crate::protocol::{BundleSection, NetworkSection, PortBinding, Record, StateSection, Status};
use crate::state::Containers;

/// A created (not yet started) container on `net` at `ip`, exposing `ports`.
fn target(c: &Containers, name: &str, net: &str, ip: &str, ports: &[&str]) -> String {
    let (id, name) = c.create(Some(name)).unwrap();
    let record = Record {
        berth: crate::protocol::PROTOCOL_VERSION,
        id: id.clone(),
        name,
        state: Some(StateSection {
            status: Status::Created,
            ..Default::default()
        }),
        network: Some(NetworkSection {
            mode: net.into(),
            network: Some(net.into()),
            ip_address: Some(ip.into()),
            exposed_ports: ports.iter().map(|p| p.to_string()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    c.save(&record).unwrap();
    id
}

#[test]
fn detach_removes_exactly_the_rules_attach_added() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
    let containers = Containers::new(&paths);
    // A user-defined network with icc off, so links make rules of their own.
    networks::create(
        &paths,
        &CreateOpts {
            name: "appnet".into(),
            subnets: vec!["10.231.7.0/24".into()],
            icc: Some(false),
            ..Default::default()
        },
    )
    .unwrap();
    let db = target(&containers, "db", "appnet", "10.231.7.2", &["5432/tcp"]);
    let kv = target(&containers, "cache", "appnet", "10.231.7.4", &[]);
    let (id, name) = containers.create(Some("web")).unwrap();
    let mut bundle = BundleSection {
        path: paths.container(&id),
        ..Default::default()
    };
    bundle.config.exposed_ports = vec!["80/tcp".into()];
    let o = NetOpts {
        network: Some("appnet".into()),
        publish: vec!["8080:80".into(), "127.0.0.1:9000:90/udp".into()],
        links: vec!["db".into(), "cache:kv".into()],
        ..Default::default()
    };

    // attach: steps 1 and 2, then what step 3 reserves and step 4 allocates.
    let plan = check::check(&paths, &containers, &id, &bundle, &o).unwrap();
    let Mode::Bridge(net) = &plan.mode else {
        panic!("appnet is a bridge network");
    };
    let mut section = journal(&paths, &id, &plan, &o, &bundle);
    section.ports = plan
        .wanted
        .iter()
        .map(|w| PortBinding {
            host_ip: w.host_ip.to_string(),
            host_port: w.host_range.expect("fixed host port").0,
            container_port: w.container_port,
            protocol: w.proto.to_string(),
        })
        .collect();
    let ip: Ipv4Addr = "10.231.7.3".parse().unwrap();
    let added = bridge::addressed(&mut section, &id, net, ip, bridge::mac_for(ip));
    containers
        .save(&Record {
            berth: crate::protocol::PROTOCOL_VERSION,
            id: id.clone(),
            name,
            network: Some(section),
            ..Default::default()
        })
        .unwrap();

    // The rules are the ports' and the links'.
    let of = |t: Table, chain: &str| {
        added
            .iter()
            .filter(|r| r.table == t && r.chain == chain)
            .count()
    };
    assert_eq!(of(Table::Nat, firewall::DNAT), 2, "{added:#?}");
    // db: its one exposed port; kv exposes none: every port.
    assert_eq!(of(Table::Filter, firewall::LINKS), 2, "{added:#?}");
    for (peer, port) in [(&db, Some("--dport 5432 ")), (&kv, None)] {
        let tag = firewall::peer_tag(peer);
        let r = added
            .iter()
            .find(|r| r.spec.contains(&tag))
            .expect("link rule");
        assert_eq!(
            port.is_some_and(|p| r.spec.contains(p)),
            port.is_some(),
            "{r:?}"
        );
    }
    // Every one carries the container's tag: the fallback by tag finds them too.
    let tag = firewall::container_tag(&id);
    assert!(
        added.iter().all(|r| firewall::has_tag(&r.spec, &tag)),
        "{added:#?}"
    );

    // detach: from the record as saved on disk.
    let saved = containers.load(&id).unwrap().network.unwrap();
    let (removed, gone) = teardown_rules(&paths, &id, "appnet", &saved).unwrap();
    assert!(gone.is_some());
    assert_eq!(removed, added);
}

#[test]
fn the_resolvers_entry_has_every_user_network_and_none_for_the_default_bridge() {
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
    let conf = tmp.path().join("host-resolv.conf");
    std::fs::write(&conf, "nameserver 127.0.0.53\nsearch corp.example\n").unwrap();
    std::fs::create_dir_all(paths.networks()).unwrap();
    std::fs::write(
        paths.networks().join("default.json"),
        format!(r#"{{"resolv_conf":"{}"}}"#, conf.display()),
    )
    .unwrap();
    let id = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let mut r = Record {
        id: id.into(),
        name: "web".into(),
        network: Some(NetworkSection {
            mode: "front".into(),
            network: Some("front".into()),
            ip_address: Some("10.1.0.2".into()),
            netns: Some("/run/x/netns/web".into()),
            hostname: "webhost".into(),
            aliases: vec!["www".into()],
            connected: vec![crate::protocol::Attachment {
                network: "back".into(),
                ip_address: "10.2.0.5".into(),
                aliases: vec!["api".into()],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let e = super::dns_entry(&paths, &r).unwrap().unwrap();
    assert_eq!(e.upstreams, ["127.0.0.53:53".parse().unwrap()]);
    let eps: Vec<(&str, String, Vec<&str>)> = e
        .endpoints
        .iter()
        .map(|p| {
            (
                p.network.as_str(),
                p.ip.to_string(),
                p.names.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        eps,
        [
            (
                "front",
                "10.1.0.2".into(),
                vec!["web", "www", "0123456789ab", "webhost"]
            ),
            (
                "back",
                "10.2.0.5".into(),
                vec!["web", "api", "0123456789ab", "webhost"]
            ),
        ]
    );
    // --dns becomes the upstream.
    r.network.as_mut().unwrap().dns = vec!["10.9.9.9".into()];
    let e = super::dns_entry(&paths, &r).unwrap().unwrap();
    assert_eq!(e.upstreams, ["10.9.9.9:53".parse().unwrap()]);
    // The default bridge alone: no entry. Joined namespaces: none either.
    let s = r.network.as_mut().unwrap();
    s.network = Some("bridge".into());
    s.connected.clear();
    assert!(super::dns_entry(&paths, &r).unwrap().is_none());
    let s = r.network.as_mut().unwrap();
    s.network = Some("front".into());
    s.joined = Some("other".into());
    assert!(super::dns_entry(&paths, &r).unwrap().is_none());
}

#[test]
fn a_namespace_is_made_ahead_for_every_mode_that_has_its_own() {
    let mode = |m: Option<&str>| {
        super::own_namespace(&NetOpts {
            network: m.map(str::to_string),
            ..Default::default()
        })
    };
    for own in [None, Some("none"), Some("bridge"), Some("appnet")] {
        assert!(mode(own), "{own:?}");
    }
    for shared in [
        Some("host"),
        Some("container:web"),
        Some("container:0123abcd"),
    ] {
        assert!(!mode(shared), "{shared:?}");
    }
}
