//! The record's mounts in each of the shapes inspect shows them: `HostConfig.Binds`,
//! `HostConfig.Tmpfs`, `HostConfig.VolumesFrom`, `.Mounts`, `.Volumes` and `Config.Volumes`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::MountJson;
use crate::protocol::{ContainerConfig, MountEntry, MountKind};

/// The record's mounts in each of the shapes inspect shows them.
pub(super) struct MountViews {
    /// `HostConfig.Binds`: what the user typed with `-v` (named volumes and binds).
    pub binds: Vec<String>,
    /// `HostConfig.Tmpfs`.
    pub tmpfs: BTreeMap<String, String>,
    /// `HostConfig.VolumesFrom`, in the order given.
    pub volumes_from: Vec<String>,
    /// `.Mounts`.
    pub mounts: Vec<MountJson>,
    /// The legacy top-level `.Volumes`: destination to host source.
    pub legacy_volumes: BTreeMap<String, String>,
    /// `Config.Volumes`: the image's VOLUMEs and `-v /path` anonymous volumes.
    pub config_volumes: BTreeMap<String, Value>,
}

impl MountViews {
    pub(super) fn of(mounts: &[MountEntry], config: &ContainerConfig) -> MountViews {
        let binds = mounts
            .iter()
            .filter(|m| m.origin == "-v" && !m.anonymous && m.kind != MountKind::Tmpfs)
            .map(bind_spec)
            .collect();
        let tmpfs = mounts
            .iter()
            .filter(|m| m.origin == "--tmpfs")
            .map(|m| (m.destination.clone(), m.options.clone()))
            .collect();
        let mut volumes_from: Vec<String> = Vec::new();
        for m in mounts {
            if let Some(src) = m.origin.strip_prefix("volumes-from:")
                && !volumes_from.iter().any(|v| v == src)
            {
                volumes_from.push(src.to_string());
            }
        }
        let legacy_volumes = mounts
            .iter()
            .filter(|m| m.kind != MountKind::Tmpfs)
            .map(|m| (m.destination.clone(), m.source.display().to_string()))
            .collect();
        let mut config_volumes: BTreeMap<String, Value> = config
            .volumes
            .iter()
            .map(|v| (v.clone(), Value::Object(Default::default())))
            .collect();
        for m in mounts.iter().filter(|m| m.anonymous && m.origin == "-v") {
            config_volumes.insert(m.destination.clone(), Value::Object(Default::default()));
        }
        MountViews {
            binds,
            tmpfs,
            volumes_from,
            mounts: mounts
                .iter()
                .filter(|m| m.origin != "--tmpfs")
                .map(mount_json)
                .collect(),
            legacy_volumes,
            config_volumes,
        }
    }
}

/// One `HostConfig.Binds` entry: what the user typed, as Docker keeps it.
fn bind_spec(m: &MountEntry) -> String {
    if !m.spec.is_empty() {
        return m.spec.clone();
    }
    let src = match (&m.kind, &m.name) {
        (MountKind::Volume, Some(n)) => n.clone(),
        _ => m.source.display().to_string(),
    };
    if m.mode.is_empty() {
        format!("{src}:{}", m.destination)
    } else {
        format!("{src}:{}:{}", m.destination, m.mode)
    }
}

/// One `.Mounts` entry.
fn mount_json(m: &MountEntry) -> MountJson {
    MountJson {
        kind: match m.kind {
            MountKind::Volume => "volume",
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        }
        .into(),
        name: m.name.clone().filter(|_| m.kind == MountKind::Volume),
        source: m.source.display().to_string(),
        destination: m.destination.clone(),
        driver: (m.kind == MountKind::Volume).then(|| "local".to_string()),
        mode: m.mode.clone(),
        rw: m.rw,
        propagation: if m.propagation.is_empty() && m.kind == MountKind::Bind {
            "rprivate".into()
        } else {
            m.propagation.clone()
        },
    }
}
