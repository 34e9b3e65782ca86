//! The end-to-end test harness. Tests drive the built binaries as a user would, each in its own
//! temporary roots, and a [`TestEnv`] guard removes what the test made (mounts, processes,
//! directories) even when the test fails.
//!
//! Pieces:
//! - [`TestEnv`]: temporary `--root`/`--run-root`, a private `DOCKER_CONFIG`, and commands
//!   with `PATH` pointing at the built tools;
//! - [`world`]: a `TestEnv` with its own cgroup parent, berth containers made from the busybox
//!   fixture, and teardown through the stages' own verbs;
//! - [`session`]: a world where `berth ...` runs as a user types it, with its own bridge and
//!   subnet, the busybox fixture or the seed's images, commands in the background and on a
//!   terminal, and the check that nothing was left behind;
//! - [`argv!`]: an argv written as one string of words (`argv!("run -d --name web", &image)`);
//! - [`fixtures`]: images built from Debian's busybox-static by umoci (an independent writer);
//! - [`registry`]: a real local registry (docker-registry) per test, plain, htpasswd or TLS;
//! - [`proxy`]: a fault-injecting HTTP proxy to put in front of it;
//! - [`cleanup`]: the guard's teardown, usable on its own;
//! - [`seed_images`]: the images of the seed's stories (docker-notes.md);
//! - [`static_init`]: berth-init as shipped (static), which `--init` needs.

pub mod cleanup;
pub mod crafted;
pub mod fixtures;
pub mod net;
pub mod probe;
pub mod proxy;
pub mod registry;
pub mod seed_images;
pub mod session;
pub mod static_init;
pub mod world;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The directory holding the built binaries (`target/debug` or `target/release`), found from
/// the running test executable (`target/<profile>/deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    if deps.file_name() == Some(OsStr::new("deps")) {
        deps.parent().expect("profile dir").to_path_buf()
    } else {
        deps.to_path_buf()
    }
}

/// The repository's top directory.
pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

/// The `target` directory (for caches shared by all tests of a run).
pub fn target_dir() -> PathBuf {
    let bin = bin_dir();
    bin.parent().map(Path::to_path_buf).unwrap_or(bin)
}

/// `PATH` with the built tools and the scripts in `tools/run` first.
pub fn tool_path() -> String {
    let mut parts = vec![
        bin_dir().display().to_string(),
        repo_dir().join("tools/run").display().to_string(),
    ];
    if let Ok(p) = std::env::var("PATH") {
        parts.push(p);
    }
    parts.join(":")
}

/// A test's private world: its own state roots and Docker config directory.
pub struct TestEnv {
    dir: tempfile::TempDir,
    pub root: PathBuf,
    pub run: PathBuf,
    /// `DOCKER_CONFIG`: where credentials and certs.d live for this test.
    pub docker_config: PathBuf,
    /// The cgroup parent of this test's containers (`BERTH_CGROUP_PARENT`, relative to each
    /// hierarchy's root: `berth-test/<dir name>`), removed with the test.
    pub cgroup: String,
}

impl TestEnv {
    pub fn new() -> Self {
        static_init::ensure();
        // Under /tmp (not the target dir) so paths stay short: overlay mount data is limited to
        // one page.
        let dir = tempfile::Builder::new()
            .prefix("berth-test-")
            .tempdir()
            .expect("temporary directory");
        let root = dir.path().join("root");
        let run = dir.path().join("run");
        let docker_config = dir.path().join("docker");
        for d in [&root, &run, &docker_config] {
            std::fs::create_dir_all(d).expect("create test dirs");
        }
        let tag = dir
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        TestEnv {
            dir,
            root,
            run,
            docker_config,
            cgroup: format!("berth-test/{tag}"),
        }
    }

    /// The temporary directory everything lives in; tests may put their own files here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn paths(&self) -> berth::Paths {
        berth::Paths::new(&self.root, &self.run)
    }

    /// A command for `tool` (a berth binary, a script in tools/run, or any program on PATH)
    /// with this environment's roots.
    pub fn cmd(&self, tool: &str) -> Command {
        let mut c = Command::new(tool);
        c.env("PATH", tool_path())
            .env("BERTH_ROOT", &self.root)
            .env("BERTH_RUN_ROOT", &self.run)
            .env("BERTH_CGROUP_PARENT", &self.cgroup)
            .env("DOCKER_CONFIG", &self.docker_config)
            // Registry trust and settings come from the test's own dirs, never from /etc.
            .env("BERTH_CERTS_D", self.docker_config.join("certs.d"))
            .env(
                "BERTH_REGISTRIES_CONFIG",
                self.docker_config.join("registries.json"),
            )
            // Tests talk to loopback only: a test that forgets to seed an image fails instead
            // of reaching out to docker.io.
            .env("BERTH_REGISTRY_LOOPBACK_ONLY", "1")
            .env_remove("BERTH_LOG_LEVEL")
            .env_remove("BERTH_TIMINGS")
            .stdin(Stdio::null());
        c
    }

    /// Runs `argv` to completion and captures its output.
    pub fn run(&self, argv: &[&str]) -> Run {
        self.run_with_stdin(argv, None)
    }

    /// Runs `argv` with `input` on stdin.
    pub fn run_with_stdin(&self, argv: &[&str], input: Option<&[u8]>) -> Run {
        let mut c = self.cmd(argv[0]);
        c.args(&argv[1..]);
        capture(c, argv, input)
    }

    /// Runs `argv` and asserts it succeeded; returns stdout.
    pub fn ok(&self, argv: &[&str]) -> String {
        self.run(argv).success().stdout
    }

    /// Runs a shell pipeline (sh -c) with this environment.
    pub fn sh(&self, script: &str) -> Run {
        let mut c = self.cmd("sh");
        c.arg("-c").arg(script);
        capture(c, &["sh", "-c", script], None)
    }
}

impl Default for TestEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        cleanup::tear_down(self.dir.path());
        cleanup::remove_cgroups(&self.cgroup);
    }
}

/// Runs `c` (started from `argv`, named in messages) to completion with `input` on stdin, and
/// captures its output.
pub fn capture(mut c: Command, argv: &[&str], input: Option<&[u8]>) -> Run {
    use std::io::Write;
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    if input.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {argv:?}: {e}"));
    if let Some(bytes) = input {
        let mut stdin = child.stdin.take().unwrap();
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for command");
    Run {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        status,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A finished command.
#[derive(Debug)]
pub struct Run {
    pub argv: Vec<String>,
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The exit code (128+N for a signal, as a shell reports it).
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status
            .code()
            .or_else(|| self.status.signal().map(|s| 128 + s))
            .unwrap_or(-1)
    }

    #[track_caller]
    pub fn success(self) -> Run {
        assert!(
            self.status.success(),
            "{:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
            self.argv,
            self.code(),
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts failure with exit code `code`; returns self for more checks.
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code(),
            code,
            "{:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{}",
            self.argv,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout parsed as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "{:?}: stdout is not JSON ({e}):\n{}",
                self.argv, self.stdout
            )
        })
    }

    /// The error line a tool printed, asserting there is exactly one: `berth-TOOL: error: ...`
    /// from a stage, or Docker's `Error response from daemon: ...` / `Error: ...` from
    /// `berth VERB`.
    #[track_caller]
    pub fn error_line(&self) -> String {
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| {
                l.contains(": error: ")
                    || l.starts_with("Error response from daemon: ")
                    || l.starts_with("Error: ")
            })
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{:?}: expected one error line, stderr:\n{}",
            self.argv,
            self.stderr
        );
        lines[0].to_string()
    }
}

/// Polls `f` until it gives a value, every 20 ms; a minute without one fails the test with
/// "timed out waiting for {what}". Hang protection only, never a timing claim. The one
/// polling loop of the tests.
#[track_caller]
pub fn until<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    until_or(what, f, String::new)
}

/// [`until`], with what `why` returns (the state worth seeing) added to the timeout's message.
#[track_caller]
pub fn until_or<T>(
    what: &str,
    mut f: impl FnMut() -> Option<T>,
    why: impl FnOnce() -> String,
) -> T {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() >= std::time::Duration::from_secs(60) {
            panic!("timed out waiting for {what}\n{}", why());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Whether an external program is installed (for tests that need a peer tool).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The words of `template`, as [`argv!`] splits them: split on whitespace, except that a word
/// in single quotes is kept whole (and may be empty), and each unquoted `{}` word replaced by
/// the next of `values`, whatever it holds.
#[track_caller]
pub fn argv<'a>(template: &'a str, values: &[&'a str]) -> Vec<&'a str> {
    let mut values = values.iter();
    let mut argv = Vec::new();
    let mut rest = template.trim_start();
    while !rest.is_empty() {
        let (word, after) = if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted
                .find('\'')
                .unwrap_or_else(|| panic!("argv!({template:?}): an unclosed quote"));
            (&quoted[..end], &quoted[end + 1..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            assert!(
                !word.contains('\''),
                "argv!({template:?}): quote whole words only ({word})"
            );
            let word = match word {
                "{}" => *values
                    .next()
                    .unwrap_or_else(|| panic!("argv!({template:?}): a {{}} without a value")),
                w => w,
            };
            (word, &rest[end..])
        };
        assert!(
            after.is_empty() || after.starts_with(char::is_whitespace),
            "argv!({template:?}): quote whole words only"
        );
        argv.push(word);
        rest = after.trim_start();
    }
    assert!(
        values.next().is_none(),
        "argv!({template:?}): more values than {{}}"
    );
    argv
}

/// An argv as a user types it at a shell: a string literal split on whitespace into words,
/// where a word in single quotes is one argument (`sh -c 'echo a b'`, as in sh, with no
/// escapes), and each unquoted `{}` word is one further argument as it is (a variable,
/// `&format!(..)`, a text holding a single quote), as in `format!`.
///
/// `argv!("run --name {} busybox sh -c 'echo a b'", &name)` is
/// `["run", "--name", name, "busybox", "sh", "-c", "echo a b"]`. It gives a `Vec<&str>`:
/// pass it as `&argv!(..)` where a `&[&str]` is wanted.
#[macro_export]
macro_rules! argv {
    ($template:literal $(, $value:expr)* $(,)?) => {
        $crate::argv($template, &[$(::std::convert::AsRef::<str>::as_ref(&$value)),*])
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn argv_splits_the_template_and_keeps_each_value_whole() {
        let name = String::from("web");
        assert_eq!(
            argv!("run -d  --name {} sh -c {}", &name, &format!("echo {name}")),
            ["run", "-d", "--name", "web", "sh", "-c", "echo web"]
        );
        assert_eq!(argv!("ps"), ["ps"]);
        assert!(argv!("  ").is_empty());
    }

    #[test]
    fn argv_keeps_a_quoted_word_whole() {
        assert_eq!(
            argv!("sh -c 'echo  \"a\" {}' '' '{}' x"),
            ["sh", "-c", "echo  \"a\" {}", "", "{}", "x"]
        );
    }

    #[test]
    #[should_panic(expected = "quote whole words only")]
    fn argv_refuses_a_quote_inside_a_word() {
        argv!("echo don't");
    }

    #[test]
    #[should_panic(expected = "an unclosed quote")]
    fn argv_refuses_an_unclosed_quote() {
        argv!("sh -c 'echo");
    }

    #[test]
    #[should_panic(expected = "more values than {}")]
    fn argv_refuses_a_value_without_its_place() {
        argv!("ps", "-a");
    }

    #[test]
    #[should_panic(expected = "a {} without a value")]
    fn argv_refuses_a_place_without_its_value() {
        argv!("ps {}");
    }
}
