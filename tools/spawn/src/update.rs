//! `update`: runc's (`--resources FILE|-` or the flags, one OCI container) and Docker's
//! (`[OPTIONS] CONTAINER...` for berth containers: `berth::container::update` on each, its
//! name printed as given, failures on stderr at the end). One set of flags serves both:
//! Docker's names, with runc's `--cpu-share` as an alias of `--cpu-shares`.

use berth::Error;
use berth::container::UpdateRequest;
use berth::error::Code;
use berth::protocol::Resources;
use berth::units::size::limit as size;

use crate::flags::{bad, restart_policy};

// The new limits (and, for a berth container, the restart policy). `--resources` (runc's
// LinuxResources JSON, `-` for stdin) is what containerd's shim passes; the flags cannot be
// mixed with it.
// (Plain comments: a doc comment would become the verb's about text, see args.rs `defer`.)
#[derive(clap::Args, Debug, Default, Clone)]
pub struct UpdateArgs {
    /// runc: a JSON file with the resources (runtime-spec's linux.resources); `-` reads stdin.
    #[arg(short, long, value_name = "FILE", help_heading = berth_cli::usage::RUNC_HEADING)]
    pub resources: Option<std::path::PathBuf>,
    /// Memory limit
    ///
    /// e.g. 64m.
    #[arg(short, long, value_name = "bytes", conflicts_with = "resources")]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap.
    #[arg(
        long,
        value_name = "bytes",
        allow_hyphen_values = true,
        conflicts_with = "resources"
    )]
    pub memory_swap: Option<String>,
    /// Memory soft limit.
    #[arg(long, value_name = "bytes", conflicts_with = "resources")]
    pub memory_reservation: Option<String>,
    /// CPU shares (relative weight).
    #[arg(
        short = 'c',
        long,
        visible_alias = "cpu-share",
        value_name = "N",
        conflicts_with = "resources"
    )]
    pub cpu_shares: Option<u64>,
    /// Number of CPUs
    ///
    /// e.g. 1.5.
    #[arg(long, value_name = "decimal", conflicts_with = "resources")]
    pub cpus: Option<f64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    ///
    /// In microseconds.
    #[arg(long, value_name = "US", conflicts_with = "resources")]
    pub cpu_period: Option<u64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    ///
    /// In microseconds (-1 for none).
    #[arg(
        long,
        value_name = "US",
        allow_hyphen_values = true,
        conflicts_with = "resources"
    )]
    pub cpu_quota: Option<i64>,
    /// Limit the CPU real-time period in microseconds.
    #[arg(long, value_name = "US", conflicts_with = "resources")]
    pub cpu_rt_period: Option<i64>,
    /// Limit the CPU real-time runtime in microseconds.
    #[arg(long, value_name = "US", conflicts_with = "resources")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1).
    #[arg(long, value_name = "LIST", conflicts_with = "resources")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1).
    #[arg(long, value_name = "LIST", conflicts_with = "resources")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited).
    #[arg(
        long,
        value_name = "N",
        allow_hyphen_values = true,
        conflicts_with = "resources"
    )]
    pub pids_limit: Option<i64>,
    /// Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0).
    #[arg(long, value_name = "uint16", conflicts_with = "resources")]
    pub blkio_weight: Option<u16>,
    /// Restart policy to apply when a container exits
    ///
    /// berth containers only.
    #[arg(long, value_name = "POLICY", conflicts_with = "resources")]
    pub restart: Option<String>,
}

impl UpdateArgs {
    /// runc's `update`: the resources to apply, only the fields given.
    pub fn to_resources(&self) -> Result<serde_json::Value, Error> {
        if let Some(path) = &self.resources {
            return read_resources(path);
        }
        if self.restart.is_some() {
            return Err(bad(
                "--restart is for berth containers (an OCI runtime has no restart policy)".into(),
            ));
        }
        // `size` (units::size::limit) takes -1 for unlimited itself.
        let sz = |o: &Option<String>| -> Result<Option<i64>, Error> {
            Ok(o.as_deref().map(size).transpose()?)
        };
        let mut r = serde_json::json!({
            "memory": {"limit": sz(&self.memory)?, "swap": sz(&self.memory_swap)?,
                       "reservation": sz(&self.memory_reservation)?},
            "cpu": {"shares": self.cpu_shares, "period": self.cpu_period, "quota": self.cpu_quota,
                    "realtimePeriod": self.cpu_rt_period, "realtimeRuntime": self.cpu_rt_runtime,
                    "cpus": self.cpuset_cpus, "mems": self.cpuset_mems},
            "blockIO": {"weight": self.blkio_weight},
        });
        if let Some(c) = self.cpus {
            // runc has no --cpus; Docker's meaning: a quota over the default period.
            r["cpu"]["period"] = serde_json::json!(100_000);
            r["cpu"]["quota"] = serde_json::json!((c * 100_000.0).round() as i64);
        }
        if let Some(l) = self.pids_limit {
            r["pids"] = serde_json::json!({ "limit": l });
        }
        Ok(strip_nulls(r))
    }

    /// Docker's `update`: what was given (zero means unchanged, as in Docker's API).
    pub fn to_request(&self) -> Result<UpdateRequest, Error> {
        let sz = |o: &Option<String>| -> Result<i64, Error> {
            Ok(o.as_deref().map(size).transpose()?.unwrap_or(0))
        };
        let nano_cpus = match self.cpus {
            Some(c) if c.is_nan() || c < 0.0 => {
                return Err(bad(format!(
                    "invalid argument \"{c}\" for \"--cpus\" flag: must be a positive number"
                )));
            }
            Some(c) => (c * 1e9).round() as i64,
            None => 0,
        };
        Ok(UpdateRequest {
            resources: Resources {
                memory: sz(&self.memory)?,
                memory_swap: sz(&self.memory_swap)?,
                memory_reservation: sz(&self.memory_reservation)?,
                cpu_shares: self.cpu_shares.unwrap_or(0),
                nano_cpus,
                cpu_quota: self.cpu_quota.unwrap_or(0),
                cpu_period: self.cpu_period.unwrap_or(0),
                cpuset_cpus: self.cpuset_cpus.clone().unwrap_or_default(),
                cpuset_mems: self.cpuset_mems.clone().unwrap_or_default(),
                pids_limit: self.pids_limit.unwrap_or(0),
                blkio_weight: self.blkio_weight.unwrap_or(0),
                cpu_realtime_period: self.cpu_rt_period.unwrap_or(0),
                cpu_realtime_runtime: self.cpu_rt_runtime.unwrap_or(0),
                ..Default::default()
            },
            restart: self.restart.as_deref().map(restart_policy).transpose()?,
        })
    }

    /// True if no flag was given: docker/cli refuses that.
    pub fn is_empty(&self) -> bool {
        let given = [
            self.resources.is_some(),
            self.memory.is_some(),
            self.memory_swap.is_some(),
            self.memory_reservation.is_some(),
            self.cpu_shares.is_some(),
            self.cpus.is_some(),
            self.cpu_period.is_some(),
            self.cpu_quota.is_some(),
            self.cpu_rt_period.is_some(),
            self.cpu_rt_runtime.is_some(),
            self.cpuset_cpus.is_some(),
            self.cpuset_mems.is_some(),
            self.pids_limit.is_some(),
            self.blkio_weight.is_some(),
            self.restart.is_some(),
        ];
        !given.contains(&true)
    }
}

/// Drops nulls and the objects left empty, so that absent flags change nothing.
fn strip_nulls(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => serde_json::Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, strip_nulls(v)))
                .filter(|(_, v)| !(v.is_null() || v.as_object().is_some_and(|o| o.is_empty())))
                .collect(),
        ),
        v => v,
    }
}

fn read_resources(path: &std::path::Path) -> Result<serde_json::Value, Error> {
    use std::io::Read;
    let mut text = Vec::new();
    let r = if path.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut text)
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut text))
    };
    let name = if path.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    r.map_err(|e| bad(format!("reading {name}: {e}")))?;
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(v) if v.is_object() => Ok(v),
        r => Err(Error::new(
            Code::DECODE,
            format!(
                "{name}: expected a JSON object of runtime-spec linux.resources ({})",
                r.err().map_or("not an object".into(), |e| e.to_string())
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_flags_set_only_what_is_given() {
        let a = UpdateArgs {
            memory: Some("64m".into()),
            pids_limit: Some(-1),
            ..Default::default()
        };
        assert_eq!(
            a.to_resources().unwrap(),
            serde_json::json!({"memory": {"limit": 64 << 20}, "pids": {"limit": -1}})
        );
        assert_eq!(
            UpdateArgs::default().to_resources().unwrap(),
            serde_json::json!({})
        );
        assert!(UpdateArgs::default().is_empty());
    }

    #[test]
    fn docker_flags_make_a_request() {
        let a = UpdateArgs {
            cpus: Some(0.5),
            restart: Some("on-failure:3".into()),
            ..Default::default()
        };
        let r = a.to_request().unwrap();
        assert_eq!(r.resources.nano_cpus, 500_000_000);
        assert_eq!(r.restart.unwrap().maximum_retry_count, 3);
        assert!(!a.is_empty());
        let bad = UpdateArgs {
            memory: Some("lots".into()),
            ..Default::default()
        };
        assert!(bad.to_request().is_err() && bad.to_resources().is_err());
    }
}
