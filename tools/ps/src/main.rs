//! berth-ps: truthful, fast views of state. `berth-ps [ps flags]` lists containers;
//! `berth-ps inspect|logs|top|port|stats ...` are Docker's other read-only verbs
//! (`berth ps`, `berth inspect`... map here).

use std::io::{self, Write};
use std::process::ExitCode;

use berth::format::{self, Format};
use berth::state::Containers;
use berth::units::time as timespec;
use berth::views::inspect::{self, Kind};
use berth::views::logs::{self, LogOptions, Stream};
use berth::views::ps::{self, PsOptions, Sizer};
use berth::views::stats::{self, Sample};
use berth::views::{ViewError, ports, top};
use berth::{Code, Error, Result};
use berth_cli::{self as cli, CommonOpts, Tool};
use chrono::Utc;
use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-ps",
    version,
    about = "List containers",
    long_about = "List containers (Docker's `ps`), or inspect, logs, top, port, stats",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(flatten)]
    common: CommonOpts,
    #[command(flatten)]
    ps: PsArgs,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

impl Tool for Args {
    const NAME: &'static str = "ps";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        true
    }
}

#[derive(clap::Args, Debug, Clone, Default)]
struct PsArgs {
    /// Show all containers (default shows just running).
    #[arg(short, long)]
    all: bool,
    /// Filter output based on conditions provided.
    ///
    /// Keys: status, name, id, ancestor, label, exited, volume, network, before, since,
    /// publish, expose.
    #[arg(short, long = "filter", value_name = "KEY=VALUE")]
    filter: Vec<String>,
    #[arg(long, help = berth_cli::usage::FORMAT_HELP)]
    format: Option<String>,
    /// Show n last created containers (includes all states) (default -1).
    #[arg(
        short = 'n',
        long = "last",
        value_name = "N",
        allow_negative_numbers = true
    )]
    last: Option<i64>,
    /// Show the latest created container (includes all states).
    #[arg(short, long)]
    latest: bool,
    /// Don't truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Only display container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Display total file sizes.
    #[arg(short, long)]
    size: bool,
}

/// `berth container VERB` where Docker's differs from `berth VERB`.
#[derive(Subcommand, Debug)]
enum ContainerCmd {
    /// Display detailed information on one or more containers.
    Inspect {
        #[arg(short, long, help = berth_cli::usage::INSPECT_FORMAT_HELP)]
        format: Option<String>,
        /// Display total file sizes.
        #[arg(short, long)]
        size: bool,
        #[arg(required = true, value_name = "CONTAINER")]
        names: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// List containers (the default).
    #[command(visible_alias = "ls", alias = "list")]
    Ps(PsArgs),
    /// Return low-level information on Docker objects.
    ///
    /// Containers, images, volumes or networks.
    Inspect {
        #[arg(short, long, help = berth_cli::usage::INSPECT_FORMAT_HELP)]
        format: Option<String>,
        /// Return JSON for specified type.
        ///
        /// container, image, volume or network.
        #[arg(long = "type", value_parser = kind_parser())]
        kind: Option<Kind>,
        /// Display total file sizes if the type is container.
        #[arg(short, long)]
        size: bool,
        #[arg(required = true, value_name = "NAME|ID")]
        names: Vec<String>,
    },
    /// Docker's `container` verbs that differ from the top-level ones (`berth container
    /// inspect`, which the dispatcher runs as `berth-ps container inspect`).
    #[command(hide = true)]
    Container {
        #[command(subcommand)]
        cmd: ContainerCmd,
    },
    /// Fetch the logs of a container.
    Logs {
        /// Follow log output.
        ///
        /// Ends when the container stops.
        #[arg(short, long)]
        follow: bool,
        /// Number of lines to show from the end of the logs.
        #[arg(short = 'n', long, default_value = "all")]
        tail: String,
        /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes).
        #[arg(long)]
        since: Option<String>,
        /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes).
        #[arg(long)]
        until: Option<String>,
        /// Show timestamps.
        #[arg(short, long)]
        timestamps: bool,
        /// Show extra details provided to logs.
        ///
        /// Accepted for compatibility; berth records none.
        #[arg(long)]
        details: bool,
        #[arg(value_name = "CONTAINER")]
        name: String,
    },
    /// Display the running processes of a container.
    ///
    /// The pids are the host's.
    Top {
        #[arg(value_name = "CONTAINER")]
        name: String,
        /// Options passed to ps (default -ef).
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "PS OPTIONS"
        )]
        ps_args: Vec<String>,
    },
    /// List port mappings or a specific mapping for the container.
    Port {
        #[arg(value_name = "CONTAINER")]
        name: String,
        #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
        port: Option<String>,
    },
    /// Display a live stream of container(s) resource usage statistics.
    Stats {
        /// Show all containers (default shows just running).
        #[arg(short, long)]
        all: bool,
        /// Disable streaming stats and only pull the first result.
        #[arg(long)]
        no_stream: bool,
        /// Do not truncate output.
        #[arg(long)]
        no_trunc: bool,
        #[arg(long, help = berth_cli::usage::FORMAT_HELP)]
        format: Option<String>,
        #[arg(value_name = "CONTAINER")]
        names: Vec<String>,
    },
}

/// `--type`: container, image, volume or network.
fn kind_parser() -> impl clap::builder::TypedValueParser<Value = Kind> {
    clap::builder::PossibleValuesParser::new(["container", "image", "volume", "network"]).map(|s| {
        match s.as_str() {
            "container" => Kind::Container,
            "image" => Kind::Image,
            "volume" => Kind::Volume,
            _ => Kind::Network,
        }
    })
}

fn main() -> ExitCode {
    cli::main::<Args>(run)
}

fn run(args: Args) -> Result<()> {
    let containers = Containers::new(&args.common.paths());
    let common = &args.common;
    let r = match args.cmd {
        None => ps_cmd(&containers, common, &args.ps),
        Some(Cmd::Ps(p)) => ps_cmd(&containers, common, &p),
        Some(Cmd::Inspect {
            format,
            kind,
            size,
            names,
        }) => inspect_cmd(&containers, format.as_deref(), kind, size, &names),
        // Docker's `container inspect` finds containers only.
        Some(Cmd::Container {
            cmd:
                ContainerCmd::Inspect {
                    format,
                    size,
                    names,
                },
        }) => inspect_cmd(
            &containers,
            format.as_deref(),
            Some(Kind::Container),
            size,
            &names,
        ),
        Some(Cmd::Logs {
            follow,
            tail,
            since,
            until,
            timestamps,
            details,
            name,
        }) => logs_cmd(
            &containers,
            follow,
            &tail,
            since,
            until,
            (timestamps, details),
            &name,
            common,
        ),
        Some(Cmd::Top { name, ps_args }) => top_cmd(&containers, &name, &ps_args, common),
        Some(Cmd::Port { name, port }) => port_cmd(&containers, &name, port.as_deref(), common),
        Some(Cmd::Stats {
            all,
            no_stream,
            no_trunc,
            format,
            names,
        }) => stats_cmd(
            &containers,
            common,
            all,
            no_stream,
            no_trunc,
            format,
            &names,
        ),
    };
    match r {
        // A reader that went away (`| head`) is a normal end.
        Err(e)
            if e.downcast_ref::<ViewError>().is_some_and(
                |v| matches!(v, ViewError::Write(io) if io.kind() == io::ErrorKind::BrokenPipe),
            ) =>
        {
            Ok(())
        }
        other => other,
    }
}

fn ps_cmd(containers: &Containers, common: &CommonOpts, a: &PsArgs) -> Result<()> {
    let opts = PsOptions {
        all: a.all,
        latest: a.latest,
        last: a.last.filter(|n| *n > 0).map(|n| n as usize),
        no_trunc: a.no_trunc,
        size: a.size,
        filters: a.filter.clone(),
    };
    // Parse --format before scanning, so a bad template fails fast.
    let custom = match a.format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("table") if a.quiet => None,
        Some(f) => Some(Format::parse(f, &ps::COLUMNS)?),
    };
    let records = ps::list(containers, &opts)?;
    let now = Utc::now();
    let mut sizer = opts.size.then(|| Sizer::new(containers));
    let rows = |no_trunc: bool, sizer: &mut Option<Sizer>| -> Vec<serde_json::Value> {
        records
            .iter()
            .map(|r| {
                serde_json::to_value(ps::row(r, no_trunc, sizer.as_mut(), now)).unwrap_or_default()
            })
            .collect()
    };
    if let Some(f) = custom {
        return cli::print_text(&f.render(&rows(opts.no_trunc, &mut sizer), &ps::COLUMNS)?);
    }
    if a.quiet {
        let ids: String = records
            .iter()
            .map(|r| {
                let id = if opts.no_trunc {
                    r.id.as_str()
                } else {
                    r.short_id()
                };
                format!("{id}\n")
            })
            .collect();
        return cli::print_text(&ids);
    }
    if common.wants_json() && a.format.is_none() {
        // For machines: nothing truncated.
        return cli::print_json(&rows(true, &mut sizer));
    }
    let table = if opts.size {
        format::Columns {
            default_table: ps::DEFAULT_TABLE_WITH_SIZE,
            ..ps::COLUMNS
        }
    } else {
        ps::COLUMNS
    };
    let f = Format::default_table(&table)?;
    cli::print_text(&f.render(&rows(opts.no_trunc, &mut sizer), &table)?)
}

fn inspect_cmd(
    containers: &Containers,
    format: Option<&str>,
    kind: Option<Kind>,
    size: bool,
    names: &[String],
) -> Result<()> {
    let template = match format {
        None | Some("") | Some("json") => None,
        Some(t) => Some(cli::template(t)?),
    };
    let mut found = Vec::new();
    let mut failures = cli::Failures::new();
    let mut sizer = size.then(|| Sizer::new(containers));
    for n in names {
        match inspect::find(containers, n, kind, sizer.as_mut()).map_err(Error::from) {
            Ok(v) => found.push(v),
            // docker/cli's own words when no type was asked for: `Error: No such object: x`.
            Err(e) if kind.is_none() && e.code() == Code::NOT_FOUND => {
                failures.add(n, Error::client(Code::NOT_FOUND, e.one_line()))
            }
            Err(e) => failures.add(n, e),
        }
    }
    match &template {
        None => cli::print_text(&inspect::pretty(&found))?,
        // The typed documents, so that structs print as Go prints them.
        Some(t) => cli::print_text(&cli::render_each(t, &found)?)?,
    }
    // Docker prints what it found, then an error for each name it did not.
    failures.finish()
}

#[allow(clippy::too_many_arguments)]
fn logs_cmd(
    containers: &Containers,
    follow: bool,
    tail: &str,
    since: Option<String>,
    until: Option<String>,
    (timestamps, details): (bool, bool),
    name: &str,
    common: &CommonOpts,
) -> Result<()> {
    let now = Utc::now();
    let tail = match tail.trim() {
        "all" | "" => None,
        n => match n.parse::<i64>() {
            Ok(n) if n < 0 => None,
            Ok(n) => Some(n as usize),
            Err(_) => {
                return Err(Error::new(
                    Code::BAD_ARGS,
                    format!("invalid --tail value {n:?} (a number of lines, or \"all\")"),
                ));
            }
        },
    };
    let opts = LogOptions {
        tail,
        since: since
            .as_deref()
            .map(|s| timespec::parse_time(s, now))
            .transpose()?,
        until: until
            .as_deref()
            .map(|s| timespec::parse_time(s, now))
            .transpose()?,
        follow,
    };
    let json = common.json;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut err = io::stderr().lock();
    let mut last = Stream::Stdout;
    let mut sink = |e: &logs::Entry| -> io::Result<()> {
        if json {
            // --json: the json-file lines as stored, on stdout.
            let doc = serde_json::json!({
                "log": e.log,
                "stream": if e.stream == Stream::Stderr { "stderr" } else { "stdout" },
                "time": e.timestamp(),
            });
            let mut doc = doc;
            if !e.attrs.is_empty() {
                doc["attrs"] = serde_json::json!(e.attrs);
            }
            writeln!(out, "{doc}")?;
            return if follow { out.flush() } else { Ok(()) };
        }
        // Docker's order: the timestamp, then the details, then the line.
        let mut prefix = String::new();
        if timestamps {
            prefix = format!("{} ", e.timestamp());
        }
        if details {
            prefix.push_str(&e.details());
        }
        match e.stream {
            Stream::Stdout => {
                write!(out, "{prefix}{}", e.log)?;
                if follow {
                    out.flush()?;
                }
            }
            Stream::Stderr => {
                // Keep the order the container wrote in when both go to one terminal.
                if last == Stream::Stdout {
                    out.flush()?;
                }
                write!(err, "{prefix}{}", e.log)?;
            }
        }
        last = e.stream;
        Ok(())
    };
    logs::container_logs(containers, name, &opts, &mut sink)?;
    out.flush().map_err(ViewError::Write)?;
    Ok(())
}

fn top_cmd(
    containers: &Containers,
    name: &str,
    ps_args: &[String],
    common: &CommonOpts,
) -> Result<()> {
    let t = top::container_top(containers, name, ps_args)?;
    if common.wants_json() {
        return cli::print_json(&t);
    }
    cli::print_text(&t.table())
}

fn port_cmd(
    containers: &Containers,
    name: &str,
    port: Option<&str>,
    common: &CommonOpts,
) -> Result<()> {
    let id = containers.resolve(name)?;
    let r = berth::state::truth::observe(containers, containers.load(&id)?)?;
    let text = ports::container_port_output(&r, port)?;
    if common.json {
        return cli::print_json(&text.lines().collect::<Vec<_>>());
    }
    // Text even when piped: `curl $(berth port web 80)` is how people use it.
    cli::print_text(&text)
}

fn stats_cmd(
    containers: &Containers,
    common: &CommonOpts,
    all: bool,
    no_stream: bool,
    no_trunc: bool,
    format: Option<String>,
    names: &[String],
) -> Result<()> {
    let custom = match format.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) => Some(Format::parse(f, &stats::COLUMNS)?),
    };
    let json = custom.is_none() && common.wants_json();
    let table = Format::default_table(&stats::COLUMNS)?;
    let cg = berth::views::cgroup::Cgroups::detect();
    // Named containers must exist; with no names, every running (or, with -a, every)
    // container, found again on each refresh.
    for n in names {
        containers.resolve(n)?;
    }
    let targets = || -> Result<Vec<(String, berth::protocol::Record)>> {
        if names.is_empty() {
            let opts = PsOptions {
                all,
                ..Default::default()
            };
            Ok(ps::list(containers, &opts)?
                .into_iter()
                .map(|r| (r.name.clone(), r))
                .collect())
        } else {
            names
                .iter()
                .map(|n| {
                    let id = containers.resolve(n)?;
                    let r = berth::state::truth::observe(containers, containers.load(&id)?)?;
                    Ok((n.clone(), r))
                })
                .collect()
        }
    };
    let interval = std::time::Duration::from_secs(1);
    let mut prev: std::collections::HashMap<String, Sample> = targets()?
        .iter()
        .map(|(_, r)| (r.id.clone(), stats::sample(&cg, r)))
        .collect();
    loop {
        std::thread::sleep(interval);
        let mut rows = Vec::new();
        let mut next = std::collections::HashMap::new();
        for (asked, r) in targets()? {
            let cur = stats::sample(&cg, &r);
            let before = prev.get(&r.id).cloned().unwrap_or_else(|| cur.clone());
            rows.push(
                serde_json::to_value(stats::row(&r, &asked, &before, &cur, no_trunc))
                    .unwrap_or_default(),
            );
            next.insert(r.id.clone(), cur);
        }
        prev = next;
        if json {
            cli::print_json(&rows)?;
        } else {
            let text = custom
                .as_ref()
                .unwrap_or(&table)
                .render(&rows, &stats::COLUMNS)?;
            if no_stream {
                cli::print_text(&text)?;
            } else {
                // Docker redraws the screen on each refresh.
                cli::print_text(&format!("\x1b[2J\x1b[H{text}"))?;
            }
        }
        if no_stream {
            return Ok(());
        }
    }
}
