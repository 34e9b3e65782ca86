//! Finding where to start reading without scanning: `--tail N` reads the files backwards in
//! blocks, `--since T` binary-searches byte offsets (lines are in time order across the
//! rotated files). Both work on a consistent set of open files, so a rotation in the middle
//! changes nothing.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{files, parse_line};
use crate::error::IoContext;
use crate::views::Result;

/// A position in the concatenation of the files: (file index, byte offset).
pub(super) type Pos = (usize, u64);

pub(super) const BLOCK: u64 = 64 * 1024;

/// An open log file. Reading through open descriptors keeps a rotation that happens while we
/// read from moving the ground under us: a renamed or deleted file stays readable.
pub(super) struct LogFile {
    pub path: PathBuf,
    pub file: File,
}

pub(super) fn ino(f: &File) -> Option<(u64, u64)> {
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

/// A gzipped rotated file (`.N.gz`) as its plain lines, in an anonymous memory file, so the
/// seeking readers work on it unchanged.
fn inflate(lf: LogFile) -> Result<LogFile> {
    if lf.path.extension().is_none_or(|e| e != "gz") {
        return Ok(lf);
    }
    let fd = nix::sys::memfd::memfd_create(c"berth-log", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
        .map_err(io::Error::from)
        .with_path("memfd_create", &lf.path)?;
    let mut out = File::from(fd);
    io::copy(&mut flate2::read::GzDecoder::new(&lf.file), &mut out)
        .with_path("gunzip", &lf.path)?;
    out.seek(io::SeekFrom::Start(0))
        .with_path("seek", &lf.path)?;
    Ok(LogFile {
        path: lf.path,
        file: out,
    })
}

/// Opens the container's log files, oldest first, as one consistent set: if the monitor
/// rotated them while we were opening (a path vanished, or names another file by the end),
/// start again. After a few tries under a storm of rotations, the last set is used.
pub(super) fn open_snapshot(current: &Path) -> Result<Vec<LogFile>> {
    let mut last = Vec::new();
    for _ in 0..20 {
        let paths = files(current);
        let mut set = Vec::with_capacity(paths.len());
        let mut vanished = false;
        for p in &paths {
            match File::open(p) {
                Ok(file) => set.push(LogFile {
                    path: p.clone(),
                    file,
                }),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    vanished = true;
                    break;
                }
                Err(e) => return Err(e).with_path("open", p).map_err(Into::into),
            }
        }
        if !vanished
            && files(current) == paths
            && set.iter().all(|lf| inode(&lf.path) == ino(&lf.file))
        {
            return set.into_iter().map(inflate).collect();
        }
        if !vanished {
            last = set;
        }
    }
    Ok(last)
}

/// Where the last `n` complete lines begin, reading each file backwards in blocks.
pub(super) fn tail_start(files: &[LogFile], n: usize) -> Result<Pos> {
    let Some(last) = files.len().checked_sub(1) else {
        return Ok((0, 0));
    };
    if n == 0 {
        return Ok((last, complete_end(&files[last])?));
    }
    let mut remaining = n;
    let mut buf = vec![0u8; BLOCK as usize];
    for (i, lf) in files.iter().enumerate().rev() {
        let (mut f, path) = (&lf.file, &lf.path);
        let end = complete_end(lf)?;
        // Newlines before `end`, counted backwards; the one at end-1 ends the last line.
        let mut pos = end;
        while pos > 0 {
            let start = pos.saturating_sub(BLOCK);
            let chunk = &mut buf[..(pos - start) as usize];
            f.seek(SeekFrom::Start(start)).with_path("seek", path)?;
            f.read_exact(chunk).with_path("read", path)?;
            for (j, b) in chunk.iter().enumerate().rev() {
                let at = start + j as u64;
                if *b == b'\n' && at + 1 != end {
                    // A line starts at `at + 1`.
                    remaining -= 1;
                    if remaining == 0 {
                        return Ok((i, at + 1));
                    }
                }
            }
            pos = start;
        }
        if end > 0 {
            // The file's first line.
            remaining -= 1;
            if remaining == 0 {
                return Ok((i, 0));
            }
        }
    }
    Ok((0, 0))
}

/// The offset just past the last newline: a line being written is not yet a line.
fn complete_end(lf: &LogFile) -> Result<u64> {
    let (mut f, path) = (&lf.file, &lf.path);
    let len = f.metadata().with_path("stat", path)?.len();
    let mut pos = len;
    let mut buf = vec![0u8; 4096];
    while pos > 0 {
        let start = pos.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(pos - start) as usize];
        f.seek(SeekFrom::Start(start)).with_path("seek", path)?;
        f.read_exact(chunk).with_path("read", path)?;
        if let Some(j) = chunk.iter().rposition(|b| *b == b'\n') {
            return Ok(start + j as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Reads the line that starts at or after `p` (the first line start >= p): its start and
/// its time. `None` at the end of the file.
fn line_at_or_after(
    f: &mut BufReader<&File>,
    p: u64,
    path: &Path,
) -> Result<Option<(u64, Option<DateTime<Utc>>)>> {
    let mut start = p;
    let mut buf = Vec::new();
    if p > 0 {
        // Is p a line start? Only if the byte before it is a newline.
        f.seek(SeekFrom::Start(p - 1)).with_path("seek", path)?;
        let n = f.read_until(b'\n', &mut buf).with_path("read", path)?;
        start = p - 1 + n as u64;
        if buf.last() != Some(&b'\n') {
            return Ok(None);
        }
        buf.clear();
    } else {
        f.seek(SeekFrom::Start(0)).with_path("seek", path)?;
    }
    let n = f.read_until(b'\n', &mut buf).with_path("read", path)?;
    if n == 0 || buf.last() != Some(&b'\n') {
        return Ok(None);
    }
    Ok(Some((start, parse_line(&buf).map(|e| e.time))))
}

/// The first line of the file whose time is at or after `since`, by binary search over byte
/// offsets: the smallest p such that the first line starting at or after p is not earlier
/// than `since`.
fn since_offset(lf: &LogFile, since: DateTime<Utc>) -> Result<u64> {
    let len = lf.file.metadata().with_path("stat", &lf.path)?.len();
    let mut f = BufReader::with_capacity(16 * 1024, &lf.file);
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match line_at_or_after(&mut f, mid, &lf.path)? {
            // An unreadable line counts as late, so it is shown rather than skipped.
            Some((s, Some(t))) if t < since => lo = s + 1,
            _ => hi = mid,
        }
    }
    Ok(match line_at_or_after(&mut f, lo, &lf.path)? {
        Some((s, _)) => s,
        None => len,
    })
}

/// Where the lines at or after `since` begin, across the files.
pub(super) fn since_start(files: &[LogFile], since: DateTime<Utc>) -> Result<Pos> {
    for (i, lf) in files.iter().enumerate().rev() {
        let mut f = BufReader::new(&lf.file);
        match line_at_or_after(&mut f, 0, &lf.path)? {
            // This file starts before `since`: the start is inside it.
            Some((_, Some(t))) if t < since => return Ok((i, since_offset(lf, since)?)),
            _ => {}
        }
    }
    Ok((0, 0))
}

pub(super) fn inode(p: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}
