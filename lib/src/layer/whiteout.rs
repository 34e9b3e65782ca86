//! OCI whiteouts and their overlayfs form.
//!
//! The OCI image spec (layer.md, "Whiteouts") marks a deletion with an empty file `.wh.NAME`
//! beside the deleted NAME, and an opaque directory (whose lower content is hidden) with
//! `.wh..wh..opq` inside it. overlayfs (Documentation/filesystems/overlayfs.rst) marks the same
//! with a character device 0:0 named NAME, and the xattr `trusted.overlay.opaque=y` on the
//! directory. Each layer directory is written in overlayfs's form, so a stack of layers mounted
//! as lowerdirs shows exactly the image's filesystem.

use std::io;
use std::os::fd::AsFd;

use rustix::fs::{self as rfs, FileType, Mode, XattrFlags};

use crate::confine::os;

pub const PREFIX: &[u8] = b".wh.";
pub const OPAQUE: &[u8] = b".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// What a tar entry's base name says, if it is a whiteout.
#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// `.wh..wh..opq`: the directory is opaque.
    Opaque,
    /// `.wh.NAME`: NAME is deleted.
    Remove(&'a [u8]),
    /// `.wh.` naming nothing, `.` or `..`: refused as unsafe.
    Invalid,
    /// Other `.wh..wh.` names are AUFS bookkeeping (e.g. `.wh..wh.plnk`) that Docker ignores.
    Ignored,
}

pub fn parse(base: &[u8]) -> Option<Whiteout<'_>> {
    if base == OPAQUE {
        return Some(Whiteout::Opaque);
    }
    let name = base.strip_prefix(PREFIX)?;
    Some(match name {
        b"" | b"." | b".." => Whiteout::Invalid,
        n if n.starts_with(PREFIX) => Whiteout::Ignored,
        n => Whiteout::Remove(n),
    })
}

/// Whether a file is an overlayfs whiteout: a character device 0:0.
pub fn is_overlay_whiteout(st: &rfs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice && st.st_rdev == 0
}

/// Creates the overlayfs whiteout for `name` in `dir`.
pub fn make(dir: &impl AsFd, name: &[u8]) -> io::Result<()> {
    Ok(rfs::mknodat(
        dir,
        os(name),
        FileType::CharacterDevice,
        Mode::empty(),
        0,
    )?)
}

/// Marks the directory `dir` (an fd opened for reading) opaque.
pub fn set_opaque(dir: &impl AsFd) -> io::Result<()> {
    Ok(rfs::fsetxattr(
        dir,
        OPAQUE_XATTR,
        b"y",
        XattrFlags::empty(),
    )?)
}

/// Whether `dir` is marked opaque: the xattr, or (in a layer store on overlayfs) the OCI
/// marker file inside it.
pub fn is_opaque(dir: &impl AsFd) -> bool {
    let mut buf = [0u8; 4];
    matches!(rfs::fgetxattr(dir, OPAQUE_XATTR, &mut buf), Ok(1) if buf[0] == b'y')
        || rfs::statat(dir, os(OPAQUE), rfs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// overlayfs's own xattrs (`trusted.overlay.*`, and `user.overlay.*` for user-xattr mounts)
/// steer what the merged view shows (opaque, redirect, metacopy). They are never taken from a
/// layer's content: only berth's whiteout conversion writes them.
pub fn is_reserved_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(parse(b".wh..wh..opq"), Some(Whiteout::Opaque));
        assert_eq!(parse(b".wh.passwd"), Some(Whiteout::Remove(&b"passwd"[..])));
        assert_eq!(parse(b".wh.."), Some(Whiteout::Invalid));
        assert_eq!(parse(b".wh..."), Some(Whiteout::Invalid));
        assert_eq!(parse(b".wh."), Some(Whiteout::Invalid));
        assert_eq!(parse(b".wh..wh.plnk"), Some(Whiteout::Ignored));
        assert_eq!(parse(b"passwd"), None);
        assert!(is_reserved_xattr(b"trusted.overlay.redirect"));
        assert!(!is_reserved_xattr(b"security.capability"));
    }
}
