//! berth-netns: the network stage.
//!
//! ```text
//! berth-unpack busybox | berth-netns - -p 8080:80 | berth-spawn start -d -
//! berth-netns rm ID                      tear down (idempotent)
//! berth-netns network create|ls|rm|prune|inspect|connect|disconnect ...
//! berth-netns port ID [PORT[/PROTO]]
//! ```

use std::process::ExitCode;

use berth::net::{self, NetOpts, networks};
use berth::state::Containers;
use berth_cli::{self as cli, CommonOpts, Tool};
use clap::{Args as ClapArgs, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-netns",
    version,
    about = "Give a container its network: none, bridge (default), host or container:NAME",
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
    net: NetArgs,
}

#[derive(ClapArgs, Debug, Default)]
struct NetArgs {
    /// none, bridge, host, container:NAME|ID, or a network made with `network create`.
    #[arg(long = "network", visible_alias = "net", value_name = "MODE")]
    network: Option<String>,
    /// Publish a port: [[IP:][HOSTPORT]:]CONTAINERPORT[/tcp|/udp], ranges allowed.
    #[arg(short = 'p', long = "publish", value_name = "SPEC")]
    publish: Vec<String>,
    /// Publish every exposed port (image EXPOSE and --expose) on a dynamic host port.
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Expose a port or range (for -P and links) without publishing it.
    #[arg(long, value_name = "PORT[/PROTO]")]
    expose: Vec<String>,
    /// The container's hostname (default: the short id).
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// A nameserver for /etc/resolv.conf (repeatable; replaces the host's).
    #[arg(long, value_name = "IP")]
    dns: Vec<String>,
    /// A search domain for /etc/resolv.conf (repeatable).
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    dns_search: Vec<String>,
    /// A resolver option for /etc/resolv.conf (repeatable).
    #[arg(long = "dns-option", visible_alias = "dns-opt", value_name = "OPT")]
    dns_option: Vec<String>,
    /// Add NAME:IP to /etc/hosts (IP may be host-gateway).
    #[arg(long = "add-host", value_name = "NAME:IP")]
    add_host: Vec<String>,
    /// Link to a running container: NAME[:ALIAS].
    #[arg(long, value_name = "NAME[:ALIAS]")]
    link: Vec<String>,
    /// The container's MAC address.
    #[arg(long = "mac-address", value_name = "MAC")]
    mac_address: Option<String>,
    /// A fixed IPv4 address (user-defined networks only).
    #[arg(long, value_name = "IP")]
    ip: Option<String>,
    /// A fixed IPv6 address (user-defined networks made with --ipv6 only).
    #[arg(long, value_name = "IP")]
    ip6: Option<String>,
    /// Add a network-scoped alias for the container (user-defined networks only).
    #[arg(
        long = "network-alias",
        visible_alias = "net-alias",
        value_name = "ALIAS"
    )]
    network_alias: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Tear down a container's network (idempotent).
    Rm {
        #[arg(value_name = "CONTAINER")]
        id: String,
    },
    /// Manage networks.
    Network {
        #[command(subcommand)]
        cmd: NetworkCmd,
    },
    /// List a container's published ports, as `docker port` does.
    Port {
        container: String,
        #[arg(value_name = "PORT[/PROTO]")]
        port: Option<String>,
    },
    /// The embedded DNS resolver of user-defined networks (started by berth-netns itself).
    #[command(hide = true)]
    DnsResolver {
        /// The inherited listening control socket.
        #[arg(long = "ctl-fd")]
        ctl_fd: i32,
    },
}

#[derive(Subcommand, Debug)]
enum NetworkCmd {
    /// Create a network.
    Create {
        #[arg(value_name = "NETWORK")]
        name: String,
        /// Driver to manage the Network (bridge).
        #[arg(short = 'd', long)]
        driver: Option<String>,
        /// Subnet in CIDR form (repeatable: one IPv4, and one IPv6 with --ipv6; default: a
        /// free 172.x.0.0/16 or 192.168.x.0/20, and a free ULA /64).
        #[arg(long)]
        subnet: Vec<String>,
        /// Gateway of the subnet of its family (repeatable).
        #[arg(long)]
        gateway: Vec<String>,
        /// Enable IPv6 (dual-stack: an IPv6 subnet besides the IPv4 one).
        #[arg(
            long,
            value_name = "BOOL",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "true"
        )]
        ipv6: Option<bool>,
        /// Allocate container addresses from this sub-range.
        #[arg(long = "ip-range")]
        ip_range: Option<String>,
        /// Driver options (com.docker.network.bridge.name, ...enable_icc, ...driver.mtu).
        #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
        opt: Vec<String>,
        /// Set metadata on a network.
        #[arg(long, value_name = "KEY=VALUE")]
        label: Vec<String>,
        /// Inter-container communication (--icc=false isolates containers, links excepted).
        #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
        icc: Option<bool>,
        /// No traffic in or out of the network.
        #[arg(long)]
        internal: bool,
    },
    /// List networks.
    #[command(visible_alias = "list")]
    Ls {
        /// Provide filter values (e.g. "driver=bridge").
        #[arg(short, long, value_name = "FILTER")]
        filter: Vec<String>,
        /// Format output using a custom template: 'table', 'table TEMPLATE', 'json',
        /// 'TEMPLATE'.
        #[arg(long, value_name = "FORMAT")]
        format: Option<String>,
        /// Do not truncate the output.
        #[arg(long = "no-trunc")]
        no_trunc: bool,
        /// Only display network IDs.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove one or more networks.
    #[command(visible_alias = "remove")]
    Rm {
        /// Do not error if the network does not exist.
        #[arg(short, long)]
        force: bool,
        #[arg(required = true, value_name = "NETWORK")]
        names: Vec<String>,
    },
    /// Remove all unused networks.
    Prune {
        /// Do not prompt for confirmation.
        #[arg(short, long)]
        force: bool,
        /// Provide filter values (e.g. "until=<timestamp>").
        #[arg(long, value_name = "FILTER")]
        filter: Vec<String>,
    },
    /// Display detailed information on one or more networks.
    Inspect {
        #[arg(short, long, help = cli::usage::INSPECT_FORMAT_HELP)]
        format: Option<String>,
        /// Verbose output for diagnostics.
        ///
        /// Docker's adds swarm services; a local network has none, so it changes nothing.
        #[arg(short, long)]
        verbose: bool,
        #[arg(required = true, value_name = "NETWORK")]
        names: Vec<String>,
    },
    /// Connect a container to a network.
    Connect {
        /// Add a network-scoped alias for the container.
        #[arg(long = "alias", value_name = "ALIAS")]
        alias: Vec<String>,
        /// IPv4 address (e.g., "172.30.100.104").
        #[arg(long, value_name = "IP")]
        ip: Option<String>,
        /// IPv6 address (e.g., "2001:db8::33").
        #[arg(long, value_name = "IP")]
        ip6: Option<String>,
        #[arg(value_name = "NETWORK")]
        network: String,
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
    /// Disconnect a container from a network.
    Disconnect {
        /// Force the container to disconnect from a network.
        #[arg(short, long)]
        force: bool,
        #[arg(value_name = "NETWORK")]
        network: String,
        #[arg(value_name = "CONTAINER")]
        container: String,
    },
}

impl Tool for Args {
    const NAME: &'static str = "netns";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        matches!(self.cmd, Some(Cmd::Network { .. } | Cmd::Port { .. }))
    }
}

fn main() -> ExitCode {
    cli::main::<Args>(run)
}

fn run(args: Args) -> berth::Result<()> {
    let paths = args.common.paths();
    let json = args.common.wants_json();
    match args.cmd {
        Some(Cmd::Rm { id }) => {
            // Idempotent: a container already gone is not an error, its leftovers still go.
            let id = Containers::new(&paths).resolve(&id).unwrap_or(id);
            net::detach(&paths, &id)?;
            Ok(())
        }
        Some(Cmd::Port { container, port }) => {
            if json {
                let containers = Containers::new(&paths);
                let id = containers.resolve(&container)?;
                let ports = containers
                    .load(&id)?
                    .network
                    .map(|n| n.ports)
                    .unwrap_or_default();
                cli::print_json(&ports)
            } else {
                cli::print_text(&net::port_output(&paths, &container, port.as_deref())?)
            }
        }
        Some(Cmd::Network { cmd }) => network(&paths, cmd, json),
        Some(Cmd::DnsResolver { ctl_fd }) => net::dns::run_resolver(&paths, ctl_fd),
        None => stage(&paths, args.record, args.net),
    }
}

fn stage(paths: &berth::Paths, record: Option<String>, n: NetArgs) -> berth::Result<()> {
    let opts = NetOpts {
        network: n.network,
        publish: n.publish,
        publish_all: n.publish_all,
        expose: n.expose,
        hostname: n.hostname,
        dns: n.dns,
        dns_search: n.dns_search,
        dns_options: n.dns_option,
        add_host: n.add_host,
        links: n.link,
        mac_address: n.mac_address,
        ip: n.ip,
        ip6: n.ip6,
        aliases: n.network_alias,
    };
    // The namespace is made while the stages before still work on the record.
    let early = match record {
        Some(_) => net::attach::Early::start(&opts),
        None => net::attach::Early::none(),
    };
    let mut record = cli::input_record(paths, record.as_deref(), "netns")?;
    net::attach_early(paths, &mut record, &opts, early)?;
    cli::print_json(&record)
}

fn network(paths: &berth::Paths, cmd: NetworkCmd, json: bool) -> berth::Result<()> {
    match cmd {
        NetworkCmd::Create {
            name,
            driver,
            subnet,
            gateway,
            ipv6,
            ip_range,
            opt,
            label,
            icc,
            internal,
        } => {
            let n = networks::create(
                paths,
                &networks::CreateOpts {
                    name,
                    driver,
                    subnets: subnet,
                    gateways: gateway,
                    ipv6: ipv6.unwrap_or(false),
                    ip_range,
                    options: opt,
                    labels: label,
                    icc,
                    internal,
                    mtu: None,
                },
            )?;
            if json {
                cli::print_json(&serde_json::json!({"Id": n.id, "Warning": ""}))
            } else {
                cli::print_text(&format!("{}\n", n.id))
            }
        }
        NetworkCmd::Ls {
            filter,
            format,
            no_trunc,
            quiet,
        } => network_ls(paths, &filter, format.as_deref(), no_trunc, quiet, json),
        NetworkCmd::Rm { force, names } => {
            // docker/cli's network rm: each name as it goes, each failure on stderr, and
            // `exit status 1` last; with --force a missing network is skipped.
            let mut removed = Vec::new();
            let failures = cli::Failures::new()
                .forgive_not_found(force)
                .summary(|_| "exit status 1".to_string());
            let r = cli::each(&names, failures, |n| {
                networks::remove(paths, n)?;
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
        NetworkCmd::Prune { force, filter } => {
            let filters = berth::container::PruneFilters::parse(&filter, chrono::Utc::now())?;
            if !force
                && !cli::confirm(
                    "This will remove all custom networks not used by at least one container.",
                )
            {
                return Ok(());
            }
            let removed = networks::prune(paths, &filters)?;
            if json {
                return cli::print_json(&serde_json::json!({ "NetworksDeleted": removed }));
            }
            // docker/cli prints the section and a blank line, and nothing when none went.
            if removed.is_empty() {
                return Ok(());
            }
            let names: String = removed.iter().map(|n| format!("{n}\n")).collect();
            cli::print_text(&format!("Deleted Networks:\n{names}\n"))
        }
        NetworkCmd::Connect {
            alias,
            ip,
            ip6,
            network,
            container,
        } => net::connect(
            paths,
            &network,
            &container,
            &alias,
            ip.as_deref(),
            ip6.as_deref(),
        ),
        NetworkCmd::Disconnect {
            force,
            network,
            container,
        } => net::disconnect(paths, &network, &container, force),
        NetworkCmd::Inspect {
            format,
            verbose: _,
            names,
        } => network_inspect(paths, format.as_deref(), &names),
    }
}

/// `network ls`: Docker's table, `--format` (`table`, `json`, a template), `-q`, `--filter`
/// (`networks::view`); the inspect documents with `--json`.
fn network_ls(
    paths: &berth::Paths,
    filter: &[String],
    format: Option<&str>,
    no_trunc: bool,
    quiet: bool,
    json: bool,
) -> berth::Result<()> {
    use networks::view;
    let filters = view::Filters::parse(filter)?;
    let mut all = view::list(paths, &filters)?;
    if !json {
        // docker/cli sorts the rows by name, naturally.
        all.sort_by(|a, b| view::natural_cmp(&a.name, &b.name));
    }
    // -q is the ids, piped or not, as Docker prints them (and it wins over --format).
    if quiet {
        let s: String = all
            .iter()
            .map(|n| format!("{}\n", view::row(n, no_trunc)["ID"].as_str().unwrap_or("")))
            .collect();
        return cli::print_text(&s);
    }
    if json {
        let v: Vec<_> = all
            .iter()
            .map(|n| networks::inspect(paths, n))
            .collect::<Result<_, _>>()?;
        return cli::print_json(&v);
    }
    let f = match format {
        Some(spec) if !spec.trim().is_empty() => cli::list_format(spec, &view::COLUMNS)?,
        _ => berth::format::Format::default_table(&view::COLUMNS)?,
    };
    let rows: Vec<_> = all.iter().map(|n| view::row(n, no_trunc)).collect();
    cli::print_text(&f.render(&rows, &view::COLUMNS)?)
}

/// `network inspect [-f FORMAT]`: docker/cli's inspector: the documents found, then an error
/// for each name that is not a network (status 1).
fn network_inspect(
    paths: &berth::Paths,
    format: Option<&str>,
    names: &[String],
) -> berth::Result<()> {
    let template = match format {
        None | Some("") | Some("json") => None,
        Some(t) => Some(cli::template(t)?),
    };
    let mut out = Vec::new();
    let mut failures = cli::Failures::new();
    for n in names {
        match networks::get(paths, n).and_then(|net| networks::inspect(paths, &net)) {
            Ok(doc) => out.push(doc),
            Err(e) => failures.add(n, e.into()),
        }
    }
    let text = match (format, &template) {
        (_, Some(t)) => cli::render_each(t, &out)?,
        (Some("json"), None) => format!("{}\n", serde_json::to_string(&out).unwrap_or_default()),
        // docker/cli's inspector indents by four spaces.
        _ => berth::views::inspect::pretty(&out),
    };
    cli::print_text(&text)?;
    failures.finish()
}
