//! Reading an archive: a tar is read once, front to back (it may be a pipe), and every regular
//! file is copied into a private staging directory under `<root>/tmp` while its sha256 is
//! computed. Nothing from the archive touches the host by its own path: entries are looked up
//! by name in a map, and symlinks and hard links are resolved inside that map, so a hostile
//! archive cannot write or read outside the staging directory.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::digest::HashingWriter;
use crate::error::IoContext;
use crate::image::compress::{self, Compression};
use crate::image::{ImageError, Result};
use crate::store::{atomic, private};

/// Biggest JSON document (manifest.json, index.json, a config) read into memory.
const MAX_JSON: u64 = 64 << 20;

/// A regular file of the archive, copied out.
#[derive(Debug, Clone)]
pub struct Staged {
    pub path: PathBuf,
    pub digest: String,
    pub size: u64,
}

#[derive(Debug)]
enum Node {
    File(Staged),
    Link(String),
}

/// The files of one archive, staged. Dropping it removes the staging directory (and any file
/// not adopted into the store).
pub struct Staging {
    dir: PathBuf,
    nodes: HashMap<String, Node>,
    pub source: String,
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Staging {
    /// Reads the whole archive from `input` into a staging directory under `tmp`.
    pub fn read(input: impl Read, tmp: &Path, source: String) -> Result<Staging> {
        private::create_dir_all(tmp)?;
        let dir = atomic::temp_path_for(&tmp.join("load"));
        private::mkdir(&dir).with_path("create directory", &dir)?;
        let mut staging = Staging {
            dir,
            nodes: HashMap::new(),
            source,
        };
        let mut buffered = BufReader::with_capacity(1 << 20, input);
        let c = compress::sniff_stream(&mut buffered).map_err(|e| staging.io_error(e))?;
        if let Compression::Other(name) = c {
            return Err(ImageError::Unsupported(
                format!("{}: {name}-compressed archive", staging.source),
                "uncompressed, gzip and zstd archives; decompress it first",
            ));
        }
        let decoded = compress::decoder(c, buffered).map_err(|e| staging.io_error(e))?;
        staging.fill(decoded)?;
        Ok(staging)
    }

    fn fill(&mut self, input: impl Read) -> Result<()> {
        let mut archive = tar::Archive::new(input);
        let entries = archive.entries().map_err(|e| self.io_error(e))?;
        let mut n = 0usize;
        let mut any = false;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.io_error(e))?;
            any = true;
            let raw = entry.path_bytes().into_owned();
            let Some(name) = normalise(&String::from_utf8_lossy(&raw)) else {
                return Err(self.corrupt(format!(
                    "entry {:?} has an unsafe path",
                    String::from_utf8_lossy(&raw)
                )));
            };
            let kind = entry.header().entry_type();
            if kind.is_file() || kind == tar::EntryType::Continuous {
                let expected = entry.size();
                n += 1;
                let path = self.dir.join(n.to_string());
                let file = File::create(&path).with_path("create", &path)?;
                let mut w = HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file));
                let copied = io::copy(&mut entry, &mut w).map_err(|e| self.io_error(e))?;
                if copied != expected {
                    return Err(self.truncated(format!(" in {name:?}")));
                }
                let (buf, hasher) = w.into_parts();
                buf.into_inner()
                    .map_err(|e| e.into_error())
                    .and_then(|mut f| f.flush())
                    .with_path("write", &path)?;
                self.nodes.insert(
                    name,
                    Node::File(Staged {
                        path,
                        digest: hasher.digest(),
                        size: copied,
                    }),
                );
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                // A symlink is relative to its own directory; a hard link names an entry.
                let joined = if kind.is_symlink() && !target.starts_with('/') {
                    match name.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target,
                    }
                } else {
                    target
                };
                if let Some(t) = normalise(&joined) {
                    self.nodes.insert(name, Node::Link(t));
                }
            }
        }
        if !any {
            return Err(self.corrupt("it is empty or not a tar archive".into()));
        }
        Ok(())
    }

    /// The staged file at `name`, following links (at most 16 deep).
    pub fn get(&self, name: &str) -> Option<&Staged> {
        let mut name = normalise(name)?;
        for _ in 0..16 {
            match self.nodes.get(&name)? {
                Node::File(s) => return Some(s),
                Node::Link(t) => name = t.clone(),
            }
        }
        None
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The staged file at `name`, or a truncation error naming it.
    pub fn require(&self, name: &str, what: &str) -> Result<&Staged> {
        self.get(name)
            .ok_or_else(|| self.truncated(format!(": {what} {name:?} is missing")))
    }

    /// Reads a small JSON document from the archive.
    pub fn json<T: serde::de::DeserializeOwned>(&self, name: &str, what: &str) -> Result<T> {
        let s = self.require(name, what)?;
        if s.size > MAX_JSON {
            return Err(self.corrupt(format!("{what} {name:?} is too large ({} bytes)", s.size)));
        }
        let bytes = fs::read(&s.path).with_path("read", &s.path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(format!("{what} {name:?} is not valid: {e}")))
    }

    pub fn read_bytes(&self, s: &Staged) -> Result<Vec<u8>> {
        Ok(fs::read(&s.path).with_path("read", &s.path)?)
    }

    pub fn corrupt(&self, reason: String) -> ImageError {
        ImageError::Archive {
            file: self.source.clone(),
            reason,
        }
    }

    pub fn truncated(&self, detail: String) -> ImageError {
        ImageError::Truncated {
            file: self.source.clone(),
            detail,
        }
    }

    /// A read error of the archive stream: an early end is truncation, anything else
    /// corruption (tar's header checksums, a broken gzip stream).
    fn io_error(&self, e: io::Error) -> ImageError {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => self.truncated(String::new()),
            _ => self.corrupt(crate::image::tar_problem(&e)),
        }
    }
}

/// An archive member name in canonical form (`./a//b` -> `a/b`), or `None` if it would climb
/// out of the archive.
fn normalise(name: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(name.trim_start_matches('/')).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_canonical_and_stay_inside() {
        assert_eq!(normalise("./a//b").as_deref(), Some("a/b"));
        assert_eq!(normalise("a/../b").as_deref(), Some("b"));
        assert_eq!(normalise("/abs").as_deref(), Some("abs"));
        assert_eq!(normalise("../x"), None);
    }

    fn tar_with(entries: &[(&str, &[u8])], link: Option<(&str, &str)>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, *data).unwrap();
        }
        if let Some((name, target)) = link {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, name, target).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn files_and_links_are_staged_and_resolved() {
        let d = tempfile::tempdir().unwrap();
        let t = tar_with(&[("x.tar", b"data")], Some(("id/layer.tar", "../x.tar")));
        let s = Staging::read(&t[..], d.path(), "test".into()).unwrap();
        let f = s.get("id/layer.tar").unwrap();
        assert_eq!(f.digest, crate::digest::sha256(b"data"));
        assert!(s.get("nothere").is_none());
        let dir = s.dir.clone();
        drop(s);
        assert!(!dir.exists());
    }

    #[test]
    fn truncated_and_garbage_archives_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let t = tar_with(&[("a", &[1u8; 4000])], None);
        let e = Staging::read(&t[..1024], d.path(), "t".into())
            .err()
            .unwrap();
        assert!(matches!(e, ImageError::Truncated { .. }), "{e}");
        let e = Staging::read(&b"hello, not a tar"[..], d.path(), "t".into())
            .err()
            .unwrap();
        assert!(
            matches!(e, ImageError::Archive { .. } | ImageError::Truncated { .. }),
            "{e}"
        );
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            0,
            "staging removed"
        );
    }
}
