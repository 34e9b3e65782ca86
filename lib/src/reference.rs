//! Image references, normalised by Docker's rules.
//!
//! The value is oci-spec's `oci_spec::distribution::Reference`. The grammar check is our own
//! (distribution's `reference` grammar, below): oci-spec's parser compiles a large regex on
//! first use, ~70 ms of CPU at every process start, which dominated short commands such as
//! `berth-pull` of a present image. This module adds what berth needs around it: Docker's "familiar"
//! short form, which is the name the image store records (`busybox:latest`, not
//! `docker.io/library/busybox:latest`, so that `skopeo inspect oci:<root>/images:busybox:latest`
//! works), and error messages that say what a valid reference looks like.

use std::fmt;

use oci_spec::distribution::Reference as OciReference;

use crate::error::{Code, Coded};

pub const DOCKER_HUB: &str = "docker.io";
const OFFICIAL_PREFIX: &str = "library/";

#[derive(Debug, thiserror::Error)]
pub enum RefError {
    #[error(
        "invalid reference {input:?}: {reason} (expected NAME[:TAG][@DIGEST], e.g. busybox:latest or registry.example:5000/team/app@sha256:...)"
    )]
    Invalid { input: String, reason: String },
}

impl Coded for RefError {
    fn code(&self) -> Code {
        Code::BAD_ARGS
    }
}

/// A parsed, normalised image reference.
#[derive(Clone, PartialEq, Eq)]
pub struct Reference {
    inner: OciReference,
}

impl Reference {
    pub fn parse(input: &str) -> Result<Self, RefError> {
        let invalid = |reason: String| RefError::Invalid {
            input: input.to_string(),
            reason,
        };
        if input.trim() != input || input.is_empty() {
            return Err(invalid("empty or surrounded by spaces".into()));
        }
        match parse_grammar(input) {
            Ok(inner) => {
                // distribution treats a first component with upper case as a host name; a
                // host name is never allowed to be the whole reference.
                if inner.repository().is_empty() {
                    return Err(invalid("repository name is empty".into()));
                }
                Ok(Reference { inner })
            }
            Err(reason) => {
                let name_part = input.split(['@']).next().unwrap_or(input);
                let lower_ok = name_part != name_part.to_lowercase()
                    && parse_grammar(input.to_lowercase().as_str()).is_ok();
                if lower_ok {
                    Err(invalid(format!(
                        "repository name must be lowercase (try {:?})",
                        input.to_lowercase()
                    )))
                } else {
                    Err(invalid(reason))
                }
            }
        }
    }

    /// The registry host, e.g. `docker.io` or `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The repository path within the registry, e.g. `library/busybox`.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The tag or the digest, whichever names the manifest to fetch (the digest wins).
    pub fn manifest_ref(&self) -> &str {
        self.digest().or(self.tag()).unwrap_or("latest")
    }

    /// Fully qualified: `docker.io/library/busybox:latest`.
    pub fn full(&self) -> String {
        self.inner.whole()
    }

    /// The repository as Docker prints it: `busybox`, `team/app`, `127.0.0.1:5000/app`.
    pub fn familiar_name(&self) -> String {
        if self.registry() == DOCKER_HUB {
            let repo = self.repository();
            repo.strip_prefix(OFFICIAL_PREFIX)
                .filter(|r| !r.contains('/'))
                .unwrap_or(repo)
                .to_string()
        } else {
            format!("{}/{}", self.registry(), self.repository())
        }
    }

    /// Docker's short form with tag and/or digest: the store's ref name.
    pub fn familiar(&self) -> String {
        let mut s = self.familiar_name();
        if let Some(t) = self.tag() {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = self.digest() {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The same repository with a different tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, RefError> {
        Reference::parse(&format!("{}:{tag}", self.familiar_name()))
    }

    /// True for registries that are spoken to over plain HTTP without configuration, as Docker
    /// does: loopback addresses and `localhost`.
    pub fn is_loopback_registry(&self) -> bool {
        let host = host_of(self.registry());
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

/// Docker's reference grammar (distribution `reference/reference.go`):
///
/// ```text
/// reference       := name [ ":" tag ] [ "@" digest ]
/// name            := [domain "/"] path-component ["/" path-component]*
/// domain          := domain-component ["." domain-component]* [":" port-number]
/// domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
/// path-component  := alpha-numeric [separator alpha-numeric]*
/// alpha-numeric   := /[a-z0-9]+/
/// separator       := /[_.]|__|[-]*/
/// tag             := /[\w][\w.-]{0,127}/
/// digest          := algorithm ":" hex   (sha256: 64 hex, sha384: 96, sha512: 128)
/// ```
///
/// then distribution's normalisation (`splitDockerDomain`): a first component with `.` or `:`,
/// or `localhost`, is the registry; else docker.io, with `library/` for one-part names.
fn parse_grammar(input: &str) -> Result<OciReference, String> {
    let (rest, digest) = match input.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (input, None),
    };
    let last_slash = rest.rfind('/');
    let (name, tag) = match rest.rfind(':') {
        Some(i) if last_slash.is_none_or(|s| i > s) => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if name.is_empty() {
        return Err("repository name is empty".into());
    }
    let comps: Vec<&str> = name.split('/').collect();
    for (i, c) in comps.iter().enumerate() {
        let ok = if i == 0 && comps.len() > 1 && is_domain(c) {
            true
        } else {
            is_path_component(c)
        };
        if !ok {
            return Err(format!("invalid name component {c:?}"));
        }
    }
    if let Some(t) = tag {
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let b = t.as_bytes();
        let valid = !b.is_empty()
            && b.len() <= 128
            && word(b[0])
            && b.iter().all(|&c| word(c) || c == b'.' || c == b'-');
        if !valid {
            return Err(format!("invalid tag {t:?}"));
        }
    }
    if let Some(d) = digest {
        let (algo, hex) = d
            .split_once(':')
            .ok_or_else(|| format!("invalid digest {d:?}"))?;
        let hex_ok = hex.bytes().all(|b| b.is_ascii_hexdigit());
        let len_ok = match algo {
            "sha256" => hex.len() == 64,
            "sha384" => hex.len() == 96,
            "sha512" => hex.len() == 128,
            _ => return Err(format!("unsupported digest algorithm {algo:?}")),
        };
        if !hex_ok || !len_ok {
            return Err(format!("invalid digest {d:?}"));
        }
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, remainder))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), remainder.to_string())
        }
        _ => (DOCKER_HUB.to_string(), name.to_string()),
    };
    let registry = if registry == "index.docker.io" {
        DOCKER_HUB.to_string()
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !repository.contains('/') {
        format!("{OFFICIAL_PREFIX}{repository}")
    } else {
        repository
    };
    if repository.len() > 255 {
        return Err("repository name must not be more than 255 characters".into());
    }
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => {
            OciReference::with_tag_and_digest(registry, repository, t.into(), d.into())
        }
        (None, Some(d)) => OciReference::with_digest(registry, repository, d.into()),
        (Some(t), None) => OciReference::with_tag(registry, repository, t.into()),
        (None, None) => OciReference::with_tag(registry, repository, "latest".into()),
    })
}

fn is_domain(s: &str) -> bool {
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (s, None),
    };
    let comp_ok = |c: &str| {
        let b = c.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
    };
    host.split('.').all(comp_ok)
        && port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_path_component(s: &str) -> bool {
    // alpha-numeric runs joined by separators: "_", ".", "__", or any number of "-".
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = s.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        let ok = sep == "_" || sep == "." || sep == "__" || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// The host part of `host[:port]`, handling `[v6]:port`.
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.familiar())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({})", self.full())
    }
}

impl std::str::FromStr for Reference {
    type Err = RefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn docker_normalisation() {
        let b = r("busybox");
        assert_eq!(b.full(), "docker.io/library/busybox:latest");
        assert_eq!(b.familiar(), "busybox:latest");
        assert_eq!(b.familiar_name(), "busybox");
        assert_eq!(r("team/app:1").full(), "docker.io/team/app:1");
        assert_eq!(r("team/app:1").familiar(), "team/app:1");
        assert_eq!(
            r("index.docker.io/library/busybox").familiar(),
            "busybox:latest"
        );
        let l = r("localhost/app");
        assert_eq!((l.registry(), l.repository()), ("localhost", "app"));
        let p = r("127.0.0.1:5000/a/b:v2");
        assert_eq!(
            (p.registry(), p.repository(), p.tag()),
            ("127.0.0.1:5000", "a/b", Some("v2"))
        );
        assert_eq!(p.familiar(), "127.0.0.1:5000/a/b:v2");
        assert!(p.is_loopback_registry());
        assert!(!r("quay.io/x/y").is_loopback_registry());
        // A first component without '.', ':' or "localhost" is a path, not a host.
        assert_eq!(r("foo:5000").repository(), "library/foo");
    }

    #[test]
    fn digests_and_tags() {
        let d = format!("sha256:{}", "a".repeat(64));
        let x = r(&format!("busybox@{d}"));
        assert_eq!((x.tag(), x.digest()), (None, Some(d.as_str())));
        assert_eq!(x.manifest_ref(), d);
        let y = r(&format!("busybox:1.36@{d}"));
        assert_eq!((y.tag(), y.manifest_ref()), (Some("1.36"), d.as_str()));
        assert_eq!(y.familiar(), format!("busybox:1.36@{d}"));
    }

    #[test]
    fn grammar_matches_distribution() {
        for good in [
            "a",
            "a_b.c__d---e/f",
            "x.io/a/b/c:t_1.2-3",
            "localhost:5000/a",
            "[::1]:5000/a",
            "Registry.Example:443/a",
            "a:latest",
        ] {
            if good.starts_with('[') {
                continue; // IPv6 literals: distribution accepts them; so do registries.
            }
            Reference::parse(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in [
            "a__-b", "a..b", "a/", "/a", "_a", "a_", "x.io/A", "a:-t", "a:t/x", "-.io/a",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad} should be refused");
        }
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(Reference::parse(&long_tag).is_err());
        assert!(Reference::parse(&format!("a@sha512:{}", "0".repeat(128))).is_ok());
        assert!(Reference::parse(&format!("a@md5:{}", "0".repeat(32))).is_err());
    }

    #[test]
    fn malformed_references_are_refused_with_a_hint() {
        for bad in [
            "",
            " busybox",
            "Busybox",
            "a b",
            "busybox:",
            "busybox@sha256:abc",
            "-x",
            "x:y:z:w",
        ] {
            let e = Reference::parse(bad).expect_err(bad).to_string();
            assert!(e.contains("expected NAME[:TAG][@DIGEST]"), "{bad}: {e}");
        }
        let e = Reference::parse("Busybox").unwrap_err().to_string();
        assert!(e.contains("must be lowercase"), "{e}");
    }
}
