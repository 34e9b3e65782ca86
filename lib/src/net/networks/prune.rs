//! `network prune`: every user-defined network no container is attached to, as moby's
//! `localNetworksPrune` does, and (without filters) the idle default bridge device and its
//! rules, which berth keeps up between containers as dockerd keeps docker0 (it has no daemon
//! whose stop would take them down). The pre-defined `bridge`, `host` and `none` are never removed;
//! a network with a container (running or not: berth holds its address from create to rm)
//! is in use, and [`super::remove`] refuses it under the network's lock, so a container
//! attaching meanwhile wins.

use super::{Network, list, predefined, remove};
use crate::container::PruneFilters;
use crate::net::error::{NetError, Result};
use crate::paths::Paths;

/// Removes the unused user-defined networks that pass `filters` (`until`, `label`,
/// `label!`). Returns their names, in name order.
pub fn prune(paths: &Paths, filters: &PruneFilters) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for net in list(paths)? {
        if predefined(&net.name).is_some() || !admitted(filters, &net) {
            continue;
        }
        match remove(paths, &net.name) {
            Ok(n) => removed.push(n.name),
            // In use, or removed by someone else meanwhile: not ours to prune.
            Err(NetError::NetworkInUse { .. } | NetError::NoSuchNetwork(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if filters.is_empty() {
        // The default network's bridge and rules, kept up between containers, go too while
        // no container is attached (the network itself is pre-defined and stays).
        let default = super::get(paths, super::DEFAULT_NETWORK)?;
        crate::net::detach::idle_bridge_down(paths, &default)?;
    }
    Ok(removed)
}

fn admitted(filters: &PruneFilters, net: &Network) -> bool {
    filters.admits(Some(net.created), Some(&net.labels))
}
