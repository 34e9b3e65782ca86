//! berth-vol: the volume stage, and `berth volume ...`.
//!
//! ```text
//! berth-unpack busybox | berth-vol - -v data:/data --tmpfs /run | berth-spawn start -
//! berth-vol create [NAME] [--label K=V]     ls [-q] [--filter] [--format]
//! berth-vol inspect NAME...                  rm [-f] NAME...      prune [-f]
//! berth-vol detach ID [--volumes]           teardown verb (container::teardown), idempotent
//! ```

use std::process::ExitCode;

use berth::format::{Format, Template};
use berth::volume::{self, VolOpts, Volumes, view};
use berth::{Code, Error};
use berth_cli::{self as cli, CommonOpts, Tool};
use clap::{Args as ClapArgs, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-vol",
    version,
    about = "Volumes, and a container's mounts: -v, --mount, --tmpfs, --volumes-from",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(flatten)]
    common: CommonOpts,
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// `-` to read the container record on stdin, or a container NAME|ID from the store.
    #[arg(value_name = "RECORD")]
    record: Option<String>,
    #[command(flatten)]
    mounts: MountArgs,
}

#[derive(ClapArgs, Debug, Default)]
struct MountArgs {
    /// Bind mount or volume: /path (anonymous volume), NAME:/path, or /host/path:/path,
    /// each with an optional :MODE (ro, rw, z, Z, nocopy, propagation).
    #[arg(short = 'v', long = "volume", value_name = "SPEC")]
    volume: Vec<String>,
    /// Docker's long form: type=bind|volume|tmpfs,src=...,dst=...[,readonly][,...].
    #[arg(long = "mount", value_name = "SPEC")]
    mount: Vec<String>,
    /// A tmpfs: /path[:OPTIONS] (size=64m, mode=1777, exec...).
    #[arg(long = "tmpfs", value_name = "PATH[:OPTS]")]
    tmpfs: Vec<String>,
    /// Copy the mounts of a container, at the same places: NAME[:ro|rw] (repeatable).
    #[arg(long = "volumes-from", value_name = "CONTAINER[:MODE]")]
    volumes_from: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Create a volume.
    ///
    /// A new anonymous one without VOLUME; an existing one is kept.
    Create {
        #[arg(value_name = "VOLUME")]
        name: Option<String>,
        /// Set metadata for a volume.
        #[arg(long, value_name = "KEY=VALUE")]
        label: Vec<String>,
        /// Specify volume driver name.
        #[arg(short, long, default_value = "local")]
        driver: String,
        /// Set driver specific options (not supported by berth's local driver).
        #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
        opt: Vec<String>,
    },
    /// List volumes.
    #[command(visible_alias = "list")]
    Ls {
        /// Only display volume names.
        #[arg(short, long)]
        quiet: bool,
        /// Provide filter values (e.g. "dangling=true").
        ///
        /// dangling=true|false, name=REGEX, label=KEY[=VALUE], driver=local.
        #[arg(short, long, value_name = "FILTER")]
        filter: Vec<String>,
        /// Format output using a custom template: 'table', 'table TEMPLATE', 'json',
        /// 'TEMPLATE'.
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on one or more volumes.
    Inspect {
        #[arg(required = true, value_name = "VOLUME")]
        names: Vec<String>,
        #[arg(short, long, help = cli::usage::INSPECT_FORMAT_HELP)]
        format: Option<String>,
    },
    /// Remove one or more volumes.
    #[command(visible_alias = "remove")]
    Rm {
        /// Force the removal of one or more volumes.
        ///
        /// Even a volume containers use (and say which); missing ones are ignored.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "VOLUME")]
        names: Vec<String>,
    },
    /// Remove the anonymous volumes no container references (Docker 23+); with -a, named
    /// ones too.
    Prune {
        /// Do not ask for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Remove all unused volumes, not just anonymous ones.
        #[arg(short, long)]
        all: bool,
        /// label=KEY[=VALUE], label!=KEY[=VALUE], all=true.
        #[arg(long, value_name = "FILTER")]
        filter: Vec<String>,
    },
    /// Forget a container's mounts; with --volumes, remove its anonymous volumes no other
    /// container uses (the teardown step of `berth rm [-v]`; idempotent).
    Detach {
        #[arg(value_name = "CONTAINER")]
        id: String,
        #[arg(long)]
        volumes: bool,
    },
}

impl Tool for Args {
    const NAME: &'static str = "vol";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        !matches!(self.cmd, None | Some(Cmd::Detach { .. }))
    }
}

fn main() -> ExitCode {
    cli::main::<Args>(run)
}

fn run(args: Args) -> berth::Result<()> {
    let paths = args.common.paths();
    let common = &args.common;
    let volumes = Volumes::new(&paths);
    match args.cmd {
        None => stage(&paths, args.record, args.mounts),
        Some(Cmd::Detach { id, volumes: rm }) => {
            let removed = volume::detach(&paths, &id, rm)?;
            if common.json {
                cli::print_json(&removed)?;
            }
            Ok(())
        }
        Some(Cmd::Create {
            name,
            label,
            driver,
            opt,
        }) => {
            if driver != "local" {
                return Err(Error::new(
                    Code::UNSUPPORTED,
                    format!(
                        "volume driver {driver:?} is not supported (berth has the local driver only)"
                    ),
                ));
            }
            if !opt.is_empty() {
                return Err(Error::new(
                    Code::UNSUPPORTED,
                    "driver options (-o) are not supported by berth's local volumes",
                ));
            }
            let labels = label
                .iter()
                .map(|l| {
                    let (k, v) = l.split_once('=').unwrap_or((l, ""));
                    (k.to_string(), v.to_string())
                })
                .collect::<Vec<_>>();
            let (v, _) = volumes.create(name.as_deref(), &labels)?;
            // Like `docker volume create`, the name, so `$(berth volume create)` works.
            if common.json {
                cli::print_json(&view::inspect(&paths, &v))
            } else {
                cli::print_text(&format!("{}\n", v.name))
            }
        }
        Some(Cmd::Ls {
            quiet,
            filter,
            format,
        }) => {
            let f = view::Filter::parse(&filter, &["dangling", "name", "label", "driver"])?;
            let usage = volumes.usage()?;
            let list: Vec<_> = volumes
                .list()?
                .into_iter()
                .filter(|v| f.matches(v, &usage))
                .collect();
            if quiet {
                let s: String = list.iter().map(|v| format!("{}\n", v.name)).collect();
                return cli::print_text(&s);
            }
            let rows: Vec<serde_json::Value> = list
                .iter()
                .map(|v| serde_json::to_value(view::row(&paths, v, &usage)).unwrap_or_default())
                .collect();
            match format {
                Some(spec) => {
                    let f = Format::parse(&spec, &view::COLUMNS)?;
                    cli::print_text(&f.render(&rows, &view::COLUMNS)?)
                }
                None if common.wants_json() => cli::print_json(&rows),
                None => {
                    let f = Format::default_table(&view::COLUMNS)?;
                    cli::print_text(&f.render(&rows, &view::COLUMNS)?)
                }
            }
        }
        Some(Cmd::Inspect { names, format }) => {
            let template = format.as_deref().map(Template::parse).transpose()?;
            let mut docs = Vec::new();
            let mut failures = cli::Failures::new();
            for n in &names {
                match volumes.get(n) {
                    Ok(v) => docs.push(view::inspect(&paths, &v)),
                    Err(e) => failures.add(n, e.into()),
                }
            }
            match template {
                Some(t) => {
                    let mut out = String::new();
                    for d in &docs {
                        out.push_str(&t.render(d)?);
                        out.push('\n');
                    }
                    cli::print_text(&out)?;
                }
                None if docs.is_empty() && !failures.is_empty() => cli::print_text("[]\n")?,
                None => cli::print_text(&view::inspect_text(&docs))?,
            }
            failures.finish()
        }
        Some(Cmd::Rm { force, names }) => {
            // Docker: each name as it goes; with --force a missing volume is no error and its
            // name is printed too (the daemon purges it quietly).
            let mut removed = Vec::new();
            let json = common.json;
            let r = cli::each(&names, cli::Failures::new(), |n| {
                match volumes.remove(n, force) {
                    Ok(users) if !users.is_empty() => eprintln!(
                        "berth-vol: warning: removed volume {n}, which container {} still used",
                        volume::store::list_users(&users)
                    ),
                    Ok(_) => {}
                    Err(volume::VolumeError::NoSuchVolume(_)) if force => {}
                    Err(e) => return Err(e.into()),
                }
                removed.push(n.to_string());
                Ok(if json {
                    String::new()
                } else {
                    format!("{n}\n")
                })
            });
            if json {
                cli::print_json(&removed)?;
            }
            r
        }
        Some(Cmd::Prune { force, all, filter }) => {
            // Checked before the prompt: a bad filter is an error, not a question.
            let f = view::Filter::parse(&filter, &["label", "all"])?;
            if all && f.all().is_some() {
                return Err(volume::VolumeError::BadSpec(
                    "conflicting options: cannot specify both --all and --filter all=true".into(),
                )
                .into());
            }
            // Docker 23+: named volumes only when asked for, with -a or the filter all=true.
            let which = if all || f.all() == Some(true) {
                "all"
            } else {
                "anonymous"
            };
            if !force
                && !cli::confirm(&format!(
                    "This will remove {which} local volumes not used by at least one container."
                ))
            {
                return Ok(());
            }
            let (removed, bytes) = volumes.prune_filtered(all, &filter)?;
            if common.json {
                return cli::print_json(&serde_json::json!({
                    "VolumesDeleted": removed,
                    "SpaceReclaimed": bytes,
                }));
            }
            let mut out = String::new();
            if !removed.is_empty() {
                out.push_str("Deleted Volumes:\n");
                for n in &removed {
                    out.push_str(n);
                    out.push('\n');
                }
                out.push('\n');
            }
            out.push_str(&format!(
                "Total reclaimed space: {}\n",
                berth::units::human::size(bytes)
            ));
            cli::print_text(&out)
        }
    }
}

fn stage(paths: &berth::Paths, record: Option<String>, m: MountArgs) -> berth::Result<()> {
    let mut record = cli::input_record(paths, record.as_deref(), "vol")?;
    let opts = VolOpts {
        volumes: m.volume,
        mounts: m.mount,
        tmpfs: m.tmpfs,
        volumes_from: m.volumes_from,
    };
    volume::attach(paths, &mut record, &opts)?;
    cli::print_json(&record)
}
