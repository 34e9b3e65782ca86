//! berth-spawn's command line: runc's global options and verbs, berth's stage and Docker
//! verbs, and which of them are Docker verbs (`Tool::docker_verb`).

use std::path::PathBuf;
use std::sync::OnceLock;

use berth::paths::{DEFAULT_ROOT, DEFAULT_RUN_ROOT};
use berth_cli::{CommonOpts, Tool, Verbs};
use clap::{Parser, Subcommand};

use crate::flags::DockerFlags;

/// An OCI runtime (runc's CLI) and berth's container stage.
#[derive(Parser, Debug)]
#[command(name = "berth-spawn", version = concat!(env!("CARGO_PKG_VERSION"), "\nspec: 1.2.0"), about, long_about = None)]
pub(crate) struct Args {
    /// Runtime state directory (runc's --root): one directory per container.
    #[arg(long, env = "BERTH_RUN_ROOT", default_value = DEFAULT_RUN_ROOT, global = true, value_name = "DIR")]
    pub(crate) root: PathBuf,
    /// berth's persistent root (records, logs): where container names resolve.
    #[arg(long, env = "BERTH_ROOT", default_value = DEFAULT_ROOT, global = true, value_name = "DIR")]
    pub(crate) berth_root: PathBuf,
    /// Also write errors to this file (runc's --log).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) log: Option<PathBuf>,
    /// Format of --log: text or json.
    #[arg(long, global = true, default_value = "text", value_parser = ["text", "json"])]
    pub(crate) log_format: String,
    /// berth's JSON on stdout (and its exit codes) for a Docker verb.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Log verbosity on stderr.
    #[arg(long, env = "BERTH_LOG_LEVEL", default_value = "warn", global = true,
          value_parser = ["off", "error", "warn", "info", "debug", "trace"])]
    pub(crate) log_level: String,
    /// Print how long the command took on stderr.
    #[arg(long, env = "BERTH_TIMINGS", global = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub(crate) timings: bool,
    /// runc compatibility: accepted, same as --log-level debug.
    #[arg(long, global = true, hide = true)]
    pub(crate) debug: bool,
    /// runc compatibility: systemd cgroups are not supported (create, run and update refuse
    /// it; use the cgroupfs manager).
    #[arg(long, global = true, hide = true)]
    pub(crate) systemd_cgroup: bool,
    /// runc compatibility: accepted and ignored.
    #[arg(long, global = true, hide = true, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) rootless: Option<String>,
    /// Added one at a time: only the verb given is built at a parse (`berth_cli::verbs`).
    #[command(subcommand)]
    pub(crate) cmd: Verbs<Cmd>,
    #[arg(skip)]
    pub(crate) common: OnceLock<CommonOpts>,
}

#[derive(clap::Args, Debug)]
pub(crate) struct CreateArgs {
    /// The bundle directory (config.json + rootfs).
    #[arg(short, long, default_value = ".")]
    pub(crate) bundle: PathBuf,
    /// Write the container's pid to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) pid_file: Option<PathBuf>,
    /// An AF_UNIX socket that receives the terminal's master.
    #[arg(long, value_name = "PATH")]
    pub(crate) console_socket: Option<PathBuf>,
    /// Pass this many extra file descriptors (from 3) to the container.
    #[arg(long, default_value_t = 0)]
    pub(crate) preserve_fds: i32,
    /// runc compatibility: accepted and ignored.
    #[arg(long, hide = true)]
    pub(crate) no_pivot: bool,
    /// runc compatibility: accepted and ignored.
    #[arg(long, hide = true)]
    pub(crate) no_new_keyring: bool,
    /// The container id.
    pub(crate) id: String,
}

// `start`'s own help of two Docker flags. An `Args` flattened after them, since the verbs'
// arguments are built lazily (`defer` below): a `mut_arg` on the verb itself would run before
// they exist.
#[derive(clap::Args, Debug)]
#[group(skip)]
#[command(
    mut_arg("interactive", |a| a.help_heading(None::<&str>).help("Attach container's STDIN")),
    mut_arg("detach_keys", |a| a
        .help_heading(None::<&str>)
        .help("Override the key sequence for detaching a container"))
)]
pub(crate) struct StartHelp {}

/// `defer`: a verb's arguments are built only when it is the one parsed (or its help is
/// shown): building all of them (`create`'s and `start`'s Docker flags above all) was a third
/// of every start-up's work, and `run` pays for a start twice (the CVE-2019-5736 re-exec).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub(crate) enum Cmd {
    /// Create a container (runc): set up, waiting for `start`. `create -` is Docker's create
    /// as a pipeline stage: the record on stdin gets its flags, and stays created.
    Create {
        #[command(flatten)]
        create: CreateArgs,
        #[command(flatten)]
        flags: Box<DockerFlags>,
        /// Attach to STDIN, STDOUT or STDERR when started attached (`create -`; repeatable).
        #[arg(short = 'a', long, require_equals = true, value_name = "STREAM")]
        attach: Vec<String>,
    },
    /// Start one or more stopped containers.
    ///
    /// `-` runs the record on stdin (the pipeline stage); a berth container's NAME|ID starts
    /// it again (Docker); otherwise a created OCI container starts (runc).
    Start {
        /// Attach STDOUT/STDERR and forward signals.
        ///
        /// With -i, stdin too; the verb waits for the container. `start -` takes Docker's
        /// `run -a`: `--attach=STDIN|STDOUT|STDERR`, repeatable, the streams a foreground run
        /// attaches.
        #[arg(short = 'a', long, num_args = 0..=1, require_equals = true,
              default_missing_value = "", value_name = "STREAM")]
        attach: Vec<String>,
        #[command(flatten)]
        flags: Box<DockerFlags>,
        #[command(flatten)]
        start_help: StartHelp,
        /// `-`, berth containers (Docker: several), or an OCI container id.
        #[arg(required = true, value_name = "CONTAINER")]
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
    /// Kill one or more running containers.
    ///
    /// Docker's `kill [-s SIG] NAME` (default KILL) for berth containers, runc's `kill ID
    /// [SIG]` (default TERM) otherwise.
    Kill {
        /// Send the signal to every process in the container (runc).
        #[arg(short, long, help_heading = berth_cli::usage::RUNC_HEADING)]
        all: bool,
        /// Signal to send to the container.
        #[arg(short, long, value_name = "SIGNAL")]
        signal: Option<String>,
        /// Docker: the containers (all of them; the signal is only ever `-s`). runc: the
        /// container id and an optional signal.
        #[arg(required = true, value_name = "CONTAINER")]
        targets: Vec<String>,
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
    /// Update configuration of one or more containers
    ///
    /// Docker's `update [OPTIONS] CONTAINER...` for berth containers (limits, live if running, and the restart policy); runc's for an
    /// OCI container id (`--resources FILE|-`, linux.resources JSON, or the flags). Only what
    /// is given changes.
    Update {
        #[command(flatten)]
        args: crate::update::UpdateArgs,
        #[arg(required = true, value_name = "CONTAINER")]
        targets: Vec<String>,
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
    /// Execute a command in a running container.
    Exec {
        /// A process.json (runc).
        #[arg(short, long, value_name = "FILE", help_heading = berth_cli::usage::RUNC_HEADING)]
        process: Option<PathBuf>,
        #[arg(long, value_name = "FILE", help_heading = berth_cli::usage::RUNC_HEADING)]
        pid_file: Option<PathBuf>,
        #[arg(long, value_name = "PATH", help_heading = berth_cli::usage::RUNC_HEADING)]
        console_socket: Option<PathBuf>,
        /// Detached mode: run command in the background.
        #[arg(short, long)]
        detach: bool,
        /// Allocate a pseudo-TTY.
        #[arg(short, long)]
        tty: bool,
        /// Keep STDIN open even if not attached.
        #[arg(short, long)]
        interactive: bool,
        /// Working directory inside the container.
        #[arg(
            short = 'w',
            long = "workdir",
            visible_alias = "cwd",
            value_name = "DIR"
        )]
        cwd: Option<String>,
        /// Set environment variables.
        #[arg(short, long, value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// Read in a file of environment variables.
        #[arg(long, value_name = "FILE")]
        env_file: Vec<PathBuf>,
        /// Give extended privileges to the command.
        #[arg(long)]
        privileged: bool,
        /// Username or UID (format: "<name|uid>[:<group|gid>]").
        #[arg(short, long, value_name = "USER[:GROUP]")]
        user: Option<String>,
        #[arg(long, default_value_t = 0, help_heading = berth_cli::usage::RUNC_HEADING)]
        preserve_fds: i32,
        #[arg(value_name = "CONTAINER")]
        id: String,
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Attach local standard input, output, and error streams to a running container.
    ///
    /// Ctrl-P Ctrl-Q detaches.
    Attach {
        /// Do not attach STDIN.
        #[arg(long)]
        no_stdin: bool,
        /// Proxy all received signals to the process.
        #[arg(long, default_value = "true", action = clap::ArgAction::Set, value_name = "BOOL")]
        sig_proxy: bool,
        /// Override the key sequence for detaching a container.
        #[arg(long, value_name = "KEYS")]
        detach_keys: Option<String>,
        container: String,
    },
    /// Pause all processes within one or more containers.
    Pause {
        #[arg(required = true, value_name = "CONTAINER")]
        ids: Vec<String>,
    },
    /// Unpause all processes within one or more containers.
    ///
    /// runc's `resume`.
    #[command(name = "unpause", visible_alias = "resume")]
    Resume {
        #[arg(required = true, value_name = "CONTAINER")]
        ids: Vec<String>,
    },
    /// Stop one or more running containers.
    ///
    /// The stop signal, then SIGKILL after the timeout.
    Stop {
        /// Seconds to wait before killing the container.
        #[arg(
            short,
            long = "timeout",
            visible_alias = "time",
            value_name = "SECONDS"
        )]
        time: Option<u32>,
        /// Signal to send to the container.
        #[arg(short, long, value_name = "SIGNAL")]
        signal: Option<String>,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Restart one or more containers.
    Restart {
        /// Seconds to wait before killing the container.
        #[arg(
            short,
            long = "timeout",
            visible_alias = "time",
            value_name = "SECONDS"
        )]
        time: Option<u32>,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Block until one or more containers stop, then print their exit codes.
    Wait {
        #[arg(required = true, value_name = "CONTAINER")]
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
    fn docker_verb(&self) -> bool {
        match &*self.cmd {
            Cmd::Start { targets, .. } => targets.iter().all(|t| t != "-"),
            Cmd::Kill { .. }
            | Cmd::Exec { .. }
            | Cmd::Attach { .. }
            | Cmd::Pause { .. }
            | Cmd::Resume { .. }
            | Cmd::Stop { .. }
            | Cmd::Restart { .. }
            | Cmd::Update { .. }
            | Cmd::Wait { .. } => true,
            Cmd::Create { .. }
            | Cmd::Run { .. }
            | Cmd::State { .. }
            | Cmd::Delete { .. }
            | Cmd::Ps { .. }
            | Cmd::Features
            | Cmd::List { .. }
            | Cmd::MonitorHook { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_deferred_verbs_build_and_keep_their_own_help() {
        let mut cmd = Args::command();
        // Builds every verb (runs the deferred parts) and checks clap's invariants.
        cmd.clone().debug_assert();
        let start = cmd.find_subcommand_mut("start").unwrap();
        let help = start.render_long_help().to_string();
        // The verb's own about, not that of a struct flattened into it.
        assert!(
            help.starts_with("Start one or more stopped containers"),
            "{help}"
        );
        // `start`'s wording of the Docker flags it shares with `create`.
        assert!(help.contains("Attach container's STDIN"), "{help}");
        assert!(
            help.contains("Override the key sequence for detaching a container"),
            "{help}"
        );
        let update = cmd.find_subcommand_mut("update").unwrap();
        let help = update.render_help().to_string();
        assert!(
            help.starts_with("Update configuration of one or more containers"),
            "{help}"
        );
    }

    /// `berth_cli::verbs`: a parse with only the verb named gives what the whole command
    /// gives, for runc's, containerd's, podman's and berth's own ways of calling.
    #[test]
    fn parsing_with_only_the_verb_given_changes_nothing() {
        for args in [
            &["run", "-b", "bundle", "c1"][..],
            &[
                "--root",
                "/r",
                "--log",
                "/l",
                "--log-format",
                "json",
                "create",
                "--bundle",
                "b",
                "--pid-file",
                "p",
                "c1",
            ],
            &["--root", "/r", "--systemd-cgroup", "start", "c1"],
            &["--debug", "--rootless", "delete", "--force", "c1"],
            &["state", "--root", "/r", "c1"],
            &["--root", "state", "kill", "c1", "KILL"],
            &["--log", "run", "state", "c1"],
            &["start", "--rm", "-"],
            &["create", "-", "--json"],
            &["resume", "c1"],
            &["unpause", "c1", "c2"],
            &["stop", "-t", "1", "c1"],
            &["exec", "c1", "sh", "-c", "run state"],
            &["ps", "c1", "-ef"],
            &["features"],
            &["stat", "c1"],
            &["run", "--nope", "c1"],
            &["run", "--help"],
            &["help", "run"],
            &["--version"],
            &["--timings"],
            &[],
        ] {
            let (pruned, whole) = berth_cli::verbs::both_parses::<Args>("berth-spawn", args);
            assert_eq!(pruned, whole, "{args:?}");
        }
    }

    /// What `berth_cli::verbs` relies on: no positional argument beside the verbs, and no verb
    /// inferred from a prefix ("stat" would be unique among fewer verbs).
    #[test]
    fn no_verb_is_inferred_and_nothing_sits_beside_the_verbs() {
        let cmd = Args::command();
        assert!(cmd.get_positionals().next().is_none());
        let stat = <Args as clap::Parser>::try_parse_from(["berth-spawn", "stat", "c1"]);
        assert_eq!(
            stat.unwrap_err().kind(),
            clap::error::ErrorKind::InvalidSubcommand
        );
    }
}
