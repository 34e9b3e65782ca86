//! berth-build: `berth build`, a Dockerfile and its context into an image in the store
//! (`berth::build`).
//!
//! ```text
//! berth-build [-t NAME[:TAG]]... [-f FILE|-] [--build-arg K[=V]]... [--target STAGE]
//!             [--no-cache] [--pull] [--label K=V]... [--network bridge|none|host]
//!             [--add-host HOST:IP]... [--secret id=ID[,src=PATH|,env=VAR]]...
//!             [-q] [--iidfile FILE] [--progress auto|plain|tty] [--dry-run] CONTEXT|-
//! ```
//!
//! Progress goes to stderr in BuildKit's plain form (`#3 [2/4] RUN ...`, the step's output
//! as `#3 0.123 line`, `#3 CACHED`, `#3 DONE 0.4s`); `-q` prints only the image id on
//! stdout. `--dry-run` prints the steps and which of them the cache would serve, and builds
//! nothing. CONTEXT `-` reads a tar (plain or gzip) or a lone Dockerfile from stdin.
//! SIGINT/SIGTERM stop the running step and tear its container down; the build exits 1.
//! Errors are BuildKit's line: `ERROR: failed to solve: Dockerfile:3: ...`, exit 1.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Instant;

use berth::build::{self, BuildOptions, Progress};
use berth::{Code, Error, Result};
use berth_cli::{self as cli, CommonOpts, Tool};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "berth-build",
    version,
    about = "Build an image from a Dockerfile",
    disable_help_flag = true
)]
struct Args {
    #[command(flatten)]
    common: CommonOpts,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Name and optionally a tag in the "name:tag" format.
    #[arg(short = 't', long = "tag")]
    tag: Vec<String>,
    /// Name of the Dockerfile (Default is "PATH/Dockerfile")
    ///
    /// - reads it from stdin.
    #[arg(short = 'f', long = "file")]
    file: Option<String>,
    /// Set build-time variables
    ///
    /// KEY=VALUE, or KEY to take it from here.
    #[arg(long = "build-arg")]
    build_arg: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long)]
    target: Option<String>,
    /// Do not use cache when building the image.
    #[arg(long = "no-cache")]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    ///
    /// Every image the Dockerfile names.
    #[arg(long)]
    pull: bool,
    /// Set metadata for an image
    ///
    /// KEY=VALUE.
    #[arg(long)]
    label: Vec<String>,
    /// Set the networking mode for the RUN instructions during build.
    #[arg(long, default_value = "bridge")]
    network: String,
    /// Add a custom host-to-IP mapping for RUN steps (format: "host:ip").
    #[arg(long = "add-host", value_name = "HOST:IP")]
    add_host: Vec<String>,
    /// Secret to expose to the build (format: "id=mysecret[,src=/local/secret]" or
    /// "id=mysecret,env=VAR").
    #[arg(long)]
    secret: Vec<String>,
    /// Suppress the build output and print image ID on success.
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Write the image ID to the file.
    #[arg(long)]
    iidfile: Option<PathBuf>,
    /// Set type of progress output (auto, plain, tty).
    #[arg(long, default_value = "auto", value_parser = ["auto", "plain", "tty"])]
    progress: String,
    /// Set platform if server is multi-platform capable
    ///
    /// Only the host's.
    #[arg(long)]
    platform: Option<String>,
    /// Print the steps and which of them the cache would serve; build nothing.
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// `berth builder prune`: remove the build cache (cached steps, cache mounts, checksums).
    #[arg(long, conflicts_with = "context")]
    prune: bool,
    /// Do not prompt for confirmation
    ///
    /// With --prune (`berth builder prune -f`).
    #[arg(long = "force", requires = "prune", help_heading = berth_cli::usage::OTHER_VERB_HEADING)]
    force: bool,
    /// The build context: a directory, or - for a tar or a Dockerfile on stdin.
    #[arg(required_unless_present = "prune")]
    context: Option<String>,
}

impl Tool for Args {
    const NAME: &'static str = "build";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        true
    }
}

fn main() -> ExitCode {
    cli::main::<Args>(run)
}

/// BuildKit's plain progress on stderr.
struct Plain {
    quiet: bool,
    n: usize,
    started: Instant,
    step: Instant,
}

impl Progress for Plain {
    fn step(&mut self, title: &str) {
        self.n += 1;
        self.step = Instant::now();
        if !self.quiet {
            eprintln!("#{} {title}", self.n);
        }
    }
    fn cached(&mut self) {
        if !self.quiet {
            eprintln!("#{} CACHED", self.n);
        }
    }
    fn output(&mut self, line: &str) {
        if !self.quiet {
            eprintln!(
                "#{} {:.3} {line}",
                self.n,
                self.step.elapsed().as_secs_f64()
            );
        }
    }
    fn done(&mut self) {
        if !self.quiet {
            eprintln!("#{} DONE {:.1}s", self.n, self.step.elapsed().as_secs_f64());
        }
    }
    fn planned(&mut self, title: &str, cached: bool) {
        let _ = cli::print_text(&format!(
            "{} {title}\n",
            if cached { "CACHED" } else { "RUN   " }
        ));
    }
}

extern "C" fn on_signal(_: libc::c_int) {
    build::INTERRUPTED.store(true, Ordering::SeqCst);
    let pid = build::CHILD.load(Ordering::SeqCst);
    if pid > 0 {
        // SAFETY: kill(2) is async-signal-safe; pid is the step's berth-spawn.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

fn signals() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, sigaction};
    let a = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        // SAFETY: the handler only stores to atomics and calls kill(2).
        let _ = unsafe { sigaction(s, &a) };
    }
}

fn run(args: Args) -> Result<()> {
    if args.prune {
        return prune(&args);
    }
    signals();
    let r = build_it(&args);
    match r {
        Err(e) if cli::skel::docker() && e.downcast_ref::<build::BuildError>().is_some() => {
            eprintln!("ERROR: failed to solve: {}", e.one_line());
            Err(Error::upstream(e.code(), e.one_line()))
        }
        r => r,
    }
}

/// `docker builder prune`'s output: the ids removed, then the total.
fn prune(args: &Args) -> Result<()> {
    if !args.force && !cli::confirm("This will remove all dangling build cache.") {
        return Ok(());
    }
    let p = build::cache::prune(&args.common.paths())?;
    let mut out = String::new();
    if !p.keys.is_empty() {
        out = String::from("Deleted build cache objects:\n");
        for k in &p.keys {
            out.push_str(&format!("{}\n", &berth::paths::digest_hex(k)[..25]));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total:\t{}\n",
        berth::units::human::size(p.reclaimed)
    ));
    cli::print_text(&out)
}

fn pairs(list: &[String], what: &str, from_env: bool) -> Result<Vec<(String, String)>> {
    list.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some(Ok((k.to_string(), v.to_string()))),
            None if from_env => std::env::var(a).ok().map(|v| Ok((a.clone(), v))),
            None => Some(Err(Error::new(
                Code::BAD_ARGS,
                format!("invalid {what} {a:?}: use KEY=VALUE"),
            ))),
        })
        .collect()
}

fn build_it(args: &Args) -> Result<()> {
    if let Some(p) = &args.platform {
        let host = format!(
            "linux/{}",
            berth::store::layout::PlatformSpec::host().architecture
        );
        if p != &host {
            return Err(Error::new(
                Code::UNSUPPORTED,
                format!("--platform {p}: berth build builds for this host only ({host})"),
            ));
        }
    }
    let paths = args.common.paths();
    let mut stdin_used = false;
    let ctx_arg = args.context.clone().unwrap_or_default();
    let (context, _tmp, stdin_dockerfile) = if ctx_arg == "-" {
        stdin_used = true;
        stdin_context(&paths)?
    } else {
        let p = PathBuf::from(&ctx_arg);
        if !p.is_dir() {
            return Err(Error::new(
                Code::NOT_FOUND,
                format!("unable to prepare context: path {:?} not found", ctx_arg),
            ));
        }
        (p, None, None)
    };
    let dockerfile = match (args.file.as_deref(), stdin_dockerfile) {
        (Some("-"), _) if stdin_used => {
            return Err(Error::new(
                Code::BAD_ARGS,
                "invalid argument: can't use stdin for both build context and dockerfile",
            ));
        }
        (Some("-"), _) => {
            let mut s = String::new();
            io::stdin().read_to_string(&mut s).map_err(|e| {
                Error::new(Code::IO, format!("read the Dockerfile from stdin: {e}"))
            })?;
            s
        }
        (None, Some(text)) => text,
        (f, _) => {
            let path = match f {
                Some(f) if PathBuf::from(f).is_absolute() => PathBuf::from(f),
                Some(f) => PathBuf::from(f),
                None => context.join("Dockerfile"),
            };
            std::fs::read_to_string(&path).map_err(|e| {
                Error::new(
                    Code::NOT_FOUND,
                    format!("failed to read dockerfile: open {}: {e}", path.display()),
                )
            })?
        }
    };
    let opts = BuildOptions {
        dockerfile,
        context,
        tags: args.tag.clone(),
        build_args: pairs(&args.build_arg, "--build-arg", true)?,
        target: args.target.clone(),
        no_cache: args.no_cache,
        pull: args.pull,
        labels: pairs(&args.label, "--label", false)?,
        network: args.network.clone(),
        dry_run: args.dry_run,
        secrets: secrets(&args.secret)?,
        add_hosts: add_hosts(&args.add_host)?,
    };
    let mut p = Plain {
        quiet: args.quiet || args.dry_run,
        n: 0,
        started: Instant::now(),
        step: Instant::now(),
    };
    let built = build::build(&paths, &opts, &mut p)?;
    if !built.unused_args.is_empty() {
        // Docker's words (the Dockerfile reference's ARG section).
        eprintln!(
            "[Warning] One or more build-args [{}] were not consumed",
            built.unused_args.join(" ")
        );
    }
    if args.dry_run {
        return Ok(());
    }
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &built.id)
            .map_err(|e| Error::new(Code::IO, format!("write {}: {e}", f.display())))?;
    }
    if args.quiet {
        return cli::print_text(&format!("{}\n", built.id));
    }
    p.n += 1;
    eprintln!("#{} exporting to image", p.n);
    eprintln!("#{} writing image {} done", p.n, built.id);
    for n in &built.names {
        eprintln!("#{} naming to {} done", p.n, full_name(n));
    }
    eprintln!("#{} DONE {:.1}s", p.n, p.started.elapsed().as_secs_f64());
    let _ = io::stderr().flush();
    Ok(())
}

/// `--secret id=ID[,type=file|env][,src=PATH|,env=VAR]`, as buildx: without a source, the
/// environment variable ID if it is set, else the file ID.
fn secrets(list: &[String]) -> Result<std::collections::BTreeMap<String, build::Secret>> {
    let mut out = std::collections::BTreeMap::new();
    for spec in list {
        let bad = |m: String| Error::new(Code::BAD_ARGS, format!("invalid secret {spec:?}: {m}"));
        let (mut id, mut typ, mut src, mut env) = (None, None, None, None);
        for field in spec.split(',') {
            let (k, v) = field
                .split_once('=')
                .ok_or_else(|| bad(format!("{field:?} is not KEY=VALUE")))?;
            match k {
                "id" => id = Some(v.to_string()),
                "type" if v == "file" || v == "env" => typ = Some(v.to_string()),
                "type" => return Err(bad(format!("unsupported type {v:?} (file or env)"))),
                "source" | "src" => src = Some(v.to_string()),
                "env" => env = Some(v.to_string()),
                other => return Err(bad(format!("unexpected key '{other}'"))),
            }
        }
        let id = id
            .filter(|i| !i.is_empty())
            .ok_or_else(|| bad("id is required (id=ID,src=PATH)".into()))?;
        if typ.as_deref() == Some("env") && env.is_none() {
            env = src.take();
        }
        if src.is_none() && env.is_none() {
            if typ.as_deref() != Some("file") && std::env::var_os(&id).is_some() {
                env = Some(id.clone());
            } else {
                src = Some(id.clone());
            }
        }
        let value = match (env, src) {
            (Some(var), _) => std::env::var_os(&var)
                .map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec())
                .ok_or_else(|| {
                    Error::new(
                        Code::NOT_FOUND,
                        format!("secret {id}: environment variable {var} is not set"),
                    )
                })?,
            (None, Some(path)) => std::fs::read(&path).map_err(|e| {
                Error::new(Code::NOT_FOUND, format!("secret {id}: read {path}: {e}"))
            })?,
            (None, None) => unreachable!("a source was chosen above"),
        };
        out.insert(id, build::Secret(value));
    }
    Ok(out)
}

/// `--add-host HOST:IP` (or `HOST=IP`, `host-gateway` for the IP), checked as Docker's
/// `ValidateExtraHost`.
fn add_hosts(list: &[String]) -> Result<Vec<String>> {
    list.iter()
        .map(|h| {
            let (name, ip) = h
                .split_once('=')
                .or_else(|| h.split_once(':'))
                .filter(|(n, i)| !n.is_empty() && !i.is_empty())
                .ok_or_else(|| {
                    Error::new(
                        Code::BAD_ARGS,
                        format!("invalid argument {h:?} for \"--add-host\" flag: bad format for add-host: {h:?}"),
                    )
                })?;
            let bare = ip.trim_start_matches('[').trim_end_matches(']');
            if ip != "host-gateway" && bare.parse::<std::net::IpAddr>().is_err() {
                return Err(Error::new(
                    Code::BAD_ARGS,
                    format!("invalid argument {h:?} for \"--add-host\" flag: invalid IP address in add-host: {ip:?}"),
                ));
            }
            Ok(format!("{name}:{bare}"))
        })
        .collect()
}

fn full_name(n: &str) -> String {
    berth::reference::Reference::parse(n)
        .map(|r| r.to_string())
        .unwrap_or_else(|_| n.to_string())
}

/// CONTEXT `-`: a tar (plain or gzip) unpacked into a private temporary directory, or a
/// Dockerfile alone (an empty context).
fn stdin_context(
    paths: &berth::Paths,
) -> Result<(PathBuf, Option<tempfile::TempDir>, Option<String>)> {
    let mut data = Vec::new();
    io::stdin()
        .read_to_end(&mut data)
        .map_err(|e| Error::new(Code::IO, format!("read the context from stdin: {e}")))?;
    berth::store::private::create_dir_all(&paths.tmp())?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".tmp-{}-build-", std::process::id()))
        .tempdir_in(paths.tmp())
        .map_err(|e| Error::new(Code::IO, format!("temporary directory: {e}")))?;
    let dir = tmp.path().to_path_buf();
    let is_tar = data.len() >= 262 && &data[257..262] == b"ustar";
    let is_gz = data.starts_with(&[0x1f, 0x8b]);
    if !is_tar && !is_gz {
        let text = String::from_utf8(data).map_err(|_| {
            Error::new(
                Code::BAD_ARGS,
                "stdin is neither a tar archive nor a Dockerfile",
            )
        })?;
        return Ok((dir, Some(tmp), Some(text)));
    }
    build::context::extract_stream(&data, &dir)?;
    Ok((dir, Some(tmp), None))
}
