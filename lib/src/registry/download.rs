//! One blob from a registry into the image store: streamed to disk, hashed and counted while
//! it streams, and renamed into `blobs/` only once its digest and size are right.
//!
//! Partial downloads are kept, so a pull that dies (kill -9, a dropped link) resumes where it
//! stopped instead of starting over (moby#26146):
//!
//! - the bytes in flight live in `<root>/tmp/partial-sha256-<hex>`, one file per digest;
//! - whoever downloads a blob holds an exclusive `flock` on that file, so two pulls of the same
//!   image never write the same blob twice: the second waits, then finds the blob stored;
//! - a later pull finds the partial file, hashes what it holds, and asks for the rest with
//!   `Range: bytes=<len>-`; the digest is still checked over the whole blob, and a resumed blob
//!   that fails it is fetched once more from the start;
//! - a partial file that fails its digest is deleted; one cut short by the network stays for
//!   the next pull. Its name is not a `.tmp-<pid>-` temporary, so `store::atomic`'s garbage
//!   collection leaves it; only `image::gc`, under the gc lock, removes one no pull holds.
//!
//! The blob is never visible under `blobs/` before it is complete and verified: it reaches its
//! name by one `rename(2)` after an `fsync`. The caller fsyncs `blobs/sha256` once before it
//! writes a ref naming the blob ([`sync_blobs_dir`]).

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use nix::fcntl::{Flock, FlockArg};

use super::client::Client;
use super::transport::{MAX_ATTEMPTS, backoff, header};
use super::{RegistryError, Result};
use crate::digest::{self, DigestError, Hasher};
use crate::error::{IoContext, IoError};
use crate::paths::digest_hex;
use crate::store::{ImageStore, private};

/// Read size: large enough that hashing and writing run in big strides.
const CHUNK: usize = 1 << 20;
/// Start writeback every this many bytes, so the final fsync has little left to wait for.
const WRITEBACK_STRIDE: u64 = 8 << 20;

/// What happened to a blob, reported as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobEvent {
    /// Another process is downloading it; waiting for it to finish.
    Waiting,
    /// Downloading from byte `offset` of `total`.
    Started { offset: u64, total: u64 },
    /// `done` bytes of the blob are on disk.
    Progress { done: u64 },
    /// The connection broke; trying again (from where it stopped).
    Retrying { attempt: u32, reason: String },
    /// All bytes are in; checking the digest.
    Verifying,
}

/// How a blob came to be in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was already there (nothing was downloaded).
    Present,
    /// It was downloaded; `resumed_from` bytes came from an earlier partial download.
    Downloaded { resumed_from: u64 },
}

/// The partial-download file of `digest`.
pub fn partial_path(store: &ImageStore, digest: &str) -> PathBuf {
    store
        .tmp_dir()
        .join(format!("partial-sha256-{}", digest_hex(digest)))
}

/// Makes sure blob `digest` (of `size` bytes) of `repository` is in `store`, downloading
/// what is missing. `cancel` stops the download early (another layer already failed).
pub fn fetch_blob(
    client: &Client,
    repository: &str,
    digest: &str,
    size: u64,
    store: &ImageStore,
    on: &(dyn Fn(BlobEvent) + Sync),
    cancel: &AtomicBool,
) -> Result<Outcome> {
    digest::validate(digest)?;
    let partial = partial_path(store, digest);
    loop {
        if store.has_blob(digest) {
            return Ok(Outcome::Present);
        }
        private::create_dir_all(store.tmp_dir())?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(private::FILE)
            .open(&partial)
            .with_path("open", &partial)?;
        let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(f) => f,
            Err((file, _)) => {
                on(BlobEvent::Waiting);
                Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| IoError {
                    op: "lock",
                    path: partial.clone(),
                    source: e.into(),
                })?
            }
        };
        // The holder we waited for renamed the file into the store: our inode is not the
        // path's any more. Start over (and find the blob present).
        let ours = file.metadata().with_path("stat", &partial)?;
        match fs::metadata(&partial) {
            Ok(m) if m.ino() == ours.ino() && m.dev() == ours.dev() => {}
            _ => continue,
        }
        if store.has_blob(digest) {
            let _ = fs::remove_file(&partial);
            return Ok(Outcome::Present);
        }
        let mut job = Job {
            client,
            repository,
            digest,
            size,
            store,
            partial: &partial,
            file: &file,
            on,
            cancel,
        };
        let result = job.run();
        if result.is_err() && fs::metadata(&partial).is_ok_and(|m| m.len() == 0) {
            // Nothing worth resuming: leave nothing behind.
            let _ = fs::remove_file(&partial);
        }
        return result;
    }
}

/// Makes the renames into `blobs/sha256` durable: call before writing a ref to new blobs.
pub fn sync_blobs_dir(store: &ImageStore) -> Result<()> {
    let dir = store.dir().join("blobs/sha256");
    Ok(crate::store::atomic::sync_dir(&dir)?)
}

/// Asks the kernel to start writing `len` bytes at `offset` to disk now, without waiting
/// (sync_file_range(2) with SYNC_FILE_RANGE_WRITE): the disk then works while the network does,
/// and the fsync before the rename finds little dirty data. Durability still comes from that
/// fsync; this is only a head start, so a failure here is ignored.
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // libc, not nix: nix 0.32 has no sync_file_range.
    // SAFETY: sync_file_range takes a descriptor (`file` keeps it open across the call) and
    // integers; it reads or writes no memory of ours.
    unsafe {
        libc::sync_file_range(
            file.as_raw_fd(),
            offset as libc::off64_t,
            len as libc::off64_t,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

struct Job<'a> {
    client: &'a Client,
    repository: &'a str,
    digest: &'a str,
    size: u64,
    store: &'a ImageStore,
    partial: &'a Path,
    file: &'a File,
    on: &'a (dyn Fn(BlobEvent) + Sync),
    cancel: &'a AtomicBool,
}

impl Job<'_> {
    fn run(&mut self) -> Result<Outcome> {
        let mut len = self.file.metadata().with_path("stat", self.partial)?.len();
        if len > self.size {
            len = self.reset()?;
        }
        let mut hasher = self.rehash(len)?;
        let resumed_from = len;
        let mut restarted = false;
        let mut attempt = 0;
        let what = format!("blob {}", self.digest);
        loop {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(RegistryError::Cancelled);
            }
            (self.on)(BlobEvent::Started {
                offset: len,
                total: self.size,
            });
            let resp = self.client.get_blob(self.repository, self.digest, len)?;
            let status = resp.status().as_u16();
            let resumes = status == 206
                && header(&resp, "content-range")
                    .is_some_and(|r| r.starts_with(&format!("bytes {len}-")));
            if status == 416 || (len > 0 && !resumes) {
                // The server would not resume (or our partial is longer than the blob):
                // start from zero. A 200 carries the whole blob, so keep reading it.
                len = self.reset()?;
                hasher = Hasher::new();
                if status == 416 {
                    continue;
                }
            }
            let mut f = self.file;
            f.seek(SeekFrom::Start(len))
                .with_path("seek", self.partial)?;
            let mut reader = resp.into_body().into_reader();
            let mut buf = vec![0u8; CHUNK];
            let mut written_back = len;
            let mut broke: Option<String> = None;
            loop {
                if self.cancel.load(Ordering::Relaxed) {
                    return Err(RegistryError::Cancelled);
                }
                let n = match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        broke = Some(e.to_string());
                        break;
                    }
                };
                if len + n as u64 > self.size {
                    self.discard();
                    return Err(DigestError::Size {
                        what: what.clone(),
                        expected: self.size,
                        actual: len + n as u64,
                    }
                    .into());
                }
                f.write_all(&buf[..n]).with_path("write", self.partial)?;
                hasher.update(&buf[..n]);
                len += n as u64;
                if len - written_back >= WRITEBACK_STRIDE {
                    start_writeback(self.file, written_back, len - written_back);
                    written_back = len;
                }
                (self.on)(BlobEvent::Progress { done: len });
            }
            if len == self.size {
                (self.on)(BlobEvent::Verifying);
                if let Err(e) = hasher.verify(&what, self.digest, Some(self.size)) {
                    if resumed_from > 0 && !restarted {
                        // The earlier partial may be what is wrong: one fresh try.
                        restarted = true;
                        len = self.reset()?;
                        hasher = Hasher::new();
                        continue;
                    }
                    self.discard();
                    return Err(e.into());
                }
                self.file.sync_all().with_path("fsync", self.partial)?;
                // The rename is made durable by the caller's one fsync of the blobs directory
                // before it writes a ref (see `pull`): until then no ref names this blob, so
                // losing its name in a crash loses nothing. One directory fsync per pull
                // instead of one per blob.
                let dest = self.store.blob_path(self.digest);
                if let Some(dir) = dest.parent() {
                    private::create_dir_all(dir)?;
                }
                fs::rename(self.partial, &dest).with_path("rename into place", &dest)?;
                return Ok(Outcome::Downloaded { resumed_from });
            }
            // Cut short: resume from here, a bounded number of times.
            attempt += 1;
            let reason = broke.unwrap_or_else(|| "connection closed early".into());
            if attempt >= MAX_ATTEMPTS {
                let _ = self.file.sync_all();
                return Err(RegistryError::Truncated {
                    what,
                    got: len,
                    expected: self.size,
                    reason,
                });
            }
            (self.on)(BlobEvent::Retrying {
                attempt,
                reason: reason.clone(),
            });
            log::info!("{what}: {reason} at {len}/{}; resuming", self.size);
            backoff(attempt);
        }
    }

    /// Empties the partial file; returns the new length (0).
    fn reset(&self) -> Result<u64> {
        self.file.set_len(0).with_path("truncate", self.partial)?;
        Ok(0)
    }

    /// Deletes the partial file: its content is wrong, nothing to resume.
    fn discard(&self) {
        let _ = self.file.set_len(0);
        let _ = fs::remove_file(self.partial);
    }

    /// Hashes the first `len` bytes already in the partial file.
    fn rehash(&self, len: u64) -> Result<Hasher> {
        let mut h = Hasher::new();
        if len == 0 {
            return Ok(h);
        }
        let mut f = self.file;
        f.seek(SeekFrom::Start(0)).with_path("seek", self.partial)?;
        let mut r = f.take(len);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = r.read(&mut buf).with_path("read", self.partial)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        Ok(h)
    }
}
