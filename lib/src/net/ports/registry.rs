//! The machine-wide host-port registry (`<host dir>/ports.json`, under `ports.lock`): one
//! entry per run of consecutive host ports a container holds, so a 1,000-port range is one
//! entry, and checking a wanted port against the others' costs a look-up, not a scan of every
//! port held.

use std::collections::HashMap;
use std::fs;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Wanted;
use crate::error::IoError;
use crate::net::error::{NetError, Result};
use crate::protocol::PortBinding;
use crate::store::{Lock, atomic};

/// Host ports held by a container: `host_port`, through `last_port` for a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub proto: String,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    /// The run's last port (absent for one port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_port: Option<u16>,
    pub id: String,
    /// The berth root the container lives in.
    pub root: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    reservations: Vec<Reservation>,
}

fn clash(a_ip: Ipv4Addr, b_ip: Ipv4Addr) -> bool {
    a_ip == b_ip || a_ip.is_unspecified() || b_ip.is_unspecified()
}

/// The machine-wide port registry, held locked while open.
pub struct Ports {
    path: PathBuf,
    reg: Registry,
    _lock: Lock,
}

impl Ports {
    pub fn open(host_dir: &Path) -> Result<Ports> {
        let lock = Lock::exclusive(&host_dir.join("ports.lock"))?;
        let path = host_dir.join("ports.json");
        let reg = match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Registry::default(),
            Err(e) => {
                return Err(IoError {
                    op: "read",
                    path,
                    source: e,
                }
                .into());
            }
        };
        let mut p = Ports {
            path,
            reg,
            _lock: lock,
        };
        // Reservations of containers that no longer exist are left by crashes: drop them.
        p.reg
            .reservations
            .retain(|r| r.root.join("containers").join(&r.id).is_dir());
        Ok(p)
    }

    pub fn save(&self) -> Result<()> {
        Ok(atomic::write_json_volatile(&self.path, &self.reg)?)
    }

    /// Drops every reservation of container `id`. Returns whether any was held.
    pub fn release(&mut self, id: &str) -> bool {
        let before = self.reg.reservations.len();
        self.reg.reservations.retain(|r| r.id != id);
        before != self.reg.reservations.len()
    }

    fn holder(&self, proto: &str, ip: Ipv4Addr, port: u16) -> Option<&Reservation> {
        self.reg.reservations.iter().find(|r| {
            r.proto == proto
                && (r.host_port..=r.last_port.unwrap_or(r.host_port)).contains(&port)
                && clash(r.host_ip, ip)
        })
    }

    /// Chooses host ports for `wanted` and reserves them for `id`, or fails without reserving
    /// anything. `name_of` turns a holder into something a user recognises.
    pub fn reserve(
        &mut self,
        wanted: &[Wanted],
        id: &str,
        root: &Path,
        name_of: &dyn Fn(&Reservation) -> String,
    ) -> Result<Vec<PortBinding>> {
        // This call's own choices: (proto, port) -> the addresses it went to.
        let mut taken: HashMap<(&str, u16), Vec<Ipv4Addr>> = HashMap::new();
        let mut out = Vec::new();
        let (lo, hi) = ephemeral_range();
        for w in wanted {
            let free = |ports: &Ports, taken: &HashMap<(&str, u16), Vec<Ipv4Addr>>, port: u16| {
                ports.holder(w.proto, w.host_ip, port).is_none()
                    && !taken
                        .get(&(w.proto, port))
                        .is_some_and(|ips| ips.iter().any(|ip| clash(*ip, w.host_ip)))
            };
            let port = match w.host_range {
                Some((a, b)) if a == b => {
                    if let Some(r) = self.holder(w.proto, w.host_ip, a) {
                        return Err(NetError::Conflict(format!(
                            "port {}:{a}/{} is already allocated by container {} (choose another host port, or remove that container)",
                            w.host_ip,
                            w.proto,
                            name_of(r)
                        )));
                    }
                    if !free(self, &taken, a) {
                        return Err(NetError::Conflict(format!(
                            "port {}:{a}/{} is published twice (give each -p its own host port)",
                            w.host_ip, w.proto
                        )));
                    }
                    host_free(w.host_ip, a, w.proto)?;
                    a
                }
                Some((a, b)) => (a..=b)
                    .find(|p| free(self, &taken, *p) && host_free(w.host_ip, *p, w.proto).is_ok())
                    .ok_or_else(|| {
                        NetError::Conflict(format!(
                            "no free host port in {}:{a}-{b}/{} (every port of the range is in use)",
                            w.host_ip, w.proto
                        ))
                    })?,
                None => {
                    let span = (hi - lo) as u32 + 1;
                    let start = random_u32() % span;
                    (0..span)
                        .map(|i| lo + ((start + i) % span) as u16)
                        .find(|p| {
                            free(self, &taken, *p) && host_free(w.host_ip, *p, w.proto).is_ok()
                        })
                        .ok_or_else(|| {
                            NetError::Conflict(format!(
                                "no free host port left in {lo}-{hi} for {}/{}",
                                w.container_port, w.proto
                            ))
                        })?
                }
            };
            taken.entry((w.proto, port)).or_default().push(w.host_ip);
            out.push(PortBinding {
                host_ip: w.host_ip.to_string(),
                host_port: port,
                container_port: w.container_port,
                protocol: w.proto.to_string(),
            });
        }
        for b in &out {
            let ip = b.host_ip.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
            if let Some(r) = self.reg.reservations.last_mut()
                && r.id == id
                && r.proto == b.protocol
                && r.host_ip == ip
                && r.last_port.unwrap_or(r.host_port).checked_add(1) == Some(b.host_port)
            {
                r.last_port = Some(b.host_port);
                continue;
            }
            self.reg.reservations.push(Reservation {
                proto: b.protocol.clone(),
                host_ip: ip,
                host_port: b.host_port,
                last_port: None,
                id: id.to_string(),
                root: root.to_path_buf(),
            });
        }
        Ok(out)
    }
}

/// Fails if a host process holds `ip:port` (or the address is not the host's).
fn host_free(ip: Ipv4Addr, port: u16, proto: &str) -> Result<()> {
    let addr = SocketAddrV4::new(ip, port);
    // std's TcpListener sets SO_REUSEADDR, so only a listening socket (not a TIME_WAIT
    // leftover) makes the bind fail, as it would for a real server.
    let r = if proto == "udp" {
        UdpSocket::bind(addr).map(drop)
    } else {
        TcpListener::bind(addr).map(drop)
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(NetError::Conflict(format!(
            "port {ip}:{port}/{proto} is already in use by a process on the host (stop it, or choose another host port)"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => Err(NetError::BadArgs(
            format!("cannot publish on {ip}: it is not an address of this host"),
        )),
        Err(e) => Err(NetError::Conflict(format!(
            "cannot bind {ip}:{port}/{proto} to check it is free: {e}"
        ))),
    }
}

/// The kernel's ephemeral port range, where dynamic host ports come from (as Docker does).
fn ephemeral_range() -> (u16, u16) {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .filter(|(a, b)| a <= b && *a > 0)
        .unwrap_or((32768, 60999))
}

fn random_u32() -> u32 {
    let mut b = [0u8; 4];
    crate::state::ids::fill_random(&mut b);
    u32::from_ne_bytes(b)
}
