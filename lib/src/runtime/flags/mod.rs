//! Docker's HostConfig flags (the record's `process` section) applied to a bundle's
//! config.json: capabilities, privileged mode, resources, devices, ulimits, namespace
//! sharing, `--init`, the cgroup path, and `--security-opt` ([`secopt`]: seccomp,
//! no-new-privileges, AppArmor, SELinux, system paths). The edit is done on oci-spec's
//! typed config, one function per part of it (`devices`, `resources` for those parts).

use oci_spec::runtime::{
    Capabilities, Capability, Linux, LinuxCapabilitiesBuilder, LinuxIdMappingBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
    Process, Spec, User,
};
use serde::Deserialize;
use serde::de::IntoDeserializer;

mod devices;
mod kernel;
mod resources;

pub use kernel::default_cgroupns;
pub use resources::linux_resources;

use devices::paths_and_devices;
use resources::resources;

use super::lsm::Host;
use super::{RuntimeError, caps, secopt, sys};
use crate::protocol::ProcessSection;

/// oci-spec's builders fail only on a missing required field: a bug here, reported as such.
fn built<T>(r: Result<T, oci_spec::OciSpecError>) -> Result<T, RuntimeError> {
    r.map_err(|e| RuntimeError::Invalid(format!("config.json after the flags: {e}")))
}

/// How a namespace flag was given: `host`, `container:NAME`, or private.
fn namespace_mode(
    linux: &mut Linux,
    (typ, kind): (LinuxNamespaceType, &str),
    mode: &str,
    lookup: &dyn Fn(&str) -> Result<i32, RuntimeError>,
) -> Result<(), RuntimeError> {
    let Some(mut list) = linux.namespaces().clone() else {
        return Ok(());
    };
    let proc_name = match kind {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    };
    match mode {
        "" | "private" | "shareable" => {}
        "host" => list.retain(|n| n.typ() != typ),
        m if m.starts_with("container:") => {
            let pid = lookup(&m["container:".len()..])?;
            list.retain(|n| n.typ() != typ);
            list.push(built(
                LinuxNamespaceBuilder::default()
                    .typ(typ)
                    .path(format!("/proc/{pid}/ns/{proc_name}"))
                    .build(),
            )?);
        }
        other => {
            return Err(RuntimeError::BadArgs(format!(
                "invalid {kind} mode {other:?} (use host, private or container:NAME)"
            )));
        }
    }
    linux.set_namespaces(Some(list));
    Ok(())
}

/// `--userns`: `host` (the default) or `auto`/`HOSTID[:SIZE]`, a private user namespace
/// mapping container ids 0..SIZE to host ids HOSTID.. (default 100000:65536, like
/// /etc/subuid's first range).
fn userns(linux: &mut Linux, mode: &str) -> Result<(), RuntimeError> {
    let (base, size): (u32, u32) = match mode {
        "" | "host" => return Ok(()),
        "auto" => (100_000, 65_536),
        m => {
            let (b, s) = m.split_once(':').unwrap_or((m, "65536"));
            match (b.parse(), s.parse()) {
                (Ok(b), Ok(s)) if s > 0 => (b, s),
                _ => {
                    return Err(RuntimeError::BadArgs(format!(
                        "invalid --userns {m:?} (use host, auto or HOSTID[:SIZE])"
                    )));
                }
            }
        }
    };
    if let Some(mut list) = linux.namespaces().clone() {
        list.retain(|n| n.typ() != LinuxNamespaceType::User);
        list.push(built(
            LinuxNamespaceBuilder::default()
                .typ(LinuxNamespaceType::User)
                .build(),
        )?);
        linux.set_namespaces(Some(list));
    }
    let map = built(
        LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(base)
            .size(size)
            .build(),
    )?;
    linux.set_uid_mappings(Some(vec![map]));
    linux.set_gid_mappings(Some(vec![map]));
    Ok(())
}

fn ulimit(arg: &str) -> Result<PosixRlimit, RuntimeError> {
    let bad = || {
        RuntimeError::BadArgs(format!(
            "invalid ulimit {arg:?} (use name=soft[:hard], e.g. nofile=1024:2048)"
        ))
    };
    let (name, vals) = arg.split_once('=').ok_or_else(bad)?;
    let known = [
        "core",
        "cpu",
        "data",
        "fsize",
        "locks",
        "memlock",
        "msgqueue",
        "nice",
        "nofile",
        "nproc",
        "rss",
        "rtprio",
        "rttime",
        "sigpending",
        "stack",
        "as",
    ];
    if !known.contains(&name) {
        return Err(bad());
    }
    let (s, h) = vals.split_once(':').unwrap_or((vals, vals));
    let p = |v: &str| -> Result<u64, RuntimeError> {
        if v == "-1" || v == "unlimited" {
            Ok(u64::MAX)
        } else {
            v.parse().map_err(|_| bad())
        }
    };
    let (soft, hard) = (p(s)?, p(h)?);
    if soft > hard {
        return Err(RuntimeError::BadArgs(format!(
            "ulimit {arg:?}: the soft limit is above the hard limit"
        )));
    }
    let typ: PosixRlimitType = format!("RLIMIT_{}", name.to_uppercase())
        .parse()
        .map_err(|_| bad())?;
    built(
        PosixRlimitBuilder::default()
            .typ(typ)
            .soft(soft)
            .hard(hard)
            .build(),
    )
}

/// Applies the `process` section to `spec`. `lookup` resolves `container:NAME` to a pid.
pub fn apply(
    spec: &mut Spec,
    p: &ProcessSection,
    id: &str,
    lookup: &dyn Fn(&str) -> Result<i32, RuntimeError>,
) -> Result<(), RuntimeError> {
    apply_on(spec, p, id, lookup, &Host::detect(), None)
}

/// [`apply`] for the bundle at `bundle`, whose root filesystem `--group-add`'s names are
/// looked up in.
pub fn apply_in(
    spec: &mut Spec,
    p: &ProcessSection,
    id: &str,
    lookup: &dyn Fn(&str) -> Result<i32, RuntimeError>,
    bundle: &std::path::Path,
) -> Result<(), RuntimeError> {
    apply_on(spec, p, id, lookup, &Host::detect(), Some(bundle))
}

/// [`apply`] for the security modules of `host`, in the bundle `bundle` if known.
fn apply_on(
    spec: &mut Spec,
    p: &ProcessSection,
    id: &str,
    lookup: &dyn Fn(&str) -> Result<i32, RuntimeError>,
    host: &Host,
    bundle: Option<&std::path::Path>,
) -> Result<(), RuntimeError> {
    let sec = secopt::parse(&p.security_opt)?;
    let rootfs = bundle.map(|b| match spec.root() {
        Some(r) => b.join(r.path()),
        None => b.join("rootfs"),
    });
    let mut process = spec
        .process()
        .clone()
        .ok_or_else(|| RuntimeError::Invalid("config.json has no process section".into()))?;
    process_flags(&mut process, p, rootfs.as_deref())?;
    spec.set_process(Some(process));
    let mut linux = match spec.linux().clone() {
        Some(l) => l,
        None => empty()?,
    };
    paths_and_devices(&mut linux, p)?;
    let mut res = linux.resources().clone().unwrap_or_default();
    resources(&mut res, &p.resources)?;
    if !p.device_cgroup_rules.is_empty() {
        let mut rules = res.devices().clone().unwrap_or_default();
        for r in &p.device_cgroup_rules {
            rules.push(kernel::device_rule(r)?);
        }
        res.set_devices(Some(rules));
    }
    linux.set_resources(Some(res));
    linux.set_cgroups_path(Some(kernel::cgroup_path(p, id)?.into()));
    namespace_mode(&mut linux, (LinuxNamespaceType::Ipc, "ipc"), &p.ipc, lookup)?;
    namespace_mode(&mut linux, (LinuxNamespaceType::Pid, "pid"), &p.pid, lookup)?;
    namespace_mode(&mut linux, (LinuxNamespaceType::Uts, "uts"), &p.uts, lookup)?;
    kernel::cgroupns(&mut linux, &p.cgroupns)?;
    userns(&mut linux, &p.userns)?;
    kernel::sysctls(&mut linux, p)?;
    spec.set_linux(Some(linux));
    kernel::shm_size(spec, p.shm_size)?;
    if p.privileged {
        sys_writable(spec);
    }
    secopt::edit(spec, &sec, p.privileged, id, host)?;
    init_annotation(spec, p.init);
    annotations(spec, p)
}

/// `--annotation KEY=VALUE`: into config.json's annotations, for the OCI runtime.
fn annotations(spec: &mut Spec, p: &ProcessSection) -> Result<(), RuntimeError> {
    if p.annotations.is_empty() {
        return Ok(());
    }
    let mut ann = spec.annotations().clone().unwrap_or_default();
    for (k, v) in &p.annotations {
        if k.is_empty() {
            return Err(RuntimeError::BadArgs(
                "invalid --annotation: the key is empty (use KEY=VALUE)".into(),
            ));
        }
        ann.insert(k.clone(), v.clone());
    }
    spec.set_annotations(Some(ann));
    Ok(())
}

/// A section config.json does not have starts empty, as its JSON form would (oci-spec's
/// `Default` is a sample config's values instead).
fn empty<T: for<'de> Deserialize<'de>>() -> Result<T, RuntimeError> {
    serde_json::from_str("{}").map_err(|e| RuntimeError::Invalid(e.to_string()))
}

/// `-t`, the capability sets (Docker's default, `--cap-add`, `--cap-drop`, `--privileged`;
/// effective and permitted only for root), `--ulimit`, `--oom-score-adj` and `--group-add`
/// (names looked up in `rootfs`).
fn process_flags(
    process: &mut Process,
    p: &ProcessSection,
    rootfs: Option<&std::path::Path>,
) -> Result<(), RuntimeError> {
    process.set_terminal(Some(p.tty));
    if let Some(adj) = kernel::oom_score_adj(p.oom_score_adj)? {
        process.set_oom_score_adj(Some(adj));
    }
    let added = kernel::group_ids(rootfs, &p.group_add)?;
    if !added.is_empty() {
        let mut user = process.user().clone();
        let mut gids = user.additional_gids().clone().unwrap_or_default();
        for g in added {
            if !gids.contains(&g) {
                gids.push(g);
            }
        }
        user.set_additional_gids(Some(gids));
        process.set_user(user);
    }
    let set = capabilities(&caps::docker_set(
        &caps::docker_default(),
        &p.cap_add,
        &p.cap_drop,
        p.privileged,
    )?)?;
    let (eff, perm) = if process.user().uid() == 0 || p.privileged {
        (set.clone(), set.clone())
    } else {
        (Capabilities::new(), Capabilities::new())
    };
    process.set_capabilities(Some(built(
        LinuxCapabilitiesBuilder::default()
            .bounding(set)
            .effective(eff)
            .permitted(perm)
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build(),
    )?));
    let mut rl = process.rlimits().clone().unwrap_or_default();
    for u in &p.ulimits {
        let new = ulimit(u)?;
        rl.retain(|r| r.typ() != new.typ());
        rl.push(new);
    }
    process.set_rlimits(Some(rl));
    Ok(())
}

/// `CAP_NET_ADMIN`... as oci-spec's set.
fn capabilities(names: &[String]) -> Result<Capabilities, RuntimeError> {
    names
        .iter()
        .map(|n| {
            Capability::deserialize(n.as_str().into_deserializer()).map_err(
                |e: serde::de::value::Error| {
                    RuntimeError::Invalid(format!("config.json after the flags: {e}"))
                },
            )
        })
        .collect()
}

/// Privileged containers see /sys and their cgroups read-write.
fn sys_writable(spec: &mut Spec) {
    let Some(mut mounts) = spec.mounts().clone() else {
        return;
    };
    for m in mounts.iter_mut() {
        if matches!(m.destination().to_str(), Some("/sys" | "/sys/fs/cgroup"))
            && let Some(mut o) = m.options().clone()
        {
            o.retain(|x| x != "ro");
            m.set_options(Some(o));
        }
    }
    spec.set_mounts(Some(mounts));
}

/// berth's `--init`: the annotation the runtime reads, set or removed.
fn init_annotation(spec: &mut Spec, init: bool) {
    let mut ann = spec.annotations().clone().unwrap_or_default();
    if init {
        ann.insert(super::process::INIT_ANNOTATION.into(), "true".into());
    } else {
        ann.remove(super::process::INIT_ANNOTATION);
    }
    spec.set_annotations(Some(ann));
}

/// Resolves `user[:group]` (names or ids) for a process entering the running container whose
/// init is `pid` (started at `start`), against /etc/passwd and /etc/group as the container's
/// processes see them, its mounts included, with berth-unpack's resolver (runc's GetExecUser
/// rules, which Docker follows). The files are read by descriptor inside the container's
/// root (`Root::of_process`, openat2 `RESOLVE_IN_ROOT`), never by a host path string such as
/// `/proc/PID/root/etc/passwd`, whose absolute symlinks the kernel would follow on the host.
pub fn resolve_user(pid: i32, start: u64, spec: &str) -> Result<User, RuntimeError> {
    let root = crate::confine::Root::of_process(pid, start, crate::confine::RESOLVE_MOUNTS)
        .map_err(|e| {
            sys(
                format!("entering the root of the container's process {pid}"),
                e,
            )
        })?;
    let r = crate::bundle::user::resolve_at(&root, spec).map_err(RuntimeError::BadArgs)?;
    let mut user = User::default();
    user.set_uid(r.uid);
    user.set_gid(r.gid);
    user.set_additional_gids((!r.additional_gids.is_empty()).then_some(r.additional_gids));
    Ok(user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn ulimits() {
        assert_eq!(ulimit("nofile=1024:2048").unwrap().hard(), 2048);
        assert!(ulimit("nofile=9:1").is_err());
        assert!(ulimit("bogus=1").is_err());
    }

    #[test]
    fn docker_defaults_and_flags_land_in_the_config() {
        let mut spec = Spec::default();
        let mut p = ProcessSection::default();
        p.resources.memory = 32 << 20;
        p.resources.nano_cpus = 1_500_000_000;
        p.resources.pids_limit = 10;
        p.cap_add = vec!["NET_ADMIN".into()];
        apply(&mut spec, &p, "abc", &|_| Ok(1)).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(v["linux"]["resources"]["memory"]["swap"], 64 << 20);
        assert_eq!(v["linux"]["resources"]["cpu"]["quota"], 150000);
        assert_eq!(v["linux"]["resources"]["pids"]["limit"], 10);
        assert!(v["linux"]["seccomp"]["syscalls"].as_array().unwrap().len() > 3);
        assert!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .contains(&json!("CAP_NET_ADMIN"))
        );
        assert!(
            v["linux"]["cgroupsPath"]
                .as_str()
                .unwrap()
                .ends_with("/abc")
        );
    }

    fn rich(privileged: bool) -> (Spec, ProcessSection) {
        let mut spec = Spec::default();
        let mut ann = std::collections::HashMap::new();
        ann.insert("org.example".to_string(), "kept".to_string());
        spec.set_annotations(Some(ann));
        let mut p = ProcessSection {
            tty: true,
            init: true,
            privileged,
            cap_add: vec!["NET_ADMIN".into(), "SYS_PTRACE".into()],
            cap_drop: vec!["CHOWN".into()],
            ulimits: vec![
                "nofile=1024:2048".into(),
                "nproc=100".into(),
                "core=-1".into(),
            ],
            devices: vec!["/dev/null:/dev/xnull:rw".into(), "/dev/zero".into()],
            ipc: "host".into(),
            pid: "container:other".into(),
            uts: "host".into(),
            userns: "auto".into(),
            security_opt: vec!["no-new-privileges".into(), "seccomp=unconfined".into()],
            // Not the host's default (which depends on its cgroup layout).
            cgroupns: "private".into(),
            ..Default::default()
        };
        let r = &mut p.resources;
        r.memory = 64 << 20;
        r.memory_swap = 128 << 20;
        r.memory_reservation = 32 << 20;
        r.cpu_shares = 512;
        r.nano_cpus = 1_500_000_000;
        r.cpuset_cpus = "0".into();
        r.cpuset_mems = "0".into();
        r.pids_limit = 10;
        r.blkio_weight = 500;
        (spec, p)
    }

    /// A non-root user, explicit CPU period and quota, unlimited swap, writable cgroups,
    /// no system paths, the builtin seccomp profile, a given cgroup path, and an `--init`
    /// annotation to remove.
    fn rich_user() -> (Spec, ProcessSection) {
        let mut spec = Spec::default();
        let mut process = spec.process().clone().unwrap();
        let mut user = User::default();
        user.set_uid(1000);
        user.set_gid(1000);
        process.set_user(user);
        spec.set_process(Some(process));
        let mut ann = std::collections::HashMap::new();
        ann.insert(
            super::super::process::INIT_ANNOTATION.to_string(),
            "true".into(),
        );
        spec.set_annotations(Some(ann));
        let mut p = ProcessSection {
            cap_add: vec!["ALL".into()],
            cap_drop: vec!["MKNOD".into()],
            cgroup_path: "/custom/x".into(),
            security_opt: vec![
                "writable-cgroups=true".into(),
                "systempaths=unconfined".into(),
                "seccomp=builtin".into(),
            ],
            cgroupns: "private".into(),
            ..Default::default()
        };
        p.resources.memory = 16 << 20;
        p.resources.memory_swap = -1;
        p.resources.cpu_period = 50_000;
        p.resources.cpu_quota = 25_000;
        (spec, p)
    }

    /// config.json for a rich set of flags, as the flags edited it before they moved from
    /// untyped JSON to oci-spec's types (`testdata/flags_rich.json`; host devices aside).
    #[test]
    fn a_rich_set_of_flags_gives_the_same_config() {
        let mut got = serde_json::Map::new();
        for (name, (mut spec, p)) in [
            ("plain", rich(false)),
            ("privileged", rich(true)),
            ("user", rich_user()),
        ] {
            apply_on(
                &mut spec,
                &p,
                "abc",
                &|n| {
                    assert_eq!(n, "other");
                    Ok(42)
                },
                &Host::default(),
                None,
            )
            .unwrap();
            let mut v = serde_json::to_value(&spec).unwrap();
            // oci-spec keeps capabilities in hash sets: their order is not the config's. ALL
            // (and --privileged) is this process' bounding set: only that is compared.
            let mut all: Vec<Value> = caps::all_names().into_iter().map(Value::from).collect();
            all.sort_by_key(|c| c.to_string());
            for set in v["process"]["capabilities"]
                .as_object_mut()
                .unwrap()
                .values_mut()
            {
                set.as_array_mut().unwrap().sort_by_key(|c| c.to_string());
                if *set == Value::from(all.clone()) {
                    *set = json!("all of berth's bounding set");
                }
            }
            if p.cgroup_path.is_empty() {
                // Under BERTH_CGROUP_PARENT, if the environment sets it.
                let want = format!("{}/abc", super::super::cgroups::default_parent());
                assert_eq!(v["linux"]["cgroupsPath"], json!(want));
                v["linux"]["cgroupsPath"] = json!("<default parent>/abc");
            }
            if p.privileged {
                // Every device node of this host: only its presence is compared.
                let devs = v["linux"]["devices"].as_array().map_or(0, Vec::len);
                assert!(devs > 2, "{devs}");
                v["linux"]["devices"] = json!("host devices");
            }
            got.insert(name.into(), v);
        }
        let got = Value::Object(got);
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/runtime/testdata/flags_rich.json"
        );
        if std::env::var_os("BERTH_BLESS").is_some() {
            std::fs::write(file, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
        }
        let want: Value =
            serde_json::from_str(include_str!("../testdata/flags_rich.json")).unwrap();
        assert_eq!(got, want, "{}", serde_json::to_string_pretty(&got).unwrap());
    }
}
