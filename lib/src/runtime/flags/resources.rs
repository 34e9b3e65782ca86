//! `linux.resources` from Docker's resource flags.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use oci_spec::runtime::{
    LinuxPidsBuilder, LinuxResources, LinuxThrottleDevice, LinuxThrottleDeviceBuilder,
    LinuxWeightDevice, LinuxWeightDeviceBuilder,
};

use super::built;
use crate::protocol::Resources;
use crate::runtime::RuntimeError;

/// `--memory`, `--memory-swap`, `--memory-reservation`, `--memory-swappiness`,
/// `--oom-kill-disable`, the CPU flags, `--pids-limit` and the block IO flags, with Docker's
/// refusals.
pub(super) fn resources(res: &mut LinuxResources, r: &Resources) -> Result<(), RuntimeError> {
    memory(res, r)?;
    cpu(res, r)?;
    if r.pids_limit != 0 {
        res.set_pids(Some(built(
            LinuxPidsBuilder::default().limit(r.pids_limit).build(),
        )?));
    }
    block_io(res, r)
}

/// The `linux.resources` of `r` alone (devices aside): what `update` writes to config.json
/// and to a running cgroup.
pub fn linux_resources(r: &Resources) -> Result<LinuxResources, RuntimeError> {
    let mut res = LinuxResources::default();
    resources(&mut res, r)?;
    Ok(res)
}

fn bad(m: String) -> RuntimeError {
    RuntimeError::BadArgs(m)
}

/// `--blkio-weight`, `--blkio-weight-device` and the four `--device-{read,write}-{bps,iops}`.
fn block_io(res: &mut LinuxResources, r: &Resources) -> Result<(), RuntimeError> {
    let throttles = [
        &r.device_read_bps,
        &r.device_write_bps,
        &r.device_read_iops,
        &r.device_write_iops,
    ];
    if r.blkio_weight == 0
        && r.blkio_weight_device.is_empty()
        && throttles.iter().all(|t| t.is_empty())
    {
        return Ok(());
    }
    let mut b = res.block_io().clone().unwrap_or_default();
    if r.blkio_weight > 0 {
        if !(10..=1000).contains(&r.blkio_weight) {
            return Err(bad("--blkio-weight must be between 10 and 1000".into()));
        }
        b.set_weight(Some(r.blkio_weight));
    }
    let mut weights: Vec<LinuxWeightDevice> = Vec::new();
    for w in &r.blkio_weight_device {
        weights.push(weight_device(w)?);
    }
    if !weights.is_empty() {
        b.set_weight_device(Some(weights));
    }
    let lists = [
        ("device-read-bps", true, &r.device_read_bps),
        ("device-write-bps", true, &r.device_write_bps),
        ("device-read-iops", false, &r.device_read_iops),
        ("device-write-iops", false, &r.device_write_iops),
    ]
    .map(|(flag, bytes, given)| {
        given
            .iter()
            .map(|v| throttle_device(flag, bytes, v))
            .collect::<Result<Vec<_>, _>>()
            .map(|l| (!l.is_empty()).then_some(l))
    });
    let [rb, wb, ri, wi] = lists;
    b.set_throttle_read_bps_device(rb?);
    b.set_throttle_write_bps_device(wb?);
    b.set_throttle_read_iops_device(ri?);
    b.set_throttle_write_iops_device(wi?);
    res.set_block_io(Some(b));
    Ok(())
}

/// `DEVICE:VALUE` with a device path under /dev (docker/cli's `ValidateWeightDevice` and
/// `ValidateThrottle*Device` rules), and the device's numbers, as the daemon stats it.
fn device_numbers(flag: &str, v: &str) -> Result<(i64, i64, String), RuntimeError> {
    let Some((path, val)) = v.split_once(':') else {
        return Err(bad(format!(
            "invalid argument {v:?} for --{flag}: bad format: {v}"
        )));
    };
    if !path.starts_with("/dev/") {
        return Err(bad(format!(
            "invalid argument {v:?} for --{flag}: bad format for device path: {v}"
        )));
    }
    let m = std::fs::metadata(path).map_err(|e| bad(format!("--{flag}: stat {path}: {e}")))?;
    if !m.file_type().is_block_device() {
        return Err(bad(format!("--{flag}: {path} is not a block device")));
    }
    Ok((
        libc::major(m.rdev()) as i64,
        libc::minor(m.rdev()) as i64,
        val.to_string(),
    ))
}

fn weight_device(v: &str) -> Result<LinuxWeightDevice, RuntimeError> {
    let (major, minor, w) = device_numbers("blkio-weight-device", v)?;
    let weight = w
        .parse::<u16>()
        .ok()
        .filter(|w| *w == 0 || (10..=1000).contains(w))
        .ok_or_else(|| {
            bad(format!(
                "invalid argument {v:?} for --blkio-weight-device: invalid weight for device: {v}"
            ))
        })?;
    built(
        LinuxWeightDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .weight(weight)
            .build(),
    )
}

fn throttle_device(flag: &str, bytes: bool, v: &str) -> Result<LinuxThrottleDevice, RuntimeError> {
    let (major, minor, rate) = device_numbers(flag, v)?;
    let parsed = if bytes {
        crate::units::size::parse(&rate)
    } else {
        rate.parse::<u64>().ok()
    };
    let rate = parsed.ok_or_else(|| {
        let unit = if bytes {
            "<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb"
        } else {
            "<number>. Number must be a positive integer"
        };
        bad(format!(
            "invalid argument {v:?} for --{flag}: invalid rate for device: {v}. The correct format is <device-path>:{unit}"
        ))
    })?;
    built(
        LinuxThrottleDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .rate(rate)
            .build(),
    )
}

fn memory(res: &mut LinuxResources, r: &Resources) -> Result<(), RuntimeError> {
    let swappiness = match r.memory_swappiness {
        None | Some(-1) => None,
        Some(s @ 0..=100) => Some(s as u64),
        Some(s) => {
            return Err(bad(format!(
                "invalid value: {s}, valid memory swappiness range is 0-100"
            )));
        }
    };
    if r.memory <= 0
        && r.memory_reservation <= 0
        && r.memory_swap == 0
        && swappiness.is_none()
        && !r.oom_kill_disable
    {
        return Ok(());
    }
    let mut mem = res.memory().unwrap_or_default();
    if swappiness.is_some() {
        mem.set_swappiness(swappiness);
    }
    if r.oom_kill_disable {
        mem.set_disable_oom_killer(Some(true));
    }
    if r.memory > 0 {
        mem.set_limit(Some(r.memory));
        // Docker: without --memory-swap, as much swap as memory (total 2x).
        mem.set_swap(Some(match r.memory_swap {
            0 => r.memory * 2,
            s => s,
        }));
    } else if r.memory_swap != 0 {
        return Err(RuntimeError::BadArgs(
            "you should always set the memory limit when using the memory swap limit (--memory with --memory-swap)".into(),
        ));
    }
    if r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(RuntimeError::BadArgs(
            "minimum memoryswap limit should be larger than memory limit, see usage".into(),
        ));
    }
    if r.memory_reservation > 0 {
        mem.set_reservation(Some(r.memory_reservation));
    }
    res.set_memory(Some(mem));
    Ok(())
}

fn cpu(res: &mut LinuxResources, r: &Resources) -> Result<(), RuntimeError> {
    if r.cpu_shares == 0
        && r.nano_cpus <= 0
        && r.cpu_quota == 0
        && r.cpu_period == 0
        && r.cpuset_cpus.is_empty()
        && r.cpuset_mems.is_empty()
        && r.cpu_realtime_period == 0
        && r.cpu_realtime_runtime == 0
    {
        return Ok(());
    }
    let mut cpu = res.cpu().clone().unwrap_or_default();
    if r.cpu_realtime_period > 0 && r.cpu_realtime_runtime > r.cpu_realtime_period {
        return Err(bad(
            "--cpu-rt-runtime cannot be higher than --cpu-rt-period".into(),
        ));
    }
    if r.cpu_realtime_period < 0 || r.cpu_realtime_runtime < -1 {
        return Err(bad(
            "--cpu-rt-period and --cpu-rt-runtime take microseconds (positive)".into(),
        ));
    }
    if r.cpu_realtime_period > 0 {
        cpu.set_realtime_period(Some(r.cpu_realtime_period as u64));
    }
    if r.cpu_realtime_runtime != 0 {
        cpu.set_realtime_runtime(Some(r.cpu_realtime_runtime));
    }
    if r.cpu_shares > 0 {
        cpu.set_shares(Some(r.cpu_shares));
    }
    if r.nano_cpus > 0 {
        if r.cpu_quota != 0 || r.cpu_period > 0 {
            return Err(RuntimeError::BadArgs(
                "conflicting options: --cpus and --cpu-period/--cpu-quota cannot be used together"
                    .into(),
            ));
        }
        let period = 100_000i64;
        cpu.set_period(Some(period as u64));
        cpu.set_quota(Some(r.nano_cpus * period / 1_000_000_000));
    }
    if r.cpu_period > 0 {
        cpu.set_period(Some(r.cpu_period));
    }
    if r.cpu_quota != 0 {
        cpu.set_quota(Some(r.cpu_quota));
    }
    if !r.cpuset_cpus.is_empty() {
        cpu.set_cpus(Some(r.cpuset_cpus.clone()));
    }
    if !r.cpuset_mems.is_empty() {
        cpu.set_mems(Some(r.cpuset_mems.clone()));
    }
    res.set_cpu(Some(cpu));
    Ok(())
}
