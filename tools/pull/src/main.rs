//! berth-pull: registry -> local content store (an OCI image layout under `<root>/images`).
//!
//! Piped (or with `--json`), stdout gets the record with its `image` section, for the next
//! stage; on a terminal, per-layer progress bars go to stderr, as Docker draws them.

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

fn main() -> ExitCode {
    berth_cli::main::<Args>(run)
}
