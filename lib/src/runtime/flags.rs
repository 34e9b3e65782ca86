//! Docker's HostConfig flags (the record's `process` section) applied to a bundle's
//! config.json: capabilities, privileged mode, resources, devices, ulimits, namespace
//! sharing, `--init`, the cgroup path, and `--security-opt` ([`secopt`]: seccomp,
//! no-new-privileges, AppArmor, SELinux, system paths). The edit is done on the JSON
//! form of the config (OCI's own field names), which keeps each rule one readable line.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use oci_spec::runtime::{Spec, User};
use serde_json::{Value, json};

use super::{RuntimeError, caps, cgroups, defaults, secopt, sys};
use crate::protocol::ProcessSection;

/// Docker's default device cgroup rules (`crate::bundle::defaults`).
fn default_device_rules() -> Value {
    serde_json::to_value(crate::bundle::defaults::default_device_rules()).unwrap_or_default()
}

fn obj<'a>(v: &'a mut Value, key: &str) -> &'a mut Value {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    &mut v[key]
}

/// How a namespace flag was given: `host`, `container:NAME`, or private.
fn namespace_mode(
    linux: &mut Value,
    kind: &str,
    mode: &str,
    lookup: &dyn Fn(&str) -> Result<i32, RuntimeError>,
) -> Result<(), RuntimeError> {
    let list = linux["namespaces"].as_array_mut();
    let Some(list) = list else { return Ok(()) };
    let proc_name = match kind {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    };
    match mode {
        "" | "private" | "shareable" => {}
        "host" => list.retain(|n| n["type"] != kind),
        m if m.starts_with("container:") => {
            let pid = lookup(&m["container:".len()..])?;
            list.retain(|n| n["type"] != kind);
            list.push(json!({"type": kind, "path": format!("/proc/{pid}/ns/{proc_name}")}));
        }
        other => {
            return Err(RuntimeError::BadArgs(format!(
                "invalid {kind} mode {other:?} (use host, private or container:NAME)"
            )));
        }
    }
    Ok(())
}

/// `--userns`: `host` (the default) or `auto`/`HOSTID[:SIZE]`, a private user namespace
/// mapping container ids 0..SIZE to host ids HOSTID.. (default 100000:65536, like
/// /etc/subuid's first range).
fn userns(linux: &mut Value, mode: &str) -> Result<(), RuntimeError> {
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
    if let Some(list) = linux["namespaces"].as_array_mut() {
        list.retain(|n| n["type"] != "user");
        list.push(json!({"type": "user"}));
    }
    let map = json!([{"containerID": 0, "hostID": base, "size": size}]);
    linux["uidMappings"] = map.clone();
    linux["gidMappings"] = map;
    Ok(())
}

/// `--device HOST[:CONTAINER[:PERMS]]`.
fn device(
    spec_devices: &mut Vec<Value>,
    rules: &mut Vec<Value>,
    arg: &str,
) -> Result<(), RuntimeError> {
    let parts: Vec<&str> = arg.split(':').collect();
    let host = parts[0];
    let (dest, perms) = match parts.len() {
        1 => (host, "rwm"),
        2 if parts[1].chars().all(|c| "rwm".contains(c)) => (host, parts[1]),
        2 => (parts[1], "rwm"),
        _ => (parts[1], parts[2]),
    };
    let m = std::fs::metadata(host).map_err(|e| {
        RuntimeError::BadArgs(format!(
            "error gathering device information while adding custom device {host:?}: {e}"
        ))
    })?;
    let ft = m.file_type();
    let t = if ft.is_char_device() {
        "c"
    } else if ft.is_block_device() {
        "b"
    } else {
        return Err(RuntimeError::BadArgs(format!(
            "{host} is not a device node"
        )));
    };
    let (maj, min) = (libc::major(m.rdev()) as i64, libc::minor(m.rdev()) as i64);
    spec_devices.push(json!({"path": dest, "type": t, "major": maj, "minor": min,
        "fileMode": m.mode() & 0o777, "uid": 0, "gid": 0}));
    rules.push(json!({"allow": true, "type": t, "major": maj, "minor": min, "access": perms}));
    Ok(())
}

/// Every device node on the host, for `--privileged` (runc's `HostDevices`).
fn host_devices() -> Vec<Value> {
    let mut out = Vec::new();
    let mut stack = vec![std::path::PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = m.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !matches!(
                    name.to_str(),
                    Some("pts" | "shm" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")
                ) {
                    stack.push(p);
                }
                continue;
            }
            let t = if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else {
                continue;
            };
            if p == Path::new("/dev/console") {
                continue;
            }
            out.push(json!({"path": p, "type": t, "major": libc::major(m.rdev()),
                "minor": libc::minor(m.rdev()), "fileMode": m.mode() & 0o777,
                "uid": m.uid(), "gid": m.gid()}));
        }
    }
    out
}

fn ulimit(arg: &str) -> Result<Value, RuntimeError> {
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
    Ok(json!({"type": format!("RLIMIT_{}", name.to_uppercase()), "soft": soft, "hard": hard}))
}

/// Applies the `process` section to `spec`. `lookup` resolves `container:NAME` to a pid.
pub fn apply(
    spec: &mut Spec,
    p: &ProcessSection,
    id: &str,
    lookup: &dyn Fn(&str) -> Result<i32, RuntimeError>,
) -> Result<(), RuntimeError> {
    let sec = secopt::parse(&p.security_opt)?;
    let mut v = serde_json::to_value(&*spec).map_err(|e| RuntimeError::Invalid(e.to_string()))?;
    let uid = v["process"]["user"]["uid"].as_u64().unwrap_or(0);
    {
        let process = obj(&mut v, "process");
        process["terminal"] = json!(p.tty);
        let set = caps::docker_set(
            &caps::docker_default(),
            &p.cap_add,
            &p.cap_drop,
            p.privileged,
        )?;
        let (eff, perm) = if uid == 0 || p.privileged {
            (set.clone(), set.clone())
        } else {
            (vec![], vec![])
        };
        process["capabilities"] = json!({
            "bounding": set, "effective": eff, "permitted": perm, "inheritable": [], "ambient": []
        });
        let mut rl: Vec<Value> = process["rlimits"].as_array().cloned().unwrap_or_default();
        for u in &p.ulimits {
            let new = ulimit(u)?;
            rl.retain(|r| r["type"] != new["type"]);
            rl.push(new);
        }
        process["rlimits"] = json!(rl);
    }
    let linux = obj(&mut v, "linux");
    let r = &p.resources;
    let mut devs: Vec<Value> = linux["devices"].as_array().cloned().unwrap_or_default();
    let mut rules: Vec<Value>;
    if p.privileged {
        linux["maskedPaths"] = json!([]);
        linux["readonlyPaths"] = json!([]);
        devs = host_devices();
        rules = vec![json!({"allow": true, "access": "rwm"})];
    } else {
        linux["maskedPaths"] = json!(defaults::MASKED_PATHS);
        linux["readonlyPaths"] = json!(defaults::READONLY_PATHS);
        rules = default_device_rules()
            .as_array()
            .cloned()
            .unwrap_or_default();
    }
    for d in &p.devices {
        device(&mut devs, &mut rules, d)?;
    }
    linux["devices"] = json!(devs);
    let res = obj(linux, "resources");
    res["devices"] = json!(rules);
    if r.memory > 0 || r.memory_reservation > 0 || r.memory_swap != 0 {
        let mem = obj(res, "memory");
        if r.memory > 0 {
            mem["limit"] = json!(r.memory);
            // Docker: without --memory-swap, as much swap as memory (total 2x).
            mem["swap"] = json!(match r.memory_swap {
                0 => r.memory * 2,
                s => s,
            });
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
            mem["reservation"] = json!(r.memory_reservation);
        }
    }
    if r.cpu_shares > 0
        || r.nano_cpus > 0
        || r.cpu_quota != 0
        || r.cpu_period > 0
        || !r.cpuset_cpus.is_empty()
        || !r.cpuset_mems.is_empty()
    {
        let cpu = obj(res, "cpu");
        if r.cpu_shares > 0 {
            cpu["shares"] = json!(r.cpu_shares);
        }
        if r.nano_cpus > 0 {
            if r.cpu_quota != 0 || r.cpu_period > 0 {
                return Err(RuntimeError::BadArgs(
                    "conflicting options: --cpus and --cpu-period/--cpu-quota cannot be used together".into(),
                ));
            }
            let period = 100_000i64;
            cpu["period"] = json!(period);
            cpu["quota"] = json!(r.nano_cpus * period / 1_000_000_000);
        }
        if r.cpu_period > 0 {
            cpu["period"] = json!(r.cpu_period);
        }
        if r.cpu_quota != 0 {
            cpu["quota"] = json!(r.cpu_quota);
        }
        if !r.cpuset_cpus.is_empty() {
            cpu["cpus"] = json!(r.cpuset_cpus);
        }
        if !r.cpuset_mems.is_empty() {
            cpu["mems"] = json!(r.cpuset_mems);
        }
    }
    if r.pids_limit != 0 {
        res["pids"] = json!({"limit": r.pids_limit});
    }
    if r.blkio_weight > 0 {
        if !(10..=1000).contains(&r.blkio_weight) {
            return Err(RuntimeError::BadArgs(
                "--blkio-weight must be between 10 and 1000".into(),
            ));
        }
        res["blockIO"] = json!({"weight": r.blkio_weight});
    }
    let cg = if p.cgroup_path.is_empty() {
        format!("{}/{id}", cgroups::default_parent())
    } else {
        p.cgroup_path.clone()
    };
    linux["cgroupsPath"] = json!(cg);
    namespace_mode(linux, "ipc", &p.ipc, lookup)?;
    namespace_mode(linux, "pid", &p.pid, lookup)?;
    namespace_mode(linux, "uts", &p.uts, lookup)?;
    userns(linux, &p.userns)?;
    if p.privileged
        && let Some(mounts) = v["mounts"].as_array_mut()
    {
        // Privileged containers see /sys and their cgroups read-write.
        for m in mounts.iter_mut() {
            if matches!(m["destination"].as_str(), Some("/sys" | "/sys/fs/cgroup"))
                && let Some(o) = m["options"].as_array_mut()
            {
                o.retain(|x| x != "ro");
            }
        }
    }
    secopt::edit(&mut v, &sec, p.privileged, id, &super::lsm::Host::detect())?;
    let ann = obj(&mut v, "annotations");
    if p.init {
        ann[super::process::INIT_ANNOTATION] = json!("true");
    } else if let Some(m) = ann.as_object_mut() {
        m.remove(super::process::INIT_ANNOTATION);
    }
    *spec = serde_json::from_value(v)
        .map_err(|e| RuntimeError::Invalid(format!("config.json after the flags: {e}")))?;
    Ok(())
}

/// Resolves `user[:group]` (names or ids) for a process entering the running container whose
/// init is `pid` (started at `start`), against /etc/passwd and /etc/group as the container's
/// processes see them, its mounts included, with berth-unpack's resolver (runc's GetExecUser
/// rules, which Docker follows). The files are read by descriptor inside the container's
/// root (`Root::of_process`, openat2 `RESOLVE_IN_ROOT`), never by a host path string such as
/// `/proc/PID/root/etc/passwd`, whose absolute symlinks the kernel would follow on the host.
pub fn resolve_user(pid: i32, start: u64, spec: &str) -> Result<User, RuntimeError> {
    let root = crate::layer::root::Root::of_process(pid, start, crate::layer::root::RESOLVE_MOUNTS)
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

    #[test]
    fn ulimits() {
        assert_eq!(ulimit("nofile=1024:2048").unwrap()["hard"], 2048);
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
            apply(&mut spec, &p, "abc", &|n| {
                assert_eq!(n, "other");
                Ok(42)
            })
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
                let want = format!("{}/abc", cgroups::default_parent());
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
        let want: Value = serde_json::from_str(include_str!("testdata/flags_rich.json")).unwrap();
        assert_eq!(got, want, "{}", serde_json::to_string_pretty(&got).unwrap());
    }
}
