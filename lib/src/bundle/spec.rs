//! The container's configuration: the image config merged with the user's overrides (Docker's
//! rules), and the OCI runtime `config.json` made from it (the OCI image spec's
//! "conversion.md", plus Docker's defaults from [`defaults`](super::defaults)).

use std::collections::BTreeMap;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::Spec;
use serde_json::json;

use super::defaults;
use super::user::ResolvedUser;
use crate::protocol::ContainerConfig;

/// Docker's default PATH, used when neither the image nor the user sets one.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What the user asked for on top of the image (docker run's flags that unpack owns).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--entrypoint`: one executable; `Some("")` clears the image's.
    pub entrypoint: Option<String>,
    /// The command after the image; `None` when none was given.
    pub cmd: Option<Vec<String>>,
    /// `-e KEY=VALUE`, or `-e KEY` (taken from this process's environment, or unset).
    pub env: Vec<String>,
    /// `--env-file`, read before `-e`.
    pub env_files: Vec<PathBuf>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    /// `--label KEY=VALUE`.
    pub labels: Vec<String>,
    /// `--label-file`, read before `--label`.
    pub label_files: Vec<PathBuf>,
    pub stop_signal: Option<String>,
    pub read_only: bool,
    /// The `--health-*` flags and `--no-healthcheck`, merged over the image's HEALTHCHECK.
    pub healthcheck: Option<crate::protocol::Healthcheck>,
}

/// An override the user got wrong; the message is the sentence to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadOverride(pub String);

/// Merges the image's config and the overrides into Docker's `.Config`.
pub fn merge(
    image: &ImageConfiguration,
    image_name: &str,
    short_id: &str,
    o: &Overrides,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<ContainerConfig, BadOverride> {
    let c = image.config().clone().unwrap_or_default();
    let (entrypoint, cmd) = match &o.entrypoint {
        Some(e) => (
            if e.is_empty() {
                vec![]
            } else {
                vec![e.clone()]
            },
            o.cmd.clone().unwrap_or_default(),
        ),
        None => (
            c.entrypoint().clone().unwrap_or_default(),
            o.cmd
                .clone()
                .or_else(|| c.cmd().clone())
                .unwrap_or_default(),
        ),
    };
    let mut user_env = Vec::new();
    for f in &o.env_files {
        user_env.extend(read_env_file(f, getenv)?);
    }
    for e in &o.env {
        user_env.push(expand_env(e, getenv)?);
    }
    let env = merge_env(c.env().clone().unwrap_or_default(), &user_env);
    let working_dir = match &o.workdir {
        Some(w) if !w.starts_with('/') => {
            return Err(BadOverride(format!(
                "the working directory {w:?} is invalid: it needs to be an absolute path"
            )));
        }
        Some(w) => w.clone(),
        None => c.working_dir().clone().unwrap_or_default(),
    };
    let mut labels: BTreeMap<String, String> =
        c.labels().clone().unwrap_or_default().into_iter().collect();
    let mut given = Vec::new();
    for f in &o.label_files {
        given.extend(read_label_file(f)?);
    }
    given.extend(o.labels.iter().cloned());
    for l in &given {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        if k.is_empty() {
            return Err(BadOverride(format!(
                "invalid label {l:?}: expected KEY=VALUE"
            )));
        }
        labels.insert(k.to_string(), v.to_string());
    }
    let mut exposed_ports = c.exposed_ports().clone().unwrap_or_default();
    exposed_ports.sort();
    let mut volumes = c.volumes().clone().unwrap_or_default();
    volumes.sort();
    Ok(ContainerConfig {
        image: image_name.to_string(),
        hostname: o.hostname.clone().unwrap_or_else(|| short_id.to_string()),
        domainname: o.domainname.clone().unwrap_or_default(),
        user: o
            .user
            .clone()
            .or_else(|| c.user().clone())
            .unwrap_or_default(),
        env,
        entrypoint: Some(entrypoint),
        cmd: Some(cmd),
        working_dir,
        exposed_ports,
        volumes,
        labels,
        stop_signal: o.stop_signal.clone().or_else(|| c.stop_signal().clone()),
        read_only: o.read_only,
        healthcheck: None,
    })
}

/// `KEY=VALUE` stays; `KEY` takes this process's value, or stays bare (which unsets the
/// image's KEY, as Docker does).
fn expand_env(e: &str, getenv: &dyn Fn(&str) -> Option<String>) -> Result<String, BadOverride> {
    let key = e.split('=').next().unwrap_or_default();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(BadOverride(format!(
            "invalid environment variable {e:?}: expected KEY=VALUE"
        )));
    }
    if e.contains('=') {
        return Ok(e.to_string());
    }
    Ok(getenv(e).map_or_else(|| e.to_string(), |v| format!("{e}={v}")))
}

/// Docker's env-file format: one `KEY=VALUE` or `KEY` a line; blank lines and `#` comments
/// are skipped; the value is taken verbatim (no quotes, no expansion).
pub fn read_env_file(
    path: &std::path::Path,
    getenv: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, BadOverride> {
    let bytes = std::fs::read(path)
        .map_err(|e| BadOverride(format!("cannot read env file {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| BadOverride(format!("env file {} is not valid UTF-8", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let e = expand_env(line, getenv)
            .map_err(|e| BadOverride(format!("{}:{}: {}", path.display(), n + 1, e.0)))?;
        // A bare KEY that is not set here is dropped, as Docker does for env files.
        if e.contains('=') {
            out.push(e);
        }
    }
    Ok(out)
}

/// Docker's label-file format (docker/cli `kvfile`, without a lookup): one `KEY=VALUE` or
/// `KEY` a line, blank lines and `#` comments skipped, leading blanks trimmed, no whitespace
/// in a key.
pub fn read_label_file(path: &std::path::Path) -> Result<Vec<String>, BadOverride> {
    let bytes = std::fs::read(path)
        .map_err(|e| BadOverride(format!("cannot read label file {}: {e}", path.display())))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| BadOverride(format!("label file {} is not valid UTF-8", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split('=').next().unwrap_or_default();
        if key.contains(char::is_whitespace) {
            return Err(BadOverride(format!(
                "{}:{}: variable '{key}' contains whitespaces",
                path.display(),
                n + 1
            )));
        }
        out.push(line.to_string());
    }
    Ok(out)
}

/// Docker's `ReplaceOrAppendEnvValues`: an override replaces the same key; a bare `KEY`
/// removes it.
pub fn merge_env(mut base: Vec<String>, overrides: &[String]) -> Vec<String> {
    let key = |e: &str| e.split('=').next().unwrap_or_default().to_string();
    for o in overrides {
        let k = key(o);
        let pos = base.iter().position(|b| key(b) == k);
        match (pos, o.contains('=')) {
            (Some(i), true) => base[i] = o.clone(),
            (None, true) => base.push(o.clone()),
            (Some(i), false) => {
                base.remove(i);
            }
            (None, false) => {}
        }
    }
    base
}

/// The environment the process starts with: the merged env plus Docker's daemon defaults
/// (PATH if unset, HOSTNAME, HOME from the user's passwd entry if unset).
pub fn process_env(cfg: &ContainerConfig, user: &ResolvedUser) -> Vec<String> {
    let has = |k: &str| cfg.env.iter().any(|e| e.split('=').next() == Some(k));
    let mut env = Vec::new();
    if !has("PATH") {
        env.push(DEFAULT_PATH.to_string());
    }
    env.push(format!("HOSTNAME={}", cfg.hostname));
    env.extend(
        cfg.env
            .iter()
            .filter(|e| !e.starts_with("HOSTNAME="))
            .cloned(),
    );
    if !has("HOME") {
        env.push(format!("HOME={}", user.home));
    }
    env
}

/// The process's argv: entrypoint then cmd.
pub fn args(cfg: &ContainerConfig) -> Vec<String> {
    let mut a = cfg.entrypoint.clone().unwrap_or_default();
    a.extend(cfg.cmd.clone().unwrap_or_default());
    a
}

/// The annotations the conversion spec derives from the image, plus its labels.
pub fn annotations(image: &ImageConfiguration, cfg: &ContainerConfig) -> BTreeMap<String, String> {
    let mut a: BTreeMap<String, String> = cfg.labels.clone();
    let mut put = |k: &str, v: String| {
        a.insert(format!("org.opencontainers.image.{k}"), v);
    };
    put("os", image.os().to_string());
    put("architecture", image.architecture().to_string());
    if let Some(v) = image.author() {
        put("author", v.clone());
    }
    if let Some(v) = image.created() {
        put("created", v.clone());
    }
    if let Some(v) = &cfg.stop_signal {
        put("stopSignal", v.clone());
    }
    if !cfg.exposed_ports.is_empty() {
        put("exposedPorts", cfg.exposed_ports.join(","));
    }
    a
}

/// The OCI runtime config for the container.
pub fn runtime_spec(
    cfg: &ContainerConfig,
    user: &ResolvedUser,
    annotations: &BTreeMap<String, String>,
) -> Spec {
    let caps = &defaults::DEFAULT_CAPABILITIES;
    let cwd = if cfg.working_dir.is_empty() {
        "/"
    } else {
        cfg.working_dir.as_str()
    };
    let mut v = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {
                "uid": user.uid,
                "gid": user.gid,
                "additionalGids": user.additional_gids,
            },
            "args": args(cfg),
            "env": process_env(cfg, user),
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "noNewPrivileges": false,
        },
        "root": {"path": "rootfs", "readonly": cfg.read_only},
        "hostname": cfg.hostname,
        "mounts": defaults::default_mounts(),
        "annotations": annotations,
        "linux": {
            "namespaces": defaults::default_namespaces(),
            "maskedPaths": defaults::MASKED_PATHS,
            "readonlyPaths": defaults::READONLY_PATHS,
            "devices": defaults::default_devices(),
            "resources": {"devices": defaults::default_device_rules()},
        },
    });
    if !cfg.domainname.is_empty() {
        v["domainname"] = json!(cfg.domainname);
    }
    serde_json::from_value(v).expect("the generated config.json is a valid runtime spec")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageConfiguration {
        serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "config": {
                "Env": ["PATH=/bin", "A=1", "B=2"],
                "Entrypoint": ["/entry"], "Cmd": ["serve"],
                "WorkingDir": "/srv", "User": "web",
                "ExposedPorts": {"80/tcp": {}, "53/udp": {}},
                "Volumes": {"/data": {}},
                "Labels": {"l": "v"}, "StopSignal": "SIGQUIT"
            },
            "rootfs": {"type": "layers", "diff_ids": []}
        }))
        .unwrap()
    }

    fn getenv(k: &str) -> Option<String> {
        (k == "FROM_HOST").then(|| "h".to_string())
    }

    #[test]
    fn image_settings_and_overrides_merge_like_docker() {
        let c = merge(&image(), "img", "abc", &Overrides::default(), &getenv).unwrap();
        assert_eq!(args(&c), ["/entry", "serve"]);
        assert_eq!((c.hostname.as_str(), c.user.as_str()), ("abc", "web"));
        assert_eq!(c.exposed_ports, ["53/udp", "80/tcp"]);
        assert_eq!(c.volumes, ["/data"]);
        let o = Overrides {
            cmd: Some(vec!["x".into()]),
            env: vec!["A=9".into(), "B".into(), "FROM_HOST".into()],
            workdir: Some("/w".into()),
            ..Default::default()
        };
        let c = merge(&image(), "img", "abc", &o, &getenv).unwrap();
        assert_eq!(args(&c), ["/entry", "x"]);
        assert_eq!(c.env, ["PATH=/bin", "A=9", "FROM_HOST=h"]);
        assert_eq!(c.working_dir, "/w");
        // --entrypoint drops the image's Cmd; an empty one clears the entrypoint.
        let o = Overrides {
            entrypoint: Some("/bin/sh".into()),
            ..Default::default()
        };
        assert_eq!(
            args(&merge(&image(), "i", "a", &o, &getenv).unwrap()),
            ["/bin/sh"]
        );
        let o = Overrides {
            entrypoint: Some(String::new()),
            cmd: Some(vec!["ls".into()]),
            ..Default::default()
        };
        assert_eq!(
            args(&merge(&image(), "i", "a", &o, &getenv).unwrap()),
            ["ls"]
        );
        let o = Overrides {
            workdir: Some("rel".into()),
            ..Default::default()
        };
        assert!(merge(&image(), "i", "a", &o, &getenv).is_err());
    }

    #[test]
    fn the_runtime_spec_carries_dockers_defaults() {
        let c = merge(&image(), "img", "abc", &Overrides::default(), &getenv).unwrap();
        let u = ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![10],
            home: "/home/web".into(),
        };
        let spec = runtime_spec(&c, &u, &annotations(&image(), &c));
        let v = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            v["process"]["capabilities"]["bounding"]
                .as_array()
                .unwrap()
                .len(),
            14
        );
        assert_eq!(v["process"]["user"]["additionalGids"][0], 10);
        assert_eq!(v["process"]["cwd"], "/srv");
        assert_eq!(v["hostname"], "abc");
        assert!(
            v["process"]["env"]
                .as_array()
                .unwrap()
                .contains(&json!("HOME=/home/web"))
        );
        assert_eq!(
            v["annotations"]["org.opencontainers.image.stopSignal"],
            "SIGQUIT"
        );
        assert_eq!(v["annotations"]["l"], "v");
        assert_eq!(v["linux"]["namespaces"].as_array().unwrap().len(), 6);
    }
}
