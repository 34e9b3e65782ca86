//! The filesystem steps, through berth's stages.
//!
//! A step's image state is written to the store as an unnamed image (config + manifest
//! blobs, [`materialize`]); unpack makes a container bundle of it (`bundle::create`: the
//! parent's layers, each unpacked once, under an overlay with a fresh upper directory). RUN
//! then pipes the record through `berth-netns -` and `berth-spawn start -` (the pipeline of
//! `berth run`, foreground, stdin /dev/null, output relayed line by line); COPY, ADD and
//! WORKDIR write into the mounted rootfs by descriptor. The new layer is the tar of the upper
//! directory (`layer::diff`), stored uncompressed (its digest is its diff id). The container
//! is torn down by the stages' own teardown (`container::teardown`) on every path out
//! ([`Scratch`]'s drop).

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

use super::{BuildError, ImageState, Layer, Progress, interrupted};
use crate::bundle::{self, CreateOptions, DriverChoice, Overrides, ResolvedImage};
use crate::confine::Root;
use crate::error::{Code, Error, IoContext, Result};
use crate::image::oneshot::{LayerDesc, OCI_MANIFEST, oci_manifest};
use crate::paths::{Paths, tool_path};
use crate::protocol::{ImageSection, LayerRef, Record, RootfsDriver};
use crate::store::ImageStore;

pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// The current time as image configs write it.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

/// Stores `state` as an unnamed image: returns the manifest's digest and size and the
/// config's digest.
pub fn write_image(store: &ImageStore, state: &ImageState) -> Result<(String, u64, String)> {
    let mut config = state.config.clone();
    config["rootfs"] = json!({
        "type": "layers",
        "diff_ids": state.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&config).expect("json");
    let config_digest = store.put_blob(&bytes)?;
    let layers: Vec<LayerDesc> = state
        .layers
        .iter()
        .map(|l| LayerDesc {
            media_type: l.media_type.clone(),
            digest: l.digest.clone(),
            size: l.size,
        })
        .collect();
    let manifest = oci_manifest(&config_digest, bytes.len() as u64, &layers);
    let m = store.put_blob(&manifest)?;
    Ok((m, manifest.len() as u64, config_digest))
}

/// `state` as an image unpack can make a bundle of.
pub fn materialize(store: &ImageStore, state: &ImageState) -> Result<ResolvedImage> {
    let (manifest, _, id) = write_image(store, state)?;
    let section = ImageSection {
        reference: id.clone(),
        name: id.clone(),
        digest: manifest,
        id,
        media_type: OCI_MANIFEST.into(),
        platform: format!(
            "{}/{}",
            state.config["os"].as_str().unwrap_or("linux"),
            state.config["architecture"].as_str().unwrap_or("amd64")
        ),
        layers: state
            .layers
            .iter()
            .map(|l| LayerRef {
                digest: l.digest.clone(),
                diff_id: l.diff_id.clone(),
                size: l.size,
                media_type: l.media_type.clone(),
            })
            .collect(),
        ..Default::default()
    };
    ResolvedImage::from_section(store, &section)
}

/// A step's container: torn down when dropped.
pub struct Scratch<'a> {
    paths: &'a Paths,
    pub record: Record,
}

impl Scratch<'_> {
    pub fn rootfs(&self) -> PathBuf {
        self.record
            .bundle
            .as_ref()
            .map(|b| b.rootfs.clone())
            .unwrap_or_default()
    }

    fn upper(&self) -> PathBuf {
        self.record
            .bundle
            .as_ref()
            .map(|b| b.path.join("upper"))
            .unwrap_or_default()
    }

    pub fn root(&self) -> Result<Root> {
        let r = self.rootfs();
        Ok(Root::open(&r).with_path("open", &r)?)
    }
}

impl Drop for Scratch<'_> {
    fn drop(&mut self) {
        // The stages saved what they added (network, process) in the record on disk.
        if let Ok(r) = crate::state::Containers::new(self.paths).load(&self.record.id) {
            self.record = r;
        }
        let _ = crate::container::teardown(self.paths, &self.record, true);
    }
}

/// A container of `state`, with `overrides` (RUN's command, env, user, workdir).
pub fn scratch<'a>(
    paths: &'a Paths,
    store: &ImageStore,
    state: &ImageState,
    overrides: Overrides,
) -> Result<Scratch<'a>> {
    let image = materialize(store, state)?;
    let opts = CreateOptions {
        overrides,
        driver: DriverChoice::Overlay,
        argv: vec!["berth".into(), "build".into()],
        // The upper directory is archived and removed right after: no sync of the host's
        // filesystem at unmount.
        volatile: true,
        ..Default::default()
    };
    let record = bundle::create(paths, &image, &opts, Record::new())?;
    let s = Scratch { paths, record };
    if s.record.bundle.as_ref().map(|b| b.driver) != Some(RootfsDriver::Overlay) {
        return Err(Error::new(
            Code::HOST_UNSUPPORTED,
            "berth build needs the overlay driver (the store is on a filesystem overlayfs cannot use)",
        ));
    }
    Ok(s)
}

/// The step's layer: the upper directory as a tar blob, or None if nothing changed.
pub fn commit_layer(store: &ImageStore, s: &Scratch) -> Result<Option<Layer>> {
    let upper = s.upper();
    let w = store.blob_writer()?;
    let (w, n) =
        crate::layer::diff::write_tar(&upper, w).with_path("archive the changes in", &upper)?;
    if n == 0 {
        return Ok(None);
    }
    finish_layer(w).map(Some)
}

/// An uncompressed layer tar written to `w`: flushed, committed to the store, described
/// (its digest is its diff id). Build steps, COPY layers and `commit` end so.
pub fn finish_layer(mut w: crate::store::layout::BlobWriter) -> Result<Layer> {
    w.flush().with_path("write", w.path())?;
    let size = std::fs::metadata(w.path())
        .with_path("stat", w.path())?
        .len();
    let digest = w.commit(None, None)?;
    Ok(Layer {
        media_type: LAYER_TAR.into(),
        diff_id: digest.clone(),
        digest,
        size,
    })
}

/// A RUN step: `argv` in a container of `state`. Returns the new layer (None: no change).
pub struct RunStep<'a> {
    pub line: usize,
    pub argv: Vec<String>,
    pub env: Vec<String>,
    pub network: &'a str,
    /// berth-vol's flags for `RUN --mount` (none: no vol stage).
    pub vol: Vec<String>,
    /// The mounts' targets: a stub the runtime made for one (a file or directory that was
    /// not in the parent) is not part of the layer, as BuildKit's.
    pub stubs: Vec<String>,
    /// `--add-host NAME:IP` entries for the step's /etc/hosts.
    pub add_hosts: &'a [String],
}

pub fn run(
    paths: &Paths,
    store: &ImageStore,
    state: &ImageState,
    step: &RunStep,
    progress: &mut dyn Progress,
) -> Result<Option<Layer>> {
    let c = &state.config["config"];
    let s = |k: &str| c[k].as_str().filter(|v| !v.is_empty()).map(str::to_string);
    let overrides = Overrides {
        entrypoint: Some(step.argv[0].clone()),
        cmd: Some(step.argv[1..].to_vec()),
        env: step.env.clone(),
        workdir: s("WorkingDir"),
        user: s("User"),
        ..Default::default()
    };
    let sc = scratch(paths, store, state, overrides)?;
    let stubs = new_paths(&sc.root()?, &step.stubs);
    let record = serde_json::to_vec(&sc.record).expect("json");
    let mut argv = vec!["berth-netns", "-", "--network", step.network];
    for h in step.add_hosts {
        argv.extend(["--add-host", h.as_str()]);
    }
    let netns = stage(paths, &argv, &record)?;
    let record = if step.vol.is_empty() {
        netns
    } else {
        let mut argv = vec!["berth-vol", "-"];
        argv.extend(step.vol.iter().map(String::as_str));
        stage(paths, &argv, &netns)?
    };
    let status = spawn_start(paths, &record, progress)?;
    if interrupted() {
        return Err(BuildError::Interrupted.into());
    }
    if status != 0 {
        return Err(BuildError::RunFailed {
            line: step.line,
            command: step.argv.join(" "),
            status,
        }
        .into());
    }
    remove_stubs(&sc.upper(), &stubs)?;
    commit_layer(store, &sc)
}

/// For each absolute `target`, the components (relative, shortest first) that do not exist
/// in `root`: what a mount's stub creates.
fn new_paths(root: &Root, targets: &[String]) -> Vec<Vec<Vec<u8>>> {
    targets
        .iter()
        .map(|t| {
            let rel = crate::confine::clean_path(t.as_bytes()).unwrap_or_default();
            let mut prefix = Vec::new();
            let mut missing = Vec::new();
            for part in rel.split(|b| *b == b'/').filter(|p| !p.is_empty()) {
                if !prefix.is_empty() {
                    prefix.push(b'/');
                }
                prefix.extend_from_slice(part);
                if !missing.is_empty() || root.open_at(&prefix, rustix::fs::OFlags::PATH).is_err() {
                    missing.push(prefix.clone());
                }
            }
            missing
        })
        .collect()
}

/// Removes the mounts' stubs from the upper directory: the target if it is an empty file or
/// directory, then each parent the stub made while it is empty. Anything the step wrote
/// there stays.
fn remove_stubs(upper: &std::path::Path, stubs: &[Vec<Vec<u8>>]) -> Result<()> {
    use rustix::fs::{AtFlags, FileType, unlinkat};
    if stubs.iter().all(Vec::is_empty) {
        return Ok(());
    }
    let root = Root::open(upper).with_path("open", upper)?;
    for missing in stubs {
        for (i, p) in missing.iter().enumerate().rev() {
            let (parent, name) = crate::confine::split_parent(p);
            let Ok(dir) = root.dir(parent) else { break };
            let name = crate::confine::os(name);
            let is_target = i + 1 == missing.len();
            let gone = match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::RegularFile => {
                    is_target && st.st_size == 0 && unlinkat(&dir, name, AtFlags::empty()).is_ok()
                }
                Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                    unlinkat(&dir, name, AtFlags::REMOVEDIR).is_ok()
                }
                _ => false,
            };
            if !gone {
                break;
            }
        }
    }
    Ok(())
}

fn env_for(paths: &Paths, c: &mut Command) {
    c.env("BERTH_ROOT", &paths.root)
        .env("BERTH_RUN_ROOT", &paths.run)
        .env_remove("BERTH_DOCKER")
        .env_remove("BERTH_STDIN_FD");
}

/// Runs a record stage: the record on stdin, the new record from stdout.
fn stage(paths: &Paths, argv: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    let mut c = Command::new(tool_path(argv[0]));
    c.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    env_for(paths, &mut c);
    let mut child = c.spawn().map_err(|e| {
        Error::new(
            Code::HOST_UNSUPPORTED,
            format!("cannot run {}: {e}", argv[0]),
        )
    })?;
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::new(Code::IO, format!("{}: {e}", argv[0])))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        return Err(Error::new(
            Code::IO,
            format!(
                "{}: {}",
                argv[0],
                msg.trim().lines().last().unwrap_or("failed")
            ),
        ));
    }
    Ok(out.stdout)
}

/// `berth-spawn start -` in the foreground; its output relayed to `progress`. Returns the
/// command's exit status (Docker's convention).
fn spawn_start(paths: &Paths, record: &[u8], progress: &mut dyn Progress) -> Result<i32> {
    let (r, w) = std::io::pipe().map_err(|e| Error::new(Code::IO, format!("pipe: {e}")))?;
    let w2 = w
        .try_clone()
        .map_err(|e| Error::new(Code::IO, format!("pipe: {e}")))?;
    let mut c = Command::new(tool_path("berth-spawn"));
    c.args(["start", "-"])
        .env("BERTH_DOCKER_EXIT", "1")
        .stdin(Stdio::piped())
        .stdout(w)
        .stderr(w2);
    env_for(paths, &mut c);
    let mut child = c.spawn().map_err(|e| {
        Error::new(
            Code::HOST_UNSUPPORTED,
            format!("cannot run berth-spawn: {e}"),
        )
    })?;
    drop(c);
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(record);
    }
    let pid = child.id() as i32;
    super::CHILD.store(pid, std::sync::atomic::Ordering::SeqCst);
    if interrupted() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    for line in BufReader::new(r).split(b'\n') {
        let Ok(line) = line else { break };
        let line = String::from_utf8_lossy(&line);
        // berth-spawn's own record on stdout is not the command's output.
        if line.starts_with("{\"berth\":") {
            continue;
        }
        progress.output(line.trim_end_matches('\r'));
        if interrupted() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
    }
    let st = child.wait();
    super::CHILD.store(0, std::sync::atomic::Ordering::SeqCst);
    let st = st.map_err(|e| Error::new(Code::IO, format!("berth-spawn: {e}")))?;
    Ok(st.code().unwrap_or(128 + 15))
}

/// The state of an image in the store.
pub fn image_state(store: &ImageStore, arg: &str) -> Result<(ImageState, String)> {
    let img = store.image(arg, None)?;
    let id = img.id();
    let config: Value = serde_json::from_slice(&store.read_blob(&id)?)
        .map_err(|e| Error::new(Code::DECODE, format!("image {arg}: its config: {e}")))?;
    let layers = layers_of(&img.manifest, img.config.rootfs().diff_ids());
    Ok((ImageState { config, layers }, id))
}

/// A manifest's layers, each with its diff id from the config (`diff_ids`, in layer order).
pub(crate) fn layers_of(
    manifest: &oci_spec::image::ImageManifest,
    diff_ids: &[String],
) -> Vec<Layer> {
    manifest
        .layers()
        .iter()
        .enumerate()
        .map(|(i, l)| Layer {
            media_type: l.media_type().to_string(),
            digest: l.digest().to_string(),
            size: l.size(),
            diff_id: diff_ids.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// `FROM scratch`: no layers, an empty config.
pub fn scratch_state() -> ImageState {
    let p = crate::store::layout::PlatformSpec::host();
    ImageState {
        config: json!({
            "architecture": p.architecture,
            "os": p.os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        }),
        layers: Vec::new(),
    }
}

/// Pulls `image` with berth-pull (FROM an image not in the store, or `--pull`).
pub fn pull(paths: &Paths, image: &str) -> Result<()> {
    let mut c = Command::new(tool_path("berth-pull"));
    c.arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    env_for(paths, &mut c);
    let out = c.output().map_err(|e| {
        Error::new(
            Code::HOST_UNSUPPORTED,
            format!("cannot run berth-pull: {e}"),
        )
    })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let msg = msg.trim().lines().last().unwrap_or("failed").to_string();
        let msg = msg.strip_prefix("berth-pull: error: ").unwrap_or(&msg);
        return Err(Error::new(Code::NOT_FOUND, msg.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_stubs_leave_the_layer_but_what_the_step_wrote_stays() {
        let rootfs = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(rootfs.path().join("run")).unwrap();
        std::fs::create_dir_all(rootfs.path().join("cache")).unwrap();
        let root = Root::open(rootfs.path()).unwrap();
        let targets = [
            "/run/secrets/tok".to_string(),
            "/etc/app/x".to_string(),
            "/cache".to_string(),
        ];
        let stubs = new_paths(&root, &targets);
        let b = |s: &str| s.as_bytes().to_vec();
        assert_eq!(
            stubs,
            vec![
                vec![b("run/secrets"), b("run/secrets/tok")],
                vec![b("etc"), b("etc/app"), b("etc/app/x")],
                vec![],
            ]
        );
        // The upper after the step: the secret's empty stub under a copied-up /run, and a
        // stub directory the step wrote a file next to.
        let upper = tempfile::tempdir().unwrap();
        let u = upper.path();
        std::fs::create_dir_all(u.join("run/secrets")).unwrap();
        std::fs::write(u.join("run/secrets/tok"), "").unwrap();
        std::fs::create_dir_all(u.join("etc/app/x")).unwrap();
        std::fs::write(u.join("etc/app/kept"), "mine").unwrap();
        remove_stubs(u, &stubs).unwrap();
        assert!(u.join("run").is_dir(), "a parent that existed stays");
        assert!(!u.join("run/secrets").exists());
        assert!(!u.join("etc/app/x").exists());
        assert_eq!(
            std::fs::read_to_string(u.join("etc/app/kept")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn a_stub_the_step_filled_stays() {
        let rootfs = tempfile::tempdir().unwrap();
        let root = Root::open(rootfs.path()).unwrap();
        let stubs = new_paths(&root, &["/t/f".to_string()]);
        let upper = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(upper.path().join("t")).unwrap();
        std::fs::write(upper.path().join("t/f"), "written").unwrap();
        remove_stubs(upper.path(), &stubs).unwrap();
        assert!(upper.path().join("t/f").exists());
    }
}
