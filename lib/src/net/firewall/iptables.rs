//! The iptables side of the firewall: rules as lines of an `iptables-restore` document
//! (nat, filter and raw tables), applied as one `iptables-restore --noflush --wait` per change,
//! and `iptables-save` read back for teardown's fallback. Only the `iptables-restore` and
//! `iptables-save` on PATH are run, so the host's choice (iptables-nft or iptables-legacy)
//! is berth's: both accept these documents (the e2e tests run both).

use std::io::Write;
use std::process::{Command, Stdio};

use super::super::error::{NetError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Nat,
    Filter,
    Raw,
}

impl Table {
    const ALL: [Table; 3] = [Table::Nat, Table::Filter, Table::Raw];

    /// The table's name in iptables-save and iptables-restore documents.
    pub fn name(self) -> &'static str {
        match self {
            Table::Nat => "nat",
            Table::Filter => "filter",
            Table::Raw => "raw",
        }
    }

    fn from_name(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }
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
    pub(super) fn new(table: Table, chain: &str, spec: String, tag: &str) -> Rule {
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
    raw: Vec<String>,
}

impl Batch {
    fn lines(&mut self, t: Table) -> &mut Vec<String> {
        match t {
            Table::Nat => &mut self.nat,
            Table::Filter => &mut self.filter,
            Table::Raw => &mut self.raw,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nat.is_empty() && self.filter.is_empty() && self.raw.is_empty()
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
        for (table, lines) in [
            (Table::Nat, &self.nat),
            (Table::Filter, &self.filter),
            (Table::Raw, &self.raw),
        ] {
            if lines.is_empty() {
                continue;
            }
            s.push_str(&format!("*{}\n", table.name()));
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
    restore("iptables-restore", batch)
}

/// Runs one batch of IPv6 rules through `ip6tables-restore --noflush` (the same document
/// format; the host's ip6tables, nft or legacy, as for IPv4).
pub fn apply6(batch: &Batch) -> Result<()> {
    restore("ip6tables-restore", batch)
}

fn restore(cmd: &str, batch: &Batch) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let text = batch.text();
    log::debug!("{cmd} --noflush:\n{text}");
    let mut child = Command::new(cmd)
        .args(["--noflush", "--wait"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            NetError::HostUnsupported(format!(
                "cannot run {cmd}: {e} (install the iptables package)"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Firewall(format!("{cmd}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(NetError::Firewall(format!(
            "{cmd} refused the rules: {}",
            err.lines().next().unwrap_or("").trim()
        )))
    }
}

/// `iptables-save` of the nat and filter tables.
pub fn save() -> Result<String> {
    save_with("iptables-save")
}

/// `ip6tables-save`.
pub fn save6() -> Result<String> {
    save_with("ip6tables-save")
}

fn save_with(cmd: &str) -> Result<String> {
    let out = Command::new(cmd)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| {
            NetError::HostUnsupported(format!(
                "cannot run {cmd}: {e} (install the iptables package)"
            ))
        })?;
    if !out.status.success() {
        return Err(NetError::Firewall(format!("{cmd} failed")));
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
            table = Table::from_name(t.trim());
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
