//! clap definition of the dispatcher script `berth` (its verbs and what each does), for its
//! completions, man page and `--help`; `berth run` and `berth create` are berth-run's
//! ([`super::commands::run`]).

use clap::{Arg, Command};

use super::commands::run;

/// The dispatcher: `berth VERB ...`.
pub fn berth() -> Command {
    let verbs: &[(&str, &str)] = &[
        (
            "attach",
            "Attach local standard input, output, and error streams to a running container",
        ),
        ("build", "Build an image from a Dockerfile"),
        (
            "container",
            "Manage containers (ls, rm, prune, inspect, ...)",
        ),
        ("commit", "Create a new image from a container's changes"),
        (
            "cp",
            "Copy files/folders between a container and the local filesystem",
        ),
        (
            "doctor",
            "Show what this machine supports, with the fix for anything missing",
        ),
        (
            "diff",
            "Inspect changes to files or directories on a container's filesystem",
        ),
        ("events", "Get real time events from the server"),
        ("exec", "Execute a command in a running container"),
        ("export", "Export a container's filesystem as a tar archive"),
        ("history", "Show the history of an image"),
        ("image", "Manage images"),
        ("info", "Display system-wide information"),
        ("images", "List images"),
        (
            "import",
            "Import the contents from a tarball to create a filesystem image",
        ),
        (
            "inspect",
            "Return low-level information on containers, images, volumes or networks",
        ),
        ("kill", "Kill one or more running containers"),
        ("load", "Load an image from a tar archive or STDIN"),
        ("login", "Log in to a registry"),
        ("logout", "Log out from a registry"),
        ("logs", "Fetch the logs of a container"),
        ("network", "Manage networks"),
        ("pause", "Pause all processes within one or more containers"),
        (
            "port",
            "List port mappings or a specific mapping for the container",
        ),
        ("ps", "List containers"),
        ("pull", "Download an image from a registry"),
        ("push", "Upload an image to a registry"),
        ("rename", "Rename a container"),
        ("restart", "Restart one or more containers"),
        ("rm", "Remove one or more containers"),
        ("rmi", "Remove one or more images"),
        ("save", "Save one or more images to a tar archive"),
        ("search", "Search a registry for images"),
        ("start", "Start one or more stopped containers"),
        (
            "stats",
            "Display a live stream of container resource usage statistics",
        ),
        ("stop", "Stop one or more running containers"),
        ("system", "Manage berth (df, prune, events, info)"),
        (
            "tag",
            "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        ),
        ("top", "Display the running processes of a container"),
        (
            "unpause",
            "Unpause all processes within one or more containers",
        ),
        ("update", "Update configuration of one or more containers"),
        ("version", "Show the berth version"),
        ("volume", "Manage volumes"),
        (
            "wait",
            "Block until one or more containers stop, then print their exit codes",
        ),
    ];
    let mut c = Command::new("berth")
        .about("berth: Docker's everyday commands, without a daemon")
        .long_about(
            "berth VERB runs the berth tool that owns VERB (berth-pull, berth-unpack, berth-netns, \
             berth-vol, berth-spawn, berth-ps, berth-image, berth-ctl, berth-run), with Docker's \
             flags and output. Each tool's own page describes its flags.",
        )
        .subcommand_required(true);
    for (name, about) in verbs {
        c = c.subcommand(
            Command::new(*name).about(*about).arg(
                Arg::new("args")
                    .num_args(0..)
                    .trailing_var_arg(true)
                    .allow_hyphen_values(true),
            ),
        );
    }
    c.subcommand(run("run").about("Create and run a new container from an image"))
        .subcommand(run("create").about("Create a new container"))
}
