//! SELinux: Docker's `label=` options turned into a process label and a mount label (as
//! go-selinux's `InitLabels` does), the mount label on the container's in-memory mounts (as
//! runc does), and the policy's container contexts they start from.

use std::path::Path;

use oci_spec::runtime::Mount;
use rustix::fs::{Mode, OFlags, ResolveFlags, XattrFlags};

use super::LsmError;

/// The keys a `label=KEY:VALUE` option may set (go-selinux's `validOptions`).
const KEYS: [&str; 5] = ["type", "filetype", "user", "role", "level"];

/// Checks Docker's `label=` values: `disable`, or `KEY:VALUE` with a known key.
pub fn validate(options: &[String]) -> Result<(), LsmError> {
    for o in options {
        if o == "disable" {
            continue;
        }
        match o.split_once(':') {
            Some((k, _)) if KEYS.contains(&k) => {}
            _ => {
                return Err(LsmError::BadOption(format!(
                    "bad label option {o:?}, valid options 'disable' or 'user, role, level, type, filetype' followed by ':' and a value"
                )));
            }
        }
    }
    Ok(())
}

/// Whether the options ask for a label at all (`disable`, or nothing, do not).
pub fn wants_label(options: &[String]) -> bool {
    !options.is_empty() && !options.iter().any(|o| o == "disable")
}

/// An SELinux context, `user:role:type[:level]` (the level may hold colons).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Context {
    user: String,
    role: String,
    typ: String,
    level: Option<String>,
}

impl Context {
    fn parse(s: &str) -> Option<Context> {
        let mut it = s.splitn(4, ':');
        let (user, role, typ) = (it.next()?, it.next()?, it.next()?);
        Some(Context {
            user: user.into(),
            role: role.into(),
            typ: typ.into(),
            level: it.next().map(String::from),
        })
    }

    fn render(&self) -> String {
        match &self.level {
            Some(l) => format!("{}:{}:{}:{l}", self.user, self.role, self.typ),
            None => format!("{}:{}:{}", self.user, self.role, self.typ),
        }
    }
}

/// The policy's contexts for containers: `process = "..."` and `file = "..."` lines of
/// container-selinux's `contexts` or the policy's `lxc_contexts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contexts {
    pub process: String,
    pub file: String,
}

impl Contexts {
    pub fn parse(text: &str) -> Contexts {
        let mut c = Contexts::default();
        for line in text.lines().map(str::trim) {
            if line.starts_with(['#', ';']) {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().trim_matches('"').to_string();
                match k.trim() {
                    "process" => c.process = v,
                    "file" => c.file = v,
                    _ => {}
                }
            }
        }
        c
    }

    /// Where go-selinux looks: container-selinux's file, else the policy's lxc_contexts.
    pub fn read() -> Option<Contexts> {
        let policy = std::fs::read_to_string("/etc/selinux/config")
            .ok()
            .and_then(|t| {
                t.lines()
                    .filter_map(|l| l.trim().strip_prefix("SELINUXTYPE="))
                    .map(|v| v.trim().trim_matches('"').to_string())
                    .next()
            });
        let mut places = vec!["/usr/share/containers/selinux/contexts".to_string()];
        places.extend(policy.map(|p| format!("/etc/selinux/{p}/contexts/lxc_contexts")));
        places
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .map(|t| Contexts::parse(&t))
            .find(|c| !c.process.is_empty() && !c.file.is_empty())
    }
}

/// The MCS level of a container: two distinct categories of 1024, taken from its id (a
/// random 256-bit number), so that its files are its own.
pub fn mcs_level(id: &str) -> String {
    let cat = |s: Option<&str>| s.and_then(|h| u16::from_str_radix(h, 16).ok()).unwrap_or(0) % 1024;
    let a = cat(id.get(0..4));
    let mut b = cat(id.get(4..8));
    if a == b {
        b = (b + 1) % 1024;
    }
    format!("s0:c{},c{}", a.min(b), a.max(b))
}

/// go-selinux's `InitLabels`: the policy's container contexts at `level`, then each option
/// (`type`, `user`, `role`, `level` change the process label; `filetype`, `user`, `level`
/// the mount label). `None` when the options ask for no label.
pub fn labels(
    options: &[String],
    ctx: &Contexts,
    level: &str,
) -> Result<Option<(String, String)>, LsmError> {
    validate(options)?;
    if !wants_label(options) {
        return Ok(None);
    }
    let bad = |what: &str, v: &str| {
        LsmError::BadOption(format!(
            "the SELinux policy's container {what} context {v:?} is not user:role:type[:level]"
        ))
    };
    let mut p = Context::parse(&ctx.process).ok_or_else(|| bad("process", &ctx.process))?;
    let mut m = Context::parse(&ctx.file).ok_or_else(|| bad("file", &ctx.file))?;
    if p.level.is_some() {
        p.level = Some(level.to_string());
        m.level = Some(level.to_string());
    }
    for o in options {
        let (k, v) = o.split_once(':').unwrap_or_default();
        match k {
            "type" => p.typ = v.into(),
            "filetype" => m.typ = v.into(),
            "role" => p.role = v.into(),
            "user" => {
                p.user = v.into();
                m.user = v.into();
            }
            "level" => {
                p.level = Some(v.into());
                m.level = Some(v.into());
            }
            _ => {}
        }
    }
    Ok(Some((p.render(), m.render())))
}

/// runc's rule for which mounts take `context=`: the in-memory and special filesystems it
/// mounts itself, not proc, sysfs or cgroups (their labels are the kernel's), not mqueue
/// (labelled after mounting, see [`label_mqueue`]) and not binds (they keep their source's).
/// Used on config.json by `berth run` ([`label_mounts`]) and by the container's init for any
/// config (`init::mounts`).
pub fn takes_context<'a>(typ: &str, mut options: impl Iterator<Item = &'a str>) -> bool {
    let bind = typ == "bind" || options.any(|x| x == "bind" || x == "rbind");
    !bind && !matches!(typ, "proc" | "sysfs" | "cgroup" | "cgroup2" | "mqueue" | "")
}

/// The mount option that gives a filesystem `label` (go-selinux's `FormatMountLabel`): quoted,
/// for mount(2)'s comma-separated option string would cut an MCS level's `c1,c2`.
pub fn context_option(label: &str) -> String {
    format!("context=\"{label}\"")
}

/// Gives the config's mounts the mount label as a `context=` option (go-selinux's
/// `FormatMountLabel`), replacing one a previous edit left.
pub fn label_mounts(mounts: &mut [Mount], label: Option<&str>) {
    for m in mounts.iter_mut() {
        let mut options = m.options().clone();
        if let Some(o) = options.as_mut() {
            o.retain(|x| !x.starts_with("context="));
        }
        let typ = m.typ().clone().unwrap_or_default();
        let given = options.iter().flatten().map(String::as_str);
        if let Some(l) = label
            && takes_context(&typ, given)
        {
            options.get_or_insert_with(Vec::new).push(context_option(l));
        }
        m.set_options(options);
    }
}

/// Labels an mqueue mount's root, from the container's init after pivot_root: opened
/// without following any symlink and checked to be an mqueue filesystem.
pub fn label_mqueue(dest: &Path, label: &str) -> Result<(), LsmError> {
    const MQUEUE_MAGIC: rustix::fs::FsWord = 0x1980_0202;
    let what = || format!("labelling {} with linux.mountLabel", dest.display());
    let err = |source| LsmError::Apply {
        what: what(),
        source,
    };
    let root = rustix::fs::open("/", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| err(e.into()))?;
    let rel = dest.strip_prefix("/").unwrap_or(dest);
    let fd = rustix::fs::openat2(
        &root,
        rel,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|e| err(e.into()))?;
    if rustix::fs::fstatfs(&fd).map_err(|e| err(e.into()))?.f_type != MQUEUE_MAGIC {
        return Err(err(std::io::Error::other("not an mqueue mount")));
    }
    rustix::fs::fsetxattr(
        &fd,
        "security.selinux",
        label.as_bytes(),
        XattrFlags::empty(),
    )
    .map_err(|e| err(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn opts(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    const LXC: &str = r#"
# comment
process = "system_u:system_r:container_t:s0"
file = "system_u:object_r:container_file_t:s0"
ro_file="system_u:object_r:container_ro_file_t:s0"
"#;

    #[test]
    fn options_are_docker_s() {
        for ok in [
            "disable",
            "type:foo_t",
            "level:s0:c1,c2",
            "filetype:x_t",
            "user:u",
            "role:r",
        ] {
            validate(&opts(&[ok])).unwrap();
        }
        for bad in ["nested", "type", "bogus:x", ""] {
            let e = validate(&opts(&[bad])).unwrap_err().to_string();
            assert!(e.starts_with("bad label option"), "{e}");
            assert!(!e.contains('\n'), "{e}");
        }
        assert!(!wants_label(&opts(&[])) && !wants_label(&opts(&["disable"])));
        assert!(wants_label(&opts(&["type:foo_t"])));
    }

    #[test]
    fn labels_start_from_the_policy_contexts_with_the_container_s_level() {
        let c = Contexts::parse(LXC);
        assert_eq!(c.process, "system_u:system_r:container_t:s0");
        let l = mcs_level("00ff03ff");
        assert_eq!(l, "s0:c255,c1023");
        let (p, m) = labels(&opts(&["type:foo_t"]), &c, &l).unwrap().unwrap();
        assert_eq!(p, "system_u:system_r:foo_t:s0:c255,c1023");
        assert_eq!(m, "system_u:object_r:container_file_t:s0:c255,c1023");
        let (p, m) = labels(
            &opts(&["level:s0:c1,c2", "filetype:bar_t", "user:me_u", "role:r_r"]),
            &c,
            &l,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p, "me_u:r_r:container_t:s0:c1,c2");
        assert_eq!(m, "me_u:object_r:bar_t:s0:c1,c2");
        assert_eq!(labels(&opts(&["disable"]), &c, &l).unwrap(), None);
        assert!(labels(&opts(&["type:x"]), &Contexts::default(), &l).is_err());
        // Equal categories are made distinct.
        assert_eq!(mcs_level("00010001"), "s0:c1,c2");
    }

    #[test]
    fn mount_label_goes_on_tmpfs_and_devpts_only() {
        let mut spec = json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "options": ["nosuid", "context=\"old\""]},
            {"destination": "/dev/pts", "type": "devpts", "options": ["newinstance"]},
            {"destination": "/dev/mqueue", "type": "mqueue"},
            {"destination": "/data", "type": "none", "source": "/x", "options": ["rbind"]},
            {"destination": "/run", "type": "tmpfs"}
        ]});
        let label = |spec: &mut Value, l: Option<&str>| {
            let mut mounts: Vec<Mount> = serde_json::from_value(spec["mounts"].take()).unwrap();
            label_mounts(&mut mounts, l);
            spec["mounts"] = serde_json::to_value(&mounts).unwrap();
        };
        label(&mut spec, Some("u:object_r:t:s0:c1,c2"));
        let o = |i: usize| spec["mounts"][i]["options"].clone();
        assert_eq!(o(0), Value::Null);
        assert_eq!(o(1), json!(["nosuid", "context=\"u:object_r:t:s0:c1,c2\""]));
        assert_eq!(
            o(2),
            json!(["newinstance", "context=\"u:object_r:t:s0:c1,c2\""])
        );
        assert_eq!(o(3), Value::Null);
        assert_eq!(o(4), json!(["rbind"]));
        assert_eq!(o(5), json!(["context=\"u:object_r:t:s0:c1,c2\""]));
        label(&mut spec, None);
        assert_eq!(spec["mounts"][1]["options"], json!(["nosuid"]));
    }
}
