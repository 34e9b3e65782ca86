//! clap definition of the shell script `berth-run` (the dispatcher `berth` is in
//! `dispatch`), so that its completions, man page and `--help` come from clap like every
//! tool's. The scripts parse their own arguments (dash starts in a millisecond).
//!
//! [`RUN_FLAGS`] and [`REFUSED_RUN_FLAGS`] are the one definition of `berth run`'s flags:
//! `tests/tests/run_flags.rs` holds berth-run's case tables to them (every flag accepted and
//! sent to the stage named here, every refused one refused by name, and no flag in the script
//! that is not here).

use clap::{Arg, ArgAction, Command};

/// Docker's `run`/`create` flags that berth implements: (long, short, takes a value, stage,
/// help). The stage is where berth-run sends the flag (DESIGN.md, "Docker flag -> stage").
pub const RUN_FLAGS: &[(&str, Option<char>, bool, &str, &str)] = &[
    (
        "pull",
        None,
        true,
        "pull",
        "Pull image before running: missing, always, never",
    ),
    (
        "platform",
        None,
        true,
        "pull",
        "Platform of a multi-platform image (os/arch[/variant])",
    ),
    (
        "quiet",
        Some('q'),
        false,
        "pull",
        "Suppress the pull output",
    ),
    (
        "name",
        None,
        true,
        "unpack",
        "Assign a name to the container",
    ),
    (
        "entrypoint",
        None,
        true,
        "unpack",
        "Overwrite the default ENTRYPOINT of the image",
    ),
    (
        "env",
        Some('e'),
        true,
        "unpack",
        "Set environment variables (KEY=VALUE, or KEY)",
    ),
    (
        "env-file",
        None,
        true,
        "unpack",
        "Read in a file of environment variables",
    ),
    (
        "workdir",
        Some('w'),
        true,
        "unpack",
        "Working directory inside the container",
    ),
    (
        "user",
        Some('u'),
        true,
        "unpack",
        "Username or UID (<name|uid>[:<group|gid>])",
    ),
    (
        "read-only",
        None,
        false,
        "unpack",
        "Mount the container's root filesystem as read only",
    ),
    (
        "hostname",
        Some('h'),
        true,
        "unpack+netns",
        "Container host name",
    ),
    (
        "domainname",
        None,
        true,
        "unpack",
        "Container NIS domain name",
    ),
    (
        "label",
        Some('l'),
        true,
        "unpack",
        "Set metadata on a container (KEY=VALUE)",
    ),
    (
        "stop-signal",
        None,
        true,
        "unpack",
        "Signal to stop the container",
    ),
    (
        "storage-driver",
        None,
        true,
        "unpack",
        "Rootfs driver: auto, overlay or copy (berth)",
    ),
    (
        "network",
        None,
        true,
        "netns",
        "Connect a container to a network (none, bridge, host, container:NAME, NETWORK)",
    ),
    ("net", None, true, "netns", "Alias of --network"),
    (
        "publish",
        Some('p'),
        true,
        "netns",
        "Publish a container's port(s) to the host",
    ),
    (
        "publish-all",
        Some('P'),
        false,
        "netns",
        "Publish all exposed ports to random ports",
    ),
    (
        "expose",
        None,
        true,
        "netns",
        "Expose a port or a range of ports",
    ),
    ("dns", None, true, "netns", "Set custom DNS servers"),
    (
        "dns-search",
        None,
        true,
        "netns",
        "Set custom DNS search domains",
    ),
    ("dns-option", None, true, "netns", "Set DNS options"),
    ("dns-opt", None, true, "netns", "Alias of --dns-option"),
    (
        "add-host",
        None,
        true,
        "netns",
        "Add a custom host-to-IP mapping (host:ip)",
    ),
    (
        "link",
        None,
        true,
        "netns",
        "Add link to another container (NAME[:ALIAS])",
    ),
    ("mac-address", None, true, "netns", "Container MAC address"),
    (
        "ip",
        None,
        true,
        "netns",
        "IPv4 address (user-defined networks)",
    ),
    (
        "ip6",
        None,
        true,
        "netns",
        "IPv6 address (user-defined networks made with --ipv6)",
    ),
    (
        "network-alias",
        None,
        true,
        "netns",
        "Add network-scoped alias for the container",
    ),
    ("net-alias", None, true, "netns", "Alias of --network-alias"),
    ("volume", Some('v'), true, "vol", "Bind mount a volume"),
    (
        "mount",
        None,
        true,
        "vol",
        "Attach a filesystem mount to the container",
    ),
    ("tmpfs", None, true, "vol", "Mount a tmpfs directory"),
    (
        "volumes-from",
        None,
        true,
        "vol",
        "Mount volumes from the specified container(s)",
    ),
    (
        "detach",
        Some('d'),
        false,
        "spawn",
        "Run container in background and print container ID",
    ),
    (
        "interactive",
        Some('i'),
        false,
        "spawn",
        "Keep STDIN open even if not attached",
    ),
    ("tty", Some('t'), false, "spawn", "Allocate a pseudo-TTY"),
    (
        "rm",
        None,
        false,
        "spawn",
        "Automatically remove the container when it exits",
    ),
    (
        "restart",
        None,
        true,
        "spawn",
        "Restart policy: no, on-failure[:N], always, unless-stopped",
    ),
    (
        "init",
        None,
        false,
        "spawn",
        "Run an init inside the container that forwards signals and reaps processes",
    ),
    ("memory", Some('m'), true, "spawn", "Memory limit"),
    (
        "memory-swap",
        None,
        true,
        "spawn",
        "Swap limit equal to memory plus swap: -1 for unlimited",
    ),
    (
        "memory-reservation",
        None,
        true,
        "spawn",
        "Memory soft limit",
    ),
    (
        "cpu-shares",
        Some('c'),
        true,
        "spawn",
        "CPU shares (relative weight)",
    ),
    ("cpus", None, true, "spawn", "Number of CPUs"),
    ("cpu-quota", None, true, "spawn", "Limit CPU CFS quota"),
    ("cpu-period", None, true, "spawn", "Limit CPU CFS period"),
    (
        "cpuset-cpus",
        None,
        true,
        "spawn",
        "CPUs in which to allow execution (0-3, 0,1)",
    ),
    (
        "cpuset-mems",
        None,
        true,
        "spawn",
        "MEMs in which to allow execution (0-3, 0,1)",
    ),
    (
        "pids-limit",
        None,
        true,
        "spawn",
        "Tune container pids limit (-1 for unlimited)",
    ),
    (
        "blkio-weight",
        None,
        true,
        "spawn",
        "Block IO (relative weight), between 10 and 1000",
    ),
    (
        "device",
        None,
        true,
        "spawn",
        "Add a host device to the container",
    ),
    (
        "ipc",
        None,
        true,
        "spawn",
        "IPC mode to use (private, shareable, host, container:NAME)",
    ),
    (
        "pid",
        None,
        true,
        "spawn",
        "PID namespace to use (host, container:NAME)",
    ),
    ("uts", None, true, "spawn", "UTS namespace to use (host)"),
    ("userns", None, true, "spawn", "User namespace to use"),
    ("cap-add", None, true, "spawn", "Add Linux capabilities"),
    ("cap-drop", None, true, "spawn", "Drop Linux capabilities"),
    (
        "privileged",
        None,
        false,
        "spawn",
        "Give extended privileges to this container",
    ),
    (
        "security-opt",
        None,
        true,
        "spawn",
        "Security options (seccomp=unconfined|FILE, no-new-privileges)",
    ),
    (
        "ulimit",
        None,
        true,
        "spawn",
        "Ulimit options (name=soft[:hard])",
    ),
    (
        "cidfile",
        None,
        true,
        "spawn",
        "Write the container ID to the file",
    ),
    (
        "stop-timeout",
        None,
        true,
        "spawn",
        "Timeout (in seconds) to stop a container",
    ),
    ("log-opt", None, true, "spawn", "Log driver options"),
    (
        "detach-keys",
        None,
        true,
        "spawn",
        "Override the key sequence for detaching a container",
    ),
    (
        "attach",
        Some('a'),
        true,
        "spawn",
        "Attach to STDIN, STDOUT or STDERR",
    ),
    (
        "annotation",
        None,
        true,
        "spawn",
        "Add an annotation to the container (passed through to the OCI runtime)",
    ),
    (
        "blkio-weight-device",
        None,
        true,
        "spawn",
        "Block IO weight (relative device weight)",
    ),
    (
        "device-read-bps",
        None,
        true,
        "spawn",
        "Limit read rate (bytes per second) from a device",
    ),
    (
        "device-read-iops",
        None,
        true,
        "spawn",
        "Limit read rate (IO per second) from a device",
    ),
    (
        "device-write-bps",
        None,
        true,
        "spawn",
        "Limit write rate (bytes per second) to a device",
    ),
    (
        "device-write-iops",
        None,
        true,
        "spawn",
        "Limit write rate (IO per second) to a device",
    ),
    (
        "device-cgroup-rule",
        None,
        true,
        "spawn",
        "Add a rule to the cgroup allowed devices list",
    ),
    (
        "cgroup-parent",
        None,
        true,
        "spawn",
        "Optional parent cgroup for the container",
    ),
    (
        "cgroupns",
        None,
        true,
        "spawn",
        "Cgroup namespace to use (host|private): default host on cgroup v1 and hybrid hosts, private on v2",
    ),
    (
        "cpu-rt-period",
        None,
        true,
        "spawn",
        "Limit CPU real-time period in microseconds",
    ),
    (
        "cpu-rt-runtime",
        None,
        true,
        "spawn",
        "Limit CPU real-time runtime in microseconds",
    ),
    (
        "memory-swappiness",
        None,
        true,
        "spawn",
        "Tune container memory swappiness (0 to 100)",
    ),
    (
        "oom-kill-disable",
        None,
        false,
        "spawn",
        "Disable OOM Killer",
    ),
    (
        "oom-score-adj",
        None,
        true,
        "spawn",
        "Tune host's OOM preferences (-1000 to 1000)",
    ),
    ("shm-size", None, true, "spawn", "Size of /dev/shm"),
    (
        "sysctl",
        None,
        true,
        "spawn",
        "Sysctl options (namespaced: net.*, fs.mqueue.*, kernel.msg*, kernel.sem, kernel.shm*)",
    ),
    (
        "group-add",
        None,
        true,
        "spawn",
        "Add additional groups to join",
    ),
    (
        "runtime",
        None,
        true,
        "spawn",
        "Runtime to use for this container (berth-spawn, runc, crun)",
    ),
    (
        "label-file",
        None,
        true,
        "unpack",
        "Read in a line delimited file of labels",
    ),
    (
        "sig-proxy",
        None,
        false,
        "berth-run",
        "Proxy received signals to the process (default true)",
    ),
    (
        "isolation",
        None,
        true,
        "berth-run",
        "Container isolation technology (default only)",
    ),
    (
        "lxc-conf",
        None,
        true,
        "berth-run",
        "Removed in Docker 1.10: lxc.cgroup.* keys become their modern flags (berth)",
    ),
    (
        "log-driver",
        None,
        true,
        "berth-run",
        "Logging driver for the container",
    ),
    (
        "volume-driver",
        None,
        true,
        "berth-run",
        "Volume driver (local)",
    ),
    (
        "disable-content-trust",
        None,
        false,
        "berth-run",
        "Skip image verification (accepted; berth verifies digests, not signatures)",
    ),
    (
        "health-cmd",
        None,
        true,
        "unpack",
        "Command to run to check health",
    ),
    (
        "health-interval",
        None,
        true,
        "unpack",
        "Time between running the check (ms|s|m|h) (default 0s)",
    ),
    (
        "health-retries",
        None,
        true,
        "unpack",
        "Consecutive failures needed to report unhealthy",
    ),
    (
        "health-timeout",
        None,
        true,
        "unpack",
        "Maximum time to allow one check to run (ms|s|m|h) (default 0s)",
    ),
    (
        "health-start-period",
        None,
        true,
        "unpack",
        "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)",
    ),
    (
        "health-start-interval",
        None,
        true,
        "unpack",
        "Time between running the check during the start period (ms|s|m|h) (default 0s)",
    ),
    (
        "no-healthcheck",
        None,
        false,
        "unpack",
        "Disable any container-specified HEALTHCHECK",
    ),
    (
        "dry-run",
        None,
        false,
        "berth-run",
        "Print the stage pipeline instead of running it (berth)",
    ),
    (
        "timings",
        None,
        false,
        "berth-run",
        "Print each stage's elapsed time on stderr (berth)",
    ),
];

/// Docker `run`/`create` flags that berth refuses by name, with a clear error rather than a
/// silent ignore: (long, short, takes a value).
pub const REFUSED_RUN_FLAGS: &[(&str, Option<char>, bool)] = &[
    ("cpu-count", None, true),
    ("cpu-percent", None, true),
    ("gpus", None, true),
    ("io-maxbandwidth", None, true),
    ("io-maxiops", None, true),
    ("kernel-memory", None, true),
    ("link-local-ip", None, true),
    ("storage-opt", None, true),
    ("use-api-socket", None, false),
];

/// `run`'s flags that take several values (pflag's `list`); the others take one.
const LIST_FLAGS: &[&str] = &[
    "add-host",
    "annotation",
    "attach",
    "blkio-weight-device",
    "cap-add",
    "cap-drop",
    "device",
    "device-cgroup-rule",
    "device-read-bps",
    "device-read-iops",
    "device-write-bps",
    "device-write-iops",
    "dns",
    "dns-option",
    "dns-search",
    "env",
    "env-file",
    "expose",
    "group-add",
    "label",
    "label-file",
    "link",
    "mount",
    "network-alias",
    "publish",
    "security-opt",
    "storage-opt",
    "sysctl",
    "tmpfs",
    "ulimit",
    "volume",
    "volumes-from",
];

/// `berth run --help`, `berth create --help` (`verb` is `run` or `create`): docker/cli's
/// layout (`berth_cli::usage`) over [`RUN_FLAGS`], each flag once, in Docker's words.
pub fn run_help(verb: &str) -> String {
    let about = match verb {
        "create" => "Create a new container",
        _ => "Create and run a new container from an image",
    };
    let mut c = Command::new(format!("berth {verb}")).about(about);
    for (long, short, value, _, help) in RUN_FLAGS {
        let mut a = Arg::new(*long).long(*long).help(*help);
        if let Some(s) = short {
            a = a.short(*s);
        }
        a = match (*value, LIST_FLAGS.contains(long)) {
            (false, _) => a.action(ArgAction::SetTrue),
            (true, true) => a.action(ArgAction::Append),
            (true, false) => a.action(ArgAction::Set),
        };
        c = c.arg(a);
    }
    let c = c
        .disable_help_flag(true)
        .arg(Arg::new("image").value_name("IMAGE").required(true));
    let mut out = berth_cli::usage::help(&c, &format!("berth {verb}"));
    out.push_str(
        "\nExit status: 125 if berth fails, 126 if the command cannot be invoked, 127 if it \
         cannot be found, otherwise the container's own. --dry-run prints the stage pipeline \
         instead of running it.\n",
    );
    out
}

/// `berth-run` (and `berth run`, `berth create`).
pub fn run(name: &str) -> Command {
    let mut c = Command::new(name.to_string())
        .about("Create and run a new container from an image, as the pipeline of berth's stages")
        .long_about(
            "Create and run a new container from an image. Each of Docker's flags goes to the stage \
             that owns it: berth-pull | berth-unpack | berth-netns | berth-vol | berth-spawn.\n\n\
             Exit status: 125 if berth fails, 126 if the command cannot be invoked, 127 if it \
             cannot be found, otherwise the container's own.",
        )
        .disable_help_flag(true)
        .arg(Arg::new("help").long("help").action(ArgAction::Help).help("Print help"));
    for (long, short, value, stage, help) in RUN_FLAGS {
        let mut a = Arg::new(*long)
            .long(*long)
            .help(format!("{help} [{stage}]"));
        if let Some(s) = short {
            a = a.short(*s);
        }
        a = if *value {
            a.action(ArgAction::Append).value_name("VALUE")
        } else {
            a.action(ArgAction::SetTrue)
        };
        c = c.arg(a);
    }
    c.arg(Arg::new("image").value_name("IMAGE").required(true))
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .num_args(0..)
                .trailing_var_arg(true)
                .allow_hyphen_values(true),
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn definitions_are_valid() {
        super::run("berth-run").debug_assert();
        super::super::dispatch::berth().debug_assert();
    }
}
