//! berth-unpack: creates a container from an image (shared layers, overlay rootfs,
//! config.json), unpacks an image to a plain directory, or removes a container's bundle.
//!
//! ```text
//! berth-unpack [FLAGS] IMAGE [CMD ARGS...]        create a container from a stored image
//! berth-pull busybox | berth-unpack [FLAGS] -     ... from the record on stdin
//! berth-unpack IMAGE --to DIR                     the image's filesystem in DIR, no container
//! berth-unpack rm ID...                           unmount and delete (idempotent)
//! berth-unpack mount ID                           mount the rootfs again (after a reboot)
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use berth::bundle::{self, CreateOptions, DriverChoice, Overrides, ResolvedImage};
use berth::layer::{DEFAULT_MAX_LAYER_SIZE, UnpackOptions};
use berth::protocol::{HealthFlags, Record};
use berth::state::Containers;
use berth::store::ImageStore;
use berth::{Code, Error, Result};
use berth_cli::{self as cli, CommonOpts, Tool};
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "berth-unpack",
    version,
    about = "Create a container bundle from an image: layers unpacked once, an overlay rootfs, and config.json",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    disable_help_flag = true
)]
struct Args {
    #[command(flatten)]
    common: CommonOpts,
    #[command(subcommand)]
    command: Option<Command>,
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Assign a name to the container.
    #[arg(long)]
    name: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image ("" clears it).
    #[arg(long, allow_hyphen_values = true)]
    entrypoint: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to take it from here).
    #[arg(short = 'e', long = "env", value_name = "KEY[=VALUE]")]
    env: Vec<String>,
    /// Read environment variables from a file (one KEY=VALUE a line).
    #[arg(long = "env-file", value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Working directory inside the container (absolute).
    #[arg(short = 'w', long = "workdir")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long = "user")]
    user: Option<String>,
    /// Command to run to check health.
    #[arg(long = "health-cmd", value_name = "CMD", allow_hyphen_values = true)]
    health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 30s).
    #[arg(
        long = "health-interval",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    health_interval: Option<String>,
    /// Consecutive failures needed to report unhealthy (default 3).
    #[arg(long = "health-retries", value_name = "N", allow_hyphen_values = true)]
    health_retries: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 30s).
    #[arg(
        long = "health-timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    health_timeout: Option<String>,
    /// Start period for the container to initialize before starting health-retries
    /// countdown (ms|s|m|h) (default 0s).
    #[arg(
        long = "health-start-period",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    health_start_period: Option<String>,
    /// Time between running the check during the start period (ms|s|m|h) (default 5s).
    #[arg(
        long = "health-start-interval",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    health_start_interval: Option<String>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long = "no-healthcheck")]
    no_healthcheck: bool,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    read_only: bool,
    /// The container is removed when it exits (`run --rm`): its overlay is mounted
    /// `volatile`, so that its removal does not sync the host's filesystem.
    #[arg(long)]
    rm: bool,
    /// Container host name (default: the short id).
    #[arg(short = 'h', long)]
    hostname: Option<String>,
    /// Container NIS domain name.
    #[arg(long)]
    domainname: Option<String>,
    /// Set metadata on the container (KEY=VALUE).
    #[arg(short = 'l', long = "label")]
    label: Vec<String>,
    /// Read labels from a file (one KEY=VALUE a line).
    #[arg(long = "label-file", value_name = "FILE")]
    label_file: Vec<PathBuf>,
    /// Signal to stop the container.
    #[arg(long = "stop-signal")]
    stop_signal: Option<String>,
    /// Platform of a multi-platform image (os/arch[/variant]).
    #[arg(long)]
    platform: Option<String>,
    /// Rootfs driver: overlay, copy, or auto (overlay where possible).
    #[arg(long = "storage-driver", env = "BERTH_STORAGE_DRIVER", default_value = "auto",
          value_parser = ["auto", "overlay", "copy"])]
    storage_driver: String,
    /// Refuse layers whose uncompressed size exceeds this (bytes; k, m, g, t suffixes).
    #[arg(long = "max-layer-size", env = "BERTH_MAX_LAYER_SIZE", value_parser = parse_size)]
    max_layer_size: Option<u64>,
    /// The command line to keep in the record (one word each; berth-run passes the user's).
    #[arg(long, hide = true, allow_hyphen_values = true, value_name = "WORD")]
    argv: Vec<String>,
    /// Unpack the image's filesystem into DIR (new or empty) instead of creating a container.
    #[arg(long, value_name = "DIR")]
    to: Option<PathBuf>,
    /// The image (name, digest or id) in the local store, or - for a record on stdin.
    image: Option<String>,
    /// The command and its arguments (replace the image's CMD).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Unmount and delete containers' bundles and free their names (idempotent).
    Rm {
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Mount a container's rootfs again if it is not mounted (after a reboot).
    Mount { container: String },
}

impl Tool for Args {
    const NAME: &'static str = "unpack";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        false
    }
}

/// `--max-layer-size`: a size as Docker's flags take it (`512m`, `2g`, bytes).
fn parse_size(s: &str) -> std::result::Result<u64, String> {
    berth::units::size::parse(s)
        .ok_or_else(|| format!("invalid size {s:?}: use bytes or a k/m/g/t suffix"))
}

fn main() -> ExitCode {
    cli::main::<Args>(run)
}

fn run(args: Args) -> Result<()> {
    let paths = args.common.paths();
    match &args.command {
        Some(Command::Rm { containers }) => return rm(&args, containers),
        Some(Command::Mount { container }) => {
            let c = Containers::new(&paths);
            let id = c.resolve(container)?;
            bundle::ensure_mounted(&paths, &c.load(&id)?)?;
            return Ok(());
        }
        None => {}
    }
    let Some(image_arg) = args.image.as_deref() else {
        return Err(Error::new(
            Code::BAD_ARGS,
            "an image is required: berth-unpack IMAGE [CMD...], or berth-pull IMAGE | berth-unpack -",
        ));
    };
    // Made for a berth run: its marker first, so that a kill -9 of the whole run at any point
    // leaves something the next run's sweep finds (berth::container::undo). Marker, sweep and
    // store need no record: they are done while berth-pull still works on it.
    let creator = match &args.to {
        Some(_) => None,
        None => berth::container::creator_from_env()?,
    };
    if let Some(c) = &creator {
        berth::container::sweep(&paths);
        berth::container::mark(&paths, c)?;
    }
    let store = ImageStore::open(&paths)?;
    let (image, base) = if image_arg == "-" {
        let record = cli::read_stdin_record()?;
        if record.bundle.is_some() {
            return Err(Error::new(
                Code::BAD_ARGS,
                format!(
                    "the record on stdin is container {} which already has a bundle (pipe in berth-pull's output)",
                    record.id
                ),
            ));
        }
        let section = record.require(&record.image, "image", "berth-pull")?;
        (ResolvedImage::from_section(&store, section)?, record)
    } else {
        (
            resolve_image(&store, image_arg, args.platform.as_deref())?,
            Record::new(),
        )
    };
    let unpack = UnpackOptions {
        max_size: args.max_layer_size.unwrap_or(DEFAULT_MAX_LAYER_SIZE),
    };
    if let Some(dir) = &args.to {
        bundle::unpack_to(&paths, &image, dir, &unpack)?;
        let mut out = base;
        out.image = Some(image.section.clone());
        out.other
            .insert("dir".into(), serde_json::json!(dir.display().to_string()));
        return cli::print_json(&out);
    }
    let opts = CreateOptions {
        name: args.name.clone(),
        overrides: Overrides {
            entrypoint: args.entrypoint.clone(),
            cmd: (!args.cmd.is_empty()).then(|| args.cmd.clone()),
            env: args.env.clone(),
            env_files: args.env_file.clone(),
            workdir: args.workdir.clone(),
            user: args.user.clone(),
            hostname: args.hostname.clone(),
            domainname: args.domainname.clone(),
            labels: args.label.clone(),
            label_files: args.label_file.clone(),
            stop_signal: args.stop_signal.clone(),
            read_only: args.read_only,
            healthcheck: HealthFlags {
                cmd: args.health_cmd.clone(),
                interval: args.health_interval.clone(),
                timeout: args.health_timeout.clone(),
                start_period: args.health_start_period.clone(),
                start_interval: args.health_start_interval.clone(),
                retries: args.health_retries,
                none: args.no_healthcheck,
            }
            .parse()
            .map_err(|m| Error::new(Code::BAD_ARGS, m))?,
        },
        driver: match args.storage_driver.as_str() {
            "overlay" => DriverChoice::Overlay,
            "copy" => DriverChoice::Copy,
            _ => DriverChoice::Auto,
        },
        unpack,
        argv: if args.argv.is_empty() {
            std::env::args().collect()
        } else {
            args.argv.clone()
        },
        volatile: args.rm,
    };
    let mut base = base;
    base.creator = creator;
    let record = bundle::create(&paths, &image, &opts, base)?;
    cli::print_json(&record)
}

fn resolve_image(store: &ImageStore, arg: &str, platform: Option<&str>) -> Result<ResolvedImage> {
    let platform = platform.map(str::parse).transpose()?;
    match store.image(arg, platform.as_ref()) {
        Ok(img) => Ok(ResolvedImage::from_stored(img)),
        Err(e) if e.code() == Code::NOT_FOUND => Err(Error::new(
            Code::NOT_FOUND,
            format!("no such image {arg:?} in the local store: pull it first (berth pull {arg})"),
        )),
        Err(e) => Err(e),
    }
}

fn rm(args: &Args, containers: &[String]) -> Result<()> {
    let paths = args.common.paths();
    cli::each(containers, cli::Failures::new(), |c| {
        let id = bundle::remove(&paths, c)?;
        let doc = serde_json::json!({
            "berth": berth::protocol::PROTOCOL_VERSION,
            "removed": id.unwrap_or_else(|| c.to_string()),
        });
        Ok(format!("{doc}\n"))
    })
}
