//! Layers: everything a tar holds survives; whiteouts and opaque directories give exactly the
//! image's filesystem through overlay, the copying driver and `--to`; 100 layers mount; two
//! unpacks at once and a kill -9 half-way never leave a layer that looks complete.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use berth_e2e::TestEnv;
use berth_e2e::crafted::{Compression, Layer, Meta, put_image, tar};
use serde_json::json;

fn create(env: &TestEnv, args: &[&str]) -> serde_json::Value {
    let mut argv = vec!["berth-unpack"];
    argv.extend_from_slice(args);
    env.run(&argv).success().json()
}

fn rootfs(rec: &serde_json::Value) -> PathBuf {
    PathBuf::from(rec["bundle"]["rootfs"].as_str().unwrap())
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // libc, not nix: nix has no xattr calls (and the `xattr` crate is not a test dependency).
    // SAFETY: both names are NUL-terminated and outlive the call; the kernel writes at most
    // `buf.len()` bytes into `buf`.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

#[test]
fn every_tar_attribute_is_preserved() {
    let env = TestEnv::new();
    // A sparse file, archived by GNU tar (the tar crate cannot write sparse entries).
    let src = env.dir().join("sparse-src");
    std::fs::create_dir(&src).unwrap();
    let f = std::fs::File::create(src.join("sparse")).unwrap();
    f.set_len(64 << 20).unwrap();
    use std::io::{Seek, Write};
    let mut f = f;
    f.seek(std::io::SeekFrom::Start(32 << 20)).unwrap();
    f.write_all(b"middle").unwrap();
    drop(f);
    let sparse_tar = env.dir().join("sparse.tar");
    berth_e2e::fixtures::must(
        std::process::Command::new("tar")
            .args(["--sparse", "--format=gnu", "-cf"])
            .arg(&sparse_tar)
            .arg("-C")
            .arg(&src)
            .arg("sparse"),
    );
    // security.capability v2: cap_net_raw in permitted, effective flag set.
    let mut cap = vec![0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00];
    cap.extend_from_slice(&[0u8; 12]);
    let attrs = tar(|b| {
        b.dir("srv/", 0o2755);
        b.dir("tmp/", 0o1777);
        let m = Meta {
            mode: 0o4755,
            uid: 1234,
            gid: 5678,
            mtime: 1_500_000_000,
        };
        b.file_meta(
            b"srv/suid",
            &m,
            &[
                ("mtime", b"1500000000.123456789"),
                ("SCHILY.xattr.user.note", b"hi"),
            ],
            b"#!/bin/sh\n",
        );
        b.file_meta(
            b"srv/ping",
            &Meta::default(),
            &[
                ("SCHILY.xattr.security.capability", &cap),
                ("uid", b"3000000"),
            ],
            b"bin",
        );
        b.hardlink("srv/suid-link", "srv/suid");
        b.symlink("srv/link", "../tmp/nowhere");
        b.device("srv/null", tar::EntryType::Char, 1, 3);
        b.device("srv/loop", tar::EntryType::Block, 7, 0);
        b.raw(
            tar::EntryType::Fifo,
            b"srv/fifo",
            None,
            &Meta::default(),
            &[],
            b"",
        );
        b.file_meta(b"srv/caf\xe9", &Meta::default(), &[], b"latin-1 name");
        let long = format!("srv/{}/deep", "d".repeat(150));
        b.file(&long, b"long name");
        // overlayfs's own xattrs are never taken from content.
        b.file_meta(
            b"srv/sneaky",
            &Meta::default(),
            &[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")],
            b"",
        );
    });
    put_image(
        &env,
        "attrs:latest",
        &[
            Layer::new(&attrs, Compression::Zstd),
            Layer::new(&std::fs::read(&sparse_tar).unwrap(), Compression::None),
        ],
        json!({"Cmd": ["sh"]}),
    );
    let rec = create(&env, &["attrs"]);
    let root = rootfs(&rec);
    let m = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    assert_eq!(m("srv").mode() & 0o7777, 0o2755);
    assert_eq!(m("tmp").mode() & 0o7777, 0o1777);
    let suid = m("srv/suid");
    assert_eq!(suid.mode() & 0o7777, 0o4755);
    assert_eq!((suid.uid(), suid.gid()), (1234, 5678));
    assert_eq!(
        (suid.mtime(), suid.mtime_nsec()),
        (1_500_000_000, 123_456_789)
    );
    assert_eq!(suid.nlink(), 2);
    assert_eq!(suid.ino(), m("srv/suid-link").ino());
    assert_eq!(
        xattr(&root.join("srv/suid"), "user.note").as_deref(),
        Some(&b"hi"[..])
    );
    assert_eq!(m("srv/ping").uid(), 3_000_000);
    assert_eq!(
        xattr(&root.join("srv/ping"), "security.capability"),
        Some(cap)
    );
    assert_eq!(
        std::fs::read_link(root.join("srv/link")).unwrap(),
        Path::new("../tmp/nowhere")
    );
    assert!(m("srv/null").file_type().is_char_device());
    assert_eq!(m("srv/null").rdev(), libc::makedev(1, 3));
    assert!(m("srv/loop").file_type().is_block_device());
    assert!(m("srv/fifo").file_type().is_fifo());
    let latin = root.join(std::ffi::OsStr::from_bytes(b"srv/caf\xe9"));
    assert_eq!(std::fs::read(latin).unwrap(), b"latin-1 name");
    assert!(root.join(format!("srv/{}/deep", "d".repeat(150))).is_file());
    let diff = env.root.join("layers/sha256");
    let layer_of_sneaky = std::fs::read_dir(&diff)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("diff/srv/sneaky"))
        .find(|p| p.exists())
        .unwrap();
    assert_eq!(xattr(&layer_of_sneaky, "trusted.overlay.redirect"), None);
    let sparse = m("sparse");
    assert_eq!(sparse.len(), 64 << 20);
    assert!(
        sparse.blocks() * 512 < 1 << 20,
        "holes were filled: {}",
        sparse.blocks()
    );
    let data = std::fs::read(root.join("sparse")).unwrap();
    assert_eq!(&data[32 << 20..(32 << 20) + 6], b"middle");
}

/// Kind and content of every entry under `dir`, for comparing trees.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", m.mode() & 0o7777)
            } else if m.is_symlink() {
                format!("link {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_file() {
                format!(
                    "file {}",
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap())
                )
            } else {
                format!("other {:o}", m.mode())
            };
            out.insert(rel, what);
        }
    }
    out
}

fn whiteout_image(env: &TestEnv) {
    let l1 = tar(|b| {
        for f in ["a/x", "a/y", "b/z", "c/old", "d/keep", "e/sub/f"] {
            b.file(f, f.as_bytes());
        }
    });
    let l2 = tar(|b| {
        b.file("a/.wh.x", b"");
        b.file(".wh.b", b"");
        b.file("c/.wh..wh..opq", b"");
        b.file("c/new", b"new");
        b.file("e/.wh.sub", b"");
        b.file("e/sub", b"now a file");
    });
    let l3 = tar(|b| {
        b.file(".wh.d", b"");
        b.file("d/fresh", b"fresh");
        b.file("a/.wh.nothing-below", b"");
    });
    put_image(
        env,
        "wh:latest",
        &[Layer::gz(&l1), Layer::gz(&l2), Layer::gz(&l3)],
        json!({"Cmd": ["sh"]}),
    );
}

#[test]
fn whiteouts_and_opaque_dirs_give_the_images_filesystem_with_every_driver() {
    let env = TestEnv::new();
    whiteout_image(&env);
    let want: BTreeMap<String, String> = [
        ("a", "dir 755"),
        ("a/y", "file a/y"),
        ("c", "dir 755"),
        ("c/new", "file new"),
        ("d", "dir 755"),
        ("d/fresh", "file fresh"),
        ("e", "dir 755"),
        ("e/sub", "file now a file"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let overlay = create(&env, &["wh"]);
    assert_eq!(overlay["bundle"]["driver"], "overlay");
    assert_eq!(tree(&rootfs(&overlay)), want, "overlay");
    let copy = create(&env, &["--storage-driver", "copy", "wh"]);
    assert_eq!(copy["bundle"]["driver"], "copy");
    assert_eq!(tree(&rootfs(&copy)), want, "copy driver");
    let to = env.dir().join("flat");
    env.ok(&["berth-unpack", "wh", "--to", to.to_str().unwrap()]);
    assert_eq!(tree(&to), want, "--to");
    // The copy is a container like any other: rm deletes it.
    env.ok(&["berth-unpack", "rm", copy["id"].as_str().unwrap()]);
    assert!(!rootfs(&copy).exists());
}

#[test]
fn the_copying_driver_takes_over_where_overlay_cannot_work() {
    // The root itself on overlayfs: an overlay upper dir cannot live there.
    let env = TestEnv::new();
    let (lower, upper, work) = (
        env.dir().join("ol"),
        env.dir().join("ou"),
        env.dir().join("ow"),
    );
    for d in [&lower, &upper, &work] {
        std::fs::create_dir(d).unwrap();
    }
    nix::mount::mount(
        Some("overlay"),
        &env.root,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(
            format!(
                "lowerdir={},upperdir={},workdir={}",
                lower.display(),
                upper.display(),
                work.display()
            )
            .as_str(),
        ),
    )
    .unwrap();
    whiteout_image(&env);
    let r = env.run(&["berth-unpack", "wh"]).success();
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("copying driver"))
        .collect();
    assert_eq!(warnings.len(), 1, "said once: {}", r.stderr);
    let rec = r.json();
    assert_eq!(rec["bundle"]["driver"], "copy");
    assert_eq!(
        std::fs::read(rootfs(&rec).join("d/fresh")).unwrap(),
        b"fresh"
    );
    env.ok(&["berth-unpack", "rm", rec["id"].as_str().unwrap()]);
    assert!(!rootfs(&rec).exists());
}

fn hundred_layers(env: &TestEnv) {
    let layers: Vec<Layer> = (0..100)
        .map(|i| {
            Layer::gz(&tar(|b| {
                b.file(&format!("layers/{i:03}"), format!("{i}").as_bytes());
                b.file("top", format!("{i}").as_bytes());
                if i == 60 {
                    b.file("layers/.wh.010", b"");
                }
            }))
        })
        .collect();
    put_image(env, "tall:latest", &layers, json!({"Cmd": ["sh"]}));
}

#[track_caller]
fn check_hundred(rec: &serde_json::Value) {
    let root = rootfs(rec);
    assert_eq!(
        std::fs::read(root.join("top")).unwrap(),
        b"99",
        "top layer wins"
    );
    let n = std::fs::read_dir(root.join("layers")).unwrap().count();
    assert_eq!(n, 99, "100 layers, one whited out");
    assert!(!root.join("layers/010").exists());
    assert_eq!(rec["bundle"]["layers"].as_array().unwrap().len(), 100);
}

#[test]
fn a_hundred_layers_mount_with_either_mount_interface() {
    let env = TestEnv::new();
    hundred_layers(&env);
    check_hundred(&create(&env, &["tall"]));
    // mount(2) with one page of options: the short links keep 100 layers within it.
    let mut c = env.cmd("berth-unpack");
    c.arg("tall").env("BERTH_OVERLAY_MOUNT", "legacy");
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    check_hundred(&rec);
    let links = std::fs::read_dir(env.root.join("layers/l"))
        .unwrap()
        .count();
    assert_eq!(links, 100);
}

fn big_image(env: &TestEnv) {
    // 24 MiB that gzip cannot shrink, so an unpack takes a while.
    let mut data = vec![0u8; 24 << 20];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let t = tar(|b| {
        for i in 0..4 {
            b.file(
                &format!("blob{i}"),
                &data[i * (6 << 20)..(i + 1) * (6 << 20)],
            );
        }
    });
    put_image(env, "big:latest", &[Layer::gz(&t)], json!({"Cmd": ["sh"]}));
}

#[test]
fn two_concurrent_unpacks_of_one_layer_do_not_collide() {
    let env = TestEnv::new();
    big_image(&env);
    let children: Vec<_> = (0..3)
        .map(|_| {
            env.cmd("berth-unpack")
                .arg("big")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let entries: Vec<String> = std::fs::read_dir(env.root.join("layers/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one layer, no temporary dirs: {entries:?}"
    );
    let containers = std::fs::read_dir(env.root.join("containers"))
        .unwrap()
        .count();
    assert_eq!(containers, 3);
}

/// Polls until `pred` holds (hang protection only, no timing assertion).
fn wait_for(mut pred: impl FnMut() -> bool) -> bool {
    for _ in 0..20_000 {
        if pred() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}

#[test]
fn a_kill_9_mid_unpack_leaves_nothing_taken_as_complete() {
    let env = TestEnv::new();
    big_image(&env);
    let layers = env.root.join("layers/sha256");
    let mut child = env
        .cmd("berth-unpack")
        .args(["--name", "killed", "big"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let staged = wait_for(|| {
        std::fs::read_dir(&layers).is_ok_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        })
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(staged, "the unpack never started");
    // No layer directory named by its diff id, no container, and the name is free.
    let complete: Vec<_> = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(
        complete.is_empty()
            || complete
                .iter()
                .all(|e| e.path().join("layer.json").exists()),
        "a half-unpacked layer looks complete"
    );
    let rec = create(&env, &["--name", "killed", "big"]);
    assert_eq!(rec["name"], "killed");
    assert_eq!(
        std::fs::read_dir(&layers).unwrap().count(),
        1,
        "garbage collected"
    );
    assert_eq!(
        std::fs::metadata(rootfs(&rec).join("blob3")).unwrap().len(),
        6 << 20
    );
}

#[test]
fn a_kill_9_mid_create_frees_the_name() {
    let env = TestEnv::new();
    hundred_layers(&env);
    create(&env, &["tall"]);
    let containers = env.root.join("containers");
    // Many attempts: the staging window is short; each is killed as soon as it shows.
    for _ in 0..20 {
        let mut child = env
            .cmd("berth-unpack")
            .args(["--name", "victim", "tall"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(|| {
            std::fs::read_dir(&containers).is_ok_and(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with(".new-"))
            }) || child.try_wait().ok().flatten().is_some()
        });
        let _ = child.kill();
        child.wait().unwrap();
        if env.root.join("names/victim").exists()
            && let Ok(id) = std::fs::read_to_string(env.root.join("names/victim"))
            && containers.join(id.trim()).exists()
        {
            // It finished before the kill: remove it and try again.
            env.ok(&["berth-unpack", "rm", "victim"]);
            continue;
        }
        let rec = create(&env, &["--name", "victim", "tall"]);
        assert_eq!(rec["name"], "victim");
        let staging = std::fs::read_dir(&containers)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".new-"))
            .count();
        assert_eq!(staging, 0, "the dead create's staging dir was removed");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let points = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(env.root.to_str().unwrap()))
            .count();
        assert_eq!(points, 2, "the two containers' rootfs, and no stray mount");
        return;
    }
    panic!("never caught a create in flight");
}

#[test]
fn permissions_of_implicit_parents_do_not_follow_the_umask() {
    let env = TestEnv::new();
    put_image(
        &env,
        "implicit:latest",
        &[Layer::gz(&tar(|b| b.file("x/y/z", b"z")))],
        json!({"Cmd": ["sh"]}),
    );
    let mut c = env.cmd("sh");
    c.args(["-c", "umask 077; exec berth-unpack implicit"]);
    let out = c.output().unwrap();
    assert!(out.status.success());
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let m = std::fs::metadata(rootfs(&rec).join("x/y")).unwrap();
    assert_eq!(m.permissions().mode() & 0o777, 0o755);
}
