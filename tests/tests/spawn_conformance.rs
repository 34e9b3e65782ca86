//! berth-spawn against the OCI runtime spec where the upstream validation suite
//! (opencontainers/runtime-tools, `bench/oci-validation.sh`) found it lacking, each behaviour
//! driven here with a hand-written config.json so CI guards it without the suite: root
//! propagation, the exec fifo under a user namespace, create failing when the init cannot
//! wait, a container without a mount namespace, the hooks' state and failures, and the
//! config's security labels refused at create. Also `berth run --userns` with a network
//! namespace of berth-netns's and with mount points the image lacks.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_e2e::Run;
use berth_e2e::argv;
use berth_e2e::fixtures::{self, PATH_ENV};
use berth_e2e::session::Session;
use berth_e2e::until;
use berth_e2e::world::World;
use serde_json::{Value, json};

/// Every capability a test container may need (the suite's propagation test mounts).
const ADMIN: [&str; 4] = [
    "CAP_SYS_ADMIN",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_DAC_OVERRIDE",
];

/// A hand-written config.json: busybox running `args` as root, with the usual mounts and
/// pid, ipc, uts, mount and network namespaces.
fn config(args: &[&str], caps: &[&str]) -> Value {
    json!({
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "hostname": "conformance",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": [PATH_ENV],
            "cwd": "/",
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}
        },
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                {"type": "network"}
            ]
        }
    })
}

/// A bundle under the test's directory: busybox as its rootfs and `config` as config.json.
fn bundle(w: &World, name: &str, config: &Value) -> PathBuf {
    let b = w.env.dir().join(name);
    fixtures::populate_busybox(&b.join("rootfs"));
    std::fs::write(
        b.join("config.json"),
        serde_json::to_vec_pretty(config).unwrap(),
    )
    .unwrap();
    b
}

/// berth-spawn with a runtime root of the test's own.
struct Rt<'a> {
    w: &'a World,
    root: PathBuf,
}

impl<'a> Rt<'a> {
    fn new(w: &'a World) -> Rt<'a> {
        Rt {
            w,
            root: w.env.dir().join("rt"),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut argv = vec!["berth-spawn", "--root", self.root.to_str().unwrap()];
        argv.extend_from_slice(args);
        self.w.run(&argv)
    }

    /// `create`, whose container keeps create's stdout and stderr: both go to files (the
    /// container's output is read back from `out`). Returns the exit code and create's stderr.
    fn create(&self, bundle: &Path, id: &str, extra: &[&str]) -> (i32, String) {
        let out = self.out(id);
        let err = self.w.env.dir().join(format!("{id}.create-stderr"));
        let status = self
            .w
            .cmd("berth-spawn")
            .args(["--root", self.root.to_str().unwrap(), "create"])
            .args(["--bundle", bundle.to_str().unwrap()])
            .args(extra)
            .arg(id)
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .status()
            .unwrap();
        (
            status.code().unwrap_or(-1),
            std::fs::read_to_string(&err).unwrap(),
        )
    }

    /// Where the container made by [`Rt::create`] writes its stdout.
    fn out(&self, id: &str) -> PathBuf {
        self.w.env.dir().join(format!("{id}.out"))
    }

    fn status(&self, id: &str) -> String {
        let state = self.run(&["state", id]).success().json();
        state["status"].as_str().unwrap().to_string()
    }

    /// Polls `state` until the container stopped (hang protection only).
    #[track_caller]
    fn wait_stopped(&self, id: &str) {
        until(&format!("{id} to stop"), || {
            (self.status(id) == "stopped").then_some(())
        });
    }

    /// Nothing of the runtime's is left: no container, no state, no cgroup, no mount.
    #[track_caller]
    fn assert_clean(&self) {
        self.assert_clean_but(&[]);
    }

    /// [`Rt::assert_clean`], where the test's own mounts `kept` are not the runtime's.
    #[track_caller]
    fn assert_clean_but(&self, kept: &[String]) {
        assert_eq!(self.run(&["list", "-q"]).success().stdout, "");
        let left: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "runtime state left: {left:?}");
        assert!(self.w.container_cgroups().is_empty(), "cgroups left");
        assert!(
            self.w.cgroup_dirs().iter().all(|d| d
                .file_name()
                .is_none_or(|n| !n.to_string_lossy().starts_with("c-"))),
            "cgroups left: {:?}",
            self.w.cgroup_dirs()
        );
        let left: Vec<String> = host_mounts_under(self.w.env.dir())
            .into_iter()
            .filter(|m| !kept.contains(m))
            .collect();
        assert!(left.is_empty(), "host mounts left: {left:#?}");
    }
}

/// One line of mountinfo's optional fields for `/` as the container sees it.
const ROOT_PROPAGATION: &str = "awk '$5 == \"/\" { f = \"\"; for (i = 7; $i != \"-\"; i++) f = f \" \" $i; print \"root:\" f }' /proc/self/mountinfo";

#[test]
fn rootfs_propagation_applies_to_the_new_root() {
    let w = World::new();
    let rt = Rt::new(&w);
    // The suite's check (runtimetest validateRootfsPropagation): a recursive bind of / on
    // /target, then a bind on /mount; whether it shows at /target/mount says whether / is
    // shared. An unbindable / cannot be bound at all.
    let probe = format!(
        "{ROOT_PROPAGATION}; mkdir -p /target /mount /test && touch /test/file && \
         if mount --rbind / /target 2>/dev/null; then \
           mount --bind /test /mount && \
           if [ -e /target/mount/file ]; then echo exposed; else echo hidden; fi; \
         else echo unbindable; fi"
    );
    for (value, expect_root, expect) in [
        ("shared", "shared:", "exposed"),
        ("rshared", "shared:", "exposed"),
        ("slave", "", "hidden"),
        ("rslave", "", "hidden"),
        ("private", "", "hidden"),
        ("rprivate", "", "hidden"),
        ("unbindable", "unbindable", "unbindable"),
        ("runbindable", "unbindable", "unbindable"),
    ] {
        let mut c = config(&["sh", "-c", &probe], &ADMIN);
        c["linux"]["rootfsPropagation"] = json!(value);
        let b = bundle(&w, &format!("prop-{value}"), &c);
        let r = rt.run(&argv!(
            "run --bundle {} {}",
            b.to_str().unwrap(),
            &format!("c-{value}")
        ));
        let r = r.success();
        let lines: Vec<&str> = r.stdout.lines().collect();
        assert_eq!(lines.len(), 2, "{value}: {}", r.stdout);
        let root = lines[0].strip_prefix("root:").unwrap();
        if expect_root.is_empty() {
            // This host's own mounts are private: a slave of them has no master to show.
            assert!(
                !root.contains("shared:") && !root.contains("unbindable"),
                "{value}: / is{root}"
            );
        } else {
            assert!(root.contains(expect_root), "{value}: / is{root}");
        }
        assert_eq!(lines[1], expect, "{value}");
    }
    // Nothing the containers bound reached the host.
    rt.assert_clean();
    let mut c = config(&["true"], &[]);
    c["linux"]["rootfsPropagation"] = json!("sharde");
    let b = bundle(&w, "prop-bad", &c);
    let r = rt
        .run(&["run", "--bundle", b.to_str().unwrap(), "c-bad"])
        .fails_with(7);
    assert!(
        r.error_line()
            .contains("linux.rootfsPropagation \"sharde\" is not a mount propagation"),
        "{}",
        r.stderr
    );
    rt.assert_clean();
}

/// A user namespace mapping the container's root to host uid/gid 100000.
fn mapped(c: &mut Value) {
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
}

#[test]
fn a_mapped_root_waits_on_its_exec_fifo_and_starts() {
    let w = World::new();
    let rt = Rt::new(&w);
    // A restrictive umask, as a caller may have: the fifo's mode must not depend on it.
    let mut c = config(&["sh", "-c", "id -u; cat /proc/self/uid_map"], &[]);
    mapped(&mut c);
    let b = bundle(&w, "mapped", &c);
    let (code, err) = {
        let _umask = Umask::set(0o077);
        rt.create(&b, "c-mapped", &[])
    };
    assert_eq!(code, 0, "{err}");
    assert_eq!(rt.status("c-mapped"), "created");
    let fifo = rt.root.join("c-mapped/exec.fifo");
    let m = std::fs::metadata(&fifo).unwrap();
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid()),
        (0o622, 100_000, 100_000),
        "{}",
        fifo.display()
    );
    rt.run(&["start", "c-mapped"]).success();
    rt.wait_stopped("c-mapped");
    let out = std::fs::read_to_string(rt.out("c-mapped")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    rt.run(&["delete", "c-mapped"]).success();
    rt.assert_clean();
}

/// Sets the process umask for a scope.
struct Umask(libc::mode_t);

impl Umask {
    fn set(m: libc::mode_t) -> Umask {
        // SAFETY: umask has no failure mode.
        Umask(unsafe { libc::umask(m) })
    }
}

impl Drop for Umask {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::umask(self.0) };
    }
}

#[test]
fn create_fails_when_the_init_could_not_wait_for_start() {
    let w = World::new();
    let rt = Rt::new(&w);
    // No procfs on /proc: the init cannot reopen its exec fifo there, which it would only
    // find out after create returned. create must fail instead, and leave nothing.
    let mut c = config(&["true"], &[]);
    assert_eq!(c["mounts"][0]["type"], "proc");
    c["mounts"].as_array_mut().unwrap().remove(0);
    let b = bundle(&w, "noproc", &c);
    let (code, err) = rt.create(&b, "c-noproc", &[]);
    assert_ne!(code, 0, "create said the container waits: {err}");
    assert!(err.contains("opening the exec fifo: /proc"), "{err}");
    rt.run(&["state", "c-noproc"]).fails_with(3);
    // Something else on /proc: refused before that (runc's proc-safety rule).
    let mut c = config(&["true"], &[]);
    c["mounts"][0] = json!({"destination": "/proc", "type": "tmpfs", "source": "tmpfs"});
    let b = bundle(&w, "tmpproc", &c);
    let (code, err) = rt.create(&b, "c-tmpproc", &[]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("because it is not of type proc"), "{err}");
    rt.run(&["state", "c-tmpproc"]).fails_with(3);
    rt.assert_clean();
}

#[test]
fn pid_files_hold_the_pid_state_reports() {
    let w = World::new();
    let rt = Rt::new(&w);
    let b = bundle(&w, "pidfile", &config(&["sleep", "1000"], &[]));
    // Relative to berth-spawn's working directory, as with runc; written by create itself,
    // so a caller reads it as soon as create returns.
    let status = w
        .cmd("berth-spawn")
        .current_dir(w.env.dir())
        .args(["--root", rt.root.to_str().unwrap(), "create"])
        .args([
            "--bundle",
            b.to_str().unwrap(),
            "--pid-file",
            "c.pid",
            "c-pid",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let written = std::fs::read_to_string(w.env.dir().join("c.pid")).unwrap();
    let state = rt.run(&["state", "c-pid"]).success().json();
    assert_eq!(
        written,
        state["pid"].to_string(),
        "no newline, the init's pid"
    );
    assert_eq!(state["status"], "created");
    rt.run(&["start", "c-pid"]).success();
    // exec's is the exec'd process's, in the host's pid namespace.
    let exec_pid = w.env.dir().join("exec.pid");
    // Detached, it keeps exec's stdio: give it none to hold.
    let status = w
        .cmd("berth-spawn")
        .args(["--root", rt.root.to_str().unwrap(), "exec", "--detach"])
        .args([
            "--pid-file",
            exec_pid.to_str().unwrap(),
            "c-pid",
            "sleep",
            "999",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let pid = std::fs::read_to_string(&exec_pid).unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert_eq!(cmdline, b"sleep\0999\0");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let nspid = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    assert_eq!(
        nspid.split_whitespace().nth(1),
        Some(pid.as_str()),
        "{nspid}"
    );
    rt.run(&["delete", "--force", "c-pid"]).success();
    rt.assert_clean();
}

/// The lines of the host's mountinfo that name `dir`.
fn host_mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(d))
        .map(String::from)
        .collect()
}

#[test]
fn without_a_mount_namespace_the_host_mount_table_is_left_alone() {
    let w = World::new();
    let rt = Rt::new(&w);
    // The bundle lives on a shared mount, as on a systemd host: a mount made in a copy of it
    // that is still its peer would show up here.
    let shared = w.env.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    fixtures::must(
        std::process::Command::new("mount")
            .args(["-t", "tmpfs", "tmpfs"])
            .arg(&shared),
    );
    fixtures::must(
        std::process::Command::new("mount")
            .arg("--make-shared")
            .arg(&shared),
    );
    let before = host_mounts_under(w.env.dir());
    let mut c = config(&["sleep", "1000"], &[]);
    c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}]);
    c["linux"]["maskedPaths"] = json!(["/proc/keys"]);
    c["linux"]["readonlyPaths"] = json!(["/proc/sys"]);
    c["linux"]["sysctl"] = json!({"kernel.shmmax": "65536"});
    let b = bundle(&w, "shared/nomnt", &c);
    let (code, err) = rt.create(&b, "c-nomnt", &[]);
    assert_eq!(code, 0, "{err}");
    let pid = rt.run(&["state", "c-nomnt"]).success().json()["pid"]
        .as_i64()
        .unwrap();
    // The runtime's mount namespace, the bundle's rootfs as its root, and no mount of ours in
    // the host's table, before and after start.
    let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/mnt")).unwrap();
    assert_eq!(ns(&pid.to_string()), ns("self"));
    // Its root is a detached copy of the rootfs's tree (readlink says "/"): the same inode.
    let id = |p: &Path| {
        let m = std::fs::metadata(p).unwrap();
        (m.dev(), m.ino())
    };
    assert_eq!(
        id(Path::new(&format!("/proc/{pid}/root"))),
        id(&b.join("rootfs"))
    );
    assert_eq!(host_mounts_under(w.env.dir()), before);
    rt.run(&["start", "c-nomnt"]).success();
    assert_eq!(rt.status("c-nomnt"), "running");
    // Inside (exec chroots into the container's root too): its own /proc, masked and
    // read-only paths, the sysctl in its own IPC namespace, busybox's root.
    let r = rt
        .run(&argv!(
            "exec c-nomnt sh -c {}",
            "cat /proc/sys/kernel/shmmax; wc -c < /proc/keys; \
             echo 1 > /proc/sys/kernel/shmmax 2>/dev/null || echo read-only; ls /"
        ))
        .success();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(&lines[..3], ["65536", "0", "read-only"], "{}", r.stdout);
    assert!(
        lines.contains(&"bin") && !lines.contains(&"work") && !lines.contains(&"boot"),
        "{}",
        r.stdout
    );
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/shmmax")
            .unwrap()
            .trim(),
        "65536"
    );
    assert_eq!(host_mounts_under(w.env.dir()), before);
    rt.run(&["delete", "--force", "c-nomnt"]).success();
    rt.assert_clean_but(&before);
    // What cannot be had without a mount namespace is refused at create, named.
    let mut c2 = c.clone();
    c2["linux"]["rootfsPropagation"] = json!("shared");
    let b = bundle(&w, "nomnt-prop", &c2);
    let (code, err) = rt.create(&b, "c-nomnt-prop", &[]);
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains("linux.rootfsPropagation needs a mount namespace of the container's own"),
        "{err}"
    );
    mapped(&mut c);
    let b = bundle(&w, "nomnt-userns", &c);
    let (code, err) = rt.create(&b, "c-nomnt-userns", &[]);
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains("mounts, linux.maskedPaths, linux.readonlyPaths need a mount namespace"),
        "{err}"
    );
    // Nothing to mount: a user namespace's root simply gets root.path as its root.
    for k in ["maskedPaths", "readonlyPaths", "sysctl"] {
        c["linux"].as_object_mut().unwrap().remove(k);
    }
    c.as_object_mut().unwrap().remove("mounts");
    c["process"]["args"] = json!(["sh", "-c", "id -u; ls /"]);
    let b = bundle(&w, "nomnt-plain", &c);
    let r = rt
        .run(&["run", "--bundle", b.to_str().unwrap(), "c-nomnt-plain"])
        .success();
    assert!(
        r.stdout.starts_with("0\n") && r.stdout.contains("\nbin\n"),
        "{}",
        r.stdout
    );
    rt.assert_clean_but(&before);
}

/// A hook that copies its stdin to `dir/name`.
fn hook(dir: &Path, name: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("cat > {}/{name}", dir.display())],
        "env": [PATH_ENV]
    })
}

#[test]
fn every_hook_runs_with_the_state_of_its_moment() {
    let w = World::new();
    let rt = Rt::new(&w);
    let dir = w.env.dir().join("hooks");
    std::fs::create_dir(&dir).unwrap();
    let mut c = config(&["true"], &[]);
    let create_container = format!(
        "cat > {0}/createContainer; readlink /proc/self/ns/uts > {0}/createContainer.uts",
        dir.display()
    );
    c["hooks"] = json!({
        "prestart": [hook(&dir, "prestart")],
        "createRuntime": [hook(&dir, "createRuntime")],
        "createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", create_container]}],
        // Resolved and run inside the container: its own /bin/sh, its own root.
        "startContainer": [{
            "path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer"], "env": [PATH_ENV]
        }],
        "poststart": [hook(&dir, "poststart")],
        "poststop": [hook(&dir, "poststop")]
    });
    let b = bundle(&w, "hooks", &c);
    let (code, err) = rt.create(&b, "c-hooks", &[]);
    assert_eq!(code, 0, "{err}");
    let state = rt.run(&["state", "c-hooks"]).success().json();
    let pid = state["pid"].as_i64().unwrap();
    let uts = std::fs::read_to_string(dir.join("createContainer.uts")).unwrap();
    assert_eq!(
        uts.trim(),
        std::fs::read_link(format!("/proc/{pid}/ns/uts"))
            .unwrap()
            .to_str()
            .unwrap(),
        "createContainer runs in the container's namespaces"
    );
    assert!(
        !b.join("rootfs/startContainer").exists(),
        "startContainer ran at create"
    );
    rt.run(&["start", "c-hooks"]).success();
    rt.wait_stopped("c-hooks");
    rt.run(&["delete", "c-hooks"]).success();
    let read =
        |p: PathBuf| -> Value { serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap() };
    for (name, status) in [
        ("prestart", "created"),
        ("createRuntime", "created"),
        ("createContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ] {
        let doc = read(dir.join(name));
        assert_eq!(
            (doc["id"].as_str(), doc["status"].as_str()),
            (Some("c-hooks"), Some(status)),
            "{name}"
        );
        if name != "poststop" {
            assert_eq!(doc["pid"].as_i64(), Some(pid), "{name}");
        }
    }
    let doc = read(b.join("rootfs/startContainer"));
    assert_eq!(doc["status"], "created", "startContainer");
    rt.assert_clean();
}

#[test]
fn poststart_and_poststop_failures_warn_and_the_other_hooks_run() {
    let w = World::new();
    let rt = Rt::new(&w);
    let dir = w.env.dir().join("hooks");
    std::fs::create_dir(&dir).unwrap();
    let fail = json!({"path": "/bin/false", "args": ["false"]});
    let mut c = config(&["true"], &[]);
    c["hooks"] = json!({
        "poststart": [fail, hook(&dir, "poststart")],
        "poststop": [fail, hook(&dir, "poststop")]
    });
    let b = bundle(&w, "warn", &c);
    let (code, err) = rt.create(&b, "c-warn", &[]);
    assert_eq!(code, 0, "{err}");
    let r = rt.run(&["start", "c-warn"]).success();
    assert!(
        r.stderr.contains("poststart hook /bin/false failed"),
        "{}",
        r.stderr
    );
    rt.wait_stopped("c-warn");
    let r = rt.run(&["delete", "c-warn"]).success();
    assert!(
        r.stderr.contains("poststop hook /bin/false failed"),
        "{}",
        r.stderr
    );
    for name in ["poststart", "poststop"] {
        let doc: Value = serde_json::from_slice(&std::fs::read(dir.join(name)).unwrap()).unwrap();
        assert_eq!(doc["id"], "c-warn", "{name}");
    }
    rt.assert_clean();
    // A failed prestart, createRuntime, createContainer or startContainer hook is fatal,
    // and the hooks after it do not run.
    for (kind, at_create) in [
        ("prestart", true),
        ("createRuntime", true),
        ("createContainer", true),
        ("startContainer", false),
    ] {
        let id = format!("c-{kind}");
        let after = dir.join(format!("{kind}.after"));
        let mut c = config(&["true"], &[]);
        c["hooks"] = json!({kind: [fail, {"path": "/bin/sh", "args": ["sh", "-c", format!("touch {}", after.display())]}]});
        let b = bundle(&w, &format!("fatal-{kind}"), &c);
        let (code, err) = rt.create(&b, &id, &[]);
        if at_create {
            assert_ne!(code, 0, "{kind}: {err}");
            assert!(
                err.contains(&format!("{kind} hook /bin/false failed")),
                "{err}"
            );
        } else {
            assert_eq!(code, 0, "{kind}: {err}");
            let r = rt.run(&["start", &id]);
            assert_ne!(r.code(), 0, "{kind}: {}", r.stderr);
            assert!(
                r.stderr.contains("failed before its process could run"),
                "{}",
                r.stderr
            );
            rt.wait_stopped(&id);
            rt.run(&["delete", &id]).success();
            let said =
                std::fs::read_to_string(w.env.dir().join(format!("{id}.create-stderr"))).unwrap();
            assert!(
                said.contains("startContainer hook /bin/false failed"),
                "{said}"
            );
        }
        assert!(!after.exists(), "{kind}: a hook after the failed one ran");
        rt.assert_clean();
    }
}

#[test]
fn security_labels_this_host_lacks_are_refused_before_the_container_is_made() {
    let w = World::new();
    let rt = Rt::new(&w);
    // A mount the init would fail on: the label must be refused first, with the host's view,
    // before any clone (so it is the error, not the mount's).
    let mut c = config(&["true"], &[]);
    c["process"]["apparmorProfile"] = json!("berth-test-missing");
    c["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/x", "type": "nosuchfs", "source": "none"}));
    let b = bundle(&w, "lsm", &c);
    let (code, err) = rt.create(&b, "c-lsm", &[]);
    let host = berth::runtime::lsm::Host::detect();
    if host.apparmor {
        // This host runs AppArmor: the profile is simply not loaded.
        assert_eq!(code, 107, "{err}");
        assert!(
            err.contains("no AppArmor profile of that name is loaded"),
            "{err}"
        );
    } else {
        assert_eq!(code, 107, "{err}");
        assert!(
            err.contains("process.apparmorProfile \"berth-test-missing\": AppArmor is not enabled"),
            "{err}"
        );
    }
    assert!(!err.contains("nosuchfs"), "{err}");
    rt.assert_clean();
    if !host.selinux {
        // A mount label means nothing where no SELinux policy reads it: runc, crun and Docker
        // skip it there, and so does berth-spawn, with a warning naming the field; the
        // tmpfs still mounts (no context= option the kernel would refuse).
        let mut c = config(&["true"], &[]);
        c["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0");
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": "/t", "type": "tmpfs", "source": "tmpfs"}));
        let b = bundle(&w, "lsm-mount", &c);
        let (code, err) = rt.create(&b, "c-lsm-mount", &[]);
        assert_eq!(code, 0, "{err}");
        assert!(
            err.contains("linux.mountLabel") && err.contains("is not applied"),
            "{err}"
        );
        rt.run(&["delete", "--force", "c-lsm-mount"]).success();
        rt.assert_clean();
    }
}

/// `berth run --userns` with `args`; returns stdout.
fn userns_run(b: &Session, flags: &[&str], args: &[&str]) -> String {
    let mut argv = vec!["run", "--rm", "--userns", "100000:65536"];
    argv.extend_from_slice(flags);
    argv.push("busybox");
    argv.extend_from_slice(args);
    b.ok(&argv)
}

#[test]
fn userns_containers_get_dockers_network_sysctls() {
    let b = Session::new();
    let port_start = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let host_port_start = std::fs::read_to_string(port_start).unwrap();
    // Written by berth-netns into the namespace it made, as the host's root: the mapped root
    // could not (the namespace belongs to the host's user namespace).
    for network in ["bridge", "none"] {
        // A user of the container may bind port 80.
        let out = userns_run(
            &b,
            &["--network", network, "--user", "1000"],
            &[
                "sh",
                "-c",
                &format!("httpd -p 80 -h / && echo bound; cat {port_start}"),
            ],
        );
        assert_eq!(out, "bound\n0\n", "--network {network}");
        // Any group may ping. Inside, the range reads as nobody's (the host's ids are not
        // mapped there): look from the host's side of the namespace.
        let id = b.detach(&argv!(
            "--userns 100000:65536 --network {} busybox sleep 1000",
            network
        ));
        let ns = b.w.paths().netns(&id);
        let out = fixtures::must(
            std::process::Command::new("nsenter")
                .arg(format!("--net={}", ns.display()))
                .args(["cat", "/proc/sys/net/ipv4/ping_group_range"]),
        );
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            ["0", "2147483647"],
            "--network {network}"
        );
        b.ok(&["rm", "-f", &id]);
        b.assert_clean(&[&id]);
    }
    assert_eq!(
        std::fs::read_to_string(port_start).unwrap(),
        host_port_start
    );
}

#[test]
fn userns_mount_points_missing_from_the_image_are_made() {
    let b = Session::new();
    std::fs::set_permissions(b.w.env.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    b.ok(&["volume", "create", "data"]);
    // busybox has no /etc/hostname, /etc/hosts, /etc/resolv.conf nor /newdir: the image's
    // files are the host root's, nobody's in here, so the mapped root could not make them.
    let out = userns_run(
        &b,
        &["-v", "data:/newdir/sub"],
        &[
            "sh",
            "-c",
            "cat /etc/hostname; grep -c localhost /etc/hosts; grep -c ' /newdir/sub ' /proc/self/mountinfo; id -u",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0].len(), 12, "hostname: {out}");
    assert_ne!(lines[1], "0", "{out}");
    assert_eq!(&lines[2..], ["1", "0"], "{out}");
    b.ok(&["volume", "rm", "data"]);
    b.assert_clean(&[]);
}
