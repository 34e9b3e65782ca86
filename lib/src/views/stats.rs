//! `stats`: CPU %, memory, network and block I/O and pids of containers, computed as
//! `docker stats` computes them, from the cgroup counters (v1, v2 or hybrid; see
//! [`cgroup`](super::cgroup)) and the counters of the container's network namespace
//! (`/proc/PID/net/dev` is that namespace's view).

use serde::Serialize;

use crate::format::Columns;
use crate::protocol::Record;
use crate::units::human::{bytes_size, size};
use crate::views::cgroup::{self, Cgroups};
use crate::views::status::status_of;

/// One reading of a container's counters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// CPU time used by the container, ns.
    pub cpu_ns: u64,
    /// CPU time of the whole host (all CPUs, all states), ns.
    pub system_ns: u64,
    pub online_cpus: u32,
    pub mem_usage: u64,
    pub mem_limit: u64,
    pub net_rx: u64,
    pub net_tx: u64,
    pub blk_read: u64,
    pub blk_write: u64,
    pub pids: u64,
}

/// Reads the counters of `r` now. A container that is not running reads as zeros.
pub fn sample(cg: &Cgroups, r: &Record) -> Sample {
    let mut s = Sample {
        system_ns: system_ns(),
        online_cpus: online_cpus(),
        ..Default::default()
    };
    let Some(state) = r.state.as_ref().filter(|s| s.status.is_active()) else {
        return s;
    };
    let dirs = cg.dirs(r);
    // CPU: v2 cpu.stat usage_usec; v1 cpuacct.usage (ns).
    s.cpu_ns = cgroup::read(&dirs, "cpu.stat", "cpuacct", &[])
        .and_then(|t| cgroup::keyed(&t, "usage_usec"))
        .map(|us| us * 1000)
        .or_else(|| {
            cgroup::read(&dirs, "-", "cpuacct", &["cpuacct.usage"])
                .and_then(|t| t.trim().parse().ok())
        })
        .unwrap_or(0);
    // Memory, less the inactive file cache, as the Docker CLI shows it.
    let host_mem = procfs::Current::current()
        .map(|m: procfs::Meminfo| m.mem_total)
        .unwrap_or(u64::MAX);
    let (usage, limit, inactive) = match cgroup::read(&dirs, "memory.current", "-", &[]) {
        Some(cur) => {
            let stat = cgroup::read(&dirs, "memory.stat", "-", &[]).unwrap_or_default();
            let max = cgroup::read(&dirs, "memory.max", "-", &[]).unwrap_or_default();
            (
                cur.trim().parse().unwrap_or(0),
                max.trim().parse().unwrap_or(u64::MAX),
                cgroup::keyed(&stat, "inactive_file").unwrap_or(0),
            )
        }
        None => {
            let v1 = |f: &str| cgroup::read(&dirs, "-", "memory", &[f]);
            let stat = v1("memory.stat").unwrap_or_default();
            (
                v1("memory.usage_in_bytes")
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(0),
                v1("memory.limit_in_bytes")
                    .and_then(|t| t.trim().parse().ok())
                    .unwrap_or(u64::MAX),
                cgroup::keyed(&stat, "total_inactive_file").unwrap_or(0),
            )
        }
    };
    s.mem_usage = if inactive < usage {
        usage - inactive
    } else {
        usage
    };
    // Unlimited (v2 "max", v1's huge number): the host's memory is the limit.
    s.mem_limit = limit.min(host_mem);
    // Block I/O: v2 io.stat rbytes/wbytes; v1 blkio byte counters (Read/Write per device).
    if let Some(io) = cgroup::read(&dirs, "io.stat", "-", &[]) {
        for l in io.lines() {
            for kv in l.split_whitespace().skip(1) {
                match kv.split_once('=') {
                    Some(("rbytes", v)) => s.blk_read += v.parse::<u64>().unwrap_or(0),
                    Some(("wbytes", v)) => s.blk_write += v.parse::<u64>().unwrap_or(0),
                    _ => {}
                }
            }
        }
    } else if let Some(b) = cgroup::read(
        &dirs,
        "-",
        "blkio",
        &[
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_service_bytes",
            "blkio.io_service_bytes_recursive",
        ],
    ) {
        for l in b.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let [_, op, v] = f.as_slice() {
                let v: u64 = v.parse().unwrap_or(0);
                match *op {
                    "Read" => s.blk_read += v,
                    "Write" => s.blk_write += v,
                    _ => {}
                }
            }
        }
    }
    s.pids = cgroup::read(&dirs, "pids.current", "pids", &["pids.current"])
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| cgroup::pids(&dirs).len() as u64);
    // Network: the namespace's interfaces, loopback excluded; a host-network container has
    // no counters of its own (Docker shows 0B / 0B).
    let host_net = r.network.as_ref().is_none_or(|n| n.mode == "host");
    if !host_net
        && state.pid > 0
        && let Ok(p) = procfs::process::Process::new(state.pid)
        && let Ok(dev) = p.dev_status()
    {
        for (name, d) in dev {
            if name != "lo" {
                s.net_rx += d.recv_bytes;
                s.net_tx += d.sent_bytes;
            }
        }
    }
    s
}

fn system_ns() -> u64 {
    use procfs::CurrentSI;
    let Ok(ks) = procfs::KernelStats::current() else {
        return 0;
    };
    let c = ks.total;
    let ticks = c.user
        + c.nice
        + c.system
        + c.idle
        + c.iowait.unwrap_or(0)
        + c.irq.unwrap_or(0)
        + c.softirq.unwrap_or(0)
        + c.steal.unwrap_or(0);
    let hz = procfs::ticks_per_second().max(1);
    ticks * (1_000_000_000 / hz)
}

fn online_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

/// One row of `stats`, with Docker's field names (`--format '{{.CPUPerc}}'`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatsRow {
    #[serde(rename = "BlockIO")]
    pub block_io: String,
    #[serde(rename = "CPUPerc")]
    pub cpu_perc: String,
    /// The name or id the user gave (Docker's `.Container`).
    #[serde(rename = "Container")]
    pub container: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "MemPerc")]
    pub mem_perc: String,
    #[serde(rename = "MemUsage")]
    pub mem_usage: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "NetIO")]
    pub net_io: String,
    #[serde(rename = "PIDs")]
    pub pids: String,
}

pub const COLUMNS: Columns<'static> = Columns {
    headers: &[
        ("BlockIO", "BLOCK I/O"),
        ("CPUPerc", "CPU %"),
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("MemPerc", "MEM %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("Name", "NAME"),
        ("NetIO", "NET I/O"),
        ("PIDs", "PIDS"),
    ],
    default_table: "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}",
};

/// Docker's CPU %: the container's share of the host's CPU time between two samples, times
/// the number of CPUs (so one busy core is 100 %).
pub fn cpu_percent(prev: &Sample, cur: &Sample) -> f64 {
    let cpu = cur.cpu_ns.saturating_sub(prev.cpu_ns) as f64;
    let system = cur.system_ns.saturating_sub(prev.system_ns) as f64;
    if system > 0.0 && cpu > 0.0 {
        cpu / system * cur.online_cpus.max(1) as f64 * 100.0
    } else {
        0.0
    }
}

/// The row for `r` from two samples. `asked` is what the user named it by.
pub fn row(r: &Record, asked: &str, prev: &Sample, cur: &Sample, no_trunc: bool) -> StatsRow {
    let active = status_of(r).is_active();
    let id = if no_trunc {
        r.id.clone()
    } else {
        r.short_id().to_string()
    };
    let name = r.name.clone();
    if !active {
        // As Docker shows a stopped container.
        return StatsRow {
            block_io: "0B / 0B".into(),
            cpu_perc: "0.00%".into(),
            container: asked.to_string(),
            id,
            mem_perc: "0.00%".into(),
            mem_usage: "0B / 0B".into(),
            name,
            net_io: "0B / 0B".into(),
            pids: "0".into(),
        };
    }
    let mem_perc = if cur.mem_limit > 0 {
        cur.mem_usage as f64 / cur.mem_limit as f64 * 100.0
    } else {
        0.0
    };
    StatsRow {
        block_io: format!("{} / {}", size(cur.blk_read), size(cur.blk_write)),
        cpu_perc: format!("{:.2}%", cpu_percent(prev, cur)),
        container: asked.to_string(),
        id,
        mem_perc: format!("{mem_perc:.2}%"),
        mem_usage: format!(
            "{} / {}",
            bytes_size(cur.mem_usage),
            bytes_size(cur.mem_limit)
        ),
        name,
        net_io: format!("{} / {}", size(cur.net_rx), size(cur.net_tx)),
        pids: cur.pids.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{StateSection, Status};

    #[test]
    fn rows_compute_like_docker() {
        let mut r = Record::new();
        r.id = "b".repeat(64);
        r.name = "web".into();
        r.state = Some(StateSection {
            status: Status::Running,
            ..Default::default()
        });
        let prev = Sample {
            cpu_ns: 1_000_000_000,
            system_ns: 10_000_000_000,
            online_cpus: 2,
            ..Default::default()
        };
        let cur = Sample {
            cpu_ns: 1_500_000_000,
            system_ns: 12_000_000_000,
            online_cpus: 2,
            mem_usage: 1536 * 1024,
            mem_limit: 64 << 20,
            net_rx: 1200,
            net_tx: 648,
            blk_read: 4_096_000,
            blk_write: 0,
            pids: 3,
        };
        let row = row(&r, "web", &prev, &cur, false);
        assert_eq!(row.cpu_perc, "50.00%");
        assert_eq!(row.mem_usage, "1.5MiB / 64MiB");
        assert_eq!(row.mem_perc, "2.34%");
        assert_eq!(row.net_io, "1.2kB / 648B");
        assert_eq!(row.block_io, "4.1MB / 0B");
        assert_eq!(row.pids, "3");
        assert_eq!(row.id.len(), 12);
        r.state.as_mut().unwrap().status = Status::Exited;
        assert_eq!(super::row(&r, "web", &prev, &cur, true).cpu_perc, "0.00%");
    }

    use crate::protocol::ProcessSection;
    use crate::views::cgroup::Hierarchy;
    use std::path::Path;

    fn running_in(cgroup: &str) -> Record {
        let mut r = Record::new();
        r.state = Some(StateSection {
            status: Status::Running,
            pid: std::process::id() as i32,
            ..Default::default()
        });
        r.process = Some(ProcessSection {
            cgroup_path: cgroup.into(),
            ..Default::default()
        });
        r.network = Some(crate::protocol::NetworkSection {
            mode: "host".into(),
            ..Default::default()
        });
        r
    }

    fn files(dir: &Path, files: &[(&str, &str)]) {
        std::fs::create_dir_all(dir).unwrap();
        for (f, text) in files {
            std::fs::write(dir.join(f), text).unwrap();
        }
    }

    fn hierarchy(mount: &Path, controllers: &[&str]) -> Hierarchy {
        Hierarchy {
            mount: mount.to_path_buf(),
            root: "/".into(),
            controllers: controllers.iter().map(|c| c.to_string()).collect(),
            v2: controllers.is_empty(),
        }
    }

    #[test]
    fn pure_v2_counters() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("berth/c1");
        files(
            &c,
            &[
                ("cgroup.procs", "1\n2\n"),
                ("cpu.stat", "usage_usec 2500\nuser_usec 2000\n"),
                ("memory.current", "10485760\n"),
                ("memory.max", "67108864\n"),
                ("memory.stat", "anon 1\ninactive_file 2097152\n"),
                (
                    "io.stat",
                    "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n8:16 rbytes=4096 wbytes=0\n",
                ),
                ("pids.current", "2\n"),
            ],
        );
        let cg = Cgroups {
            hierarchies: vec![hierarchy(d.path(), &[])],
        };
        let s = sample(&cg, &running_in("/berth/c1"));
        assert_eq!(s.cpu_ns, 2_500_000);
        assert_eq!((s.mem_usage, s.mem_limit), (8 << 20, 64 << 20));
        assert_eq!((s.blk_read, s.blk_write, s.pids), (8192, 8192, 2));
        // Host network: no counters of its own.
        assert_eq!((s.net_rx, s.net_tx), (0, 0));
        // "max" means the host's memory.
        std::fs::write(c.join("memory.max"), "max\n").unwrap();
        assert!(sample(&cg, &running_in("/berth/c1")).mem_limit > 64 << 20);
    }

    #[test]
    fn v1_and_hybrid_counters() {
        let d = tempfile::tempdir().unwrap();
        let (v1, v2) = (d.path().join("v1"), d.path().join("unified"));
        let c = "berth/c1";
        files(
            &v1.join("cpuacct").join(c),
            &[("cgroup.procs", "7\n"), ("cpuacct.usage", "123456789\n")],
        );
        files(
            &v1.join("memory").join(c),
            &[
                ("memory.usage_in_bytes", "5242880\n"),
                ("memory.limit_in_bytes", "9223372036854771712\n"),
                ("memory.stat", "cache 0\ntotal_inactive_file 1048576\n"),
            ],
        );
        files(
            &v1.join("blkio").join(c),
            &[(
                "blkio.throttle.io_service_bytes_recursive",
                "8:0 Read 1000\n8:0 Write 2000\n8:0 Sync 3000\n8:0 Total 3000\nTotal 3000\n",
            )],
        );
        files(&v1.join("pids").join(c), &[("pids.current", "1\n")]);
        // Hybrid: a v2 tree with the container's directory but no controllers in it.
        files(
            &v2.join(c),
            &[("cgroup.procs", "7\n"), ("cpu.pressure", "")],
        );
        let cg = Cgroups {
            hierarchies: vec![
                hierarchy(&v1.join("cpuacct"), &["cpuacct"]),
                hierarchy(&v1.join("memory"), &["memory"]),
                hierarchy(&v1.join("blkio"), &["blkio"]),
                hierarchy(&v1.join("pids"), &["pids"]),
                hierarchy(&v2, &[]),
            ],
        };
        assert_eq!(cg.layout(), "hybrid");
        let s = sample(&cg, &running_in(c));
        assert_eq!(s.cpu_ns, 123_456_789);
        assert_eq!(s.mem_usage, 4 << 20);
        assert!(
            s.mem_limit < 9223372036854771712,
            "unlimited is the host's memory"
        );
        assert_eq!((s.blk_read, s.blk_write, s.pids), (1000, 2000, 1));
    }

    #[test]
    fn this_process_can_be_sampled() {
        let mut r = Record::new();
        r.state = Some(StateSection {
            status: Status::Running,
            pid: std::process::id() as i32,
            ..Default::default()
        });
        let s = sample(&Cgroups::detect(), &r);
        assert!(s.system_ns > 0);
        assert!(s.mem_limit > 0);
    }
}
