//! `--security-opt`, parsed as docker/cli and dockerd do together (cli `parseSecurityOpts`
//! and `parseSystemPaths`, daemon `parseSecurityOpt`), and the confinement it asks for on
//! this host: the seccomp choice, no_new_privs, the AppArmor profile and SELinux labels,
//! the masked paths and the cgroup mount's mode, edited on oci-spec's typed config.
//!
//! The keys, with docker/cli's errors: `KEY=VALUE` (or the deprecated `KEY:VALUE`);
//! `no-new-privileges[=BOOL]`; `seccomp=builtin|unconfined|FILE`; `apparmor=PROFILE`;
//! `label=disable|type:T|user:U|role:R|level:L|filetype:T` (go-selinux's keys; Podman's
//! `label=nested` is refused); `systempaths=unconfined` (no masked or read-only paths);
//! `writable-cgroups=BOOL` (refused with `--userns`). A bare word is `invalid --security-opt:
//! "X"`, an unknown key `invalid --security-opt 2: "X"`.
//!
//! seccomp: `builtin` is Docker 25's default profile (`runtime::seccomp`: no io_uring; AF_ALG
//! and AF_VSOCK sockets refused), evaluated for the container's bounding set, architecture
//! and kernel as moby's `setupSeccomp` does; `--privileged` and `seccomp=unconfined` have
//! none. AppArmor and SELinux: `runtime::lsm`.

use std::path::PathBuf;

use oci_spec::runtime::{Linux, Process, Spec};

use super::lsm::{self, Host, LsmError, Origin, Request, apparmor, selinux};
use super::seccomp::Profile;
use super::{RuntimeError, caps};

/// Which seccomp profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's default (`seccomp=builtin`, or no option).
    #[default]
    Builtin,
    Unconfined,
    /// A Docker-format profile file.
    File(PathBuf),
}

/// The options, validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityOpts {
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// `apparmor=PROFILE`.
    pub apparmor: Option<String>,
    /// Each `label=...` value: `disable`, or `type:`, `user:`, `role:`, `level:`, `filetype:`.
    pub label: Vec<String>,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub systempaths_unconfined: bool,
    /// `writable-cgroups=BOOL`.
    pub writable_cgroups: Option<bool>,
}

/// Go's strconv.ParseBool.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Parses the list with Docker's forms and Docker's errors: `KEY=VALUE` (or the deprecated
/// `KEY:VALUE`), and `no-new-privileges` alone.
pub fn parse(opts: &[String]) -> Result<SecurityOpts, RuntimeError> {
    let mut out = SecurityOpts::default();
    for opt in opts {
        let bad = |n: &str| RuntimeError::BadArgs(format!("invalid --security-opt{n}: {opt:?}"));
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        if opt == "systempaths=unconfined" {
            out.systempaths_unconfined = true;
            continue;
        }
        let (k, v) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .ok_or_else(|| bad(""))?;
        if v.is_empty() && k != "no-new-privileges" {
            return Err(bad(""));
        }
        match k {
            "label" => out.label.push(v.to_string()),
            "apparmor" => out.apparmor = Some(v.to_string()),
            "seccomp" => {
                out.seccomp = match v {
                    "builtin" => Seccomp::Builtin,
                    "unconfined" => Seccomp::Unconfined,
                    file => Seccomp::File(file.into()),
                }
            }
            "no-new-privileges" => {
                out.no_new_privileges = parse_bool(v).ok_or_else(|| bad(" 2"))?
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(parse_bool(v).ok_or_else(|| bad(" 2"))?)
            }
            _ => return Err(bad(" 2")),
        }
    }
    selinux::validate(&out.label)?;
    Ok(out)
}

/// What goes into config.json: `process.apparmorProfile`, `process.selinuxLabel`,
/// `linux.mountLabel` (None: the field is removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confinement {
    pub apparmor: Option<String>,
    pub process_label: Option<String>,
    pub mount_label: Option<String>,
    /// The default AppArmor profile must be loaded first (it is not, or that is unknown).
    pub load_default: bool,
}

/// dockerd's choice on `host` (`WithApparmor`, `WithSelinux`), refusing, unlike dockerd,
/// a profile or label the host cannot apply instead of dropping it silently:
/// - AppArmor: the given profile; else `unconfined` when privileged; else berth's default.
///   Without AppArmor: nothing, and only `unconfined` may be asked for.
/// - SELinux: labels only when `label=` asks for them (dockerd's default, without
///   `--selinux-enabled`), built from the policy's container `contexts` at `level`.
pub fn confinement(
    o: &SecurityOpts,
    host: &Host,
    privileged: bool,
    contexts: impl FnOnce() -> Option<selinux::Contexts>,
    level: &str,
) -> Result<Confinement, LsmError> {
    let mut c = Confinement::default();
    let wants_label = selinux::wants_label(&o.label);
    // The pure check of what was asked against what the host runs, with the flag named.
    lsm::plan(
        &Request {
            origin: Origin::Flag,
            apparmor: o.apparmor.clone(),
            process_label: wants_label.then(|| o.label.join(",")),
            mount_label: None,
        },
        host,
    )?;
    if host.apparmor {
        let profile = match &o.apparmor {
            Some(p) => p.clone(),
            None if privileged => lsm::UNCONFINED.into(),
            None => apparmor::DEFAULT_PROFILE.into(),
        };
        c.load_default = profile == apparmor::DEFAULT_PROFILE
            && !host.profiles.as_ref().is_some_and(|l| l.contains(&profile));
        c.apparmor = Some(profile);
    }
    if wants_label {
        let ctx = contexts().ok_or_else(|| {
            LsmError::BadOption(format!(
                "--security-opt label={}: the SELinux policy has no container contexts (install container-selinux)",
                o.label.join(",")
            ))
        })?;
        if let Some((p, m)) = selinux::labels(&o.label, &ctx, level)? {
            c.process_label = Some(p);
            c.mount_label = Some(m);
        }
    }
    Ok(c)
}

/// The seccomp section: Docker's profile (or the file's) for the container's bounding set,
/// none when unconfined or privileged.
fn seccomp(spec: &mut Spec, o: &SecurityOpts, privileged: bool) -> Result<(), RuntimeError> {
    let caps: Vec<String> = spec
        .process()
        .as_ref()
        .and_then(|p| p.capabilities().as_ref())
        .and_then(|c| c.bounding().as_ref())
        .map(|b| b.iter().map(|c| caps::canonical(&c.to_string())).collect())
        .unwrap_or_default();
    let profile = match &o.seccomp {
        _ if privileged => None,
        Seccomp::Unconfined => None,
        Seccomp::Builtin => Some(Profile::docker_default()),
        Seccomp::File(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| {
                RuntimeError::BadArgs(format!(
                    "opening seccomp profile ({}) failed: {e}",
                    f.display()
                ))
            })?;
            Some(Profile::parse(&text)?)
        }
    };
    let section = match profile.map(|p| p.resolve(&caps)).transpose()?.flatten() {
        Some(r) => Some(r.to_oci()?),
        None => None,
    };
    edit_linux(spec, |l| {
        l.set_seccomp(section);
    });
    Ok(())
}

/// Edits `linux` (made empty if the config has none).
fn edit_linux(spec: &mut Spec, f: impl FnOnce(&mut Linux)) {
    // An absent section starts empty, as in config.json (oci-spec's `Default` is a sample's).
    let mut linux = spec
        .linux()
        .clone()
        .unwrap_or_else(|| serde_json::from_str("{}").expect("every field of linux is optional"));
    f(&mut linux);
    spec.set_linux(Some(linux));
}

/// Edits `process`, if the config has one (it always has by now: flags made it).
fn edit_process(spec: &mut Spec, f: impl FnOnce(&mut Process)) {
    if let Some(mut process) = spec.process().clone() {
        f(&mut process);
        spec.set_process(Some(process));
    }
}

/// The LSM fields for this host (loading berth's AppArmor profile when it is missing).
fn lsm_fields(
    spec: &mut Spec,
    o: &SecurityOpts,
    privileged: bool,
    id: &str,
    host: &Host,
) -> Result<(), RuntimeError> {
    let c = confinement(
        o,
        host,
        privileged,
        selinux::Contexts::read,
        &selinux::mcs_level(id),
    )?;
    if c.load_default {
        apparmor::ensure_default(host.profiles.as_ref())?;
    }
    edit_process(spec, |p| {
        p.set_apparmor_profile(c.apparmor.clone());
        p.set_selinux_label(c.process_label.clone());
    });
    edit_linux(spec, |l| {
        l.set_mount_label(c.mount_label.clone());
    });
    if let Some(mut mounts) = spec.mounts().clone() {
        selinux::label_mounts(&mut mounts, c.mount_label.as_deref());
        spec.set_mounts(Some(mounts));
    }
    Ok(())
}

/// Applies the options to the config, after the capabilities, the masked paths and the
/// privileged mounts are set, for `host` ([`Host::detect`]). Applying twice gives the same
/// config.
pub fn edit(
    spec: &mut Spec,
    o: &SecurityOpts,
    privileged: bool,
    id: &str,
    host: &Host,
) -> Result<(), RuntimeError> {
    edit_process(spec, |p| {
        p.set_no_new_privileges(o.no_new_privileges.then_some(true));
    });
    seccomp(spec, o, privileged)?;
    if o.systempaths_unconfined {
        edit_linux(spec, |l| {
            l.set_masked_paths(Some(vec![]));
            l.set_readonly_paths(Some(vec![]));
        });
    }
    if let Some(w) = o.writable_cgroups {
        writable_cgroups(spec, w)?;
    }
    lsm_fields(spec, o, privileged, id, host)
}

/// `writable-cgroups=BOOL`: the cgroup mounts' `rw` or `ro`, refused with a user namespace.
fn writable_cgroups(spec: &mut Spec, w: bool) -> Result<(), RuntimeError> {
    let userns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.uid_mappings().as_ref())
        .is_some_and(|m| !m.is_empty());
    if userns {
        return Err(RuntimeError::BadArgs(
            "option WritableCgroups conflicts with user namespaces and rootless mode".into(),
        ));
    }
    let Some(mut mounts) = spec.mounts().clone() else {
        return Ok(());
    };
    for m in mounts.iter_mut() {
        if !matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            continue;
        }
        if let Some(mut opts) = m.options().clone() {
            opts.retain(|x| x != "ro" && x != "rw");
            opts.push(if w { "rw" } else { "ro" }.into());
            m.set_options(Some(opts));
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// [`edit`] on a config's JSON form.
    fn edit(
        v: &mut Value,
        o: &SecurityOpts,
        privileged: bool,
        id: &str,
        host: &Host,
    ) -> Result<(), RuntimeError> {
        let mut spec: Spec = serde_json::from_value(v.clone()).unwrap();
        super::edit(&mut spec, o, privileged, id, host)?;
        *v = serde_json::to_value(&spec).unwrap();
        Ok(())
    }

    fn p(o: &[&str]) -> Result<SecurityOpts, String> {
        let v: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        parse(&v).map_err(|e| e.to_string())
    }

    #[test]
    fn docker_s_forms_are_accepted() {
        let o = p(&[
            "no-new-privileges",
            "seccomp=unconfined",
            "apparmor=unconfined",
            "label=disable",
            "systempaths=unconfined",
            "writable-cgroups=true",
        ])
        .unwrap();
        assert!(o.no_new_privileges && o.systempaths_unconfined);
        assert_eq!(o.seccomp, Seccomp::Unconfined);
        assert_eq!(o.apparmor.as_deref(), Some("unconfined"));
        assert_eq!(o.label, ["disable"]);
        assert_eq!(o.writable_cgroups, Some(true));
        // The deprecated ':' separator and ParseBool's spellings.
        let o = p(&[
            "no-new-privileges:true",
            "seccomp:/x.json",
            "label:type:foo_t",
        ])
        .unwrap();
        assert!(o.no_new_privileges);
        assert_eq!(o.seccomp, Seccomp::File("/x.json".into()));
        assert_eq!(o.label, ["type:foo_t"]);
        assert!(
            !p(&["no-new-privileges", "no-new-privileges=F"])
                .unwrap()
                .no_new_privileges
        );
        assert_eq!(p(&["seccomp=builtin"]).unwrap().seccomp, Seccomp::Builtin);
    }

    #[test]
    fn bad_forms_get_docker_s_errors() {
        assert_eq!(
            p(&["bogus"]).unwrap_err(),
            "invalid --security-opt: \"bogus\""
        );
        assert_eq!(
            p(&["label="]).unwrap_err(),
            "invalid --security-opt: \"label=\""
        );
        assert_eq!(
            p(&["disable"]).unwrap_err(),
            "invalid --security-opt: \"disable\""
        );
        assert_eq!(
            p(&["foo=bar"]).unwrap_err(),
            "invalid --security-opt 2: \"foo=bar\""
        );
        assert_eq!(
            p(&["systempaths=other"]).unwrap_err(),
            "invalid --security-opt 2: \"systempaths=other\""
        );
        assert_eq!(
            p(&["no-new-privileges=maybe"]).unwrap_err(),
            "invalid --security-opt 2: \"no-new-privileges=maybe\""
        );
        assert_eq!(
            p(&["writable-cgroups"]).unwrap_err(),
            "invalid --security-opt: \"writable-cgroups\""
        );
        assert!(
            p(&["label=nested"])
                .unwrap_err()
                .starts_with("bad label option \"nested\"")
        );
    }

    fn host(apparmor: bool, selinux: bool, profiles: Option<&[&str]>) -> Host {
        Host {
            apparmor,
            selinux,
            profiles: profiles.map(|p| p.iter().map(|s| s.to_string()).collect()),
            apparmor_attr_dir: true,
            active: None,
        }
    }

    fn conf(opts: &[&str], h: &Host, privileged: bool) -> Result<Confinement, String> {
        let o = p(opts)?;
        let ctx = || {
            Some(selinux::Contexts::parse(
                "process = \"system_u:system_r:container_t:s0\"\nfile = \"system_u:object_r:container_file_t:s0\"",
            ))
        };
        confinement(&o, h, privileged, ctx, "s0:c1,c2").map_err(|e| e.to_string())
    }

    #[test]
    fn apparmor_follows_dockerd_where_it_runs() {
        let h = host(true, false, Some(&["berth-default"]));
        let c = conf(&[], &h, false).unwrap();
        assert_eq!(
            (c.apparmor.as_deref(), c.load_default),
            (Some("berth-default"), false)
        );
        let c = conf(&[], &host(true, false, Some(&[])), false).unwrap();
        assert!(c.load_default);
        assert_eq!(
            conf(&[], &h, true).unwrap().apparmor.as_deref(),
            Some("unconfined")
        );
        let c = conf(&["apparmor=berth-default"], &h, true).unwrap();
        assert_eq!(c.apparmor.as_deref(), Some("berth-default"));
        let e = conf(&["apparmor=docker-default"], &h, false).unwrap_err();
        assert!(
            e.starts_with("--security-opt apparmor=docker-default: no AppArmor profile"),
            "{e}"
        );
    }

    #[test]
    fn without_the_modules_only_what_asks_for_nothing_runs() {
        let none = host(false, false, None);
        assert_eq!(conf(&[], &none, false).unwrap(), Confinement::default());
        assert_eq!(
            conf(&["apparmor=unconfined", "label=disable"], &none, true).unwrap(),
            Confinement::default()
        );
        let e = conf(&["apparmor=docker-default"], &none, false).unwrap_err();
        assert_eq!(
            e,
            "--security-opt apparmor=docker-default: AppArmor is not enabled on this host (drop the option, or use apparmor=unconfined)"
        );
        let e = conf(&["label=type:foo_t"], &none, false).unwrap_err();
        assert_eq!(
            e,
            "--security-opt label=type:foo_t: SELinux is not enabled on this host (drop the option, or use label=disable)"
        );
    }

    #[test]
    fn selinux_labels_are_built_where_it_runs() {
        let h = host(false, true, None);
        let c = conf(&["label=type:foo_t", "label=level:s0:c5,c6"], &h, false).unwrap();
        assert_eq!(
            c.process_label.as_deref(),
            Some("system_u:system_r:foo_t:s0:c5,c6")
        );
        assert_eq!(
            c.mount_label.as_deref(),
            Some("system_u:object_r:container_file_t:s0:c5,c6")
        );
        assert_eq!(c.apparmor, None);
        assert_eq!(conf(&[], &h, false).unwrap(), Confinement::default());
        let o = p(&["label=type:x"]).unwrap();
        let e = confinement(&o, &h, false, || None, "s0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("install container-selinux"), "{e}");
    }

    #[test]
    fn edit_writes_each_option_once_and_again_the_same() {
        let base = json!({
            "ociVersion": "1.0.2",
            "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "capabilities": {"bounding": ["CAP_CHOWN"]}, "noNewPrivileges": true},
            "linux": {"maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"]},
            "mounts": [{"destination": "/sys/fs/cgroup", "type": "cgroup", "options": ["nosuid", "ro"]}]
        });
        let o = p(&["systempaths=unconfined", "writable-cgroups=true"]).unwrap();
        let mut v = base.clone();
        edit(&mut v, &o, false, "abcd", &Host::default()).unwrap();
        let once = v.clone();
        edit(&mut v, &o, false, "abcd", &Host::default()).unwrap();
        assert_eq!(v, once);
        assert_eq!(v["process"]["noNewPrivileges"], Value::Null);
        assert_eq!(v["linux"]["maskedPaths"], json!([]));
        assert_eq!(v["linux"]["readonlyPaths"], json!([]));
        assert_eq!(v["mounts"][0]["options"], json!(["nosuid", "rw"]));
        let names = v["linux"]["seccomp"]["syscalls"].to_string();
        assert!(names.contains("\"read\"") && !names.contains("io_uring"));
        // Unconfined and privileged drop the filter; no-new-privileges sets the bit.
        let mut v = base.clone();
        edit(
            &mut v,
            &p(&["seccomp=unconfined", "no-new-privileges"]).unwrap(),
            false,
            "x",
            &Host::default(),
        )
        .unwrap();
        assert_eq!(
            (
                v["linux"]["seccomp"].clone(),
                v["process"]["noNewPrivileges"].clone()
            ),
            (Value::Null, json!(true))
        );
        let mut v = base.clone();
        edit(
            &mut v,
            &SecurityOpts::default(),
            true,
            "x",
            &Host::default(),
        )
        .unwrap();
        assert_eq!(v["linux"]["seccomp"], Value::Null);
        // A missing profile file is Docker's error.
        let e = edit(
            &mut base.clone(),
            &p(&["seccomp=/nonexistent.json"]).unwrap(),
            false,
            "x",
            &Host::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("opening seccomp profile (/nonexistent.json) failed: "),
            "{e}"
        );
        // Docker refuses writable cgroups with a user namespace.
        let mut v = base.clone();
        v["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        assert!(
            edit(&mut v, &o, false, "x", &Host::default())
                .unwrap_err()
                .to_string()
                .contains("user namespaces")
        );
    }
}
