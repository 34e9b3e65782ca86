//! `USER` / `-u` resolved against the container's own `/etc/passwd` and `/etc/group`, with
//! the rules of runc's `libcontainer/user.GetExecUser` (which Docker follows):
//!
//! - `name` or `uid`, optionally `:group` or `:gid`; empty means root;
//! - a numeric uid or gid need not exist in the files; a name must;
//! - without an explicit group, the gid is the passwd entry's and the supplementary groups
//!   are every group that lists the user as a member;
//! - HOME is the passwd entry's home, or `/`.
//!
//! The files are read through the container's root by descriptor (openat2
//! `RESOLVE_IN_ROOT`, `confine::Root`): a symlinked `/etc/passwd` pointing at the host's
//! is read as the container's, never the host's. berth reads them as the host's root, outside
//! the container's device cgroup, so only a regular file is read: a FIFO planted there would
//! hang the caller, a device node (an image can carry one, a container can make one) would be
//! read on the host, and a kernel file (procfs, sysfs) would show the host's view.

use std::io::Read;
use std::path::Path;

use rustix::fs::OFlags;

use crate::confine::Root;

/// Bound on how much of /etc/passwd or /etc/group is read.
const MAX_FILE: u64 = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `spec` (`user[:group]`) inside `rootfs` (an image's tree, no mount crossed). The
/// error is a sentence for the user.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser, String> {
    let root = Root::open(rootfs).map_err(|e| format!("cannot open {}: {e}", rootfs.display()))?;
    resolve_at(&root, spec)
}

/// Resolves `spec` inside `root`, already open (a running container's, with its mounts:
/// `-v /srv/passwd:/etc/passwd` is what its processes see).
pub fn resolve_at(root: &Root, spec: &str) -> Result<ResolvedUser, String> {
    let passwd = read_file(root, b"etc/passwd")?;
    let group = read_file(root, b"etc/group")?;
    resolve_in(spec, &parse_passwd(&passwd), &parse_group(&group))
}

/// The file at `path` inside `root`; empty if it does not exist (runc's rule: a numeric user
/// needs no passwd file). Only a regular file, not on procfs or sysfs, is read (module docs).
fn read_file(root: &Root, path: &[u8]) -> Result<String, String> {
    let shown = format!("/{}", String::from_utf8_lossy(path));
    let fail = |e: &dyn std::fmt::Display| format!("cannot read {shown} in the container: {e}");
    let fd = match root.open_at(path, OFlags::PATH) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(String::new()),
        Err(e) => return Err(fail(&e)),
    };
    let st = rustix::fs::fstat(&fd).map_err(|e| fail(&e))?;
    let kind = rustix::fs::FileType::from_raw_mode(st.st_mode);
    if kind != rustix::fs::FileType::RegularFile {
        let what = match kind {
            rustix::fs::FileType::Directory => "a directory",
            _ => crate::confine::special_kind(&st).unwrap_or("an irregular file"),
        };
        return Err(fail(&format!("it is {what}, not a regular file")));
    }
    let fs = rustix::fs::fstatfs(&fd).map_err(|e| fail(&e))?.f_type;
    if fs == rustix::fs::PROC_SUPER_MAGIC || fs == SYSFS_MAGIC {
        return Err(fail(&"it is a kernel file, not a regular file"));
    }
    // The same inode, now open for reading: nothing swapped in since the check is opened.
    let f = crate::confine::reopen(&fd, OFlags::RDONLY).map_err(|e| fail(&e))?;
    let mut s = Vec::new();
    std::fs::File::from(f)
        .take(MAX_FILE)
        .read_to_end(&mut s)
        .map_err(|e| fail(&e))?;
    Ok(String::from_utf8_lossy(&s).into_owned())
}

/// sysfs's `f_type` (linux/magic.h).
const SYSFS_MAGIC: rustix::fs::FsWord = 0x6265_6572;

fn parse_passwd(s: &str) -> Vec<Passwd> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(Passwd {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|h| h.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

fn parse_group(s: &str) -> Vec<Group> {
    s.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(Group {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .map(str::trim)
                            .filter(|m| !m.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn resolve_in(spec: &str, passwd: &[Passwd], groups: &[Group]) -> Result<ResolvedUser, String> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // No user means root, looked up like any other (for HOME and root's groups).
    let user_arg = if user_arg.is_empty() { "0" } else { user_arg };
    let mut out = ResolvedUser {
        home: "/".into(),
        ..Default::default()
    };
    let numeric = user_arg.parse::<u32>().ok();
    let matched = passwd
        .iter()
        .find(|p| numeric.map_or(p.name == user_arg, |n| p.uid == n));
    {
        match (matched, numeric) {
            (Some(p), _) => {
                out.uid = p.uid;
                out.gid = p.gid;
                if !p.home.is_empty() {
                    out.home = p.home.clone();
                }
            }
            (None, Some(n)) => out.uid = n,
            (None, None) => {
                return Err(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                ));
            }
        }
    }
    match group_arg.filter(|g| !g.is_empty()) {
        Some(g) => {
            let numeric = g.parse::<u32>().ok();
            let found = groups
                .iter()
                .find(|e| numeric.map_or(e.name == g, |n| e.gid == n));
            out.gid = match (found, numeric) {
                (Some(e), _) => e.gid,
                (None, Some(n)) => n,
                (None, None) => {
                    return Err(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ));
                }
            };
        }
        None => {
            if let Some(p) = matched {
                for e in groups.iter().filter(|e| e.members.contains(&p.name)) {
                    if e.gid != out.gid && !out.additional_gids.contains(&e.gid) {
                        out.additional_gids.push(e.gid);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// `--group-add`: each group as a gid, numbers as they are and names looked up in the
/// container's /etc/group inside `root` (runc's `GetAdditionalGroups`, which Docker uses).
/// `root` may be `None` when every group is a number.
pub fn group_ids(root: Option<&Root>, groups: &[String]) -> Result<Vec<u32>, String> {
    let entries = match root {
        Some(r) => parse_group(&read_file(r, b"etc/group")?),
        None => vec![],
    };
    additional_gids(groups, &entries)
}

fn additional_gids(groups: &[String], entries: &[Group]) -> Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for g in groups {
        let gid = match entries.iter().find(|e| e.name == *g) {
            Some(e) => e.gid,
            None => g.parse::<u32>().map_err(|_| {
                format!("unable to find group {g}: no matching entries in group file")
            })?,
        };
        if !out.contains(&gid) {
            out.push(gid);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_groups_by_name_or_number() {
        let g = parse_group(GROUP);
        let ids =
            |v: &[&str]| additional_gids(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &g);
        assert_eq!(
            ids(&["audio", "4242", "wheel", "29"]).unwrap(),
            [29, 4242, 10]
        );
        assert!(
            ids(&["nogroup"])
                .unwrap_err()
                .contains("unable to find group nogroup")
        );
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nweb:x:1000:\nwheel:x:10:web,other\naudio:x:29:web\n";

    fn r(spec: &str) -> Result<ResolvedUser, String> {
        resolve_in(spec, &parse_passwd(PASSWD), &parse_group(GROUP))
    }

    #[test]
    fn users_groups_and_supplementary_groups() {
        assert_eq!(r("").unwrap().uid, 0);
        assert_eq!(r("").unwrap().home, "/root");
        assert_eq!(resolve_in("", &[], &[]).unwrap().home, "/");
        let web = r("web").unwrap();
        assert_eq!((web.uid, web.gid), (1000, 1000));
        assert_eq!(web.additional_gids, vec![10, 29]);
        assert_eq!(web.home, "/home/web");
        assert_eq!(r("1000").unwrap().home, "/home/web");
        let n = r("4242:4343").unwrap();
        assert_eq!((n.uid, n.gid, n.home.as_str()), (4242, 4343, "/"));
        let g = r("web:wheel").unwrap();
        assert_eq!((g.gid, g.additional_gids.len()), (10, 0));
        assert!(
            r("nobody")
                .unwrap_err()
                .contains("no matching entries in passwd")
        );
        assert!(r("web:nogroup").unwrap_err().contains("group file"));
    }

    #[test]
    fn only_the_containers_own_regular_files_are_read() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let host = d.path().join("host-passwd");
        std::fs::write(&host, "leak:x:4242:4242::/:/bin/sh\n").unwrap();
        let rootfs = d.path().join("rootfs");
        let etc = rootfs.join("etc");
        std::fs::create_dir_all(&etc).unwrap();
        // An absolute symlink to the host's file is the container's /host-passwd: missing.
        symlink(&host, etc.join("passwd")).unwrap();
        assert!(
            resolve(&rootfs, "leak")
                .unwrap_err()
                .contains("no matching entries")
        );
        assert_eq!(resolve(&rootfs, "7").unwrap().uid, 7);
        // A FIFO is refused at once (opening it to read would wait for a writer).
        std::fs::remove_file(etc.join("passwd")).unwrap();
        nix::unistd::mkfifo(
            &etc.join("passwd"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
        let e = resolve(&rootfs, "7").unwrap_err();
        assert_eq!(
            e,
            "cannot read /etc/passwd in the container: it is a FIFO, not a regular file"
        );
        // So is a device node (here /dev/null's numbers), and a directory.
        std::fs::remove_file(etc.join("passwd")).unwrap();
        nix::sys::stat::mknod(
            &etc.join("passwd"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o644),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        assert!(
            resolve(&rootfs, "root")
                .unwrap_err()
                .contains("it is a device")
        );
        std::fs::remove_file(etc.join("passwd")).unwrap();
        std::fs::create_dir(etc.join("passwd")).unwrap();
        assert!(
            resolve(&rootfs, "root")
                .unwrap_err()
                .contains("it is a directory")
        );
        // The real thing, through a relative symlink, and a group file that is missing.
        std::fs::remove_dir(etc.join("passwd")).unwrap();
        std::fs::write(etc.join("passwd.real"), PASSWD).unwrap();
        symlink("passwd.real", etc.join("passwd")).unwrap();
        let web = resolve(&rootfs, "web").unwrap();
        assert_eq!(
            (web.uid, web.gid, web.home.as_str()),
            (1000, 1000, "/home/web")
        );
    }
}
