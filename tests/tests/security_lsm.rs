//! Confinement a user asks for with `--security-opt`, or an engine asks for in config.json:
//! Docker 25's seccomp profile (no io_uring, no AF_ALG) for `run` and `exec`, and not with
//! `seccomp=unconfined`; AppArmor profiles and SELinux labels refused, with the flag or the
//! field named, on this host, which has neither module (`unconfined` and `label=disable` run);
//! Docker's own `--security-opt` forms and errors; and `berth doctor`'s row for the modules.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_e2e::argv;
use berth_e2e::fixtures;
use berth_e2e::session::Session;
use berth_e2e::world::World;

/// tests/src/syscall_probe.c, built static (busybox cannot make these calls).
fn probe(dir: &Path) -> PathBuf {
    let out = dir.join("syscall_probe");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/syscall_probe.c");
    fixtures::must(
        Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src),
    );
    out
}

/// What io_uring_setup gives a container without seccomp on this kernel: the
/// kernel.io_uring_disabled sysctl (6.6+) refuses it to a container's root at 1 and 2, and a
/// kernel without io_uring has no such call.
fn unconfined_io_uring_setup() -> &'static str {
    match std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .map(|s| s.trim().to_string())
        .as_deref()
    {
        Ok("0") => "ok",
        Ok(_) => "EPERM",
        Err(_) => {
            let syms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
            if syms.lines().any(|l| l.ends_with(" io_uring_setup")) {
                "ok"
            } else {
                "ENOSYS"
            }
        }
    }
}

fn probes(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn io_uring_and_af_alg_are_refused_by_default_and_allowed_unconfined() {
    let b = Session::new();
    let exe = probe(b.w.env.dir());
    let vol = format!("{}:/probe:ro", exe.display());
    let eperm: Vec<(String, String)> = [
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "socket_alg",
    ]
    .iter()
    .map(|p| (p.to_string(), "EPERM".to_string()))
    .collect();
    let out = b.ok(&["run", "--rm", "-v", &vol, "busybox", "/probe"]);
    assert_eq!(probes(&out), eperm, "{out}");
    // exec joins the same filter.
    let id = b.detach(&["-v", &vol, "busybox", "sleep", "1000"]);
    let out = b.ok(&["exec", &id[..12], "/probe"]);
    assert_eq!(probes(&out), eperm, "{out}");
    b.ok(&["rm", "-f", &id[..12]]);
    // Unconfined: the kernel answers.
    let out = b.ok(&argv!(
        "run --rm --security-opt seccomp=unconfined -v {} busybox /probe",
        &vol
    ));
    let p = probes(&out);
    assert_eq!(p.len(), 4, "{out}");
    assert_eq!(p[0].1, unconfined_io_uring_setup(), "{out}");
    let no_uring = unconfined_io_uring_setup() == "ENOSYS";
    assert_eq!(p[1].1, if no_uring { "ENOSYS" } else { "EBADF" }, "{out}");
    assert!(
        matches!(p[2].1.as_str(), "EBADF" | "EINVAL" | "ENOSYS"),
        "{out}"
    );
    assert!(matches!(p[3].1.as_str(), "ok" | "EAFNOSUPPORT"), "{out}");
    b.assert_clean(&[&id]);
}

#[test]
fn apparmor_and_selinux_requests_are_refused_without_the_modules() {
    let b = Session::new();
    for (opt, want) in [
        (
            "apparmor=docker-default",
            "berth-spawn: error: --security-opt apparmor=docker-default: AppArmor is not enabled on this host (drop the option, or use apparmor=unconfined)",
        ),
        (
            "label=type:foo_t",
            "berth-spawn: error: --security-opt label=type:foo_t: SELinux is not enabled on this host (drop the option, or use label=disable)",
        ),
    ] {
        let r = b
            .berth(&["run", "--rm", "--security-opt", opt, "busybox", "true"])
            .fails_with(125);
        assert_eq!(r.error_line(), want, "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    }
    // Docker's forms and Docker's errors.
    for (opt, want) in [
        ("bogus", "invalid --security-opt: \"bogus\""),
        ("label=", "invalid --security-opt: \"label=\""),
        ("foo=bar", "invalid --security-opt 2: \"foo=bar\""),
        (
            "systempaths=all",
            "invalid --security-opt 2: \"systempaths=all\"",
        ),
        (
            "no-new-privileges=maybe",
            "invalid --security-opt 2: \"no-new-privileges=maybe\"",
        ),
        ("label=nested", "bad label option \"nested\", valid options"),
    ] {
        let r = b
            .berth(&["run", "--rm", "--security-opt", opt, "busybox", "true"])
            .fails_with(125);
        assert!(
            r.error_line()
                .starts_with(&format!("berth-spawn: error: {want}")),
            "{opt}: {}",
            r.stderr
        );
    }
    b.assert_clean(&[]);
}

#[test]
fn unconfined_label_disable_system_paths_and_cgroups_run() {
    let b = Session::new();
    let out = b.ok(&argv!(
        "run --rm --security-opt apparmor=unconfined --security-opt label=disable --security-opt \
         no-new-privileges busybox sh -c \
         'grep NoNewPrivs /proc/self/status; cat /proc/self/attr/current 2>/dev/null; echo ran'"
    ));
    assert_eq!(out, "NoNewPrivs:\t1\nran\n");
    // Docker's masked and read-only /proc paths (those this kernel has), and without them.
    let paths: Vec<&str> = ["/proc/keys", "/proc/timer_list", "/proc/sys"]
        .into_iter()
        .filter(|p| Path::new(p).exists())
        .collect();
    let listed = format!(
        "grep -cE ' ({}) ' /proc/self/mountinfo || true",
        paths.join("|")
    );
    let masked = b.ok(&["run", "--rm", "busybox", "sh", "-c", &listed]);
    assert_eq!(masked, format!("{}\n", paths.len()));
    let open = b.ok(&argv!(
        "run --rm --security-opt systempaths=unconfined busybox sh -c {}",
        &listed
    ));
    assert_eq!(open, "0\n");
    // The container's cgroup: read-only, unless writable-cgroups=true (dockerd's option).
    // A child group is made and removed again (v2: the root of the namespace; v1: pids).
    let modes = "d=/sys/fs/cgroup; [ -e $d/cgroup.controllers ] || d=$d/pids; \
        if mkdir $d/berth-probe 2>/dev/null; then rmdir $d/berth-probe; echo rw; else echo ro; fi";
    assert_eq!(b.ok(&["run", "--rm", "busybox", "sh", "-c", modes]), "ro\n");
    let rw = b.ok(&argv!(
        "run --rm --security-opt writable-cgroups=true busybox sh -c {}",
        modes
    ));
    assert_eq!(rw, "rw\n");
    b.assert_clean(&[]);
}

fn edit_config(bundle: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let p = bundle.join("config.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// A bundle from `umoci unpack` of the busybox fixture, running `args`.
fn bundle(w: &World, args: &[&str]) -> PathBuf {
    let b = w.env.dir().join("bundle");
    fixtures::must(
        Command::new("umoci")
            .args([
                "unpack",
                "--image",
                &format!("{}:busybox", fixtures::layout().display()),
            ])
            .arg(&b),
    );
    edit_config(&b, |c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(args);
    });
    b
}

#[test]
fn config_labels_are_refused_at_create_naming_the_field() {
    let w = World::new();
    let b = bundle(&w, &["echo", "ran"]);
    let root = w.env.dir().join("rt");
    let rt = |args: &[&str]| {
        let mut v = vec!["berth-spawn", "--root", root.to_str().unwrap()];
        v.extend_from_slice(args);
        w.run(&v)
    };
    let bundle = b.to_str().unwrap();
    for (section, field, value, want) in [
        (
            "process",
            "apparmorProfile",
            "docker-default",
            "berth-spawn: error: process.apparmorProfile \"docker-default\": AppArmor is not enabled on this host (remove process.apparmorProfile from config.json)",
        ),
        (
            "process",
            "selinuxLabel",
            "system_u:system_r:container_t:s0:c1,c2",
            "berth-spawn: error: process.selinuxLabel \"system_u:system_r:container_t:s0:c1,c2\": SELinux is not enabled on this host (remove process.selinuxLabel from config.json)",
        ),
    ] {
        edit_config(&b, |c| c[section][field] = value.into());
        let r = rt(&["create", "--bundle", bundle, "c1"]).fails_with(107);
        assert_eq!(r.error_line(), want, "{}", r.stderr);
        // Nothing of the refused container is left.
        rt(&["state", "c1"]).fails_with(3);
        assert!(w.container_cgroups().is_empty());
        edit_config(&b, |c| {
            c[section].as_object_mut().unwrap().remove(field);
        });
    }
    // "unconfined" asks for nothing a host without AppArmor lacks.
    edit_config(&b, |c| {
        c["process"]["apparmorProfile"] = "unconfined".into()
    });
    let r = rt(&["run", "--bundle", bundle, "c2"]).success();
    assert_eq!(r.stdout, "ran\n");
    assert!(rt(&["list", "-q"]).success().stdout.is_empty());
}

#[test]
fn doctor_says_which_security_module_is_active() {
    let b = Session::empty();
    let rows = b.berth(&["doctor", "--json"]).success().json();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "security modules")
        .cloned()
        .unwrap_or_else(|| panic!("no security modules row: {rows}"));
    assert_eq!(row["level"], "ok", "{row}");
    // This kernel has neither module (the preamble); the kernel's own list is shown.
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("no AppArmor or SELinux") && detail.contains("refused"),
        "{row}"
    );
}
