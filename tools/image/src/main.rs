//! berth-image: the images in the local store. Docker's image verbs with Docker's flags;
//! `berth images|image|tag|rmi|save|load|import|history ...` reach here through the `berth`
//! dispatcher as `berth-image VERB ...`.
//!
//! Through `berth VERB`: Docker's tables and messages. `--json`, or berth-image run on its
//! own: berth's JSON documents (berth_cli::skel).

mod remote;
mod verbs;

use std::path::PathBuf;
use std::process::ExitCode;

use berth_cli::{CommonOpts, Tool};
use clap::{Args as ClapArgs, Parser, Subcommand};

/// Manage images in berth's local store.
#[derive(Parser, Debug)]
#[command(name = "berth-image", version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    common: CommonOpts,
    #[command(subcommand)]
    verb: Verb,
}

impl Tool for Args {
    const NAME: &'static str = "image";
    fn common(&self) -> &CommonOpts {
        &self.common
    }
    fn docker_verb(&self) -> bool {
        true
    }
}

#[derive(Subcommand, Debug)]
enum Verb {
    /// List images
    Images(ListArgs),
    /// List images
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Manage images
    Image {
        #[command(subcommand)]
        verb: ImageVerb,
    },
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Build busybox:latest from the host's busybox, for use without any registry
    Default(DefaultArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Search a registry's catalogue for repositories, with their tags
    Search(SearchArgs),
    /// Authenticate to a registry
    Login(LoginArgs),
    /// Log out from a registry
    Logout(LogoutArgs),
}

#[derive(Subcommand, Debug)]
enum ImageVerb {
    /// List images
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Display detailed information on one or more images
    Inspect(InspectArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Remove one or more images
    #[command(alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Build busybox:latest from the host's busybox, for use without any registry
    Default(DefaultArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Download an image from a registry
    ///
    /// It runs berth-pull.
    Pull {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(ClapArgs, Debug)]
pub struct ListArgs {
    /// Show all images (default hides intermediate images)
    ///
    /// berth keeps no intermediate images, so this lists the same.
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter output based on conditions provided
    ///
    /// dangling=, reference=, before=, since=, label=.
    #[arg(short, long, value_name = "FILTER")]
    pub filter: Vec<String>,
    #[arg(long, help = berth_cli::usage::FORMAT_HELP)]
    pub format: Option<String>,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub repository: Option<String>,
}

#[derive(ClapArgs, Debug)]
pub struct TagArgs {
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    pub source: String,
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    pub target: String,
}

#[derive(ClapArgs, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    ///
    /// Untags it even if a container uses it.
    #[arg(short, long)]
    pub force: bool,
    /// Do not delete blobs and unpacked layers now
    ///
    /// `image prune` collects them later (Docker's: do not delete untagged parents).
    #[arg(long)]
    pub no_prune: bool,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(ClapArgs, Debug)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    ///
    /// Unused: no container uses them.
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    ///
    /// until=<timestamp>, label=<key>[=<value>], label!=...
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,
}

#[derive(ClapArgs, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(ClapArgs, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short, long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(ClapArgs, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    ///
    /// CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR.
    #[arg(short, long, value_name = "INSTRUCTION")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    ///
    /// os/arch[/variant], recorded in the image config.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// A tar of a root filesystem (plain, gzip or zstd), or - for STDIN
    #[arg(value_name = "FILE|-")]
    pub file: String,
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub reference: Option<String>,
}

#[derive(ClapArgs, Debug)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    ///
    /// -H=false for raw values.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long, help = berth_cli::usage::FORMAT_HELP)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(ClapArgs, Debug)]
pub struct InspectArgs {
    #[arg(short, long, help = berth_cli::usage::INSPECT_FORMAT_HELP)]
    pub format: Option<String>,
    #[arg(value_name = "IMAGE", required = true)]
    pub images: Vec<String>,
}

#[derive(ClapArgs, Debug)]
pub struct DefaultArgs {
    /// The busybox binary to build from (default: the host's /usr/bin/busybox)
    #[arg(long, value_name = "PATH")]
    pub busybox: Option<PathBuf>,
    /// The name to give the image
    #[arg(short, long, default_value = "busybox:latest")]
    pub tag: String,
    /// Replace an image of that name that berth did not build
    #[arg(short, long)]
    pub force: bool,
}

#[derive(ClapArgs, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short, long)]
    pub all_tags: bool,
    /// Suppress verbose output
    #[arg(short, long)]
    pub quiet: bool,
    /// Upload blobs larger than this many bytes in chunks of this size (default 16 MiB)
    #[arg(long, value_name = "BYTES")]
    pub chunk_size: Option<u64>,
    #[arg(value_name = "NAME[:TAG]")]
    pub name: String,
}

#[derive(ClapArgs, Debug)]
pub struct SearchArgs {
    /// Max number of search results
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Pretty-print search using a Go template
    ///
    /// Or table, or json.
    #[arg(long)]
    pub format: Option<String>,
    /// [REGISTRY/]TERM: repositories whose name contains TERM (Docker Hub without REGISTRY)
    pub term: String,
}

#[derive(ClapArgs, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    ///
    /// Insecure: it shows in the process list; prefer --password-stdin.
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long)]
    pub password_stdin: bool,
    /// The registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(ClapArgs, Debug)]
pub struct LogoutArgs {
    /// The registry (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

fn run(args: Args) -> berth::Result<()> {
    let c = &args.common;
    match args.verb {
        Verb::Images(a) | Verb::Ls(a) => verbs::images(c, a),
        Verb::Tag(a) => verbs::tag(c, a),
        Verb::Rmi(a) => verbs::rmi(c, a),
        Verb::Prune(a) => verbs::prune(c, a),
        Verb::Save(a) => verbs::save(c, a),
        Verb::Load(a) => verbs::load(c, a),
        Verb::Import(a) => verbs::import(c, a),
        Verb::History(a) => verbs::history(c, a),
        Verb::Inspect(a) => verbs::inspect(c, a),
        Verb::Default(a) => verbs::default_image(c, a),
        Verb::Push(a) => remote::push(c, a),
        Verb::Search(a) => remote::search(c, a),
        Verb::Login(a) => remote::login(c, a),
        Verb::Logout(a) => remote::logout(c, a),
        Verb::Image { verb } => match verb {
            ImageVerb::Ls(a) => verbs::images(c, a),
            ImageVerb::Inspect(a) => verbs::inspect(c, a),
            ImageVerb::Prune(a) => verbs::prune(c, a),
            ImageVerb::History(a) => verbs::history(c, a),
            ImageVerb::Rm(a) => verbs::rmi(c, a),
            ImageVerb::Tag(a) => verbs::tag(c, a),
            ImageVerb::Save(a) => verbs::save(c, a),
            ImageVerb::Load(a) => verbs::load(c, a),
            ImageVerb::Import(a) => verbs::import(c, a),
            ImageVerb::Default(a) => verbs::default_image(c, a),
            ImageVerb::Push(a) => remote::push(c, a),
            ImageVerb::Pull { args } => verbs::pull(c, &args),
        },
    }
}

fn main() -> ExitCode {
    berth_cli::main::<Args>(run)
}
