//! The config.json fields berth-spawn cannot apply to a container, refused at `create` before
//! anything is made (no cgroup, no process), each error naming the field: a container never
//! runs with less than its config asks for, and nothing is dropped silently.
//!
//! - Without a mount namespace (none listed in `linux.namespaces`, so the container keeps the
//!   runtime's, as runtime-spec requires) berth-spawn never touches the host's mount table: the
//!   init makes the container's mounts in a private, detached copy of the rootfs's tree and
//!   chroots into it (runc and crun mount into the host's table instead, runc even making the
//!   host's `/` rslave). What that cannot give is refused: `linux.rootfsPropagation` (the
//!   container's root is in no namespace), and with a user namespace every field that needs a
//!   mount (its root may not mount in the host's mount namespace): `mounts`,
//!   `linux.maskedPaths`, `linux.readonlyPaths`, `root.readonly`, `linux.devices` (made in
//!   the container's own /dev) and `process.terminal` (a pty of the container's own devpts).
//! - `linux.rootfsPropagation` must be one of mount(8)'s propagation names.
//! - `process.apparmorProfile`, `process.selinuxLabel`, `linux.mountLabel`: decided by
//!   [`lsm::plan`] with the host's view, before the clone (the container's init applies the
//!   same plan later).

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::RuntimeError;
use super::lsm;
use super::namespaces::Plan;

/// Every check, in the order a user would fix them.
pub fn check(spec: &Spec, process: &Process, plan: &Plan) -> Result<(), RuntimeError> {
    rootfs_propagation(spec)?;
    if !plan.has(LinuxNamespaceType::Mount) {
        let mut fields = Vec::new();
        if plan.has(LinuxNamespaceType::User) {
            fields = needs_mounts(spec, process);
        }
        if propagation_flags(spec)?.is_some() && !fields.contains(&"linux.rootfsPropagation") {
            fields.push("linux.rootfsPropagation");
        }
        if !fields.is_empty() {
            return Err(RuntimeError::Invalid(format!(
                "{} {} a mount namespace of the container's own, and config.json lists none: add {{\"type\": \"mount\"}} to linux.namespaces (without one, berth-spawn leaves the host's mount table alone{})",
                fields.join(", "),
                if fields.len() == 1 { "needs" } else { "need" },
                if plan.has(LinuxNamespaceType::User) {
                    ", and a user namespace's root may not mount in it"
                } else {
                    ""
                }
            )));
        }
    }
    let req = lsm::Request::of(process, spec);
    if !req.is_empty() {
        for why in lsm::plan(&req, &lsm::Host::detect())?.ignored {
            log::warn!("{why}");
        }
    }
    Ok(())
}

/// The fields set in `spec` that only a mount namespace of the container's own can apply.
pub fn needs_mounts(spec: &Spec, process: &Process) -> Vec<&'static str> {
    let linux = spec.linux().clone().unwrap_or_default();
    let some = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    let mut out = Vec::new();
    if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
        out.push("mounts");
    }
    if some(linux.masked_paths()) {
        out.push("linux.maskedPaths");
    }
    if some(linux.readonly_paths()) {
        out.push("linux.readonlyPaths");
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        out.push("root.readonly");
    }
    if linux
        .rootfs_propagation()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        out.push("linux.rootfsPropagation");
    }
    if linux.devices().as_ref().is_some_and(|d| !d.is_empty()) {
        out.push("linux.devices");
    }
    if process.terminal() == Some(true) {
        out.push("process.terminal");
    }
    out
}

/// The mount flags of `linux.rootfsPropagation`: `None` when unset, an error naming the field
/// for a value that is not a propagation.
pub fn propagation_flags(spec: &Spec) -> Result<Option<libc::c_ulong>, RuntimeError> {
    let value = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().clone())
        .filter(|v| !v.is_empty());
    let Some(v) = value else { return Ok(None) };
    let rec = libc::MS_REC;
    let flags = match v.as_str() {
        "shared" => libc::MS_SHARED,
        "rshared" => libc::MS_SHARED | rec,
        "slave" => libc::MS_SLAVE,
        "rslave" => libc::MS_SLAVE | rec,
        "private" => libc::MS_PRIVATE,
        "rprivate" => libc::MS_PRIVATE | rec,
        "unbindable" => libc::MS_UNBINDABLE,
        "runbindable" => libc::MS_UNBINDABLE | rec,
        other => {
            return Err(RuntimeError::Invalid(format!(
                "linux.rootfsPropagation {other:?} is not a mount propagation (use shared, slave, private or unbindable, or their r* forms)"
            )));
        }
    };
    Ok(Some(flags))
}

fn rootfs_propagation(spec: &Spec) -> Result<(), RuntimeError> {
    propagation_flags(spec).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        let mut base = serde_json::json!({
            "ociVersion": "1.2.0",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {}
        });
        for (k, x) in v.as_object().unwrap() {
            base[k] = x.clone();
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn without_a_mount_namespace_every_mounting_field_is_named() {
        let s = spec(serde_json::json!({}));
        let p = s.process().clone().unwrap();
        assert!(needs_mounts(&s, &p).is_empty());
        let s = spec(serde_json::json!({
            "root": {"path": "rootfs", "readonly": true},
            "process": {"args": ["sh"], "cwd": "/", "terminal": true, "user": {"uid": 0, "gid": 0}},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
            "linux": {
                "maskedPaths": ["/proc/kcore"],
                "readonlyPaths": ["/proc/sys"],
                "rootfsPropagation": "slave",
                "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]
            }
        }));
        let p = s.process().clone().unwrap();
        assert_eq!(
            needs_mounts(&s, &p),
            [
                "mounts",
                "linux.maskedPaths",
                "linux.readonlyPaths",
                "root.readonly",
                "linux.rootfsPropagation",
                "linux.devices",
                "process.terminal"
            ]
        );
        // Without a user namespace, mounts go into a detached copy: only the propagation of
        // a root in no namespace is refused.
        let e = check(&s, &p, &Plan::default()).unwrap_err().to_string();
        assert!(
            e.starts_with("linux.rootfsPropagation needs a mount namespace"),
            "{e}"
        );
        let userns = Plan {
            new_flags: libc::CLONE_NEWUSER,
            join: Vec::new(),
        };
        let e = check(&s, &p, &userns).unwrap_err().to_string();
        assert!(
            e.starts_with("mounts, linux.maskedPaths,") && e.contains("need a mount namespace"),
            "{e}"
        );
    }

    #[test]
    fn propagation_names_are_mount8s() {
        let with = |v: &str| spec(serde_json::json!({"linux": {"rootfsPropagation": v}}));
        assert_eq!(
            propagation_flags(&spec(serde_json::json!({}))).unwrap(),
            None
        );
        assert_eq!(
            propagation_flags(&with("rshared")).unwrap(),
            Some(libc::MS_SHARED | libc::MS_REC)
        );
        assert_eq!(
            propagation_flags(&with("unbindable")).unwrap(),
            Some(libc::MS_UNBINDABLE)
        );
        let e = propagation_flags(&with("sharde")).unwrap_err().to_string();
        assert!(e.contains("linux.rootfsPropagation \"sharde\""), "{e}");
    }
}
