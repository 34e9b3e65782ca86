//! `berth search`: a registry's catalogue (`GET /v2/_catalog`, paginated by `Link` headers as
//! the distribution spec says), the repositories that match a term, and their tags
//! (`GET /v2/<name>/tags/list`). Docker Hub and many hosted registries offer no catalogue;
//! then search says so, instead of pretending nothing matched.

use ureq::http::Request;

use super::auth::repository_scope;
use super::client::Client;
use super::config::RegistryConfig;
use super::transport::{header, status_error};
use super::{RegistryError, Result};
use crate::error::{Code, Coded};
use crate::reference::DOCKER_HUB;

/// Catalogue pages are small JSON documents.
const MAX_PAGE: u64 = 16 << 20;
/// Repositories asked for per page.
const PAGE: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(
        "{registry} offers no catalogue ({why}): berth search lists repositories through /v2/_catalog, which this registry does not serve; name the image directly (berth pull {registry}/NAME:TAG)"
    )]
    NoCatalog { registry: String, why: String },
}

impl Coded for SearchError {
    fn code(&self) -> Code {
        match self {
            SearchError::Registry(e) => e.code(),
            SearchError::NoCatalog { .. } => Code::UNSUPPORTED,
        }
    }
}

/// One matching repository.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Found {
    /// `registry/repository`, as one would pull it.
    pub name: String,
    pub tags: Vec<String>,
}

/// Splits `berth search` input: `127.0.0.1:5000/busy` searches that registry for `busy`; a
/// term without a registry part searches Docker Hub.
pub fn split_term(term: &str) -> (String, String) {
    if let Some((first, rest)) = term.split_once('/')
        && (first.contains('.') || first.contains(':') || first == "localhost")
    {
        return (first.to_string(), rest.to_string());
    }
    (DOCKER_HUB.to_string(), term.to_string())
}

/// Repositories of `registry` whose name contains `term` (case-insensitive), with their tags,
/// at most `limit` of them.
pub fn search(
    registry: &str,
    term: &str,
    limit: usize,
) -> std::result::Result<Vec<Found>, SearchError> {
    let config = RegistryConfig::load()?;
    let client = Client::connect(&config, registry)?;
    let repos = catalog(&client)?;
    let needle = term.to_lowercase();
    let mut found = Vec::new();
    for repo in repos
        .iter()
        .filter(|r| r.to_lowercase().contains(&needle))
        .take(limit)
    {
        let tags = tags(&client, repo)?;
        found.push(Found {
            name: format!("{registry}/{repo}"),
            tags,
        });
    }
    Ok(found)
}

/// Every repository in the catalogue, following `Link: <...>; rel="next"`.
fn catalog(client: &Client) -> std::result::Result<Vec<String>, SearchError> {
    let registry = client.registry().to_string();
    let mut next = Some(format!("/v2/_catalog?n={PAGE}"));
    let mut repos = Vec::new();
    while let Some(path) = next.take() {
        let url = client.url(&path);
        let what = "the catalogue".to_string();
        let resp = client.send(&what, "registry:catalog:*", || {
            Request::get(&url).body(()).expect("valid request")
        })?;
        let status = resp.status().as_u16();
        let link = header(&resp, "link");
        let body = client.read_body(resp, MAX_PAGE, &what)?;
        match status {
            200 => {}
            // Distribution answers 404 where the catalogue is switched off; Docker Hub answers
            // 401/403 even with a token; some hosted registries 405.
            401 | 403 | 404 | 405 => {
                let err = status_error(&registry, &what, status, &body);
                return Err(SearchError::NoCatalog {
                    registry,
                    why: format!("/v2/_catalog answered HTTP {status}: {err}"),
                });
            }
            _ => return Err(status_error(&registry, &what, status, &body).into()),
        }
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
                what: what.clone(),
                detail: format!("not JSON: {e}"),
            })?;
        let page = v["repositories"]
            .as_array()
            .ok_or_else(|| SearchError::NoCatalog {
                registry: registry.clone(),
                why: "its /v2/_catalog answer lists no repositories field".into(),
            })?;
        repos.extend(page.iter().filter_map(|r| r.as_str().map(str::to_string)));
        next = link.and_then(|l| next_link(&l));
    }
    Ok(repos)
}

fn tags(client: &Client, repo: &str) -> Result<Vec<String>> {
    let url = client.url(&format!("/v2/{repo}/tags/list"));
    let what = format!("the tags of {repo}");
    let resp = client.send(&what, &repository_scope(repo, "pull"), || {
        Request::get(&url).body(()).expect("valid request")
    })?;
    let status = resp.status().as_u16();
    let body = client.read_body(resp, MAX_PAGE, &what)?;
    if status == 404 {
        return Ok(Vec::new());
    }
    if status != 200 {
        return Err(status_error(client.registry(), &what, status, &body));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| RegistryError::Invalid {
            what: what.clone(),
            detail: format!("not JSON: {e}"),
        })?;
    let mut tags: Vec<String> = v["tags"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    tags.sort();
    Ok(tags)
}

/// The path of `Link: </v2/_catalog?last=x&n=1000>; rel="next"`.
fn next_link(link: &str) -> Option<String> {
    link.split(',')
        .find(|part| part.contains("rel=\"next\"") || part.contains("rel=next"))
        .and_then(|part| {
            let start = part.find('<')? + 1;
            let end = part.find('>')?;
            let target = &part[start..end];
            // An absolute URL: keep its path and query.
            Some(match target.find("/v2/") {
                Some(i) => target[i..].to_string(),
                None => target.to_string(),
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_and_links_parse() {
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            ("127.0.0.1:5000".into(), "busy".into())
        );
        assert_eq!(
            split_term("busybox"),
            ("docker.io".into(), "busybox".into())
        );
        assert_eq!(
            split_term("team/app"),
            ("docker.io".into(), "team/app".into())
        );
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(r#"<https://r.example/v2/_catalog?last=b>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b")
        );
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
    }
}
