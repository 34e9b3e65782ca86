//! berth-monitor: holds a detached container's stdio, writes Docker's json-file log, reaps
//! the container, and at each exit asks berth-spawn (`monitor-hook exited`) to record it and
//! decide about a restart, which it then performs with Docker's backoff: 100 ms doubling up
//! to a minute, reset once the container ran 10 s.
//!
//! It is a subreaper, so containers that `monitor-hook respawn` creates become its children.
//! It depends on nothing but libc and berth-monitor-proto (its contract with berth-spawn, also
//! libc-only), and stays well under 1 MiB of RSS: Podman's conmon holds about 1.9 MiB per
//! container on our machines. It is installed static and size-optimised
//! (`scripts/build-static.sh berth-monitor`), and before its loop it gives back the start-up
//! pages of its read-only file mappings (`shed_startup_pages`), which halves its RSS.
//!
//! With a health check (`--health=MS`), it runs `monitor-hook health ID` on a timer beside its
//! loop (`health.rs`); the hook probes, records, and says when to probe next.
//!
//! The log (`--log-driver`, log.rs) is `<root>/containers/<id>/<id>-json.log`, Docker's
//! json-file lines, rotated at `--log-opt max-size` (default 10m) into `.1`, `.2`... keeping
//! `max-file` files (default 3); the `local` driver writes the same file with its own
//! defaults (20m, 5, compress: `monitor-hook compress ID` gzips rotated files); `none` keeps
//! nothing; `syslog` and `journald` send each line away (remote.rs).
//! `monitor-hook exited ID STATUS` records exit code, finish time and OOM kill under the
//! record lock and applies the restart policy (no, on-failure[:N], always, unless-stopped;
//! `--rm` removes the container through `berth::container::teardown`, in the hook's process);
//! `monitor-hook respawn ID` makes the new container and answers with its pid and, with
//! `-t`, its new master (SCM_RIGHTS).
//! A monitor killed -9 leaves the container running and visible as such; when it dies
//! unseen, `state::truth` reports the container exited (255). The monitor's argv, ready line
//! and attach frames are `berth_monitor_proto`'s.

mod attach;
mod health;
mod log;
mod remote;

use std::os::fd::{IntoRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use attach::Attach;
use berth_monitor_proto::args::Args;
use berth_monitor_proto::attach::{OUT_STDERR, OUT_STDOUT};
use berth_monitor_proto::{fdpass, ready};
use health::Health;
use log::{Lines, Log, Sink};

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
const RESET_AFTER: Duration = Duration::from_secs(10);

/// berth's exit code for bad arguments (`berth::error::Code::BAD_ARGS`).
const BAD_ARGS: u8 = 4;

/// The command line, or the error reported on the report pipe (berth-spawn shows it) and on
/// stderr, and exit.
fn parse() -> Args {
    match Args::parse(std::env::args_os().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            let message = e.to_string();
            if let Some(fd) = e.ready {
                attach::write_fd(fd, ready::error_line(BAD_ARGS, &message).as_bytes());
            }
            eprintln!("{message}");
            std::process::exit(BAD_ARGS.into());
        }
    }
}

pub(crate) fn nonblock(fd: RawFd) {
    // SAFETY: flag changes on a descriptor we were handed.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
    }
}

struct Source {
    fd: RawFd,
    stream: &'static str,
    lines: Lines,
    open: bool,
}

struct Monitor {
    a: Args,
    log: Sink,
    sources: Vec<Source>,
    attach: Attach,
}

impl Monitor {
    /// Reads what is available on each source (all of it when `drain`).
    fn pump(&mut self, ready: &[bool], drain: bool) {
        let mut buf = [0u8; 16 * 1024];
        let attach = &mut self.attach;
        for (i, s) in self.sources.iter_mut().enumerate() {
            if !s.open || !(drain || ready[i]) {
                continue;
            }
            loop {
                // SAFETY: `buf` is valid for writes of its length.
                let n =
                    unsafe { libc::read(s.fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
                if n > 0 {
                    let kind = if s.stream == "stderr" {
                        OUT_STDERR
                    } else {
                        OUT_STDOUT
                    };
                    attach.output(kind, &buf[..n as usize]);
                    let log = &mut self.log;
                    let stream = s.stream;
                    s.lines
                        .push(&buf[..n as usize], |line| log.entry(stream, line));
                    if !drain {
                        break;
                    }
                    continue;
                }
                if n == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EIO) {
                    // EOF; a terminal reports its hangup as EIO.
                    s.open = false;
                }
                break;
            }
            if drain {
                let log = &mut self.log;
                let stream = s.stream;
                s.lines.flush(|line| log.entry(stream, line));
            }
        }
    }

    fn hook(&self, args: &[&str], stdio: bool) -> Option<(String, Option<RawFd>)> {
        let mut c = Command::new(&self.a.spawn);
        c.arg("--root")
            .arg(&self.a.run_root)
            .arg("--berth-root")
            .arg(&self.a.root);
        c.arg("monitor-hook").args(args);
        c.env("BERTH_ROOT", &self.a.root)
            .env("BERTH_RUN_ROOT", &self.a.run_root);
        c.stdin(Stdio::null()).stderr(Stdio::null());
        let mut pair = [0; 2];
        // SAFETY: `pair` has room for the two descriptors.
        unsafe {
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                pair.as_mut_ptr(),
            )
        };
        let (mine, theirs) = (pair[0], pair[1]);
        let fds = [self.a.stdin, self.a.stdout_w, self.a.stderr_w];
        // SAFETY: the closure runs in the forked child before exec and only makes
        // async-signal-safe calls (open, dup2) on copied integers.
        unsafe {
            c.pre_exec(move || {
                libc::dup2(theirs, 1);
                if stdio {
                    let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
                    for (i, fd) in fds.iter().enumerate() {
                        libc::dup2(fd.unwrap_or(null), 3 + i as i32);
                    }
                }
                Ok(())
            });
        }
        let child = c.spawn();
        // SAFETY: our copy of the hook's end, closed once.
        unsafe { libc::close(theirs) };
        let mut child = child.ok()?;
        // The hook answers on its stdout: text, and a terminal's master with SCM_RIGHTS.
        let mut out = Vec::new();
        let mut fd = None;
        let mut buf = [0u8; 256];
        while let Ok((n, got)) = fdpass::recv(mine, &mut buf) {
            if n == 0 {
                break;
            }
            if got.is_some() {
                fd = got;
            }
            out.extend_from_slice(&buf[..n]);
        }
        // SAFETY: our end of the pair, closed once.
        unsafe { libc::close(mine) };
        let _ = child.wait();
        let fd = fd.map(IntoRawFd::into_raw_fd);
        Some((String::from_utf8_lossy(&out).trim().to_string(), fd))
    }
}

/// Gives back the pages of read-only file mappings (our code and constants, and libc's in a
/// dynamic build) that start-up touched: the kernel maps a 64 KiB window around every page
/// fault ("fault-around"), so a small static binary ends up wholly resident although the
/// poll loop uses a few pages of it. MADV_DONTNEED on a private mapping none of whose pages
/// were ever written only drops page-table entries, exactly what reclaim does under memory
/// pressure; the pages the loop needs fault back in from the page cache. A mapping with any
/// anonymous (copied-on-write) page is left alone: writable data, and RELRO, which the loader
/// relocated and then made read-only, would lose their contents.
fn shed_startup_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    let mut current: Option<(usize, usize)> = None;
    let shed = |range: Option<(usize, usize)>| {
        if let Some((a, b)) = range {
            // SAFETY: a whole mapping of ours, read-only and never written (see above), so
            // dropping its pages loses nothing.
            unsafe { libc::madvise(a as *mut libc::c_void, b - a, libc::MADV_DONTNEED) };
        }
    };
    for line in smaps.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(first) = f.next() else { continue };
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            // A mapping's header line: the previous mapping had no anonymous page.
            shed(current.take());
            let perms = f.next().unwrap_or("");
            let path = f.nth(3).unwrap_or("");
            if path.starts_with('/') && !perms.contains('w') {
                current = Some((a, b));
            }
        } else if first == "Anonymous:" && f.next() != Some("0") {
            current = None;
        }
    }
    shed(current);
}

fn main() {
    let a = parse();
    // SAFETY: process-wide settings made before any other thread exists; the strings are
    // NUL-terminated literals.
    unsafe {
        // Not dumpable: a container sharing the host's pid namespace (`--pid host`) must not
        // open our /proc/PID/{exe,mem,fd} (the descriptors we hold are its stdio and log).
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        // berth-spawn runs us from a handle (a read-only overlay, or a sealed copy) whose
        // name the kernel would show; ps and pkill know ours.
        libc::prctl(libc::PR_SET_NAME, c"berth-monitor".as_ptr(), 0, 0, 0);
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let _ = libc::chdir(c"/".as_ptr());
    }
    // SAFETY: sigset_t is plain data, initialised by sigemptyset below.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; blocking before the signalfd exists.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in [libc::SIGCHLD, libc::SIGHUP, libc::SIGINT] {
            libc::sigaddset(&mut set, s);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    // SAFETY: `set` is a valid sigset_t.
    let sfd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    let mut sources = Vec::new();
    for (fd, stream) in [
        (a.stdout, "stdout"),
        (a.stderr, "stderr"),
        (a.tty, "stdout"),
    ] {
        if let Some(fd) = fd {
            nonblock(fd);
            sources.push(Source {
                fd,
                stream,
                lines: Lines::default(),
                open: true,
            });
        }
    }
    let log = match a.sink.driver.as_str() {
        "none" => Sink::None,
        "syslog" | "journald" => Sink::Remote(remote::Remote::new(a.sink.clone(), &a.id)),
        _ => {
            let mut l = Log::open(a.log.clone(), a.max_size, a.max_file);
            l.compress = a.sink.compress;
            l.attrs = a.sink.attrs.clone();
            Sink::File(l)
        }
    };
    let mut attach = Attach::default();
    if let Some(p) = &a.attach {
        attach.listen(p.as_os_str());
    }
    if let Some(fd) = a.client {
        attach.add(fd, a.tty);
    }
    // Listening (or without a socket to listen on): `berth run -d` may return, and an
    // `attach` right after it finds us.
    if let Some(fd) = a.ready {
        attach::write_fd(fd, ready::OK_LINE);
        // SAFETY: the descriptor was handed to us for this one message.
        unsafe { libc::close(fd) };
    }
    let mut health = Health::new(a.health);
    let mut m = Monitor {
        a,
        log,
        sources,
        attach,
    };
    let mut container = m.a.pid;
    let mut started = Instant::now();
    let mut delay = Duration::ZERO;
    let mut restart_at: Option<Instant> = None;
    shed_startup_pages();
    loop {
        let mut pfds: Vec<libc::pollfd> = vec![libc::pollfd {
            fd: sfd,
            events: libc::POLLIN,
            revents: 0,
        }];
        for s in &m.sources {
            pfds.push(libc::pollfd {
                fd: if s.open { s.fd } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let nsources = m.sources.len();
        for fd in m.attach.poll_fds() {
            pfds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let nattach = pfds.len() - 1 - nsources;
        if let Some(fd) = health.fd() {
            pfds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let wake = match (restart_at, health.due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = wake.map_or(-1, |t| {
            t.saturating_duration_since(Instant::now())
                .as_millis()
                .min(i32::MAX as u128) as i32
        });
        // SAFETY: `pfds` is a valid array of its length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            continue;
        }
        let ready: Vec<bool> = pfds[1..=nsources].iter().map(|p| p.revents != 0).collect();
        m.pump(&ready, false);
        if m.log.take_rotated() {
            // The local driver's compress: berth-spawn gzips the rotated files.
            m.hook(&["compress", &m.a.id.clone()], false);
        }
        if health.fd().is_some() && pfds.last().is_some_and(|p| p.revents != 0) {
            health.readable();
        }
        if container != 0 {
            health.tick(&m.a);
        }
        for p in &pfds[1 + nsources..1 + nsources + nattach] {
            if p.revents == 0 {
                continue;
            }
            let input = m.a.tty.or(m.a.stdin_w);
            if m.attach.ready(p.fd, m.a.tty, input) {
                // The client's input ended (StdinOnce): the container's stdin ends too; on a
                // terminal, as a typed Ctrl-D.
                if let Some(t) = m.a.tty {
                    attach::write_fd(t, &[4]);
                } else if let Some(w) = m.a.stdin_w.take() {
                    // SAFETY: the stdin pipe's write end is ours, closed once (taken).
                    unsafe { libc::close(w) };
                }
            }
        }
        if let Some(t) = restart_at
            && Instant::now() >= t
        {
            restart_at = None;
            match m.hook(&["respawn", &m.a.id.clone()], true) {
                Some((out, fd)) if out.parse::<i32>().is_ok() => {
                    container = out.parse().unwrap_or(0);
                    started = Instant::now();
                    health.rearm();
                    // Spawning the hook touched code the loop does not need.
                    shed_startup_pages();
                    if let Some(fd) = fd {
                        nonblock(fd);
                        m.sources
                            .retain(|s| s.stream != "stdout" || Some(s.fd) != m.a.tty);
                        if let Some(old) = m.a.tty.replace(fd) {
                            // SAFETY: the old master is ours and replaced here.
                            unsafe { libc::close(old) };
                        }
                        m.sources.push(Source {
                            fd,
                            stream: "stdout",
                            lines: Lines::default(),
                            open: true,
                        });
                    }
                }
                _ => {
                    m.attach.close();
                    std::process::exit(0)
                }
            }
        }
        if pfds[0].revents == 0 {
            continue;
        }
        // SAFETY: signalfd_siginfo is plain data; all-zero is valid.
        let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is valid for writes of its size.
        while unsafe {
            libc::read(
                sfd,
                &mut info as *mut _ as *mut libc::c_void,
                std::mem::size_of_val(&info),
            )
        } > 0
        {}
        loop {
            let mut status = 0;
            // SAFETY: `status` is valid for the write.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid != container {
                continue;
            }
            m.pump(&[], true);
            health.stop();
            let decision = m.hook(&["exited", &m.a.id.clone(), &status.to_string()], false);
            // The exit frame goes after the hook: an attached client (`run` in the
            // foreground) returns when it comes, and by then the exit is on record and a
            // `--rm` container gone, as `docker run` returns; the client never polls.
            m.attach.ended(exit_code(status));
            if decision.as_ref().map(|d| d.0.as_str()) != Some("restart") {
                m.attach.close();
                std::process::exit(0);
            }
            delay = if started.elapsed() >= RESET_AFTER || delay.is_zero() {
                FIRST_DELAY
            } else {
                (delay * 2).min(MAX_DELAY)
            };
            restart_at = Some(Instant::now() + delay);
            container = 0;
        }
    }
}

/// A wait status as a shell reports it: the exit code, or 128+N for signal N.
fn exit_code(status: libc::c_int) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}
