//! What berth-netns writes into a bundle's config.json: the network namespace to join (none
//! for host mode), the hostname, the bind mounts of /etc/hostname, /etc/hosts and
//! /etc/resolv.conf, and the environment (HOSTNAME and the link variables).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxNamespace, LinuxNamespaceBuilder, LinuxNamespaceType, MountBuilder, Spec,
};

use super::error::{NetError, Result};
use super::links;

/// The edits, decided by the set-up.
#[derive(Debug, Clone, Default)]
pub struct SpecEdits {
    /// `Some(path)`: join that namespace; `None`: share the host's (no network namespace).
    pub netns: Option<PathBuf>,
    pub hostname: String,
    /// (container path, host file) bind mounts.
    pub files: Vec<(&'static str, PathBuf)>,
    pub env: Vec<String>,
}

pub fn apply(bundle: &Path, e: &SpecEdits) -> Result<()> {
    crate::ocispec::edit(bundle, |spec: &mut Spec| -> Result<()> {
        edit(spec, e);
        Ok(())
    })
}

fn edit(spec: &mut Spec, e: &SpecEdits) {
    if let Some(linux) = spec.linux_mut() {
        let mut ns: Vec<LinuxNamespace> = linux
            .namespaces()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.typ() != LinuxNamespaceType::Network)
            .collect();
        if let Some(path) = &e.netns {
            ns.push(
                LinuxNamespaceBuilder::default()
                    .typ(LinuxNamespaceType::Network)
                    .path(path.clone())
                    .build()
                    .expect("a namespace with a type and a path is valid"),
            );
        }
        linux.set_namespaces(Some(ns));
    }
    if !e.hostname.is_empty() {
        spec.set_hostname(Some(e.hostname.clone()));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (dest, src) in &e.files {
        mounts.retain(|m| m.destination() != Path::new(dest));
        mounts.push(
            MountBuilder::default()
                .destination(*dest)
                .typ("bind")
                .source(src.clone())
                .options(vec!["rbind".to_string(), "rprivate".to_string()])
                .build()
                .expect("a bind mount with a destination is valid"),
        );
    }
    spec.set_mounts(Some(mounts));
    if let Some(p) = spec.process_mut() {
        let mut env = p.env().clone().unwrap_or_default();
        // The user's own HOSTNAME (-e) wins, as in Docker.
        links::merge_env(&mut env, &e.env);
        p.set_env(Some(env));
    }
}

/// Fails unless `bundle` holds a config.json we can edit (checked before any set-up work).
pub fn check(bundle: &Path) -> Result<()> {
    crate::ocispec::load(bundle)
        .map(drop)
        .map_err(NetError::from)
}
