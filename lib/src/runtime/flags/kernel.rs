//! The flags that set kernel state other than resources: `--sysctl` (Docker's namespaced
//! sysctls, with runc's namespace rules), `--cgroupns`, `--cgroup-parent`, `--shm-size`,
//! `--oom-score-adj`, `--group-add`, `--device-cgroup-rule` and `--annotation`.

use std::path::Path;

use oci_spec::runtime::{
    Linux, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxNamespaceBuilder,
    LinuxNamespaceType, Spec,
};

use super::built;
use crate::protocol::ProcessSection;
use crate::runtime::{RuntimeError, cgroups};

/// The IPC namespace's sysctls (runc's `namespaceSysctls` table, as Docker documents them):
/// besides these, `fs.mqueue.*` (IPC) and `net.*` (network) are namespaced.
const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

fn bad(m: String) -> RuntimeError {
    RuntimeError::BadArgs(m)
}

fn has_private(linux: &Linux, typ: LinuxNamespaceType) -> bool {
    linux.namespaces().iter().flatten().any(|n| n.typ() == typ)
}

/// `--sysctl`: only the sysctls a container's own namespaces hold, as runc allows them (an IPC
/// one needs a private IPC namespace, a `net.*` one a network namespace other than the
/// host's), with runc's words for the others.
pub(super) fn sysctls(linux: &mut Linux, p: &ProcessSection) -> Result<(), RuntimeError> {
    if p.sysctls.is_empty() {
        return Ok(());
    }
    let mut all = linux.sysctl().clone().unwrap_or_default();
    for (k, v) in &p.sysctls {
        if k.is_empty() || k.contains('/') || k.split('.').any(|c| c.is_empty() || c == "..") {
            return Err(bad(format!(
                "invalid --sysctl {k:?}: use a name such as net.ipv4.ip_forward=1"
            )));
        }
        if IPC_SYSCTLS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
            if !has_private(linux, LinuxNamespaceType::Ipc) {
                return Err(bad(format!(
                    "--sysctl {k}: sysctl {k:?} is not allowed in the hosts ipc namespace"
                )));
            }
        } else if k.starts_with("net.") {
            if !has_private(linux, LinuxNamespaceType::Network) {
                return Err(bad(format!(
                    "--sysctl {k}: sysctl {k:?} not allowed in host network namespace"
                )));
            }
        } else {
            return Err(bad(format!(
                "--sysctl {k}: sysctl {k:?} is not in a separate kernel namespace (only \
                 net.*, fs.mqueue.* and the kernel.msg*/sem/shm* IPC sysctls are)"
            )));
        }
        all.insert(k.clone(), v.clone());
    }
    linux.set_sysctl(Some(all));
    Ok(())
}

/// Docker's default cgroup namespace mode: `private` where cgroup v2 alone is mounted,
/// `host` on v1 and hybrid hosts (moby's daemon config, after containerd's `cgroups.Mode`).
pub fn default_cgroupns() -> &'static str {
    if cgroups::Hierarchies::detect().is_v2() {
        "private"
    } else {
        "host"
    }
}

/// `--cgroupns host|private` (empty: Docker's default for this host).
pub(super) fn cgroupns(linux: &mut Linux, mode: &str) -> Result<(), RuntimeError> {
    let mode = if mode.is_empty() {
        default_cgroupns()
    } else {
        mode
    };
    let mut list = linux.namespaces().clone().unwrap_or_default();
    let private = |n: &oci_spec::runtime::LinuxNamespace| {
        n.typ() == LinuxNamespaceType::Cgroup && n.path().is_none()
    };
    match mode {
        "host" => list.retain(|n| n.typ() != LinuxNamespaceType::Cgroup),
        "private" if list.iter().any(private) => {}
        "private" => {
            list.retain(|n| n.typ() != LinuxNamespaceType::Cgroup);
            list.push(built(
                LinuxNamespaceBuilder::default()
                    .typ(LinuxNamespaceType::Cgroup)
                    .build(),
            )?)
        }
        other => {
            return Err(bad(format!(
                "invalid --cgroupns {other:?}: use host or private"
            )));
        }
    }
    linux.set_namespaces(Some(list));
    Ok(())
}

/// The container's cgroup path: `<--cgroup-parent>/<id>` (an absolute cgroup path, as
/// Docker's cgroupfs driver makes it), else berth's default parent; a path set already (by
/// the caller of the stage) stays.
pub(super) fn cgroup_path(p: &ProcessSection, id: &str) -> Result<String, RuntimeError> {
    if !p.cgroup_path.is_empty() {
        return Ok(p.cgroup_path.clone());
    }
    if p.cgroup_parent.is_empty() {
        return Ok(format!("{}/{id}", cgroups::default_parent()));
    }
    let parent = p.cgroup_parent.trim_matches('/');
    if parent.contains(':') || parent.split('/').any(|c| c == ".." || c == ".") {
        return Err(bad(format!(
            "invalid --cgroup-parent {:?}: name a cgroup path such as /mygroup (no \"..\"; \
             systemd slices need the systemd cgroup driver, which berth does not use)",
            p.cgroup_parent
        )));
    }
    Ok(if parent.is_empty() {
        format!("/{id}")
    } else {
        format!("/{parent}/{id}")
    })
}

/// `--shm-size`: the size of the /dev/shm tmpfs Docker gives every container.
pub(super) fn shm_size(spec: &mut Spec, size: i64) -> Result<(), RuntimeError> {
    if size == 0 {
        return Ok(());
    }
    if size < 0 {
        return Err(bad("--shm-size: SHM size can not be less than 0".into()));
    }
    let Some(mut mounts) = spec.mounts().clone() else {
        return Ok(());
    };
    for m in mounts
        .iter_mut()
        .filter(|m| m.destination() == Path::new("/dev/shm") && m.typ().as_deref() == Some("tmpfs"))
    {
        let mut o = m.options().clone().unwrap_or_default();
        o.retain(|x| !x.starts_with("size="));
        o.push(format!("size={size}"));
        m.set_options(Some(o));
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

/// `--oom-score-adj`: Docker's range.
pub(super) fn oom_score_adj(v: Option<i32>) -> Result<Option<i32>, RuntimeError> {
    match v {
        Some(v) if !(-1000..=1000).contains(&v) => Err(bad(format!(
            "--oom-score-adj: invalid value {v}, range for oom score adj is [-1000, 1000]"
        ))),
        v => Ok(v),
    }
}

/// `--group-add`: numbers as they are, names from the container's /etc/group, read by
/// descriptor inside `rootfs` (as `-u` is, and as Docker reads the container's base
/// filesystem).
pub(super) fn group_ids(
    rootfs: Option<&Path>,
    groups: &[String],
) -> Result<Vec<u32>, RuntimeError> {
    if groups.is_empty() {
        return Ok(vec![]);
    }
    let names: Vec<&String> = groups
        .iter()
        .filter(|g| g.parse::<u32>().is_err())
        .collect();
    let root = match (names.is_empty(), rootfs) {
        (true, _) => None,
        (false, Some(r)) => Some(
            crate::confine::Root::open(r)
                .map_err(|e| bad(format!("--group-add: cannot open {}: {e}", r.display())))?,
        ),
        (false, None) => {
            return Err(bad(format!(
                "--group-add {}: no root filesystem to look the name up in",
                names[0]
            )));
        }
    };
    crate::bundle::user::group_ids(root.as_ref(), groups)
        .map_err(|e| bad(format!("--group-add: {e}")))
}

/// `--device-cgroup-rule 'TYPE MAJOR:MINOR ACCESS'` (`c 1:3 mr`, `b *:* rwm`, `a`), as Docker
/// parses it.
pub(super) fn device_rule(rule: &str) -> Result<LinuxDeviceCgroup, RuntimeError> {
    let err = || {
        bad(format!(
            "invalid device cgroup rule {rule:?}: use 'TYPE MAJOR:MINOR ACCESS', e.g. 'c 1:3 mr' \
             (TYPE a, b or c; * for any number; ACCESS of r, w and m)"
        ))
    };
    let f: Vec<&str> = rule.split_whitespace().collect();
    let typ = match f.first().copied() {
        Some("a") => LinuxDeviceType::A,
        Some("b") => LinuxDeviceType::B,
        Some("c") => LinuxDeviceType::C,
        _ => return Err(err()),
    };
    let mut b = LinuxDeviceCgroupBuilder::default().allow(true).typ(typ);
    if typ == LinuxDeviceType::A && f.len() == 1 {
        return built(b.access("rwm").build());
    }
    if f.len() != 3 {
        return Err(err());
    }
    let (maj, min) = f[1].split_once(':').ok_or_else(err)?;
    let num = |s: &str| -> Result<Option<i64>, RuntimeError> {
        match s {
            "*" => Ok(None),
            n => n.parse().map(Some).map_err(|_| err()),
        }
    };
    if let Some(m) = num(maj)? {
        b = b.major(m);
    }
    if let Some(m) = num(min)? {
        b = b.minor(m);
    }
    let access = f[2];
    if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
        return Err(err());
    }
    built(b.access(access).build())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The kernel and cgroup flags of issue 15 land where runc reads them.
    #[test]
    fn kernel_and_cgroup_flags_land_in_the_config() {
        let mut spec = Spec::default();
        let mut p = ProcessSection {
            cgroupns: "private".into(),
            cgroup_parent: "/mine".into(),
            oom_score_adj: Some(-500),
            shm_size: 128 << 20,
            group_add: vec!["4242".into()],
            device_cgroup_rules: vec!["c 42:* rm".into()],
            ..Default::default()
        };
        p.sysctls.insert("net.ipv4.ip_forward".into(), "1".into());
        p.sysctls.insert("kernel.shmmax".into(), "1024".into());
        p.annotations.insert("org.example/a".into(), "b".into());
        p.resources.oom_kill_disable = true;
        p.resources.memory_swappiness = Some(10);
        p.resources.cpu_realtime_period = 1000;
        p.resources.cpu_realtime_runtime = 500;
        super::super::apply(&mut spec, &p, "abc", &|_| Ok(1)).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        let l = &v["linux"];
        assert_eq!(l["cgroupsPath"], "/mine/abc");
        assert!(
            l["namespaces"]
                .as_array()
                .unwrap()
                .contains(&json!({"type": "cgroup"}))
        );
        assert_eq!(l["sysctl"]["net.ipv4.ip_forward"], "1");
        assert_eq!(l["resources"]["memory"]["swappiness"], 10);
        assert_eq!(l["resources"]["memory"]["disableOOMKiller"], true);
        assert_eq!(l["resources"]["cpu"]["realtimeRuntime"], 500);
        let rules = l["resources"]["devices"].as_array().unwrap();
        assert_eq!(
            rules.last().unwrap(),
            &json!({"allow": true, "type": "c", "major": 42, "access": "rm"})
        );
        assert_eq!(v["process"]["oomScoreAdj"], -500);
        assert_eq!(v["process"]["user"]["additionalGids"], json!([4242]));
        assert_eq!(v["annotations"]["org.example/a"], "b");
        let shm = v["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["destination"] == "/dev/shm")
            .unwrap();
        assert!(
            shm["options"]
                .as_array()
                .unwrap()
                .contains(&json!("size=134217728"))
        );
        // Host namespaces: no net.* or IPC sysctls; and host cgroupns drops it.
        p.ipc = "host".into();
        let e = super::super::apply(&mut Spec::default(), &p, "abc", &|_| Ok(1)).unwrap_err();
        assert!(e.to_string().contains("hosts ipc namespace"), "{e}");
        p.ipc.clear();
        p.sysctls = [("kernel.hostname".to_string(), "x".to_string())].into();
        let e = super::super::apply(&mut Spec::default(), &p, "abc", &|_| Ok(1)).unwrap_err();
        assert!(
            e.to_string().contains("not in a separate kernel namespace"),
            "{e}"
        );
        p.sysctls.clear();
        p.cgroupns = "host".into();
        let mut spec = Spec::default();
        super::super::apply(&mut spec, &p, "abc", &|_| Ok(1)).unwrap();
        let v = serde_json::to_value(&spec).unwrap();
        assert!(
            !v["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .contains(&json!({"type": "cgroup"}))
        );
    }

    #[test]
    fn device_rules_parse_as_docker_does() {
        let r = device_rule("c 1:3 mr").unwrap();
        assert_eq!((r.major(), r.minor()), (Some(1), Some(3)));
        assert_eq!(r.access().as_deref(), Some("mr"));
        let r = device_rule("b *:* rwm").unwrap();
        assert_eq!((r.major(), r.minor()), (None, None));
        assert!(device_rule("a").is_ok());
        for bad in ["x 1:3 r", "c 1 r", "c 1:3 q", "c a:3 r", ""] {
            assert!(device_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroup_parents() {
        let mut p = ProcessSection {
            cgroup_parent: "/mine/".into(),
            ..Default::default()
        };
        assert_eq!(cgroup_path(&p, "abc").unwrap(), "/mine/abc");
        p.cgroup_parent = "../x".into();
        assert!(cgroup_path(&p, "abc").is_err());
        p.cgroup_parent = "system.slice:x:y".into();
        assert!(cgroup_path(&p, "abc").is_err());
    }

    #[test]
    fn oom_score_range() {
        assert!(oom_score_adj(Some(1001)).is_err());
        assert_eq!(oom_score_adj(Some(-1000)).unwrap(), Some(-1000));
    }
}
