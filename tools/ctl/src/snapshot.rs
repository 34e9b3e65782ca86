//! `berth commit`, `berth diff` and `berth export`: a container's changes as an image, as
//! Docker's A/C/D lines, and its filesystem as a tar (`berth::container::{commit, diff,
//! export}`).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use berth::container::commit::{CommitOptions, commit};
use berth::{Code, Error, Paths, Result};
use berth_cli as cli;
use clap::Args;

#[derive(Args, Debug)]
pub struct Commit {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>").
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image.
    #[arg(short, long)]
    pub change: Vec<String>,
    /// Commit message.
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit
    ///
    /// --pause=false to not.
    #[arg(short, long, default_value = "true", num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG].
    pub reference: Option<String>,
}

pub fn run_commit(paths: &Paths, c: Commit) -> Result<()> {
    let id = commit(
        paths,
        &c.container,
        &CommitOptions {
            reference: c.reference,
            changes: c.change,
            message: c.message,
            author: c.author,
            pause: c.pause,
        },
    )?;
    cli::print_text(&format!("{id}\n"))
}

pub fn run_diff(paths: &Paths, container: &str) -> Result<()> {
    let changes = berth::container::diff::diff(paths, container)?;
    let text: String = changes
        .iter()
        .map(|c| format!("{} {}\n", c.kind, c.path))
        .collect();
    cli::print_text(&text)
}

pub fn run_export(paths: &Paths, container: &str, output: Option<PathBuf>) -> Result<()> {
    match output {
        Some(p) => {
            let tmp = p.with_file_name(format!(
                ".{}.tmp-{}",
                p.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                std::process::id()
            ));
            let mut f = std::fs::File::create(&tmp)
                .map_err(|e| Error::new(Code::IO, format!("open {}: {e}", p.display())))?;
            let r = berth::container::export::export(paths, container, &mut f)
                .and_then(|()| f.flush().map_err(|e| Error::new(Code::IO, e.to_string())))
                .and_then(|()| {
                    std::fs::rename(&tmp, &p)
                        .map_err(|e| Error::new(Code::IO, format!("write {}: {e}", p.display())))
                });
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r
        }
        None => {
            if std::io::stdout().is_terminal() {
                return Err(Error::client(
                    Code::BAD_ARGS,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            let mut out = std::io::stdout().lock();
            berth::container::export::export(paths, container, &mut out)?;
            out.flush()
                .map_err(|e| Error::new(Code::IO, format!("write stdout: {e}")))
        }
    }
}
