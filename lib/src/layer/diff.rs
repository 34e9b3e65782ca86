//! A layer from an overlay upper directory: what a container (or a build step) changed, as an
//! OCI layer tar, and as Docker's `diff` lines.
//!
//! overlayfs records a deletion as a 0:0 character device and an opaque directory (one whose
//! lower contents are hidden: `rm -rf d && mkdir d`) as the `trusted.overlay.opaque=y` xattr;
//! the tar says both the OCI way, `.wh.NAME` and `DIR/.wh..wh..opq`, as berth-unpack reads
//! them back (`layer::whiteout`). overlayfs's own xattrs (`trusted.overlay.*`) stay out;
//! others (`security.capability`, ACLs) go in as PAX `SCHILY.xattr.*` records. Hard links
//! within the upper directory stay hard links. Entries are in sorted order, so the same tree
//! gives the same tar (and diff id). The directory belongs to a container: it is walked
//! without following any symlink.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// True for overlayfs's whiteout: a character device 0:0.
pub fn is_whiteout(md: &fs::Metadata) -> bool {
    md.file_type().is_char_device() && md.rdev() == 0
}

pub fn is_opaque(path: &Path) -> bool {
    matches!(xattr::get(path, OPAQUE_XATTR), Ok(Some(v)) if v == b"y")
}

/// Writes the tar of `upper` to `w`; returns the number of entries (0: nothing changed).
pub fn write_tar<W: Write>(upper: &Path, w: W) -> io::Result<(W, usize)> {
    let mut b = tar::Builder::new(w);
    b.follow_symlinks(false);
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    let mut n = 0;
    let walk = walkdir::WalkDir::new(upper)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    for ent in walk {
        let ent = ent.map_err(io::Error::other)?;
        let path = ent.path();
        let rel = path.strip_prefix(upper).map_err(io::Error::other)?;
        let rel_b = rel.as_os_str().as_bytes();
        let md = ent.metadata().map_err(io::Error::other)?;
        n += 1;
        if is_whiteout(&md) {
            let name = rel.file_name().map(|s| s.as_bytes()).unwrap_or_default();
            let parent = rel
                .parent()
                .map(|p| p.as_os_str().as_bytes())
                .unwrap_or_default();
            let wh = if parent.is_empty() {
                [b".wh.", name].concat()
            } else {
                [parent, b"/.wh.", name].concat()
            };
            let mut h = header(&md);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o600);
            h.set_size(0);
            b.append_data(&mut h, std::ffi::OsStr::from_bytes(&wh), io::empty())?;
            continue;
        }
        xattrs(&mut b, path)?;
        let mut h = header(&md);
        let ft = md.file_type();
        if !ft.is_dir() && md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                b.append_link(&mut h, rel, std::ffi::OsStr::from_bytes(first))?;
                continue;
            }
            links.insert(key, rel_b.to_vec());
        }
        if ft.is_dir() {
            h.set_entry_type(tar::EntryType::Directory);
            b.append_data(&mut h, rel, io::empty())?;
            if is_opaque(path) {
                let mut o = header(&md);
                o.set_entry_type(tar::EntryType::Regular);
                o.set_mode(0o600);
                o.set_size(0);
                b.append_data(&mut o, rel.join(".wh..wh..opq"), io::empty())?;
            }
        } else if ft.is_file() {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(md.len());
            let f = File::open(path)?;
            b.append_data(&mut h, rel, io::Read::take(f, md.len()))?;
        } else if ft.is_symlink() {
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            let target = fs::read_link(path)?;
            b.append_link(&mut h, rel, target)?;
        } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
            h.set_entry_type(if ft.is_char_device() {
                tar::EntryType::Char
            } else if ft.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            h.set_size(0);
            h.set_device_major(rustix::fs::major(md.rdev()))?;
            h.set_device_minor(rustix::fs::minor(md.rdev()))?;
            b.append_data(&mut h, rel, io::empty())?;
        } else {
            // Sockets cannot be archived (tar skips them too).
            n -= 1;
        }
    }
    let w = b.into_inner()?;
    Ok((w, n))
}

fn header(md: &fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(md.mode() & 0o7777);
    h.set_uid(md.uid() as u64);
    h.set_gid(md.gid() as u64);
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_size(0);
    h
}

/// The entry's extended attributes, overlayfs's own excepted, as a PAX header before it.
fn xattrs<W: Write>(b: &mut tar::Builder<W>, path: &Path) -> io::Result<()> {
    let Ok(names) = xattr::list(path) else {
        return Ok(());
    };
    let mut recs: Vec<(String, Vec<u8>)> = Vec::new();
    for n in names {
        let n = n.to_string_lossy().into_owned();
        if n.starts_with("trusted.overlay.") {
            continue;
        }
        if let Ok(Some(v)) = xattr::get(path, &n) {
            recs.push((format!("SCHILY.xattr.{n}"), v));
        }
    }
    if recs.is_empty() {
        return Ok(());
    }
    b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
}

/// One line of Docker's `diff`: `A`dded, `C`hanged or `D`eleted, and the path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub path: String,
    pub kind: char,
}

/// The changes `upper` holds over the lower layers; `in_lower(path)` says whether a path
/// exists below. Sorted by path, as Docker prints them.
pub fn changes(upper: &Path, in_lower: &dyn Fn(&Path) -> bool) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    let walk = walkdir::WalkDir::new(upper)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name();
    for ent in walk {
        let ent = ent.map_err(io::Error::other)?;
        let rel = ent.path().strip_prefix(upper).map_err(io::Error::other)?;
        let md = ent.metadata().map_err(io::Error::other)?;
        let shown = format!("/{}", rel.display());
        let kind = if is_whiteout(&md) {
            'D'
        } else if in_lower(rel) {
            'C'
        } else {
            'A'
        };
        out.push(Change { path: shown, kind });
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_to_tar_sorted_with_hardlinks_and_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let u = d.path();
        fs::create_dir_all(u.join("b/c")).unwrap();
        fs::write(u.join("b/c/f"), "x").unwrap();
        fs::hard_link(u.join("b/c/f"), u.join("b/g")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", u.join("a")).unwrap();
        let (buf, n) = write_tar(u, Vec::new()).unwrap();
        assert_eq!(n, 5);
        let mut ar = tar::Archive::new(&buf[..]);
        let got: Vec<(String, tar::EntryType)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a".to_string(), tar::EntryType::Symlink),
                ("b".into(), tar::EntryType::Directory),
                ("b/c".into(), tar::EntryType::Directory),
                ("b/c/f".into(), tar::EntryType::Regular),
                ("b/g".into(), tar::EntryType::Link),
            ]
        );
        let (again, _) = write_tar(u, Vec::new()).unwrap();
        assert_eq!(buf, again, "the same tree gives the same tar");
    }

    #[test]
    fn changes_are_a_c_d() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/new"), "").unwrap();
        let c = changes(d.path(), &|p| p == Path::new("etc")).unwrap();
        assert_eq!(
            c,
            [
                Change {
                    path: "/etc".into(),
                    kind: 'C'
                },
                Change {
                    path: "/etc/new".into(),
                    kind: 'A'
                },
            ]
        );
    }
}
