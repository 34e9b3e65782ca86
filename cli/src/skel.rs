//! The stage skeleton every tool shares (CNI's `skel`): who the tool is speaking to (the
//! [`Mode`]), printing an error the one way that mode wants, the loop over several targets,
//! and the record a stage reads (`-` for stdin, or a container from the store).
//!
//! # Stage protocol or Docker verb
//!
//! The decision is made once per process, in [`crate::main`], from two facts:
//! - **the dispatcher's word**: `berth VERB ...` (tools/run/berth) exports `BERTH_DOCKER=1`
//!   ([`DOCKER_ENV`]) before it runs the tool that owns VERB; berth-run unsets it, so the
//!   stages of `berth run` never see it;
//! - **the verb's kind**: each tool says, per verb, whether the verb it was given is one of
//!   Docker's ([`crate::Tool::docker_verb`]). The pipeline stages (`berth-pull` as a stage,
//!   `berth-unpack`, `berth-netns -`, `berth-vol -`, `berth-spawn start -|create -`), the
//!   teardown verbs and the runc verbs are not.
//!
//! Both true, and no `--json`: [`Mode::Docker`]. Otherwise [`Mode::Stage`]. So `berth ps | wc
//! -l` counts table lines, while `berth-ps | jq` and `berth ps --json` get berth's JSON.
//! Whether stdout is a terminal decides nothing (a Docker verb's progress bars on a terminal,
//! drawn on stderr, aside); the monitor's and the teardown's own calls of the tools (stage
//! verbs) speak the protocol even when a Docker verb started them.

use std::sync::OnceLock;

use berth::error::{Code, Error, Result};
use berth::paths::Paths;
use berth::protocol::Record;

/// How a tool prints its results and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// berth's record protocol: JSON on stdout, an error as `berth-TOOL: error: ...` on stderr
    /// plus the JSON error document on stdout, and berth's exit codes (3 not found, 4 usage,
    /// 104 conflict, 105 wrong state...), whether stdout is a terminal or not.
    Stage,
    /// Docker's CLI: tables and Docker's text whether piped or not (JSON only when asked
    /// for with `--format json` or `--format '{{json .}}'`), errors on stderr only in
    /// Docker's words (`Error response from daemon: No such container: x`), and Docker's exit
    /// codes: 1 for a failed verb, 125 for a flag error, 126/127 from a command.
    Docker,
}

/// Set to 1 by the `berth` dispatcher: the user typed a Docker verb.
pub const DOCKER_ENV: &str = "BERTH_DOCKER";

static MODE: OnceLock<Mode> = OnceLock::new();
static TOOL: OnceLock<&'static str> = OnceLock::new();

/// The mode of this process ([`Mode::Stage`] until [`crate::main`] decides).
pub fn mode() -> Mode {
    MODE.get().copied().unwrap_or(Mode::Stage)
}

/// True when this process speaks Docker.
pub fn docker() -> bool {
    mode() == Mode::Docker
}

/// Whether the dispatcher ran this tool for a Docker verb.
pub fn dispatched() -> bool {
    std::env::var_os(DOCKER_ENV).is_some_and(|v| !v.is_empty() && v != "0")
}

pub(crate) fn set_tool(tool: &'static str) {
    let _ = TOOL.set(tool);
}

pub(crate) fn set_mode(mode: Mode) {
    let _ = MODE.set(mode);
}

fn tool() -> &'static str {
    TOOL.get().copied().unwrap_or("tool")
}

/// The one way an error is printed on stderr: Docker's words in [`Mode::Docker`]
/// (`Error response from daemon: ...`, or `Error: ...` for what Docker's CLI says itself),
/// `berth-TOOL: error: ...` otherwise. An error already reported prints nothing.
pub fn print_error(e: &Error) {
    if e.is_upstream() {
        return;
    }
    eprintln!("{}", error_line(e));
}

/// The line [`print_error`] prints for `e`.
pub fn error_line(e: &Error) -> String {
    match mode() {
        Mode::Docker if e.is_client() => format!("Error: {}", e.one_line()),
        Mode::Docker => format!("Error response from daemon: {}", e.one_line()),
        Mode::Stage => format!("berth-{}: error: {}", tool(), e.one_line()),
    }
}

/// The errors of a verb over several targets. Docker acts on every target, prints what each
/// success gives as it goes, and reports the failures together at the end, each on its own
/// line on stderr; the verb fails if any did. [`Failures::finish`] does that last part.
#[derive(Default)]
pub struct Failures {
    errors: Vec<Error>,
    forgiven: Vec<Error>,
    failed: Vec<String>,
    forgive_not_found: bool,
    summary: Option<fn(&[String]) -> String>,
}

impl Failures {
    pub fn new() -> Failures {
        Failures::default()
    }

    /// A target that does not exist is reported but does not fail the verb (`rm -f`, `rmi -f`,
    /// `network rm -f`, as docker/cli does with `--force`).
    pub fn forgive_not_found(mut self, yes: bool) -> Failures {
        self.forgive_not_found = yes;
        self
    }

    /// In [`Mode::Docker`], the line printed after the errors, made from the targets that failed
    /// (`start`'s `Error: failed to start containers: a, b`, `network rm`'s `exit status 1`).
    pub fn summary(mut self, f: fn(&[String]) -> String) -> Failures {
        self.summary = Some(f);
        self
    }

    /// Records that `target` failed with `e`.
    pub fn add(&mut self, target: &str, e: Error) {
        if self.forgive_not_found && e.code() == Code::NOT_FOUND {
            self.forgiven.push(e);
        } else {
            self.errors.push(e);
            self.failed.push(target.to_string());
        }
    }

    /// True if no target failed (forgiven ones aside).
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Prints every failure, then gives the verb's result: `Ok` when none counts, otherwise an
    /// error already reported whose code is the first failure's (the exit status in
    /// [`Mode::Stage`]; [`crate::report`] makes it 1 in [`Mode::Docker`]).
    pub fn finish(self) -> Result<()> {
        for e in self.forgiven.iter().chain(&self.errors) {
            print_error(e);
        }
        let Some(first) = self.errors.first() else {
            return Ok(());
        };
        if docker()
            && let Some(summary) = self.summary
        {
            eprintln!("{}", summary(&self.failed));
        }
        Err(Error::upstream(first.code(), first.one_line()))
    }
}

/// Docker's loop over a verb's targets: `act` on each in order; what a success returns is
/// printed on stdout at once (the name as given, for most verbs); failures go to `failures`,
/// which reports them all at the end and fails the verb if any counted.
pub fn each<T: AsRef<str>>(
    targets: &[T],
    mut failures: Failures,
    mut act: impl FnMut(&str) -> Result<String>,
) -> Result<()> {
    for t in targets {
        let t = t.as_ref();
        match act(t) {
            Ok(out) => crate::print_text(&out)?,
            Err(e) => failures.add(t, e),
        }
    }
    failures.finish()
}

/// The record a stage works on: `-` reads it from stdin (the pipeline), anything else names a
/// container in the store. `tool` names the stage for the usage error.
pub fn input_record(paths: &Paths, arg: Option<&str>, tool: &str) -> Result<Record> {
    match arg {
        Some("-") => crate::read_stdin_record(),
        Some(name) => {
            let c = berth::state::Containers::new(paths);
            Ok(c.load(&c.resolve(name)?)?)
        }
        None => Err(Error::new(
            Code::BAD_ARGS,
            format!(
                "expected `-` (a record on stdin) or a container NAME|ID (see berth-{tool} --help)"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn not_found(n: &str) -> Error {
        Error::new(Code::NOT_FOUND, format!("No such container: {n}"))
    }

    #[test]
    fn failures_keep_the_first_code_and_forgive_only_what_was_asked() {
        let mut f = Failures::new();
        f.add("a", not_found("a"));
        f.add("b", Error::new(Code::WRONG_STATE, "b is not running"));
        let e = f.finish().unwrap_err();
        assert!(e.is_upstream());
        assert_eq!(e.code(), Code::NOT_FOUND);

        let mut f = Failures::new().forgive_not_found(true);
        f.add("a", not_found("a"));
        assert!(f.is_empty());
        assert!(f.finish().is_ok());

        let mut f = Failures::new().forgive_not_found(true);
        f.add("a", not_found("a"));
        f.add("b", Error::new(Code::CONFLICT, "in use"));
        assert_eq!(f.finish().unwrap_err().code(), Code::CONFLICT);
    }

    #[test]
    fn each_acts_on_every_target() {
        let mut seen = Vec::new();
        let r = each(&["x", "y", "z"], Failures::new(), |t| {
            seen.push(t.to_string());
            if t == "y" {
                Err(not_found(t))
            } else {
                Ok(String::new())
            }
        });
        assert_eq!(seen, ["x", "y", "z"]);
        assert_eq!(r.unwrap_err().code(), Code::NOT_FOUND);
    }

    #[test]
    fn stage_errors_name_the_tool() {
        let e = Error::new(Code::NOT_FOUND, "No such volume: v");
        assert!(error_line(&e).ends_with(": error: No such volume: v"));
    }
}
