//! Writing a blob: staged in `<root>/tmp`, hashed as it is written, verified and renamed into
//! `blobs/` on commit, deleted if dropped uncommitted.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{ImageStore, Result};
use crate::digest::HashingWriter;
use crate::error::IoContext;

/// A blob being written. [`commit`](BlobWriter::commit) verifies and renames it into the store;
/// dropping it uncommitted deletes the staged file.
pub struct BlobWriter {
    pub(super) store: ImageStore,
    pub(super) path: PathBuf,
    pub(super) inner: Option<HashingWriter<File>>,
}

impl BlobWriter {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Verifies against `expected` digest and size (if given), fsyncs and moves the blob into
    /// place. Returns the digest.
    pub fn commit(mut self, expected: Option<&str>, size: Option<u64>) -> Result<String> {
        let (file, hasher) = self.inner.take().expect("commit once").into_parts();
        let result = (|| {
            let actual = hasher.digest();
            if let Some(e) = expected {
                hasher.verify("blob", e, size)?;
            }
            file.sync_all().with_path("fsync", &self.path)?;
            drop(file);
            self.store.adopt_blob(&self.path, &actual)?;
            Ok(actual)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&self.path);
        }
        result
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.as_mut().expect("not committed").write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.as_mut().expect("not committed").flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}
