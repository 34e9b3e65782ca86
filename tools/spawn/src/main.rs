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
//! - `update`: Docker's (`[OPTIONS] CONTAINER...`, `berth::container::update`) for berth
//!   containers, runc's (`--resources FILE|-` or the flags, one id) otherwise.
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
//! and a foreground `run` (with `-t`, or without `--rm`: its log is kept) hand the monitor one
//! end of a socketpair at start (its `client` argument), so nothing printed before the client
//! looks is lost; they return once the exit is on record (after the removal with `--rm`).
//! `attach [--no-stdin] [--sig-proxy] [--detach-keys] NAME` joins a running one (stdin only if
//! it was made with `-i`); the detach sequence (default ctrl-p,ctrl-q) is matched
//! client-side. A foreground `run --rm` without `-t`, a log driver or a health check keeps
//! the direct path above (no monitor: faster; its log would go with it).

mod args;
mod flags;
mod update;
mod verbs;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use berth::Error;
use berth::container::{self as docker, AttachOptions, Ended, Outcome};
use berth::error::Code;
use berth::paths::Paths;
use berth::runtime::oci::{self, ExecRequest};
use berth::runtime::state::Root;
use berth_cli::Failures;

use args::{Args, Cmd};

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
    let makes_cgroups = match &*a.cmd {
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
    // A berth container (record under BERTH_ROOT) gets Docker semantics, and so does every
    // name the `berth` dispatcher passes (a missing one is then Docker's "No such container").
    let dispatched = berth_cli::skel::dispatched();
    let berth = |arg: &str| docker::berth_container(&paths, arg).or(dispatched.then(String::new));
    let docker_verb = match &*a.cmd {
        Cmd::Create { create, .. } => create.id == "-",
        Cmd::Start { targets, .. } => targets.iter().all(|t| t == "-" || berth(t).is_some()),
        Cmd::MonitorHook { .. } | Cmd::Restart { .. } => true,
        Cmd::Update { args, targets } => args.resources.is_none() && berth(&targets[0]).is_some(),
        _ => false,
    };
    if docker_verb {
        // Errors about a limit name the `docker run` flag that set it.
        berth::runtime::cgroups::name_docker_flags();
    }
    if enters_container(&a.cmd, |t| root.exists(t) && berth(t).is_none()) {
        // Before any namespace, descriptor or stdin is touched (CVE-2019-5736).
        let _seal = berth::timings::phase("seal");
        if dmz_suits(&a.cmd) {
            berth::runtime::exeseal::unsealed_with_dmz()?;
        } else {
            berth::runtime::exeseal::reexec_sealed(c"berth-spawn", &a.root.join(".exeseal"))?;
        }
    }
    match a.cmd.0 {
        Cmd::Create {
            create: c,
            flags,
            attach,
        } => {
            if c.id == "-" {
                let record = berth_cli::read_stdin_record()?;
                let mut section = flags.to_section()?;
                section.attach = flags::attach_streams(&attach)?;
                if !section.runtime.is_empty() {
                    return Err(Error::new(
                        Code::BAD_ARGS,
                        format!(
                            "--runtime {} runs with `berth run` in the foreground only (`berth start` runs berth-spawn's own runtime)",
                            section.runtime
                        ),
                    ));
                }
                let id = docker::create_record(&paths, record, section)?;
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
            ..
        } => {
            let target = targets[0].clone();
            let streams: Vec<String> = attach.iter().filter(|s| !s.is_empty()).cloned().collect();
            let attach = !attach.is_empty();
            if targets.len() > 1 {
                if attach {
                    return Err(Error::new(
                        Code::BAD_ARGS,
                        "you cannot start and attach multiple containers at once",
                    ));
                }
                return each(&targets, start_failures(), |c| docker::start(&paths, c));
            }
            if target == "-" {
                let record = berth_cli::read_stdin_record()?;
                // berth-run passes the user's stdin beside the record (for -i).
                berth_cli::take_stdin_fd();
                let mut section = flags.to_section()?;
                section.attach = flags::attach_streams(&streams)?;
                return match docker::start_record(&paths, record, section)? {
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
            each(&targets, start_failures(), |c| docker::start(&paths, c))
        }
        Cmd::State { id } => berth_cli::print_json(&oci::state(&root, &id)?),
        Cmd::Kill {
            all,
            signal,
            mut targets,
        } => {
            let id = targets[0].clone();
            if berth(&id).is_some() {
                // Docker's `kill [-s SIG] CONTAINER...`: every argument is a container. Run
                // directly, berth-spawn also takes runc's `kill ID SIG` for a berth container
                // when the second word names no container.
                let mut sig = signal;
                if !dispatched
                    && sig.is_none()
                    && let [_, second] = targets.as_slice()
                    && docker::berth_container(&paths, second).is_none()
                {
                    sig = targets.pop();
                }
                return each(&targets, Failures::new(), |c| {
                    docker::kill(&paths, c, sig.as_deref())
                });
            }
            let sig = match targets.as_slice() {
                [_] => signal,
                [_, s] if signal.is_none() => Some(s.clone()),
                _ => {
                    return Err(Error::new(
                        Code::BAD_ARGS,
                        "kill ID [SIGNAL]: one OCI container at a time (berth containers take several)",
                    ));
                }
            };
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
        Cmd::Update { args, targets } => {
            if args.is_empty() {
                return Err(no_flags());
            }
            if args.resources.is_none() && berth(&targets[0]).is_some() {
                let req = args.to_request()?;
                return each(&targets, Failures::new(), |c| {
                    docker::update(&paths, c, &req)
                });
            }
            match targets.as_slice() {
                [id] => verbs::update(&root, id, args.to_resources()?),
                _ => Err(Error::new(
                    Code::BAD_ARGS,
                    "update ID: one OCI container at a time (berth containers take several)",
                )),
            }
        }
        Cmd::Exec {
            process,
            pid_file,
            console_socket,
            detach,
            tty,
            interactive,
            cwd,
            env,
            env_file,
            privileged,
            user,
            preserve_fds,
            id,
            command,
        } => {
            if tty
                && interactive
                && dispatched
                && process.is_none()
                && !std::io::stdin().is_terminal()
            {
                // docker/cli's CheckTty: its words as they are, and 1.
                return Err(plain("the input device is not a TTY"));
            }
            let mut all_env = Vec::new();
            for f in &env_file {
                all_env.extend(
                    berth::bundle::spec::read_env_file(f, &|k| std::env::var(k).ok())
                        .map_err(|e| Error::new(Code::BAD_ARGS, e.0))?,
                );
            }
            all_env.extend(env);
            let env = all_env;
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
                privileged,
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
        Cmd::Pause { ids } => pause(&paths, &root, &ids, true, dispatched),
        Cmd::Resume { ids } => pause(&paths, &root, &ids, false, dispatched),
        Cmd::Stop {
            time,
            signal,
            containers,
        } => each(&containers, Failures::new(), |c| {
            docker::stop(&paths, c, time, signal.as_deref())
        }),
        Cmd::Restart { time, containers } => each(&containers, Failures::new(), |c| {
            docker::restart(&paths, c, time)
        }),
        Cmd::Wait { containers } => berth_cli::each(&containers, Failures::new(), |c| {
            docker::wait(&paths, c).map(|code| format!("{code}\n"))
        }),
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
            "compress" => {
                berth::container::logdriver::compress_rotated(&paths, &id)?;
                berth_cli::print_text("ok\n")
            }
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

/// Whether a verb that makes a container may skip re-executing itself sealed and exec the
/// command through berth-dmz instead (`runtime::exeseal`, "The dmz"): the container's init
/// must be alone in a new pid namespace until it execs (no createContainer or startContainer
/// hook), released by a start message, not an exec fifo (OCI `create`), and no SELinux label
/// may ask for a domain change at its exec. `run` reads its bundle's config for that;
/// `start -` has its Docker flags (`--pid`, `--security-opt label=`; Docker has no hooks);
/// every other verb re-executes sealed.
fn dmz_suits(cmd: &Cmd) -> bool {
    use berth::runtime::exeseal;
    match cmd {
        Cmd::Run { create, .. } => exeseal::dmz_suits_bundle(&create.bundle),
        Cmd::Start { targets, flags, .. } => {
            exeseal::has_dmz()
                && matches!(targets.as_slice(), [t] if t == "-")
                && flags.pid.as_deref().unwrap_or("").is_empty()
                && !flags.security_opt.iter().any(|o| o.starts_with("label"))
        }
        _ => false,
    }
}

/// runc's `pause ID` / `resume ID` (silent), or Docker's for berth containers (each name
/// printed as it is done).
fn pause(
    paths: &Paths,
    root: &Root,
    ids: &[String],
    frozen: bool,
    dispatched: bool,
) -> Result<(), Error> {
    if let [id] = ids
        && !dispatched
        && docker::berth_container(paths, id).is_none()
    {
        if frozen {
            oci::pause(root, id)?;
        } else {
            oci::resume(root, id)?;
        }
        return Ok(());
    }
    each(ids, Failures::new(), |c| docker::pause(paths, c, frozen))
}

fn detach_keys(spec: Option<&str>) -> Result<Vec<u8>, Error> {
    berth::container::attach::parse_detach_keys(spec.unwrap_or("ctrl-p,ctrl-q"))
}

/// Docker's loop over several containers (berth_cli::each): each name as given on stdout when
/// done, every failure on stderr at the end.
fn each(
    list: &[String],
    failures: Failures,
    f: impl Fn(&str) -> Result<String, Error>,
) -> Result<(), Error> {
    berth_cli::each(list, failures, |c| f(c).map(|_| format!("{c}\n")))
}

/// docker/cli's `update` without a flag: its words, printed as they are (not "Error: ...").
fn no_flags() -> Error {
    plain("you must provide one or more flags when using this command")
}

/// An error docker/cli itself prints, as it is (no "Error: " or daemon prefix).
fn plain(msg: &str) -> Error {
    if berth_cli::skel::docker() {
        eprintln!("{msg}");
        return Error::upstream(Code::BAD_ARGS, msg);
    }
    Error::new(Code::BAD_ARGS, msg)
}

/// docker/cli's start ends with the names that failed.
fn start_failures() -> Failures {
    Failures::new()
        .summary(|failed| format!("Error: failed to start containers: {}", failed.join(", ")))
}
