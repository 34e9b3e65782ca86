//! Attacks on the paths berth resolves inside a container (issue 12, items 3, 6 and 7), each
//! performed for real, with the feature it abuses shown still working:
//! - `cp` and what a container plants at its target: a device node, a FIFO, symlinks to `/`
//!   and to a host path. cp refuses or replaces them, never writes through or blocks (a
//!   process in the container holds the other end of each FIFO, so a regression would show
//!   as data, not as a hang).
//! - An image whose mount destinations are a 50-link symlink chain, or symlinks that name a
//!   host path: the run fails with an error naming the path, or the mount stays inside the
//!   rootfs, and nothing appears on the host.
//! - /sys: a fresh sysfs for every network namespace berth makes or joins, the host's one
//!   read-only all the way down with `--network host`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_e2e::argv;
use berth_e2e::crafted::{Layer, Meta, busybox_tar, put_image, tar};
use berth_e2e::session::Session;
use berth_e2e::until;
use serde_json::json;

/// Every name under `dir`, recursively, for "nothing appeared" checks.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        out.push(p.clone());
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(tree(&p));
        }
    }
    out.sort();
    out
}

#[track_caller]
fn assert_host_null_intact() {
    let m = std::fs::symlink_metadata("/dev/null").unwrap();
    assert!(m.file_type().is_char_device(), "host /dev/null: {m:?}");
    assert_eq!(m.rdev(), libc::makedev(1, 3));
}

#[test]
fn cp_refuses_planted_devices_and_fifos_and_never_writes_through_them() {
    let b = Session::new();
    let id = b.detach(&["--name", "victim", "busybox", "sleep", "1000"]);
    let dir = b.w.env.dir().to_path_buf();
    b.ok(&argv!(
        "exec victim sh -c {}",
        "mknod /tmp/null c 1 3 && mkfifo /tmp/fifo /tmp/src-fifo && mkdir /tmp/tree && \
         mknod /tmp/tree/null c 1 3 && mkfifo /tmp/tree/fifo"
    ));
    // The other ends of the FIFOs: a reader that would receive what cp wrote through them,
    // a writer that would feed a cp that read from one.
    for script in [
        "cat /tmp/fifo > /tmp/fifo.out",
        "cat /tmp/tree/fifo > /tmp/tree-fifo.out",
        "echo from-the-fifo > /tmp/src-fifo",
    ] {
        b.ok(&["exec", "-d", "victim", "sh", "-c", script]);
    }
    // The readers' shells are up once they have made their output files.
    until("the FIFO readers", || {
        b.berth(&argv!(
            "exec victim test -e /tmp/tree-fifo.out -a -e /tmp/fifo.out"
        ))
        .status
        .success()
        .then_some(())
    });
    std::fs::write(dir.join("in.txt"), "from the host\n").unwrap();
    let input = dir.join("in.txt");
    let input = input.to_str().unwrap();

    // host -> container, onto a planted device and a planted FIFO: refused, as Docker
    // refuses a device.
    let r = b
        .berth(&["cp", "--json", input, "victim:/tmp/null"])
        .fails_with(4);
    assert_eq!(
        r.error_line(),
        "berth-ctl: error: destination \"victim:/tmp/null\" must be a directory or a regular file: got a device"
    );
    let r = b
        .berth(&["cp", "--json", input, "victim:/tmp/fifo"])
        .fails_with(4);
    assert!(
        r.error_line()
            .ends_with("must be a directory or a regular file: got a FIFO"),
        "{}",
        r.stderr
    );
    // container -> host, from a planted device or FIFO: refused, nothing made on the host.
    for src in ["victim:/tmp/null", "victim:/tmp/src-fifo"] {
        let out = dir.join("out");
        let r = b
            .berth(&["cp", "--json", src, out.to_str().unwrap()])
            .fails_with(4);
        assert!(
            r.error_line()
                .contains("only directories, regular files and symbolic links"),
            "{}",
            r.stderr
        );
        assert!(!out.exists());
    }
    // Inside a copied tree the planted nodes are replaced by the host's files, not written
    // through: they are regular files now, and the FIFO's reader got nothing.
    std::fs::create_dir(dir.join("tree")).unwrap();
    std::fs::write(dir.join("tree/null"), "not into the device\n").unwrap();
    std::fs::write(dir.join("tree/fifo"), "not into the fifo\n").unwrap();
    b.ok(&["cp", dir.join("tree").to_str().unwrap(), "victim:/tmp/"]);
    assert_eq!(
        b.ok(&argv!(
            "exec victim sh -c {}",
            "test -f /tmp/tree/null && test -f /tmp/tree/fifo && cat /tmp/tree/null /tmp/tree/fifo; \
             test -p /tmp/fifo && test -c /tmp/null && cat /tmp/fifo.out /tmp/tree-fifo.out"
        )),
        "not into the device\nnot into the fifo\n"
    );
    assert_host_null_intact();

    // Ordinary cp still works both ways, over an existing file too.
    b.ok(&["cp", input, "victim:/tmp/plain.txt"]);
    b.ok(&["cp", input, "victim:/tmp/plain.txt"]);
    b.ok(&argv!(
        "cp victim:/tmp/plain.txt {}",
        dir.join("back.txt").to_str().unwrap()
    ));
    assert_eq!(
        std::fs::read_to_string(dir.join("back.txt")).unwrap(),
        "from the host\n"
    );
    // A running container's bind-mounted file is written in place (it cannot be unlinked).
    b.ok(&["cp", input, "victim:/etc/hosts"]);
    assert_eq!(
        b.ok(&["exec", "victim", "cat", "/etc/hosts"]),
        "from the host\n"
    );
    b.ok(&["rm", "-f", "victim"]);
    assert_host_null_intact();
    b.assert_clean(&[&id]);
}

#[test]
fn cp_resolves_planted_symlinks_inside_the_container() {
    let b = Session::new();
    let id = b.detach(&["--name", "victim", "busybox", "sleep", "1000"]);
    let dir = b.w.env.dir().to_path_buf();
    // A host directory the container's symlinks name: nothing may appear in it.
    let hostside = dir.join("hostside");
    std::fs::create_dir(&hostside).unwrap();
    std::fs::write(hostside.join("secret"), "host secret\n").unwrap();
    let before = tree(&hostside);
    let script = format!(
        "ln -s / /tmp/root && ln -s {h} /tmp/hostlink && ln -s ../../../../..{h}/secret /tmp/up",
        h = hostside.display()
    );
    b.ok(&["exec", "victim", "sh", "-c", &script]);
    std::fs::write(dir.join("in.txt"), "from the host\n").unwrap();
    let input = dir.join("in.txt");
    let input = input.to_str().unwrap();

    // Into a symlink to /: the container's own root.
    b.ok(&["cp", input, "victim:/tmp/root/escaped.txt"]);
    assert_eq!(
        b.ok(&["exec", "victim", "cat", "/escaped.txt"]),
        "from the host\n"
    );
    // Into a symlink naming a host directory: that path inside the container, which does not
    // exist there. Not the host's.
    let r = b
        .berth(&["cp", "--json", input, "victim:/tmp/hostlink/escaped.txt"])
        .fails_with(3);
    assert!(
        r.error_line().contains("no such file or directory"),
        "{}",
        r.stderr
    );
    // Out of the container through symlinks to a host file, with -L: not found inside.
    for src in ["victim:/tmp/hostlink/secret", "victim:/tmp/up"] {
        let out = dir.join("stolen");
        b.berth(&["cp", "--json", "-L", src, out.to_str().unwrap()])
            .fails_with(3);
        assert!(!out.exists(), "{src} reached the host's file");
    }
    // Without -L the link itself is copied, as Docker does.
    b.ok(&argv!(
        "cp victim:/tmp/hostlink {}",
        dir.join("link").to_str().unwrap()
    ));
    assert_eq!(std::fs::read_link(dir.join("link")).unwrap(), hostside);
    assert_eq!(tree(&hostside), before);
    b.ok(&["rm", "-f", "victim"]);
    b.assert_clean(&[&id]);
}

#[test]
fn cp_still_copies_streams_links_fifos_and_owners_into_running_and_stopped_containers() {
    let b = Session::new();
    let id = b.detach(&["--name", "box", "busybox", "sleep", "1000"]);
    let dir = b.w.env.dir().to_path_buf();
    // A tar stream on stdin: a file owned by 1000, a symlink, a hard link, a FIFO.
    let owned = Meta {
        uid: 1000,
        gid: 1000,
        ..Meta::default()
    };
    let stream = tar(|t| {
        t.dir("d", 0o755);
        t.file_meta(b"d/f", &owned, &[], b"content\n");
        t.symlink("d/l", "f");
        t.hardlink("d/h", "d/f");
        t.raw(
            tar::EntryType::Fifo,
            b"d/p",
            None,
            &Meta::default(),
            &[],
            b"",
        );
    });
    b.ok(&["exec", "box", "mkdir", "/in", "/kept"]);
    b.berth_in(&["cp", "-", "box:/in"], &stream).success();
    b.berth_in(&["cp", "-a", "-", "box:/kept"], &stream)
        .success();
    let check = "cd /in/d && cat l h && test -p p && stat -c %u:%h f && stat -c %u /kept/d/f";
    assert_eq!(
        b.ok(&["exec", "box", "sh", "-c", check]),
        "content\ncontent\n0:2\n1000\n"
    );
    // Out of the container, a tree with the same kinds; -L follows a link inside it.
    b.ok(&["cp", "box:/in/d", dir.join("out").to_str().unwrap()]);
    let out = dir.join("out");
    assert_eq!(std::fs::read_link(out.join("l")).unwrap(), Path::new("f"));
    assert_eq!(std::fs::read_to_string(out.join("h")).unwrap(), "content\n");
    assert_eq!(std::fs::metadata(out.join("h")).unwrap().nlink(), 2);
    assert!(
        std::fs::symlink_metadata(out.join("p"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    b.ok(&argv!(
        "cp -L box:/in/d/l {}",
        dir.join("followed").to_str().unwrap()
    ));
    assert_eq!(
        std::fs::read_to_string(dir.join("followed")).unwrap(),
        "content\n"
    );
    // A device node inside a tree is not made on the host.
    b.ok(&argv!(
        "exec box sh -c 'mkdir /devs && mknod /devs/null c 1 3'"
    ));
    let r = b
        .berth(&[
            "cp",
            "--json",
            "box:/devs",
            dir.join("devs").to_str().unwrap(),
        ])
        .fails_with(106);
    assert!(
        r.error_line()
            .contains("refusing to create the device node devs/null on the host"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("devs/null").exists());
    // Into a stopped container, over a file of its image.
    b.ok(&["stop", "-t", "0", "box"]);
    std::fs::write(dir.join("passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
    b.ok(&argv!(
        "cp {} box:/etc/passwd",
        dir.join("passwd").to_str().unwrap()
    ));
    b.ok(&["start", "box"]);
    assert_eq!(
        b.ok(&["exec", "box", "cat", "/etc/passwd"]),
        "root:x:0:0::/root:/bin/sh\n"
    );
    b.ok(&["rm", "-f", "box"]);
    b.assert_clean(&[&id]);
}

/// An image made of busybox and `extra`, named `name`, with `config` as its config.
fn image(b: &Session, name: &str, extra: &[u8], config: serde_json::Value) {
    put_image(
        &b.w.env,
        name,
        &[Layer::gz(&busybox_tar()), Layer::gz(extra)],
        config,
    );
}

#[test]
fn a_symlink_chain_in_the_image_fails_the_run_and_touches_nothing_on_the_host() {
    let b = Session::new();
    let dir = b.w.env.dir().to_path_buf();
    let hostside = dir.join("hostside");
    std::fs::create_dir(&hostside).unwrap();
    // c0 -> c1 -> ... -> c50 -> HOSTSIDE: 51 links, more than the kernel follows (40). The
    // old resolver gave up at 40 and let mkdir and mount(2) follow the rest on the host.
    let layer = tar(|t| {
        for i in 0..50 {
            t.symlink(&format!("c{i}"), &format!("c{}", i + 1));
        }
        t.symlink("c50", hostside.to_str().unwrap());
    });
    image(&b, "chain:latest", &layer, json!({"Cmd": ["true"]}));
    image(
        &b,
        "chainvol:latest",
        &layer,
        json!({"Cmd": ["true"], "Volumes": {"/c0/data": {}}}),
    );
    let vol = dir.join("vol");
    std::fs::create_dir(&vol).unwrap();
    let before = tree(&dir);
    let bind = format!("{}:/c0/data", vol.display());
    for args in [
        vec!["run", "--rm", "-v", &bind, "chain"],
        vec!["run", "--rm", "--tmpfs", "/c0/data", "chain"],
        vec!["run", "--rm", "--device", "/dev/null:/c0/null", "chain"],
        vec!["run", "--rm", "chainvol"],
    ] {
        let r = b.berth(&args);
        // First what the attack did: the old resolver made a directory, or a device node,
        // in HOSTSIDE on the host.
        assert_eq!(tree(&hostside), Vec::<PathBuf>::new(), "{args:?}");
        let r = r.fails_with(125);
        let line = r.error_line();
        assert!(
            line.contains("/c0/") && line.contains("symbolic links"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // Nothing new anywhere in the test's directory but the store's own state.
    let after: Vec<PathBuf> = tree(&dir)
        .into_iter()
        .filter(|p| !p.starts_with(b.root()) && !p.starts_with(&b.w.env.run))
        .collect();
    let before: Vec<PathBuf> = before
        .into_iter()
        .filter(|p| !p.starts_with(b.root()) && !p.starts_with(&b.w.env.run))
        .collect();
    assert_eq!(after, before);
    assert_host_null_intact();
    b.ok(&["volume", "prune", "-f"]);
    b.assert_clean(&[]);
}

#[test]
fn symlinks_out_of_the_root_keep_mounts_inside_it() {
    let b = Session::new();
    let dir = b.w.env.dir().to_path_buf();
    let hostside = dir.join("hostside");
    std::fs::create_dir(&hostside).unwrap();
    let gone = dir.join("gone");
    std::fs::create_dir(&gone).unwrap();
    // /out names the host directory absolutely, /up by climbing; the image has that path
    // too, so both resolve there, inside its root. /gone names a path the image lacks.
    let inner = hostside
        .strip_prefix("/")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let layer = tar(|t| {
        let mut p = String::new();
        for part in inner.split('/') {
            p = if p.is_empty() {
                part.into()
            } else {
                format!("{p}/{part}")
            };
            t.dir(&p, 0o755);
        }
        t.symlink("out", hostside.to_str().unwrap());
        t.symlink("up", &format!("../../../../../../{inner}"));
        t.symlink("gone", gone.to_str().unwrap());
    });
    image(&b, "outward:latest", &layer, json!({"Cmd": ["sh"]}));
    let vol = dir.join("vol");
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(vol.join("marker"), "in the volume\n").unwrap();
    for dest in ["/out/data", "/up/data"] {
        let bind = format!("{}:{dest}", vol.display());
        let out = b.ok(&argv!(
            "run --rm -v {} outward sh -c {}",
            &bind,
            &format!("cat {dest}/marker {}/data/marker", hostside.display())
        ));
        assert_eq!(out, "in the volume\nin the volume\n", "{dest}");
    }
    let bind = format!("{}:/gone/data", vol.display());
    let r = b
        .berth(&["run", "--rm", "-v", &bind, "outward", "true"])
        .fails_with(125);
    assert!(
        r.error_line().contains("/gone/data")
            && r.error_line().contains("symlink to a missing directory"),
        "{}",
        r.stderr
    );
    assert_eq!(tree(&hostside), Vec::<PathBuf>::new());
    assert_eq!(tree(&gone), Vec::<PathBuf>::new());
    b.assert_clean(&[]);
}

/// The mounts at or under /sys in a container's mountinfo: (mount point, options, fs type).
fn sys_mounts(mountinfo: &str) -> Vec<(String, String, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            let point = f.get(4)?.to_string();
            if point != "/sys" && !point.starts_with("/sys/") {
                return None;
            }
            Some((point, f.get(5)?.to_string(), f.get(sep + 1)?.to_string()))
        })
        .collect()
}

#[test]
fn sysfs_is_the_containers_own_and_the_hosts_only_read_only() {
    let b = Session::new();
    let list = |extra: &[&str]| {
        let mut a = vec!["run", "--rm"];
        a.extend_from_slice(extra);
        a.extend_from_slice(&[
            "busybox",
            "sh",
            "-c",
            "ls /sys/class/net; echo --; cat /proc/self/mountinfo",
        ]);
        let out = b.ok(&a);
        let (ls, mi) = out.split_once("--\n").unwrap();
        (ls.to_string(), sys_mounts(mi))
    };
    // A fresh sysfs is one mount at /sys, none of the host's submounts (its cgroup
    // hierarchies, tracefs...) under it; the only mounts below are berth's cgroup view.
    let fresh = |what: &str, mounts: &[(String, String, String)]| {
        let sys: Vec<_> = mounts.iter().filter(|m| m.0 == "/sys").collect();
        assert_eq!(sys.len(), 1, "{what}: {mounts:?}");
        assert_eq!(sys[0].2, "sysfs", "{what}");
        assert!(sys[0].1.split(',').any(|o| o == "ro"), "{what}: {mounts:?}");
        let views = mounts.iter().filter(|m| m.0 == "/sys/fs/cgroup").count();
        assert_eq!(views, 1, "{what}: host submounts under /sys: {mounts:?}");
        assert!(
            !mounts
                .iter()
                .any(|m| ["tracefs", "debugfs", "securityfs"].contains(&m.2.as_str())),
            "{what}: {mounts:?}"
        );
    };
    // The default bridge: berth-netns's namespace, joined by path.
    let (ls, mounts) = list(&[]);
    assert_eq!(ls, "eth0\nlo\n");
    fresh("bridge", &mounts);
    let (ls, mounts) = list(&["--network", "none"]);
    assert_eq!(ls, "lo\n");
    fresh("none", &mounts);
    let id = b.detach(&["--name", "netowner", "busybox", "sleep", "1000"]);
    let (ls, mounts) = list(&["--network", "container:netowner"]);
    assert_eq!(ls, "eth0\nlo\n");
    fresh("container:", &mounts);
    b.ok(&["rm", "-f", "netowner"]);
    // The host's network: the host's /sys, every mount of it read-only.
    // Other tests' interfaces come and go: compare with those the host had before and after.
    let host = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let before = host();
    let (ls, mounts) = list(&["--network", "host"]);
    let after = host();
    let seen: Vec<&str> = ls.lines().collect();
    for name in before.iter().filter(|n| after.contains(n)) {
        assert!(seen.contains(&name.as_str()), "{name} missing: {seen:?}");
    }
    assert!(mounts.len() > 1, "{mounts:?}");
    for m in &mounts {
        assert!(
            m.1.split(',').any(|o| o == "ro"),
            "writable under /sys: {m:?}"
        );
    }
    b.assert_clean(&[&id]);
}

/// runc's proc-safety rule (`checkProcMount`): only a procfs goes on /proc, and inside it only
/// the files lxcfs emulates. An image's `VOLUME /proc` (whose anonymous volume would take the
/// image's own files under /proc: a fake `/proc/self/...` for everything that walks it later),
/// a `-v DIR:/proc`, a tmpfs on /proc/sys, and a volume on an image's symlink that leads to
/// /proc or into it all fail the run with 125 and leave nothing, the anonymous volume
/// included; an lxcfs-style file still mounts.
#[test]
fn nothing_but_a_procfs_goes_on_proc_and_only_lxcfs_files_inside_it() {
    let b = Session::new();
    let layer = tar(|t| {
        t.dir("proc/self", 0o755);
        t.file("proc/self/status", b"Name:\tfake\n");
        t.symlink("p", "/proc");
        t.symlink("s", "proc/sys");
    });
    let volume = json!({"Cmd": ["cat", "/proc/self/status"], "Volumes": {"/proc": {}}});
    image(&b, "fakeproc:latest", &layer, volume);
    image(&b, "procln:latest", &layer, json!({"Cmd": ["true"]}));
    let dir = b.w.env.dir().join("fake");
    std::fs::create_dir(&dir).unwrap();
    let on = |dest: &str| format!("{}:{dest}", dir.display());
    for (args, says) in [
        (
            vec!["run", "--rm", "fakeproc"],
            "/proc because it is not of type proc",
        ),
        (
            vec!["run", "--rm", "-v", &on("/proc"), "procln"],
            "/proc because it is not of type proc",
        ),
        (
            vec!["run", "--rm", "--tmpfs", "/proc/sys", "procln"],
            "/proc/sys cannot be mounted because it is inside /proc",
        ),
        (
            vec!["run", "--rm", "-v", &on("/p"), "procln"],
            "/p (which leads to /proc) because it is not of type proc",
        ),
        (
            vec!["run", "--rm", "-v", &on("/s"), "procln"],
            "/s (which leads to /proc/sys) cannot be mounted because it is inside /proc",
        ),
    ] {
        let r = b.berth(&args).fails_with(125);
        assert!(r.error_line().contains(says), "{args:?}: {}", r.stderr);
    }
    assert_eq!(b.ok(&["volume", "ls", "-q"]), "");
    let uptime = dir.join("uptime");
    std::fs::write(&uptime, "12.00 34.00\n").unwrap();
    let lxcfs = format!("{}:/proc/uptime:ro", uptime.display());
    let run = ["run", "--rm", "-v", &lxcfs, "procln", "cat", "/proc/uptime"];
    assert_eq!(b.ok(&run), "12.00 34.00\n");
    b.assert_clean(&[]);
}
