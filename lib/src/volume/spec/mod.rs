//! Docker's mount flags, parsed into [`Request`]s before anything is created: `-v/--volume`
//! (moby `volume/mounts/linux_parser.go` rules), `--mount` (docker/cli `opts/mount.go`: one
//! CSV record of `key=value` fields), `--tmpfs` and `--volumes-from`.
//!
//! Parsing is pure: it never looks at the filesystem or the store, so every malformed flag is
//! refused before the stage makes anything.
//!
//! `-v`, `--tmpfs` and `--volumes-from` are here; `--mount`, with its CSV fields, in `mount`.

use std::path::PathBuf;

use crate::volume::{Result, VolumeError};

mod mount;

pub use mount::parse_mount;

/// Where a mount definition came from (the record's `origin`).
pub const ORIGIN_VOLUME: &str = "-v";
pub const ORIGIN_MOUNT: &str = "--mount";
pub const ORIGIN_TMPFS: &str = "--tmpfs";
pub const ORIGIN_IMAGE: &str = "image";
pub const ORIGIN_FROM: &str = "volumes-from:";

/// One mount the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub kind: RequestKind,
    /// Absolute and clean (`path.Clean`), never `/`.
    pub destination: String,
    pub rw: bool,
    /// Docker's `Mode` as `inspect` shows it.
    pub mode: String,
    /// Bind propagation (`rprivate` unless given); empty for volumes and tmpfs.
    pub propagation: String,
    pub origin: &'static str,
    /// The flag's value as typed.
    pub spec: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// A host path. `-v` creates a missing directory; `--mount` refuses it.
    Bind {
        source: PathBuf,
        create_missing: bool,
        recursive: bool,
    },
    /// A named volume, created when missing; `copy` seeds it from the image when empty.
    Named {
        name: String,
        copy: bool,
        labels: Vec<(String, String)>,
    },
    /// A new volume with a generated 64-hex name.
    Anonymous {
        copy: bool,
        labels: Vec<(String, String)>,
    },
    /// A tmpfs with mount(8) options (`size=64m`, `mode=1777`, `exec`...).
    Tmpfs { options: Vec<String> },
}

/// `--volumes-from NAME[:ro|rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub container: String,
    pub rw: bool,
    pub spec: String,
}

fn bad(msg: String) -> VolumeError {
    VolumeError::BadSpec(msg)
}

/// A relative host path made absolute against the current directory (Go's `filepath.Abs`).
pub fn from_cwd(p: &str) -> Result<String> {
    let cwd = std::env::current_dir().map_err(|e| {
        bad(format!(
            "cannot resolve {p:?} against the current directory: {e}"
        ))
    })?;
    let joined = format!("{}/{p}", cwd.display());
    Ok(clean_destination(&joined).unwrap_or(joined))
}

/// Go's `path.Clean` for an absolute container path; `None` if `p` is not absolute.
pub fn clean_destination(p: &str) -> Option<String> {
    if !p.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

fn destination(raw: &str, what: &str, dest: &str) -> Result<String> {
    match clean_destination(dest) {
        None => Err(bad(format!(
            "invalid {what} {raw:?}: the container path {dest:?} must be absolute"
        ))),
        Some(d) if d == "/" => Err(bad(format!(
            "invalid {what} {raw:?}: the container path cannot be \"/\""
        ))),
        Some(d) => Ok(d),
    }
}

/// Docker's local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn valid_volume_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

/// The parts of a `-v` mode (`ro,z,rslave,nocopy`), each category at most once.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Mode {
    rw: Option<bool>,
    propagation: Option<String>,
    nocopy: bool,
}

fn parse_mode(mode: &str) -> Option<Mode> {
    let mut m = Mode::default();
    let (mut label, mut copy, mut consistency) = (false, false, false);
    if mode.is_empty() {
        return Some(m);
    }
    for o in mode.split(',') {
        let seen = match o {
            "rw" | "ro" => m.rw.replace(o == "rw").is_some(),
            "z" | "Z" => std::mem::replace(&mut label, true),
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                m.propagation.replace(o.to_string()).is_some()
            }
            "nocopy" => {
                m.nocopy = true;
                std::mem::replace(&mut copy, true)
            }
            "consistent" | "cached" | "delegated" => std::mem::replace(&mut consistency, true),
            _ => return None,
        };
        if seen {
            return None;
        }
    }
    Some(m)
}

/// `-v` / `--volume`: `/dest`, `NAME:/dest[:MODE]`, or `/host:/dest[:MODE]`.
pub fn parse_volume(raw: &str) -> Result<Request> {
    let invalid = |why: &str| bad(format!("invalid volume specification {raw:?}: {why}"));
    let parts: Vec<&str> = raw.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid("empty section between colons"));
    }
    let (source, dest, mode) = match parts.as_slice() {
        [d] => (None, *d, ""),
        [s, d] => {
            if parse_mode(d).is_some() {
                return Err(invalid(
                    "a mode needs a source (NAME:/path:MODE or /host:/path:MODE; -v /path makes an anonymous volume)",
                ));
            }
            (Some(*s), *d, "")
        }
        [s, d, m] => (Some(*s), *d, *m),
        _ => return Err(invalid("too many colons")),
    };
    // The Docker CLI's rule: a source starting with `.` is a path, made absolute against the
    // current directory (`./data`, `..`, `.`); `~` and other relative names are not.
    let absolute;
    let source = match source {
        Some(s) if s.starts_with('.') => {
            absolute = from_cwd(s)?;
            Some(absolute.as_str())
        }
        other => other,
    };
    let Some(m) = parse_mode(mode) else {
        return Err(invalid(&format!("invalid mode {mode:?}")));
    };
    let destination = destination(raw, "volume specification", dest)?;
    let rw = m.rw.unwrap_or(true);
    let (kind, mode, propagation) = match source {
        None => (
            RequestKind::Anonymous {
                copy: true,
                labels: vec![],
            },
            String::new(),
            String::new(),
        ),
        Some(s) if s.starts_with('/') => {
            if m.nocopy {
                return Err(invalid("nocopy applies to volumes, not to bind mounts"));
            }
            let clean = clean_destination(s).unwrap_or_else(|| s.to_string());
            (
                RequestKind::Bind {
                    source: PathBuf::from(clean),
                    create_missing: true,
                    recursive: true,
                },
                mode.to_string(),
                m.propagation.unwrap_or_else(|| "rprivate".into()),
            )
        }
        Some(s) if valid_volume_name(s) => {
            if m.propagation.is_some() {
                return Err(invalid(
                    "propagation modes apply to bind mounts, not to volumes",
                ));
            }
            // moby's setBindModeIfNull: a named volume with no mode shows `z`.
            let mode = if mode.is_empty() { "z" } else { mode };
            (
                RequestKind::Named {
                    name: s.to_string(),
                    copy: !m.nocopy,
                    labels: vec![],
                },
                mode.to_string(),
                String::new(),
            )
        }
        Some(s) if s.contains('/') || s.starts_with('.') || s.starts_with('~') => {
            return Err(VolumeError::RelativeHostPath {
                spec: raw.to_string(),
                path: s.to_string(),
            });
        }
        Some(s) => return Err(VolumeError::InvalidName(s.to_string())),
    };
    Ok(Request {
        kind,
        destination,
        rw,
        mode,
        propagation,
        origin: ORIGIN_VOLUME,
        spec: raw.to_string(),
    })
}

/// mount(8) options a tmpfs accepts (flags, and tmpfs(5)'s own), plus Docker's
/// `tmpcopyup`/`notmpcopyup` markers.
fn valid_tmpfs_option(o: &str) -> bool {
    const FLAGS: &[&str] = &[
        "rw",
        "ro",
        "exec",
        "noexec",
        "suid",
        "nosuid",
        "dev",
        "nodev",
        "sync",
        "async",
        "dirsync",
        "atime",
        "noatime",
        "diratime",
        "nodiratime",
        "relatime",
        "norelatime",
        "strictatime",
        "nostrictatime",
        "mand",
        "nomand",
        "tmpcopyup",
        "notmpcopyup",
    ];
    const DATA: &[&str] = &[
        "size",
        "mode",
        "uid",
        "gid",
        "nr_inodes",
        "nr_blocks",
        "mpol",
        "huge",
    ];
    match o.split_once('=') {
        None => FLAGS.contains(&o),
        Some((k, v)) => DATA.contains(&k) && !v.is_empty(),
    }
}

/// `--tmpfs /path[:OPTIONS]`.
pub fn parse_tmpfs(raw: &str) -> Result<Request> {
    let (dest, opts) = raw.split_once(':').unwrap_or((raw, ""));
    let destination = destination(raw, "--tmpfs", dest)?;
    let options: Vec<String> = opts
        .split(',')
        .filter(|o| !o.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(o) = options.iter().find(|o| !valid_tmpfs_option(o)) {
        return Err(bad(format!(
            "invalid --tmpfs {raw:?}: unknown tmpfs option {o:?}"
        )));
    }
    let rw = options
        .iter()
        .rev()
        .find(|o| *o == "ro" || *o == "rw")
        .is_none_or(|o| o == "rw");
    Ok(Request {
        kind: RequestKind::Tmpfs { options },
        destination,
        rw,
        mode: String::new(),
        propagation: String::new(),
        origin: ORIGIN_TMPFS,
        spec: raw.to_string(),
    })
}

/// `--volumes-from NAME[:ro|rw]`.
pub fn parse_volumes_from(raw: &str) -> Result<VolumesFrom> {
    let (container, mode) = raw.split_once(':').unwrap_or((raw, ""));
    if container.is_empty() {
        return Err(bad(format!(
            "invalid --volumes-from {raw:?}: a container name or id is required"
        )));
    }
    let m = parse_mode(mode)
        .filter(|m| m.propagation.is_none() && !m.nocopy)
        .ok_or_else(|| {
            bad(format!(
                "invalid --volumes-from {raw:?}: mode must be ro or rw, not {mode:?}"
            ))
        })?;
    Ok(VolumesFrom {
        container: container.to_string(),
        rw: m.rw.unwrap_or(true),
        spec: raw.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Code, Coded};

    /// The code of a parse that must fail (shared with `mount`'s tests).
    pub(super) fn code(r: Result<impl std::fmt::Debug>) -> Code {
        r.unwrap_err().code()
    }

    #[test]
    fn dash_v_forms() {
        let r = parse_volume("/run/lock/apache2/").unwrap();
        assert_eq!(r.destination, "/run/lock/apache2");
        assert!(matches!(r.kind, RequestKind::Anonymous { copy: true, .. }));
        assert_eq!((r.rw, r.mode.as_str()), (true, ""));

        let r = parse_volume("data:/data").unwrap();
        assert!(matches!(&r.kind, RequestKind::Named { name, copy: true, .. } if name == "data"));
        assert_eq!(r.mode, "z");
        let r = parse_volume("data:/data:ro,nocopy").unwrap();
        assert!(matches!(r.kind, RequestKind::Named { copy: false, .. }));
        assert!(!r.rw);
        assert_eq!(r.mode, "ro,nocopy");

        let r = parse_volume("/srv/x/../docs:/usr/local/apache2/htdocs/:ro").unwrap();
        assert_eq!(
            r.kind,
            RequestKind::Bind {
                source: "/srv/docs".into(),
                create_missing: true,
                recursive: true
            }
        );
        assert_eq!(r.destination, "/usr/local/apache2/htdocs");
        assert_eq!(
            (r.rw, r.mode.as_str(), r.propagation.as_str()),
            (false, "ro", "rprivate")
        );
        let r = parse_volume("/a:/b:rw,z,rslave").unwrap();
        assert_eq!((r.rw, r.propagation.as_str()), (true, "rslave"));
    }

    #[test]
    fn dash_v_refusals() {
        for (spec, c) in [
            ("data/x:/data", Code::BAD_ARGS),
            ("~/x:/data", Code::BAD_ARGS),
            ("x:/data", Code::BAD_ARGS),
            ("a b:/data", Code::BAD_ARGS),
            ("/data:ro", Code::BAD_ARGS),
            ("data:rel", Code::BAD_ARGS),
            ("data:/", Code::BAD_ARGS),
            ("/a:/b:ro,rw", Code::BAD_ARGS),
            ("/a:/b:bogus", Code::BAD_ARGS),
            ("/a:/b:nocopy", Code::BAD_ARGS),
            ("v1:/b:rshared", Code::BAD_ARGS),
            (":/data", Code::BAD_ARGS),
            ("a:/b:ro:x", Code::BAD_ARGS),
        ] {
            assert_eq!(code(parse_volume(spec)), c, "{spec}");
        }
        let cwd = std::env::current_dir().unwrap();
        let r = parse_volume("./data:/data").unwrap();
        let RequestKind::Bind { source, .. } = r.kind else {
            panic!("{r:?}")
        };
        assert_eq!(source, cwd.join("data"));
        let r = parse_volume("..:/up").unwrap();
        let RequestKind::Bind { source, .. } = r.kind else {
            panic!("{r:?}")
        };
        assert_eq!(source, cwd.parent().unwrap());
        assert!(parse_volume("~/data:/data").is_err());
    }

    #[test]
    fn tmpfs_and_volumes_from() {
        let r = parse_tmpfs("/run:rw,size=64m,exec").unwrap();
        assert_eq!(
            r.kind,
            RequestKind::Tmpfs {
                options: vec!["rw".into(), "size=64m".into(), "exec".into()]
            }
        );
        assert!(parse_tmpfs("/run:ro").is_ok_and(|r| !r.rw));
        assert_eq!(code(parse_tmpfs("run")), Code::BAD_ARGS);
        assert_eq!(code(parse_tmpfs("/run:bogus")), Code::BAD_ARGS);
        assert_eq!(
            parse_volumes_from("web:ro").unwrap(),
            VolumesFrom {
                container: "web".into(),
                rw: false,
                spec: "web:ro".into()
            }
        );
        assert!(parse_volumes_from("web").unwrap().rw);
        assert_eq!(code(parse_volumes_from("web:rshared")), Code::BAD_ARGS);
        assert_eq!(code(parse_volumes_from(":ro")), Code::BAD_ARGS);
    }

    #[test]
    fn helpers() {
        assert_eq!(clean_destination("/a//b/./c/../d/").unwrap(), "/a/b/d");
        assert_eq!(clean_destination("/../..").unwrap(), "/");
        assert!(clean_destination("a").is_none());
        assert!(valid_volume_name("my-vol_1.x") && !valid_volume_name("x"));
        assert!(!valid_volume_name("-x") && !valid_volume_name("a/b"));
    }
}
