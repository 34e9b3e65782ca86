//! State is private (issue 12, the CVE-2021-41091 class): an unprivileged user of the host
//! (uid 65534, no groups) attacks a running container's state, as the review did, and gets
//! nowhere, while root still uses the container, its log and its volumes, and `--userns`
//! still runs. Once on what berth creates, once on a store an older berth left open.
//!
//! The test's temporary directory is opened to others first (tempfile makes it 0700): only
//! berth's own modes stand between the user and the store, so a wrong mode fails the test.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_e2e::argv;
use berth_e2e::crafted::{Layer, Meta, busybox_tar, put_image, tar};
use berth_e2e::fixtures::PATH_ENV;
use berth_e2e::session::Session;
use berth_e2e::until;

/// What the container does to its rootfs and its volume before it waits: copies busybox
/// setuid root, makes world-writable device nodes (1:3, /dev/null's numbers, so nothing is
/// harmed should the test ever get through).
const PLANT: &str = "echo \"DB_PASSWORD=$DB_PASSWORD\"; \
    cp /bin/busybox /suid && chmod 4755 /suid && \
    cp /bin/busybox /data/suid && chmod 4755 /data/suid && \
    mknod -m 666 /cnode c 1 3 && mknod -m 666 /data/vnode c 1 3 && \
    echo kept > /data/x && echo PLANTED; exec sleep 1000";

/// An image that carries a device node, in its rootfs and where a volume is seeded from.
fn device_image(b: &Session) {
    let node = |t: &mut berth_e2e::crafted::TarBuilder, name: &str| {
        let meta = Meta {
            mode: 0o666,
            ..Meta::default()
        };
        t.raw_with(
            tar::EntryType::Char,
            name.as_bytes(),
            None,
            &meta,
            &[],
            b"",
            |h| {
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
            },
        );
    };
    let nodes = tar(|t| {
        t.dir("seed", 0o755);
        node(t, "devnode");
        node(t, "seed/devnode");
    });
    put_image(
        &b.w.env,
        "devimg:latest",
        &[Layer::gz(&busybox_tar()), Layer::gz(&nodes)],
        serde_json::json!({"Env": [PATH_ENV]}),
    );
}

/// Runs `argv` as uid and gid 65534 without supplementary groups (util-linux's setpriv),
/// through a shell: setpriv keeps root's capabilities up to its own execve, so a target it
/// executed itself would be reached with CAP_DAC_OVERRIDE.
fn as_nobody(argv: &[&str]) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            "--",
        ])
        .args(["/bin/sh", "-c", "exec \"$@\"", "sh"])
        .args(argv)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv")
}

/// The attempt fails, and for lack of permission (not because the target is missing).
#[track_caller]
fn denied(what: &str, argv: &[&str]) {
    let out = as_nobody(argv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Permission denied"),
        "an unprivileged user could {what}: {argv:?} exited {:?}\nstdout: {}\nstderr: {err}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// The container's things, as root sees them.
struct Target {
    root: PathBuf,
    run: PathBuf,
    bundle: PathBuf,
    rootfs: PathBuf,
    log: PathBuf,
    data: PathBuf,
    seeded: PathBuf,
    layer_node: PathBuf,
}

impl Target {
    fn new(b: &Session, id: &str) -> Target {
        let p = b.w.paths();
        let layer_node = std::fs::read_dir(p.layers())
            .unwrap()
            .flatten()
            .map(|e| e.path().join("diff/devnode"))
            .find(|n| n.exists())
            .expect("the image's device node in the layer store");
        Target {
            root: p.root.clone(),
            run: p.run.clone(),
            bundle: p.container(id),
            rootfs: p.container(id).join("rootfs"),
            log: p.log(id),
            data: p.volume_data("data"),
            seeded: p.volume_data("seeded"),
            layer_node,
        }
    }

    /// Root sees what an attacker would be after: the attack could work if modes allowed it.
    fn assert_there(&self) {
        for f in [
            self.bundle.join("config.json"),
            self.bundle.join("record.json"),
            self.log.clone(),
        ] {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(text.contains("DB_PASSWORD=secret"), "{}", f.display());
        }
        for suid in [self.rootfs.join("suid"), self.data.join("suid")] {
            let m = std::fs::metadata(&suid).unwrap();
            assert_eq!(
                (m.uid(), m.mode() & 0o7777),
                (0, 0o4755),
                "{}",
                suid.display()
            );
        }
        for node in self.nodes() {
            let m = std::fs::symlink_metadata(&node).unwrap();
            assert!(m.file_type().is_char_device(), "{}", node.display());
        }
    }

    fn nodes(&self) -> [PathBuf; 5] {
        [
            self.rootfs.join("devnode"),
            self.rootfs.join("cnode"),
            self.data.join("vnode"),
            self.seeded.join("devnode"),
            self.layer_node.clone(),
        ]
    }

    /// Everything the review did as an unprivileged user, each refused.
    fn attack(&self, id: &str) {
        for dir in [
            self.root.clone(),
            self.root.join("containers"),
            self.bundle.clone(),
            self.rootfs.clone(),
            self.root.join("layers/sha256"),
            self.root.join("images"),
            self.root.join("volumes"),
            self.data.clone(),
            self.run.clone(),
            self.run.join(id),
        ] {
            denied("list or traverse", &["ls", s(&dir)]);
        }
        denied(
            "walk into the rootfs",
            &["cat", s(&self.rootfs.join("etc/passwd"))],
        );
        for f in [
            self.bundle.join("config.json"),
            self.bundle.join("record.json"),
            self.log.clone(),
        ] {
            denied("read the container's environment", &["cat", s(&f)]);
        }
        for suid in [self.rootfs.join("suid"), self.data.join("suid")] {
            denied(
                "run a setuid binary the container left",
                &[s(&suid), "id", "-u"],
            );
        }
        for node in self.nodes() {
            denied(
                "open a device node of the image or the container",
                &["sh", "-c", ": <> \"$0\"", s(&node)],
            );
        }
    }

    /// The modes berth gives, by the table in store::private.
    fn assert_modes(&self, id: &str) {
        for dir in [&self.root, &self.run, &self.bundle] {
            assert_eq!(mode(dir), 0o700, "{}", dir.display());
        }
        for dir in ["containers", "images", "layers", "volumes", "volumes/data"] {
            assert_eq!(mode(&self.root.join(dir)), 0o700, "{dir}");
        }
        assert_eq!(mode(&self.run.join(id)), 0o700);
        assert_eq!(mode(&self.bundle.join("config.json")), 0o600);
        assert_eq!(mode(&self.bundle.join("record.json")), 0o600);
        assert_eq!(mode(&self.run.join(id).join("state.json")), 0o600);
        assert_eq!(mode(&self.log), 0o640, "Docker's json-file mode");
        // Read inside the container by any user: the directory above is the gate.
        for f in ["hosts", "resolv.conf", "hostname"] {
            assert_eq!(mode(&self.bundle.join(f)), 0o644, "{f}");
        }
        assert_eq!(mode(&self.data), 0o755);
    }
}

/// What an older berth left: every directory open, records and logs world-readable.
fn open_like_an_older_berth(t: &Target, id: &str) {
    let set = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    for dir in [
        t.root.clone(),
        t.root.join("containers"),
        t.root.join("images"),
        t.root.join("layers"),
        t.root.join("layers/sha256"),
        t.root.join("volumes"),
        t.root.join("volumes/data"),
        t.root.join("volumes/seeded"),
        t.run.clone(),
        t.run.join(id),
    ] {
        set(&dir, 0o755);
    }
    set(&t.bundle, 0o711);
    for f in [
        t.bundle.join("config.json"),
        t.bundle.join("record.json"),
        t.log.clone(),
        t.run.join(id).join("state.json"),
    ] {
        set(&f, 0o644);
    }
    // The attack works on such a store: this test can tell a closed store from an open one.
    let out = as_nobody(&["cat", s(&t.bundle.join("config.json"))]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("DB_PASSWORD=secret"));
}

#[test]
fn an_unprivileged_user_reaches_nothing_of_a_container_its_volumes_or_its_log() {
    let b = Session::new();
    let env = &b.w.env;
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let probe = env.dir().join("probe");
    std::fs::write(&probe, "open\n").unwrap();
    assert!(as_nobody(&["cat", s(&probe)]).status.success());
    device_image(&b);
    b.ok(&["volume", "create", "data"]);
    let id = b.detach(&argv!(
        "--name sec -e DB_PASSWORD=secret -v data:/data -v seeded:/seed devimg sh -c {}",
        PLANT
    ));
    let logs = until("the container to plant its files", || {
        let out = b.ok(&["logs", "sec"]);
        out.contains("PLANTED").then_some(out)
    });
    assert!(logs.contains("DB_PASSWORD=secret"), "{logs}");
    let t = Target::new(&b, &id);
    t.assert_there();
    t.assert_modes(&id);
    t.attack(&id);

    open_like_an_older_berth(&t, &id);
    b.ok(&["ps", "-a"]);
    t.assert_modes(&id);
    t.attack(&id);

    // Root still has all of it.
    assert!(b.ok(&["logs", "sec"]).contains("DB_PASSWORD=secret"));
    assert_eq!(b.ok(&["exec", "sec", "cat", "/data/x"]), "kept\n");
    assert_eq!(b.ok(&["exec", "sec", "ls", "/seed"]), "devnode\n");
    b.ok(&["rm", "-f", "sec"]);
    assert_eq!(
        b.ok(&argv!("run --rm -v data:/data busybox cat /data/x")),
        "kept\n"
    );
    b.ok(&["volume", "rm", "data", "seeded"]);
    b.assert_clean(&[&id]);
}

/// busybox with the mount points a bridge container and a volume need: the mapped root
/// cannot create them in an image whose files are the host root's (nobody's, inside).
fn mapped_image(b: &Session) {
    let points = tar(|t| {
        t.dir("data", 0o755);
        for f in ["etc/hostname", "etc/hosts", "etc/resolv.conf"] {
            t.file(f, b"");
        }
    });
    put_image(
        &b.w.env,
        "mapped:latest",
        &[Layer::gz(&busybox_tar()), Layer::gz(&points)],
        serde_json::json!({"Env": [PATH_ENV]}),
    );
}

#[test]
fn a_mapped_root_still_reaches_its_own_bundle_and_nothing_else() {
    let b = Session::new();
    std::fs::set_permissions(b.w.env.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    mapped_image(&b);
    b.ok(&["volume", "create", "data"]);
    b.ok(&argv!(
        "run --rm -v data:/data busybox sh -c 'echo kept > /data/x'"
    ));
    // Foreground, with hosts/resolv.conf/hostname and a volume bind-mounted: every source is
    // under the private root. (The host's network: a namespace berth-netns makes belongs to
    // the host's user namespace, whose sysctls the mapped root may not write.)
    let out = b.ok(&argv!(
        "run --rm --userns 100000:65536 --network host -v data:/data mapped sh -c 'id -u; cat \
         /proc/self/uid_map; cat /data/x; grep -c localhost /etc/hosts; cat /etc/hostname'"
    ));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert_eq!(lines[2], "kept", "{out}");
    assert_ne!(lines[3], "0", "{out}");
    // Detached: only its own directory lets its group through, search only.
    let id = b.detach(&argv!(
        "--name mapped --userns 100000:65536 --network host -v data:/data mapped sleep 1000"
    ));
    let p = b.w.paths();
    let m = std::fs::metadata(p.container(&id)).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (0, 100_000, 0o710));
    for dir in [
        p.root.clone(),
        p.containers(),
        p.volumes(),
        p.volume("data"),
    ] {
        let m = std::fs::metadata(&dir).unwrap();
        assert_eq!(
            (m.gid(), m.mode() & 0o7777),
            (0, 0o700),
            "{}",
            dir.display()
        );
    }
    assert_eq!(b.ok(&["exec", "mapped", "cat", "/data/x"]), "kept\n");
    assert_eq!(b.ok(&["exec", "mapped", "id", "-u"]), "0\n");
    // The host's nobody is no better off for the mapped group.
    denied(
        "list the mapped container's directory",
        &["ls", s(&p.container(&id))],
    );
    b.ok(&["restart", "-t", "0", "mapped"]);
    assert_eq!(b.ok(&["exec", "mapped", "cat", "/data/x"]), "kept\n");
    b.ok(&["rm", "-f", "mapped"]);
    b.ok(&["volume", "rm", "data"]);
    b.assert_clean(&[&id]);
}
