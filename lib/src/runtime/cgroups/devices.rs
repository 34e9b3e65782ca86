//! Device cgroup rules: v1's `devices.allow`/`devices.deny` lines, and on cgroup v2 the same
//! rules compiled into a `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the container's
//! cgroup (v2 has no device files; runc and crun do the same).
//!
//! The program is built from the state the v1 kernel code would reach after the rules, in
//! order (`security/device_cgroup.c`): a default (allow or deny, set by `a` rules) and a list
//! of exceptions; a deny-by-default cgroup allows an access that one exception covers whole,
//! an allow-by-default one denies an access that any exception touches.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use oci_spec::runtime::{LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType};

use super::CgroupError;

/// Access bits, as both the v1 kernel code and the eBPF context number them.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;
const RWM: u8 = MKNOD | READ | WRITE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    All,
    Block,
    Char,
}

/// One rule; `None` is the wildcard `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

const fn allow_char(major: u32, minor: Option<u32>) -> Rule {
    Rule {
        allow: true,
        kind: Kind::Char,
        major: Some(major),
        minor,
        access: RWM,
    }
}

/// The devices every container gets: null, zero, full, random, urandom, tty, console, ptmx,
/// and the pts.
pub const DEFAULT_ALLOWED: &[Rule] = &[
    allow_char(1, Some(3)),
    allow_char(1, Some(5)),
    allow_char(1, Some(7)),
    allow_char(1, Some(8)),
    allow_char(1, Some(9)),
    allow_char(5, Some(0)),
    allow_char(5, Some(1)),
    allow_char(5, Some(2)),
    allow_char(136, None),
];

impl Rule {
    /// A `linux.resources.devices` entry; the error says what is wrong with it.
    pub fn from_spec(r: &LinuxDeviceCgroup) -> Result<Rule, String> {
        let kind = match r.typ() {
            None | Some(LinuxDeviceType::A) => Kind::All,
            Some(LinuxDeviceType::B) => Kind::Block,
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Kind::Char,
            Some(LinuxDeviceType::P) => {
                return Err("type \"p\" has no device cgroup rule (use a, b or c)".into());
            }
        };
        let num = |v: Option<i64>, what: &str| match v {
            None => Ok(None),
            Some(v) if v < 0 => Ok(None),
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|_| format!("{what} {v} is out of range")),
        };
        let mut access = 0;
        for c in r.access().as_deref().unwrap_or("rwm").chars() {
            access |= match c {
                'r' => READ,
                'w' => WRITE,
                'm' => MKNOD,
                _ => return Err(format!("access {c:?} is not one of r, w, m")),
            };
        }
        Ok(Rule {
            allow: r.allow(),
            kind,
            major: num(r.major(), "major")?,
            minor: num(r.minor(), "minor")?,
            access: if access == 0 { RWM } else { access },
        })
    }

    /// The rule a node of `linux.devices` needs: char and block devices only.
    pub fn for_node(d: &LinuxDevice) -> Option<Rule> {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
            LinuxDeviceType::B => Kind::Block,
            LinuxDeviceType::A | LinuxDeviceType::P => return None,
        };
        Some(Rule {
            allow: true,
            kind,
            major: u32::try_from(d.major()).ok(),
            minor: u32::try_from(d.minor()).ok(),
            access: RWM,
        })
    }

    /// `c 1:3 rwm`, `a *:* rwm`: a line for devices.allow or devices.deny.
    pub fn v1_string(&self) -> String {
        let t = match self.kind {
            Kind::All => "a",
            Kind::Block => "b",
            Kind::Char => "c",
        };
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        let mut a = String::new();
        for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
            if self.access & bit != 0 {
                a.push(c);
            }
        }
        format!("{t} {}:{} {a}", n(self.major), n(self.minor))
    }
}

/// The state the v1 kernel code reaches: the default and the exceptions.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct State {
    pub default_allow: bool,
    pub exceptions: Vec<Rule>,
}

impl State {
    /// Applies the rules in order, as `devcgroup_update_access` does. A new cgroup allows
    /// everything (its parent's state, unrestricted under ours).
    pub fn of(rules: &[Rule]) -> State {
        let mut s = State {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for r in rules {
            if r.kind == Kind::All {
                s.default_allow = r.allow;
                s.exceptions.clear();
                continue;
            }
            let same = |e: &Rule| e.kind == r.kind && e.major == r.major && e.minor == r.minor;
            if r.allow == s.default_allow {
                // Back to the default for these bits: take them out of the exception.
                for e in s.exceptions.iter_mut().filter(|e| same(e)) {
                    e.access &= !r.access;
                }
                s.exceptions.retain(|e| e.access != 0);
            } else if let Some(e) = s.exceptions.iter_mut().find(|e| same(e)) {
                e.access |= r.access;
            } else {
                s.exceptions.push(Rule {
                    allow: r.allow,
                    ..*r
                });
            }
        }
        s
    }

    /// What the kernel would answer for an access (for tests of the program).
    #[cfg(test)]
    pub fn permits(&self, kind: Kind, major: u32, minor: u32, access: u8) -> bool {
        let hit = |e: &&Rule| {
            e.kind == kind
                && e.major.is_none_or(|m| m == major)
                && e.minor.is_none_or(|m| m == minor)
        };
        if self.default_allow {
            !self
                .exceptions
                .iter()
                .filter(hit)
                .any(|e| e.access & access != 0)
        } else {
            self.exceptions
                .iter()
                .filter(hit)
                .any(|e| access & !e.access == 0)
        }
    }
}

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

pub const LDX_MEM_W: u8 = 0x61;
pub const ALU32_AND_K: u8 = 0x54;
pub const ALU32_RSH_K: u8 = 0x74;
pub const ALU32_MOV_K: u8 = 0xb4;
pub const ALU32_MOV_X: u8 = 0xbc;
pub const JMP32_JNE_K: u8 = 0x56;
pub const JMP32_JEQ_K: u8 = 0x16;
pub const EXIT: u8 = 0x95;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

fn bpf_kind(k: Kind) -> i32 {
    match k {
        Kind::Block => 1,
        Kind::Char => 2,
        Kind::All => 0,
    }
}

/// The program: r2 = type, r3 = access, r4 = major, r5 = minor; one block per exception
/// that returns at a match; then the default.
pub fn program(s: &State) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU32_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for e in &s.exceptions {
        // Conditions that skip to the next block when they fail, then the verdict.
        let mut conds: Vec<(u8, u8, i32, Option<Insn>)> =
            vec![(JMP32_JNE_K, 2, bpf_kind(e.kind), None)];
        if let Some(m) = e.major {
            conds.push((JMP32_JNE_K, 4, m as i32, None));
        }
        if let Some(m) = e.minor {
            conds.push((JMP32_JNE_K, 5, m as i32, None));
        }
        if s.default_allow {
            // Deny when the access touches the exception's bits.
            let and = insn(ALU32_AND_K, 1, 0, 0, i32::from(e.access));
            conds.push((JMP32_JEQ_K, 1, 0, Some(and)));
        } else if e.access != RWM {
            // Allow only when the exception covers every bit asked for.
            let and = insn(ALU32_AND_K, 1, 0, 0, i32::from(!e.access & RWM));
            conds.push((JMP32_JNE_K, 1, 0, Some(and)));
        }
        let body: usize = conds
            .iter()
            .map(|c| if c.3.is_some() { 3 } else { 1 })
            .sum();
        let mut left = body + 2;
        for (code, reg, imm, pre) in conds {
            if let Some(and) = pre {
                p.push(insn(ALU32_MOV_X, 1, 3, 0, 0));
                p.push(and);
                left -= 2;
            }
            left -= 1;
            p.push(insn(code, reg, 0, left as i16, imm));
        }
        p.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(!s.default_allow)));
        p.push(insn(EXIT, 0, 0, 0, 0));
    }
    p.push(insn(ALU32_MOV_K, 0, 0, 0, i32::from(s.default_allow)));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The head of `union bpf_attr` for BPF_PROG_LOAD (the kernel zero-fills the rest).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The head of `union bpf_attr` for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a live, initialised bpf_attr head of its own size; the kernel reads it
    // (and for loads writes the log into the buffer it points to, which outlives the call).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Loads the program into the kernel; on a verifier refusal the error carries its log.
pub fn load(insns: &[Insn]) -> Result<OwnedFd, CgroupError> {
    let license = c"Apache-2.0";
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..5].copy_from_slice(b"berth");
    match bpf(BPF_PROG_LOAD, &mut attr) {
        // SAFETY: a successful BPF_PROG_LOAD returns a new descriptor that we own.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let mut log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            Err(CgroupError::Bpf(format!(
                "loading the device program: {e}: {}",
                String::from_utf8_lossy(&log[..end]).trim()
            )))
        }
    }
}

/// Attaches the rules' program to the cgroup directory `dir` (with others allowed beside it,
/// as systemd attaches its own to the parents).
pub fn attach(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let prog = load(&program(&State::of(rules)))?;
    let cg = std::fs::File::open(dir)
        .map_err(|e| CgroupError::Bpf(format!("opening {}: {e}", dir.display())))?;
    let mut attr = ProgAttach {
        target_fd: cg.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map_err(|e| {
        CgroupError::Bpf(format!(
            "attaching the device program to {}: {e}",
            dir.display()
        ))
    })?;
    Ok(())
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
