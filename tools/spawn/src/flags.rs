//! Docker's `run` flags that belong to berth-spawn (DESIGN.md, "Docker flag -> stage"), as
//! clap arguments, turned into the record's `process` section.

use std::collections::BTreeMap;

use berth::Error;
use berth::error::Code;
use berth::protocol::{ProcessSection, Resources, RestartPolicy};
use berth::units::size::limit as size;

#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = berth_cli::usage::STAGE_HEADING)]
pub struct DockerFlags {
    /// Run in the background; print the container id.
    #[arg(short, long)]
    pub detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    pub interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    pub tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    pub rm: bool,
    /// Restart policy: no, on-failure[:N], always, unless-stopped.
    #[arg(long, value_name = "POLICY")]
    pub restart: Option<String>,
    /// Run a minimal init as PID 1 that reaps zombies and forwards signals.
    #[arg(long)]
    pub init: bool,
    /// Memory limit (e.g. 32m).
    #[arg(short, long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap limit; -1 for unlimited swap.
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long, value_name = "BYTES")]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight).
    #[arg(short = 'c', long, value_name = "N")]
    pub cpu_shares: Option<u64>,
    /// Number of CPUs (e.g. 1.5).
    #[arg(long, value_name = "N")]
    pub cpus: Option<f64>,
    /// CPU CFS quota in microseconds.
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU CFS period in microseconds.
    #[arg(long, value_name = "US")]
    pub cpu_period: Option<u64>,
    /// CPUs the container may use (0-3, 0,1).
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,
    /// Limit on the number of processes (-1 for unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000).
    #[arg(long, value_name = "N")]
    pub blkio_weight: Option<u16>,
    /// A host device: HOST[:CONTAINER[:PERMS]].
    #[arg(long, value_name = "DEVICE")]
    pub device: Vec<String>,
    /// IPC namespace: private, shareable, host, container:NAME.
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// PID namespace: host or container:NAME.
    #[arg(long, value_name = "MODE")]
    pub pid: Option<String>,
    /// UTS namespace: host.
    #[arg(long, value_name = "MODE")]
    pub uts: Option<String>,
    /// User namespace: host, auto, or HOSTID[:SIZE].
    #[arg(long, value_name = "MODE")]
    pub userns: Option<String>,
    /// Add a capability (or ALL).
    #[arg(long, value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability (or ALL).
    #[arg(long, value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// All capabilities, all devices, no masking, no seccomp.
    #[arg(long)]
    pub privileged: bool,
    /// seccomp=unconfined|FILE, no-new-privileges.
    #[arg(long, value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// A resource limit: name=soft[:hard].
    #[arg(long, value_name = "ULIMIT")]
    pub ulimit: Vec<String>,
    /// Write the container id to this file.
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<String>,
    /// Signal that stops the container (default: the image's, else SIGTERM).
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Seconds to wait for the stop signal before SIGKILL.
    #[arg(long, value_name = "SECONDS")]
    pub stop_timeout: Option<u32>,
    /// Logging driver: json-file (default), local, none, syslog, journald.
    #[arg(long, value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Log driver options (KEY=VALUE: max-size, max-file, compress, tag, syslog-*).
    #[arg(long, value_name = "OPT")]
    pub log_opt: Vec<String>,
    /// The key sequence that detaches from an attached terminal (default ctrl-p,ctrl-q).
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    #[command(flatten)]
    pub more: MoreFlags,
}

// The kernel, cgroup and runtime flags of `docker run` beyond the everyday ones.
// (Plain comments: a doc comment would become the verb's about text, see args.rs `defer`.)
#[derive(clap::Args, Debug, Default, Clone)]
pub struct MoreFlags {
    /// Namespaced kernel parameters (KEY=VALUE): net.*, fs.mqueue.*, kernel.msg*/sem/shm*.
    #[arg(long, value_name = "KEY=VALUE")]
    pub sysctl: Vec<String>,
    /// Additional groups to join (names from the container's /etc/group, or numbers).
    #[arg(long, value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Disable the OOM killer.
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Tune the host's OOM preferences (-1000 to 1000).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub oom_score_adj: Option<i32>,
    /// Memory swappiness (0 to 100; -1 for the host's).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Size of /dev/shm (e.g. 128m).
    #[arg(long, value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// Parent cgroup for the container's (an absolute cgroup path).
    #[arg(long, value_name = "PATH")]
    pub cgroup_parent: Option<String>,
    /// Cgroup namespace: host or private (default: private on cgroup v2, host otherwise).
    #[arg(long, value_name = "MODE")]
    pub cgroupns: Option<String>,
    /// A rule for the device cgroup ('c 1:3 mr').
    #[arg(long, value_name = "RULE")]
    pub device_cgroup_rule: Vec<String>,
    /// Limit read rate (bytes per second) from a device (DEVICE:RATE).
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_read_bps: Vec<String>,
    /// Limit read rate (IO per second) from a device (DEVICE:RATE).
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_read_iops: Vec<String>,
    /// Limit write rate (bytes per second) to a device (DEVICE:RATE).
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_write_bps: Vec<String>,
    /// Limit write rate (IO per second) to a device (DEVICE:RATE).
    #[arg(long, value_name = "DEVICE:RATE")]
    pub device_write_iops: Vec<String>,
    /// Block IO weight of a device (DEVICE:WEIGHT, 10 to 1000).
    #[arg(long, value_name = "DEVICE:WEIGHT")]
    pub blkio_weight_device: Vec<String>,
    /// Real-time CPU period in microseconds.
    #[arg(long, value_name = "US")]
    pub cpu_rt_period: Option<i64>,
    /// Real-time CPU runtime in microseconds.
    #[arg(long, value_name = "US", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// An annotation for the OCI runtime (KEY=VALUE).
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// The OCI runtime that runs the container: berth-spawn (default), runc or crun.
    #[arg(long, value_name = "NAME")]
    pub runtime: Option<String>,
}

/// `KEY=VALUE` pairs of a map flag (`--sysctl`, `--annotation`).
fn pairs(flag: &str, given: &[String]) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for g in given {
        match g.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_string(), v.to_string());
            }
            _ => {
                return Err(bad(format!(
                    "invalid argument {g:?} for \"--{flag}\" flag: use KEY=VALUE"
                )));
            }
        }
    }
    Ok(out)
}

/// `-a`: Docker's three streams, each named once in any case.
pub fn attach_streams(given: &[String]) -> Result<Vec<String>, Error> {
    let mut out: Vec<String> = Vec::new();
    for g in given {
        let s = g.to_ascii_lowercase();
        if !matches!(s.as_str(), "stdin" | "stdout" | "stderr") {
            return Err(bad(format!(
                "invalid argument {g:?} for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
            )));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

pub(crate) fn bad(m: String) -> Error {
    Error::new(Code::BAD_ARGS, m)
}

pub fn restart_policy(s: &str) -> Result<RestartPolicy, Error> {
    let (name, n) = s.split_once(':').unwrap_or((s, ""));
    match name {
        "no" | "always" | "unless-stopped" if n.is_empty() => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: 0,
        }),
        "on-failure" => Ok(RestartPolicy {
            name: name.into(),
            maximum_retry_count: if n.is_empty() {
                0
            } else {
                n.parse().map_err(|_| {
                    bad(format!(
                        "invalid restart policy {s:?}: maximum retry count must be a number"
                    ))
                })?
            },
        }),
        _ => Err(bad(format!(
            "invalid restart policy {s:?} (use no, on-failure[:N], always or unless-stopped)"
        ))),
    }
}

impl DockerFlags {
    pub fn to_section(&self) -> Result<ProcessSection, Error> {
        let m = &self.more;
        let sz = |o: &Option<String>| -> Result<i64, Error> {
            o.as_deref()
                .map(size)
                .transpose()
                .map(|v| v.unwrap_or(0))
                .map_err(Error::from)
        };
        let mut log_opts = BTreeMap::new();
        for o in &self.log_opt {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| bad(format!("invalid --log-opt {o:?} (use key=value)")))?;
            log_opts.insert(k.to_string(), v.to_string());
        }
        let log_driver = match self.log_driver.as_deref() {
            None | Some("json-file") => String::new(),
            Some(d) => d.to_string(),
        };
        berth::container::logdriver::validate(&log_driver, &log_opts)?;
        let memory_swap = match self.memory_swap.as_deref() {
            Some("-1") => -1,
            other => sz(&other.map(String::from))?,
        };
        let nano_cpus = match self.cpus {
            Some(c) if c <= 0.0 => return Err(bad("--cpus must be positive".into())),
            Some(c) => (c * 1e9) as i64,
            None => 0,
        };
        Ok(ProcessSection {
            detach: self.detach,
            interactive: self.interactive,
            tty: self.tty,
            auto_remove: self.rm,
            restart: match &self.restart {
                Some(r) => restart_policy(r)?,
                None => RestartPolicy {
                    name: "no".into(),
                    maximum_retry_count: 0,
                },
            },
            init: self.init,
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            privileged: self.privileged,
            cap_add: self.cap_add.clone(),
            cap_drop: self.cap_drop.clone(),
            security_opt: self.security_opt.clone(),
            resources: Resources {
                memory: sz(&self.memory)?,
                memory_swap,
                memory_reservation: sz(&self.memory_reservation)?,
                cpu_shares: self.cpu_shares.unwrap_or(0),
                nano_cpus,
                cpu_quota: self.cpu_quota.unwrap_or(0),
                cpu_period: self.cpu_period.unwrap_or(0),
                cpuset_cpus: self.cpuset_cpus.clone().unwrap_or_default(),
                cpuset_mems: self.cpuset_mems.clone().unwrap_or_default(),
                pids_limit: self.pids_limit.unwrap_or(0),
                blkio_weight: self.blkio_weight.unwrap_or(0),
                blkio_weight_device: m.blkio_weight_device.clone(),
                device_read_bps: m.device_read_bps.clone(),
                device_write_bps: m.device_write_bps.clone(),
                device_read_iops: m.device_read_iops.clone(),
                device_write_iops: m.device_write_iops.clone(),
                oom_kill_disable: m.oom_kill_disable,
                memory_swappiness: m.memory_swappiness,
                cpu_realtime_period: m.cpu_rt_period.unwrap_or(0),
                cpu_realtime_runtime: m.cpu_rt_runtime.unwrap_or(0),
            },
            devices: self.device.clone(),
            ulimits: self.ulimit.clone(),
            ipc: self.ipc.clone().unwrap_or_default(),
            pid: self.pid.clone().unwrap_or_default(),
            uts: self.uts.clone().unwrap_or_default(),
            userns: self.userns.clone().unwrap_or_default(),
            cidfile: self.cidfile.clone(),
            log_driver,
            log_opts,
            detach_keys: match &self.detach_keys {
                Some(k) => {
                    berth::container::attach::parse_detach_keys(k)?;
                    Some(k.clone())
                }
                None => None,
            },
            cgroup_path: String::new(),
            cgroup_parent: m.cgroup_parent.clone().unwrap_or_default(),
            cgroupns: m.cgroupns.clone().unwrap_or_default(),
            sysctls: pairs("sysctl", &m.sysctl)?,
            group_add: m.group_add.clone(),
            oom_score_adj: m.oom_score_adj,
            shm_size: match &m.shm_size {
                Some(s) => berth::units::size::parse(s)
                    .and_then(|b| i64::try_from(b).ok())
                    .filter(|b| *b > 0)
                    .ok_or_else(|| {
                        bad(format!(
                            "invalid argument {s:?} for \"--shm-size\" flag: use a size such as 128m"
                        ))
                    })?,
                None => 0,
            },
            device_cgroup_rules: m.device_cgroup_rule.clone(),
            annotations: pairs("annotation", &m.annotation)?,
            runtime: match m.runtime.as_deref() {
                None | Some("berth-spawn") | Some("berth") => String::new(),
                Some(r) => {
                    berth::container::external::check(r)?;
                    r.to_string()
                }
            },
            attach: vec![],
        })
    }
}
