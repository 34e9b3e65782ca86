//! Finding an image in the store: a user's argument (a reference, a digest or an image id
//! prefix) to its ref, the platform manifest behind a multi-platform ref, and the blobs an
//! entry of `index.json` reaches.

use oci_spec::image::Descriptor;

use super::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ImageStore, PlatformSpec, Result, StoreError,
    StoredImage, is_index_type, is_manifest_type,
};
use crate::reference::Reference;

impl ImageStore {
    /// Resolves a user's image argument: a reference (`busybox`, `busybox:1`, `x@sha256:..`),
    /// or an image id (`sha256:<config hex>`, or a unique prefix of its hex, as Docker allows).
    /// Multi-platform refs resolve to the manifest for `platform` (default: the host's).
    pub fn image(&self, arg: &str, platform: Option<&PlatformSpec>) -> crate::Result<StoredImage> {
        let refs = self.refs()?;
        // Fast path: a stored ref name as given, or with Docker's default tag. Parsing a
        // reference compiles oci-spec's regexes (tens of milliseconds), which creating a
        // container from a cached image should not pay.
        let exact = refs.iter().find(|(n, _)| {
            n == arg || (!arg.contains([':', '@']) && n.strip_suffix(":latest") == Some(arg))
        });
        let target = match exact {
            Some((n, d)) => Some((n.clone(), d.clone())),
            None => self.parse_and_find(arg, &refs),
        };
        let (name, target) = match target {
            Some(t) => t,
            None => self
                .find_by_id(arg, &refs)?
                .ok_or_else(|| StoreError::NoSuchImage(arg.to_string()))?,
        };
        let manifest_desc = self.platform_manifest(&name, &target, platform)?;
        let manifest = self.read_manifest(manifest_desc.digest().as_ref())?;
        let config = self.read_config(manifest.config().digest().as_ref())?;
        Ok(StoredImage {
            name,
            target,
            manifest_desc,
            manifest,
            config,
        })
    }

    fn parse_and_find(
        &self,
        arg: &str,
        refs: &[(String, Descriptor)],
    ) -> Option<(String, Descriptor)> {
        match Reference::parse(arg) {
            Ok(r) => refs
                .iter()
                .find(|(n, _)| *n == r.familiar())
                .or_else(|| {
                    // `x@sha256:m` also matches any ref of x whose target is that manifest.
                    let d = r.digest()?;
                    refs.iter().find(|(n, desc)| {
                        desc.digest().to_string() == d
                            && Reference::parse(n)
                                .is_ok_and(|n| n.familiar_name() == r.familiar_name())
                    })
                })
                .map(|(n, d)| (n.clone(), d.clone())),
            Err(_) => None,
        }
    }

    /// Finds a ref whose image id (config digest) or manifest digest starts with `arg`.
    fn find_by_id(
        &self,
        arg: &str,
        refs: &[(String, Descriptor)],
    ) -> Result<Option<(String, Descriptor)>> {
        let hex = arg.strip_prefix("sha256:").unwrap_or(arg);
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        for (name, desc) in refs {
            let Ok(m) = self.platform_manifest(name, desc, None) else {
                continue;
            };
            let manifest_hex = crate::paths::digest_hex(m.digest().digest()).to_string();
            let config_hex = self
                .read_manifest(m.digest().as_ref())
                .map(|man| man.config().digest().digest().to_string())
                .unwrap_or_default();
            if config_hex.starts_with(hex) || manifest_hex.starts_with(hex) {
                return Ok(Some((name.clone(), desc.clone())));
            }
        }
        Ok(None)
    }

    /// The platform manifest behind `target`: itself if it is a manifest, or the index entry
    /// that matches `platform`.
    pub fn platform_manifest(
        &self,
        name: &str,
        target: &Descriptor,
        platform: Option<&PlatformSpec>,
    ) -> Result<Descriptor> {
        let mt = target.media_type().to_string();
        match mt.as_str() {
            "application/vnd.oci.image.manifest.v1+json" | DOCKER_MANIFEST => Ok(target.clone()),
            "application/vnd.oci.image.index.v1+json" | DOCKER_MANIFEST_LIST => {
                let index = self.read_index_blob(target.digest().as_ref())?;
                let want = platform.cloned().unwrap_or_else(PlatformSpec::host);
                index
                    .manifests()
                    .iter()
                    .find(|m| m.platform().as_ref().is_some_and(|p| want.matches(p)))
                    .cloned()
                    .ok_or_else(|| StoreError::NoPlatform {
                        reference: name.to_string(),
                        platform: want.to_string(),
                        available: index
                            .manifests()
                            .iter()
                            .filter_map(|m| m.platform().as_ref().map(PlatformSpec::from_oci))
                            .map(|p| p.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
            other => Err(StoreError::UnsupportedMediaType(
                name.to_string(),
                other.to_string(),
            )),
        }
    }

    /// Every blob digest reachable from an entry of `index.json`, named or dangling (indexes,
    /// manifests, configs, layers).
    pub fn reachable_blobs(&self) -> Result<std::collections::BTreeSet<String>> {
        let stack: Vec<Descriptor> = self.index()?.manifests().to_vec();
        self.reachable_from(stack)
    }

    /// Every blob digest reachable from `roots`.
    pub fn reachable_from(
        &self,
        roots: Vec<Descriptor>,
    ) -> Result<std::collections::BTreeSet<String>> {
        let mut seen = std::collections::BTreeSet::new();
        let mut stack = roots;
        while let Some(d) = stack.pop() {
            let digest = d.digest().to_string();
            if !seen.insert(digest.clone()) || !self.has_blob(&digest) {
                continue;
            }
            let mt = d.media_type().to_string();
            if is_index_type(&mt) {
                if let Ok(i) = self.read_index_blob(&digest) {
                    stack.extend(i.manifests().iter().cloned());
                }
            } else if is_manifest_type(&mt)
                && let Ok(m) = self.read_manifest(&digest)
            {
                seen.insert(m.config().digest().to_string());
                seen.extend(m.layers().iter().map(|l| l.digest().to_string()));
            }
        }
        Ok(seen)
    }
}
