//! The log drivers that send each line away instead of keeping it: `syslog` (Docker's
//! formats: its default `unix`, `rfc3164`, `rfc5424`, `rfc5424micro`; over unixgram, unix,
//! udp or tcp, as moby's daemon/logger/syslog with srslog writes them) and `journald`
//! (systemd's native protocol: one datagram of `KEY=VALUE` fields per line, with Docker's
//! fields). A line is sent without blocking the monitor: what the receiver cannot take now
//! is dropped, as a full socket buffer would drop it; a stream socket that fails is dialled
//! again once per line.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::os::unix::net::{UnixDatagram, UnixStream};

use berth_monitor_proto::args::LogSink;

/// Syslog severities (RFC 5424): stdout is informational, stderr an error (Docker's).
const INFO: u32 = 6;
const ERR: u32 = 3;

enum Conn {
    Gram(UnixDatagram),
    Stream(UnixStream),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

impl Conn {
    fn send(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Gram(s) => s.send(b).map(drop),
            Conn::Udp(s) => s.send(b).map(drop),
            Conn::Stream(s) => s.write_all(b),
            Conn::Tcp(s) => s.write_all(b),
        }
    }
}

/// Dials `address` (`unixgram:PATH`, `unix:PATH`, `udp:HOST:PORT`, `tcp:HOST:PORT`, or
/// `local:PATH`: a datagram socket, else a stream one, as srslog tries the host's).
fn dial(address: &str) -> Option<Conn> {
    let (scheme, rest) = address.split_once(':')?;
    let conn = match scheme {
        "unixgram" => Conn::Gram(gram(rest)?),
        "unix" => Conn::Stream(UnixStream::connect(rest).ok()?),
        "local" => match gram(rest) {
            Some(g) => Conn::Gram(g),
            None => Conn::Stream(UnixStream::connect(rest).ok()?),
        },
        "udp" => {
            let s = UdpSocket::bind(if rest.starts_with('[') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            })
            .ok()?;
            s.connect(rest).ok()?;
            Conn::Udp(s)
        }
        "tcp" => Conn::Tcp(TcpStream::connect(rest).ok()?),
        _ => return None,
    };
    match &conn {
        Conn::Gram(s) => s.set_nonblocking(true).ok()?,
        Conn::Stream(s) => s.set_nonblocking(true).ok()?,
        Conn::Udp(s) => s.set_nonblocking(true).ok()?,
        Conn::Tcp(s) => s.set_nonblocking(true).ok()?,
    }
    Some(conn)
}

fn gram(path: &str) -> Option<UnixDatagram> {
    let s = UnixDatagram::unbound().ok()?;
    s.connect(path).ok()?;
    Some(s)
}

pub struct Remote {
    sink: LogSink,
    id: String,
    conn: Option<Conn>,
    host: String,
    pid: u32,
}

impl Remote {
    /// The sender for `sink` (syslog or journald) of container `id`.
    pub fn new(sink: LogSink, id: &str) -> Remote {
        let conn = dial(&sink.address);
        Remote {
            sink,
            id: id.to_string(),
            conn,
            host: hostname(),
            pid: std::process::id(),
        }
    }

    /// Sends one line (its newline, if any, is not part of the message).
    pub fn entry(&mut self, stream: &str, line: &[u8]) {
        let (msg, partial) = match line.strip_suffix(b"\n") {
            Some(m) => (m, false),
            None => (line, true),
        };
        if msg.is_empty() {
            return;
        }
        let severity = if stream == "stderr" { ERR } else { INFO };
        let packet = if self.sink.driver == "journald" {
            journal(&self.sink, &self.id, severity, msg, partial)
        } else {
            let pri = self.sink.facility * 8 + severity;
            syslog(&self.sink, pri, &self.host, self.pid, msg, &Clock::now())
        };
        let sent = self.conn.as_mut().map(|c| c.send(&packet));
        let stream = matches!(self.conn, Some(Conn::Stream(_) | Conn::Tcp(_)));
        if sent.is_none() || (stream && matches!(sent, Some(Err(_)))) {
            // Never connected, or a stream that broke: dial again, once for this line.
            self.conn = dial(&self.sink.address);
            if let Some(c) = self.conn.as_mut() {
                let _ = c.send(&packet);
            }
        }
    }
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is valid for writes of its length.
    unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// The local time of now, broken down (syslog's timestamps are local, as Go's time.Now()).
pub struct Clock {
    tm: libc::tm,
    micros: u32,
}

impl Clock {
    pub fn now() -> Clock {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is valid for the write.
        unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
        Clock::at(ts.tv_sec, (ts.tv_nsec / 1000) as u32)
    }

    pub fn at(secs: libc::time_t, micros: u32) -> Clock {
        // SAFETY: tm is plain data; all-zero is valid, and localtime_r fills it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // SAFETY: both pointers are valid for the call.
        unsafe { libc::localtime_r(&secs, &mut tm) };
        Clock { tm, micros }
    }

    /// Go's time.Stamp: `Jan _2 15:04:05`.
    fn stamp(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let t = &self.tm;
        format!(
            "{} {:>2} {:02}:{:02}:{:02}",
            MONTHS[t.tm_mon.clamp(0, 11) as usize],
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec
        )
    }

    /// RFC 3339, with microseconds for rfc5424micro; `Z` for UTC, else the offset.
    fn rfc3339(&self, micro: bool) -> String {
        let t = &self.tm;
        let frac = if micro {
            format!(".{:06}", self.micros)
        } else {
            String::new()
        };
        let off = t.tm_gmtoff;
        let zone = if off == 0 {
            "Z".to_string()
        } else {
            let sign = if off < 0 { '-' } else { '+' };
            format!("{sign}{:02}:{:02}", off.abs() / 3600, off.abs() / 60 % 60)
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{zone}",
            t.tm_year + 1900,
            t.tm_mon + 1,
            t.tm_mday,
            t.tm_hour,
            t.tm_min,
            t.tm_sec
        )
    }
}

/// One syslog message in the sink's format, newline-terminated as srslog sends it.
pub fn syslog(s: &LogSink, pri: u32, host: &str, pid: u32, msg: &[u8], now: &Clock) -> Vec<u8> {
    let tag = &s.tag;
    let head = match s.format.as_str() {
        "rfc3164" => format!("<{pri}>{} {host} {tag}[{pid}]: ", now.stamp()),
        "rfc5424" | "rfc5424micro" => format!(
            "<{pri}>1 {} {host} {tag} {pid} {tag} - ",
            now.rfc3339(s.format == "rfc5424micro")
        ),
        _ => format!("<{pri}>{} {tag}[{pid}]: ", now.stamp()),
    };
    let mut out = head.into_bytes();
    out.extend_from_slice(msg);
    out.push(b'\n');
    out
}

/// One journal entry in systemd's native protocol: `KEY=VALUE\n`, or for a value holding a
/// newline `KEY\n`, its length as a little-endian u64, the value and `\n`.
pub fn journal(s: &LogSink, id: &str, severity: u32, msg: &[u8], partial: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 256);
    let mut field = |k: &str, v: &[u8]| {
        out.extend_from_slice(k.as_bytes());
        if v.contains(&b'\n') {
            out.push(b'\n');
            out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(v);
        out.push(b'\n');
    };
    field("MESSAGE", msg);
    field("PRIORITY", severity.to_string().as_bytes());
    field("CONTAINER_ID", id.get(..12).unwrap_or(id).as_bytes());
    field("CONTAINER_ID_FULL", id.as_bytes());
    field("CONTAINER_NAME", s.name.as_bytes());
    field("CONTAINER_TAG", s.tag.as_bytes());
    field("IMAGE_NAME", s.image.as_bytes());
    field("SYSLOG_IDENTIFIER", s.tag.as_bytes());
    if partial {
        field("CONTAINER_PARTIAL_MESSAGE", b"true");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(format: &str) -> LogSink {
        LogSink {
            driver: "syslog".into(),
            tag: "web".into(),
            format: format.into(),
            facility: 3,
            name: "web".into(),
            image: "busybox".into(),
            ..Default::default()
        }
    }

    #[test]
    fn syslog_formats_are_dockers() {
        // SAFETY: a test process setting its own time zone before reading the clock.
        unsafe { std::env::set_var("TZ", "UTC") };
        let t = Clock::at(1_700_000_000, 123_456);
        let line = |f: &str| String::from_utf8(syslog(&sink(f), 30, "h", 7, b"hi", &t)).unwrap();
        assert_eq!(line(""), "<30>Nov 14 22:13:20 web[7]: hi\n");
        assert_eq!(line("rfc3164"), "<30>Nov 14 22:13:20 h web[7]: hi\n");
        assert_eq!(
            line("rfc5424"),
            "<30>1 2023-11-14T22:13:20Z h web 7 web - hi\n"
        );
        assert_eq!(
            line("rfc5424micro"),
            "<30>1 2023-11-14T22:13:20.123456Z h web 7 web - hi\n"
        );
        let early = Clock::at(1_699_000_000, 0);
        assert!(syslog(&sink(""), 27, "h", 7, b"x", &early).starts_with(b"<27>Nov  3 "));
    }

    #[test]
    fn journal_fields_use_the_native_protocol() {
        let id = "0123456789abcdef0123";
        let e = journal(&sink(""), id, 6, b"hello", false);
        let text = String::from_utf8(e).unwrap();
        assert!(text.starts_with("MESSAGE=hello\nPRIORITY=6\nCONTAINER_ID=0123456789ab\n"));
        assert!(text.contains("CONTAINER_ID_FULL=0123456789abcdef0123\n"));
        assert!(text.contains("IMAGE_NAME=busybox\nSYSLOG_IDENTIFIER=web\n"));
        let e = journal(&sink(""), id, 3, b"a\nb", true);
        assert!(e.starts_with(b"MESSAGE\n\x03\0\0\0\0\0\0\0a\nb\nPRIORITY=3\n"));
        assert!(e.ends_with(b"CONTAINER_PARTIAL_MESSAGE=true\n"));
    }
}
