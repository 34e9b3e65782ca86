//! berth-spawn: an OCI runtime with runc's CLI conventions, the pipeline stage that runs a
//! berth container (`berth-spawn start -`), and the Docker-style lifecycle verbs.
//!
//! `--root DIR` is runc's: the runtime state directory, berth's `<run>` (`BERTH_RUN_ROOT`);
//! berth's persistent root is `--berth-root` (`BERTH_ROOT`). Verbs shared by runc and Docker
//! follow Docker when the argument names a berth container (NAME|ID|PREFIX under
//! `BERTH_ROOT`), and runc otherwise:
//!
//! - `start -` is the pipeline stage (record on stdin); `start NAME` starts an exited or
//!   created container again, detached, with a new monitor; otherwise OCI `start` releases a
//!   created container.
//! - `kill` (Docker: `-s SIG`, default KILL, and the record is updated; with KILL it returns
//!   once the exit is recorded; runc: `kill ID [SIG]`, default TERM), `exec`, `pause`,
//!   `resume`/`unpause`.
//! - `delete [--force] ID` is runc's verb and berth's teardown verb (`berth::container::delete`, then `container::teardown`): for a
//!   berth container it kills the monitor first (so no restart policy revives it), then the
//!   process and everything in its cgroup, removes the cgroups and `<run>/<id>`, and marks the
//!   record exited. With `--force` a missing container is not an error.
//! - `stop [-t N] [-s SIG]`, `restart`, `wait`, `attach`, `start -a [-i]` exist only for berth
//!   containers.
//! - runc-only verbs and containerd's use of them: [`verbs`].
//!
//! **OCI `create`** returns only once the init waits on `exec.fifo` (0622 whatever the umask,
//! owned by the container's root, as runc makes it; `runtime::init`'s `start`); any failure
//! before that is create's error and the container is removed. `--pid-file` (create, run,
//! exec) is written atomically once the init waits and before berth-spawn returns, with the
//! pid `state` reports. Runtime state: `<run>/<id>/{state.json,exec.fifo,lock}`, and
//! `<run>/.seccomp/<sha256>.bpf` caches compiled seccomp programs.
//!
//! **Docker-style `exec`** (a command given) has /dev/null as stdin without `-i`, and `-d`
//! detaches with /dev/null stdio; runc-style (`--process`) keeps the caller's stdio (conmon's
//! pipes). `-u NAME[:GROUP]` is resolved against the container's own files as its processes
//! see them (`bundle::user`, through `Root::of_process`). The foreground `start -` (no `-d`)
//! is its own watcher (`monitor_pid` is its pid): it forwards signals, copies the terminal
//! with `-t`, relays it through pipes without (`runtime::signals`), and exits with the
//! container's code. `--userns auto|HOSTID[:SIZE]` maps container ids 0..SIZE to HOSTID
//! onwards (the mapped root reaches its bundle by descriptor: `runtime::init::reach`).
//!
//! **Attach.** A detached container's stdio is its monitor's (tools/monitor). `start -a [-i]`
//! and the foreground `run -t` hand the monitor one end of a socketpair at start (its
//! `client` argument), so nothing printed before the client looks is lost; they return once
//! the exit is on record (after the removal with `--rm`). `attach [--no-stdin] [--sig-proxy]
//! [--detach-keys] NAME` joins a running one (stdin only if it was made with `-i`); the detach
//! sequence (default ctrl-p,ctrl-q) is matched client-side. A foreground run without `-t`
//! keeps the direct path above (no monitor: faster).

mod flags;
mod verbs;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use berth::Error;
use berth::container::{self as docker, AttachOptions, Ended, Outcome};
use berth::error::Code;
use berth::paths::{DEFAULT_ROOT, DEFAULT_RUN_ROOT, Paths};
use berth::runtime::oci::{self, ExecRequest};
use berth::runtime::state::Root;
use berth_cli::{CommonOpts, Tool};
use clap::{Parser, Subcommand};

use flags::DockerFlags;

/// An OCI runtime (runc's CLI) and berth's container stage.
#[derive(Parser, Debug)]
#[command(name = "berth-spawn", version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"), about, long_about = None)]
struct Args {
    /// Runtime state directory (runc's --root): one directory per container.
    #[arg(long, env = "BERTH_RUN_ROOT", default_value = DEFAULT_RUN_ROOT, global = true, value_name = "DIR")]
    root: PathBuf,
    /// berth's persistent root (records, logs): where container names resolve.
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true, value_name = "DIR")]
    berth_root: PathBuf,
    /// Also write errors to this file (runc's --log).
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Print JSON on stdout even on a terminal.
    #[arg(long, global = true)]
    json: bool,
    /// Log verbosity on stderr.
    #[arg(long, env = "BERTH_LOG_LEVEL", default_value = "warn", global = true,
          value_parser = ["off", "error", "warn", "info", "debug", "trace"])]
    log_level: String,
    /// Print how long the command took on stderr.
    #[arg(long, env = "BERTH_TIMINGS", global = true, value_parser = clap::builder::FalseyValueParser::new())]
    timings: bool,
    /// runc compatibility: accepted, same as --log-level debug.
    #[arg(long, global = true, hide = true)]
    debug: bool,
    /// runc compatibility: systemd cgroups are not supported (create, run and update refuse
    /// it; use the cgroupfs manager).
    #[arg(long, global = true, hide = true)]
    systemd_cgroup: bool,
    /// runc compatibility: accepted and ignored.
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "true")]
    rootless: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
    #[arg(skip)]
    common: OnceLock<CommonOpts>,
}

#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// The bundle directory (config.json + rootfs).
    #[arg(short, long, default_value = ".")]
    bundle: PathBuf,
    /// Write the container's pid to this file.
    #[arg(long, value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// An AF_UNIX socket that receives the terminal's master.
    #[arg(long, value_name = "PATH")]
    console_socket: Option<PathBuf>,
    /// Pass this many extra file descriptors (from 3) to the container.
    #[arg(long, default_value_t = 0)]
    preserve_fds: i32,
    /// runc compatibility: accepted and ignored.
    #[arg(long, hide = true)]
    no_pivot: bool,
    /// runc compatibility: accepted and ignored.
    #[arg(long, hide = true)]
    no_new_keyring: bool,
    /// The container id.
    id: String,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a container (runc): set up, waiting for `start`. `create -` is Docker's create
    /// as a pipeline stage: the record on stdin gets its flags, and stays created.
    Create {
        #[command(flatten)]
        create: CreateArgs,
        #[command(flatten)]
        flags: Box<DockerFlags>,
    },
    /// Start: `-` runs the record on stdin (the pipeline stage); a berth container's NAME|ID
    /// starts it again (Docker); otherwise a created OCI container starts (runc).
    Start {
        /// Attach stdout/stderr (and stdin with -i) and wait for the container (Docker).
        #[arg(short = 'a', long)]
        attach: bool,
        #[command(flatten)]
        flags: Box<DockerFlags>,
        /// `-`, berth containers (Docker: several), or an OCI container id.
        #[arg(required = true, value_name = "TARGET")]
        targets: Vec<String>,
    },
    /// Create and start a container (runc).
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Do not wait for the container.
        #[arg(short, long)]
        detach: bool,
    },
    /// Print a container's OCI state.
    State { id: String },
    /// Send a signal: Docker's `kill [-s SIG] NAME` (default KILL) for berth containers,
    /// runc's `kill ID [SIG]` (default TERM) otherwise.
    Kill {
        /// Every process in the container (runc).
        #[arg(short, long)]
        all: bool,
        #[arg(short, long, value_name = "SIGNAL")]
        signal: Option<String>,
        id: String,
        signal_arg: Option<String>,
    },
    /// Delete a container's runtime state, cgroups and processes (with --force, even while
    /// it runs; a missing container is then not an error).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// List the host pids of a container's processes (runc): `ps`'s table, run with PS_ARGS
    /// (default -ef), or `--format json`.
    Ps {
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        id: String,
        /// Options for ps (table format).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PS_ARGS"
        )]
        ps_args: Vec<String>,
    },
    /// Change a container's resource limits (runc): `--resources FILE` (linux.resources JSON,
    /// `-` for stdin) or the flags; only what is given changes.
    Update {
        #[command(flatten)]
        args: flags::UpdateArgs,
        id: String,
    },
    /// Print what this runtime supports as JSON (runc's `features`).
    Features,
    /// List the containers of the runtime root.
    List {
        #[arg(short, long, default_value = "table", value_parser = ["table", "json"])]
        format: String,
        #[arg(short, long)]
        quiet: bool,
    },
    /// Run a process in a running container.
    Exec {
        /// A process.json (runc).
        #[arg(short, long, value_name = "FILE")]
        process: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        #[arg(long, value_name = "PATH")]
        console_socket: Option<PathBuf>,
        #[arg(short, long)]
        detach: bool,
        #[arg(short, long)]
        tty: bool,
        #[arg(short, long)]
        interactive: bool,
        #[arg(short = 'w', long, visible_alias = "workdir", value_name = "DIR")]
        cwd: Option<String>,
        #[arg(short, long, value_name = "KEY=VALUE")]
        env: Vec<String>,
        #[arg(short, long, value_name = "USER[:GROUP]")]
        user: Option<String>,
        #[arg(long, default_value_t = 0)]
        preserve_fds: i32,
        id: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        command: Vec<String>,
    },
    /// Attach to a running berth container's stdio (Ctrl-P Ctrl-Q detaches).
    Attach {
        /// Do not attach stdin.
        #[arg(long)]
        no_stdin: bool,
        /// Forward received signals to the container.
        #[arg(long, default_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
        sig_proxy: bool,
        /// The detach sequence (default ctrl-p,ctrl-q).
        #[arg(long, value_name = "KEYS")]
        detach_keys: Option<String>,
        container: String,
    },
    /// Freeze a container's processes (Docker: one or more berth containers).
    Pause {
        #[arg(required = true, value_name = "CONTAINER")]
        ids: Vec<String>,
    },
    /// Thaw a paused container.
    #[command(visible_alias = "unpause")]
    Resume {
        #[arg(required = true, value_name = "CONTAINER")]
        ids: Vec<String>,
    },
    /// Stop berth containers: the stop signal, then SIGKILL after the timeout.
    Stop {
        #[arg(short, long, value_name = "SECONDS")]
        time: Option<u32>,
        #[arg(short, long, value_name = "SIGNAL")]
        signal: Option<String>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Restart berth containers.
    Restart {
        #[arg(short, long, value_name = "SECONDS")]
        time: Option<u32>,
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Block until berth containers stop; print their exit codes.
    Wait {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Used by berth-monitor.
    #[command(hide = true)]
    MonitorHook {
        /// `exited ID STATUS`, `respawn ID` or `health ID`.
        event: String,
        id: String,
        status: Option<i32>,
    },
}

impl Tool for Args {
    const NAME: &'static str = "spawn";
    fn common(&self) -> &CommonOpts {
        self.common.get_or_init(|| CommonOpts {
            root: self.berth_root.clone(),
            run_root: self.root.clone(),
            json: self.json,
            log_level: if self.debug {
                "debug".into()
            } else {
                self.log_level.clone()
            },
            timings: self.timings,
        })
    }
}

fn main() -> ExitCode {
    berth_cli::main::<Args>(|a| {
        let log = a.log.clone().map(|p| (p, a.log_format == "json"));
        let r = run(a);
        if let (Err(e), Some((path, json))) = (&r, log) {
            write_log(&path, json, e);
        }
        r
    })
}

/// runc's --log: conmon and podman read the runtime's errors from this file.
fn write_log(path: &PathBuf, json: bool, e: &Error) {
    let line = if json {
        serde_json::json!({"level": "error", "msg": e.one_line(), "time": chrono::Utc::now().to_rfc3339()})
            .to_string()
    } else {
        format!("berth-spawn: error: {}", e.one_line())
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{line}");
    }
}

/// Exits with a container's code (a foreground run), after flushing stdout.
fn exit_with(code: i32) -> Result<(), Error> {
    let _ = std::io::stdout().flush();
    if code == 0 {
        return Ok(());
    }
    std::process::exit(code)
}

fn run(a: Args) -> Result<(), Error> {
    // Only the verbs that make or change cgroups refuse it: containerd's shim passes
    // --systemd-cgroup to every call, and its delete must still clean up.
    let makes_cgroups = match &a.cmd {
        Cmd::Create { create, .. } => create.id != "-",
        Cmd::Run { .. } | Cmd::Update { .. } => true,
        _ => false,
    };
    if a.systemd_cgroup && makes_cgroups {
        return Err(Error::new(
            Code::UNSUPPORTED,
            "systemd cgroups (--systemd-cgroup) are not supported: use the cgroupfs manager \
             (containerd: SystemdCgroup = false; podman: --cgroup-manager=cgroupfs)",
        ));
    }
    let paths = Paths::new(&a.berth_root, &a.root);
    let root = Root::new(&a.root);
    // A berth container (record under BERTH_ROOT) gets Docker semantics.
    let berth = |arg: &str| docker::berth_container(&paths, arg);
    if enters_container(&a.cmd, |t| root.exists(t) && berth(t).is_none()) {
        // Before any namespace, descriptor or stdin is touched (CVE-2019-5736).
        berth::runtime::exeseal::reexec_sealed(c"berth-spawn", &a.root.join(".exeseal"))?;
    }
    match a.cmd {
        Cmd::Create { create: c, flags } => {
            if c.id == "-" {
                let record = berth_cli::read_stdin_record()?;
                let id = docker::create_record(&paths, record, flags.to_section()?)?;
                return berth_cli::print_text(&format!("{id}\n"));
            }
            oci::create(
                &root,
                &c.id,
                &c.bundle,
                c.pid_file.as_deref(),
                c.console_socket.as_deref(),
                c.preserve_fds,
            )?;
            Ok(())
        }
        Cmd::Run { create: c, detach } => {
            let code = oci::run(
                &root,
                &c.id,
                &c.bundle,
                c.pid_file.as_deref(),
                c.console_socket.as_deref(),
                detach,
                c.preserve_fds,
            )?;
            exit_with(code)
        }
        Cmd::Start {
            attach,
            flags,
            targets,
        } => {
            let target = targets[0].clone();
            if targets.len() > 1 {
                if attach {
                    return Err(Error::new(
                        Code::BAD_ARGS,
                        "you cannot start and attach multiple containers at once",
                    ));
                }
                return each(&targets, |c| docker::start(&paths, c));
            }
            if target == "-" {
                let record = berth_cli::read_stdin_record()?;
                // berth-run passes the user's stdin beside the record (for -i).
                berth_cli::take_stdin_fd();
                return match docker::start_record(&paths, record, flags.to_section()?)? {
                    Outcome::Detached(id) => berth_cli::print_text(&format!("{id}\n")),
                    Outcome::Exited(code) => exit_with(code),
                };
            }
            if root.exists(&target) && berth(&target).is_none() {
                return Ok(oci::start(&root, &target)?);
            }
            if attach {
                let opts = AttachOptions {
                    stdin: flags.interactive,
                    stdin_once: flags.interactive,
                    detach_keys: detach_keys(flags.detach_keys.as_deref())?,
                    sig_proxy: true,
                };
                return match berth::container::attach::start_attached(&paths, &target, &opts)? {
                    Ended::Exited(code) => exit_with(code),
                    Ended::Detached => Ok(()),
                };
            }
            docker::start(&paths, &target)?;
            berth_cli::print_text(&format!("{target}\n"))
        }
        Cmd::State { id } => berth_cli::print_json(&oci::state(&root, &id)?),
        Cmd::Kill {
            all,
            signal,
            id,
            signal_arg,
        } => {
            let sig = signal.or(signal_arg);
            if berth(&id).is_some() {
                docker::kill(&paths, &id, sig.as_deref())?;
                return berth_cli::print_text(&format!("{id}\n"));
            }
            let s = oci::parse_signal(sig.as_deref().unwrap_or("TERM"))?;
            if all {
                return verbs::kill_all(&root, &id, s);
            }
            Ok(oci::kill(&root, &id, s, false)?)
        }
        Cmd::Delete { force, id } => docker::delete(&paths, &root, &id, force),
        Cmd::List { format, quiet } => verbs::list(&root, &format, quiet),
        Cmd::Features => verbs::features(),
        Cmd::Ps {
            format,
            id,
            ps_args,
        } => verbs::ps(&root, &id, &format, &ps_args),
        Cmd::Update { args, id } => verbs::update(&root, &id, args.to_resources()?),
        Cmd::Exec {
            process,
            pid_file,
            console_socket,
            detach,
            tty,
            interactive,
            cwd,
            env,
            user,
            preserve_fds,
            id,
            command,
        } => {
            let process = match process {
                Some(p) => Some(
                    serde_json::from_slice(&std::fs::read(&p).map_err(|e| {
                        Error::new(Code::BAD_ARGS, format!("reading {}: {e}", p.display()))
                    })?)
                    .map_err(|e| Error::new(Code::DECODE, format!("{}: {e}", p.display())))?,
                ),
                None => None,
            };
            let req = ExecRequest {
                process,
                args: command,
                env,
                cwd,
                user,
                tty,
                interactive,
                detach,
                pid_file: pid_file.as_deref(),
                console_socket: console_socket.as_deref(),
                preserve_fds,
                null_stdio: false,
            };
            let code = match berth(&id) {
                Some(_) => docker::exec(
                    &paths,
                    &id,
                    ExecRequest {
                        null_stdio: detach,
                        ..req
                    },
                )?,
                None => oci::exec(&root, &id, req)?,
            };
            exit_with(code)
        }
        Cmd::Attach {
            no_stdin,
            sig_proxy,
            detach_keys: keys,
            container,
        } => {
            let interactive = docker::berth_container(&paths, &container)
                .and_then(|id| berth::state::Containers::new(&paths).load(&id).ok())
                .and_then(|r| r.process)
                .is_some_and(|p| p.interactive);
            let opts = AttachOptions {
                stdin: interactive && !no_stdin,
                stdin_once: false,
                detach_keys: detach_keys(keys.as_deref())?,
                sig_proxy,
            };
            match berth::container::attach::attach_to(&paths, &container, &opts)? {
                Ended::Exited(code) => exit_with(code),
                Ended::Detached => Ok(()),
            }
        }
        Cmd::Pause { ids } => pause(&paths, &root, &ids, true),
        Cmd::Resume { ids } => pause(&paths, &root, &ids, false),
        Cmd::Stop {
            time,
            signal,
            containers,
        } => each(&containers, |c| {
            docker::stop(&paths, c, time, signal.as_deref())
        }),
        Cmd::Restart { time, containers } => {
            each(&containers, |c| docker::restart(&paths, c, time))
        }
        Cmd::Wait { containers } => {
            for c in &containers {
                let code = docker::wait(&paths, c)?;
                berth_cli::print_text(&format!("{code}\n"))?;
            }
            Ok(())
        }
        Cmd::MonitorHook { event, id, status } => match event.as_str() {
            "exited" => {
                let again = berth::container::restart::exited(&paths, &id, status.unwrap_or(0))?;
                berth_cli::print_text(if again { "restart\n" } else { "exit\n" })
            }
            "respawn" => match berth::container::restart::respawn(&paths, &id)? {
                Some((pid, master)) => {
                    // The monitor reads the pid (and a terminal's master) from a socket.
                    use std::os::fd::AsRawFd;
                    berth::runtime::channel::send_packet(
                        1,
                        format!("{pid}\n").as_bytes(),
                        master.as_ref().map(|m| m.as_raw_fd()),
                    )
                    .or_else(|_| std::io::stdout().write_all(format!("{pid}\n").as_bytes()))
                    .map_err(|e| Error::new(Code::IO, format!("answering the monitor: {e}")))
                }
                None => berth_cli::print_text("exit\n"),
            },
            "health" => match berth::container::health::probe(&paths, &id)? {
                Some(next) => berth_cli::print_text(&format!("{}\n", next.as_millis())),
                None => berth_cli::print_text("stop\n"),
            },
            other => Err(Error::new(
                Code::BAD_ARGS,
                format!("unknown monitor event {other:?}"),
            )),
        },
    }
}

/// Whether the verb creates a container process or enters one: those run from a sealed copy
/// of berth-spawn (`runtime::exeseal`). `is_oci` says whether a target is a created OCI
/// container, whose `start` only opens its exec fifo.
fn enters_container(cmd: &Cmd, is_oci: impl Fn(&str) -> bool) -> bool {
    match cmd {
        Cmd::Create { create, .. } => create.id != "-",
        Cmd::Start { targets, .. } => !matches!(targets.as_slice(), [t] if t != "-" && is_oci(t)),
        Cmd::Run { .. } | Cmd::Exec { .. } | Cmd::Restart { .. } => true,
        Cmd::MonitorHook { event, .. } => event == "respawn",
        Cmd::State { .. }
        | Cmd::Kill { .. }
        | Cmd::Delete { .. }
        | Cmd::List { .. }
        | Cmd::Features
        | Cmd::Ps { .. }
        | Cmd::Update { .. }
        | Cmd::Attach { .. }
        | Cmd::Pause { .. }
        | Cmd::Resume { .. }
        | Cmd::Stop { .. }
        | Cmd::Wait { .. } => false,
    }
}

/// runc's `pause ID` / `resume ID` (silent), or Docker's for berth containers (each name
/// printed as it is done).
fn pause(paths: &Paths, root: &Root, ids: &[String], frozen: bool) -> Result<(), Error> {
    if let [id] = ids
        && docker::berth_container(paths, id).is_none()
    {
        if frozen {
            oci::pause(root, id)?;
        } else {
            oci::resume(root, id)?;
        }
        return Ok(());
    }
    each(ids, |c| docker::pause(paths, c, frozen))
}

fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>, Error> {
    berth::container::attach::parse_detach_keys(spec.unwrap_or("ctrl-p,ctrl-q"))
}

/// Docker prints each container as it is done; the first error ends the run.
fn each(list: &[String], f: impl Fn(&str) -> Result<String, Error>) -> Result<(), Error> {
    for c in list {
        f(c)?;
        berth_cli::print_text(&format!("{c}\n"))?;
    }
    Ok(())
}
