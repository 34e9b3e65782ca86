//! The events of what a container's start sets up and its end releases, in moby's order:
//! before `start`, a network `connect` for each network it is on (`initializeNetworking`)
//! and a volume `mount` for each volume (`setupMounts`); before `die`, a `disconnect` for
//! each network (`releaseNetwork`) and an `unmount` for each volume (`UnmountVolumes`), both
//! from moby's `Cleanup`. berth keeps the endpoints and the mounts from create to remove, but
//! Docker's event log speaks of the container's runs, so these come from its start and exit.

use crate::paths::Paths;
use crate::protocol::Record;

/// Emits the start's (`up`) or the end's attachment events of `record`.
pub(crate) fn emit(paths: &Paths, record: &Record, up: bool) {
    if let Some(s) = &record.network {
        let joined = s.connected.iter().map(|a| a.network.clone());
        let action = if up { "connect" } else { "disconnect" };
        for net in s.network.clone().into_iter().chain(joined) {
            crate::net::networks::emit_endpoint(paths, &net, &record.id, action);
        }
    }
    if let Some(mounts) = &record.mounts {
        let action = if up { "mount" } else { "unmount" };
        crate::volume::stage::emit_mounts(paths, &record.id, mounts, action);
    }
}
