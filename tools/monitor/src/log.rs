//! Where the container's lines go ([`Sink`]): Docker's json-file log, one JSON object per
//! line, `{"log":"...","stream":"stdout","time":"<RFC 3339, nanoseconds, UTC>"}`, rotated by
//! size into `.1`, `.2`, ... (newest first), keeping `max_file` files in all; the `local`
//! driver (berth's own on-disk format: the same lines, Docker's local defaults, and with
//! `compress` each rotated file gzipped to `.N.gz` by `monitor-hook compress`); `none`; or
//! away to syslog or journald (`remote.rs`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// Docker's json-file mode: the log carries whatever the container prints, secrets included,
/// so others may not read it (`berth::store::private::LOG`; this binary links libc only).
pub const MODE: u32 = 0o640;

/// Docker's line buffer: a longer line is logged in pieces, the last with its newline.
pub const MAX_LINE: usize = 16 * 1024;

/// The log driver's writer.
pub enum Sink {
    File(Log),
    Remote(crate::remote::Remote),
    None,
}

impl Sink {
    pub fn entry(&mut self, stream: &str, msg: &[u8]) {
        match self {
            Sink::File(l) => l.entry(stream, msg),
            Sink::Remote(r) => r.entry(stream, msg),
            Sink::None => {}
        }
    }

    /// True once after a rotation whose file is to be compressed.
    pub fn take_rotated(&mut self) -> bool {
        match self {
            Sink::File(l) => std::mem::take(&mut l.rotated) && l.compress,
            _ => false,
        }
    }
}

pub struct Log {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    max_size: u64,
    max_file: u32,
    /// Rotated files are gzipped (the local driver's `compress`).
    pub compress: bool,
    /// Each line's `attrs` object (moby's extra attributes), or empty.
    pub attrs: String,
    rotated: bool,
}

impl Log {
    pub fn open(path: PathBuf, max_size: u64, max_file: u32) -> Log {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(MODE)
            .open(&path)
            .ok();
        let size = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        Log {
            path,
            file,
            size,
            max_size,
            max_file: max_file.max(1),
            compress: false,
            attrs: String::new(),
            rotated: false,
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut s = self.path.clone().into_os_string();
        s.push(format!(".{n}"));
        PathBuf::from(s)
    }

    fn rotate(&mut self) {
        self.file = None;
        if self.max_file > 1 {
            for n in (1..self.max_file - 1).rev() {
                let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
                let gz = |p: PathBuf| {
                    let mut s = p.into_os_string();
                    s.push(".gz");
                    PathBuf::from(s)
                };
                let _ = std::fs::rename(gz(self.rotated(n)), gz(self.rotated(n + 1)));
            }
            let _ = std::fs::rename(&self.path, self.rotated(1));
            self.rotated = true;
        }
        self.file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(MODE)
            .open(&self.path)
            .ok();
        self.size = 0;
    }

    /// Writes one log entry.
    pub fn entry(&mut self, stream: &str, msg: &[u8]) {
        let mut line = Vec::with_capacity(msg.len() + 80);
        line.extend_from_slice(b"{\"log\":\"");
        escape(msg, &mut line);
        line.extend_from_slice(b"\",\"stream\":\"");
        line.extend_from_slice(stream.as_bytes());
        if !self.attrs.is_empty() {
            // Docker's field order: log, stream, attrs, time.
            line.extend_from_slice(b"\",\"attrs\":");
            line.extend_from_slice(self.attrs.as_bytes());
            line.extend_from_slice(b",\"time\":\"");
        } else {
            line.extend_from_slice(b"\",\"time\":\"");
        }
        line.extend_from_slice(now_rfc3339().as_bytes());
        line.extend_from_slice(b"\"}\n");
        if self.max_size > 0 && self.size > 0 && self.size + line.len() as u64 > self.max_size {
            self.rotate();
        }
        if let Some(f) = self.file.as_mut()
            && f.write_all(&line).is_ok()
        {
            self.size += line.len() as u64;
        }
    }
}

/// JSON string escaping as Go's encoding/json does it (so readers see what Docker writes):
/// control characters, quotes, backslashes, and <, >, & as \u escapes; invalid UTF-8 as
/// U+FFFD.
pub fn escape(msg: &[u8], out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(msg);
    for c in text.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20
                || c == '<'
                || c == '>'
                || c == '&'
                || c == '\u{2028}'
                || c == '\u{2029}' =>
            {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn format_time(secs: i64, nanos: u32) -> String {
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

pub fn now_rfc3339() -> String {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for the write.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    format_time(ts.tv_sec, ts.tv_nsec as u32)
}

/// Splits a stream into lines, holding a partial line until its end (or MAX_LINE) arrives.
#[derive(Default)]
pub struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    pub fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(data);
        let mut start = 0;
        while let Some(i) = self.buf[start..].iter().position(|b| *b == b'\n') {
            emit(&self.buf[start..start + i + 1]);
            start += i + 1;
        }
        self.buf.drain(..start);
        while self.buf.len() >= MAX_LINE {
            let rest = self.buf.split_off(MAX_LINE);
            emit(&self.buf);
            self.buf = rest;
        }
    }

    pub fn flush(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            emit(&self.buf);
            self.buf.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_escapes_match_docker() {
        assert_eq!(format_time(0, 5), "1970-01-01T00:00:00.000000005Z");
        assert_eq!(
            format_time(1_700_000_000, 0),
            "2023-11-14T22:13:20.000000000Z"
        );
        let mut out = Vec::new();
        escape(b"a\"b\\<\x01\n", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\\"b\\\\\\u003c\\u0001\\n"
        );
    }

    #[test]
    fn lines_split_and_hold_partials() {
        let mut l = Lines::default();
        let mut got: Vec<Vec<u8>> = Vec::new();
        l.push(b"one\ntw", |b| got.push(b.to_vec()));
        l.push(b"o\n", |b| got.push(b.to_vec()));
        l.flush(|b| got.push(b.to_vec()));
        assert_eq!(got, vec![b"one\n".to_vec(), b"two\n".to_vec()]);
    }

    #[test]
    fn rotation_keeps_max_file_files() {
        let d = std::env::temp_dir().join(format!("berth-mon-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        let p = d.join("c-json.log");
        let mut log = Log::open(p.clone(), 200, 3);
        for i in 0..20 {
            log.entry("stdout", format!("line {i}\n").as_bytes());
        }
        assert!(p.exists());
        assert!(d.join("c-json.log.1").exists() && d.join("c-json.log.2").exists());
        assert!(!d.join("c-json.log.3").exists());
        assert!(std::fs::metadata(&p).unwrap().len() <= 200);
        // Rotated or new, a log is never readable by others (Docker's 0640).
        use std::os::unix::fs::PermissionsExt;
        for f in ["c-json.log", "c-json.log.1", "c-json.log.2"] {
            let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o007, 0, "{f}: {mode:o}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }
}
