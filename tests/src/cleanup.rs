//! Teardown of everything a test may have left under its temporary directory: processes whose
//! root, cwd or environment point into it, then every mount beneath it (deepest first), then
//! the files; and a test's cgroup parent. Each step carries on past failures, so one stuck
//! piece never hides the rest.

use std::fs;
use std::path::{Path, PathBuf};

/// Kills processes tied to `dir`, unmounts everything under it, and deletes it.
pub fn tear_down(dir: &Path) {
    kill_processes_under(dir);
    unmount_under(dir);
    let _ = fs::remove_dir_all(dir);
}

/// SIGKILLs every process whose root or cwd is inside `dir`, or whose environment names
/// `dir` (monitors started by the tools under test inherit BERTH_ROOT). Repeats until none is
/// left, since a dying monitor may restart a container.
pub fn kill_processes_under(dir: &Path) {
    let me = std::process::id();
    let needle = dir.as_os_str().as_encoded_bytes().to_vec();
    for _round in 0..20 {
        let mut found = 0;
        let Ok(procs) = fs::read_dir("/proc") else {
            return;
        };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == me {
                continue;
            }
            let ours = ["root", "cwd"]
                .iter()
                .any(|l| fs::read_link(p.path().join(l)).is_ok_and(|t| t.starts_with(dir)))
                || fs::read(p.path().join("environ"))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_slice()));
            if ours {
                found += 1;
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        if found == 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Lazily unmounts every mount point under `dir`, deepest first.
pub fn unmount_under(dir: &Path) {
    for _round in 0..5 {
        let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(unescape)
            .filter(|p| Path::new(p).starts_with(dir))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        for p in points {
            let _ = nix::mount::umount2(p.as_str(), nix::mount::MntFlags::MNT_DETACH);
        }
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            let v = u8::from_str_radix(&s[i + 1..i + 4], 8).unwrap_or(b'?');
            out.push(v as char);
            i += 4;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every directory of the cgroup `parent` (relative to each hierarchy's root) and below it, in
/// every hierarchy.
pub fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let mut stack = vec![h.path().join(parent)];
        while let Some(d) = stack.pop() {
            if let Ok(rd) = fs::read_dir(&d) {
                out.push(d.clone());
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
        }
    }
    out
}

/// Removes a test's cgroup parent (`TestEnv::cgroup`) in every hierarchy: kills what is still
/// in it, thaws it, and removes its directories deepest first; then the shared `berth-test`
/// parent, once the last test's are gone.
pub fn remove_cgroups(parent: &str) {
    let mut dirs = cgroup_dirs(parent);
    for d in &dirs {
        if let Ok(procs) = fs::read_to_string(d.join("cgroup.procs")) {
            for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = fs::write(d.join("freezer.state"), "THAWED");
    }
    // conmon (podman's monitor, in spawn_oci) makes its `conmon` cgroup under every
    // controller's path it knows, also where nothing is mounted (this hybrid host's hugetlb
    // lives in v2): plain directories on /sys/fs/cgroup's tmpfs, with a `tasks` file in them.
    // They are this test's too.
    dirs.retain(|d| {
        let plain = nix::sys::statfs::statfs(d.as_path())
            .is_ok_and(|f| f.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
        if plain {
            let _ = fs::remove_dir_all(d);
        }
        !plain
    });
    dirs.sort_by_key(|d| std::cmp::Reverse(d.as_os_str().len()));
    for _ in 0..50 {
        dirs.retain(|d| fs::remove_dir(d).is_err() && d.exists());
        if dirs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for h in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = fs::remove_dir(h.path().join("berth-test"));
    }
}
