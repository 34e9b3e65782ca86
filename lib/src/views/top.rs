//! `top`: the container's processes, found through its cgroup (all of its hierarchies, nested
//! cgroups included), listed by the host's `ps` with the user's options, host pids.
//!
//! As Docker does: run `ps ARGS -q PIDS` (or plain `ps ARGS` when the options do not combine
//! with `-q`), find the PID column in the header, and keep the container's rows; the last
//! column (the command) keeps its spaces.

use std::collections::BTreeSet;
use std::process::Command;

use serde::Serialize;

use crate::protocol::Record;
use crate::state::{Containers, truth};
use crate::views::cgroup::{self, Cgroups};
use crate::views::status::status_of;
use crate::views::{Result, ViewError};

/// Docker's `ContainerTopOKBody`.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

impl Top {
    /// The table `docker top` prints: aligned with a minimum cell width of 20.
    pub fn table(&self) -> String {
        let mut text = self.titles.join("\t");
        text.push('\n');
        for p in &self.processes {
            text.push_str(&p.join("\t"));
            text.push('\n');
        }
        crate::format::align_min(&text, 20)
    }
}

/// The host pids of the container's processes: its cgroup's members, or, when the cgroup
/// cannot be found, its init and that process's descendants.
pub fn container_pids(r: &Record) -> BTreeSet<i32> {
    let dirs = Cgroups::detect().dirs(r);
    let mut pids = cgroup::pids(&dirs);
    if pids.is_empty()
        && let Some(init) = r.state.as_ref().map(|s| s.pid).filter(|p| *p > 0)
    {
        pids = descendants(init);
    }
    pids
}

/// `init` and every process below it, from each process's parent pid.
fn descendants(init: i32) -> BTreeSet<i32> {
    let mut children: std::collections::HashMap<i32, Vec<i32>> = Default::default();
    if let Ok(all) = procfs::process::all_processes() {
        for p in all.flatten() {
            if let Ok(st) = p.stat() {
                children.entry(st.ppid).or_default().push(st.pid);
            }
        }
    }
    let mut out = BTreeSet::from([init]);
    let mut stack = vec![init];
    while let Some(p) = stack.pop() {
        for c in children.get(&p).into_iter().flatten() {
            if out.insert(*c) {
                stack.push(*c);
            }
        }
    }
    out
}

/// Runs `ps` with `ps_args` (default `-ef`) and keeps the rows of `pids`.
pub fn top(name: &str, pids: &BTreeSet<i32>, ps_args: &[String]) -> Result<Top> {
    let args: Vec<String> = if ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        ps_args.to_vec()
    };
    if pids.is_empty() {
        return Err(ViewError::NotRunning(name.to_string()));
    }
    let list = pids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let run = |extra: &[&str]| Command::new("ps").args(&args).args(extra).output();
    let out = match run(&["-q", &list]) {
        Ok(o) if o.status.success() => o,
        // Some options (BSD-style `f`, ...) do not combine with -q: list everything.
        _ => {
            run(&[]).map_err(|e| ViewError::Host(format!("cannot run ps: {e} (install procps)")))?
        }
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(ViewError::BadArgs(format!(
            "ps {} failed: {}",
            args.join(" "),
            err.lines().next().unwrap_or("").trim()
        )));
    }
    parse_ps(&String::from_utf8_lossy(&out.stdout), pids)
}

/// moby's `parsePSOutput`.
pub fn parse_ps(output: &str, pids: &BTreeSet<i32>) -> Result<Top> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let Some(pid_col) = titles.iter().position(|t| t == "PID") else {
        return Err(ViewError::BadArgs(
            "couldn't find the PID field in ps output (keep the PID column in the ps options)"
                .into(),
        ));
    };
    let mut top = Top {
        titles,
        processes: Vec::new(),
    };
    // With `m`, thread lines carry "-" as their pid and belong to the process above.
    let mut last_was_ours = false;
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid) = fields.get(pid_col) else {
            continue;
        };
        if *pid == "-" {
            if last_was_ours {
                top.processes.push(merge(&fields, top.titles.len()));
            }
            continue;
        }
        let pid: i32 = pid
            .parse()
            .map_err(|_| ViewError::BadArgs(format!("unexpected pid {pid:?} in ps output")))?;
        last_was_ours = pids.contains(&pid);
        if last_was_ours {
            top.processes.push(merge(&fields, top.titles.len()));
        }
    }
    Ok(top)
}

/// Joins the fields past the last title into one (the command keeps its spaces).
fn merge(fields: &[&str], titles: usize) -> Vec<String> {
    let keep = titles.saturating_sub(1).min(fields.len());
    let mut row: Vec<String> = fields[..keep].iter().map(|s| s.to_string()).collect();
    row.push(fields[keep..].join(" "));
    row
}

/// `top NAME [ps OPTIONS]`: a running container's processes.
pub fn container_top(containers: &Containers, name: &str, ps_args: &[String]) -> Result<Top> {
    let id = containers.resolve(name)?;
    let r = truth::observe(containers, containers.load(&id)?)?;
    if !status_of(&r).is_active() {
        return Err(ViewError::NotRunning(name.to_string()));
    }
    top(name, &container_pids(&r), ps_args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ps_like_docker() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 1 0 0 10:00 ? 00:00:01 /sbin/init splash\nroot 42 1 0 10:01 ? 00:00:00 sleep 1000\n";
        let t = parse_ps(out, &BTreeSet::from([42])).unwrap();
        assert_eq!(t.titles.len(), 8);
        assert_eq!(
            t.processes,
            vec![vec![
                "root",
                "42",
                "1",
                "0",
                "10:01",
                "?",
                "00:00:00",
                "sleep 1000"
            ]]
        );
        assert_eq!(
            parse_ps(out, &BTreeSet::from([1]))
                .unwrap()
                .table()
                .lines()
                .nth(1),
            Some(
                "root                1                   0                   0                   10:00               ?                   00:00:01            /sbin/init splash"
            )
        );
        let e = parse_ps("USER COMMAND\nroot x\n", &BTreeSet::from([1])).unwrap_err();
        assert!(e.to_string().contains("PID"), "{e}");
    }

    #[test]
    fn lists_a_real_process_tree() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let me = std::process::id() as i32;
        let pids = descendants(me);
        assert!(pids.contains(&(child.id() as i32)));
        let t = top("me", &BTreeSet::from([child.id() as i32]), &[]).unwrap();
        assert_eq!(t.processes.len(), 1);
        assert!(t.processes[0].last().unwrap().contains("sleep 30"));
        let t = top(
            "me",
            &BTreeSet::from([child.id() as i32]),
            &["-o".into(), "pid,comm".into()],
        )
        .unwrap();
        assert_eq!(t.titles, ["PID", "COMMAND"]);
        assert_eq!(t.processes[0][1], "sleep");
        let _ = child.kill();
        let _ = child.wait();
    }
}
