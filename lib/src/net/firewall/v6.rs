//! The IPv6 rules of dual-stack (`--ipv6`) networks, in ip6tables as Docker 28 writes them
//! with `ip6tables` on: the same chains as IPv4 minus the loopback boundary and the links
//! (IPv6 has no `route_localnet`, and legacy links live on the IPv4-only default bridge):
//!
//! ```text
//! nat    PREROUTING  -m addrtype --dst-type LOCAL -j BERTH-DNAT                 published ports
//! nat    OUTPUT      ! -d ::1/128 -m addrtype --dst-type LOCAL -j BERTH-DNAT    ... from the host
//! nat    POSTROUTING -j BERTH-POSTROUTING                                      outbound NAT, hairpin
//! filter FORWARD     -j BERTH-FORWARD   (-j BERTH-ISOLATION, then per network as in IPv4)
//! ```
//!
//! `[::1]:PORT` is not published: without a proxy process the kernel will not route a packet
//! from `::1` out of the host's loopback (Docker reaches it only through docker-proxy), so the
//! OUTPUT jump leaves `::1` alone and a client on the host uses one of the host's other
//! addresses. The chains exist while an IPv6 network's bridge does: the first such bridge
//! declares what `ip6tables-save` does not show, and the teardown that removes the last rule
//! tagged `berth-net:` removes them (`ensure_globals`, `release_globals`). Tags are the same as
//! IPv4's, so teardown's fallback finds a container's or a network's rules by tag here too.

use std::net::Ipv6Addr;

use super::iptables::{Batch, Rule, Saved, Table, apply6, parse_saved, save6};
use super::{
    DNAT, FORWARD, GLOBAL_TAG, ISOLATION, ISOLATION2, POSTROUTING, container_tag, delete_tagged,
    forward_rules, remove_globals,
};
use crate::net::error::Result;
use crate::net::networks::Network;
use crate::protocol::{NetworkSection, PortBinding};

/// berth's IPv6 chains, by table.
const CHAINS6: [(Table, &str); 5] = [
    (Table::Nat, DNAT),
    (Table::Nat, POSTROUTING),
    (Table::Filter, FORWARD),
    (Table::Filter, ISOLATION),
    (Table::Filter, ISOLATION2),
];

/// The jumps from the built-in chains and the prologues of berth's IPv6 chains.
pub fn global_rules6() -> Vec<Rule> {
    let g = GLOBAL_TAG;
    let mut v = vec![
        Rule::new(
            Table::Nat,
            "PREROUTING",
            format!("-m addrtype --dst-type LOCAL -j {DNAT}"),
            g,
        ),
        Rule::new(
            Table::Nat,
            "OUTPUT",
            format!("! -d ::1/128 -m addrtype --dst-type LOCAL -j {DNAT}"),
            g,
        ),
        Rule::new(Table::Nat, "POSTROUTING", format!("-j {POSTROUTING}"), g),
        Rule::new(Table::Filter, "FORWARD", format!("-j {FORWARD}"), g),
    ];
    for r in &mut v {
        r.first = true;
    }
    v.extend([
        Rule::new(Table::Filter, FORWARD, format!("-j {ISOLATION}"), g),
        Rule::new(
            Table::Filter,
            ISOLATION,
            "-m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j RETURN".into(),
            g,
        ),
    ]);
    v
}

/// A dual-stack network's IPv6 rules: outbound NAT (Docker masquerades IPv6 too unless
/// `enable_ip_masquerade` is off), the hairpin for published ports, and forwarding as for
/// IPv4. Empty for an IPv4-only network.
pub fn network_rules6(net: &Network) -> Vec<Rule> {
    let Some((subnet, _)) = net.v6() else {
        return Vec::new();
    };
    let tag = net.tag();
    let br = &net.bridge;
    let mut v = Vec::new();
    if net.masquerade && !net.internal {
        v.push(Rule::new(
            Table::Nat,
            POSTROUTING,
            format!("-s {subnet} ! -o {br} -j MASQUERADE"),
            &tag,
        ));
    }
    v.push(Rule::new(
        Table::Nat,
        POSTROUTING,
        format!("-s {subnet} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE"),
        &tag,
    ));
    v.extend(forward_rules(net, &tag));
    v
}

/// A container's IPv6 rules, from its record's network section: one DNAT per run of ports
/// published on every address (the `::` bindings), to its IPv6 address. Set-up adds and teardown
/// deletes exactly these.
pub fn section_rules6(id: &str, s: &NetworkSection) -> Vec<Rule> {
    match s.ipv6_address.as_deref().and_then(|i| i.parse().ok()) {
        Some(ip) => container_rules6(id, ip, &s.ports),
        None => Vec::new(),
    }
}

fn container_rules6(id: &str, ip: Ipv6Addr, ports: &[PortBinding]) -> Vec<Rule> {
    let tag = container_tag(id);
    let every = ports.iter().filter(|p| p.host_ip == "::");
    super::dnat::specs(every, ip.into(), |_| String::new())
        .into_iter()
        .map(|spec| Rule::new(Table::Nat, DNAT, spec, &tag))
        .collect()
}

/// Adds to `batch` berth's IPv6 chains and jumps that `saved` (ip6tables-save) lacks.
fn declare_missing(saved: &Saved, batch: &mut Batch) {
    let missing: Vec<(Table, &str)> = CHAINS6
        .into_iter()
        .filter(|(t, c)| !saved.chains.contains(&(*t, c.to_string())))
        .collect();
    if missing.len() != CHAINS6.len() && !missing.is_empty() {
        // Half made (an interrupted run): start over.
        remove_globals(saved, batch, false);
    }
    if missing.is_empty() {
        return;
    }
    for (t, c) in CHAINS6 {
        if missing.contains(&(t, c)) {
            batch.declare(t, c);
        }
    }
    batch.add(&global_rules6());
}

/// Under the machine-wide lock, with an IPv6 network's bridge coming up: applies `rules`
/// (the network's and its first container's), with berth's IPv6 chains first if they are not
/// there yet.
pub fn ensure_globals(rules: &[Rule]) -> Result<()> {
    let saved = parse_saved(&save6()?);
    let mut batch = Batch::default();
    declare_missing(&saved, &mut batch);
    batch.add(rules);
    apply6(&batch)
}

/// Deletes `rules` (falling back to every IPv6 rule carrying one of `tags`), and with
/// `last_network` removes berth's IPv6 chains if no network's rule is left in them.
pub fn release(rules: &[Rule], tags: &[String], last_network: bool) -> Result<()> {
    let mut b = Batch::default();
    b.delete(rules);
    if rules.is_empty() || apply6(&b).is_err() {
        let saved = parse_saved(&save6()?);
        let mut b = Batch::default();
        delete_tagged(&saved, tags, &mut b);
        apply6(&b)?;
    }
    if !last_network {
        return Ok(());
    }
    let saved = parse_saved(&save6()?);
    if saved.rules.iter().any(|(_, l)| l.contains("berth-net:")) {
        return Ok(());
    }
    let mut b = Batch::default();
    remove_globals(&saved, &mut b, true);
    apply6(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(ipv6: bool) -> Network {
        serde_json::from_value(serde_json::json!({
            "name": "n", "id": "0123456789abcdef", "driver": "bridge",
            "created": "2026-01-01T00:00:00Z", "bridge": "br-t", "subnet": "10.9.0.0/24",
            "gateway": "10.9.0.1", "ipv6": ipv6, "subnet6": "fd00:db8::/64",
            "gateway6": "fd00:db8::1"
        }))
        .unwrap()
    }

    #[test]
    fn an_ipv6_network_masquerades_and_forwards_and_an_ipv4_one_has_none() {
        assert!(network_rules6(&network(false)).is_empty());
        let r = network_rules6(&network(true));
        let specs: Vec<&str> = r.iter().map(|r| r.spec.as_str()).collect();
        assert!(specs.contains(
            &"-s fd00:db8::/64 ! -o br-t -j MASQUERADE -m comment --comment berth-net:0123456789ab"
        ));
        assert!(
            r.iter()
                .any(|r| r.chain == FORWARD && r.spec.starts_with("-i br-t -o br-t -j ACCEPT"))
        );
    }

    #[test]
    fn only_the_every_address_bindings_are_dnat_to_the_ipv6_address() {
        let mut s = NetworkSection {
            ipv6_address: Some("fd00:db8::2".into()),
            ..Default::default()
        };
        for ip in ["0.0.0.0", "::", "127.0.0.1"] {
            s.ports.push(PortBinding {
                host_ip: ip.into(),
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
            });
        }
        let r = section_rules6("c1", &s);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].spec,
            "-p tcp -m tcp --dport 8080 -j DNAT --to-destination [fd00:db8::2]:80 -m comment --comment berth:c1"
        );
        s.ipv6_address = None;
        assert!(section_rules6("c1", &s).is_empty());
    }

    #[test]
    fn chains_are_declared_only_when_missing() {
        let mut b = Batch::default();
        declare_missing(&Saved::default(), &mut b);
        let t = b.text();
        assert!(
            t.contains(":BERTH-DNAT - [0:0]") && t.contains(":BERTH-ISOLATION-2 - [0:0]"),
            "{t}"
        );
        assert!(t.contains("-I OUTPUT 1 ! -d ::1/128 -m addrtype"), "{t}");
        assert!(!t.contains("*raw"), "{t}");
        let present = parse_saved(&(b.text().replace("-I OUTPUT 1", "-A OUTPUT")));
        let mut again = Batch::default();
        declare_missing(&present, &mut again);
        assert!(again.is_empty(), "{}", again.text());
    }
}
