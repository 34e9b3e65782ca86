//! Container networking (berth-netns): modes none, bridge, host and container:ID; user-defined
//! bridge networks; published ports; the hostname, hosts and resolv.conf files; legacy links.
//! See DESIGN.md, "Networking", for the files, chains and tags this module owns.
//!
//! Nothing here starts an async runtime: netlink is spoken over a blocking socket
//! (`netlink`), and firewall rules go through one `iptables-restore` per change (`firewall`).

pub mod attach;
pub mod detach;
pub mod dnsfiles;
mod error;
pub mod firewall;
pub mod host;
pub mod ipam;
pub mod links;
pub mod netlink;
pub mod netns;
pub mod networks;
pub mod ports;
pub mod spec;

pub use attach::{NetOpts, attach};
pub use detach::detach;
pub use error::NetError;

use std::path::Path;

use crate::error::{IoContext, IoError};
use crate::paths::Paths;
use crate::state::Containers;

/// Replaces `path` atomically (temporary file + rename) but without fsync: for files that
/// every set-up regenerates and that describe state which does not survive a crash anyway
/// (hosts, resolv.conf, hostname, the IPAM round-robin hint). Two fsyncs per file were most of
/// a set-up's time on a busy disk.
pub(crate) fn write_quick(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let tmp = crate::store::atomic::temp_path_for(path);
    std::fs::write(&tmp, bytes).with_path("write", &tmp)?;
    std::fs::rename(&tmp, path)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })
        .with_path("rename into place", path)
}

/// `berth port CONTAINER [PORT[/PROTO]]`: the container's published ports, as `docker port`
/// prints them.
pub fn port_output(paths: &Paths, container: &str, filter: Option<&str>) -> crate::Result<String> {
    let containers = Containers::new(paths);
    let id = containers.resolve(container)?;
    let record = containers.load(&id)?;
    let bindings = record.network.map(|n| n.ports).unwrap_or_default();
    Ok(ports::format_ports(&bindings, filter, container)?)
}
