//! Per-machine registry settings: insecure registries, docker.io mirrors, TLS trust.
//!
//! The settings file holds Docker's `daemon.json` keys, so a Docker user's file works as is:
//!
//! ```json
//! {"insecure-registries": ["registry.lan:5000", "10.0.0.0/8"],
//!  "registry-mirrors": ["https://mirror.example"]}
//! ```
//!
//! It is the first of: `$BERTH_REGISTRIES_CONFIG` (even if missing: then no settings),
//! `/etc/berth/registries.json`, `/etc/docker/daemon.json`. Other keys are ignored.
//!
//! TLS trust for a registry `host:port` comes from `certs.d` directories, Docker's layout:
//! `<dir>/<host:port>/*.crt` are CAs added to the system's, `<name>.cert` + `<name>.key` a client
//! certificate. The directories are `$BERTH_CERTS_D` (a `:`-separated list; when set, the only
//! ones), else `$DOCKER_CONFIG/certs.d` (or `~/.docker/certs.d`), `/etc/docker/certs.d`,
//! `/etc/containers/certs.d`; a registry's files are taken from all of them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{RegistryError, Result};
use crate::reference::{DOCKER_HUB, host_of};

pub const ENV_CONFIG: &str = "BERTH_REGISTRIES_CONFIG";
pub const ENV_CERTS_D: &str = "BERTH_CERTS_D";
/// When set (to anything but `0`), berth refuses to contact registries that are not on a
/// loopback address: a guard for test suites and air-gapped machines, so that a missing image
/// never turns into a request to docker.io.
pub const ENV_LOOPBACK_ONLY: &str = "BERTH_REGISTRY_LOOPBACK_ONLY";
const CONFIG_FILES: &[&str] = &["/etc/berth/registries.json", "/etc/docker/daemon.json"];
const SYSTEM_CERTS_D: &[&str] = &["/etc/docker/certs.d", "/etc/containers/certs.d"];

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistryConfig {
    /// Registries spoken to over plain HTTP, or HTTPS without verification: `host[:port]` or
    /// an IP range in CIDR form.
    #[serde(rename = "insecure-registries", default)]
    pub insecure: Vec<String>,
    /// Mirrors tried, in order, before docker.io itself: base URLs.
    #[serde(rename = "registry-mirrors", default)]
    pub mirrors: Vec<String>,
    /// `certs.d` directories, in lookup order.
    #[serde(skip)]
    pub certs_dirs: Vec<PathBuf>,
    /// Docker's client config directory (`$DOCKER_CONFIG`, default `~/.docker`).
    #[serde(skip)]
    pub docker_config: PathBuf,
    /// Where the settings came from, for messages.
    #[serde(skip)]
    pub source: Option<PathBuf>,
    /// Only loopback registries may be contacted ([`ENV_LOOPBACK_ONLY`]).
    #[serde(skip)]
    pub loopback_only: bool,
}

/// TLS material for one registry from `certs.d`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub cas: Vec<PathBuf>,
    /// (certificate, key)
    pub client: Option<(PathBuf, PathBuf)>,
}

impl RegistryConfig {
    /// Loads the settings from the environment and the files described above.
    pub fn load() -> Result<Self> {
        let file = match std::env::var_os(ENV_CONFIG) {
            Some(p) => Some(PathBuf::from(p)),
            None => CONFIG_FILES.iter().map(PathBuf::from).find(|p| p.exists()),
        };
        let mut cfg = match &file {
            Some(p) => Self::read(p)?,
            None => RegistryConfig::default(),
        };
        cfg.docker_config = docker_config_dir();
        cfg.loopback_only =
            std::env::var(ENV_LOOPBACK_ONLY).is_ok_and(|v| !v.is_empty() && v != "0");
        cfg.certs_dirs = match std::env::var(ENV_CERTS_D) {
            Ok(v) => v
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from)
                .collect(),
            Err(_) => {
                let mut d = vec![cfg.docker_config.join("certs.d")];
                d.extend(SYSTEM_CERTS_D.iter().map(PathBuf::from));
                d
            }
        };
        Ok(cfg)
    }

    /// Reads one settings file; a missing file means no settings.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RegistryConfig::default());
            }
            Err(e) => {
                return Err(RegistryError::Config(format!(
                    "cannot read registry settings {}: {e}",
                    path.display()
                )));
            }
        };
        let mut cfg: RegistryConfig = serde_json::from_slice(&bytes).map_err(|e| {
            RegistryError::Config(format!(
                "invalid registry settings {}: {e} (expected {{\"insecure-registries\": [...], \"registry-mirrors\": [...]}})",
                path.display()
            ))
        })?;
        for m in &cfg.mirrors {
            if !(m.starts_with("http://") || m.starts_with("https://")) {
                return Err(RegistryError::Config(format!(
                    "invalid registry mirror {m:?} in {}: expected a URL such as https://mirror.example",
                    path.display()
                )));
            }
        }
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    /// Whether `registry` (`host[:port]`) is listed as insecure, by name or by IP range.
    pub fn is_insecure(&self, registry: &str) -> bool {
        let host = host_of(registry);
        self.insecure.iter().any(|entry| {
            let entry = entry
                .trim_start_matches("http://")
                .trim_start_matches("https://")
                .trim_end_matches('/');
            if entry == registry || entry == host {
                return true;
            }
            match (entry.split_once('/'), host.parse::<IpAddr>()) {
                (Some((net, bits)), Ok(ip)) => cidr_contains(net, bits, ip),
                _ => false,
            }
        })
    }

    /// Refuses `host` (`host[:port]`) when only loopback registries may be contacted.
    pub fn check_allowed(&self, host: &str) -> Result<()> {
        let h = host_of(host);
        let loopback = h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if self.loopback_only && !loopback {
            return Err(RegistryError::Unreachable {
                registry: host.to_string(),
                reason: format!(
                    "{ENV_LOOPBACK_ONLY} is set, so only loopback registries may be contacted"
                ),
            });
        }
        Ok(())
    }

    /// The mirrors to try for `registry`, in order (only docker.io has mirrors, as in Docker).
    pub fn mirrors_for(&self, registry: &str) -> Vec<String> {
        if registry == DOCKER_HUB {
            self.mirrors
                .iter()
                .map(|m| m.trim_end_matches('/').to_string())
                .collect()
        } else {
            Vec::new()
        }
    }

    /// CA files and a client certificate for `registry` from every `certs.d` directory.
    pub fn tls_files(&self, registry: &str) -> TlsFiles {
        let mut out = TlsFiles::default();
        for dir in &self.certs_dirs {
            let Ok(entries) = std::fs::read_dir(dir.join(registry)) else {
                continue;
            };
            let mut names: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
            names.sort();
            for p in names {
                match p.extension().and_then(|e| e.to_str()) {
                    Some("crt") => out.cas.push(p),
                    Some("cert") if out.client.is_none() => {
                        let key = p.with_extension("key");
                        if key.exists() {
                            out.client = Some((p, key));
                        }
                    }
                    _ => {}
                }
            }
        }
        out
    }

    /// The directory to name in "put the CA here" hints.
    pub fn certs_hint(&self) -> String {
        self.certs_dirs
            .first()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "/etc/docker/certs.d".into())
    }
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".docker")
}

fn cidr_contains(net: &str, bits: &str, ip: IpAddr) -> bool {
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_by_name_port_and_range() {
        let c = RegistryConfig {
            insecure: vec!["reg.lan:5000".into(), "10.0.0.0/8".into(), "plain".into()],
            ..Default::default()
        };
        assert!(c.is_insecure("reg.lan:5000"));
        assert!(!c.is_insecure("reg.lan:5001"));
        assert!(c.is_insecure("10.1.2.3:443"));
        assert!(!c.is_insecure("11.1.2.3"));
        assert!(c.is_insecure("plain:8080"));
    }

    #[test]
    fn settings_file_and_certs_d() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("r.json");
        std::fs::write(
            &f,
            r#"{"registry-mirrors":["http://127.0.0.1:1/"],"debug":true}"#,
        )
        .unwrap();
        let c = RegistryConfig::read(&f).unwrap();
        assert_eq!(c.mirrors_for("docker.io"), vec!["http://127.0.0.1:1"]);
        assert!(c.mirrors_for("quay.io").is_empty());
        std::fs::write(&f, r#"{"registry-mirrors":["mirror.example"]}"#).unwrap();
        assert!(RegistryConfig::read(&f).is_err());
        assert!(
            RegistryConfig::read(&d.path().join("none"))
                .unwrap()
                .mirrors
                .is_empty()
        );

        let host = d.path().join("certs.d/r:5000");
        std::fs::create_dir_all(&host).unwrap();
        for f in ["ca.crt", "client.cert", "client.key", "README"] {
            std::fs::write(host.join(f), "").unwrap();
        }
        let c = RegistryConfig {
            certs_dirs: vec![d.path().join("none"), d.path().join("certs.d")],
            ..Default::default()
        };
        let t = c.tls_files("r:5000");
        assert_eq!(t.cas, vec![host.join("ca.crt")]);
        assert_eq!(
            t.client,
            Some((host.join("client.cert"), host.join("client.key")))
        );
        assert_eq!(c.tls_files("other"), TlsFiles::default());
    }
}
