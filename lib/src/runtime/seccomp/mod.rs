//! seccomp: Docker's default profile (shipped as berth's default), Docker-format profiles
//! (`--security-opt seccomp=FILE`) evaluated for a container's capabilities and architecture
//! into the OCI `linux.seccomp` section, and that section compiled to BPF with libseccomp.
//!
//! The compiled program is cached by the hash of its source under the runtime root, so the
//! ~350-rule default profile is compiled once per machine, not once per container.

use std::collections::BTreeMap;
use std::io::{Read, Seek};
use std::os::fd::AsFd;
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde::{Deserialize, Serialize};

use super::RuntimeError;

/// Docker's default profile (github.com/moby/profiles `seccomp/default.json` at cd3bed8,
/// 2026-06-30, which moby vendors; Apache-2.0), in Docker's format: rules carry
/// `includes`/`excludes` on capabilities, architectures and kernel versions. Since Docker 25
/// it has no io_uring (io_uring_setup/enter/register get EPERM), and it refuses AF_ALG (38)
/// and AF_VSOCK (40) sockets.
pub const DOCKER_DEFAULT: &str = include_str!("docker-default.json");

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
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

/// moby's name for this machine's architecture (its `goToNative` table), which a rule's
/// `includes.arches`/`excludes.arches` are matched against.
fn docker_arch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "loongarch64" => "loongarch64",
        "mips64" if little => "mipsel64",
        "mips64" => "mips64",
        "mips" if little => "mipsel",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "powerpc" => "ppc",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        other => other,
    }
}

/// libseccomp's name for this machine's architecture, which `archMap` entries are keyed by.
fn seccomp_arch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "x86" => "SCMP_ARCH_X86",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "loongarch64" => "SCMP_ARCH_LOONGARCH64",
        "mips64" if little => "SCMP_ARCH_MIPSEL64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips" if little => "SCMP_ARCH_MIPSEL",
        "powerpc64" if little => "SCMP_ARCH_PPC64LE",
        "powerpc64" => "SCMP_ARCH_PPC64",
        "powerpc" => "SCMP_ARCH_PPC",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        _ => "SCMP_ARCH_NATIVE",
    }
}

/// A `minKernel` value: moby accepts exactly `<kernel>.<major>` (e.g. "4.8"), not 0.0.
fn parse_min_kernel(v: &str) -> Result<(u8, u8), RuntimeError> {
    let bad = || {
        RuntimeError::Seccomp(format!(
            "invalid kernel version {v:?} in minKernel, expected \"<kernel>.<major>\""
        ))
    };
    let (k, m) = v.split_once('.').ok_or_else(bad)?;
    let (k, m): (u8, u8) = (k.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if (k, m) == (0, 0) {
        return Err(bad());
    }
    Ok((k, m))
}

/// The running kernel's `<kernel>.<major>`, ignoring the rest as moby does ("6.18.4-foo").
fn running_kernel() -> (u8, u8) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut it = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u8>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

impl Filter {
    /// moby's `setupSeccomp` conditions: does this filter match `arch`, the bounding set
    /// `caps` and the `kernel`? `all` is true for includes (every condition must hold), false
    /// for excludes (any one condition excludes).
    fn matches(
        &self,
        arch: &str,
        caps: &[String],
        kernel: (u8, u8),
        all: bool,
    ) -> Result<bool, RuntimeError> {
        let has = |c: &String| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
        let min = match self.min_kernel.as_deref().filter(|k| !k.is_empty()) {
            Some(k) => Some(kernel >= parse_min_kernel(k)?),
            None => None,
        };
        let arches = (!self.arches.is_empty()).then(|| self.arches.iter().any(|a| a == arch));
        Ok(if all {
            arches != Some(false) && self.caps.iter().all(has) && min != Some(false)
        } else {
            arches == Some(true) || self.caps.iter().any(has) || min == Some(true)
        })
    }
}

impl Profile {
    pub fn parse(json: &str) -> Result<Profile, RuntimeError> {
        serde_json::from_str(json)
            .map_err(|e| RuntimeError::Seccomp(format!("decoding the seccomp profile: {e}")))
    }

    pub fn docker_default() -> Profile {
        Self::parse(DOCKER_DEFAULT).expect("the shipped profile is valid")
    }

    /// The profile as it applies to a container whose bounding set is `caps` (moby's
    /// `setupSeccomp`): the architectures of this machine's `archMap` entry, and the rules
    /// whose `includes` all hold and none of whose `excludes` does. `None` when the profile
    /// names no default action and no rules (moby: seccomp disabled).
    pub fn resolve(&self, caps: &[String]) -> Result<Option<Profile>, RuntimeError> {
        self.resolve_for(docker_arch(), seccomp_arch(), caps, running_kernel())
    }

    fn resolve_for(
        &self,
        arch: &str,
        scmp_arch: &str,
        caps: &[String],
        kernel: (u8, u8),
    ) -> Result<Option<Profile>, RuntimeError> {
        if self.default_action.is_empty() && self.syscalls.is_empty() {
            return Ok(None);
        }
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(RuntimeError::Seccomp(
                "both 'architectures' and 'archMap' are specified in the seccomp profile, use either 'architectures' or 'archMap'".into(),
            ));
        }
        let mut out = Profile {
            default_action: self.default_action.clone(),
            default_errno_ret: self.default_errno_ret,
            flags: self.flags.clone(),
            listener_path: self.listener_path.clone(),
            architectures: self.architectures.clone(),
            ..Default::default()
        };
        if let Some(m) = self.arch_map.iter().find(|m| m.architecture == scmp_arch) {
            out.architectures.push(m.architecture.clone());
            out.architectures
                .extend(m.sub_architectures.clone().unwrap_or_default());
        }
        for r in &self.syscalls {
            if !r.name.is_empty() && !r.names.is_empty() {
                return Err(RuntimeError::Seccomp(
                    "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or 'names'".into(),
                ));
            }
            if r.excludes.matches(arch, caps, kernel, false)?
                || !r.includes.matches(arch, caps, kernel, true)?
            {
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
        Ok(Some(out))
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
        // A rule without errnoRet returns EPERM, not the profile's defaultErrnoRet (runc's
        // getAction); the default action passes defaultErrnoRet itself.
        let errno = errno.unwrap_or(libc::EPERM as u32);
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
        let default = self.action(&self.default_action, self.default_errno_ret)?;
        let mut ctx = ScmpFilterContext::new(default).map_err(|x| e("init", x))?;
        // berth sets no_new_privs itself, at the right moment.
        ctx.set_ctl_nnp(false).map_err(|x| e("nnp", x))?;
        // A binary tree over the syscall numbers, not libseccomp's default list of tests in a
        // row. The kernel walks the filter once per syscall number and architecture when it is
        // loaded (its action cache), then on every syscall the cache cannot answer: Docker's
        // profile loads in 0.24 ms instead of 0.70 ms here, on every container start. The
        // same rules; a libseccomp older than 2.5 keeps its list.
        let _ = ctx.set_ctl_optimize(2);
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
        use nix::sys::memfd::{MFdFlags, memfd_create};
        let fd = memfd_create(c"berth-seccomp", MFdFlags::MFD_CLOEXEC)
            .map_err(|x| super::sys("memfd_create", x))?;
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
        // The compiler's shape is part of the key: a filter cached by an older berth (a list,
        // not a tree) is not taken for this one's.
        let mut src = b"tree\n".to_vec();
        src.extend(serde_json::to_vec(self).unwrap_or_default());
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

    fn names(p: &Profile) -> Vec<&str> {
        p.syscalls
            .iter()
            .flat_map(|s| &s.names)
            .map(String::as_str)
            .collect()
    }

    fn resolved(caps: &[String]) -> Profile {
        Profile::docker_default().resolve(caps).unwrap().unwrap()
    }

    #[test]
    fn default_profile_depends_on_caps() {
        let caps = crate::runtime::caps::docker_default();
        let r = resolved(&caps);
        let n = names(&r);
        assert!(n.contains(&"read") && n.contains(&"clone3"));
        for blocked in ["unshare", "keyctl", "mount", "lsm_set_self_attr", "bpf"] {
            assert!(!n.contains(&blocked), "{blocked}");
        }
        let mut admin = caps.clone();
        admin.push("CAP_SYS_ADMIN".into());
        let r = resolved(&admin);
        assert!(names(&r).contains(&"mount") && names(&r).contains(&"lsm_get_self_attr"));
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
    fn docker_25_profile_has_no_io_uring_even_with_every_capability() {
        let all = crate::runtime::caps::all_names();
        let n = names(&resolved(&all)).join(" ");
        assert!(!n.contains("io_uring"), "{n}");
        // Newer calls moby allows since the old copy.
        for added in ["futex_wait", "fchmodat2", "mseal", "cachestat", "statmount"] {
            assert!(n.split(' ').any(|x| x == added), "{added}");
        }
    }

    /// Loads the compiled default filter in a forked child and makes the calls: what the
    /// container sees, without a container. The child runs only raw syscalls before _exit.
    fn errno_under_default_filter(call: fn() -> libc::c_long) -> i32 {
        let bpf = resolved(&crate::runtime::caps::docker_default())
            .compile()
            .unwrap();
        let prog = libc::sock_fprog {
            len: (bpf.len() / std::mem::size_of::<libc::sock_filter>()) as u16,
            filter: bpf.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: the child calls only async-signal-safe syscalls and _exit.
        match unsafe { libc::fork() } {
            // SAFETY: in the forked child of a test thread: only raw syscalls and _exit, no
            // allocation or lock; `prog` points at `bpf`, alive in this copied address space.
            0 => unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if libc::syscall(libc::SYS_seccomp, 1, 0, &prog as *const _) != 0 {
                    libc::_exit(200);
                }
                let r = call();
                let e = *libc::__errno_location();
                libc::_exit(if r >= 0 { 0 } else { e.min(199) })
            },
            pid => {
                let mut status = 0;
                // SAFETY: waits for our own child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                assert!(libc::WIFEXITED(status), "{status}");
                libc::WEXITSTATUS(status)
            }
        }
    }

    #[test]
    fn the_compiled_default_refuses_io_uring_and_af_alg_with_eperm() {
        fn setup() -> libc::c_long {
            let mut params = [0u8; 120];
            // SAFETY: io_uring_setup reads and writes a 120-byte io_uring_params.
            unsafe { libc::syscall(libc::SYS_io_uring_setup, 1, params.as_mut_ptr()) }
        }
        fn alg() -> libc::c_long {
            // SAFETY: plain socket(2).
            unsafe { libc::socket(libc::AF_ALG, libc::SOCK_SEQPACKET, 0) as libc::c_long }
        }
        fn inet() -> libc::c_long {
            // SAFETY: plain socket(2).
            unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) as libc::c_long }
        }
        assert_eq!(errno_under_default_filter(setup), libc::EPERM);
        assert_eq!(errno_under_default_filter(alg), libc::EPERM);
        assert_eq!(errno_under_default_filter(inet), 0);
    }

    /// The compiled filter (a tree, `compile`) gives the profile's verdicts on low and high
    /// syscall numbers, and on calls whose arguments it tests.
    #[test]
    fn the_compiled_default_answers_low_high_and_argument_checked_calls() {
        fn getpid() -> libc::c_long {
            // SAFETY: plain getpid(2).
            unsafe { libc::syscall(libc::SYS_getpid) }
        }
        fn unshare() -> libc::c_long {
            // SAFETY: unshare(2) of the mount namespace, in a throwaway child.
            unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWNS) }
        }
        fn keyctl() -> libc::c_long {
            // SAFETY: keyctl(2) asking for nothing (KEYCTL_GET_KEYRING_ID of no keyring).
            unsafe { libc::syscall(libc::SYS_keyctl, 0, 0, 0) }
        }
        fn personality_query() -> libc::c_long {
            // SAFETY: personality(0xffffffff) only reads the persona.
            unsafe { libc::syscall(libc::SYS_personality, 0xffff_ffffu64) }
        }
        fn personality_no_aslr() -> libc::c_long {
            // SAFETY: personality(ADDR_NO_RANDOMIZE), in a throwaway child.
            unsafe { libc::syscall(libc::SYS_personality, 0x0040000u64) }
        }
        fn statx() -> libc::c_long {
            // SAFETY: statx(2) of nothing: EFAULT if allowed, EPERM if filtered.
            unsafe { libc::syscall(libc::SYS_statx, 0, 0, 0, 0, 0) }
        }
        assert_eq!(errno_under_default_filter(getpid), 0);
        assert_eq!(errno_under_default_filter(statx), libc::EFAULT);
        assert_eq!(errno_under_default_filter(unshare), libc::EPERM);
        assert_eq!(errno_under_default_filter(keyctl), libc::EPERM);
        assert_eq!(errno_under_default_filter(personality_query), 0);
        assert_eq!(errno_under_default_filter(personality_no_aslr), libc::EPERM);
    }

    /// `compile` asks libseccomp for a tree: its branches compare the syscall number with
    /// "greater than" (a list has two such tests in all, for the x32 ABI's numbers).
    #[test]
    fn the_compiled_default_is_a_tree_not_a_list() {
        let bpf = resolved(&crate::runtime::caps::docker_default())
            .compile()
            .unwrap();
        let jgt = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
        let branches = bpf
            .chunks_exact(std::mem::size_of::<libc::sock_filter>())
            .filter(|i| u16::from_ne_bytes([i[0], i[1]]) == jgt)
            .count();
        assert!(branches > 50, "{branches} JGT tests: a list, not a tree");
    }

    #[test]
    fn default_profile_compiles() {
        let bpf = resolved(&crate::runtime::caps::docker_default())
            .compile()
            .unwrap();
        assert!(bpf.len() > 100 * 8, "{}", bpf.len());
    }

    fn profile(json: &str) -> Profile {
        Profile::parse(json).unwrap()
    }

    #[test]
    fn includes_and_excludes_follow_moby() {
        let p = profile(
            r#"{"defaultAction": "SCMP_ACT_ERRNO",
                "archMap": [{"architecture": "SCMP_ARCH_S390X", "subArchitectures": ["SCMP_ARCH_S390"]}],
                "syscalls": [
                  {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
                  {"names": ["b"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.9"}},
                  {"names": ["c"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "6.9"}},
                  {"names": ["d"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_A", "CAP_B"]}},
                  {"names": ["e"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_A", "CAP_C"]}},
                  {"name": "f", "action": "SCMP_ACT_ALLOW"}
                ]}"#,
        );
        let run = |arch, scmp, caps: &[&str], k| {
            let caps: Vec<String> = caps.iter().map(|c| c.to_string()).collect();
            let r = p.resolve_for(arch, scmp, &caps, k).unwrap().unwrap();
            (names(&r).join(""), r.architectures.join(","))
        };
        let (n, a) = run("s390x", "SCMP_ARCH_S390X", &["CAP_A"], (6, 18));
        assert_eq!(
            (n.as_str(), a.as_str()),
            ("abf", "SCMP_ARCH_S390X,SCMP_ARCH_S390")
        );
        let (n, a) = run("amd64", "SCMP_ARCH_X86_64", &["CAP_A", "CAP_B"], (5, 4));
        assert_eq!((n.as_str(), a.as_str()), ("cdf", ""));
        assert_eq!(run("amd64", "x", &["CAP_B"], (6, 9)).0, "bef");
    }

    #[test]
    fn malformed_profiles_are_refused_as_moby_does() {
        let bad = [
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}], "syscalls": []}"#,
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}"#,
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6"}}]}"#,
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "0.0"}}]}"#,
        ];
        for b in bad {
            let e = profile(b).resolve(&[]).unwrap_err();
            assert!(matches!(e, RuntimeError::Seccomp(_)), "{b}: {e}");
        }
        // No default action and no rules: moby runs without seccomp.
        assert_eq!(profile("{}").resolve(&[]).unwrap(), None);
    }

    #[test]
    fn a_rule_without_errno_ret_returns_eperm_not_the_default_errno() {
        let p = profile(r#"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}"#);
        assert_eq!(
            p.action("SCMP_ACT_ERRNO", None).unwrap(),
            ScmpAction::Errno(libc::EPERM)
        );
        assert_eq!(
            p.action(&p.default_action, p.default_errno_ret).unwrap(),
            ScmpAction::Errno(libc::ENOSYS)
        );
    }
}
