//! The event log: `<root>/events.log`, one JSON [`Message`] per line, and its one older
//! generation `events.log.1`.
//!
//! - **Append** is one `write(2)` of one whole line on a descriptor opened with `O_APPEND`:
//!   the kernel places each write at the end under the inode's lock, so lines from concurrent
//!   stages never interleave, and no lock is taken on the hot path.
//! - **Bounded.** A writer that finds the file past [`MAX_BYTES`] after its write rotates it:
//!   under the flock `<root>/locks/events`, and only if the file at the path is still the one
//!   it wrote to and still too big, it renames `events.log` over `events.log.1`. Writers still
//!   holding the old file append to `.1`; the next writer creates a new `events.log`. The two
//!   generations hold at most about twice [`MAX_BYTES`]; the oldest events go first.
//! - **Private**: the file is 0600, like every record (`store::private`).
//! - **Read** ([`EventLog::read`]): `.1`, then the current file; a line that does not parse (a
//!   write cut short by a crash) is skipped. [`EventLog::stream`] then keeps reading the
//!   current file as it grows, on the same descriptor, and moves to the new one after a
//!   rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Message;
use crate::paths::Paths;
use crate::store::lock::Lock;
use crate::store::private;

/// The size past which the log is rotated (4 MiB: ~15,000 events).
pub const MAX_BYTES: u64 = 4 << 20;

/// How often [`EventLog::stream`] looks for new events.
const POLL: Duration = Duration::from_millis(100);

/// The event log of one root.
#[derive(Debug, Clone)]
pub struct EventLog {
    path: PathBuf,
    lock: PathBuf,
    max: u64,
}

impl EventLog {
    pub fn new(paths: &Paths) -> Self {
        Self::in_root(&paths.root)
    }

    /// The log of the berth root `root` (image functions know only their store's root).
    pub fn in_root(root: &Path) -> Self {
        let paths = Paths::new(root, "");
        EventLog {
            path: paths.events_log(),
            lock: paths.locks().join("events"),
            max: MAX_BYTES,
        }
    }

    /// A log at `path` rotated past `max` bytes (tests).
    pub fn at(path: &Path, max: u64) -> Self {
        EventLog {
            path: path.to_path_buf(),
            lock: path.with_extension("lock"),
            max,
        }
    }

    fn older(&self) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(".1");
        PathBuf::from(p)
    }

    /// Appends `m` as one line, in one write; rotates the log when it grew past the bound.
    pub fn append(&self, m: &Message) -> io::Result<()> {
        let mut line = serde_json::to_vec(m).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(private::FILE)
            .open(&self.path)?;
        let n = f.write(&line)?;
        if n != line.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("{}: short write", self.path.display()),
            ));
        }
        let meta = f.metadata()?;
        if meta.len() > self.max {
            self.rotate(&meta)?;
        }
        Ok(())
    }

    /// Renames the file we wrote to over `.1`, unless someone else rotated it first.
    fn rotate(&self, ours: &fs::Metadata) -> io::Result<()> {
        if let Some(parent) = self.lock.parent() {
            private::create_dir_all(parent).map_err(io::Error::other)?;
        }
        let Some(_held) = Lock::try_exclusive(&self.lock).map_err(io::Error::other)? else {
            // Another writer is rotating right now.
            return Ok(());
        };
        match fs::metadata(&self.path) {
            Ok(now)
                if now.ino() == ours.ino() && now.dev() == ours.dev() && now.len() > self.max =>
            {
                fs::rename(&self.path, self.older())
            }
            _ => Ok(()),
        }
    }

    /// Every event still in the log, oldest first, that `keep` accepts.
    pub fn read(&self, mut keep: impl FnMut(&Message) -> bool) -> io::Result<Vec<Message>> {
        let mut out = Vec::new();
        self.stream(true, false, None, |m| {
            if keep(m) {
                out.push(m.clone());
            }
            true
        })?;
        Ok(out)
    }

    /// Calls `each` for the events in the log (with `history`: those already there, oldest
    /// first; without, only those appended from now on), then, with `follow`, for every event
    /// appended later, until `each` returns false or the clock passes `until` (nanoseconds).
    /// History and what follows are read from the same descriptor, so no event falls between.
    pub fn stream(
        &self,
        history: bool,
        follow: bool,
        until: Option<i64>,
        mut each: impl FnMut(&Message) -> bool,
    ) -> io::Result<()> {
        // The current file first: if it is rotated between the two opens, `.1` is then the
        // same file, read once.
        let mut current = open_existing(&self.path)?;
        let older = open_existing(&self.older())?;
        // The generations already dealt with (read, or before our time): never read again.
        let mut seen: Vec<(u64, u64)> = [current.as_ref(), older.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(ident)
            .collect();
        let mut lines = Lines::default();
        if history {
            if let Some(o) = older.filter(|o| current.as_ref().is_none_or(|c| !same_file(c, o))) {
                if !lines.drain(o, &mut each)? {
                    return Ok(());
                }
                lines = Lines::default();
            }
        } else if let Some(c) = current.as_mut() {
            c.seek(SeekFrom::End(0))?;
        }
        loop {
            if let Some(c) = current.as_mut()
                && !lines.drain(c, &mut each)?
            {
                return Ok(());
            }
            if !follow || until.is_some_and(|u| now_nanos() > u) {
                return Ok(());
            }
            if self.rotated(current.as_ref()) {
                // All of the old file is read above. A generation made after ours and
                // rotated out already is `.1` now: read it before the new file.
                if let Some(o) = open_existing(&self.older())?
                    && let Some(id) = ident(&o)
                    && !seen.contains(&id)
                {
                    seen.push(id);
                    if !Lines::default().drain(o, &mut each)? {
                        return Ok(());
                    }
                }
                current = open_existing(&self.path)?;
                seen.extend(current.as_ref().and_then(ident));
                lines = Lines::default();
                continue;
            }
            std::thread::sleep(POLL);
        }
    }

    /// True when the path now names another file than `f` (rotated, or made since).
    fn rotated(&self, f: Option<&File>) -> bool {
        match (fs::metadata(&self.path), f.map(File::metadata)) {
            (Ok(now), Some(Ok(ours))) => now.ino() != ours.ino() || now.dev() != ours.dev(),
            (Ok(_), None) => true,
            _ => false,
        }
    }
}

/// Whole lines out of a file that grows: a line read before its write finished waits for
/// the rest.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
}

impl Lines {
    /// Reads `f` to its current end and calls `each` per complete event; false when `each`
    /// asked to stop.
    fn drain(
        &mut self,
        mut f: impl Read,
        each: &mut impl FnMut(&Message) -> bool,
    ) -> io::Result<bool> {
        f.read_to_end(&mut self.partial)?;
        let mut start = 0;
        while let Some(pos) = self.partial[start..].iter().position(|b| *b == b'\n') {
            let line = &self.partial[start..start + pos];
            start += pos + 1;
            if let Some(m) = parse(&String::from_utf8_lossy(line))
                && !each(&m)
            {
                return Ok(false);
            }
        }
        self.partial.drain(..start);
        Ok(true)
    }
}

fn open_existing(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A file's identity (device, inode).
fn ident(f: &File) -> Option<(u64, u64)> {
    f.metadata().ok().map(|m| (m.dev(), m.ino()))
}

fn same_file(a: &File, b: &File) -> bool {
    match (a.metadata(), b.metadata()) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    }
}

fn parse(line: &str) -> Option<Message> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    serde_json::from_str(line).ok()
}

pub(super) fn now_nanos() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;
    use std::collections::BTreeMap;
    use std::os::unix::fs::PermissionsExt;

    fn msg(action: &str) -> Message {
        Message::new(Kind::Container, action, "abc", BTreeMap::new())
    }

    #[test]
    fn appends_one_line_per_event_privately() {
        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::at(&dir.path().join("events.log"), MAX_BYTES);
        log.append(&msg("create")).unwrap();
        log.append(&msg("start")).unwrap();
        let got = log.read(|_| true).unwrap();
        let actions: Vec<&str> = got.iter().map(|m| m.action.as_str()).collect();
        assert_eq!(actions, ["create", "start"]);
        let mode = fs::metadata(dir.path().join("events.log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let log = EventLog::at(&path, MAX_BYTES);
        log.append(&msg("create")).unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"Type\":\"contai")
            .unwrap();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"\n")
            .unwrap();
        log.append(&msg("start")).unwrap();
        let got = log.read(|_| true).unwrap();
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn rotation_keeps_two_generations_and_bounds_the_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let log = EventLog::at(&path, 2000);
        for i in 0..200 {
            log.append(&msg(&format!("a{i}"))).unwrap();
        }
        let cur = fs::metadata(&path).unwrap().len();
        let old = fs::metadata(dir.path().join("events.log.1")).unwrap().len();
        assert!(cur <= 2000 + 300 && old <= 2000 + 300, "{cur} {old}");
        let got = log.read(|_| true).unwrap();
        // The newest events survive, in order, with no gap between the generations.
        assert_eq!(got.last().unwrap().action, "a199");
        let first: usize = got[0].action[1..].parse().unwrap();
        let want: Vec<String> = (first..200).map(|i| format!("a{i}")).collect();
        let have: Vec<String> = got.iter().map(|m| m.action.clone()).collect();
        assert_eq!(have, want);
        assert!(first > 0);
    }

    #[test]
    fn concurrent_writers_never_interleave() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = EventLog::at(&path, MAX_BYTES);
                std::thread::spawn(move || {
                    for i in 0..100 {
                        let mut m = msg("start");
                        m.actor
                            .attributes
                            .insert("n".into(), format!("{t}-{i}-{}", "x".repeat(300)));
                        log.append(&m).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 800);
        assert!(text.lines().all(|l| parse(l).is_some()));
    }

    #[test]
    fn following_replays_no_old_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        let log = EventLog::at(&path, MAX_BYTES);
        log.append(&msg("old")).unwrap();
        // Just rotated: `.1` holds the past, and there is no current file yet.
        fs::rename(&path, dir.path().join("events.log.1")).unwrap();
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                log.append(&msg("new")).unwrap();
            })
        };
        let mut seen = Vec::new();
        log.stream(false, true, None, |m| {
            seen.push(m.action.clone());
            false
        })
        .unwrap();
        writer.join().unwrap();
        assert_eq!(seen, ["new"]);
    }

    #[test]
    fn follow_sees_later_events_and_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.log");
        // One rotation happens while the 50 events are written (each line is ~150 bytes).
        let log = EventLog::at(&path, 5000);
        log.append(&msg("before")).unwrap();
        let writer = {
            let log = log.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                for i in 0..50 {
                    log.append(&msg(&format!("w{i}"))).unwrap();
                }
            })
        };
        let mut seen = Vec::new();
        log.stream(false, true, None, |m| {
            seen.push(m.action.clone());
            seen.len() < 50
        })
        .unwrap();
        writer.join().unwrap();
        let want: Vec<String> = (0..50).map(|i| format!("w{i}")).collect();
        assert_eq!(seen, want);
    }
}
