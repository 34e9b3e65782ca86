//! `linux.resources` from Docker's resource flags.

use oci_spec::runtime::{LinuxBlockIo, LinuxPidsBuilder, LinuxResources};

use super::built;
use crate::protocol::Resources;
use crate::runtime::RuntimeError;

/// `--memory`, `--memory-swap`, `--memory-reservation`, the CPU flags, `--pids-limit` and
/// `--blkio-weight`, with Docker's refusals.
pub(super) fn resources(res: &mut LinuxResources, r: &Resources) -> Result<(), RuntimeError> {
    memory(res, r)?;
    cpu(res, r)?;
    if r.pids_limit != 0 {
        res.set_pids(Some(built(
            LinuxPidsBuilder::default().limit(r.pids_limit).build(),
        )?));
    }
    if r.blkio_weight > 0 {
        if !(10..=1000).contains(&r.blkio_weight) {
            return Err(RuntimeError::BadArgs(
                "--blkio-weight must be between 10 and 1000".into(),
            ));
        }
        let mut b = LinuxBlockIo::default();
        b.set_weight(Some(r.blkio_weight));
        res.set_block_io(Some(b));
    }
    Ok(())
}

fn memory(res: &mut LinuxResources, r: &Resources) -> Result<(), RuntimeError> {
    if r.memory <= 0 && r.memory_reservation <= 0 && r.memory_swap == 0 {
        return Ok(());
    }
    let mut mem = res.memory().unwrap_or_default();
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
    {
        return Ok(());
    }
    let mut cpu = res.cpu().clone().unwrap_or_default();
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
