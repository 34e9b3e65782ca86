//! berth-ctl: the container verbs no single stage owns, composed from the stages' own pieces,
//! and `berth doctor`.
//!
//! ```text
//! berth-ctl rm [-f] [-v] CONTAINER...        berth rm (every stage's teardown, in reverse)
//! berth-ctl rename CONTAINER NEW_NAME        berth rename
//! berth-ctl prune [-f] [--filter F]          berth container prune
//! berth-ctl cp [-a] [-L] [-q] SRC DST        berth cp (CONTAINER:PATH, host path, or -)
//! berth-ctl events [--since T] [--until T] [-f F] [--format F]   berth events (the event log)
//! berth-ctl system df [-v] [--format F]      berth system df
//! berth-ctl system prune [-a] [--volumes] [-f] [--filter F]       berth system prune
//! berth-ctl commit [-c I] [-m] [-a] [-p] C [REPO[:TAG]]   berth commit (prints the image id)
//! berth-ctl diff CONTAINER                   berth diff (Docker's A/C/D lines)
//! berth-ctl export [-o FILE] CONTAINER       berth export (a tar that `import` reads back)
//! berth-ctl doctor                           what this machine supports, and the fixes
//! berth-ctl info [-f FORMAT]                  berth info (Docker's system.Info document)
//! berth-ctl version [-f FORMAT]               berth version (Docker's document)
//! berth-ctl undo --creator PID               (berth-run) remove what a failed run made
//! berth-ctl generate berth|berth-run WHAT    completions/man pages of the two scripts
//! ```
//!
//! `rm` of a running container needs `-f` (105 otherwise); `prune` never removes a container a
//! live `berth run` is still making. `cp` is `berth::container::copy`.
//!
//! **How `berth run` is composed** (this tool serves it; the scripts are in `tools/run`):
//!
//! - `berth-run` (POSIX sh; `berth run|create` exec it) parses Docker's `run` flags itself
//!   (dash starts in ~1 ms) and sends each to its stage, by the one table in
//!   [`commands::RUN_FLAGS`] (`--hostname` goes to unpack and netns, `--stop-signal` to unpack,
//!   which keeps it in `bundle.config`). Docker flags berth lacks are refused by name
//!   ([`commands::REFUSED_RUN_FLAGS`], 125), never ignored. Words are quoted with `qa` and
//!   never re-split; `--dry-run` prints exactly the pipeline it would `eval`. `create` ends
//!   with `berth-spawn create -` (the record saved as created) instead of `start -`.
//! - **Errors once.** An upstream stage's error document flows down the pipe and only the
//!   failing stage prints its line. The last stage runs with `BERTH_DOCKER_EXIT=1`
//!   (`berth_cli::report`): no JSON error, exit 125 for any berth code, 126/127 for the
//!   command's, otherwise the container's own.
//! - **stdin.** The stages run in the background (so the shell can trap signals); the user's
//!   stdin reaches berth-spawn as fd 5 (`BERTH_STDIN_FD`, `berth_cli::take_stdin_fd`) and every
//!   other stage has it closed, so a detached container never holds the caller's terminal.
//! - **Undo** (`berth::container::undo`). berth-run exports `BERTH_CREATOR=$$`; berth-unpack
//!   refuses to start if that process is gone, else leaves the marker
//!   `<root>/creating/<pid>-<start>` and records the creator (pid and start time) in the
//!   record. berth-spawn refuses (and tears down) a record whose creator is gone, and clears
//!   the creator and its marker once the container started, was created (`create`), or could
//!   not run its command (126/127: kept, as Docker keeps it). On a 125, or a signal
//!   (INT/TERM/HUP/QUIT are forwarded to berth-spawn, so to the container once it runs),
//!   berth-run calls `berth-ctl undo --creator $$`: `berth::container::teardown`'s plan of each
//!   container of that creator that never started, then the marker; and it removes a
//!   `--cidfile` it wrote. A kill -9 of the whole run leaves a marker whose process is dead:
//!   every berth-unpack create (and `berth-ctl undo` alone) sweeps those first.
//! - **The dispatcher** `berth VERB` (`tools/run/berth`) execs the owning tool, looked up
//!   beside the script first: run/create -> berth-run; start, stop, restart, kill, pause,
//!   unpause, wait, exec, attach, update -> berth-spawn; rm, rename, cp, commit, diff, export,
//!   doctor, events, `container prune`, `system df|prune|events` -> berth-ctl; build ->
//!   berth-build; pull -> berth-pull; images, image, tag, rmi, save, load, push, import,
//!   history, search, login, logout -> berth-image; ps, inspect, logs, top, port, stats ->
//!   berth-ps; volume -> berth-vol; network -> berth-netns network; info -> berth-ctl info.
//!   `berth container VERB` is `berth VERB`. Unknown verbs exit 125.
//! - **Completions and man pages.** Every Rust tool answers `BERTH_GENERATE=bash|zsh|fish` and
//!   `BERTH_GENERATE=man:DIR` through `berth_cli::main`; `berth-ctl generate berth|berth-run
//!   SHELL|man:DIR` does it for the two scripts ([`commands`]). `scripts/install-docs.sh
//!   BINDIR PREFIX` (run by install.sh) writes them under `PREFIX/share`.

mod commands;
mod dispatch;
mod run_flags;
mod snapshot;
mod system;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use berth::container::{self, CopyOptions, Endpoint, PruneFilters, RemoveOptions};
use berth::{Code, Error, Result};
use berth_cli::{self as cli, CommonOpts, Tool};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-ctl",
    version,
    about = "Container verbs that compose berth's stages (rm, rename, container prune, cp), and berth doctor"
)]
struct Args {
    #[command(flatten)]
    common: CommonOpts,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Remove one or more containers.
    #[command(visible_alias = "remove")]
    Rm {
        /// Force the removal of a running container (uses SIGKILL).
        #[arg(short, long)]
        force: bool,
        /// Remove anonymous volumes associated with the container.
        #[arg(short, long)]
        volumes: bool,
        /// Remove the specified link
        ///
        /// Legacy links are not separate objects in berth.
        #[arg(short, long)]
        link: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        containers: Vec<String>,
    },
    /// Rename a container.
    Rename { container: String, new_name: String },
    /// Remove all stopped containers.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. "until=<timestamp>")
        ///
        /// until=TIMESTAMP|DURATION, label=KEY[=VALUE], label!=KEY[=VALUE].
        #[arg(long, value_name = "FILTER")]
        filter: Vec<String>,
    },
    /// Copy files/folders between a container and the local filesystem.
    #[command(
        after_help = "Use '-' as the source to read a tar archive from stdin and extract it to a directory destination in a container.\nUse '-' as the destination to stream a tar archive of a container source to stdout."
    )]
    Cp {
        /// Archive mode (copy all uid/gid information).
        #[arg(short, long)]
        archive: bool,
        /// Always follow symbol link in SRC_PATH.
        #[arg(short = 'L', long)]
        follow_link: bool,
        /// Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached.
        #[arg(short, long)]
        quiet: bool,
        /// CONTAINER:SRC_PATH, a local path, or -.
        src: String,
        /// CONTAINER:DEST_PATH, a local path, or -.
        dest: String,
    },
    /// Get real time events from the server
    ///
    /// berth's event log: every stage writes it.
    Events(EventsArgs),
    /// Manage berth: disk usage, pruning, events.
    System {
        #[command(subcommand)]
        cmd: SystemCmd,
    },
    /// Create a new image from a container's changes.
    Commit(snapshot::Commit),
    /// Inspect changes to files or directories on a container's filesystem.
    Diff { container: String },
    /// Export a container's filesystem as a tar archive.
    Export {
        /// Write to a file, instead of STDOUT.
        #[arg(short, long)]
        output: Option<std::path::PathBuf>,
        container: String,
    },
    /// Show the berth version information.
    Version {
        #[arg(short, long, help = berth_cli::usage::INSPECT_FORMAT_HELP)]
        format: Option<String>,
    },
    /// Show what this machine supports (cgroups, overlay, seccomp, user namespaces,
    /// iptables), with the fix for anything missing.
    Doctor,
    /// Display system-wide information.
    Info {
        #[arg(short, long, help = berth_cli::usage::INSPECT_FORMAT_HELP)]
        format: Option<String>,
    },
    /// Remove the containers a failed or interrupted berth run made (berth-run's own use);
    /// without --creator, those of every run whose process is gone.
    #[command(hide = true)]
    Undo {
        #[arg(long, value_name = "PID")]
        creator: Option<i32>,
    },
    /// Shell completions or man pages of the `berth` and `berth-run` scripts.
    #[command(hide = true)]
    Generate {
        #[arg(value_parser = ["berth", "berth-run", "berth-create"])]
        script: String,
        /// bash, zsh, fish, elvish, powershell, man:DIR, flags (berth-run's table), or help
        /// (`berth run --help`).
        what: String,
    },
}

#[derive(clap::Args, Debug)]
struct EventsArgs {
    /// Filter output based on conditions provided
    ///
    /// container, event, image, label, network, type, volume, ...
    #[arg(short, long, value_name = "FILTER", value_parser = filter_arg)]
    filter: Vec<String>,
    #[arg(long, value_name = "STRING", overrides_with = "format", help = berth_cli::usage::INSPECT_FORMAT_HELP)]
    format: Option<String>,
    /// Show all events created since timestamp.
    #[arg(long, value_name = "STRING", overrides_with = "since")]
    since: Option<String>,
    /// Stream events until this timestamp.
    #[arg(long, value_name = "STRING", overrides_with = "until")]
    until: Option<String>,
}

#[derive(Subcommand, Debug)]
enum SystemCmd {
    /// Show docker disk usage.
    Df {
        /// Show detailed information on space usage.
        #[arg(short, long)]
        verbose: bool,
        #[arg(long, value_name = "STRING", help = berth_cli::usage::FORMAT_HELP)]
        format: Option<String>,
    },
    /// Remove unused data.
    Prune {
        /// Remove all unused images not just dangling ones.
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Prune anonymous volumes.
        #[arg(long)]
        volumes: bool,
        /// Provide filter values (e.g. "label=<key>=<value>").
        #[arg(long, value_name = "FILTER", value_parser = filter_arg)]
        filter: Vec<String>,
    },
    /// Get real time events from the server.
    Events(EventsArgs),
}

/// docker/cli's `FilterOpt`: a `--filter` without `=` is a flag error (125).
fn filter_arg(s: &str) -> std::result::Result<String, String> {
    if s.contains('=') {
        Ok(s.to_string())
    } else {
        Err("bad format of filter (expected name=value)".into())
    }
}

impl Tool for Args {
    const NAME: &'static str = "ctl";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        !matches!(self.cmd, Cmd::Undo { .. } | Cmd::Generate { .. })
    }
}

fn main() -> ExitCode {
    cli::main::<Args>(run)
}

fn run(args: Args) -> Result<()> {
    let paths = args.common.paths();
    match args.cmd {
        Cmd::Rm {
            force,
            volumes,
            link,
            containers,
        } => {
            if link {
                return Err(Error::new(
                    Code::UNSUPPORTED,
                    "rm --link: berth's legacy links are part of the linking container; remove or recreate that container",
                ));
            }
            // docker/cli 28's rm: with --force a missing container is reported on stderr
            // and does not fail the verb.
            cli::each(
                &containers,
                cli::Failures::new().forgive_not_found(force),
                |c| {
                    container::remove(&paths, c, RemoveOptions { force, volumes })
                        .map(|_| format!("{c}\n"))
                },
            )
        }
        Cmd::Rename {
            container,
            new_name,
        } => container::rename(&paths, &container, &new_name).map(drop),
        Cmd::Prune { force, filter } => prune(&paths, force, &filter),
        Cmd::Cp {
            archive,
            follow_link,
            quiet,
            src,
            dest,
        } => cp(&paths, archive, follow_link, quiet, &src, &dest),
        Cmd::Events(a)
        | Cmd::System {
            cmd: SystemCmd::Events(a),
        } => system::events(
            &paths,
            a.since.as_deref(),
            a.until.as_deref(),
            &a.filter,
            a.format.as_deref(),
        ),
        Cmd::System {
            cmd: SystemCmd::Df { verbose, format },
        } => system::df(&paths, verbose, format.as_deref()),
        Cmd::System {
            cmd:
                SystemCmd::Prune {
                    all,
                    force,
                    volumes,
                    filter,
                },
        } => system::prune(&paths, all, volumes, force, &filter),
        Cmd::Commit(c) => snapshot::run_commit(&paths, c),
        Cmd::Diff { container } => snapshot::run_diff(&paths, &container),
        Cmd::Export { output, container } => snapshot::run_export(&paths, &container, output),
        Cmd::Version { format } => version(format.as_deref()),
        Cmd::Doctor => doctor(&paths, args.common.wants_json()),
        Cmd::Info { format } => info(&paths, format.as_deref(), args.common.json),
        Cmd::Undo { creator } => {
            let removed = match creator {
                Some(pid) => container::undo(&paths, pid)?,
                None => container::sweep(&paths),
            };
            cli::print_text(
                &removed
                    .iter()
                    .map(|id| format!("{id}\n"))
                    .collect::<String>(),
            )
        }
        Cmd::Generate { script, what } => {
            if what == "help" {
                let verb = script.strip_prefix("berth-").unwrap_or(&script);
                return cli::print_text(&commands::run_help(verb));
            }
            if what == "flags" {
                // The table itself, for the test that holds berth-run to it; refused flags
                // have the stage `refused`.
                let row = |long: &str, short: &Option<char>, value: bool, stage: &str| {
                    format!(
                        "{long} {} {} {stage}\n",
                        short.map_or("-".to_string(), String::from),
                        if value { "value" } else { "bool" }
                    )
                };
                let rows: String = commands::RUN_FLAGS
                    .iter()
                    .map(|(long, short, value, stage, _)| row(long, short, *value, stage))
                    .chain(
                        commands::REFUSED_RUN_FLAGS
                            .iter()
                            .map(|(long, short, value)| row(long, short, *value, "refused")),
                    )
                    .collect();
                return cli::print_text(&rows);
            }
            let cmd = match script.as_str() {
                "berth" => dispatch::berth(),
                _ => commands::run("berth-run"),
            };
            cli::generate_into(cmd, &what, &mut std::io::stdout().lock())
        }
    }
}

/// `docker version [--format]`: the default text, `json` (or `{{json .}}`), or a template.
fn version(format: Option<&str>) -> Result<()> {
    let doc = berth::version::document(env!("CARGO_PKG_VERSION"));
    let text = match format {
        None | Some("") => berth::version::text(&doc),
        Some("json") => format!("{doc}\n"),
        Some(t) => {
            let t = t.replace("\\t", "\t").replace("\\n", "\n");
            format!("{}\n", berth::format::Template::parse(&t)?.render(&doc)?)
        }
    };
    cli::print_text(&text)
}

/// `docker info [--format]`: Docker's text (its warnings on stderr), `json` (or
/// `{{json .}}`, or `--json`), or a template over moby's document. As docker/cli's
/// `formatInfo`, a template that does not parse is status 64.
fn info(paths: &berth::Paths, format: Option<&str>, json: bool) -> Result<()> {
    let doc = berth::info::gather(paths, env!("CARGO_PKG_VERSION"));
    let text = match format {
        _ if json => format!("{}\n", serde_json::to_string(&doc).unwrap_or_default()),
        None | Some("") => {
            cli::print_text(&berth::info::text(&doc))?;
            for w in &doc.warnings {
                eprintln!("{w}");
            }
            return Ok(());
        }
        Some(f) => {
            let f = if f.trim() == "json" { "{{json .}}" } else { f };
            let t = cli::template(f)?;
            format!("{}\n", t.render(&doc)?)
        }
    };
    cli::print_text(&text)
}

fn prune(paths: &berth::Paths, force: bool, filter: &[String]) -> Result<()> {
    let filters = PruneFilters::parse(filter, chrono::Utc::now())?;
    if !force && !berth_cli::confirm("This will remove all stopped containers.") {
        return Ok(());
    }
    let pruned = container::prune(paths, &filters)?;
    let mut out = String::new();
    if !pruned.ids.is_empty() {
        out.push_str("Deleted Containers:\n");
        for id in &pruned.ids {
            out.push_str(id);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        berth::units::human::size(pruned.reclaimed)
    ));
    cli::print_text(&out)
}

fn cp(
    paths: &berth::Paths,
    archive: bool,
    follow: bool,
    quiet: bool,
    src: &str,
    dest: &str,
) -> Result<()> {
    let (s, d) = (Endpoint::parse(src), Endpoint::parse(dest));
    let opts = CopyOptions { archive, follow };
    let bytes = if d == Endpoint::Stream {
        let mut out = std::io::stdout().lock();
        let n = container::copy(paths, &s, &d, opts, &mut std::io::empty(), &mut out)?;
        out.flush()
            .map_err(|e| Error::new(Code::IO, format!("writing stdout: {e}")))?;
        n
    } else {
        container::copy(
            paths,
            &s,
            &d,
            opts,
            &mut std::io::stdin().lock(),
            &mut std::io::sink(),
        )?
    };
    if !quiet && d != Endpoint::Stream && std::io::stderr().is_terminal() {
        eprintln!(
            "Successfully copied {} to {dest}",
            berth::units::human::size(bytes)
        );
    }
    Ok(())
}

fn doctor(paths: &berth::Paths, json: bool) -> Result<()> {
    use berth::doctor::Level;
    let checks = berth::doctor::run(paths);
    if json {
        cli::print_json(&checks)?;
    } else {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                vec![
                    c.name.to_string(),
                    c.level.as_str().to_string(),
                    c.detail.clone(),
                ]
            })
            .collect();
        let mut text = cli::format_table(&["CHECK", "STATUS", "DETAIL"], &rows);
        for c in checks.iter().filter(|c| !c.fix.is_empty()) {
            text.push_str(&format!("\nfix {}: {}", c.name, c.fix));
        }
        if checks.iter().any(|c| !c.fix.is_empty()) {
            text.push('\n');
        }
        cli::print_text(&text)?;
    }
    if checks.iter().any(|c| c.level == Level::Missing) {
        // The report is the whole answer on stdout (no error document after it): one line
        // on stderr, and the status says what is wrong.
        let _ = std::io::stdout().flush();
        eprintln!(
            "berth-ctl: error: this machine lacks what berth needs (see the fixes in the report)"
        );
        std::process::exit(Code::HOST_UNSUPPORTED.0 as i32);
    }
    Ok(())
}
