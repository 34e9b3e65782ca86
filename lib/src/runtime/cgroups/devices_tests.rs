//! Device rules: the v1 lines, the state the kernel reaches, and the eBPF program, run here
//! by a small interpreter of the instructions it uses and compared with that state.

use super::*;
use serde_json::json;

fn rule(v: serde_json::Value) -> Rule {
    Rule::from_spec(&serde_json::from_value(v).unwrap()).unwrap()
}

fn deny_all() -> Rule {
    rule(json!({"allow": false}))
}

#[test]
fn rules_read_like_the_kernel_wants() {
    assert_eq!(deny_all().v1_string(), "a *:* rwm");
    let r = rule(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "wr"}));
    assert_eq!(r.v1_string(), "c 1:3 rw");
    let r = rule(json!({"allow": true, "type": "b", "major": 8, "minor": -1, "access": "m"}));
    assert_eq!(r.v1_string(), "b 8:* m");
    let bad = |v| Rule::from_spec(&serde_json::from_value(v).unwrap()).unwrap_err();
    assert_eq!(
        bad(json!({"allow": true, "type": "c", "access": "rx"})),
        "access 'x' is not one of r, w, m"
    );
    assert_eq!(
        bad(json!({"allow": true, "type": "c", "major": 4294967296_i64})),
        "major 4294967296 is out of range"
    );
}

#[test]
fn the_state_follows_the_kernels_rules_in_order() {
    let s = State::of(&[
        deny_all(),
        rule(json!({"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"})),
        rule(json!({"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"})),
        rule(json!({"allow": true, "type": "b", "major": 8, "access": "r"})),
    ]);
    assert!(!s.default_allow);
    assert!(s.permits(Kind::Char, 1, 3, READ | MKNOD));
    assert!(!s.permits(Kind::Char, 1, 3, WRITE));
    assert!(s.permits(Kind::Block, 8, 17, READ));
    assert!(!s.permits(Kind::Block, 8, 17, READ | WRITE));
    assert!(!s.permits(Kind::Char, 1, 5, READ));
    // An allow-all cgroup with one deny: only that device's bits are refused.
    let s = State::of(&[rule(
        json!({"allow": false, "type": "c", "major": 10, "minor": 200, "access": "rw"}),
    )]);
    assert!(s.default_allow);
    assert!(!s.permits(Kind::Char, 10, 200, READ));
    assert!(s.permits(Kind::Char, 10, 200, MKNOD));
    assert!(s.permits(Kind::Char, 10, 201, READ | WRITE));
    // An `a` rule starts again.
    let s = State::of(&[deny_all(), rule(json!({"allow": true}))]);
    assert_eq!(s, State::of(&[]));
}

/// Runs the program on one access, for the instructions [`program`] emits.
fn run(p: &[Insn], kind: Kind, major: u32, minor: u32, access: u8) -> bool {
    let t = match kind {
        Kind::Block => 1,
        Kind::Char => 2,
        Kind::All => unreachable!(),
    };
    let ctx = [(u32::from(access) << 16) | t, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = p[pc];
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        let imm = i.imm as u32;
        pc += 1;
        let jump = |cond: bool, pc: &mut usize| {
            if cond {
                *pc = (*pc as isize + i.off as isize) as usize;
            }
        };
        match i.code {
            LDX_MEM_W => {
                assert_eq!(src, 1);
                r[dst] = u64::from(ctx[i.off as usize / 4]);
            }
            ALU32_AND_K => r[dst] = u64::from(r[dst] as u32 & imm),
            ALU32_RSH_K => r[dst] = u64::from((r[dst] as u32) >> imm),
            ALU32_MOV_K => r[dst] = u64::from(imm),
            ALU32_MOV_X => r[dst] = u64::from(r[src] as u32),
            JMP32_JNE_K => jump(r[dst] as u32 != imm, &mut pc),
            JMP32_JEQ_K => jump(r[dst] as u32 == imm, &mut pc),
            EXIT => return r[0] != 0,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

#[test]
fn the_program_answers_as_the_kernel_state_does() {
    let sets: Vec<Vec<Rule>> = vec![
        vec![],
        vec![deny_all()],
        [vec![deny_all()], DEFAULT_ALLOWED.to_vec()].concat(),
        vec![
            deny_all(),
            rule(json!({"allow": true, "type": "c", "major": 1, "access": "r"})),
            rule(json!({"allow": true, "type": "b", "minor": 0, "access": "mw"})),
            rule(json!({"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"})),
        ],
        vec![
            rule(json!({"allow": false, "type": "c", "major": 1, "minor": 3, "access": "w"})),
            rule(json!({"allow": false, "type": "b", "access": "rm"})),
        ],
    ];
    for rules in sets {
        let s = State::of(&rules);
        let p = program(&s);
        for kind in [Kind::Char, Kind::Block] {
            for major in [0, 1, 5, 8, 136] {
                for minor in [0, 1, 3, 7] {
                    for access in 1..=RWM {
                        assert_eq!(
                            run(&p, kind, major, minor, access),
                            s.permits(kind, major, minor, access),
                            "{rules:?} {kind:?} {major}:{minor} {access}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_kernel_verifier_accepts_the_program() {
    let rules = [vec![deny_all()], DEFAULT_ALLOWED.to_vec()].concat();
    match load(&program(&State::of(&rules))) {
        Ok(_) => {}
        Err(CgroupError::Bpf(m)) if m.contains("Operation not permitted") => {
            #[allow(clippy::print_stderr)] // a test's note on why it skipped
            {
                eprintln!("skipped: loading eBPF programs needs CAP_BPF and CAP_SYS_ADMIN");
            }
        }
        Err(e) => panic!("{e}"),
    }
}
