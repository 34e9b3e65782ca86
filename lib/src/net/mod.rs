//! Container networking (berth-netns): modes none, bridge, host and container:ID; user-defined
//! bridge networks; published ports; the hostname, hosts and resolv.conf files; legacy links;
//! the embedded DNS resolver of user-defined networks (`dns`).
//! See DESIGN.md, "Networking", for the files, chains and tags this module owns.
//!
//! Nothing here starts an async runtime: netlink is spoken over a blocking socket
//! (`netlink`), and firewall rules go through one `iptables-restore` per change (`firewall`).

pub mod attach;
pub mod connect;
pub mod detach;
pub mod dns;
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

pub use attach::{NetOpts, attach, attach_early};
pub use connect::{connect, disconnect};
pub use detach::{detach, release};
pub use error::NetError;

use crate::paths::Paths;
use crate::state::Containers;

/// `berth port CONTAINER [PORT[/PROTO]]`: the container's published ports, as `docker port`
/// prints them.
pub fn port_output(paths: &Paths, container: &str, filter: Option<&str>) -> crate::Result<String> {
    let containers = Containers::new(paths);
    let id = containers.resolve(container)?;
    let record = containers.load(&id)?;
    let bindings = record.network.map(|n| n.ports).unwrap_or_default();
    Ok(ports::format_ports(&bindings, filter, container)?)
}
