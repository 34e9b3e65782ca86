//! seccomp: Docker's default profile (shipped as berth's default), Docker-format profiles
//! (`--security-opt seccomp=FILE`) evaluated for a container's capabilities and architecture
//! into the OCI `linux.seccomp` section, and that section compiled to BPF with libseccomp.
//!
//! The compiled program is cached by the hash of its source under the runtime root, so the
//! ~350-rule default profile is compiled once per machine, not once per container.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde::{Deserialize, Serialize};

use super::RuntimeError;

/// Docker's default profile (moby `profiles/seccomp/default.json`, Apache-2.0), in Docker's
/// format: rules carry `includes`/`excludes` on capabilities, architectures and kernel
/// versions.
pub const DOCKER_DEFAULT: &str = include_str!("docker-default.json");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub default_action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    #[serde(default, skip_serializing)]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Vec<String>,
    /// Docker's older single-name form.
    #[serde(default, skip_serializing)]
    pub name: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing)]
    pub includes: Filter,
    #[serde(default, skip_serializing)]
    pub excludes: Filter,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// Docker's name for this machine's architecture.
fn docker_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn seccomp_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => "SCMP_ARCH_NATIVE",
    }
}

fn kernel_at_least(min: &str) -> bool {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let parse = |s: &str| -> (u32, u32) {
        let mut it = s
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|p| p.parse().ok());
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    parse(&release) >= parse(min)
}

impl Profile {
    pub fn parse(json: &str) -> Result<Profile, RuntimeError> {
        serde_json::from_str(json)
            .map_err(|e| RuntimeError::Seccomp(format!("decoding the seccomp profile: {e}")))
    }

    pub fn docker_default() -> Profile {
        Self::parse(DOCKER_DEFAULT).expect("the shipped profile is valid")
    }

    /// The profile as it applies to a container with capabilities `caps` (Docker's
    /// `setupSeccomp`): rules whose includes are not met, or whose excludes are, drop out.
    pub fn resolve(&self, caps: &[String]) -> Profile {
        let arch = docker_arch();
        let mut out = Profile {
            default_action: self.default_action.clone(),
            default_errno_ret: self.default_errno_ret,
            flags: self.flags.clone(),
            listener_path: self.listener_path.clone(),
            architectures: self.architectures.clone(),
            ..Default::default()
        };
        if out.architectures.is_empty() {
            for m in &self.arch_map {
                if m.architecture == seccomp_arch() {
                    out.architectures.push(m.architecture.clone());
                    out.architectures
                        .extend(m.sub_architectures.clone().unwrap_or_default());
                }
            }
        }
        let has = |c: &String| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
        for r in &self.syscalls {
            let inc = &r.includes;
            if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch) {
                continue;
            }
            if !inc.caps.iter().all(has) {
                continue;
            }
            if inc
                .min_kernel
                .as_deref()
                .is_some_and(|k| !kernel_at_least(k))
            {
                continue;
            }
            let exc = &r.excludes;
            if exc.arches.iter().any(|a| a == arch) || exc.caps.iter().any(has) {
                continue;
            }
            let mut rule = r.clone();
            if !rule.name.is_empty() {
                rule.names.push(std::mem::take(&mut rule.name));
            }
            rule.includes = Filter::default();
            rule.excludes = Filter::default();
            out.syscalls.push(rule);
        }
        out
    }

    /// The OCI `linux.seccomp` section.
    pub fn to_oci(&self) -> Result<oci_spec::runtime::LinuxSeccomp, RuntimeError> {
        let v = serde_json::to_value(self).map_err(|e| RuntimeError::Seccomp(e.to_string()))?;
        serde_json::from_value(v).map_err(|e| RuntimeError::Seccomp(e.to_string()))
    }

    pub fn from_oci(s: &oci_spec::runtime::LinuxSeccomp) -> Result<Profile, RuntimeError> {
        let v = serde_json::to_value(s).map_err(|e| RuntimeError::Seccomp(e.to_string()))?;
        serde_json::from_value(v).map_err(|e| RuntimeError::Seccomp(e.to_string()))
    }

    fn action(&self, name: &str, errno: Option<u32>) -> Result<ScmpAction, RuntimeError> {
        let errno = errno
            .or(self.default_errno_ret)
            .unwrap_or(libc::EPERM as u32);
        let a = match name {
            "SCMP_ACT_ERRNO" => ScmpAction::Errno(errno as i32),
            "SCMP_ACT_TRACE" => ScmpAction::Trace(errno as u16),
            other => ScmpAction::from_str(other, None)
                .map_err(|e| RuntimeError::Seccomp(format!("action {other}: {e}")))?,
        };
        if a == ScmpAction::Notify {
            return Err(RuntimeError::Unsupported(
                "seccomp SCMP_ACT_NOTIFY needs a listener; berth does not support it".into(),
            ));
        }
        Ok(a)
    }

    /// Compiles to a BPF program (an array of `struct sock_filter`).
    pub fn compile(&self) -> Result<Vec<u8>, RuntimeError> {
        let e = |what: &str, err: libseccomp::error::SeccompError| {
            RuntimeError::Seccomp(format!("{what}: {err}"))
        };
        let default = self.action(&self.default_action, None)?;
        let mut ctx = ScmpFilterContext::new(default).map_err(|x| e("init", x))?;
        // berth sets no_new_privs itself, at the right moment.
        ctx.set_ctl_nnp(false).map_err(|x| e("nnp", x))?;
        for a in &self.architectures {
            let arch: ScmpArch = a.parse().map_err(|x| e(a, x))?;
            if arch != ScmpArch::native() {
                ctx.add_arch(arch).map_err(|x| e(a, x))?;
            }
        }
        for r in &self.syscalls {
            let act = self.action(&r.action, r.errno_ret)?;
            if act == default {
                continue;
            }
            let names = r
                .names
                .iter()
                .chain((!r.name.is_empty()).then_some(&r.name));
            for name in names {
                // Names unknown to this libseccomp/arch are skipped, as runc and crun do.
                let Ok(sc) = ScmpSyscall::from_name(name) else {
                    continue;
                };
                let conds: Vec<ScmpArgCompare> = r
                    .args
                    .iter()
                    .map(|a| {
                        let op = match a.op.as_str() {
                            "SCMP_CMP_MASKED_EQ" => ScmpCompareOp::MaskedEqual(a.value),
                            other => other.parse().map_err(|x| e(other, x))?,
                        };
                        let datum = if a.op == "SCMP_CMP_MASKED_EQ" {
                            a.value_two
                        } else {
                            a.value
                        };
                        Ok(ScmpArgCompare::new(a.index, op, datum))
                    })
                    .collect::<Result<_, RuntimeError>>()?;
                let mut per_index: BTreeMap<u32, usize> = BTreeMap::new();
                for a in &r.args {
                    *per_index.entry(a.index).or_default() += 1;
                }
                if per_index.values().any(|n| *n > 1) {
                    // libseccomp refuses two comparisons of one argument in a rule; OCI means
                    // them as alternatives (runc adds one rule each).
                    for c in conds {
                        ctx.add_rule_conditional(act, sc, &[c])
                            .map_err(|x| e(name, x))?;
                    }
                } else {
                    ctx.add_rule_conditional(act, sc, &conds)
                        .map_err(|x| e(name, x))?;
                }
            }
        }
        let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(super::sys("memfd_create", std::io::Error::last_os_error()));
        }
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        ctx.export_bpf(fd.as_fd()).map_err(|x| e("export", x))?;
        let mut f = std::fs::File::from(fd);
        let mut buf = Vec::new();
        f.rewind()
            .and_then(|_| f.read_to_end(&mut buf))
            .map_err(|x| super::sys("reading the compiled filter", x))?;
        Ok(buf)
    }

    /// [`compile`](Self::compile), cached under `cache_dir` by the profile's hash.
    pub fn compile_cached(&self, cache_dir: &Path) -> Result<Vec<u8>, RuntimeError> {
        let src = serde_json::to_vec(self).unwrap_or_default();
        let key = crate::paths::digest_hex(&crate::digest::sha256(&src)).to_string();
        let path = cache_dir.join(format!("{key}.bpf"));
        if let Ok(b) = std::fs::read(&path)
            && !b.is_empty()
            && b.len() % std::mem::size_of::<libc::sock_filter>() == 0
        {
            return Ok(b);
        }
        let bpf = self.compile()?;
        let _ = crate::store::atomic::write(&path, &bpf);
        Ok(bpf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_depends_on_caps() {
        let p = Profile::docker_default();
        let caps = crate::runtime::caps::docker_default();
        let r = p.resolve(&caps);
        let names: Vec<&String> = r.syscalls.iter().flat_map(|s| &s.names).collect();
        assert!(names.iter().any(|n| *n == "read"));
        assert!(
            !names
                .iter()
                .any(|n| *n == "unshare" || *n == "keyctl" || *n == "mount")
        );
        assert!(names.iter().any(|n| *n == "clone3"));
        let mut admin = caps.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let r = p.resolve(&admin);
        assert!(
            r.syscalls
                .iter()
                .flat_map(|s| &s.names)
                .any(|n| n == "mount")
        );
        assert!(
            r.architectures.contains(&"SCMP_ARCH_X86_64".to_string())
                || std::env::consts::ARCH != "x86_64"
        );
        let oci = r.to_oci().unwrap();
        assert_eq!(
            Profile::from_oci(&oci).unwrap().syscalls.len(),
            r.syscalls.len()
        );
    }

    #[test]
    fn default_profile_compiles() {
        let p = Profile::docker_default().resolve(&crate::runtime::caps::docker_default());
        let bpf = p.compile().unwrap();
        assert!(bpf.len() > 100 * 8, "{}", bpf.len());
    }
}
