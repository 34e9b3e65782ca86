//! The monitor's command line: berth-spawn writes it ([`Args::to_argv`]) and berth-monitor
//! parses it ([`Args::parse`]). Every argument is `--NAME=VALUE`; the monitor needs nothing
//! else (it never reads a record). A missing, unknown or malformed argument is an
//! [`ArgError`]: the monitor reports it on its report pipe ([`crate::ready`]) and exits.
//!
//! Descriptors are numbers valid in the monitor (berth-spawn clears their close-on-exec flag
//! before it execs the monitor).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::fd::RawFd;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

/// Everything the monitor is told at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args {
    /// The container's id (`--id`).
    pub id: String,
    /// The container's init, the monitor's child (`--pid`).
    pub pid: i32,
    /// The json-file log (`--log`).
    pub log: PathBuf,
    /// Rotate the log past this many bytes; 0 never rotates (`--max-size`).
    pub max_size: u64,
    /// Log files kept, the current one included; at least 1 (`--max-file`).
    pub max_file: u32,
    /// berth-spawn, run for `monitor-hook` (`--spawn`).
    pub spawn: PathBuf,
    /// BERTH_ROOT (`--root`) and BERTH_RUN_ROOT (`--run-root`), for the hooks.
    pub root: PathBuf,
    pub run_root: PathBuf,
    /// Read ends of the container's stdout and stderr pipes.
    pub stdout: Option<RawFd>,
    pub stderr: Option<RawFd>,
    /// Their write ends, handed to a restarted container.
    pub stdout_w: Option<RawFd>,
    pub stderr_w: Option<RawFd>,
    /// The read end of the container's stdin pipe, handed to a restarted container.
    pub stdin: Option<RawFd>,
    /// The write end of the container's stdin pipe (`-i`), fed by attached clients.
    pub stdin_w: Option<RawFd>,
    /// The terminal's master side (`-t`).
    pub tty: Option<RawFd>,
    /// The attach socket to listen on.
    pub attach: Option<PathBuf>,
    /// An attached client handed over at start (`run -it`, `start -a`).
    pub client: Option<RawFd>,
    /// The report pipe: the monitor writes its ready line there ([`crate::ready`]).
    pub ready: Option<RawFd>,
    /// The container has a health check: milliseconds from a start to its first probe
    /// (`--health`); each probe (`monitor-hook health ID`) answers with the next delay.
    pub health: Option<u64>,
    /// Where the container's output goes ([`LogSink`]); json-file when absent.
    pub sink: LogSink,
}

/// The log driver and what it needs (`--log-driver` and the `--log-*` after it), resolved by
/// berth-spawn from the record's `--log-driver`/`--log-opt`, so the monitor parses no option.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogSink {
    /// `json-file` (default), `local`, `none`, `syslog` or `journald` (`--log-driver`).
    pub driver: String,
    /// syslog's tag, journald's SYSLOG_IDENTIFIER and CONTAINER_TAG (`--log-tag`).
    pub tag: String,
    /// syslog: `unixgram:PATH`, `unix:PATH`, `udp:HOST:PORT` or `tcp:HOST:PORT`; journald:
    /// the journal's socket path (`--log-address`).
    pub address: String,
    /// syslog: `unix` (Docker's default), `rfc3164`, `rfc5424` or `rfc5424micro`
    /// (`--log-format`).
    pub format: String,
    /// syslog: the facility's number, 0..=23 (`--log-facility`; Docker's default: daemon, 3).
    pub facility: u32,
    /// journald: CONTAINER_NAME and IMAGE_NAME (`--log-name`, `--log-image`).
    pub name: String,
    pub image: String,
    /// local: gzip the rotated files (`--log-compress=1`).
    pub compress: bool,
    /// json-file and local: each line's `attrs`, a JSON object (`--log-attrs`; moby's extra
    /// attributes from `--log-opt labels/env`).
    pub attrs: String,
}

/// A command line the monitor cannot run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError {
    /// What is wrong, one line.
    pub message: String,
    /// The report pipe, if its argument was read before the error: where to say it.
    pub ready: Option<RawFd>,
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "berth-monitor: {} (it is started by berth-spawn only; are berth-spawn and \
             berth-monitor from the same build?)",
            self.message
        )
    }
}

impl std::error::Error for ArgError {}

fn arg(name: &str, value: impl AsRef<OsStr>) -> OsString {
    let mut s = OsString::from(format!("--{name}="));
    s.push(value);
    s
}

impl Args {
    /// The command line, without the program name.
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut v = vec![
            arg("id", &self.id),
            arg("pid", self.pid.to_string()),
            arg("log", &self.log),
            arg("max-size", self.max_size.to_string()),
            arg("max-file", self.max_file.to_string()),
            arg("spawn", &self.spawn),
            arg("root", &self.root),
            arg("run-root", &self.run_root),
        ];
        let fds = [
            ("stdout", self.stdout),
            ("stderr", self.stderr),
            ("stdout-w", self.stdout_w),
            ("stderr-w", self.stderr_w),
            ("stdin", self.stdin),
            ("stdin-w", self.stdin_w),
            ("tty", self.tty),
            ("client", self.client),
            ("ready", self.ready),
        ];
        for (name, fd) in fds {
            if let Some(fd) = fd {
                v.push(arg(name, fd.to_string()));
            }
        }
        if let Some(p) = &self.attach {
            v.push(arg("attach", p));
        }
        if let Some(ms) = self.health {
            v.push(arg("health", ms.to_string()));
        }
        let k = &self.sink;
        if !k.driver.is_empty() {
            v.push(arg("log-driver", &k.driver));
            v.push(arg("log-facility", k.facility.to_string()));
            v.push(arg("log-compress", if k.compress { "1" } else { "0" }));
        }
        for (name, value) in [
            ("log-tag", &k.tag),
            ("log-address", &k.address),
            ("log-format", &k.format),
            ("log-name", &k.name),
            ("log-image", &k.image),
            ("log-attrs", &k.attrs),
        ] {
            if !value.is_empty() {
                v.push(arg(name, value));
            }
        }
        v
    }

    /// Parses a command line (without the program name).
    pub fn parse(argv: impl IntoIterator<Item = OsString>) -> Result<Args, ArgError> {
        let mut a = Args::default();
        let mut seen = Vec::new();
        let mut failed = None;
        for s in argv {
            if let Err(message) = a.set(&s, &mut seen) {
                // Go on: a later `--ready` is still where to report this.
                failed.get_or_insert(message);
            }
        }
        for required in [
            "id", "pid", "log", "max-size", "max-file", "spawn", "root", "run-root",
        ] {
            if !seen.contains(&required) {
                failed.get_or_insert(format!("missing --{required}"));
            }
        }
        match failed {
            None => Ok(a),
            Some(message) => Err(ArgError {
                message,
                ready: a.ready,
            }),
        }
    }

    /// Applies one `--NAME=VALUE`.
    fn set(&mut self, s: &OsStr, seen: &mut Vec<&'static str>) -> Result<(), String> {
        let b = s.as_bytes();
        let (k, v) = match b.iter().position(|&c| c == b'=') {
            Some(i) if b.starts_with(b"--") => (&b[2..i], &b[i + 1..]),
            _ => return Err(format!("bad argument {s:?}: expected --NAME=VALUE")),
        };
        let name = std::str::from_utf8(k).unwrap_or("");
        let (name, slot): (&'static str, Slot<'_>) = match name {
            "id" => ("id", Slot::Text(&mut self.id)),
            "pid" => ("pid", Slot::Pid(&mut self.pid)),
            "log" => ("log", Slot::Path(&mut self.log)),
            "max-size" => ("max-size", Slot::Size(&mut self.max_size)),
            "max-file" => ("max-file", Slot::Count(&mut self.max_file)),
            "spawn" => ("spawn", Slot::Path(&mut self.spawn)),
            "root" => ("root", Slot::Path(&mut self.root)),
            "run-root" => ("run-root", Slot::Path(&mut self.run_root)),
            "stdout" => ("stdout", Slot::Fd(&mut self.stdout)),
            "stderr" => ("stderr", Slot::Fd(&mut self.stderr)),
            "stdout-w" => ("stdout-w", Slot::Fd(&mut self.stdout_w)),
            "stderr-w" => ("stderr-w", Slot::Fd(&mut self.stderr_w)),
            "stdin" => ("stdin", Slot::Fd(&mut self.stdin)),
            "stdin-w" => ("stdin-w", Slot::Fd(&mut self.stdin_w)),
            "tty" => ("tty", Slot::Fd(&mut self.tty)),
            "client" => ("client", Slot::Fd(&mut self.client)),
            "ready" => ("ready", Slot::Fd(&mut self.ready)),
            "attach" => ("attach", Slot::OptPath(&mut self.attach)),
            "health" => ("health", Slot::Millis(&mut self.health)),
            "log-driver" => ("log-driver", Slot::Text(&mut self.sink.driver)),
            "log-tag" => ("log-tag", Slot::Text(&mut self.sink.tag)),
            "log-address" => ("log-address", Slot::Text(&mut self.sink.address)),
            "log-format" => ("log-format", Slot::Text(&mut self.sink.format)),
            "log-facility" => ("log-facility", Slot::Number(&mut self.sink.facility)),
            "log-name" => ("log-name", Slot::Text(&mut self.sink.name)),
            "log-image" => ("log-image", Slot::Text(&mut self.sink.image)),
            "log-attrs" => ("log-attrs", Slot::Text(&mut self.sink.attrs)),
            "log-compress" => ("log-compress", Slot::Flag(&mut self.sink.compress)),
            _ => return Err(format!("unknown argument {s:?}")),
        };
        if seen.contains(&name) {
            return Err(format!("--{name} given twice"));
        }
        seen.push(name);
        slot.set(v).map_err(|what| {
            format!(
                "bad value for --{name}: {:?} ({what})",
                OsStr::from_bytes(v)
            )
        })
    }
}

/// Where a value goes, and how it is read.
enum Slot<'a> {
    Text(&'a mut String),
    Path(&'a mut PathBuf),
    OptPath(&'a mut Option<PathBuf>),
    Pid(&'a mut i32),
    Size(&'a mut u64),
    Count(&'a mut u32),
    Fd(&'a mut Option<RawFd>),
    Millis(&'a mut Option<u64>),
    Number(&'a mut u32),
    Flag(&'a mut bool),
}

impl Slot<'_> {
    /// Stores `v`, or says what it should have been.
    fn set(self, v: &[u8]) -> Result<(), &'static str> {
        let text = || std::str::from_utf8(v).map_err(|_| "not UTF-8");
        let path = || {
            if v.is_empty() {
                Err("an empty path")
            } else {
                Ok(PathBuf::from(OsString::from_vec(v.to_vec())))
            }
        };
        match self {
            Slot::Text(t) => match text()? {
                "" => return Err("empty"),
                s => *t = s.to_string(),
            },
            Slot::Path(p) => *p = path()?,
            Slot::OptPath(p) => *p = Some(path()?),
            Slot::Pid(p) => {
                *p = text()?
                    .parse()
                    .ok()
                    .filter(|&n: &i32| n > 0)
                    .ok_or("a process id above 0")?
            }
            Slot::Size(n) => *n = text()?.parse().map_err(|_| "a size in bytes")?,
            Slot::Count(n) => {
                *n = text()?
                    .parse()
                    .ok()
                    .filter(|&n: &u32| n >= 1)
                    .ok_or("a count of at least 1")?
            }
            Slot::Number(n) => *n = text()?.parse().map_err(|_| "a number")?,
            Slot::Flag(b) => {
                *b = match text()? {
                    "1" => true,
                    "0" => false,
                    _ => return Err("0 or 1"),
                }
            }
            Slot::Millis(ms) => {
                *ms = Some(text()?.parse().map_err(|_| "milliseconds")?);
            }
            Slot::Fd(fd) => {
                *fd = Some(
                    text()?
                        .parse()
                        .ok()
                        .filter(|&n: &RawFd| n >= 0)
                        .ok_or("a descriptor number")?,
                )
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Args {
        Args {
            id: "c0ffee".into(),
            pid: 42,
            log: "/var/lib/berth/containers/c0ffee/c0ffee-json.log".into(),
            max_size: 10 << 20,
            max_file: 3,
            spawn: "/usr/bin/berth-spawn".into(),
            root: "/var/lib/berth".into(),
            run_root: "/run/berth".into(),
            ..Default::default()
        }
    }

    fn argv(items: &[&str]) -> Vec<OsString> {
        items.iter().map(OsString::from).collect()
    }

    #[test]
    fn every_field_round_trips() {
        let full = Args {
            stdout: Some(3),
            stderr: Some(4),
            stdout_w: Some(5),
            stderr_w: Some(6),
            stdin: Some(7),
            stdin_w: Some(8),
            tty: Some(9),
            attach: Some("/run/berth/attach/c0ffee".into()),
            client: Some(10),
            ready: Some(11),
            health: Some(1000),
            sink: LogSink {
                driver: "syslog".into(),
                tag: "web/c0ffee".into(),
                address: "unixgram:/tmp/log.sock".into(),
                format: "rfc5424".into(),
                facility: 16,
                name: "web".into(),
                image: "busybox".into(),
                compress: true,
                attrs: r#"{"a":"b c"}"#.into(),
            },
            ..minimal()
        };
        assert_eq!(Args::parse(full.to_argv()), Ok(full.clone()));
        assert_eq!(Args::parse(minimal().to_argv()), Ok(minimal()));
    }

    #[test]
    fn paths_that_are_not_utf8_survive() {
        let mut a = minimal();
        a.root = PathBuf::from(OsString::from_vec(b"/srv/b\xffrth".to_vec()));
        assert_eq!(Args::parse(a.to_argv()).unwrap().root, a.root);
    }

    #[test]
    fn a_bad_number_is_an_error_not_zero() {
        for (flag, bad, why) in [
            ("pid", "12x", "a process id above 0"),
            ("pid", "0", "a process id above 0"),
            ("pid", "-5", "a process id above 0"),
            ("max-size", "10m", "a size in bytes"),
            ("max-size", "-1", "a size in bytes"),
            ("max-file", "0", "a count of at least 1"),
            ("max-file", "three", "a count of at least 1"),
        ] {
            let mut v = minimal().to_argv();
            let at = v
                .iter()
                .position(|s| s.to_string_lossy().starts_with(&format!("--{flag}=")))
                .unwrap();
            v[at] = format!("--{flag}={bad}").into();
            let e = Args::parse(v).unwrap_err();
            assert_eq!(
                e.message,
                format!("bad value for --{flag}: {bad:?} ({why})"),
                "{flag}={bad}"
            );
        }
    }

    #[test]
    fn a_bad_descriptor_is_an_error_reported_on_the_ready_pipe() {
        let mut v = minimal().to_argv();
        v.extend(argv(&["--stdout=x", "--ready=7"]));
        let e = Args::parse(v).unwrap_err();
        assert_eq!(
            e.message,
            "bad value for --stdout: \"x\" (a descriptor number)"
        );
        assert_eq!(e.ready, Some(7));
        let mut v = minimal().to_argv();
        v.push("--tty=-1".into());
        assert!(Args::parse(v).is_err());
    }

    #[test]
    fn missing_unknown_malformed_and_repeated_arguments_are_errors() {
        let e = Args::parse(argv(&["--id=x", "--pid=3"])).unwrap_err();
        assert_eq!(e.message, "missing --log");
        assert_eq!(e.ready, None);
        let mut v = minimal().to_argv();
        v.push("--colour=red".into());
        assert_eq!(
            Args::parse(v).unwrap_err().message,
            "unknown argument \"--colour=red\""
        );
        let mut v = minimal().to_argv();
        v.push("--tty".into());
        assert_eq!(
            Args::parse(v).unwrap_err().message,
            "bad argument \"--tty\": expected --NAME=VALUE"
        );
        let mut v = minimal().to_argv();
        v.push("--pid=7".into());
        assert_eq!(Args::parse(v).unwrap_err().message, "--pid given twice");
        let mut v = minimal().to_argv();
        v[0] = "--id=".into();
        assert_eq!(
            Args::parse(v).unwrap_err().message,
            "bad value for --id: \"\" (empty)"
        );
    }

    #[test]
    fn the_message_says_who_starts_the_monitor() {
        let e = Args::parse(argv(&[])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("berth-monitor: missing --id (it is started by berth-spawn only")
        );
    }
}
