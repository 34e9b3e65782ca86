//! `berth login` and `berth logout`: checking a password against a registry, and writing or
//! erasing credentials in `$DOCKER_CONFIG/config.json` exactly as Docker does:
//!
//! - with a credential helper for the registry (`credHelpers`, else `credsStore`):
//!   `docker-credential-<name> store` gets `{"ServerURL","Username","Secret"}` on stdin, and
//!   config.json keeps an empty `auths` entry for the server (Docker's marker);
//! - otherwise `auths[<server>] = {"auth": base64(user:password)}`.
//!
//! The file is replaced atomically with mode 0600 (it holds secrets), every other key kept.
//! A password is written only after the registry accepted it.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde_json::{Value, json};
use ureq::http::Request;

use super::client::Client;
use super::config::RegistryConfig;
use super::credentials::{self, Credential, DockerConfigFile, normalize_key, server_key};
use super::{RegistryError, Result};
use crate::error::IoContext;
use crate::reference::DOCKER_HUB;
use crate::store::atomic;

/// The registry a `login`/`logout` argument names: `docker.io` when absent; a URL or
/// `host[:port]` otherwise (Docker accepts `https://host/v1/` too).
pub fn registry_arg(arg: Option<&str>) -> String {
    match arg {
        None | Some("") => DOCKER_HUB.to_string(),
        Some(a) => normalize_key(a),
    }
}

/// Where a login was saved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Saved {
    /// The key used in config.json / with the helper (`https://index.docker.io/v1/`,
    /// `127.0.0.1:5000`).
    pub server: String,
    /// The helper that holds the secret, if one does.
    pub helper: Option<String>,
    /// The config file.
    pub file: String,
}

/// Checks `credential` against `registry`: the `/v2/` endpoint must accept it (through Basic
/// auth or the token service, whichever the registry asks for). A registry that asks for no
/// auth accepts anything, as with Docker.
pub fn verify(config: &RegistryConfig, registry: &str, credential: &Credential) -> Result<()> {
    let client = Client::connect(config, registry)?;
    client.auth.set_credential(Some(credential.clone()));
    let url = client.url("/v2/");
    let what = "login".to_string();
    let resp = client.send(&what, "", || {
        Request::get(&url).body(()).expect("valid request")
    })?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body = client.read_body(resp, 64 << 10, &what).unwrap_or_default();
    let mut e = super::transport::status_error(registry, &what, status, &body);
    if let RegistryError::Unauthorized { what, detail, .. } = &mut e {
        *what = "the username or password".into();
        *detail = "incorrect username or password".into();
    }
    Err(e)
}

/// Saves `credential` for `registry` (after [`verify`]).
pub fn save(dir: &Path, registry: &str, credential: &Credential) -> Result<Saved> {
    let mut file = DockerConfigFile::load(dir)?;
    let server = server_key(registry);
    let helper = file.helper_for(registry);
    let (user, secret) = match credential {
        Credential::Basic { username, password } => (username.clone(), password.clone()),
        Credential::IdentityToken { username, token } => (username.clone(), token.clone()),
    };
    remove_entries(&mut file.value, registry);
    let entry = match &helper {
        Some(h) => {
            helper_run(
                h,
                "store",
                &json!({"ServerURL": server, "Username": user, "Secret": secret}).to_string(),
            )?;
            json!({})
        }
        None => match credential {
            Credential::Basic { .. } => json!({
                "auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
            }),
            Credential::IdentityToken { .. } => json!({"identitytoken": secret}),
        },
    };
    if !file.value.is_object() {
        file.value = json!({});
    }
    let auths = file
        .value
        .as_object_mut()
        .expect("object")
        .entry("auths")
        .or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    auths[&server] = entry;
    write(&file)?;
    Ok(Saved {
        server,
        helper,
        file: file.path.display().to_string(),
    })
}

/// Forgets the credentials for `registry`; returns the server key if there were any.
pub fn erase(dir: &Path, registry: &str) -> Result<Option<String>> {
    let mut file = DockerConfigFile::load(dir)?;
    let server = server_key(registry);
    let mut had = remove_entries(&mut file.value, registry);
    if let Some(h) = file.helper_for(registry) {
        // "credentials not found" is the helper's way of saying there was nothing.
        match helper_run(&h, "erase", &server) {
            Ok(()) => had = true,
            Err(RegistryError::CredentialHelper { reason, .. })
                if reason.contains("credentials not found") => {}
            Err(e) => return Err(e),
        }
    }
    if had {
        write(&file)?;
        Ok(Some(server))
    } else {
        Ok(None)
    }
}

/// Whether credentials for `registry` are saved (without running a helper).
pub fn saved_credential(dir: &Path, registry: &str) -> Result<Option<Credential>> {
    credentials::lookup(dir, registry)
}

/// Removes every `auths` key that means `registry`; true if one was there.
fn remove_entries(value: &mut Value, registry: &str) -> bool {
    let Some(auths) = value.get_mut("auths").and_then(Value::as_object_mut) else {
        return false;
    };
    let before = auths.len();
    auths.retain(|k, _| normalize_key(k) != registry);
    auths.len() != before
}

fn write(file: &DockerConfigFile) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(&file.value).expect("json");
    bytes.push(b'\n');
    if let Some(dir) = file.path.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_path("create directory", dir)?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    atomic::write_with(&file.path, 0o600, |f| f.write_all(&bytes))?;
    Ok(())
}

/// Runs `docker-credential-<helper> <verb>` with `input` on stdin.
fn helper_run(helper: &str, verb: &str, input: &str) -> Result<()> {
    let program = format!("docker-credential-{helper}");
    let err = |reason: String| RegistryError::CredentialHelper {
        helper: program.clone(),
        reason,
    };
    let mut child = Command::new(&program)
        .arg(verb)
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
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(format!("waiting for it: {e}")))?;
    if !out.status.success() {
        let msg = [out.stdout, out.stderr]
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_string())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| format!("exit status {}", out.status));
        return Err(err(format!("{verb} failed: {}", msg.replace('\n', " "))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_erase_keep_other_keys_and_write_0600() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("config.json"),
            r#"{"auths":{"http://r:5000/v1/":{"auth":"b2xkOm9sZA=="},"other:1":{"auth":"eDp5"}},"psFormat":"table {{.ID}}"}"#,
        )
        .unwrap();
        let c = Credential::Basic {
            username: "u".into(),
            password: "p:w".into(),
        };
        let saved = save(d.path(), "r:5000", &c).unwrap();
        assert_eq!(saved.server, "r:5000");
        assert_eq!(credentials::lookup(d.path(), "r:5000").unwrap(), Some(c));
        let v: Value =
            serde_json::from_slice(&std::fs::read(d.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(v["psFormat"], "table {{.ID}}");
        assert_eq!(v["auths"].as_object().unwrap().len(), 2, "{v}");
        let mode = std::fs::metadata(d.path().join("config.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(erase(d.path(), "r:5000").unwrap(), Some("r:5000".into()));
        assert_eq!(erase(d.path(), "r:5000").unwrap(), None);
        assert!(credentials::lookup(d.path(), "r:5000").unwrap().is_none());
        assert!(credentials::lookup(d.path(), "other:1").unwrap().is_some());
        assert_eq!(registry_arg(None), "docker.io");
        assert_eq!(
            registry_arg(Some("https://index.docker.io/v1/")),
            "docker.io"
        );
    }
}
