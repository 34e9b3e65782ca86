//! Registry authentication: the `WWW-Authenticate` challenge and what answers it.
//!
//! - `Basic realm=...`: send the user's credentials with every request.
//! - `Bearer realm=...,service=...,scope=...` (Docker Hub, ghcr.io, quay.io, distribution's
//!   token auth): get a token for the scope from the realm, with the user's credentials if
//!   there are any (anonymous otherwise), and send `Authorization: Bearer <token>`. Tokens are
//!   cached per scope until they expire. An identity token (OAuth2 refresh token) is exchanged
//!   with a POST, as Docker does.
//!
//! Credentials are looked up only when a registry asks for them, so anonymous pulls never run
//! a credential helper.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;

use super::credentials::{self, Credential};
use super::transport::{call_with_retry, status_error};
use super::{RegistryError, Result};

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic {
        realm: String,
    },
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value (RFC 7235: a scheme, then `key=value` or
/// `key="quoted, value"` parameters).
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_params(rest);
    let get = |k: &str| params.get(k).cloned();
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic {
            realm: get("realm").unwrap_or_default(),
        }),
        "bearer" => Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
            scope: get("scope"),
        }),
        _ => None,
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    out
}

/// The scope string for a repository: `repository:library/busybox:pull`.
pub fn repository_scope(repository: &str, actions: &str) -> String {
    format!("repository:{repository}:{actions}")
}

#[derive(Default)]
struct State {
    challenge: Option<Challenge>,
    tokens: HashMap<String, (String, Instant)>,
    credential: Option<Option<Credential>>,
}

/// Answers one registry's challenges and remembers the answers. Shared by the threads of one
/// pull (it locks internally).
pub struct Authenticator {
    registry: String,
    docker_config: PathBuf,
    state: Mutex<State>,
}

impl Authenticator {
    /// `challenge` is what the `/v2/` ping answered, if it asked for auth.
    pub fn new(registry: &str, docker_config: PathBuf, challenge: Option<&str>) -> Self {
        Authenticator {
            registry: registry.to_string(),
            docker_config,
            state: Mutex::new(State {
                challenge: challenge.and_then(parse_challenge),
                ..State::default()
            }),
        }
    }

    /// The registry these answers are for.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The user's credential for this registry (looked up once).
    pub fn credential(&self) -> Result<Option<Credential>> {
        let mut st = self.state.lock().unwrap();
        if let Some(c) = &st.credential {
            return Ok(c.clone());
        }
        let c = credentials::lookup(&self.docker_config, &self.registry)?;
        log::debug!("{}: credential {:?}", self.registry, c);
        st.credential = Some(c.clone());
        Ok(c)
    }

    /// Use this credential instead of the saved one (`login` checks a new password so).
    pub fn set_credential(&self, c: Option<Credential>) {
        let mut st = self.state.lock().unwrap();
        st.credential = Some(c);
        st.tokens.clear();
    }

    /// The `Authorization` header for `scope` if one is already known (no network).
    pub fn cached_header(&self, scope: &str) -> Result<Option<String>> {
        let challenge = self.state.lock().unwrap().challenge.clone();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => Ok(self.credential()?.and_then(|c| basic_header(&c))),
            Some(Challenge::Bearer { .. }) => {
                let st = self.state.lock().unwrap();
                Ok(st
                    .tokens
                    .get(scope)
                    .filter(|(_, exp)| Instant::now() < *exp)
                    .map(|(t, _)| format!("Bearer {t}")))
            }
        }
    }

    /// Answers a challenge (`www_authenticate` from a 401, or the ping's if `None`) for
    /// `scope`; returns the header to retry with.
    pub fn authorize(
        &self,
        agent: &ureq::Agent,
        www_authenticate: Option<&str>,
        scope: &str,
    ) -> Result<String> {
        if let Some(h) = www_authenticate.and_then(parse_challenge) {
            self.state.lock().unwrap().challenge = Some(h);
        }
        let challenge = self.state.lock().unwrap().challenge.clone();
        let unauthorized = |detail: &str| RegistryError::Unauthorized {
            registry: self.registry.clone(),
            what: format!("access to {scope}"),
            detail: detail.to_string(),
        };
        match challenge {
            None => Err(unauthorized(
                "authentication required, but the registry sent no usable challenge",
            )),
            Some(Challenge::Basic { .. }) => match self.credential()? {
                Some(c) => basic_header(&c).ok_or_else(|| {
                    unauthorized(
                        "the registry wants a password, but only an identity token is saved",
                    )
                }),
                None => Err(unauthorized(
                    "authentication required and no credentials are saved",
                )),
            },
            Some(Challenge::Bearer {
                realm,
                service,
                scope: asked,
            }) => {
                let token = self.fetch_token(agent, &realm, service.as_deref(), scope, asked)?;
                Ok(format!("Bearer {token}"))
            }
        }
    }

    fn fetch_token(
        &self,
        agent: &ureq::Agent,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        asked: Option<String>,
    ) -> Result<String> {
        let mut scopes = vec![scope.to_string()];
        if let Some(a) = asked.filter(|a| a != scope) {
            scopes.push(a);
        }
        let cred = self.credential()?;
        let what = format!("a token for {scope} from {realm}");
        let resp = call_with_retry(&self.registry, "token", true, || match &cred {
            Some(Credential::IdentityToken { token, .. }) => {
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", "berth"),
                    ("access_type", "offline"),
                ];
                if let Some(s) = service {
                    form.push(("service", s));
                }
                for s in &scopes {
                    form.push(("scope", s));
                }
                agent.post(realm).send_form(form)
            }
            other => {
                let mut req = agent.get(realm);
                if let Some(s) = service {
                    req = req.query("service", s);
                }
                for s in &scopes {
                    req = req.query("scope", s);
                }
                if let Some(h) = other.as_ref().and_then(basic_header) {
                    req = req.header("Authorization", &h);
                }
                req.call()
            }
        })?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| super::transport::map_error(&self.registry, e))?;
        if status != 200 {
            let mut e = status_error(&self.registry, &what, status, &body);
            if let RegistryError::Unauthorized { detail, .. } = &mut e
                && cred.is_some()
            {
                *detail = format!("the token service rejected the saved credentials ({detail})");
            }
            return Err(e);
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                what: what.clone(),
                detail: format!("the token response is not JSON: {e}"),
            })?;
        let token = v
            .get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RegistryError::Invalid {
                what: what.clone(),
                detail: "the token response has no token".into(),
            })?
            .to_string();
        // Docker's default lifetime when the server names none is 60 s; keep a margin.
        let secs = v
            .get("expires_in")
            .and_then(|e| e.as_u64())
            .unwrap_or(60)
            .max(10);
        let expiry = Instant::now() + Duration::from_secs(secs - secs / 10);
        self.state
            .lock()
            .unwrap()
            .tokens
            .insert(scope.to_string(), (token.clone(), expiry));
        Ok(token)
    }
}

fn basic_header(c: &Credential) -> Option<String> {
    match c {
        Credential::Basic { username, password } => Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
        )),
        Credential::IdentityToken { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse_with_quoted_commas() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:samalba/my-app:pull,push".into()),
            }
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="registry""#),
            Some(Challenge::Basic {
                realm: "registry".into()
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }
}
