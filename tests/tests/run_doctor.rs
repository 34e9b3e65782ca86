//! `berth doctor`: a table of what the machine offers on a terminal, JSON when piped, exit 0
//! here; with a tool missing, the row says so with its fix, and the exit is 107.

use berth_e2e::TestEnv;

#[test]
fn doctor_reports_this_machine_and_the_fix_for_what_is_missing() {
    let env = TestEnv::new();
    let r = env.run(&["berth", "doctor", "--json"]).success();
    let rows = r.json();
    let rows = rows.as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for want in [
        "kernel",
        "cgroups",
        "overlay",
        "seccomp",
        "namespaces",
        "user namespaces",
        "iptables",
        "busybox",
    ] {
        assert!(names.contains(&want), "no {want} check: {names:?}");
    }
    for c in rows {
        assert_ne!(c["level"], "missing", "{c}");
    }
    // This machine is hybrid (DESIGN.md): the cgroups row says which layout it found.
    let cg = rows.iter().find(|c| c["name"] == "cgroups").unwrap();
    let layout = ["v1", "v2", "hybrid"]
        .iter()
        .any(|l| cg["detail"].as_str().unwrap().starts_with(l));
    assert!(layout, "{cg}");

    // Without iptables on PATH: missing, with the fix, exit 107.
    let mut c = env.cmd("berth");
    let only = env.dir().join("bin");
    std::fs::create_dir_all(&only).unwrap();
    for t in ["berth", "berth-ctl"] {
        let src = berth_e2e::tool_path()
            .split(':')
            .map(|d| std::path::Path::new(d).join(t))
            .find(|p| p.is_file())
            .unwrap();
        std::os::unix::fs::symlink(&src, only.join(t)).unwrap();
    }
    c.arg("doctor").arg("--json").env("PATH", &only);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(107), "{out:?}");
    let ipt = iptables_row(&out.stdout);
    assert_eq!(ipt["level"], "missing", "{ipt}");
    assert!(
        ipt["fix"]
            .as_str()
            .unwrap()
            .contains("apt-get install iptables"),
        "{ipt}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("lacks what berth needs"), "{stderr}");
}

/// The iptables row names the backend berth's rules go to, as the `iptables-restore` on PATH
/// reports it (`iptables-restore v1.8.9 (nf_tables)`): the host's alternative, and each of
/// Debian's two when it is the one on PATH.
#[test]
fn doctor_names_the_iptables_backend_in_use() {
    let env = TestEnv::new();
    let row = |path: &str| -> String {
        let mut c = env.cmd("berth");
        c.args(["doctor", "--json"]).env("PATH", path);
        let out = c.output().unwrap();
        let ipt = iptables_row(&out.stdout);
        assert_eq!(ipt["level"], "ok", "{ipt}");
        ipt["detail"].as_str().unwrap().to_string()
    };
    let version = std::process::Command::new("iptables-restore")
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let host = if version.contains("(nf_tables)") {
        "the nf_tables backend"
    } else {
        "the legacy backend"
    };
    let detail = row(&berth_e2e::tool_path());
    assert_eq!(detail, format!("{version}: {host}"));
    // Each backend, as the one on PATH (Debian's multi-call binaries dispatch on the name).
    for (multi, backend) in [
        ("xtables-legacy-multi", "the legacy backend"),
        ("xtables-nft-multi", "the nf_tables backend"),
    ] {
        let bin = env.dir().join(multi);
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(
            std::path::Path::new("/usr/sbin").join(multi),
            bin.join("iptables-restore"),
        )
        .unwrap();
        let path = format!("{}:{}", bin.display(), berth_e2e::tool_path());
        let detail = row(&path);
        assert!(detail.ends_with(&format!(": {backend}")), "{detail}");
    }
}

/// The `iptables` row of `doctor --json`'s output.
fn iptables_row(stdout: &[u8]) -> serde_json::Value {
    let rows: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "iptables")
        .unwrap()
        .clone()
}
