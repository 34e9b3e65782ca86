//! Docker-style progress on a terminal: one line per layer
//! (`3f4d90098f5b: Downloading [=====>      ] 12.1MiB/45.6MiB`), then the digest and status.

use std::collections::HashMap;
use std::sync::Mutex;

use berth::protocol::ImageSection;
use berth::reference::Reference;
use berth::registry::download::{BlobEvent, Outcome};
use berth::registry::pull::{LayerStatus, Progress};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Bars {
    enabled: bool,
    /// Whether the bars come with their lines of text on stderr (`Pulling from`, `Digest:`,
    /// `Status:`); not when [`Lines`] prints those on stdout.
    text: bool,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    downloaded: Mutex<bool>,
    reference: Reference,
    /// Nothing for an image already stored (`run`'s implicit pull says nothing then).
    only_pulls: bool,
}

fn short(digest: &str) -> String {
    berth::paths::digest_hex(digest).chars().take(12).collect()
}

impl Bars {
    pub fn new(reference: &Reference, enabled: bool) -> Bars {
        let target = if enabled {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        Bars {
            enabled,
            text: true,
            multi: MultiProgress::with_draw_target(target),
            bars: Mutex::new(HashMap::new()),
            downloaded: Mutex::new(false),
            reference: reference.clone(),
            only_pulls: false,
        }
    }

    /// Bars that show a pull only, nothing for an image already stored: berth-run's first
    /// stage, as Docker's `run` shows its implicit pull.
    pub fn pulls_only(mut self) -> Bars {
        self.only_pulls = true;
        self
    }

    /// The bars alone, for Docker's `pull` on a terminal (its text goes to stdout).
    pub fn bars_only(reference: &Reference) -> Bars {
        Bars {
            text: false,
            ..Bars::new(reference, true)
        }
    }

    fn style(with_bar: bool) -> ProgressStyle {
        let t = if with_bar {
            "{prefix}: {msg:<12} [{bar:50}] {bytes}/{total_bytes}"
        } else {
            "{prefix}: {msg}"
        };
        ProgressStyle::with_template(t)
            .expect("static template")
            .progress_chars("=> ")
    }

    /// The closing lines, as Docker prints them.
    pub fn finish(&self, image: &ImageSection) {
        if !self.enabled || (self.only_pulls && self.bars.lock().unwrap().is_empty()) {
            return;
        }
        for bar in self.bars.lock().unwrap().values() {
            if !bar.is_finished() {
                bar.finish();
            }
        }
        if !self.text {
            return;
        }
        let status = if *self.downloaded.lock().unwrap() {
            format!("Downloaded newer image for {}", self.reference.familiar())
        } else {
            format!("Image is up to date for {}", self.reference.familiar())
        };
        // indicatif leaves the cursor at the end of the last bar's line.
        let newline = if self.bars.lock().unwrap().is_empty() {
            ""
        } else {
            "\n"
        };
        eprintln!("{newline}Digest: {}\nStatus: {status}", image.digest);
    }
}

impl Progress for Bars {
    fn local(&self, image: &ImageSection) {
        if self.enabled && self.text && !self.only_pulls {
            eprintln!(
                "{}: image is present locally ({})",
                image.reference,
                short(&image.id)
            );
        }
    }

    fn layers(&self, _manifest: &str, layers: &[(String, u64)]) {
        if !self.enabled {
            return;
        }
        let r = &self.reference;
        if self.text {
            eprintln!(
                "{}: Pulling from {}",
                r.digest().or(r.tag()).unwrap_or("latest"),
                r.familiar_name()
            );
        }
        let mut bars = self.bars.lock().unwrap();
        for (digest, size) in layers {
            let bar = self.multi.add(ProgressBar::new(*size));
            bar.set_style(Self::style(false));
            bar.set_prefix(short(digest));
            bar.set_message("Waiting");
            bars.insert(digest.clone(), bar);
        }
    }

    fn layer(&self, digest: &str, status: &LayerStatus) {
        let bars = self.bars.lock().unwrap();
        let Some(bar) = bars.get(digest) else { return };
        match status {
            LayerStatus::Blob(BlobEvent::Waiting) => bar.set_message("Waiting for another pull"),
            LayerStatus::Blob(BlobEvent::Started { offset, total }) => {
                bar.set_style(Self::style(true));
                bar.set_length(*total);
                bar.set_position(*offset);
                bar.set_message(if *offset > 0 {
                    "Resuming"
                } else {
                    "Downloading"
                });
            }
            LayerStatus::Blob(BlobEvent::Progress { done }) => {
                if bar.message() != "Downloading" {
                    bar.set_message("Downloading");
                }
                bar.set_position(*done)
            }
            LayerStatus::Blob(BlobEvent::Retrying { attempt, .. }) => {
                bar.set_message(format!("Retrying ({attempt})"))
            }
            LayerStatus::Blob(BlobEvent::Verifying) => bar.set_message("Verifying Checksum"),
            LayerStatus::Done(Outcome::Present) => {
                bar.set_style(Self::style(false));
                bar.finish_with_message("Already exists");
            }
            LayerStatus::Done(Outcome::Downloaded { .. }) => {
                *self.downloaded.lock().unwrap() = true;
                bar.set_style(Self::style(false));
                bar.finish_with_message("Pull complete");
            }
        }
    }
}

/// Docker's pull output when stdout is not a terminal (docker/cli's jsonmessage drops the
/// byte counts there): one line per layer event on stdout, `Pulling fs layer`, `Waiting`,
/// `Verifying Checksum`, `Download complete`, `Pull complete` or `Already exists`.
pub struct Lines {
    reference: Reference,
    /// The per-layer lines (not on a terminal, where [`Bars`] draw the layers).
    layer_lines: bool,
    started: Mutex<Vec<String>>,
    downloaded: Mutex<bool>,
}

impl Lines {
    pub fn new(reference: &Reference, layer_lines: bool) -> Lines {
        Lines {
            reference: reference.clone(),
            layer_lines,
            started: Mutex::new(Vec::new()),
            downloaded: Mutex::new(false),
        }
    }

    fn say(&self, line: &str) {
        // A reader gone away ends the process quietly (berth_cli's rule for stdout).
        let _ = berth_cli::print_text(&format!("{line}\n"));
    }

    fn pulling_from(&self) {
        let r = &self.reference;
        self.say(&format!(
            "{}: Pulling from {}",
            r.digest().or(r.tag()).unwrap_or("latest"),
            r.familiar_name()
        ));
    }

    /// `Digest:` and `Status:` lines, as Docker ends a pull.
    pub fn finish(&self, image: &ImageSection) {
        let what = if *self.downloaded.lock().unwrap() {
            "Downloaded newer image for"
        } else {
            "Image is up to date for"
        };
        self.say(&format!(
            "Digest: {}\nStatus: {what} {}",
            image.digest,
            self.reference.familiar()
        ));
    }
}

impl Progress for Lines {
    fn local(&self, _image: &ImageSection) {
        self.pulling_from();
    }

    fn layers(&self, _manifest: &str, _layers: &[(String, u64)]) {
        self.pulling_from();
    }

    fn layer(&self, digest: &str, status: &LayerStatus) {
        let id = short(digest);
        if let LayerStatus::Done(Outcome::Downloaded { .. }) = status {
            *self.downloaded.lock().unwrap() = true;
        }
        if !self.layer_lines {
            return;
        }
        if let LayerStatus::Blob(_) = status {
            let mut started = self.started.lock().unwrap();
            if !started.iter().any(|d| d == digest) {
                started.push(digest.to_string());
                self.say(&format!("{id}: Pulling fs layer"));
            }
        }
        let what = match status {
            LayerStatus::Blob(BlobEvent::Waiting) => "Waiting",
            LayerStatus::Blob(BlobEvent::Verifying) => "Verifying Checksum",
            LayerStatus::Blob(_) => return,
            LayerStatus::Done(Outcome::Present) => "Already exists",
            LayerStatus::Done(Outcome::Downloaded { .. }) => {
                self.say(&format!("{id}: Download complete"));
                "Pull complete"
            }
        };
        self.say(&format!("{id}: {what}"));
    }
}

/// Two progress receivers as one: Docker's text on stdout and bars on stderr.
pub struct Both<'a>(pub &'a dyn Progress, pub &'a dyn Progress);

impl Progress for Both<'_> {
    fn local(&self, image: &ImageSection) {
        self.0.local(image);
        self.1.local(image);
    }

    fn missing(&self, reference: &Reference) {
        self.0.missing(reference);
        self.1.missing(reference);
    }

    fn layers(&self, manifest: &str, layers: &[(String, u64)]) {
        self.0.layers(manifest, layers);
        self.1.layers(manifest, layers);
    }

    fn layer(&self, digest: &str, status: &LayerStatus) {
        self.0.layer(digest, status);
        self.1.layer(digest, status);
    }
}

/// The pipeline stage's word before an implicit pull (`run`/`create` with `--pull=missing`),
/// on stderr as Docker's CLI prints it; the stage's stdout is the record.
pub struct Unable;

impl Progress for Unable {
    fn missing(&self, reference: &Reference) {
        eprintln!("Unable to find image '{}' locally", reference.familiar());
    }
}
