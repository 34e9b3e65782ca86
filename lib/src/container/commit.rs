//! Docker `commit [-c INSTRUCTION] [-m MSG] [-a AUTHOR] [-p] CONTAINER [REPO[:TAG]]`: a new
//! image of the container's image plus one layer, the tar of its overlay upper directory
//! (`layer::diff`: new and changed files, whiteouts for deletions and opaque directories),
//! with the container's config (Docker's: env, cmd, entrypoint, user, workdir, ports,
//! volumes, labels, stop signal) and the `-c` changes (`image::changes`, as `import -c`), and
//! a history entry (`created_by` the container's command, `comment` the message, `author`).
//! A running container is paused while its layer is taken (`-p`, the default), as Docker
//! does. Prints the new image id.

use serde_json::{Map, Value, json};

use super::diff::upper_dir;
use crate::build::exec::{finish_layer, now, write_image};
use crate::build::{ImageState, Layer};
use crate::error::{Code, Error, IoContext, Result};
use crate::image::oneshot::commit_image;
use crate::paths::Paths;
use crate::protocol::{ContainerConfig, Record, Status};
use crate::reference::Reference;
use crate::state::Containers;
use crate::store::ImageStore;

#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    pub reference: Option<String>,
    pub changes: Vec<String>,
    pub message: Option<String>,
    pub author: Option<String>,
    /// Pause a running container while committing (Docker's default).
    pub pause: bool,
}

/// Commits container `arg`; returns the new image id (`sha256:...`).
pub fn commit(paths: &Paths, arg: &str, opts: &CommitOptions) -> Result<String> {
    let names = match &opts.reference {
        Some(r) => vec![Reference::parse(r)?.familiar()],
        None => Vec::new(),
    };
    let c = Containers::new(paths);
    let id = c.resolve(arg)?;
    let record = c.load(&id)?;
    let upper = upper_dir(&record)?;
    let store = ImageStore::open(paths)?;
    let _lease = store.lease()?;
    let mut state = base_state(&store, &record)?;
    {
        let cfg = config_mut(&mut state.config);
        merge(cfg, record.bundle.as_ref().map(|b| &b.config));
        for ch in &opts.changes {
            crate::image::changes::apply(cfg, ch)?;
        }
    }
    let running = record.state.as_ref().map(|s| s.status) == Some(Status::Running);
    let paused = opts.pause && running && super::pause(paths, &id, true).is_ok();
    let layer = take_layer(&store, &upper);
    if paused {
        let _ = super::pause(paths, &id, false);
    }
    state.layers.push(layer?);
    let created = now();
    state.config["created"] = json!(created);
    state.config["container"] = json!(id);
    if let Some(a) = &opts.author {
        state.config["author"] = json!(a);
    }
    let mut h = json!({"created": created, "created_by": created_by(&record)});
    if let Some(m) = &opts.message {
        h["comment"] = json!(m);
    }
    if let Some(a) = &opts.author {
        h["author"] = json!(a);
    }
    match state.config["history"].as_array_mut() {
        Some(a) => a.push(h),
        None => state.config["history"] = json!([h]),
    }
    let (manifest, _, image_id) = write_image(&store, &state)?;
    commit_image(&store, &store.read_blob(&manifest)?, &names)?;
    Ok(image_id)
}

fn take_layer(store: &ImageStore, upper: &std::path::Path) -> Result<Layer> {
    let w = store.blob_writer()?;
    let (w, _) =
        crate::layer::diff::write_tar(upper, w).with_path("archive the changes in", upper)?;
    finish_layer(w)
}

fn base_state(store: &ImageStore, record: &Record) -> Result<ImageState> {
    let img = record.image.as_ref().ok_or_else(|| {
        Error::new(
            Code::NOT_FOUND,
            format!("container {} has no image", record.id),
        )
    })?;
    let manifest = store.read_manifest(&img.digest)?;
    let cfg_digest = manifest.config().digest().to_string();
    let config: Value = serde_json::from_slice(&store.read_blob(&cfg_digest)?).map_err(|e| {
        Error::new(
            Code::DECODE,
            format!("image {}: its config: {e}", img.reference),
        )
    })?;
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let layers = crate::build::exec::layers_of(&manifest, &diff_ids);
    Ok(ImageState { config, layers })
}

fn config_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v["config"].is_object() {
        v["config"] = json!({});
    }
    v["config"].as_object_mut().expect("object")
}

/// The container's effective config over the image's, in Docker's spelling.
fn merge(cfg: &mut Map<String, Value>, c: Option<&ContainerConfig>) {
    let Some(c) = c else { return };
    let mut set = |k: &str, v: Value| {
        cfg.insert(k.into(), v);
    };
    if !c.env.is_empty() {
        set("Env", json!(c.env));
    }
    if let Some(e) = &c.entrypoint {
        set(
            "Entrypoint",
            if e.is_empty() { Value::Null } else { json!(e) },
        );
    }
    if let Some(cmd) = &c.cmd {
        set("Cmd", json!(cmd));
    }
    set("User", json!(c.user));
    set("WorkingDir", json!(c.working_dir));
    if !c.exposed_ports.is_empty() {
        let m: Map<String, Value> = c
            .exposed_ports
            .iter()
            .map(|p| (p.clone(), json!({})))
            .collect();
        set("ExposedPorts", Value::Object(m));
    }
    if !c.volumes.is_empty() {
        let m: Map<String, Value> = c.volumes.iter().map(|p| (p.clone(), json!({}))).collect();
        set("Volumes", Value::Object(m));
    }
    if !c.labels.is_empty() {
        set("Labels", json!(c.labels));
    }
    if let Some(s) = &c.stop_signal {
        set("StopSignal", json!(s));
    }
}

/// Docker's `created_by` for a commit: the container's command.
fn created_by(record: &Record) -> String {
    let Some(c) = record.bundle.as_ref().map(|b| &b.config) else {
        return String::new();
    };
    let mut argv = c.entrypoint.clone().unwrap_or_default();
    argv.extend(c.cmd.clone().unwrap_or_default());
    argv.join(" ")
}
