//! Linux security modules: a container's AppArmor profile and SELinux labels, applied as runc
//! applies them (the flags that ask for them: `runtime::secopt`).
//!
//! What the host offers is [`Host::detect`]ed; what a config.json asks for is a [`Request`];
//! the decision (which `/proc/thread-self/attr` file gets which value, or which error) is the
//! pure [`plan`]. The container's init carries the plan out with [`apply`], once, before it
//! drops its capabilities and loads seccomp. An AppArmor profile or SELinux label that this
//! host cannot apply is refused with the field named, never ignored: a container must not
//! run less confined than its config says.
//!
//! - **Refused, not dropped** (exit 107 from berth-spawn, 125 from `berth run`), unlike
//!   dockerd, which drops them silently. `apparmor=unconfined` and `label=disable` run
//!   everywhere. The one field not refused where its module is off: a config's
//!   `linux.mountLabel` on a host without SELinux is skipped with a warning naming it (no
//!   policy reads file labels there; runc, crun and Docker skip it too, and the OCI
//!   validation suite's linux_mount_label asks for it).
//! - **The host**: the kernel's list of active modules (lsm_list_modules(2), else securityfs's
//!   `lsm`), else runc's checks (`/sys/module/apparmor/parameters/enabled`, selinuxfs);
//!   loaded profiles from securityfs. `berth doctor` shows it.
//! - **AppArmor**: the profile asked for (it must be loaded); `unconfined` with
//!   `--privileged`; otherwise `berth-default` ([`apparmor`]: docker-default's rules), loaded
//!   with `apparmor_parser -Kr` when the kernel does not list it, as dockerd loads
//!   docker-default.
//! - **SELinux**: as dockerd without `--selinux-enabled`, no label unless `label=` asks
//!   ([`selinux`]). The init gives `linux.mountLabel` as `context=` to the in-memory
//!   filesystems of any config.json that has no context option itself, and passes it to
//!   fsconfig without go-selinux's quotes (`init::mounts::fs_data`; unit-tested, there being
//!   no SELinux host here).
//! - **Written** by the container's init to `/proc/thread-self/attr/apparmor/exec` (`attr/exec`
//!   before Linux 5.8) and `attr/exec`, through a descriptor of the container's /proc checked
//!   to be procfs, before capabilities are dropped and seccomp is loaded (runc's order). The
//!   kernel's refusal (a profile not loaded) is create's error.
//! - **Not done yet**: the session keyring (`runtime::keyring`) is made before the labels are
//!   written, so it has berth-spawn's keycreate context, not the process label runc gives it
//!   (`SetKeyLabel`).

pub mod apparmor;
pub mod selinux;

use std::collections::BTreeSet;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{Process, Spec};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::error::{Code, Coded};

#[derive(Debug, thiserror::Error)]
pub enum LsmError {
    /// The config or a flag asks for a module the host does not run.
    #[error("{what}: {module} is not enabled on this host ({fix})")]
    NotEnabled {
        what: String,
        module: &'static str,
        fix: String,
    },
    /// The AppArmor profile is not loaded in the kernel.
    #[error(
        "{what}: no AppArmor profile of that name is loaded (load it with apparmor_parser -r FILE, or pick one that aa-status lists)"
    )]
    NotLoaded { what: String },
    /// A malformed option (`label=...`).
    #[error("{0}")]
    BadOption(String),
    /// The kernel refused the write, or the files to write could not be reached.
    #[error("{what}: {source}")]
    Apply {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl Coded for LsmError {
    fn code(&self) -> Code {
        match self {
            LsmError::NotEnabled { .. } | LsmError::NotLoaded { .. } => Code::HOST_UNSUPPORTED,
            LsmError::BadOption(_) => Code::BAD_ARGS,
            LsmError::Apply { .. } => Code::INVALID_CONFIG,
        }
    }
}

/// The kernel's ids of the security modules (include/uapi/linux/lsm.h).
const LSM_NAMES: [(u64, &str); 14] = [
    (100, "capability"),
    (101, "selinux"),
    (102, "smack"),
    (103, "tomoyo"),
    (104, "apparmor"),
    (105, "yama"),
    (106, "loadpin"),
    (107, "safesetid"),
    (108, "lockdown"),
    (109, "bpf"),
    (110, "landlock"),
    (111, "ima"),
    (112, "evm"),
    (113, "ipe"),
];

/// What the host's kernel offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    pub apparmor: bool,
    pub selinux: bool,
    /// The AppArmor profiles loaded in the kernel, when securityfs could be read (it cannot
    /// be from inside a container: then the kernel's answer to the write decides).
    pub profiles: Option<BTreeSet<String>>,
    /// `/proc/self/attr/apparmor/` exists (Linux 5.8 and later): AppArmor's own attributes,
    /// which stay AppArmor's when another module owns `/proc/self/attr/exec`.
    pub apparmor_attr_dir: bool,
    /// The active modules in the kernel's order, when the kernel said (lsm_list_modules(2),
    /// Linux 6.8, or securityfs's `lsm`).
    pub active: Option<Vec<String>>,
}

fn read_trimmed(p: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim_end_matches(['\n', '\0']).to_string())
}

/// lsm_list_modules(2): the same number on every architecture since the 5.1 table
/// unification (alpha and mips offset theirs; they fall back to the files).
#[cfg(any(
    all(target_arch = "x86_64", target_pointer_width = "64"),
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "s390x",
    target_arch = "powerpc64",
    target_arch = "powerpc",
    target_arch = "loongarch64",
))]
fn lsm_list_modules() -> Option<Vec<u64>> {
    const SYS_LSM_LIST_MODULES: libc::c_long = 461;
    let mut ids = [0u64; 32];
    let mut size = std::mem::size_of_val(&ids) as u32;
    // SAFETY: the kernel writes at most `size` bytes into `ids` and updates `size`.
    let n = unsafe {
        libc::syscall(
            SYS_LSM_LIST_MODULES,
            ids.as_mut_ptr(),
            &mut size as *mut u32,
            0u32,
        )
    };
    (n >= 0).then(|| ids[..(n as usize).min(ids.len())].to_vec())
}

#[cfg(not(any(
    all(target_arch = "x86_64", target_pointer_width = "64"),
    target_arch = "x86",
    target_arch = "aarch64",
    target_arch = "arm",
    target_arch = "riscv64",
    target_arch = "s390x",
    target_arch = "powerpc64",
    target_arch = "powerpc",
    target_arch = "loongarch64",
)))]
fn lsm_list_modules() -> Option<Vec<u64>> {
    None
}

fn active_modules() -> Option<Vec<String>> {
    if let Some(ids) = lsm_list_modules() {
        return Some(
            ids.iter()
                .map(|id| {
                    LSM_NAMES
                        .iter()
                        .find(|(n, _)| n == id)
                        .map_or_else(|| format!("lsm-{id}"), |(_, name)| name.to_string())
                })
                .collect(),
        );
    }
    read_trimmed("/sys/kernel/security/lsm").map(|s| {
        s.split(',')
            .filter(|m| !m.is_empty())
            .map(String::from)
            .collect()
    })
}

/// Without the kernel's list (before Linux 6.8, securityfs not mounted): runc's AppArmor check
/// (the module parameter), or AppArmor's own attribute answering.
fn apparmor_probe() -> bool {
    read_trimmed("/sys/module/apparmor/parameters/enabled").is_some_and(|v| v.starts_with('Y'))
        || read_trimmed("/proc/self/attr/apparmor/current").is_some()
}

/// go-selinux's check: selinuxfs mounted, else a context that looks like SELinux's.
fn selinux_probe() -> bool {
    const SELINUX_MAGIC: rustix::fs::FsWord = 0xf97c_ff8c;
    rustix::fs::statfs("/sys/fs/selinux").is_ok_and(|s| s.f_type == SELINUX_MAGIC)
        || read_trimmed("/proc/self/attr/current").is_some_and(|c| c.split(':').count() >= 3)
}

impl Host {
    pub fn detect() -> Host {
        let active = active_modules();
        let has = |m: &str| active.as_ref().map(|a| a.iter().any(|x| x == m));
        let apparmor = has("apparmor").unwrap_or_else(apparmor_probe);
        // SELinux without a policy loaded labels everything "kernel": nothing to apply.
        let selinux = has("selinux").unwrap_or_else(selinux_probe)
            && read_trimmed("/proc/self/attr/current").as_deref() != Some("kernel");
        let profiles = if apparmor {
            std::fs::read_to_string("/sys/kernel/security/apparmor/profiles")
                .ok()
                .map(|t| apparmor::parse_profiles(&t))
        } else {
            None
        };
        Host {
            apparmor,
            selinux,
            profiles,
            apparmor_attr_dir: Path::new("/proc/self/attr/apparmor").is_dir(),
            active,
        }
    }

    /// The modules that confine containers, for `berth doctor`.
    pub fn describe(&self) -> String {
        let mut on: Vec<&str> = Vec::new();
        if self.apparmor {
            on.push("AppArmor");
        }
        if self.selinux {
            on.push("SELinux");
        }
        let list = self
            .active
            .as_ref()
            .map(|a| format!(" (active: {})", a.join(",")))
            .unwrap_or_default();
        if on.is_empty() {
            format!("no AppArmor or SELinux{list}")
        } else {
            format!("{}{list}", on.join(" and "))
        }
    }
}

/// Where a request came from, which its error names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A config.json field (berth-spawn, engines such as containerd or podman).
    Config,
    /// `--security-opt` (`berth run`).
    Flag,
}

/// What a config asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub origin: Origin,
    /// `process.apparmorProfile` / `apparmor=`.
    pub apparmor: Option<String>,
    /// `process.selinuxLabel`.
    pub process_label: Option<String>,
    /// `linux.mountLabel`.
    pub mount_label: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

impl Request {
    pub fn of(process: &Process, spec: &Spec) -> Request {
        Request {
            origin: Origin::Config,
            apparmor: non_empty(process.apparmor_profile()),
            process_label: non_empty(process.selinux_label()),
            mount_label: spec
                .linux()
                .as_ref()
                .and_then(|l| non_empty(l.mount_label())),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.apparmor.is_none() && self.process_label.is_none() && self.mount_label.is_none()
    }

    fn what(&self, field: &str, flag: &str, value: &str) -> String {
        match self.origin {
            Origin::Config => format!("{field} {value:?}"),
            Origin::Flag => format!("--security-opt {flag}={value}"),
        }
    }

    fn fix(&self, field: &str, flag_fix: &str) -> String {
        match self.origin {
            Origin::Config => format!("remove {field} from config.json"),
            Origin::Flag => flag_fix.to_string(),
        }
    }
}

/// AppArmor's name for "no profile": fine everywhere (Docker accepts it on any host).
pub const UNCONFINED: &str = "unconfined";

/// The writes that confine the process from its next execve, each a file under
/// `/proc/thread-self/` and its content, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    pub attrs: Vec<(&'static str, String)>,
    /// Config fields left unapplied because they mean nothing on this host, each with why
    /// (said as a warning at create, never dropped silently).
    pub ignored: Vec<String>,
}

/// The decision: what to write where for `req` on `host`, or why it cannot be done.
pub fn plan(req: &Request, host: &Host) -> Result<Plan, LsmError> {
    let mut out = Plan::default();
    if let Some(p) = &req.apparmor
        && (host.apparmor || p != UNCONFINED)
    {
        let what = req.what("process.apparmorProfile", "apparmor", p);
        if !host.apparmor {
            return Err(LsmError::NotEnabled {
                what,
                module: "AppArmor",
                fix: req.fix(
                    "process.apparmorProfile",
                    "drop the option, or use apparmor=unconfined",
                ),
            });
        }
        if p != UNCONFINED && host.profiles.as_ref().is_some_and(|l| !l.contains(p)) {
            return Err(LsmError::NotLoaded { what });
        }
        // libapparmor's aa_change_onexec.
        let attr = if host.apparmor_attr_dir {
            "attr/apparmor/exec"
        } else {
            "attr/exec"
        };
        out.attrs.push((attr, format!("exec {p}")));
    }
    let selinux_fix = |field: &str| req.fix(field, "drop the option, or use label=disable");
    if let Some(l) = &req.process_label {
        if !host.selinux {
            return Err(LsmError::NotEnabled {
                what: req.what("process.selinuxLabel", "label", l),
                module: "SELinux",
                fix: selinux_fix("process.selinuxLabel"),
            });
        }
        out.attrs.push(("attr/exec", l.clone()));
    }
    if let Some(l) = &req.mount_label
        && !host.selinux
        && req.origin == Origin::Config
    {
        // A file label is read only by an SELinux policy, and none is loaded: nothing about
        // the container's confinement depends on it. runc (go-selinux), crun and Docker skip
        // it on such hosts, and so does berth-spawn, saying so. The process's own label and
        // an AppArmor profile would confine it, and stay refused.
        out.ignored.push(format!(
            "linux.mountLabel {l:?} is not applied: SELinux is not enabled on this host, so no policy reads file labels"
        ));
    } else if let Some(l) = &req.mount_label
        && !host.selinux
    {
        return Err(LsmError::NotEnabled {
            what: req.what("linux.mountLabel", "label", l),
            module: "SELinux",
            fix: selinux_fix("linux.mountLabel"),
        });
    }
    Ok(out)
}

/// The container's procfs, checked to be one: the attribute writes must reach the kernel,
/// not a file a hostile image or mount put in its place (the CVE-2025-52881 class).
fn open_proc(path: &Path) -> std::io::Result<OwnedFd> {
    let fd = rustix::fs::open(
        path,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    if rustix::fs::fstatfs(&fd)?.f_type != rustix::fs::PROC_SUPER_MAGIC {
        return Err(std::io::Error::other(format!(
            "{} is not a procfs",
            path.display()
        )));
    }
    Ok(fd)
}

/// Writes `value` to `/proc/thread-self/<attr>`, staying on that procfs mount.
fn write_attr(proc: impl AsFd, attr: &str, value: &str) -> std::io::Result<()> {
    let f = rustix::fs::openat2(
        proc,
        format!("thread-self/{attr}"),
        OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_XDEV | ResolveFlags::NO_MAGICLINKS,
    )?;
    let n = rustix::io::write(&f, value.as_bytes())?;
    if n != value.len() {
        return Err(std::io::Error::other("short write"));
    }
    Ok(())
}

/// The kernel's refusal, said in terms of the config field.
fn explain(req: &Request, attr: &str, value: &str, e: std::io::Error) -> LsmError {
    let apparmor = value.starts_with("exec ") && req.apparmor.is_some();
    let what = if apparmor {
        req.what(
            "process.apparmorProfile",
            "apparmor",
            req.apparmor.as_deref().unwrap_or_default(),
        )
    } else {
        req.what("process.selinuxLabel", "label", value)
    };
    match e.raw_os_error() {
        // aa_change_profile: no profile of that name.
        Some(libc::ENOENT) if apparmor => LsmError::NotLoaded { what },
        _ => LsmError::Apply {
            what: format!("{what}: writing /proc/thread-self/{attr}"),
            source: e,
        },
    }
}

/// Refuses, before anything is mounted, what [`apply`] would refuse: a label the host cannot
/// apply must fail the create with its own error, not as a mount that the label's `context=`
/// broke (runc validates the config first too).
pub fn check(process: &Process, spec: &Spec) -> Result<(), LsmError> {
    let req = Request::of(process, spec);
    if req.is_empty() {
        return Ok(());
    }
    plan(&req, &Host::detect()).map(drop)
}

/// Applies what the config asks for, from the container's init: the AppArmor profile and
/// the SELinux process label take effect at its execve (runc applies both before it drops
/// capabilities and loads seccomp, and so does berth). `at_create` also labels the mqueue
/// mounts with `linux.mountLabel` (runc sets their xattr after mounting; the other
/// in-memory mounts got `context=` from [`selinux::label_mounts`]).
pub fn apply(process: &Process, spec: &Spec, at_create: bool) -> Result<(), LsmError> {
    let req = Request::of(process, spec);
    if req.is_empty() {
        return Ok(());
    }
    let host = Host::detect();
    let plan = plan(&req, &host)?;
    if !plan.attrs.is_empty() {
        let proc = open_proc(Path::new("/proc")).map_err(|source| LsmError::Apply {
            what: "opening the container's /proc to apply its security labels".into(),
            source,
        })?;
        for (attr, value) in &plan.attrs {
            write_attr(&proc, attr, value).map_err(|e| explain(&req, attr, value, e))?;
        }
    }
    if at_create
        && host.selinux
        && let Some(label) = &req.mount_label
    {
        for m in spec.mounts().iter().flatten() {
            if m.typ().as_deref() == Some("mqueue") {
                selinux::label_mqueue(m.destination(), label)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
