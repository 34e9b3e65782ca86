//! Capabilities: names as the OCI spec and Docker spell them, Docker's add/drop rules
//! (including ALL), and applying the five sets in the container's init.

use std::collections::BTreeSet;

use caps::{CapSet, Capability, CapsHashSet};

use super::{RuntimeError, defaults};

/// `CAP_NET_ADMIN` for `net_admin`, `NET_ADMIN` or `CAP_NET_ADMIN`.
pub fn canonical(name: &str) -> String {
    let up = name.trim().to_ascii_uppercase();
    if up.starts_with("CAP_") {
        up
    } else {
        format!("CAP_{up}")
    }
}

pub fn parse(name: &str) -> Result<Capability, RuntimeError> {
    canonical(name).parse::<Capability>().map_err(|_| {
        RuntimeError::BadArgs(format!(
            "unknown capability {name:?} (see capabilities(7) for the names)"
        ))
    })
}

/// Every capability berth itself may grant (its own bounding set), by name: what
/// `--privileged` and `--cap-add ALL` mean.
pub fn all_names() -> Vec<String> {
    let mut v: Vec<Capability> = caps::read(None, CapSet::Bounding)
        .unwrap_or_else(|_| caps::runtime::thread_all_supported())
        .into_iter()
        .collect();
    v.sort_by_key(|c| c.index());
    v.into_iter().map(|c| c.to_string()).collect()
}

/// Docker's rule: start from `base` (or everything with `--cap-add ALL`, or nothing with
/// `--cap-drop ALL`), then drop, then add.
pub fn docker_set(
    base: &[String],
    add: &[String],
    drop: &[String],
    privileged: bool,
) -> Result<Vec<String>, RuntimeError> {
    if privileged {
        return Ok(all_names());
    }
    let is_all = |s: &String| s.eq_ignore_ascii_case("all") || s.eq_ignore_ascii_case("cap_all");
    let mut set: BTreeSet<String> = if add.iter().any(is_all) {
        all_names().into_iter().collect()
    } else if drop.iter().any(is_all) {
        BTreeSet::new()
    } else {
        base.iter().map(|c| canonical(c)).collect()
    };
    for d in drop.iter().filter(|d| !is_all(d)) {
        parse(d)?;
        set.remove(&canonical(d));
    }
    if !add.iter().any(is_all) {
        for a in add {
            parse(a)?;
            set.insert(canonical(a));
        }
    }
    // Keep Docker's order for the defaults, sorted by number otherwise.
    let mut v: Vec<Capability> = set.iter().map(|n| parse(n)).collect::<Result<_, _>>()?;
    v.sort_by_key(|c| c.index());
    Ok(v.into_iter().map(|c| c.to_string()).collect())
}

/// Docker's default list, as owned strings.
pub fn docker_default() -> Vec<String> {
    defaults::CAPABILITIES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Names to a set, silently skipping names this kernel does not know (runc does the same, so
/// a config written for a newer kernel still runs).
pub fn to_set(names: Option<&oci_spec::runtime::Capabilities>) -> CapsHashSet {
    let mut s = CapsHashSet::new();
    if let Some(names) = names {
        for n in names {
            if let Ok(c) = canonical(&n.to_string()).parse::<Capability>() {
                s.insert(c);
            }
        }
    }
    s
}

/// The five sets of a process, resolved.
pub struct Sets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

impl Sets {
    pub fn from_spec(c: Option<&oci_spec::runtime::LinuxCapabilities>) -> Sets {
        Sets {
            bounding: to_set(c.and_then(|c| c.bounding().as_ref())),
            effective: to_set(c.and_then(|c| c.effective().as_ref())),
            permitted: to_set(c.and_then(|c| c.permitted().as_ref())),
            inheritable: to_set(c.and_then(|c| c.inheritable().as_ref())),
            ambient: to_set(c.and_then(|c| c.ambient().as_ref())),
        }
    }

    /// Drops everything outside the bounding set (needs CAP_SETPCAP, so before the uid
    /// changes).
    pub fn apply_bounding(&self) -> Result<(), String> {
        for c in caps::all() {
            if !self.bounding.contains(&c) {
                // EINVAL: a capability this kernel does not have.
                match caps::drop(None, CapSet::Bounding, c) {
                    Ok(()) => {}
                    Err(e) if !caps::runtime::thread_all_supported().contains(&c) => {
                        let _ = e;
                    }
                    Err(e) => return Err(format!("dropping {c} from the bounding set: {e}")),
                }
            }
        }
        Ok(())
    }

    /// Sets the other four (after the uid change, with PR_SET_KEEPCAPS held).
    pub fn apply_rest(&self) -> Result<(), String> {
        caps::set(None, CapSet::Effective, &self.effective)
            .and_then(|()| caps::set(None, CapSet::Permitted, &self.permitted))
            .and_then(|()| caps::set(None, CapSet::Inheritable, &self.inheritable))
            .and_then(|()| caps::set(None, CapSet::Effective, &self.effective))
            .map_err(|e| format!("setting capabilities: {e}"))?;
        caps::clear(None, CapSet::Ambient).map_err(|e| format!("clearing ambient: {e}"))?;
        for c in &self.ambient {
            // A capability that is not also inheritable cannot be ambient; runc skips it
            // rather than failing (runc's default config lists ambient caps that way).
            let _ = caps::raise(None, CapSet::Ambient, *c);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_default_is_a80425fb() {
        let set = docker_set(&docker_default(), &[], &[], false).unwrap();
        let mask: u64 = set.iter().map(|n| parse(n).unwrap().bitmask()).sum();
        assert_eq!(mask, 0xa80425fb);
    }

    #[test]
    fn add_drop_and_all() {
        let base = docker_default();
        let s = docker_set(&base, &["net_admin".into()], &["CHOWN".into()], false).unwrap();
        assert!(s.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!s.contains(&"CAP_CHOWN".to_string()));
        let s = docker_set(&base, &["kill".into()], &["ALL".into()], false).unwrap();
        assert_eq!(s, vec!["CAP_KILL".to_string()]);
        let s = docker_set(&base, &["ALL".into()], &["kill".into()], false).unwrap();
        assert!(s.contains(&"CAP_SYS_ADMIN".to_string()) && !s.contains(&"CAP_KILL".to_string()));
        assert!(docker_set(&base, &["bogus".into()], &[], false).is_err());
    }
}
