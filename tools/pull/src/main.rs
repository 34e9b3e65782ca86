//! berth-pull: registry -> local content store (an OCI image layout under `<root>/images`).
//!
//! As a stage, piped (or with `--json`), stdout gets the record with its `image` section, for
//! the next stage; on a terminal, per-layer progress bars go to stderr, as Docker draws them.
//! As Docker's `pull` (`berth pull`, berth_cli::skel), stdout gets Docker's text: the layer
//! lines (bars on a terminal), `Digest:` and `Status:`, then the full reference; with `-q`
//! the reference only.

mod progress;

use std::process::ExitCode;

use berth::protocol::Record;
use berth::reference::Reference;
use berth::registry::{PullOptions, PullPolicy};
use berth::store::layout::PlatformSpec;
use berth_cli::{CommonOpts, Tool};
use clap::Parser;
use clap::builder::TypedValueParser as _;

/// Pull an image from a registry into the local store.
#[derive(Parser, Debug)]
#[command(name = "berth-pull", version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    common: CommonOpts,
    /// When to contact the registry: missing (only if the image is not stored), always, never.
    #[arg(
        long,
        default_value = "missing",
        value_parser = clap::builder::PossibleValuesParser::new(["missing", "always", "never"])
            .map(|s| s.parse::<PullPolicy>().expect("one of the listed values"))
    )]
    pull: PullPolicy,
    /// Platform to pick from a multi-platform image (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// No progress output on a terminal; print only the image name.
    #[arg(short, long)]
    quiet: bool,
    /// The image: NAME[:TAG][@DIGEST], e.g. busybox, registry.example:5000/team/app:v1.
    image: String,
}

impl Tool for Args {
    const NAME: &'static str = "pull";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        true
    }
}

fn run(args: Args) -> berth::Result<()> {
    let reference = Reference::parse(&args.image)?;
    let platform = args
        .platform
        .as_deref()
        .map(str::parse::<PlatformSpec>)
        .transpose()?;
    let opts = PullOptions {
        policy: args.pull,
        platform,
    };
    if berth_cli::skel::docker() {
        return docker_pull(&args, &reference, &opts);
    }
    let json = args.common.wants_json();
    let bars = progress::Bars::new(&reference, !json && !args.quiet);
    let image = berth::registry::pull(&args.common.paths(), &reference, &opts, &bars)?;
    bars.finish(&image);
    if json {
        let mut record = Record::new();
        record.image = Some(image);
        berth_cli::print_json(&record)
    } else {
        berth_cli::print_text(&format!("{}\n", reference.full()))
    }
}

/// Docker's `pull`: `Using default tag:` when the name has none, the layers (bars on a
/// terminal, lines when piped), `Digest:` and `Status:`, and the full reference last.
fn docker_pull(args: &Args, reference: &Reference, opts: &PullOptions) -> berth::Result<()> {
    use std::io::IsTerminal;
    let paths = args.common.paths();
    if args.quiet {
        berth::registry::pull(&paths, reference, opts, &berth::registry::pull::NoProgress)?;
    } else {
        let last = args.image.rsplit('/').next().unwrap_or(&args.image);
        if !args.image.contains('@') && !last.contains(':') {
            berth_cli::print_text("Using default tag: latest\n")?;
        }
        if std::io::stdout().is_terminal() {
            let bars = progress::Bars::new(reference, true);
            let image = berth::registry::pull(&paths, reference, opts, &bars)?;
            bars.finish(&image);
        } else {
            let lines = progress::Lines::new(reference);
            let image = berth::registry::pull(&paths, reference, opts, &lines)?;
            lines.finish(&image);
        }
    }
    berth_cli::print_text(&format!("{}\n", reference.full()))
}

fn main() -> ExitCode {
    berth_cli::main::<Args>(run)
}
