//! [`Client`]: one registry (or mirror) endpoint and its authenticator.
//!
//! [`Client::send`] is the building block: any request (GET, HEAD, PUT, POST, PATCH, DELETE)
//! with the `Authorization` header for a scope, the 401 challenge answered and the request
//! retried once, and 5xx/resets retried for idempotent methods. Manifests and blobs are thin
//! layers over it; push and catalog can be too.

use std::io::Read;
use std::time::Instant;

use ureq::http::{self, Method, Request, Response, StatusCode};
use ureq::{AsSendBody, Body};

use super::auth::{Authenticator, repository_scope};
use super::config::RegistryConfig;
use super::manifest::ACCEPT_MANIFESTS;
use super::transport::{self, Endpoint, call_with_retry, header, map_error, status_error};
use super::{RegistryError, Result};
use crate::digest;

/// Manifests are small documents; containerd caps them at 4 MiB too.
pub const MAX_MANIFEST: u64 = 4 << 20;

/// A manifest or index as the registry served it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    /// `Content-Type` without parameters (may be empty or generic; see `manifest::classify`).
    pub content_type: String,
    /// sha256 of `bytes` (checked against the reference's digest or `Docker-Content-Digest`).
    pub digest: String,
}

pub struct Client {
    pub endpoint: Endpoint,
    pub auth: Authenticator,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Client({:?})", self.endpoint)
    }
}

impl Client {
    /// Connects to `registry` (`docker.io`, `quay.io`, `127.0.0.1:5000`): finds the scheme
    /// with a ping and prepares auth from what it answered.
    pub fn connect(config: &RegistryConfig, registry: &str) -> Result<Client> {
        Ok(Self::with_endpoint(
            config,
            transport::connect(config, registry)?,
        ))
    }

    /// Connects to the mirror at `url` (a base URL) standing in for `registry`.
    pub fn connect_mirror(config: &RegistryConfig, registry: &str, url: &str) -> Result<Client> {
        Ok(Self::with_endpoint(
            config,
            transport::connect_mirror(config, registry, url)?,
        ))
    }

    pub fn with_endpoint(config: &RegistryConfig, endpoint: Endpoint) -> Client {
        let auth = Authenticator::new(
            &endpoint.registry,
            config.docker_config.clone(),
            endpoint.challenge.as_deref(),
        );
        Client { endpoint, auth }
    }

    pub fn registry(&self) -> &str {
        &self.endpoint.registry
    }

    /// `<base><path>`; `path` starts with `/v2/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.endpoint.base)
    }

    /// Sends the request `make` builds (called again for each attempt), authorised for
    /// `scope`. Returns any response but 401; the caller checks the status.
    pub fn send<B: AsSendBody>(
        &self,
        what: &str,
        scope: &str,
        mut make: impl FnMut() -> Request<B>,
    ) -> Result<Response<Body>> {
        let registry = self.registry().to_string();
        let mut auth = self.auth.cached_header(scope)?;
        let mut answered = false;
        loop {
            let mut first = Some(make());
            let idempotent = first.as_ref().is_some_and(|r| {
                matches!(
                    *r.method(),
                    Method::GET | Method::HEAD | Method::PUT | Method::DELETE
                )
            });
            let resp = call_with_retry(&registry, what, idempotent, || {
                let mut req = first.take().unwrap_or_else(&mut make);
                if let Some(h) = &auth {
                    req.headers_mut().insert(
                        http::header::AUTHORIZATION,
                        http::HeaderValue::from_str(h).expect("auth header is ASCII"),
                    );
                }
                self.endpoint.agent.run(req)
            })?;
            if resp.status() != StatusCode::UNAUTHORIZED || answered {
                return Ok(resp);
            }
            answered = true;
            let challenge = header(&resp, "www-authenticate");
            auth = Some(
                self.auth
                    .authorize(&self.endpoint.agent, challenge.as_deref(), scope)?,
            );
        }
    }

    /// Fetches the manifest `reference` (a tag or a digest) of `repository`, with every
    /// manifest type berth understands accepted, and checks its digest.
    pub fn get_manifest(&self, repository: &str, reference: &str) -> Result<FetchedManifest> {
        let what = format!("manifest {}/{repository}:{reference}", self.registry())
            .replace(":sha256:", "@sha256:");
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let scope = repository_scope(repository, "pull");
        let resp = self.send(&what, &scope, || {
            Request::get(&url)
                .header("Accept", ACCEPT_MANIFESTS)
                .body(())
                .expect("valid request")
        })?;
        let status = resp.status().as_u16();
        let content_type = header(&resp, "content-type")
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let served_digest = header(&resp, "docker-content-digest");
        let bytes = self.read_body(resp, MAX_MANIFEST, &what)?;
        if status != 200 {
            return Err(status_error(self.registry(), &what, status, &bytes));
        }
        let digest = digest::sha256(&bytes);
        // A signed schema 1 manifest's digest covers its payload without the signatures;
        // there is no point checking it, as classify() refuses schema 1 anyway.
        let schema1 = content_type.starts_with(super::manifest::DOCKER_SCHEMA1)
            || serde_json::from_slice::<serde_json::Value>(&bytes)
                .is_ok_and(|v| v.get("schemaVersion").and_then(|s| s.as_u64()) == Some(1));
        let expected = if schema1 {
            None
        } else if reference.starts_with("sha256:") {
            Some(reference.to_string())
        } else {
            served_digest.filter(|d| d.starts_with("sha256:"))
        };
        if let Some(expected) = expected
            && expected != digest
        {
            return Err(digest::DigestError::Mismatch {
                what,
                expected,
                actual: digest,
            }
            .into());
        }
        Ok(FetchedManifest {
            bytes,
            content_type,
            digest,
        })
    }

    /// Starts a blob download from byte `offset` (a `Range` request when > 0). The response is
    /// 200 (whole blob) or 206 (from `offset`); anything else is an error.
    pub fn get_blob(&self, repository: &str, digest: &str, offset: u64) -> Result<Response<Body>> {
        let what = format!("blob {digest} of {}/{repository}", self.registry());
        let url = self.url(&format!("/v2/{repository}/blobs/{digest}"));
        let scope = repository_scope(repository, "pull");
        let resp = self.send(&what, &scope, || {
            let mut b = Request::get(&url);
            if offset > 0 {
                b = b.header("Range", format!("bytes={offset}-"));
            }
            b.body(()).expect("valid request")
        })?;
        let status = resp.status().as_u16();
        if status == 200 || status == 206 || status == 416 {
            return Ok(resp);
        }
        let body = self.read_body(resp, 64 << 10, &what).unwrap_or_default();
        Err(status_error(self.registry(), &what, status, &body))
    }

    /// Reads a small body whole, refusing more than `limit` bytes.
    pub fn read_body(&self, resp: Response<Body>, limit: u64, what: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let started = Instant::now();
        resp.into_body()
            .into_with_config()
            .limit(limit + 1)
            .reader()
            .take(limit + 1)
            .read_to_end(&mut out)
            .map_err(|e| RegistryError::Unreachable {
                registry: self.registry().to_string(),
                reason: format!("reading {what}: {e}"),
            })?;
        if out.len() as u64 > limit {
            return Err(RegistryError::Invalid {
                what: what.to_string(),
                detail: format!("larger than {limit} bytes, refused"),
            });
        }
        log::trace!("{what}: {} bytes in {:?}", out.len(), started.elapsed());
        Ok(out)
    }

    /// Maps a transport error of this registry.
    pub fn map_error(&self, e: ureq::Error) -> RegistryError {
        map_error(self.registry(), e)
    }
}
