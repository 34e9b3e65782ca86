//! Firewall rules, written as one `iptables-restore --noflush` batch per change (one exec, one
//! atomic nf_tables transaction: either every rule of a set-up is in, or none), never one
//! exec per rule.
//!
//! Chains (all berth's own; the built-in chains only get one jump each):
//!
//! ```text
//! nat    PREROUTING  ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH-DNAT   published ports
//! nat    OUTPUT      -m addrtype --dst-type LOCAL -j BERTH-DNAT      ... from the host itself
//! nat    POSTROUTING -j BERTH-POSTROUTING                             outbound NAT, hairpin, 127/8
//! filter FORWARD     -j BERTH-FORWARD                                 accept/drop per bridge
//!        BERTH-FORWARD: -j BERTH-LINKS (icc=false exceptions), -j BERTH-ISOLATION (no traffic
//!        between two berth networks), then per network: established, published, outbound, icc
//! raw    PREROUTING  -d 127.0.0.0/8 -j BERTH-LOCALNET                 per network: -i BRIDGE -j DROP
//! ```
//!
//! The loopback boundary (CVE-2020-8558): a port published on 127.0.0.1 is reached only from
//! the host itself, through nat OUTPUT. Its DNAT keeps the loopback source, so the bridge has
//! `route_localnet=1` to let that traffic out (masqueraded to the bridge's address) and the
//! replies in. That sysctl would also let a container (with its default CAP_NET_RAW) address a
//! frame to the gateway with destination 127.0.0.1 and reach any host service bound to
//! loopback, so raw PREROUTING drops every packet arriving on a berth bridge for 127.0.0.0/8,
//! before conntrack and NAT: legitimate replies still carry the bridge's address there (they
//! are un-NATed later). Traffic from elsewhere (a LAN neighbour routing 127.0.0.0/8 to the
//! host) is never DNAT'd: the PREROUTING jump skips 127.0.0.0/8, and the kernel drops it as
//! martian on any interface without route_localnet. berth does not add a host-wide drop: it
//! turns route_localnet on only on its own bridges, and a host-wide rule would change
//! interfaces berth does not own.
//!
//! Every rule carries a comment saying whose it is: `berth` (the jumps and chain prologues),
//! `berth-net:<network id>` (a network's rules, present while its bridge exists) or
//! `berth:<container id>` (a container's ports and links). Teardown deletes exactly the rules
//! it regenerates from the record; if that batch fails (a rule went missing, e.g. after an
//! interrupted set-up or a manual flush), it falls back to deleting every rule whose comment
//! carries the tag, found with `iptables-save`. Link rules also carry `berth-peer:<target id>`,
//! so removing a container removes the links *to* it.
//!
//! What set-up adds and teardown deletes comes from one function per owner, so the two cannot
//! drift: [`global_rules`] (the jumps, with the first bridge), [`network_rules`] (with the
//! network's bridge), [`section_rules`] (from the container record's network section: set-up,
//! `net::attach`, and teardown, `net::detach`, both call it). Set-up is one batch (two execs
//! only for the first network on the machine after a crash: see `host`), and none for a
//! container with no rules of its own once its bridge is up; a user-defined network's last
//! container's teardown deletes its rules, its network's and berth's chains in one batch (the
//! default network's are kept with its bridge until prune: `detach::idle_bridge_down`).
//!
//! Others draw the loopback line elsewhere: Kubernetes drops `! -s 127.0.0.0/8 -d 127.0.0.0/8`
//! that is not ESTABLISHED/DNAT in filter INPUT on every interface, because kube-proxy turns
//! route_localnet on everywhere; Docker 28 drops `-d 127.0.0.1 ! -i lo` per loopback-published
//! port in raw PREROUTING. Bridges an older berth brought up keep running across an upgrade:
//! `/run/berth-net/chains` names the rules' layout, and the next set-up that finds an older
//! one replaces the jumps and gives every berth bridge its drop, under the machine-wide lock,
//! in one batch (`host::upgrade_if_stale`). Proof: `tests/tests/security_net.rs`.
//!
//! Dual-stack (`--ipv6`) networks add their IPv6 rules in ip6tables (`v6`), from the same
//! record and with the same tags.

mod dnat;
mod iptables;
pub mod v6;

use std::net::Ipv4Addr;

pub use iptables::{
    Batch, Rule, Saved, Table, apply, apply6, delete_tagged, has_tag, parse_saved, save, save6,
};

use super::networks::Network;
use super::ports::split_port;
use crate::protocol::{LinkInfo, NetworkSection, PortBinding};

pub const DNAT: &str = "BERTH-DNAT";
pub const POSTROUTING: &str = "BERTH-POSTROUTING";
pub const FORWARD: &str = "BERTH-FORWARD";
pub const LINKS: &str = "BERTH-LINKS";
pub const ISOLATION: &str = "BERTH-ISOLATION";
pub const ISOLATION2: &str = "BERTH-ISOLATION-2";
/// raw: traffic for 127.0.0.0/8 that arrived on a berth bridge (dropped).
pub const LOCALNET: &str = "BERTH-LOCALNET";

/// Every chain of berth's, by table.
const CHAINS: [(Table, &str); 7] = [
    (Table::Nat, DNAT),
    (Table::Nat, POSTROUTING),
    (Table::Filter, FORWARD),
    (Table::Filter, LINKS),
    (Table::Filter, ISOLATION),
    (Table::Filter, ISOLATION2),
    (Table::Raw, LOCALNET),
];

/// 127.0.0.0/8.
const LOOPBACK_NET: &str = "127.0.0.0/8";

/// The comment on the jumps and prologues.
pub const GLOBAL_TAG: &str = "berth";

/// The jumps from the built-in chains and the prologues of berth's chains.
pub fn global_rules() -> Vec<Rule> {
    let g = GLOBAL_TAG;
    let mut v = vec![
        // From outside, never to a loopback address: a port published on 127.0.0.1 is the
        // host's own (OUTPUT, below), not a LAN neighbour's that routes 127.0.0.0/8 here.
        Rule::new(
            Table::Nat,
            "PREROUTING",
            format!("! -d {LOOPBACK_NET} -m addrtype --dst-type LOCAL -j {DNAT}"),
            g,
        ),
        Rule::new(
            Table::Nat,
            "OUTPUT",
            format!("-m addrtype --dst-type LOCAL -j {DNAT}"),
            g,
        ),
        Rule::new(Table::Nat, "POSTROUTING", format!("-j {POSTROUTING}"), g),
        Rule::new(Table::Filter, "FORWARD", format!("-j {FORWARD}"), g),
        Rule::new(
            Table::Raw,
            "PREROUTING",
            format!("-d {LOOPBACK_NET} -j {LOCALNET}"),
            g,
        ),
    ];
    for r in &mut v {
        r.first = true;
    }
    v.extend([
        Rule::new(Table::Filter, FORWARD, format!("-j {LINKS}"), g),
        Rule::new(Table::Filter, FORWARD, format!("-j {ISOLATION}"), g),
        // A reply, or a published port reached from another network, may cross networks.
        Rule::new(
            Table::Filter,
            ISOLATION,
            "-m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j RETURN".into(),
            g,
        ),
    ]);
    v
}

/// A batch that creates berth's chains and their jumps, first removing whatever an earlier,
/// interrupted run left of them (`saved`).
pub fn create_globals(saved: &Saved, batch: &mut Batch) {
    remove_globals(saved, batch, false);
    for (t, c) in CHAINS {
        if !saved.chains.contains(&(t, c.to_string())) {
            batch.declare(t, c);
        }
    }
    batch.add(&global_rules());
}

/// Whether a saved rule is a jump from a built-in chain to one of berth's.
fn is_jump(line: &str) -> bool {
    let chain = line[3..].split_whitespace().next().unwrap_or("");
    !chain.starts_with("BERTH-") && line.contains(" -j BERTH-")
}

/// Brings what an older berth made, while its bridges are still up, to today's rules in one
/// batch: its jumps from built-in chains are replaced by [`global_rules`]' (the nat
/// PREROUTING jump of older versions took 127.0.0.0/8 too), missing chains are made with
/// their global rules, and each bridge in `bridges` (name, network tag) lacking its loopback
/// drop gets it. What this adds is what today's teardown deletes. Idempotent.
pub fn upgrade_globals(saved: &Saved, bridges: &[(String, String)], batch: &mut Batch) {
    for (t, line) in saved.rules.iter().filter(|(_, l)| is_jump(l)) {
        batch.raw(*t, format!("-D {}", &line[3..]));
    }
    let missing: Vec<(Table, &str)> = CHAINS
        .into_iter()
        .filter(|(t, c)| !saved.chains.contains(&(*t, c.to_string())))
        .collect();
    for (t, c) in &missing {
        batch.declare(*t, c);
    }
    let wanted: Vec<Rule> = global_rules()
        .into_iter()
        .filter(|r| r.first || missing.contains(&(r.table, r.chain.as_str())))
        .collect();
    batch.add(&wanted);
    let head = format!("-A {LOCALNET} ");
    for (br, tag) in bridges {
        let has = saved
            .rules
            .iter()
            .any(|(t, l)| *t == Table::Raw && l.starts_with(&head) && has_tag(l, tag));
        if !has {
            batch.add(&[localnet_rule(br, tag)]);
        }
    }
}

/// A batch that removes berth's jumps and (with `drop_chains`) its chains; without it, the
/// existing chains are only flushed.
pub fn remove_globals(saved: &Saved, batch: &mut Batch, drop_chains: bool) {
    for (t, line) in saved.rules.iter().filter(|(_, l)| is_jump(l)) {
        batch.raw(*t, format!("-D {}", &line[3..]));
    }
    for (t, c) in &saved.chains {
        batch.raw(*t, format!("-F {c}"));
    }
    if drop_chains {
        for (t, c) in &saved.chains {
            batch.raw(*t, format!("-X {c}"));
        }
    }
}

/// Appends the removal of berth's jumps and chains, as [`create_globals`] makes them, to
/// `batch` (no iptables-save: the exact rules are known).
pub fn delete_globals_known(batch: &mut Batch) {
    let g = global_rules();
    for r in g.iter().filter(|r| r.first) {
        batch.raw(r.table, format!("-D {} {}", r.chain, r.spec));
    }
    for (t, c) in CHAINS {
        batch.raw(t, format!("-F {c}"));
    }
    for (t, c) in CHAINS {
        batch.raw(t, format!("-X {c}"));
    }
}

/// The loopback boundary of bridge `br` (tagged `tag`, its network's): the bridge has
/// route_localnet=1 (for the loopback NAT of [`network_rules`]), so nothing that arrives on it
/// may be addressed to 127.0.0.0/8 (the raw jump sends only such packets to this chain).
fn localnet_rule(br: &str, tag: &str) -> Rule {
    Rule::new(Table::Raw, LOCALNET, format!("-i {br} -j DROP"), tag)
}

/// A network's rules: the loopback boundary, outbound NAT, the hairpin and loopback NAT for
/// published ports, and forwarding (isolation from other networks, established replies,
/// published ports, outbound, and inter-container traffic by `icc`). Set-up adds exactly
/// these with the bridge, and teardown deletes exactly these with it.
pub fn network_rules(net: &Network) -> Vec<Rule> {
    let tag = net.tag();
    let br = &net.bridge;
    let Some(subnet) = net.subnet else {
        return Vec::new();
    };
    let mut v = vec![localnet_rule(br, &tag)];
    if net.masquerade && !net.internal {
        v.push(Rule::new(
            Table::Nat,
            POSTROUTING,
            format!("-s {subnet} ! -o {br} -j MASQUERADE"),
            &tag,
        ));
    }
    // `curl 127.0.0.1:PORT` on the host: DNAT in OUTPUT keeps the loopback source, which the
    // container could never answer; with route_localnet=1 on the bridge it may leave, and
    // this rewrites it to the bridge's address.
    v.push(Rule::new(
        Table::Nat,
        POSTROUTING,
        format!("-s 127.0.0.0/8 -o {br} -j MASQUERADE"),
        &tag,
    ));
    // Hairpin: a container reaching a published port through the host's address; without
    // this the reply would go straight back over the bridge from an unexpected source.
    v.push(Rule::new(
        Table::Nat,
        POSTROUTING,
        format!("-s {subnet} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE"),
        &tag,
    ));
    v.extend(forward_rules(net, &tag));
    v
}

/// A network's filter rules, the same in both families: isolation from other networks,
/// established replies, published ports, outbound, and inter-container traffic by `icc`.
pub(crate) fn forward_rules(net: &Network, tag: &str) -> Vec<Rule> {
    let br = &net.bridge;
    let mut v = Vec::new();
    v.push(Rule::new(
        Table::Filter,
        ISOLATION,
        format!("-i {br} ! -o {br} -j {ISOLATION2}"),
        tag,
    ));
    v.push(Rule::new(
        Table::Filter,
        ISOLATION2,
        format!("-o {br} -j DROP"),
        tag,
    ));
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        tag,
    ));
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-o {br} -m conntrack --ctstate DNAT -j ACCEPT"),
        tag,
    ));
    let out = if net.internal { "DROP" } else { "ACCEPT" };
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-i {br} ! -o {br} -j {out}"),
        tag,
    ));
    if net.internal {
        v.push(Rule::new(
            Table::Filter,
            FORWARD,
            format!("! -i {br} -o {br} -j DROP"),
            tag,
        ));
    }
    let icc = if net.icc { "ACCEPT" } else { "DROP" };
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-i {br} -o {br} -j {icc}"),
        tag,
    ));
    v
}

/// A link's exception to icc=false: `from` may open connections to `to` on `ports` (every
/// port when the target exposes none).
#[derive(Debug, Clone)]
pub struct LinkRule {
    pub from: Ipv4Addr,
    pub to: Ipv4Addr,
    /// `(port, proto)`.
    pub ports: Vec<(u16, String)>,
    /// The target's id, so the target's removal can find and delete the rule too.
    pub to_id: String,
}

pub fn container_tag(id: &str) -> String {
    format!("berth:{id}")
}

pub fn peer_tag(id: &str) -> String {
    format!("berth-peer:{id}")
}

/// The rules of a container on bridge network `net`, from its record's network section
/// (address, bridge, ports, links): the one source of what set-up (`attach`) adds and
/// teardown (`detach`) deletes. Links make rules only when the network's `icc` is off; when
/// the network's definition is gone (`None`), its link rules are included in case it was off
/// (teardown's batch then fails on a rule that was never made, and falls back to deleting by
/// the container's tag).
pub fn section_rules(id: &str, s: &NetworkSection, net: Option<&Network>) -> Vec<Rule> {
    let (Some(ip), Some(bridge)) = (
        s.ip_address.as_deref().and_then(|i| i.parse().ok()),
        s.bridge.as_deref(),
    ) else {
        return Vec::new();
    };
    let links = if net.is_some_and(|n| n.icc) {
        Vec::new()
    } else {
        link_rules(ip, &s.links)
    };
    container_rules(id, bridge, ip, &s.ports, &links)
}

/// The icc=false exceptions of a container at `from` for its links.
fn link_rules(from: Ipv4Addr, links: &[LinkInfo]) -> Vec<LinkRule> {
    links
        .iter()
        .filter_map(|l| {
            Some(LinkRule {
                from,
                to: l.ip_address.parse().ok()?,
                ports: l
                    .ports
                    .iter()
                    .filter_map(|p| split_port(p).ok().map(|(n, proto)| (n, proto.to_string())))
                    .collect(),
                to_id: l.id.clone(),
            })
        })
        .collect()
}

/// A container's rules: one DNAT per run of published ports (`dnat`), and its links'
/// exceptions.
pub fn container_rules(
    id: &str,
    bridge: &str,
    ip: Ipv4Addr,
    ports: &[PortBinding],
    links: &[LinkRule],
) -> Vec<Rule> {
    let tag = container_tag(id);
    let dst = |host_ip: &str| {
        if host_ip == "0.0.0.0" || host_ip.is_empty() {
            String::new()
        } else {
            format!("-d {host_ip}/32 ")
        }
    };
    let v4 = ports.iter().filter(|p| !p.host_ip.contains(':'));
    let mut v: Vec<Rule> = dnat::specs(v4, ip.into(), dst)
        .into_iter()
        .map(|spec| Rule::new(Table::Nat, DNAT, spec, &tag))
        .collect();
    for l in links {
        let peer = peer_tag(&l.to_id);
        let base = format!("-s {}/32 -d {}/32 -i {bridge} -o {bridge}", l.from, l.to);
        if l.ports.is_empty() {
            v.push(Rule::new(
                Table::Filter,
                LINKS,
                format!("{base} -m comment --comment {peer} -j ACCEPT"),
                &tag,
            ));
        }
        for (port, proto) in &l.ports {
            v.push(Rule::new(
                Table::Filter,
                LINKS,
                format!(
                    "{base} -p {proto} -m {proto} --dport {port} -m comment --comment {peer} -j ACCEPT"
                ),
                &tag,
            ));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_one_document_per_table() {
        let mut b = Batch::default();
        let ports = [PortBinding {
            host_ip: "127.0.0.1".into(),
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
        }];
        let rules = container_rules("abc", "br0", "10.0.0.2".parse().unwrap(), &ports, &[]);
        b.add(&rules);
        assert_eq!(
            b.text(),
            "*nat\n-A BERTH-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80 -m comment --comment berth:abc\nCOMMIT\n"
        );
        let mut d = Batch::default();
        d.delete(&rules);
        assert!(d.text().contains("-D BERTH-DNAT -d 127.0.0.1/32"));
    }

    fn network(icc: bool) -> Network {
        serde_json::from_value(serde_json::json!({
            "name": "n", "id": "0123456789abcdef", "driver": "bridge",
            "created": "2026-01-01T00:00:00Z", "bridge": "br-t", "subnet": "10.9.0.0/24",
            "gateway": "10.9.0.1", "icc": icc
        }))
        .unwrap()
    }

    fn spec_of<'a>(rules: &'a [Rule], table: Table, chain: &str) -> Vec<&'a str> {
        rules
            .iter()
            .filter(|r| r.table == table && r.chain == chain)
            .map(|r| r.spec.as_str())
            .collect()
    }

    #[test]
    fn loopback_is_dnat_only_from_the_host_and_dropped_from_bridges() {
        let g = global_rules();
        // Published ports: every local address from outside except 127.0.0.0/8; from the host
        // itself (nat OUTPUT), loopback too.
        assert_eq!(
            spec_of(&g, Table::Nat, "PREROUTING"),
            [
                "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH-DNAT -m comment --comment berth"
            ]
        );
        assert_eq!(
            spec_of(&g, Table::Nat, "OUTPUT"),
            ["-m addrtype --dst-type LOCAL -j BERTH-DNAT -m comment --comment berth"]
        );
        // raw: only 127.0.0.0/8 goes to the chain, at the top of PREROUTING.
        let jump: Vec<&Rule> = g.iter().filter(|r| r.table == Table::Raw).collect();
        assert_eq!(jump.len(), 1);
        assert!(jump[0].first && jump[0].chain == "PREROUTING");
        assert!(
            jump[0]
                .spec
                .starts_with("-d 127.0.0.0/8 -j BERTH-LOCALNET ")
        );
        // A network drops what arrives on its bridge for 127.0.0.0/8, under its own tag.
        let net = network(true);
        assert_eq!(
            spec_of(&network_rules(&net), Table::Raw, LOCALNET),
            ["-i br-t -j DROP -m comment --comment berth-net:0123456789ab"]
        );
    }

    #[test]
    fn globals_are_made_and_removed_in_every_table() {
        let mut make = Batch::default();
        create_globals(&Saved::default(), &mut make);
        let made = make.text();
        for (t, c) in CHAINS {
            let section = made.split(&format!("*{}\n", t.name())).nth(1).unwrap();
            let section = section.split("COMMIT").next().unwrap();
            assert!(section.contains(&format!(":{c} - [0:0]")), "{made}");
        }
        assert!(made.contains("*raw\n:BERTH-LOCALNET - [0:0]\n-I PREROUTING 1 -d 127.0.0.0/8 -j BERTH-LOCALNET -m comment --comment berth\nCOMMIT\n"), "{made}");
        let mut gone = Batch::default();
        delete_globals_known(&mut gone);
        let gone = gone.text();
        assert!(
            gone.contains("*raw\n-D PREROUTING -d 127.0.0.0/8 -j BERTH-LOCALNET -m comment --comment berth\n-F BERTH-LOCALNET\n-X BERTH-LOCALNET\nCOMMIT\n"),
            "{gone}"
        );
        // Every jump made is deleted.
        for r in global_rules().iter().filter(|r| r.first) {
            assert!(
                gone.contains(&format!("-D {} {}", r.chain, r.spec)),
                "{gone}"
            );
        }
    }

    #[test]
    fn set_up_and_teardown_rules_come_from_the_record() {
        let section = NetworkSection {
            bridge: Some("br-t".into()),
            ip_address: Some("10.9.0.3".into()),
            ports: vec![PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
            }],
            links: vec![LinkInfo {
                name: "db".into(),
                alias: "db".into(),
                id: "feed".into(),
                ip_address: "10.9.0.2".into(),
                ports: vec!["5432/tcp".into()],
            }],
            ..Default::default()
        };
        let open = section_rules("c1", &section, Some(&network(true)));
        assert_eq!(open.len(), 1, "icc on: no link rules: {open:?}");
        let closed = section_rules("c1", &section, Some(&network(false)));
        assert_eq!(
            spec_of(&closed, Table::Filter, LINKS),
            [
                "-s 10.9.0.3/32 -d 10.9.0.2/32 -i br-t -o br-t -p tcp -m tcp --dport 5432 -m comment --comment berth-peer:feed -j ACCEPT -m comment --comment berth:c1"
            ]
        );
        assert_eq!(
            spec_of(&section_rules("c1", &section, None), Table::Filter, LINKS),
            spec_of(&closed, Table::Filter, LINKS),
            "network gone: its link rules are tried too"
        );
        assert!(section_rules("c1", &NetworkSection::default(), None).is_empty());
    }

    #[test]
    fn an_older_layout_is_upgraded_in_place() {
        // What berth made before the loopback boundary: no raw chain, and a PREROUTING jump
        // that DNATs 127.0.0.0/8 from outside.
        let old = "*nat\n:BERTH-DNAT - [0:0]\n:BERTH-POSTROUTING - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH-DNAT\n-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH-DNAT\n-A POSTROUTING -m comment --comment berth -j BERTH-POSTROUTING\nCOMMIT\n*filter\n:BERTH-FORWARD - [0:0]\n:BERTH-LINKS - [0:0]\n:BERTH-ISOLATION - [0:0]\n:BERTH-ISOLATION-2 - [0:0]\n-A FORWARD -m comment --comment berth -j BERTH-FORWARD\nCOMMIT\n";
        let bridges = [("br-t".to_string(), "berth-net:0123456789ab".to_string())];
        let mut b = Batch::default();
        upgrade_globals(&parse_saved(old), &bridges, &mut b);
        let t = b.text();
        assert!(t.contains("-D PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH-DNAT\n"), "{t}");
        assert!(
            t.contains("-I PREROUTING 1 ! -d 127.0.0.0/8 -m addrtype"),
            "{t}"
        );
        assert!(
            t.contains("*raw\n:BERTH-LOCALNET - [0:0]\n-I PREROUTING 1 -d 127.0.0.0/8 -j BERTH-LOCALNET -m comment --comment berth\n-A BERTH-LOCALNET -i br-t -j DROP -m comment --comment berth-net:0123456789ab\nCOMMIT\n"),
            "{t}"
        );
        // The chains that exist keep their rules (no prologue twice).
        assert!(!t.contains("-A BERTH-FORWARD"), "{t}");
        // Today's layout: only the jumps are renewed, and no bridge gets a second drop.
        let mut now = Batch::default();
        create_globals(&Saved::default(), &mut now);
        let current = now.text().replace("-I PREROUTING 1 ", "-A PREROUTING ")
            + "*raw\n-A BERTH-LOCALNET -i br-t -m comment --comment berth-net:0123456789ab -j DROP\nCOMMIT\n";
        let mut again = Batch::default();
        upgrade_globals(&parse_saved(&current), &bridges, &mut again);
        let t = again.text();
        assert!(!t.contains(":BERTH-") && !t.contains("-A BERTH-"), "{t}");
    }

    #[test]
    fn saved_rules_are_found_by_tag() {
        let text = "*raw\n:PREROUTING ACCEPT [0:0]\n:BERTH-LOCALNET - [0:0]\n-A PREROUTING -d 127.0.0.0/8 -m comment --comment berth -j BERTH-LOCALNET\n-A BERTH-LOCALNET -i br-t -m comment --comment berth-net:0123456789ab -j DROP\nCOMMIT\n*nat\n:PREROUTING ACCEPT [0:0]\n:BERTH-DNAT - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH-DNAT\n-A BERTH-DNAT -p tcp -m tcp --dport 1 -m comment --comment \"berth:abc\" -j DNAT --to-destination 10.0.0.2:1\n-A BERTH-DNAT -p tcp -m tcp --dport 2 -m comment --comment \"berth:abcd\" -j DNAT --to-destination 10.0.0.3:1\nCOMMIT\n";
        let s = parse_saved(text);
        assert_eq!(
            s.chains,
            vec![
                (Table::Raw, "BERTH-LOCALNET".to_string()),
                (Table::Nat, "BERTH-DNAT".to_string())
            ]
        );
        let mut b = Batch::default();
        delete_tagged(&s, &["berth:abc".into()], &mut b);
        assert_eq!(b.text().matches("-D ").count(), 1);
        let mut g = Batch::default();
        remove_globals(&s, &mut g, true);
        let t = g.text();
        assert!(t.contains("-D PREROUTING -m addrtype"), "{t}");
        assert!(t.contains("-X BERTH-DNAT"), "{t}");
        assert!(
            t.contains("*raw\n-D PREROUTING -d 127.0.0.0/8 -m comment --comment berth -j BERTH-LOCALNET\n-F BERTH-LOCALNET\n-X BERTH-LOCALNET\nCOMMIT"),
            "{t}"
        );
        let mut n = Batch::default();
        delete_tagged(&s, &["berth-net:0123456789ab".into()], &mut n);
        assert_eq!(
            n.text(),
            "*raw\n-D BERTH-LOCALNET -i br-t -m comment --comment berth-net:0123456789ab -j DROP\nCOMMIT\n"
        );
    }
}
