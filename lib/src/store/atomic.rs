//! Crash-safe writes: a temporary file in the same directory, fsync, rename, fsync the
//! directory. A kill -9 at any instant leaves either the old file or the new one, never a torn
//! one. Temporary files are named `.tmp-<pid>-<random>-<name>` so [`collect_garbage`] can tell
//! leftovers of dead processes from work in progress.
//!
//! The `_volatile` variants skip both fsyncs. The rename alone already makes them atomic
//! against a kill -9 of any process (the page cache survives it); only a power loss or kernel
//! crash can roll them back. They are for container state, which a `berth run` rewrites a
//! dozen times in the stages and which berth re-derives after a reboot anyway (every process
//! is gone, so `truth` shows each container exited): records, name and address reservations,
//! config.json. Each fsync costs 2-7 ms here; `berth run --rm` made about forty.
//!
//! Modes come from [`private`](super::private): files are [`FILE`] (0600) unless the caller
//! names another mode, and the directories these functions make are private.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::private::{self, FILE};
use crate::error::{IoContext, IoError};

const TMP_PREFIX: &str = ".tmp-";

/// A temporary path beside `target`, unique to this process and call.
pub fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = target.parent().unwrap_or(Path::new("."));
    dir.join(format!(
        "{TMP_PREFIX}{}-{}-{name}",
        std::process::id(),
        crate::state::ids::random_hex(4)
    ))
}

/// Writes `bytes` to `path` atomically (mode [`FILE`]), creating the parent directory if
/// needed.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_with(path, FILE, |f| f.write_all(bytes))
}

/// Serialises `value` as pretty JSON (plus a newline) and writes it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), IoError> {
    write(path, &json_bytes(path, value)?)
}

/// [`write`] without the fsyncs: atomic against a kill, not durable (module docs).
pub fn write_volatile(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    write_volatile_mode(path, bytes, FILE)
}

/// [`write_volatile`] with the given file mode (exactly, whatever the umask): for files that
/// are not berth's private state, e.g. those bind-mounted into a container.
pub fn write_volatile_mode(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IoError> {
    replace(path, mode, false, |f| {
        f.write_all(bytes).with_path("write", path)
    })
}

/// [`write_json`] without the fsyncs: atomic against a kill, not durable (module docs).
pub fn write_json_volatile<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), IoError> {
    write_volatile(path, &json_bytes(path, value)?)
}

fn json_bytes<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, IoError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| IoError {
        op: "encode",
        path: path.to_path_buf(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Atomically replaces `path` with what `fill` writes, with the given file mode (exactly,
/// whatever the umask).
pub fn write_with(
    path: &Path,
    mode: u32,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<(), IoError> {
    replace(path, mode, true, |f| fill(f).with_path("write", path))
}

fn replace(
    path: &Path,
    mode: u32,
    durable: bool,
    fill: impl FnOnce(&mut File) -> Result<(), IoError>,
) -> Result<(), IoError> {
    make_parent(path)?;
    let tmp = temp_path_for(path);
    let result = (|| {
        let mut f = create_temp(&tmp, mode)?;
        fill(&mut f)?;
        if durable {
            f.sync_all().with_path("fsync", &tmp)?;
        }
        fs::rename(&tmp, path).with_path("rename into place", path)?;
        if durable {
            sync_dir(parent_dir(path))?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn make_parent(path: &Path) -> Result<(), IoError> {
    match path.parent() {
        Some(parent) => private::create_dir_all(parent),
        None => Ok(()),
    }
}

/// A new temporary file with exactly `mode`: `open` filters the mode through the umask, so
/// one that gives others anything (a file a container reads) is set again.
fn create_temp(tmp: &Path, mode: u32) -> Result<File, IoError> {
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(tmp)
        .with_path("create", tmp)?;
    if mode & 0o077 != 0 {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(mode))
            .with_path("chmod", tmp)?;
    }
    Ok(f)
}

/// Renames `from` to `to` without making it durable (module docs).
pub fn rename_volatile(from: &Path, to: &Path) -> Result<(), IoError> {
    fs::rename(from, to).with_path("rename into place", to)
}

/// Renames `from` to `to` and makes the rename durable.
pub fn rename(from: &Path, to: &Path) -> Result<(), IoError> {
    fs::rename(from, to).with_path("rename into place", to)?;
    sync_dir(parent_dir(to))
}

/// The directory holding `path`: `.` for a bare file name (whose `parent()` is empty).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// fsyncs a directory so that a rename or create inside it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_path("fsync directory", dir)
}

/// Creates `path` holding `bytes` only if nothing is there yet. The content is complete before
/// the name appears (written to a temporary file, then hard-linked into place), so a reader
/// never sees a half-written reservation. Returns `Ok(false)` when the name is taken.
pub fn create_exclusive(path: &Path, bytes: &[u8]) -> Result<bool, IoError> {
    reserve(path, bytes, true)
}

/// [`create_exclusive`] without the fsyncs: atomic against a kill, not durable (module docs).
pub fn create_exclusive_volatile(path: &Path, bytes: &[u8]) -> Result<bool, IoError> {
    reserve(path, bytes, false)
}

fn reserve(path: &Path, bytes: &[u8], durable: bool) -> Result<bool, IoError> {
    make_parent(path)?;
    let tmp = temp_path_for(path);
    {
        let mut f = create_temp(&tmp, FILE)?;
        f.write_all(bytes).with_path("write", &tmp)?;
        if durable {
            f.sync_all().with_path("fsync", &tmp)?;
        }
    }
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            if durable {
                sync_dir(parent_dir(path))?;
            }
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_path("reserve", path),
    }
}

/// Removes temporary files and directories in `dir` left by processes that no longer exist.
/// Returns how many entries were removed.
pub fn collect_garbage(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = temp_owner(&name.to_string_lossy()) else {
            continue;
        };
        if pid == std::process::id() || process_exists(pid) {
            continue;
        }
        let path = entry.path();
        let ok = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            fs::remove_dir_all(&path).is_ok()
        } else {
            fs::remove_file(&path).is_ok()
        };
        removed += ok as usize;
    }
    removed
}

/// The pid that made a temporary entry named by [`temp_path_for`], if the name is one.
pub fn temp_owner(name: &str) -> Option<u32> {
    name.strip_prefix(TMP_PREFIX)?
        .split('-')
        .next()?
        .parse()
        .ok()
}

fn process_exists(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_writes_replace_and_reserve_like_the_durable_ones() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("c/record.json");
        write_json_volatile(&p, &serde_json::json!({"a": 1})).unwrap();
        write_json_volatile(&p, &serde_json::json!({"a": 2})).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        assert_eq!(v["a"], 2);
        assert_eq!(fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        let name = d.path().join("names/web");
        assert!(create_exclusive_volatile(&name, b"id1").unwrap());
        assert!(!create_exclusive_volatile(&name, b"id2").unwrap());
        assert_eq!(fs::read(&name).unwrap(), b"id1");
        assert_eq!(fs::read_dir(d.path().join("names")).unwrap().count(), 1);
        let moved = d.path().join("moved");
        rename_volatile(p.parent().unwrap(), &moved).unwrap();
        assert!(moved.join("record.json").exists());
    }

    #[test]
    fn write_replaces_atomically_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sub/f.json");
        write_json(&p, &serde_json::json!({"a": 1})).unwrap();
        write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn exclusive_create_refuses_a_taken_name() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("name");
        assert!(create_exclusive(&p, b"id1").unwrap());
        assert!(!create_exclusive(&p, b"id2").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"id1");
    }

    #[test]
    fn garbage_of_dead_processes_is_collected() {
        let d = tempfile::tempdir().unwrap();
        // pid 0x7fffffff cannot exist; our own temp file must survive.
        fs::write(d.path().join(".tmp-2147483647-ab-blob"), b"x").unwrap();
        fs::create_dir(d.path().join(".tmp-2147483647-cd-dir")).unwrap();
        let mine = temp_path_for(&d.path().join("mine"));
        fs::write(&mine, b"x").unwrap();
        assert_eq!(collect_garbage(d.path()), 2);
        assert!(mine.exists());
    }
}
