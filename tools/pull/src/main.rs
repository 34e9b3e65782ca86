//! berth-pull: registry -> local content store (an OCI image layout under `<root>/images`).
//!
//! As a stage, stdout gets the record with its `image` section, for the next stage; run on its
//! own at a terminal, per-layer progress bars go to stderr, as Docker draws them.
//! As Docker's `pull` (`berth pull`, berth_cli::skel), stdout gets Docker's text: the layer
//! lines (bars on a terminal), `Digest:` and `Status:`, then the full reference; with `-q`
//! the reference only.

mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use berth::protocol::{ImageSection, Record};
use berth::reference::Reference;
use berth::registry::{PullOptions, PullPolicy};
use berth::store::layout::PlatformSpec;
use berth_cli::{CommonOpts, Tool};
use clap::Parser;
use clap::builder::TypedValueParser as _;

/// Pull an image from a registry into the local store.
#[derive(Parser, Debug)]
#[command(
    name = "berth-pull",
    version,
    about = "Download an image from a registry",
    long_about = "Download an image from a registry into berth's local OCI image store"
)]
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
    /// Set platform if server is multi-platform capable
    ///
    /// The platform to pick from a multi-platform image (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    platform: Option<String>,
    /// Suppress verbose output
    ///
    /// No progress output: print only the image's reference.
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
    // The stage: the record on stdout, always; progress bars on stderr when it is a terminal
    // (berth-run's first stage too: Docker's `run` shows the implicit pull's progress), after
    // Docker's "Unable to find image" line.
    let (out, err) = (
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal(),
    );
    let mut bars = progress::Bars::new(&reference, !args.quiet && err);
    if !out {
        // A stage in a pipeline (berth-run's first): only an actual pull is shown.
        bars = bars.pulls_only();
    }
    let both = progress::Both(&progress::Unable, &bars);
    let image = berth::registry::pull(&args.common.paths(), &reference, &opts, &both)?;
    bars.finish(&image);
    let mut record = Record::new();
    record.image = Some(ImageSection {
        given: args.image.clone(),
        ..image
    });
    berth_cli::print_json(&record)
}

/// Docker's `pull`: `Using default tag:` when the name has none, the layers (bars on a
/// terminal, lines when piped), `Digest:` and `Status:`, and the full reference last.
fn docker_pull(args: &Args, reference: &Reference, opts: &PullOptions) -> berth::Result<()> {
    let paths = args.common.paths();
    if args.quiet {
        berth::registry::pull(&paths, reference, opts, &berth::registry::pull::NoProgress)?;
    } else {
        let last = args.image.rsplit('/').next().unwrap_or(&args.image);
        if !args.image.contains('@') && !last.contains(':') {
            berth_cli::print_text("Using default tag: latest\n")?;
        }
        // On a terminal the layers are bars on stderr; every other line is the same.
        let tty = std::io::stdout().is_terminal();
        let lines = progress::Lines::new(reference, !tty);
        let image = if tty {
            let bars = progress::Bars::bars_only(reference);
            let both = progress::Both(&lines, &bars);
            let image = berth::registry::pull(&paths, reference, opts, &both)?;
            bars.finish(&image);
            image
        } else {
            berth::registry::pull(&paths, reference, opts, &lines)?
        };
        lines.finish(&image);
    }
    berth_cli::print_text(&format!("{}\n", reference.full()))
}

fn main() -> ExitCode {
    berth_cli::main::<Args>(run)
}
