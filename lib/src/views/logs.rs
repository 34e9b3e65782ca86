//! `logs`: reads the monitor's json-file logs (`<id>-json.log`, rotated to `.1`, `.2`...;
//! Docker's format, one `{"log":..,"stream":..,"time":..}` per line), keeping stdout and
//! stderr apart. The local driver's are the same, its rotated files gzipped (`.N.gz`, read
//! through an anonymous memory file); none, syslog and journald keep nothing to read.
//!
//! `--tail` and `--since` SEEK rather than scan (moby#27957): `--tail N` reads the files
//! backwards from the end in blocks until it has N lines; `--since T` binary-searches the
//! byte offsets of the file that holds T (lines are in time order across the rotated files).
//! `--until` stops reading at the first later line. `-f` follows the current file through
//! rotations (inotify on the container directory) and ends when the container stops.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

mod seek;

use seek::{BLOCK, LogFile, Pos, ino, inode, open_snapshot, since_start, tail_start};

use crate::error::IoContext;
use crate::state::{Containers, truth};
use crate::views::status::status_of;
use crate::views::{Result, ViewError};

/// Which stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub stream: Stream,
    pub time: DateTime<Utc>,
    /// The text as the container wrote it, newline included.
    pub log: String,
    /// moby's extra attributes (`--log-opt labels/env`), keys sorted.
    pub attrs: std::collections::BTreeMap<String, String>,
}

impl Entry {
    /// Docker's `-t` prefix: RFC 3339 with nine fraction digits, then a space.
    pub fn timestamp(&self) -> String {
        self.time.to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    /// Docker's `--details` prefix: the attributes as `k=v` pairs, query-escaped as Go's
    /// `url.QueryEscape`, joined by commas, then a space (a lone space when there are none).
    pub fn details(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.attrs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&query_escape(k));
            out.push('=');
            out.push_str(&query_escape(v));
        }
        out.push(' ');
        out
    }
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
/// Nine lines do not justify a URL crate.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// `--tail N`; `None` is `all`.
    pub tail: Option<usize>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub follow: bool,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow, default)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
    #[serde(default)]
    attrs: std::collections::BTreeMap<String, String>,
}

/// Parses one json-file line; `None` for anything else (a torn last line, garbage).
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    let l: Line = serde_json::from_slice(line).ok()?;
    let time = DateTime::parse_from_rfc3339(&l.time)
        .ok()?
        .with_timezone(&Utc);
    Some(Entry {
        stream: if l.stream == "stderr" {
            Stream::Stderr
        } else {
            Stream::Stdout
        },
        time,
        log: l.log.into_owned(),
        attrs: l.attrs,
    })
}

/// The container's log files, oldest first: `.N` ... `.1`, then the current file. Only
/// files that exist are listed.
pub fn files(current: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
        return Vec::new();
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut rotated: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let n = n.strip_prefix(&prefix)?;
            // The local driver gzips rotated files (`.N.gz`).
            let idx: u32 = n.strip_suffix(".gz").unwrap_or(n).parse().ok()?;
            Some((idx, e.path()))
        })
        .collect();
    rotated.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if current.exists() {
        out.push(current.to_path_buf());
    }
    out
}

/// Writes each selected line to `sink`, then, with `follow`, keeps following the current file
/// until `running` says the container stopped. `current` is `<id>-json.log`.
pub fn read(
    current: &Path,
    opts: &LogOptions,
    sink: &mut dyn FnMut(&Entry) -> io::Result<()>,
    running: &mut dyn FnMut() -> bool,
) -> Result<()> {
    let files = open_snapshot(current)?;
    let mut start: Pos = (0, 0);
    if let Some(n) = opts.tail {
        start = start.max(tail_start(&files, n)?);
    }
    if let Some(s) = opts.since {
        start = start.max(since_start(&files, s)?);
    }
    let mut reader = Reader {
        opts,
        sink,
        partial: Vec::new(),
        done: false,
    };
    let mut open: Option<(File, PathBuf)> = None;
    for (i, lf) in files.into_iter().enumerate().skip(start.0) {
        let LogFile { path, mut file } = lf;
        let from = if i == start.0 { start.1 } else { 0 };
        file.seek(SeekFrom::Start(from)).with_path("seek", &path)?;
        reader.partial.clear();
        reader.drain(&mut file, &path)?;
        if reader.done {
            return Ok(());
        }
        open = Some((file, path));
    }
    if !opts.follow {
        return Ok(());
    }
    follow(current, open, &mut reader, running)
}

struct Reader<'a> {
    opts: &'a LogOptions,
    sink: &'a mut dyn FnMut(&Entry) -> io::Result<()>,
    /// A line whose newline has not been written yet.
    partial: Vec<u8>,
    /// `--until` was passed: nothing more will be shown.
    done: bool,
}

impl Reader<'_> {
    /// Emits every complete line from the file's position to its end.
    fn drain(&mut self, f: &mut File, path: &Path) -> Result<()> {
        let mut buf = vec![0u8; BLOCK as usize];
        loop {
            let n = f.read(&mut buf).with_path("read", path)?;
            if n == 0 {
                return Ok(());
            }
            let mut chunk = &buf[..n];
            while let Some(nl) = chunk.iter().position(|b| *b == b'\n') {
                self.partial.extend_from_slice(&chunk[..nl]);
                chunk = &chunk[nl + 1..];
                let line = std::mem::take(&mut self.partial);
                self.emit(&line)?;
                if self.done {
                    return Ok(());
                }
            }
            self.partial.extend_from_slice(chunk);
        }
    }

    fn emit(&mut self, line: &[u8]) -> Result<()> {
        let Some(e) = parse_line(line) else {
            return Ok(());
        };
        if self.opts.since.is_some_and(|s| e.time < s) {
            return Ok(());
        }
        if self.opts.until.is_some_and(|u| e.time > u) {
            self.done = true;
            return Ok(());
        }
        (self.sink)(&e).map_err(ViewError::Write)
    }
}

/// Follows `current` after the initial read: new lines as they come, through rotations (the
/// file we hold was renamed to `.1`: finish it, then read the newer ones), until the container
/// stops (then one last drain) or `--until` has passed.
fn follow(
    current: &Path,
    mut open: Option<(File, PathBuf)>,
    reader: &mut Reader,
    running: &mut dyn FnMut() -> bool,
) -> Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
    use std::os::fd::AsFd;

    let dir = current.parent().unwrap_or(Path::new("."));
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .with_path("inotify_init", dir)?;
    inotify
        .add_watch(
            dir,
            AddWatchFlags::IN_MODIFY
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_DELETE_SELF,
        )
        .with_path("watch", dir)?;
    let mut stopping = false;
    loop {
        // Catch up: the file we hold, then, if it was rotated away, every newer file in order
        // (several rotations may have happened since we last looked).
        loop {
            if let Some((f, p)) = open.as_mut() {
                reader.drain(f, p)?;
                if reader.done {
                    return Ok(());
                }
            }
            let held = open.as_ref().and_then(|(f, _)| ino(f));
            match inode(current) {
                Some(now) if Some(now) != held => {}
                _ => break,
            }
            let set = open_snapshot(current)?;
            let newer = match set.iter().position(|lf| ino(&lf.file) == held) {
                Some(i) => i + 1,
                // Ours fell off the end (deleted): everything left is newer.
                None => 0,
            };
            if newer >= set.len() {
                break;
            }
            for lf in set.into_iter().skip(newer) {
                let LogFile { path, mut file } = lf;
                reader.partial.clear();
                reader.drain(&mut file, &path)?;
                if reader.done {
                    return Ok(());
                }
                open = Some((file, path));
            }
        }
        if stopping || !dir.exists() {
            return Ok(());
        }
        if reader.opts.until.is_some_and(|u| Utc::now() > u) {
            return Ok(());
        }
        if !running() {
            // The monitor writes the last lines before it records the exit; one more pass
            // picks them up.
            stopping = true;
            continue;
        }
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        // Wake on any change in the directory; check the container's state at least every
        // quarter second.
        let _ = poll(&mut fds, PollTimeout::from(250u16));
        let _ = inotify.read_events();
    }
}

/// `logs` for a container: its log files, followed (with `-f`) until it stops. The
/// container's state is checked the truthful way, so a container whose process died unseen
/// ends the follow too.
pub fn container_logs(
    containers: &Containers,
    name: &str,
    opts: &LogOptions,
    sink: &mut dyn FnMut(&Entry) -> io::Result<()>,
) -> Result<()> {
    let id = containers.resolve(name)?;
    let driver = containers
        .load(&id)?
        .process
        .map(|p| p.log_driver)
        .unwrap_or_default();
    if !crate::container::logdriver::readable(&driver) {
        return Err(ViewError::Unreadable);
    }
    let current = containers.paths().log(&id);
    let mut running = || {
        containers
            .load(&id)
            .ok()
            .and_then(|r| truth::observe(containers, r).ok())
            .is_some_and(|r| status_of(&r).is_active())
    };
    read(&current, opts, sink, &mut running)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use std::io::Write;

    #[test]
    fn details_are_gos_query_escaped_pairs_then_a_space() {
        let e = parse_line(
            br#"{"log":"x\n","stream":"stdout","attrs":{"b":"1/2","a":"a b&c"},"time":"2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(e.details(), "a=a+b%26c,b=1%2F2 ");
        let plain = parse_line(br#"{"log":"x\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}"#)
            .unwrap();
        assert_eq!(plain.details(), " ");
    }

    fn line(t: DateTime<Utc>, stream: &str, text: &str) -> String {
        format!(
            "{}\n",
            serde_json::json!({"log": format!("{text}\n"), "stream": stream, "time": t.to_rfc3339_opts(SecondsFormat::Nanos, true)})
        )
    }

    /// 30 lines, one a second from t0, 10 per file: `.2` (0-9), `.1` (10-19), current (20-29).
    fn fixture(dir: &Path, t0: DateTime<Utc>) -> PathBuf {
        let current = dir.join("x-json.log");
        for (file, range) in [
            ("x-json.log.2", 0..10),
            ("x-json.log.1", 10..20),
            ("x-json.log", 20..30),
        ] {
            let mut f = File::create(dir.join(file)).unwrap();
            for i in range {
                let s = if i % 3 == 0 { "stderr" } else { "stdout" };
                f.write_all(line(t0 + Duration::seconds(i), s, &format!("line {i}")).as_bytes())
                    .unwrap();
            }
        }
        current
    }

    fn collect(current: &Path, opts: LogOptions) -> Vec<String> {
        let mut out = Vec::new();
        read(
            current,
            &opts,
            &mut |e| {
                out.push(e.log.trim_end().to_string());
                Ok(())
            },
            &mut || false,
        )
        .unwrap();
        out
    }

    fn nums(v: &[String]) -> Vec<u32> {
        v.iter().map(|s| s[5..].parse().unwrap()).collect()
    }

    #[test]
    fn tail_since_until_across_rotated_files() {
        let d = tempfile::tempdir().unwrap();
        let t0: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        let cur = fixture(d.path(), t0);
        assert_eq!(files(&cur).len(), 3);
        assert_eq!(
            nums(&collect(&cur, LogOptions::default())),
            (0..30).collect::<Vec<_>>()
        );
        let tail = |n| {
            nums(&collect(
                &cur,
                LogOptions {
                    tail: Some(n),
                    ..Default::default()
                },
            ))
        };
        assert_eq!(tail(3), [27, 28, 29]);
        assert_eq!(tail(10), (20..30).collect::<Vec<_>>());
        assert_eq!(tail(12), (18..30).collect::<Vec<_>>());
        assert_eq!(tail(25), (5..30).collect::<Vec<_>>());
        assert_eq!(tail(100).len(), 30);
        assert!(tail(0).is_empty());
        let at = |s: i64| Some(t0 + Duration::seconds(s));
        let since = |s| {
            nums(&collect(
                &cur,
                LogOptions {
                    since: at(s),
                    ..Default::default()
                },
            ))
        };
        assert_eq!(since(27), [27, 28, 29]);
        assert_eq!(since(15)[0], 15);
        assert_eq!(since(5)[0], 5);
        assert_eq!(since(-100).len(), 30);
        assert!(since(100).is_empty());
        // Both: the later start wins; until stops early.
        let o = LogOptions {
            since: at(5),
            tail: Some(4),
            until: at(27),
            ..Default::default()
        };
        assert_eq!(nums(&collect(&cur, o)), [26, 27]);
        let o = LogOptions {
            since: at(12),
            until: at(13),
            ..Default::default()
        };
        assert_eq!(nums(&collect(&cur, o)), [12, 13]);
    }

    #[test]
    fn since_uses_binary_search_on_big_files() {
        let d = tempfile::tempdir().unwrap();
        let t0: DateTime<Utc> = "2024-01-01T00:00:00Z".parse().unwrap();
        let cur = d.path().join("x-json.log");
        let mut f = std::io::BufWriter::new(File::create(&cur).unwrap());
        for i in 0..20_000 {
            f.write_all(
                line(
                    t0 + Duration::milliseconds(i * 10),
                    "stdout",
                    &format!("line {i}"),
                )
                .as_bytes(),
            )
            .unwrap();
        }
        // A torn last line (being written) is not shown.
        f.write_all(b"{\"log\":\"torn").unwrap();
        drop(f);
        for s in [0, 1, 7777, 19_999] {
            let got = collect(
                &cur,
                LogOptions {
                    since: Some(t0 + Duration::milliseconds(s * 10)),
                    ..Default::default()
                },
            );
            assert_eq!(nums(&got)[0] as i64, s);
            assert_eq!(got.len() as i64, 20_000 - s);
        }
        assert_eq!(
            nums(&collect(
                &cur,
                LogOptions {
                    tail: Some(2),
                    ..Default::default()
                }
            )),
            [19_998, 19_999]
        );
    }

    #[test]
    fn streams_stay_apart() {
        let d = tempfile::tempdir().unwrap();
        let cur = fixture(d.path(), Utc::now());
        let mut err = Vec::new();
        read(
            &cur,
            &LogOptions {
                tail: Some(4),
                ..Default::default()
            },
            &mut |e| {
                if e.stream == Stream::Stderr {
                    err.push(e.log.clone());
                }
                Ok(())
            },
            &mut || false,
        )
        .unwrap();
        assert_eq!(err, ["line 27\n"]);
    }

    #[test]
    fn follow_reads_through_rotation_and_ends_when_stopped() {
        let d = tempfile::tempdir().unwrap();
        let cur = d.path().join("x-json.log");
        std::fs::write(&cur, line(Utc::now(), "stdout", "line 0")).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (cur, stop) = (cur.clone(), stop.clone());
            std::thread::spawn(move || {
                let append = |i: u32| {
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .create(true)
                        .open(&cur)
                        .unwrap();
                    f.write_all(line(Utc::now(), "stdout", &format!("line {i}")).as_bytes())
                        .unwrap();
                };
                for i in 1..5 {
                    append(i);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                // Rotate as the monitor does, then keep writing to a new file.
                std::fs::rename(&cur, cur.with_extension("log.1")).unwrap();
                for i in 5..8 {
                    append(i);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                // Two rotations back to back, with lines in between: the follower must read
                // the file in the middle too.
                std::fs::rename(cur.with_extension("log.1"), cur.with_extension("log.2")).unwrap();
                std::fs::rename(&cur, cur.with_extension("log.1")).unwrap();
                append(8);
                std::fs::rename(cur.with_extension("log.2"), cur.with_extension("log.3")).unwrap();
                std::fs::rename(cur.with_extension("log.1"), cur.with_extension("log.2")).unwrap();
                std::fs::rename(&cur, cur.with_extension("log.1")).unwrap();
                append(9);
                std::thread::sleep(std::time::Duration::from_millis(50));
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            })
        };
        let mut got = Vec::new();
        read(
            &cur,
            &LogOptions {
                follow: true,
                ..Default::default()
            },
            &mut |e| {
                got.push(e.log.trim_end().to_string());
                Ok(())
            },
            &mut || !stop.load(std::sync::atomic::Ordering::SeqCst),
        )
        .unwrap();
        writer.join().unwrap();
        assert_eq!(nums(&got), (0..10).collect::<Vec<_>>());
    }
}
