//! What berth-netns writes into a bundle's config.json: the network namespace to join (none
//! for host mode), the hostname, the bind mounts of /etc/hostname, /etc/hosts and
//! /etc/resolv.conf, and the environment (HOSTNAME and the link variables). Docker's network
//! sysctls are not in it: berth-netns writes them into the namespaces it makes
//! (`netns::create`), which works with `--userns` too.

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
        // An older berth-netns put Docker's network sysctls here for the init to write (it
        // cannot with --userns): a re-run of the stage takes them out. The namespace got them
        // from berth-netns already (`netns::create`), and a host or joined one must not.
        let mut sysctl = linux.sysctl().clone().unwrap_or_default();
        for (k, v) in crate::bundle::defaults::NETWORK_SYSCTLS {
            if sysctl.get(k).map(String::as_str) == Some(v) {
                sysctl.remove(k);
            }
        }
        linux.set_sysctl((!sysctl.is_empty()).then_some(sysctl));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sysctl(spec: &Spec) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = spec
            .linux()
            .as_ref()
            .and_then(|l| l.sysctl().clone())
            .unwrap_or_default()
            .into_iter()
            .collect();
        v.sort();
        v
    }

    #[test]
    fn network_sysctls_are_not_left_for_the_init() {
        let mut spec = Spec::default();
        let mut given = std::collections::HashMap::new();
        // What an older berth-netns wrote, and one of the config's own.
        given.insert("net.ipv4.ip_unprivileged_port_start".into(), "0".into());
        given.insert("net.ipv4.ping_group_range".into(), "0 2147483647".into());
        given.insert("net.ipv4.ip_forward".into(), "1".into());
        spec.linux_mut().as_mut().unwrap().set_sysctl(Some(given));
        let own = SpecEdits {
            netns: Some("/run/berth/netns/x".into()),
            ..Default::default()
        };
        edit(&mut spec, &own);
        assert_eq!(sysctl(&spec), [("net.ipv4.ip_forward".into(), "1".into())]);
        edit(&mut spec, &SpecEdits::default());
        assert_eq!(sysctl(&spec), [("net.ipv4.ip_forward".into(), "1".into())]);
    }
}
