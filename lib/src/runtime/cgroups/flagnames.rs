//! The Docker flag behind a `linux.resources` field, so that a `berth run` whose limit this
//! host cannot apply is told which flag to drop, not which config.json field.

/// The Docker flag that sets a `linux.resources` field, for the errors of a `berth run`.
pub fn docker_flag(field: &str) -> Option<&'static str> {
    const FLAGS: &[(&str, &str)] = &[
        ("linux.resources.memory.limit", "--memory"),
        ("linux.resources.memory.swappiness", "--memory-swappiness"),
        ("linux.resources.memory.swap", "--memory-swap"),
        ("linux.resources.memory.reservation", "--memory-reservation"),
        (
            "linux.resources.memory.disableOOMKiller",
            "--oom-kill-disable",
        ),
        ("linux.resources.memory.kernel", "--kernel-memory"),
        ("linux.resources.cpu.shares", "--cpu-shares"),
        ("linux.resources.cpu.quota", "--cpu-quota (or --cpus)"),
        ("linux.resources.cpu.period", "--cpu-period"),
        ("linux.resources.cpu.realtimePeriod", "--cpu-rt-period"),
        ("linux.resources.cpu.realtimeRuntime", "--cpu-rt-runtime"),
        ("linux.resources.cpu.cpus", "--cpuset-cpus"),
        ("linux.resources.cpu.mems", "--cpuset-mems"),
        ("linux.resources.pids", "--pids-limit"),
        (
            "linux.resources.blockIO.weightDevice",
            "--blkio-weight-device",
        ),
        ("linux.resources.blockIO.weight", "--blkio-weight"),
        (
            "linux.resources.blockIO.throttleReadBpsDevice",
            "--device-read-bps",
        ),
        (
            "linux.resources.blockIO.throttleWriteBpsDevice",
            "--device-write-bps",
        ),
        (
            "linux.resources.blockIO.throttleReadIOPSDevice",
            "--device-read-iops",
        ),
        (
            "linux.resources.blockIO.throttleWriteIOPSDevice",
            "--device-write-iops",
        ),
        (
            "linux.resources.devices",
            "--device-cgroup-rule or --device",
        ),
    ];
    FLAGS
        .iter()
        .find(|(f, _)| {
            field == *f
                || field
                    .strip_prefix(f)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
        .map(|(_, flag)| *flag)
}

static DOCKER_NAMES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Errors name the Docker flag of a field from now on (in this process): berth-spawn's
/// Docker verbs set this, its OCI runtime verbs do not (a config.json has no flags).
pub fn name_docker_flags() {
    DOCKER_NAMES.store(true, std::sync::atomic::Ordering::Relaxed);
}

fn flag_named(field: &str) -> Option<&'static str> {
    if DOCKER_NAMES.load(std::sync::atomic::Ordering::Relaxed) {
        docker_flag(field)
    } else {
        None
    }
}

/// A field as the errors show it: with its Docker flag where it has one.
pub(super) fn named(field: &str) -> String {
    match flag_named(field) {
        Some(flag) => format!("{flag} ({field})"),
        None => field.to_string(),
    }
}

/// What to do about a field this host cannot apply.
pub(super) fn fix(field: &str) -> String {
    match flag_named(field) {
        Some(flag) => format!("run without {flag}, or remove it from config.json"),
        None => "remove it from config.json".into(),
    }
}
