//! Image references, normalised by Docker's rules.
//!
//! Parsing is oci-spec's (`oci_spec::distribution::Reference`, a port of distribution's
//! `reference` package). This module adds what berth needs around it: Docker's "familiar"
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
        match OciReference::try_from(input) {
            Ok(inner) => {
                // distribution treats a first component with upper case as a host name; a
                // host name is never allowed to be the whole reference.
                if inner.repository().is_empty() {
                    return Err(invalid("repository name is empty".into()));
                }
                Ok(Reference { inner })
            }
            Err(e) => {
                let name_part = input.split(['@']).next().unwrap_or(input);
                let lower_ok = name_part != name_part.to_lowercase()
                    && OciReference::try_from(input.to_lowercase().as_str()).is_ok();
                if lower_ok {
                    Err(invalid(format!(
                        "repository name must be lowercase (try {:?})",
                        input.to_lowercase()
                    )))
                } else {
                    Err(invalid(e.to_string()))
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
