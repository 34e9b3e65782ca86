//! The container boundary, second round (issue 12): the gaps the first round left, each
//! attacked end to end as a container or an image would, each shown to fail, with the
//! feature it abused still working and nothing left behind. (The monitor's executable and the
//! foreground run's terminal are in security_exec.rs, beside the attacks they continue.)
//!
//! - `exec -u NAME` reads the container's /etc/passwd and /etc/group by descriptor inside
//!   its root, its mounts included, and only regular files: never a host file through a
//!   symlink, never a FIFO (a hang) or a device node (a host disk read outside the device
//!   cgroup);
//! - a volume seeded from the image through a symlink gets the image's files, not the host's;
//! - a container does not share the caller's session keyring;
//! - `berth attach` right after `berth run -d` finds the monitor listening;
//! - a manifest with a duplicate key is refused at pull, not stored unusable.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth_e2e::argv;
use berth_e2e::fixtures::{self, must};
use berth_e2e::probe;
use berth_e2e::registry::{Format, Registry};
use berth_e2e::session::Session;
use berth_e2e::until;
use berth_e2e::{Run, TestEnv};

/// A loop device over a file of the test's, detached when dropped.
struct Loop {
    dev: PathBuf,
}

impl Loop {
    fn attach(file: &Path) -> Loop {
        let dev = must(Command::new("losetup").args(["-f", "--show"]).arg(file));
        Loop {
            dev: PathBuf::from(dev.trim()),
        }
    }

    /// (major, minor).
    fn numbers(&self) -> (u64, u64) {
        let rdev = std::fs::metadata(&self.dev).unwrap().rdev();
        (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev))
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).status();
    }
}

const LEAK: &str = "leak:x:4242:4242::/:/bin/sh\n";

#[track_caller]
fn assert_refused(r: Run, what: &str) {
    assert!(!r.status.success(), "exec -u leak ran: {}", r.stdout);
    assert!(!r.stdout.contains("4242"), "{}", r.stdout);
    let e = r.error_line();
    assert!(e.contains(what), "{e}");
}

/// `exec -u` resolves the user inside the container's root: a planted symlink to a host
/// file, a FIFO, and a device node of a host disk (which the container itself may not open)
/// as /etc/passwd are refused or resolved in the container, never read on the host.
#[test]
fn exec_user_reads_only_the_containers_own_passwd() {
    let b = Session::new();
    let dir = b.w.env.dir();
    let host = dir.join("host-passwd");
    std::fs::write(&host, LEAK).unwrap();
    let id = b.detach(&["--name", "victim", "busybox", "sleep", "1000"]);
    // An absolute symlink to a host path is the container's own path (missing there).
    b.ok(&argv!(
        "exec victim ln -sf {} /etc/passwd",
        host.to_str().unwrap()
    ));
    let r = b.berth(&["exec", "-u", "leak", "victim", "id", "-u"]);
    assert_refused(
        r,
        "unable to find user leak: no matching entries in passwd file",
    );
    // A device node of a host disk (a loop device here): the device cgroup keeps the
    // container from opening it, berth must not open it on its behalf.
    let mut disk = LEAK.as_bytes().to_vec();
    disk.resize(4096, 0);
    let image = dir.join("disk.img");
    std::fs::write(&image, &disk).unwrap();
    let lo = Loop::attach(&image);
    let (major, minor) = lo.numbers();
    let (ma, mi) = (major.to_string(), minor.to_string());
    b.ok(&["exec", "victim", "rm", "/etc/passwd"]);
    b.ok(&["exec", "victim", "mknod", "/etc/passwd", "b", &ma, &mi]);
    let r = b.berth(&["exec", "victim", "head", "-c", "4", "/etc/passwd"]);
    assert!(
        !r.status.success(),
        "the container read the disk: {}",
        r.stdout
    );
    let r = b.berth(&["exec", "-u", "leak", "victim", "id", "-u"]);
    assert_refused(
        r,
        "cannot read /etc/passwd in the container: it is a device, not a regular file",
    );
    // A FIFO: with no writer, opening it to read would hang the exec for good; here the
    // container writes one line into it, which berth must not read either.
    b.ok(&["exec", "victim", "rm", "/etc/passwd"]);
    b.ok(&argv!(
        "exec -d victim sh -c {}",
        &format!("mkfifo /etc/passwd; echo '{}' > /etc/passwd", LEAK.trim())
    ));
    until("the FIFO", || {
        b.berth(&["exec", "victim", "test", "-p", "/etc/passwd"])
            .status
            .success()
            .then_some(())
    });
    let r = b.berth(&["exec", "-u", "leak", "victim", "id", "-u"]);
    assert_refused(
        r,
        "cannot read /etc/passwd in the container: it is a FIFO, not a regular file",
    );
    // The container's own files still work: a name, a number, a name in a mounted file.
    b.ok(&["exec", "victim", "rm", "/etc/passwd"]);
    b.ok(&argv!(
        "exec victim sh -c {}",
        "echo 'web:x:1000:1000::/home/web:/bin/sh' > /etc/passwd"
    ));
    assert_eq!(b.ok(&["exec", "-u", "web", "victim", "id", "-u"]), "1000\n");
    assert_eq!(b.ok(&["exec", "-u", "7:8", "victim", "id", "-g"]), "8\n");
    let mounted = dir.join("mounted-passwd");
    std::fs::write(&mounted, "app:x:2000:2000::/:/bin/sh\n").unwrap();
    let vol = format!("{}:/etc/passwd:ro", mounted.display());
    let id2 = b.detach(&["--name", "mounted", "-v", &vol, "busybox", "sleep", "1000"]);
    assert_eq!(
        b.ok(&["exec", "-u", "app", "mounted", "id", "-u"]),
        "2000\n"
    );
    b.ok(&["rm", "-f", "victim", "mounted"]);
    drop(lo);
    b.assert_clean(&[&id, &id2]);
}

/// An image whose VOLUME is a symlink to /etc: the volume is seeded with the image's /etc
/// (resolved inside the rootfs by descriptor, `confine::Root`), never the host's.
#[test]
fn a_volume_seeded_through_a_symlink_gets_the_images_files() {
    let b = Session::new();
    let dir = b.w.env.dir();
    let tree = dir.join("tree");
    fixtures::populate_busybox(&tree);
    std::fs::write(tree.join("etc/image-only"), "from the image\n").unwrap();
    std::os::unix::fs::symlink("/etc", tree.join("data")).unwrap();
    std::os::unix::fs::symlink("../../etc", tree.join("up")).unwrap();
    let tarball = dir.join("tree.tar");
    must(
        Command::new("tar")
            .arg("-C")
            .arg(&tree)
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
    );
    b.ok(&argv!(
        "import -c 'VOLUME /data /up' -c 'ENV PATH=/bin' {} seeded:1",
        tarball.to_str().unwrap()
    ));
    let out = b.ok(&argv!(
        "run --name seeded -v etcvol:/data -v upvol:/up seeded:1 cat /etc/image-only"
    ));
    assert_eq!(out, "from the image\n");
    for vol in ["etcvol", "upvol"] {
        let data = b.root().join("volumes").join(vol).join("_data");
        assert!(
            data.join("image-only").is_file(),
            "{vol} lacks the image's file"
        );
        assert!(
            !data.join("debian_version").exists() && !data.join("hostname").exists(),
            "{vol} holds the host's /etc"
        );
    }
    b.ok(&["rm", "seeded"]);
    b.ok(&["volume", "rm", "etcvol", "upvol"]);
    b.assert_clean(&[]);
}

/// keyctl(2) on the calling process' session keyring.
fn keyctl(op: libc::c_int, a: libc::c_long, b: libc::c_long) -> libc::c_long {
    // SAFETY: the operations used here take integers, or pointers to C strings that
    // outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            op,
            a,
            b,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    }
}

/// The caller holds a secret in its session keyring, as a root login's may (Kerberos, NFS,
/// CIFS credentials): a container whose seccomp lets keyctl through (`--privileged`,
/// `seccomp=unconfined`) cannot find it, in its init or in an exec; it still has a session
/// keyring of its own to use.
#[test]
fn containers_do_not_share_the_callers_session_keyring() {
    // This test's process (nextest runs each test in one) gets a session keyring of its own,
    // holding the secret; berth inherits it, as from a login shell.
    let name = std::ffi::CString::new(format!("berth-test-{}", std::process::id())).unwrap();
    let ours = keyctl(
        libc::KEYCTL_JOIN_SESSION_KEYRING as i32,
        name.as_ptr() as i64,
        0,
    );
    assert!(ours > 0, "{}", std::io::Error::last_os_error());
    let secret = b"hunter2";
    // SAFETY: add_key with C strings and a buffer that outlive the call.
    let key = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            c"berth-test-secret".as_ptr(),
            secret.as_ptr(),
            secret.len(),
            libc::KEY_SPEC_SESSION_KEYRING,
        )
    };
    assert!(key > 0, "{}", std::io::Error::last_os_error());
    let b = Session::new();
    let dir = b.w.env.dir().join("probe");
    probe::build_c(&dir, "keyring_probe.c", "keyring-probe");
    let vol = format!("{}:/probe", dir.display());
    let probe = |out: &str| -> (String, String, String) {
        let get = |k: &str| {
            out.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(": "))
                .unwrap_or_default()
                .to_string()
        };
        (get("session"), get("search"), get("own"))
    };
    for flags in [
        &["--privileged"][..],
        &["--security-opt", "seccomp=unconfined"][..],
    ] {
        let mut args = vec!["run", "--rm", "-v", &vol];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "/probe/keyring-probe", "berth-test-secret"]);
        let out = b.ok(&args);
        let (session, search, own) = probe(&out);
        assert_eq!(search, "ENOKEY", "{flags:?} found the caller's key: {out}");
        assert_ne!(session, ours.to_string(), "{flags:?}: {out}");
        assert_ne!(session, "0", "{flags:?}: {out}");
        assert_eq!(own, "ok", "{flags:?}: {out}");
    }
    // exec joins a keyring of its own too.
    let mut args = vec!["run", "-d", "--privileged", "-v", &vol, "--name", "keys"];
    args.extend_from_slice(&["busybox", "sleep", "1000"]);
    let id = b.ok(&args).trim().to_string();
    let out = b.ok(&["exec", "keys", "/probe/keyring-probe", "berth-test-secret"]);
    assert_eq!(
        probe(&out).1,
        "ENOKEY",
        "exec found the caller's key: {out}"
    );
    assert_eq!(probe(&out).2, "ok", "{out}");
    // By default Docker's seccomp profile refuses the key calls altogether.
    let out = b.ok(&argv!(
        "run --rm -v {} busybox /probe/keyring-probe x",
        &vol
    ));
    assert_eq!(probe(&out).1, "EPERM", "{out}");
    // The caller's keyring and secret are untouched.
    let again = keyctl(
        libc::KEYCTL_GET_KEYRING_ID as i32,
        libc::KEY_SPEC_SESSION_KEYRING as i64,
        0,
    );
    assert_eq!(again, ours);
    b.ok(&["rm", "-f", "keys"]);
    b.assert_clean(&[&id]);
}

/// `berth run -d` returns once the monitor listens on the container's attach socket, so an
/// attach right after it always finds it (it failed with "monitor does not answer" when the
/// monitor had not listened yet, on a loaded machine).
#[test]
fn attach_right_after_run_d_always_finds_the_monitor() {
    let b = Session::new();
    let mut ids = Vec::new();
    for i in 0..25 {
        let name = format!("quick{i}");
        let id = b.detach(&argv!(
            "-i --name {} busybox sh -c 'read x; echo got $x'",
            &name
        ));
        assert!(
            b.w.paths().attach_socket(&id).exists(),
            "run -d returned before the monitor listened (round {i})"
        );
        let r = b.berth_in(&["attach", &name], b"hello\n").success();
        assert_eq!(r.stdout, "got hello\n", "round {i}");
        b.ok(&["rm", &name]);
        ids.push(id);
    }
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    b.assert_clean(&ids);
}

/// A manifest with a duplicate key (which a loose JSON parse reads as its last value, and
/// the store's typed reader refuses) is refused by the pull, with nothing stored; found by
/// the fuzz target `manifest`. The same for an index.
#[test]
fn a_manifest_with_a_duplicate_key_is_refused_at_pull() {
    let env = TestEnv::new();
    let reg = Registry::start();
    reg.push_fixture("busybox", "bb:1", Format::Oci);
    let (bytes, ct) = reg.get_manifest("bb:1");
    let good: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // The registry (Go's encoding/json) takes the last `layers`, which names real blobs.
    let doc = serde_json::to_string(&good).unwrap();
    assert!(doc.contains("\"layers\":["), "{doc}");
    let dup = doc.replacen("\"layers\":[", "\"layers\":[],\"layers\":[", 1);
    reg.put_manifest("bb:dup", &ct, dup.as_bytes());
    let r = env.run(&["berth-pull", &reg.image("bb:dup")]).fails_with(6);
    let e = r.error_line();
    assert!(
        e.contains("invalid image manifest: duplicate field `layers`")
            && e.contains("a key appears twice"),
        "{e}"
    );
    let digest = berth::digest::sha256(&bytes);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": ct, "digest": digest, "size": bytes.len(),
                       "platform": {"os": "linux", "architecture": "amd64"}}],
    });
    let doc = serde_json::to_string(&index).unwrap();
    let dup = doc.replacen("\"manifests\":[", "\"manifests\":[],\"manifests\":[", 1);
    reg.put_manifest(
        "bb:dupindex",
        "application/vnd.oci.image.index.v1+json",
        dup.as_bytes(),
    );
    let r = env
        .run(&["berth-pull", &reg.image("bb:dupindex")])
        .fails_with(6);
    assert!(
        r.error_line()
            .contains("invalid image index: duplicate field `manifests`"),
        "{}",
        r.stderr
    );
    let images = env.root.join("images/index.json");
    if let Ok(text) = std::fs::read_to_string(&images) {
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["manifests"].as_array().map(Vec::len), Some(0), "{text}");
    }
    // The well-formed image pulls, and the store reads it.
    env.run(&["berth-pull", &reg.image("bb:1")]).success();
    let r = env
        .run(&["berth", "image", "inspect", &reg.image("bb:1")])
        .success();
    assert_eq!(r.json()[0]["RepoTags"][0], reg.image("bb:1"));
}
