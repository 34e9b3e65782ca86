//! The binary edge, shared by every tool: the common options, argument parsing, logging, the
//! one place where an [`Error`] becomes a message, a JSON error document and an exit status,
//! and stdout helpers that treat a closed pipe as a normal end (ripgrep's lesson).
//!
//! The library (`berth`) prints nothing and knows nothing of clap; this crate is where a tool
//! prints, and it prints only what the tool asked for at its edge.
//!
//! [`skel`] is the stage skeleton every tool shares: whether this process speaks berth's
//! record protocol or Docker's CLI (and how that is decided), printing an error one way, the
//! loop over a verb's several targets, and reading the record a stage works on.

pub mod skel;
pub mod templates;
pub mod usage;
pub mod verbs;

pub use skel::{Failures, Mode, each, input_record, print_error};
pub use templates::{list_format, render_each, template};
pub use verbs::Verbs;

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use serde::Serialize;

use berth::error::{Code, Error, Result};
use berth::paths::{DEFAULT_ROOT, DEFAULT_RUN_ROOT, Paths};
use berth::protocol::ErrorDoc;

/// Options every berth tool takes. Flatten this into each tool's clap struct.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonOpts {
    /// Persistent state: images, layers, containers, volumes, networks.
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true, value_name = "DIR")]
    pub root: PathBuf,
    /// Runtime state: OCI state, monitor pids, network namespaces.
    #[arg(long, env = "BERTH_RUN_ROOT", default_value = DEFAULT_RUN_ROOT, global = true, value_name = "DIR")]
    pub run_root: PathBuf,
    /// berth's JSON on stdout (and its exit codes) for a Docker verb.
    #[arg(long, global = true)]
    pub json: bool,
    /// Log verbosity on stderr.
    #[arg(long, env = "BERTH_LOG_LEVEL", default_value = "warn", global = true,
          value_parser = ["off", "error", "warn", "info", "debug", "trace"])]
    pub log_level: String,
    /// Print how long the stage took on stderr (also BERTH_TIMINGS=1).
    #[arg(long, env = "BERTH_TIMINGS", global = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub timings: bool,
}

impl CommonOpts {
    pub fn paths(&self) -> Paths {
        Paths::new(&self.root, &self.run_root)
    }

    /// True when stdout carries berth's JSON: always for the stage protocol, and for a Docker
    /// verb with `--json` ([`skel`]). Never a question of whether stdout is a terminal.
    pub fn wants_json(&self) -> bool {
        self.json || !skel::docker()
    }
}

/// Implemented by each tool's top-level argument struct.
pub trait Tool: clap::Parser {
    /// The tool's short name: `pull` for berth-pull.
    const NAME: &'static str;
    fn common(&self) -> &CommonOpts;
    /// Whether the verb these arguments name is one of Docker's verbs, which speaks Docker when
    /// the `berth` dispatcher ran it ([`skel`]). Stage, teardown and runc verbs say false.
    fn docker_verb(&self) -> bool;
}

/// Parses arguments, sets up logging, runs `body`, and turns its result into an exit status.
/// Use as `fn main() -> ExitCode { berth::cli::main::<Args>(run) }`.
pub fn main<T: Tool>(body: impl FnOnce(T) -> Result<()>) -> ExitCode {
    skel::set_tool(T::NAME);
    if let Some(what) = std::env::var_os(GENERATE_ENV) {
        return generate::<T>(&what.to_string_lossy());
    }
    default_signals();
    let args = match verbs::try_parse::<T>() {
        Ok(a) => a,
        Err(e) if skel::dispatched() && !docker_exit() => return docker_usage::<T>(e),
        Err(e) => return clap_error(T::NAME, e),
    };
    let common = args.common().clone();
    let mode = if skel::dispatched() && args.docker_verb() && !common.json {
        Mode::Docker
    } else {
        Mode::Stage
    };
    skel::set_mode(mode);
    init_logging(T::NAME, &common.log_level);
    // State is private to root: made so, or tightened once if an older berth left it open.
    if let Err(e) = berth::store::private::secure(&common.paths()) {
        log::warn!("{e}: berth's state may be open to other users");
    }
    let started = Instant::now();
    if common.timings {
        berth::timings::enable();
    }
    let result = body(args);
    if common.timings {
        print_timings(T::NAME, started.elapsed());
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(T::NAME, &e),
    }
}

/// `--timings`: the phases the stage recorded (`berth::timings`), one `berth-TOOL.PHASE: N.N
/// ms` line each in the order they ran, then the stage's total as `berth-TOOL: N.N ms`.
fn print_timings(tool: &str, total: std::time::Duration) {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let mut total = total;
    for (phase, d) in berth::timings::take() {
        eprintln!("berth-{tool}.{phase}: {:.1} ms", ms(d));
        // The time before the sealed re-exec was spent in a process that is gone.
        if phase == "seal" {
            total += d;
        }
    }
    eprintln!("berth-{tool}: {:.1} ms", ms(total));
}

/// Prints an error once ([`print_error`]: stderr, in the process's [`Mode`]) and returns the
/// exit status: Docker's (1, or 126/127 from a command) for a Docker verb, `docker run`'s (125)
/// for berth-run's last stage, otherwise berth's code, with the JSON error document on
/// stdout.
pub fn report(tool: &'static str, e: &Error) -> ExitCode {
    skel::set_tool(tool);
    print_error(e);
    if docker_exit() {
        return ExitCode::from(match e.code().0 {
            c @ (126 | 127) => c,
            _ => 125,
        });
    }
    if skel::docker() {
        return ExitCode::from(match e.code().0 {
            c @ (126 | 127) => c,
            _ => 1,
        });
    }
    let _ = print_json(&ErrorDoc::new(e));
    ExitCode::from(e.code().0)
}

/// `BERTH_DOCKER_EXIT=1`: the exit status follows `docker run`'s convention, and no error
/// document is printed. berth-run sets it on the last stage, whose stdout is the user's: the
/// user sees the error once, on stderr, and the status says who failed: 125 berth, 126/127
/// the command, anything else the container.
pub const DOCKER_EXIT_ENV: &str = "BERTH_DOCKER_EXIT";

fn docker_exit() -> bool {
    std::env::var_os(DOCKER_EXIT_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

/// `BERTH_STDIN_FD=N`: the user's stdin, passed beside the record pipe. A stage that runs the
/// container reads its record from stdin, then calls this so the container (`-i`) gets the
/// user's stdin. Does nothing when the variable is unset.
pub fn take_stdin_fd() {
    let Some(fd) = std::env::var(STDIN_FD_ENV)
        .ok()
        .and_then(|v| v.parse::<i32>().ok())
        .filter(|fd| *fd > 2)
    else {
        return;
    };
    // libc, not nix: nix's dup2 wants owned descriptors, and `fd` is a number from the
    // environment that no object of ours owns yet (F_GETFD checks it is open at all).
    // SAFETY: no memory is passed; `fd` (> 2) is owned by nothing in this process, so closing
    // it after the dup2 cannot invalidate an OwnedFd or File.
    unsafe {
        if libc::fcntl(fd, libc::F_GETFD) >= 0 {
            libc::dup2(fd, 0);
            libc::close(fd);
        }
    }
}

pub const STDIN_FD_ENV: &str = "BERTH_STDIN_FD";

/// A shell starts background pipelines with SIGINT and SIGQUIT ignored (POSIX, without job
/// control), and berth-run runs its pipeline in the background so that it can forward
/// signals: give the stages (and the containers they start) the default actions back.
fn default_signals() {
    // SAFETY: resetting dispositions at start-up, before any thread exists.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::signal(libc::SIGQUIT, libc::SIG_DFL);
    }
}

/// `BERTH_GENERATE=bash|zsh|fish|elvish|powershell` prints the tool's shell completion
/// script; `BERTH_GENERATE=man:DIR` writes its man pages (one per command and subcommand)
/// into DIR. Every tool goes through [`main`], so scripts/install.sh gets them all from the
/// clap definitions, in one place.
pub const GENERATE_ENV: &str = "BERTH_GENERATE";

fn generate<T: Tool>(what: &str) -> ExitCode {
    let cmd = T::command();
    match generate_into(cmd, what, &mut io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(T::NAME, &e),
    }
}

/// See [`GENERATE_ENV`]: completions for `what` on `out`, or man pages into `man:DIR`.
pub fn generate_into(mut cmd: clap::Command, what: &str, out: &mut dyn Write) -> Result<()> {
    use clap_complete::Shell;
    let name = cmd.get_name().to_string();
    if let Some(dir) = what.strip_prefix("man:") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::new(Code::IO, format!("{}: {e}", dir.display())))?;
        cmd.build();
        return write_man_pages(&cmd, &name, &dir);
    }
    let shell: Shell = what.parse().map_err(|_| {
        Error::new(
            Code::BAD_ARGS,
            format!("{GENERATE_ENV}={what:?}: use bash, zsh, fish, elvish, powershell or man:DIR"),
        )
    })?;
    clap_complete::generate(shell, &mut cmd, name, out);
    Ok(())
}

fn write_man_pages(cmd: &clap::Command, page: &str, dir: &std::path::Path) -> Result<()> {
    let path = dir.join(format!("{page}.1"));
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone().name(page.to_string()))
        .render(&mut buf)
        .map_err(|e| Error::new(Code::IO, format!("rendering {page}.1: {e}")))?;
    std::fs::write(&path, buf)
        .map_err(|e| Error::new(Code::IO, format!("{}: {e}", path.display())))?;
    for sub in cmd.get_subcommands() {
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        write_man_pages(sub, &format!("{page}-{}", sub.get_name()), dir)?;
    }
    Ok(())
}

/// A usage error or `--help` of a verb the dispatcher ran: docker/cli's text and statuses
/// ([`usage`]): help on stdout, too few or too many arguments 1, a flag error 125.
fn docker_usage<T: Tool>(e: clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, path) = usage::find(&T::command(), &argv);
    let stray_word = matches!(e.kind(), ErrorKind::UnknownArgument)
        && matches!(e.get(ContextKind::InvalidArg),
            Some(ContextValue::String(s)) if !s.starts_with('-'));
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = print_text(&usage::help(&cmd, &path));
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::MissingRequiredArgument | ErrorKind::TooManyValues => {
            eprint!("{}", usage::args_error(&cmd, &path));
            ExitCode::from(1)
        }
        _ if stray_word => {
            eprint!("{}", usage::args_error(&cmd, &path));
            ExitCode::from(1)
        }
        _ => {
            eprint!(
                "{}",
                usage::flag_error(&cmd, &path, &usage::pflag_words(&e))
            );
            ExitCode::from(125)
        }
    }
}

fn clap_error(tool: &str, e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            // clap's own rendering, with usage, is the most helpful here.
            let msg = e.render().to_string();
            let first = msg.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            if docker_exit() {
                eprint!("berth-{tool}: {msg}");
                return ExitCode::from(125);
            }
            eprint!("berth-{tool}: {msg}");
            let _ = print_json(&ErrorDoc::new(&Error::new(Code::BAD_ARGS, first)));
            ExitCode::from(Code::BAD_ARGS.0)
        }
    }
}

fn init_logging(tool: &'static str, level: &str) {
    let filter = level.parse().unwrap_or(log::LevelFilter::Warn);
    let _ = env_logger::Builder::new()
        .filter_level(filter)
        .format(move |buf, rec| {
            writeln!(
                buf,
                "berth-{tool}: {}: {}",
                rec.level().as_str().to_lowercase(),
                rec.args()
            )
        })
        .try_init();
}

/// Writes `value` as one line of JSON on stdout. A closed pipe ends the process quietly.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    // One write(2) for the whole document (stdout's own buffer would cut a record into
    // 1 KiB writes, and wake the next stage of a pipeline for each).
    let mut out = io::stdout().lock();
    let r = serde_json::to_vec(value)
        .map_err(io::Error::from)
        .and_then(|mut doc| {
            doc.push(b'\n');
            out.write_all(&doc)
        })
        .and_then(|()| out.flush());
    handle_stdout(r)
}

/// Writes text on stdout. A closed pipe ends the process quietly.
pub fn print_text(text: &str) -> Result<()> {
    let mut out = io::stdout().lock();
    handle_stdout(out.write_all(text.as_bytes()).and_then(|()| out.flush()))
}

/// Prints rows as an aligned table, Docker-style (columns padded by three spaces).
pub fn print_table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> Result<()> {
    print_text(&format_table(header, rows))
}

/// Formats rows as an aligned table, Docker-style (see [`berth::format::align`]).
pub fn format_table<R: AsRef<[String]>>(header: &[&str], rows: &[R]) -> String {
    let mut text = String::new();
    if !header.is_empty() {
        text.push_str(&header.join("\t"));
        text.push('\n');
    }
    for row in rows {
        text.push_str(&row.as_ref().join("\t"));
        text.push('\n');
    }
    berth::format::align(&text)
}

fn handle_stdout(r: io::Result<()>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Error::new(Code::IO, format!("writing to stdout: {e}"))),
    }
}

/// Docker's confirmation prompt (docker/cli's `prompt.Confirm`), shared by every prune:
/// prints `WARNING! {warning}` and the question, reads one line from stdin, and answers true
/// only for y or yes in any case. A closed or unreadable stdin is a no. A Docker verb prompts
/// on stdout, as docker/cli does, and adds nothing after the answer; the stage protocol keeps
/// stdout for its JSON, so there the prompt goes to stderr, ended by a newline when stdin is
/// not a terminal (the answer was not echoed).
pub fn confirm(warning: &str) -> bool {
    use io::BufRead;
    let prompt = format!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    let docker = skel::docker();
    if docker {
        let mut out = io::stdout();
        let _ = out.write_all(prompt.as_bytes());
        let _ = out.flush();
    } else {
        let mut err = io::stderr();
        let _ = err.write_all(prompt.as_bytes());
        let _ = err.flush();
    }
    let mut line = String::new();
    let stdin = io::stdin();
    if stdin.lock().read_line(&mut line).is_err() {
        return false;
    }
    if !docker && !stdin.is_terminal() {
        eprintln!();
    }
    matches!(line.trim().to_lowercase().as_str(), "y" | "yes")
}

/// True if stdin is a terminal (then `-` cannot mean "a record on stdin").
pub fn stdin_is_tty() -> bool {
    io::stdin().is_terminal()
}

/// Reads the record a pipeline stage gets on stdin (`-`). With `--timings`, the wait for it
/// (the stages before) is the phase `input`.
pub fn read_stdin_record() -> Result<berth::protocol::Record> {
    let _p = berth::timings::phase("input");
    if stdin_is_tty() {
        return Err(Error::new(
            Code::BAD_ARGS,
            "expected a record on stdin, but stdin is a terminal (pipe in an earlier stage, e.g. berth-pull IMAGE | ...)",
        ));
    }
    berth::protocol::read_record(io::stdin().lock())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_like_docker() {
        let t = format_table(
            &["CONTAINER ID", "NAMES"],
            &[vec!["abc".to_string(), "web".to_string()]],
        );
        assert_eq!(t, "CONTAINER ID   NAMES\nabc            web\n");
    }
}
