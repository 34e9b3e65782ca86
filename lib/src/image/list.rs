//! `berth images`: one row per name (and one per dangling image), newest first, with Docker's
//! columns, flags and filters.

use serde::Serialize;

use super::inventory::{Inventory, LocalImage};
use super::{ImageError, Result};
use crate::reference::Reference;
use crate::units::human;

/// `--filter KEY=VALUE`, as `docker images` takes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    Dangling(bool),
    /// A glob over the familiar name with or without its tag (Docker's `FamiliarMatch`).
    Reference(String),
    Before(String),
    Since(String),
    Label(String, Option<String>),
}

impl std::str::FromStr for Filter {
    type Err = ImageError;
    fn from_str(s: &str) -> Result<Self> {
        let (k, v) = s.split_once('=').ok_or_else(|| {
            ImageError::BadArgs(format!(
                "bad format of filter {s:?} (expected name=value, e.g. dangling=true)"
            ))
        })?;
        Ok(match k {
            "dangling" => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Filter::Dangling(true),
                "false" | "0" => Filter::Dangling(false),
                _ => {
                    return Err(ImageError::BadArgs(format!(
                        "invalid filter 'dangling={v}' (use dangling=true or dangling=false)"
                    )));
                }
            },
            "reference" => {
                glob::Pattern::new(v).map_err(|e| {
                    ImageError::BadArgs(format!("invalid reference filter {v:?}: {e}"))
                })?;
                Filter::Reference(v.to_string())
            }
            "before" => Filter::Before(v.to_string()),
            "since" => Filter::Since(v.to_string()),
            "label" => match v.split_once('=') {
                Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
                None => Filter::Label(v.to_string(), None),
            },
            _ => {
                return Err(ImageError::BadArgs(format!(
                    "invalid filter {k:?} (berth images supports dangling, reference, before, since and label)"
                )));
            }
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// `images REPOSITORY[:TAG]`.
    pub repository: Option<String>,
    pub filters: Vec<Filter>,
    /// `--no-trunc`: full ids.
    pub no_trunc: bool,
}

/// A row, with the field names of `docker images --format json` (and of `--format`
/// templates: `{{.Repository}}:{{.Tag}}`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRow {
    pub containers: String,
    pub created_at: String,
    pub created_since: String,
    pub digest: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub repository: String,
    pub shared_size: String,
    pub size: String,
    pub tag: String,
    pub unique_size: String,
    pub virtual_size: String,
}

const NONE: &str = "<none>";

/// The rows `docker images` would print for this store, newest first.
pub fn rows(inv: &Inventory, opts: &ListOptions) -> Result<Vec<ImageRow>> {
    let mut filters = opts.filters.clone();
    if let Some(repo) = &opts.repository {
        // `docker images busybox` is `--filter reference=busybox`, in familiar form.
        let r = Reference::parse(repo)?;
        let last = repo.rsplit('/').next().unwrap_or(repo);
        let typed_tag = last.split('@').next().unwrap_or(last).contains(':');
        let pattern = if typed_tag {
            r.familiar()
        } else {
            r.familiar_name()
        };
        filters.push(Filter::Reference(glob::Pattern::escape(&pattern)));
    }
    let mut before = None;
    let mut since = None;
    for f in &filters {
        match f {
            Filter::Before(arg) => before = Some(inv.resolve(arg)?.image.created),
            Filter::Since(arg) => since = Some(inv.resolve(arg)?.image.created),
            _ => {}
        }
    }
    let mut images: Vec<&LocalImage> = inv
        .images
        .iter()
        .filter(|img| {
            filters.iter().all(|f| match f {
                Filter::Dangling(d) => img.is_dangling() == *d,
                Filter::Label(k, v) => {
                    let labels = img.labels();
                    match v {
                        Some(v) => labels.get(k) == Some(v),
                        None => labels.contains_key(k),
                    }
                }
                _ => true,
            })
        })
        .filter(|img| before.is_none_or(|b| img.created < b))
        .filter(|img| since.is_none_or(|s| img.created > s))
        .collect();
    images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));

    let patterns: Vec<glob::Pattern> = filters
        .iter()
        .filter_map(|f| match f {
            Filter::Reference(p) => glob::Pattern::new(p).ok(),
            _ => None,
        })
        .collect();
    let mut rows = Vec::new();
    for img in images {
        let mut names: Vec<&str> = img.names().collect();
        names.sort();
        if !patterns.is_empty() {
            names.retain(|n| patterns.iter().all(|p| familiar_match(p, n)));
            if names.is_empty() {
                continue;
            }
        }
        if names.is_empty() {
            let digest = img
                .entries
                .iter()
                .find_map(|e| e.repo_digest())
                .map(str::to_string);
            rows.push(row(img, NONE, NONE, digest, opts));
        }
        for n in names {
            let target = img
                .entries
                .iter()
                .find(|e| e.name.as_deref() == Some(n))
                .and_then(|e| e.repo_digest())
                .map(str::to_string);
            let (repo, tag) = split_name(n);
            rows.push(row(
                img,
                &repo,
                tag.as_deref().unwrap_or(NONE),
                target,
                opts,
            ));
        }
    }
    Ok(rows)
}

fn row(
    img: &LocalImage,
    repo: &str,
    tag: &str,
    digest: Option<String>,
    opts: &ListOptions,
) -> ImageRow {
    let size = human::size(img.size);
    ImageRow {
        containers: "N/A".into(),
        created_at: human::go_time(img.created),
        created_since: human::ago(img.created),
        digest: digest.unwrap_or_else(|| NONE.into()),
        id: if opts.no_trunc {
            img.id.clone()
        } else {
            img.short_id().to_string()
        },
        repository: repo.to_string(),
        shared_size: "N/A".into(),
        size: size.clone(),
        tag: tag.to_string(),
        unique_size: "N/A".into(),
        virtual_size: size,
    }
}

/// `busybox:latest` -> (`busybox`, `latest`); `busybox@sha256:..` -> (`busybox`, None).
pub fn split_name(name: &str) -> (String, Option<String>) {
    match Reference::parse(name) {
        Ok(r) => (r.familiar_name(), r.tag().map(str::to_string)),
        Err(_) => (name.to_string(), None),
    }
}

/// Docker's `reference.FamiliarMatch`: the pattern against `name:tag`, then against `name`.
/// `*` does not cross `/`, as with Go's `path.Match`.
fn familiar_match(p: &glob::Pattern, name: &str) -> bool {
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    p.matches_with(name, opts) || p.matches_with(&split_name(name).0, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_like_docker() {
        assert_eq!(
            "dangling=true".parse::<Filter>().unwrap(),
            Filter::Dangling(true)
        );
        assert_eq!(
            "label=a=b".parse::<Filter>().unwrap(),
            Filter::Label("a".into(), Some("b".into()))
        );
        assert!("dangling=maybe".parse::<Filter>().is_err());
        assert!("colour=red".parse::<Filter>().is_err());
        assert!("nofilter".parse::<Filter>().is_err());
    }

    #[test]
    fn reference_patterns_match_familiar_names() {
        let p = glob::Pattern::new("busy*").unwrap();
        assert!(familiar_match(&p, "busybox:latest"));
        assert!(!familiar_match(&p, "team/busybox:latest"));
        let p = glob::Pattern::new("*/app:v?").unwrap();
        assert!(familiar_match(&p, "team/app:v1"));
        assert!(!familiar_match(&p, "app:v1"));
        let p = glob::Pattern::new("busybox").unwrap();
        assert!(familiar_match(&p, "busybox:1.36"));
    }
}
