//! HTTP to registries: agents with the right TLS trust, the choice of scheme by a `/v2/`
//! ping, bounded retries with backoff, and turning HTTP failures into [`RegistryError`]s.
//!
//! Which scheme, for a registry `host[:port]`:
//! - it has files in `certs.d`: HTTPS, verified against the system CAs plus those files;
//! - it is listed in `insecure-registries`: HTTPS without verification, else plain HTTP
//!   (Docker's behaviour);
//! - it is loopback (`localhost`, 127.0.0.0/8, ::1): plain HTTP, else HTTPS verified;
//! - otherwise: HTTPS verified.
//!
//! Redirects are followed (blob downloads are often redirected to a CDN); the `Authorization`
//! header only follows a redirect to the same host.

use std::sync::Arc;
use std::time::Duration;

use ureq::Agent;
use ureq::config::RedirectAuthHeaders;
use ureq::http::Response;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::config::RegistryConfig;
use super::{RegistryError, Result};
use crate::reference::{DOCKER_HUB, Reference};

/// Docker Hub's API host (what `docker.io` means on the wire).
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Attempts for an idempotent request that meets a 5xx, a 429 or a reset connection.
pub const MAX_ATTEMPTS: u32 = 4;
const USER_AGENT: &str = concat!("berth/", env!("CARGO_PKG_VERSION"));
const SYSTEM_CA_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// Where and how to reach one registry (or one mirror of it).
#[derive(Clone)]
pub struct Endpoint {
    /// The registry's name as references spell it (`docker.io`, `127.0.0.1:5000`): the key
    /// for credentials and messages.
    pub registry: String,
    /// Base URL without a trailing slash: `https://registry-1.docker.io`.
    pub base: String,
    pub agent: Agent,
    /// The `WWW-Authenticate` challenge the ping returned, if any.
    pub challenge: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Endpoint({} at {})", self.registry, self.base)
    }
}

/// An HTTP agent: our user agent, no status-as-error (we map statuses), no transparent
/// decompression (blobs are hashed byte for byte), timeouts that catch dead peers without
/// limiting long downloads.
pub fn agent(tls: TlsConfig) -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .user_agent(USER_AGENT)
        .accept_encoding("identity")
        .max_redirects(10)
        .redirect_auth_headers(RedirectAuthHeaders::SameHost)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        // Big reads: fewer syscalls and hash updates per byte on fast links.
        .input_buffer_size(256 * 1024)
        .tls_config(tls)
        .build()
        .new_agent()
}

/// TLS settings for `registry`: system CAs plus `certs.d`, or no verification.
pub fn tls_config(config: &RegistryConfig, registry: &str, verify: bool) -> Result<TlsConfig> {
    let mut b = TlsConfig::builder();
    if !verify {
        return Ok(b.disable_verification(true).build());
    }
    let files = config.tls_files(registry);
    let bad = |path: &std::path::Path, e: String| {
        RegistryError::Config(format!("invalid certificate file {}: {e}", path.display()))
    };
    if !files.cas.is_empty() {
        let mut certs: Vec<Certificate<'static>> = Vec::new();
        let system = std::env::var("SSL_CERT_FILE")
            .ok()
            .into_iter()
            .chain(SYSTEM_CA_FILES.iter().map(|s| s.to_string()))
            .find(|p| std::path::Path::new(p).exists());
        if let Some(p) = system
            && let Ok(pem) = std::fs::read(&p)
        {
            certs.extend(pem_certs(&pem));
        }
        for ca in &files.cas {
            let pem = std::fs::read(ca).map_err(|e| bad(ca, e.to_string()))?;
            let found = pem_certs(&pem);
            if found.is_empty() {
                return Err(bad(ca, "no PEM certificate in it".into()));
            }
            certs.extend(found);
        }
        b = b.root_certs(RootCerts::new_with_certs(&certs));
    } else {
        b = b.root_certs(system_roots());
    }
    if let Some((cert, key)) = &files.client {
        let cpem = std::fs::read(cert).map_err(|e| bad(cert, e.to_string()))?;
        let kpem = std::fs::read(key).map_err(|e| bad(key, e.to_string()))?;
        let k = PrivateKey::from_pem(&kpem).map_err(|e| bad(key, e.to_string()))?;
        b = b.client_cert(Some(ClientCert::new_with_certs(&pem_certs(&cpem), k)));
    }
    Ok(b.build())
}

/// The machine's CA bundle (shared by every agent of the process), or the built-in Mozilla
/// roots where the machine has none.
fn system_roots() -> RootCerts {
    static ROOTS: std::sync::OnceLock<RootCerts> = std::sync::OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let pem = std::env::var("SSL_CERT_FILE")
                .ok()
                .into_iter()
                .chain(SYSTEM_CA_FILES.iter().map(|s| s.to_string()))
                .find_map(|p| std::fs::read(p).ok());
            match pem.map(|p| pem_certs(&p)) {
                Some(c) if !c.is_empty() => RootCerts::Specific(Arc::new(c)),
                _ => RootCerts::WebPki,
            }
        })
        .clone()
}

fn pem_certs(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|i| match i {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// The host to talk to for a reference's registry (`docker.io` is served elsewhere).
pub fn api_host(registry: &str) -> &str {
    if registry == DOCKER_HUB {
        DOCKER_HUB_API
    } else {
        registry
    }
}

fn is_loopback(registry: &str) -> bool {
    Reference::parse(&format!("{registry}/x")).is_ok_and(|r| r.is_loopback_registry())
}

/// Finds how to speak to `registry`: tries the candidate schemes in order with a `/v2/` ping.
pub fn connect(config: &RegistryConfig, registry: &str) -> Result<Endpoint> {
    let host = api_host(registry);
    config.check_allowed(host)?;
    let has_certs = {
        let f = config.tls_files(registry);
        !f.cas.is_empty() || f.client.is_some()
    };
    let candidates: Vec<(&str, bool)> = if has_certs {
        vec![("https", true)]
    } else if config.is_insecure(registry) {
        vec![("https", false), ("http", false)]
    } else if is_loopback(registry) {
        vec![("http", false), ("https", true)]
    } else {
        vec![("https", true)]
    };
    let mut last_err = None;
    for (scheme, verify) in candidates {
        let tls = tls_config(config, registry, verify)?;
        let base = format!("{scheme}://{host}");
        match ping(registry, &base, agent(tls), config) {
            Ok(ep) => return Ok(ep),
            Err(e) => {
                log::debug!("{base}: {e}");
                // Keep the most telling failure: a TLS error beats "not a registry over HTTP".
                let keep = match (&last_err, &e) {
                    (None, _) => true,
                    (Some(RegistryError::Tls { .. }), _) => false,
                    _ => true,
                };
                if keep {
                    last_err = Some(e);
                }
            }
        }
    }
    Err(last_err.expect("at least one candidate"))
}

/// An endpoint for a mirror at `url` standing in for `registry`.
pub fn connect_mirror(config: &RegistryConfig, registry: &str, url: &str) -> Result<Endpoint> {
    let mirror_host = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    config.check_allowed(mirror_host)?;
    let verify = !config.is_insecure(mirror_host);
    let tls = tls_config(config, mirror_host, verify)?;
    let mut ep = ping(mirror_host, url, agent(tls), config)?;
    // Credentials for a mirror are the mirror's own; messages name the mirror.
    ep.registry = mirror_host.to_string();
    log::info!("using mirror {url} for {registry}");
    Ok(ep)
}

/// `GET <base>/v2/`: 200 or 401 (with a challenge) means a registry speaks there.
fn ping(registry: &str, base: &str, agent: Agent, config: &RegistryConfig) -> Result<Endpoint> {
    let url = format!("{base}/v2/");
    let resp = call_with_retry(registry, "ping", true, || agent.get(&url).call())
        .map_err(|e| with_tls_hint(e, config))?;
    let status = resp.status().as_u16();
    let is_registry = resp
        .headers()
        .contains_key("docker-distribution-api-version");
    let challenge = header(&resp, "www-authenticate");
    match status {
        200..=299 | 401 | 403 => Ok(Endpoint {
            registry: registry.to_string(),
            base: base.to_string(),
            agent,
            challenge,
        }),
        _ if is_registry => Ok(Endpoint {
            registry: registry.to_string(),
            base: base.to_string(),
            agent,
            challenge,
        }),
        _ => Err(RegistryError::Unreachable {
            registry: registry.to_string(),
            reason: format!("{url} answered HTTP {status}, not a registry API"),
        }),
    }
}

fn with_tls_hint(e: RegistryError, config: &RegistryConfig) -> RegistryError {
    match e {
        RegistryError::Tls {
            registry, reason, ..
        } => RegistryError::Tls {
            registry,
            reason,
            certs_hint: config.certs_hint(),
        },
        e => e,
    }
}

/// A response header as a string.
pub fn header<B>(resp: &Response<B>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Runs `call`, retrying a bounded number of times with exponential backoff when the server
/// answers 5xx/429 or the connection breaks (only when `idempotent`). A refused connection is
/// not retried: nobody is listening, and saying so at once is kinder. After the last attempt a
/// 5xx response is returned as is, for the caller to map.
pub fn call_with_retry<B>(
    registry: &str,
    what: &str,
    idempotent: bool,
    mut call: impl FnMut() -> std::result::Result<Response<B>, ureq::Error>,
) -> Result<Response<B>> {
    let attempts = if idempotent { MAX_ATTEMPTS } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt >= attempts;
        match call() {
            Ok(resp) => {
                let s = resp.status().as_u16();
                if !last && matches!(s, 429 | 500 | 502 | 503 | 504) {
                    log::info!("{registry}: {what}: HTTP {s}, retrying (attempt {attempt})");
                    backoff(attempt);
                    continue;
                }
                return Ok(resp);
            }
            Err(e) if !last && is_transient(&e) => {
                log::info!("{registry}: {what}: {e}, retrying (attempt {attempt})");
                backoff(attempt);
            }
            Err(e) => return Err(map_error(registry, e)),
        }
    }
}

/// Sleeps 250 ms, 500 ms, 1 s, ... (capped at 4 s) before attempt `attempt + 1`.
pub fn backoff(attempt: u32) {
    let ms = 250u64 << (attempt.saturating_sub(1)).min(4);
    std::thread::sleep(Duration::from_millis(ms.min(4000)));
}

/// Whether a transport error is worth another try (reset, early close, timeout).
pub fn is_transient(e: &ureq::Error) -> bool {
    use std::io::ErrorKind::*;
    match e {
        ureq::Error::Io(io) => matches!(
            io.kind(),
            ConnectionReset
                | ConnectionAborted
                | UnexpectedEof
                | BrokenPipe
                | TimedOut
                | Interrupted
        ),
        ureq::Error::Timeout(_) | ureq::Error::Protocol(_) | ureq::Error::BodyStalled => true,
        _ => false,
    }
}

/// A transport error as a registry error.
pub fn map_error(registry: &str, e: ureq::Error) -> RegistryError {
    let unreachable = |reason: String| RegistryError::Unreachable {
        registry: registry.to_string(),
        reason,
    };
    match e {
        ureq::Error::Tls(m) => RegistryError::Tls {
            registry: registry.to_string(),
            reason: m.to_string(),
            certs_hint: String::new(),
        },
        ureq::Error::Rustls(e) => RegistryError::Tls {
            registry: registry.to_string(),
            reason: e.to_string(),
            certs_hint: String::new(),
        },
        ureq::Error::HostNotFound => unreachable("host not found".into()),
        ureq::Error::ConnectionFailed => unreachable("connection failed".into()),
        ureq::Error::Io(io) => {
            // rustls reports handshake failures through io::Error.
            let m = io.to_string();
            if m.contains("certificate") || m.contains("tls") || m.contains("TLS") {
                RegistryError::Tls {
                    registry: registry.to_string(),
                    reason: m,
                    certs_hint: String::new(),
                }
            } else {
                unreachable(m)
            }
        }
        e => unreachable(e.to_string()),
    }
}

/// The registry's error document (`{"errors":[{"code":..,"message":..}]}`), first entry.
pub fn registry_error_text(body: &[u8]) -> Option<(String, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let e = v.get("errors")?.get(0)?;
    Some((
        e.get("code")?.as_str().unwrap_or("").to_string(),
        e.get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string(),
    ))
}

/// An error for an unexpected status, using the registry's own words where it gave some.
pub fn status_error(registry: &str, what: &str, status: u16, body: &[u8]) -> RegistryError {
    let text = registry_error_text(body);
    let detail = match &text {
        Some((code, msg)) if !msg.is_empty() => format!("{} ({code})", msg),
        Some((code, _)) => code.to_lowercase().replace('_', " "),
        None => String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .replace('\n', " "),
    };
    match status {
        401 | 403 => RegistryError::Unauthorized {
            registry: registry.to_string(),
            what: what.to_string(),
            detail: if detail.is_empty() {
                "authentication required".into()
            } else {
                detail
            },
        },
        404 => RegistryError::NotFound {
            what: what.to_string(),
            detail: match text {
                Some((code, msg)) if !msg.is_empty() => format!("{msg} ({code})"),
                _ => format!("{registry} answered 404"),
            },
        },
        _ => RegistryError::Http {
            registry: registry.to_string(),
            what: what.to_string(),
            status,
            detail: if detail.is_empty() {
                String::new()
            } else {
                format!(": {detail}")
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_codes() {
        use crate::error::{Code, Coded};
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        let e = status_error("r", "manifest r/x:y", 404, body);
        assert_eq!(e.code(), Code::NOT_FOUND);
        assert!(e.to_string().contains("manifest unknown"), "{e}");
        assert_eq!(status_error("r", "x", 401, b"").code(), Code::UNAUTHORIZED);
        assert_eq!(status_error("r", "x", 503, b"").code(), Code::TRY_AGAIN);
        assert_eq!(api_host("docker.io"), DOCKER_HUB_API);
        assert!(is_loopback("127.0.0.1:5000") && is_loopback("localhost:1"));
        assert!(!is_loopback("quay.io"));
    }
}
