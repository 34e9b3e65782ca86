//! Extraction of crafted tars into a temporary root (needs root: chown, mknod, trusted xattrs).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use super::extract::{ExtractError, extract};
use crate::confine::Root;

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_600_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn run(
    build: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) -> (tempfile::TempDir, Result<(), ExtractError>) {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    let bytes = b.into_inner().unwrap();
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("root")).unwrap();
    std::fs::create_dir(d.path().join("outside")).unwrap();
    let root = Root::open(&d.path().join("root")).unwrap();
    let r = extract(&bytes[..], &root, 1 << 30).map(|_| ());
    (d, r)
}

fn add(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &[u8], mode: u32, data: &[u8]) {
    let mut h = header(kind, mode, data.len() as u64);
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, path: &str, target: &str) {
    let mut h = header(kind, 0o777, 0);
    b.append_link(&mut h, path, target).unwrap();
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn everything_a_tar_holds_is_kept() {
    if !is_root() {
        return;
    }
    let (d, r) = run(|b| {
        add(b, tar::EntryType::Directory, b"bin/", 0o755, b"");
        let mut h = header(tar::EntryType::Regular, 0o4755, 5);
        h.set_uid(1234);
        h.set_gid(5678);
        b.append_data(&mut h, "bin/su", &b"hello"[..]).unwrap();
        link(b, tar::EntryType::Link, "bin/su2", "bin/su");
        link(b, tar::EntryType::Symlink, "bin/sh", "/bin/su");
        add(b, tar::EntryType::Directory, b"tmp/", 0o1777, b"");
        add(b, tar::EntryType::Fifo, b"tmp/fifo", 0o644, b"");
        let mut h = header(tar::EntryType::Char, 0o666, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        b.append_data(&mut h, "dev/null", &b""[..]).unwrap();
        add(b, tar::EntryType::Regular, b"caf\xe9", 0o644, b"latin1");
        add(b, tar::EntryType::Regular, b"etc/.wh.passwd", 0o644, b"");
        add(b, tar::EntryType::Regular, b"opt/.wh..wh..opq", 0o644, b"");
    });
    r.unwrap();
    let root = d.path().join("root");
    let su = std::fs::metadata(root.join("bin/su")).unwrap();
    assert_eq!(su.mode() & 0o7777, 0o4755);
    assert_eq!((su.uid(), su.gid()), (1234, 5678));
    assert_eq!(su.mtime(), 1_600_000_000);
    assert_eq!(su.nlink(), 2);
    assert_eq!(
        std::fs::read_link(root.join("bin/sh")).unwrap(),
        Path::new("/bin/su")
    );
    assert_eq!(
        std::fs::metadata(root.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert!(
        std::fs::symlink_metadata(root.join("tmp/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let null = std::fs::metadata(root.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(
        std::fs::read(root.join(OsStr::from_bytes(b"caf\xe9"))).unwrap(),
        b"latin1"
    );
    let wh = std::fs::symlink_metadata(root.join("etc/passwd")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    let opt = std::fs::File::open(root.join("opt")).unwrap();
    assert!(super::whiteout::is_opaque(&opt));
}

#[test]
fn escapes_are_refused_or_stay_inside() {
    if !is_root() {
        return;
    }
    // `..` climbing out is refused.
    let (d, r) = run(|b| add(b, tar::EntryType::Regular, b"../outside/x", 0o644, b"x"));
    assert!(matches!(r, Err(ExtractError::Unsafe { .. })), "{r:?}");
    assert_eq!(
        std::fs::read_dir(d.path().join("outside")).unwrap().count(),
        0
    );
    // A symlink to / then a file written through it lands inside the root.
    let (d, r) = run(|b| {
        link(b, tar::EntryType::Symlink, "up", "/");
        add(b, tar::EntryType::Regular, b"up/outside/x", 0o644, b"x");
    });
    r.unwrap();
    assert!(d.path().join("root/outside/x").exists());
    assert_eq!(
        std::fs::read_dir(d.path().join("outside")).unwrap().count(),
        0
    );
    // A directory replaced by a symlink, then written through.
    let (d, r) = run(|b| {
        add(b, tar::EntryType::Directory, b"d/", 0o755, b"");
        link(b, tar::EntryType::Symlink, "d", "../../outside");
        add(b, tar::EntryType::Regular, b"d/x", 0o644, b"x");
    });
    assert!(r.is_err());
    assert_eq!(
        std::fs::read_dir(d.path().join("outside")).unwrap().count(),
        0
    );
    // The root cannot become a symlink.
    let (_d, r) = run(|b| link(b, tar::EntryType::Symlink, ".", "/"));
    assert!(matches!(r, Err(ExtractError::Unsafe { .. })), "{r:?}");
    // Whiteouts naming .. are refused.
    let (_d, r) = run(|b| add(b, tar::EntryType::Regular, b"a/.wh...", 0o644, b""));
    assert!(matches!(r, Err(ExtractError::Unsafe { .. })), "{r:?}");
}
