//! Firewall rules, written as one `iptables-restore --noflush` batch per change (one exec, one
//! atomic nf_tables transaction: either every rule of a set-up is in, or none), never one
//! exec per rule.
//!
//! Chains (all berth's own; the built-in chains only get one jump each):
//!
//! ```text
//! nat    PREROUTING  -m addrtype --dst-type LOCAL -j BERTH-DNAT      published ports
//! nat    OUTPUT      -m addrtype --dst-type LOCAL -j BERTH-DNAT      ... from the host itself
//! nat    POSTROUTING -j BERTH-POSTROUTING                             outbound NAT, hairpin, 127/8
//! filter FORWARD     -j BERTH-FORWARD                                 accept/drop per bridge
//!        BERTH-FORWARD: -j BERTH-LINKS (icc=false exceptions), -j BERTH-ISOLATION (no traffic
//!        between two berth networks), then per network: established, published, outbound, icc
//! ```
//!
//! Every rule carries a comment saying whose it is: `berth` (the jumps and chain prologues),
//! `berth-net:<network id>` (a network's rules, present while its bridge exists) or
//! `berth:<container id>` (a container's ports and links). Teardown deletes exactly the rules
//! it regenerates from the record; if that batch fails (a rule went missing, e.g. after an
//! interrupted set-up or a manual flush), it falls back to deleting every rule whose comment
//! carries the tag, found with `iptables-save`.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::error::{NetError, Result};
use super::networks::Network;
use crate::protocol::PortBinding;

pub const DNAT: &str = "BERTH-DNAT";
pub const POSTROUTING: &str = "BERTH-POSTROUTING";
pub const FORWARD: &str = "BERTH-FORWARD";
pub const LINKS: &str = "BERTH-LINKS";
pub const ISOLATION: &str = "BERTH-ISOLATION";
pub const ISOLATION2: &str = "BERTH-ISOLATION-2";

const NAT_CHAINS: [&str; 2] = [DNAT, POSTROUTING];
const FILTER_CHAINS: [&str; 4] = [FORWARD, LINKS, ISOLATION, ISOLATION2];

/// The comment on the jumps and prologues.
pub const GLOBAL_TAG: &str = "berth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Nat,
    Filter,
}

/// One rule: `-A <chain> <spec>` in `table` (or `-I <chain> 1` when `first`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub table: Table,
    pub chain: String,
    pub spec: String,
    /// Insert at the top instead of appending (the jumps from built-in chains).
    pub first: bool,
}

impl Rule {
    fn new(table: Table, chain: &str, spec: String, tag: &str) -> Rule {
        Rule {
            table,
            chain: chain.to_string(),
            spec: format!("{spec} -m comment --comment {tag}"),
            first: false,
        }
    }
}

/// One iptables-restore document.
#[derive(Debug, Default)]
pub struct Batch {
    nat: Vec<String>,
    filter: Vec<String>,
}

impl Batch {
    fn lines(&mut self, t: Table) -> &mut Vec<String> {
        match t {
            Table::Nat => &mut self.nat,
            Table::Filter => &mut self.filter,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nat.is_empty() && self.filter.is_empty()
    }

    pub fn add(&mut self, rules: &[Rule]) {
        for r in rules {
            let line = if r.first {
                format!("-I {} 1 {}", r.chain, r.spec)
            } else {
                format!("-A {} {}", r.chain, r.spec)
            };
            self.lines(r.table).push(line);
        }
    }

    pub fn delete(&mut self, rules: &[Rule]) {
        // Reverse order: a chain's jumps go before the chain's own rules are needed gone.
        for r in rules.iter().rev() {
            let line = format!("-D {} {}", r.chain, r.spec);
            self.lines(r.table).push(line);
        }
    }

    /// Declares (creates; flushes if it exists) a chain.
    pub fn declare(&mut self, t: Table, chain: &str) {
        self.lines(t).insert(0, format!(":{chain} - [0:0]"));
    }

    pub fn raw(&mut self, t: Table, line: String) {
        self.lines(t).push(line);
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        for (name, lines) in [("nat", &self.nat), ("filter", &self.filter)] {
            if lines.is_empty() {
                continue;
            }
            s.push_str(&format!("*{name}\n"));
            for l in lines {
                s.push_str(l);
                s.push('\n');
            }
            s.push_str("COMMIT\n");
        }
        s
    }
}

/// Runs one batch through `iptables-restore --noflush`.
pub fn apply(batch: &Batch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let text = batch.text();
    log::debug!("iptables-restore --noflush:\n{text}");
    let mut child = Command::new("iptables-restore")
        .args(["--noflush", "--wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            NetError::HostUnsupported(format!(
                "cannot run iptables-restore: {e} (install the iptables package)"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Firewall(format!("iptables-restore: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(NetError::Firewall(format!(
            "iptables-restore refused the rules: {}",
            err.lines().next().unwrap_or("").trim()
        )))
    }
}

/// `iptables-save` of the nat and filter tables.
pub fn save() -> Result<String> {
    let out = Command::new("iptables-save")
        .stderr(Stdio::null())
        .output()
        .map_err(|e| {
            NetError::HostUnsupported(format!(
                "cannot run iptables-save: {e} (install the iptables package)"
            ))
        })?;
    if !out.status.success() {
        return Err(NetError::Firewall("iptables-save failed".into()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What `iptables-save` shows of berth: chains that exist, and rules (as `(table, line)`).
#[derive(Debug, Default)]
pub struct Saved {
    pub chains: Vec<(Table, String)>,
    pub rules: Vec<(Table, String)>,
}

pub fn parse_saved(text: &str) -> Saved {
    let mut s = Saved::default();
    let mut table = None;
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = match t {
                "nat" => Some(Table::Nat),
                "filter" => Some(Table::Filter),
                _ => None,
            };
            continue;
        }
        let Some(t) = table else { continue };
        if let Some(c) = line.strip_prefix(':') {
            let name = c.split_whitespace().next().unwrap_or("");
            if name.starts_with("BERTH-") {
                s.chains.push((t, name.to_string()));
            }
        } else if line.starts_with("-A ") {
            s.rules.push((t, line.to_string()));
        }
    }
    s
}

/// True if an `iptables-save` line carries comment `tag` exactly.
pub fn has_tag(line: &str, tag: &str) -> bool {
    line.contains(&format!("--comment {tag} "))
        || line.contains(&format!("--comment \"{tag}\""))
        || line.ends_with(&format!("--comment {tag}"))
}

/// A batch deleting every saved rule carrying one of `tags`.
pub fn delete_tagged(saved: &Saved, tags: &[String], batch: &mut Batch) {
    for (t, line) in &saved.rules {
        if tags.iter().any(|tag| has_tag(line, tag)) {
            batch.raw(*t, format!("-D {}", &line[3..]));
        }
    }
}

/// The jumps from the built-in chains and the prologues of berth's chains.
pub fn global_rules() -> Vec<Rule> {
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
            format!("-m addrtype --dst-type LOCAL -j {DNAT}"),
            g,
        ),
        Rule::new(Table::Nat, "POSTROUTING", format!("-j {POSTROUTING}"), g),
        Rule::new(Table::Filter, "FORWARD", format!("-j {FORWARD}"), g),
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
    for c in NAT_CHAINS {
        if !saved.chains.contains(&(Table::Nat, c.to_string())) {
            batch.declare(Table::Nat, c);
        }
    }
    for c in FILTER_CHAINS {
        if !saved.chains.contains(&(Table::Filter, c.to_string())) {
            batch.declare(Table::Filter, c);
        }
    }
    batch.add(&global_rules());
}

/// A batch that removes berth's jumps and (with `drop_chains`) its chains; without it, the
/// existing chains are only flushed.
pub fn remove_globals(saved: &Saved, batch: &mut Batch, drop_chains: bool) {
    for (t, line) in &saved.rules {
        let chain = line[3..].split_whitespace().next().unwrap_or("");
        if !chain.starts_with("BERTH-") && line.contains(" -j BERTH-") {
            batch.raw(*t, format!("-D {}", &line[3..]));
        }
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
    for c in NAT_CHAINS {
        batch.raw(Table::Nat, format!("-F {c}"));
    }
    for c in FILTER_CHAINS {
        batch.raw(Table::Filter, format!("-F {c}"));
    }
    for c in NAT_CHAINS {
        batch.raw(Table::Nat, format!("-X {c}"));
    }
    for c in FILTER_CHAINS {
        batch.raw(Table::Filter, format!("-X {c}"));
    }
}

/// A network's rules: outbound NAT, the hairpin and loopback NAT for published ports, and
/// forwarding (isolation from other networks, established replies, published ports,
/// outbound, and inter-container traffic by `icc`).
pub fn network_rules(net: &Network) -> Vec<Rule> {
    let tag = net.tag();
    let br = &net.bridge;
    let Some(subnet) = net.subnet else {
        return Vec::new();
    };
    let mut v = Vec::new();
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
    v.push(Rule::new(
        Table::Filter,
        ISOLATION,
        format!("-i {br} ! -o {br} -j {ISOLATION2}"),
        &tag,
    ));
    v.push(Rule::new(
        Table::Filter,
        ISOLATION2,
        format!("-o {br} -j DROP"),
        &tag,
    ));
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        &tag,
    ));
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-o {br} -m conntrack --ctstate DNAT -j ACCEPT"),
        &tag,
    ));
    let out = if net.internal { "DROP" } else { "ACCEPT" };
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-i {br} ! -o {br} -j {out}"),
        &tag,
    ));
    if net.internal {
        v.push(Rule::new(
            Table::Filter,
            FORWARD,
            format!("! -i {br} -o {br} -j DROP"),
            &tag,
        ));
    }
    let icc = if net.icc { "ACCEPT" } else { "DROP" };
    v.push(Rule::new(
        Table::Filter,
        FORWARD,
        format!("-i {br} -o {br} -j {icc}"),
        &tag,
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

/// A container's rules: one DNAT per published port, and its links' exceptions.
pub fn container_rules(
    id: &str,
    bridge: &str,
    ip: Ipv4Addr,
    ports: &[PortBinding],
    links: &[LinkRule],
) -> Vec<Rule> {
    let tag = container_tag(id);
    let mut v = Vec::new();
    for p in ports {
        let dst = if p.host_ip == "0.0.0.0" || p.host_ip.is_empty() {
            String::new()
        } else {
            format!("-d {}/32 ", p.host_ip)
        };
        v.push(Rule::new(
            Table::Nat,
            DNAT,
            format!(
                "{dst}-p {proto} -m {proto} --dport {hp} -j DNAT --to-destination {ip}:{cp}",
                proto = p.protocol,
                hp = p.host_port,
                cp = p.container_port
            ),
            &tag,
        ));
    }
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

    #[test]
    fn saved_rules_are_found_by_tag() {
        let text = "*nat\n:PREROUTING ACCEPT [0:0]\n:BERTH-DNAT - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH-DNAT\n-A BERTH-DNAT -p tcp -m tcp --dport 1 -m comment --comment \"berth:abc\" -j DNAT --to-destination 10.0.0.2:1\n-A BERTH-DNAT -p tcp -m tcp --dport 2 -m comment --comment \"berth:abcd\" -j DNAT --to-destination 10.0.0.3:1\nCOMMIT\n";
        let s = parse_saved(text);
        assert_eq!(s.chains, vec![(Table::Nat, "BERTH-DNAT".to_string())]);
        let mut b = Batch::default();
        delete_tagged(&s, &["berth:abc".into()], &mut b);
        assert_eq!(b.text().matches("-D ").count(), 1);
        let mut g = Batch::default();
        remove_globals(&s, &mut g, true);
        let t = g.text();
        assert!(t.contains("-D PREROUTING -m addrtype"), "{t}");
        assert!(t.contains("-X BERTH-DNAT"), "{t}");
    }
}
