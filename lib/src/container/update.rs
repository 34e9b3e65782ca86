//! Docker `update`: new resource limits and a new restart policy for a container, running or
//! not (moby's `daemon/update.go` and `Container.UpdateContainer`).
//!
//! The request carries only what was given (zero is "unchanged", as in Docker's API). It is
//! checked alone first (moby's `verifyPlatformContainerResources`: `Minimum memory limit
//! allowed is 6MB`...), then merged into the record's `process` section under the record lock,
//! with Docker's conflicts against what is already set (`Cannot update container ID: ...`).
//! The merged limits are written to the bundle's config.json, so a later start or restart
//! keeps them, and, if the container's process runs (or is paused), to its cgroup at once
//! (`runtime::oci::update`: v1, v2 and hybrid), first: if the cgroup refuses, the record and
//! config.json stay as they were. The monitor reads the restart policy from the record at each
//! exit (`restart::exited`), so a new policy takes effect at the next exit of a running
//! detached container.

use super::{ContainerError, bundle_path, runtime_root};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{Resources, RestartPolicy, Status};
use crate::runtime::{RuntimeError, flags, oci};
use crate::state::{Containers, truth};

/// Docker's smallest memory limit and reservation (moby `linuxMinMemory`).
const MIN_MEMORY: i64 = 6 << 20;

/// What `update` changes: the resource fields that are non-zero, and the restart policy if
/// given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateRequest {
    pub resources: Resources,
    pub restart: Option<RestartPolicy>,
}

impl UpdateRequest {
    /// True if nothing would change (docker/cli refuses that before asking the daemon).
    pub fn is_empty(&self) -> bool {
        self.resources == Resources::default() && self.restart.is_none()
    }
}

fn bad(m: impl Into<String>) -> Error {
    ContainerError::BadArgs(m.into()).into()
}

/// Docker `update` of one container: returns its id.
pub fn update(paths: &Paths, arg: &str, req: &UpdateRequest) -> Result<String, Error> {
    verify(&req.resources)?;
    let containers = Containers::new(paths);
    let id = containers.resolve(arg)?;
    // Corrects a record whose process died unseen before its status is trusted below.
    truth::observe(&containers, containers.load(&id)?)?;
    let cannot = |e: String| bad(format!("Cannot update container {id}: {e}"));
    containers.update(&id, |r| {
        let bundle = bundle_path(r)?;
        let running = r
            .state
            .as_ref()
            .is_some_and(|s| matches!(s.status, Status::Running | Status::Paused) && s.pid > 0);
        let p = r.process.get_or_insert_with(Default::default);
        let merged = merge(&p.resources, &req.resources).map_err(cannot)?;
        if p.auto_remove && req.restart.as_ref().is_some_and(|r| r.name != "no") {
            return Err(cannot(
                "Restart policy cannot be updated because AutoRemove is enabled for the container"
                    .into(),
            ));
        }
        if running {
            let live = flags::linux_resources(&live_delta(&req.resources, &merged))?;
            oci::update(&runtime_root(paths), &id, &live)
                .map_err(|e| cannot(Error::from(e).one_line()))?;
        }
        let linux = flags::linux_resources(&merged)?;
        crate::ocispec::edit(&bundle, |spec| set_resources(spec, &linux))?;
        p.resources = merged;
        if let Some(policy) = &req.restart {
            p.restart = policy.clone();
        }
        Ok::<_, Error>(())
    })?;
    Ok(id)
}

/// Puts `linux` (the merged limits, devices aside) into config.json's linux.resources.
fn set_resources(
    spec: &mut oci_spec::runtime::Spec,
    linux: &oci_spec::runtime::LinuxResources,
) -> Result<(), RuntimeError> {
    let Some(mut l) = spec.linux().clone() else {
        return Err(RuntimeError::Invalid(
            "config.json has no linux section".into(),
        ));
    };
    let mut res = l.resources().clone().unwrap_or_default();
    res.set_memory(*linux.memory());
    res.set_cpu(linux.cpu().clone());
    res.set_pids(*linux.pids());
    res.set_block_io(linux.block_io().clone());
    l.set_resources(Some(res));
    spec.set_linux(Some(l));
    Ok(())
}

/// What the running cgroup is given: the fields of the request, with the merged memory and
/// swap together (cgroup v1 checks one against the other).
fn live_delta(given: &Resources, merged: &Resources) -> Resources {
    let mut d = given.clone();
    if given.memory != 0 || given.memory_swap != 0 {
        d.memory = merged.memory;
        d.memory_swap = merged.memory_swap;
    }
    d
}

/// moby's checks of an update request on its own (`verifyPlatformContainerResources`, with
/// `update` true), in its words.
fn verify(r: &Resources) -> Result<(), Error> {
    if r.memory != 0 && r.memory < MIN_MEMORY {
        return Err(bad("Minimum memory limit allowed is 6MB"));
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(bad(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if r.memory_reservation > 0 && r.memory_reservation < MIN_MEMORY {
        return Err(bad("Minimum memory reservation allowed is 6MB"));
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return Err(bad(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(bad(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get()) as i64;
    if r.nano_cpus < 0 || r.nano_cpus > ncpu * 1_000_000_000 {
        return Err(bad(format!(
            "range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(bad(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(bad("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(bad("Range of blkio weight is from 10 to 1000"));
    }
    Ok(())
}

/// True if an update request sets the field (Docker's API: zero is unchanged).
fn given<T: Default + PartialEq>(v: &T) -> bool {
    *v != T::default()
}

/// moby's `UpdateContainer`: each given (non-zero) field replaces the old one, after its
/// conflicts with what is already set. The message is the part after `Cannot update
/// container ID: `.
fn merge(old: &Resources, new: &Resources) -> Result<Resources, String> {
    let conflict = |what: &str, set: &str| {
        format!("Conflicting options: {what} cannot be updated as {set} has already been set")
    };
    if new.nano_cpus > 0 && old.cpu_period > 0 {
        return Err(conflict("Nano CPUs", "CPU Period"));
    }
    if new.nano_cpus > 0 && old.cpu_quota > 0 {
        return Err(conflict("Nano CPUs", "CPU Quota"));
    }
    if new.cpu_period > 0 && old.nano_cpus > 0 {
        return Err(conflict("CPU Period", "NanoCPUs"));
    }
    if new.cpu_quota > 0 && old.nano_cpus > 0 {
        return Err(conflict("CPU Quota", "NanoCPUs"));
    }
    let mut m = old.clone();
    // Docker stores the swap it derived at create (twice the memory) and keeps it: an update
    // of the memory alone does not derive it again.
    if m.memory > 0 && m.memory_swap == 0 {
        m.memory_swap = m.memory * 2;
    }
    if new.memory != 0 {
        if new.memory > m.memory_swap && new.memory_swap == 0 {
            return Err(
                "Memory limit should be smaller than already set memoryswap limit, \
                        update the memoryswap at the same time"
                    .into(),
            );
        }
        m.memory = new.memory;
    }
    macro_rules! take {
        ($($f:ident),*) => {$(
            if given(&new.$f) {
                m.$f = new.$f.clone();
            }
        )*};
    }
    take!(
        memory_swap,
        memory_reservation,
        cpu_shares,
        nano_cpus,
        cpu_period,
        cpu_quota,
        cpuset_cpus,
        cpuset_mems,
        pids_limit,
        blkio_weight,
        cpu_realtime_period,
        cpu_realtime_runtime
    );
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(f: impl FnOnce(&mut Resources)) -> Resources {
        let mut r = Resources::default();
        f(&mut r);
        r
    }

    #[test]
    fn merge_keeps_what_is_not_given_and_refuses_dockers_conflicts() {
        let old = res(|r| {
            r.memory = 64 << 20;
            r.cpu_shares = 512;
        });
        let m = merge(&old, &res(|r| r.pids_limit = 10)).unwrap();
        assert_eq!(
            (m.memory, m.memory_swap, m.cpu_shares, m.pids_limit),
            (64 << 20, 128 << 20, 512, 10)
        );
        // Up to the swap Docker derived at create, the memory alone may grow.
        let m = merge(&old, &res(|r| r.memory = 100 << 20)).unwrap();
        assert_eq!((m.memory, m.memory_swap), (100 << 20, 128 << 20));
        let e = merge(&old, &res(|r| r.memory = 200 << 20)).unwrap_err();
        assert!(e.starts_with("Memory limit should be smaller"), "{e}");
        // No memory limit yet: Docker wants the swap with it.
        assert!(merge(&Resources::default(), &res(|r| r.memory = 64 << 20)).is_err());
        let both = res(|r| {
            r.memory = 64 << 20;
            r.memory_swap = -1;
        });
        assert_eq!(merge(&Resources::default(), &both).unwrap().memory_swap, -1);
        let cpus = res(|r| r.nano_cpus = 500_000_000);
        assert_eq!(
            merge(&cpus, &res(|r| r.cpu_quota = 5000)).unwrap_err(),
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        );
        assert_eq!(
            merge(&res(|r| r.cpu_period = 5000), &cpus).unwrap_err(),
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set"
        );
    }

    #[test]
    fn verify_speaks_mobys_words() {
        let e = |r: Resources| verify(&r).unwrap_err().one_line();
        assert_eq!(
            e(res(|r| r.memory = 1 << 20)),
            "Minimum memory limit allowed is 6MB"
        );
        assert_eq!(
            e(res(|r| {
                r.memory = 64 << 20;
                r.memory_swap = 32 << 20;
            })),
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        );
        assert_eq!(
            e(res(|r| r.blkio_weight = 5)),
            "Range of blkio weight is from 10 to 1000"
        );
        assert_eq!(
            e(res(|r| {
                r.nano_cpus = 1;
                r.cpu_period = 10_000;
            })),
            "Conflicting options: Nano CPUs and CPU Period cannot both be set"
        );
        assert!(verify(&res(|r| r.pids_limit = -1)).is_ok());
    }
}
