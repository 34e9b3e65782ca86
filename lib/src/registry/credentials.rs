//! Credentials as `docker login` saves them, in `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`):
//!
//! ```json
//! {"auths": {"registry.example:5000": {"auth": "base64(user:password)"}},
//!  "credHelpers": {"gcr.io": "gcloud"},
//!  "credsStore": "pass"}
//! ```
//!
//! Lookup order, as Docker's: a `credHelpers` entry for the registry, else `credsStore`, else
//! `auths`. A helper is the program `docker-credential-<name>`; `get` reads the server address
//! on stdin and prints `{"Username": ..., "Secret": ...}` (a `Username` of `<token>` means the
//! secret is an identity token). Docker Hub's key is `https://index.docker.io/v1/`.
//!
//! [`DockerConfigFile`] keeps the whole document (unknown keys included), so `login`/`logout`
//! can edit `auths` and write it back without losing anything.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::Value;

use super::{RegistryError, Result};
use crate::reference::DOCKER_HUB;

/// The key Docker uses for Docker Hub in `auths` and with helpers.
pub const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken {
        username: String,
        token: String,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets, even in debug logs.
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken { username, .. } => {
                write!(f, "IdentityToken({username}, ***)")
            }
        }
    }
}

/// The key a registry has in `config.json` and with credential helpers.
pub fn server_key(registry: &str) -> String {
    if registry == DOCKER_HUB {
        DOCKER_HUB_KEY.to_string()
    } else {
        registry.to_string()
    }
}

/// Reduces an `auths` key to its host (`https://host:5000/v1/` -> `host:5000`), as Docker
/// does, with Docker Hub's names folded into `docker.io`.
pub fn normalize_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "docker.io" => DOCKER_HUB.to_string(),
        h => h.to_string(),
    }
}

/// `config.json`, whole.
#[derive(Debug, Clone)]
pub struct DockerConfigFile {
    pub path: PathBuf,
    pub value: Value,
}

impl DockerConfigFile {
    /// Loads `<dir>/config.json`; a missing file is an empty document.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("config.json");
        let value = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| RegistryError::Config(format!("invalid {}: {e}", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Value::Object(Default::default()),
            Err(e) => {
                return Err(RegistryError::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(DockerConfigFile { path, value })
    }

    /// The credential helper for `registry`, if one is configured.
    pub fn helper_for(&self, registry: &str) -> Option<String> {
        let specific = self
            .value
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|h| h.iter().find(|(k, _)| normalize_key(k) == registry))
            .and_then(|(_, v)| v.as_str());
        specific
            .or_else(|| self.value.get("credsStore").and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }

    /// The credential stored inline in `auths` for `registry`.
    pub fn inline(&self, registry: &str) -> Result<Option<Credential>> {
        let Some(auths) = self.value.get("auths").and_then(Value::as_object) else {
            return Ok(None);
        };
        let Some((_, entry)) = auths.iter().find(|(k, _)| normalize_key(k) == registry) else {
            return Ok(None);
        };
        let s = |k: &str| {
            entry
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let (mut username, mut password) = (s("username"), s("password"));
        let auth = s("auth");
        if !auth.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())))
                .ok_or_else(|| {
                    RegistryError::Config(format!(
                        "invalid auth for {registry} in {}: expected base64 of user:password (log in again)",
                        self.path.display()
                    ))
                })?;
            (username, password) = decoded;
        }
        let token = s("identitytoken");
        Ok(if !token.is_empty() {
            Some(Credential::IdentityToken { username, token })
        } else if !username.is_empty() || !password.is_empty() {
            Some(Credential::Basic { username, password })
        } else {
            None
        })
    }
}

/// Finds the credential for `registry` (`host[:port]`, `docker.io` for Docker Hub) in the
/// Docker config directory `dir`.
pub fn lookup(dir: &Path, registry: &str) -> Result<Option<Credential>> {
    let file = DockerConfigFile::load(dir)?;
    if let Some(helper) = file.helper_for(registry)
        && let Some(c) = helper_get(&helper, &server_key(registry))?
    {
        return Ok(Some(c));
    }
    file.inline(registry)
}

/// Runs `docker-credential-<helper> get` for `server`.
pub fn helper_get(helper: &str, server: &str) -> Result<Option<Credential>> {
    let program = format!("docker-credential-{helper}");
    let err = |reason: String| RegistryError::CredentialHelper {
        helper: program.clone(),
        reason,
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            err(format!(
                "cannot run it: {e} (install it, or fix credsStore/credHelpers in config.json)"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(format!("waiting for it: {e}")))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // The helper protocol's "nothing stored" answer.
        if stdout.contains("credentials not found") {
            return Ok(None);
        }
        let msg = if stdout.trim().is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            stdout.trim().to_string()
        };
        return Err(err(format!(
            "get {server} failed: {}",
            msg.replace('\n', " ")
        )));
    }
    let v: Value =
        serde_json::from_str(&stdout).map_err(|e| err(format!("printed invalid JSON: {e}")))?;
    let username = v["Username"].as_str().unwrap_or("").to_string();
    let secret = v["Secret"].as_str().unwrap_or("").to_string();
    Ok(if username == "<token>" {
        Some(Credential::IdentityToken {
            username,
            token: secret,
        })
    } else if username.is_empty() && secret.is_empty() {
        None
    } else {
        Some(Credential::Basic {
            username,
            password: secret,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_normalise_like_docker() {
        assert_eq!(normalize_key("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(normalize_key("http://r.example:5000/v2/"), "r.example:5000");
        assert_eq!(server_key("docker.io"), DOCKER_HUB_KEY);
    }

    #[test]
    fn inline_auths_decode() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
                "r:1":{"identitytoken":"tok"},"bad:1":{"auth":"!!"}}}"#,
        )
        .unwrap();
        assert_eq!(
            lookup(d.path(), "docker.io").unwrap(),
            Some(Credential::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            })
        );
        assert!(matches!(
            lookup(d.path(), "r:1").unwrap(),
            Some(Credential::IdentityToken { .. })
        ));
        assert!(lookup(d.path(), "bad:1").is_err());
        assert_eq!(lookup(d.path(), "none").unwrap(), None);
        assert_eq!(lookup(&d.path().join("missing"), "none").unwrap(), None);
    }
}
