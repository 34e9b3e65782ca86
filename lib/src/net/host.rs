//! Machine-wide network state, shared by every berth root on the host (the kernel has one
//! ip_forward and one set of firewall tables, whatever `--root` says):
//!
//! ```text
//! /run/berth-net/lock               held while a bridge (and its rules) comes or goes
//! /run/berth-net/ports.json         host-port reservations (see `ports`)
//! /run/berth-net/ip_forward.orig    the value ip_forward had before berth turned it on
//! /run/berth-net/bridge-nf.orig     the same for net.bridge.bridge-nf-call-iptables
//! /run/berth-net/ip6_forward.orig   the same for net.ipv6.conf.all.forwarding (first --ipv6 bridge)
//! /run/berth-net/bridge-nf6.orig    and for net.bridge.bridge-nf-call-ip6tables (--ipv6, icc=false)
//! /run/berth-net/chains             present while berth's chains may exist; its text names
//!                                   their layout, so rules an older berth left are upgraded
//! ```
//!
//! berth's bridges carry the alias `berth-net:<network id>`, so the kernel itself says whether
//! any berth network is up: when the last one goes, berth's chains and jumps are removed and
//! the sysctls it changed are put back.

use std::fs;
use std::path::{Path, PathBuf};

use super::error::{NetError, Result};
use super::firewall::{self, Batch};
use super::netlink::Netlink;
use crate::error::{IoContext, IoError};
use crate::store::Lock;

/// `/run/berth-net`.
pub fn host_dir() -> PathBuf {
    PathBuf::from("/run/berth-net")
}

/// The machine-wide lock around bringing a bridge up or down.
pub fn lock() -> Result<Lock> {
    Ok(Lock::exclusive(&host_dir().join("lock"))?)
}

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const BRIDGE_NF: &str = "/proc/sys/net/bridge/bridge-nf-call-iptables";
const IP6_FORWARD: &str = "/proc/sys/net/ipv6/conf/all/forwarding";
const BRIDGE_NF6: &str = "/proc/sys/net/bridge/bridge-nf-call-ip6tables";

/// The alias prefix of berth's bridges.
pub const BRIDGE_ALIAS_PREFIX: &str = "berth-net:";

/// Names of the berth bridges that exist, other than `except`.
pub fn berth_bridges(nl: &mut Netlink, except: &str) -> Result<Vec<String>> {
    Ok(bridge_tags(nl, except)?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
}

/// The berth bridges that exist, other than `except`, with their alias (their network's tag).
fn bridge_tags(nl: &mut Netlink, except: &str) -> Result<Vec<(String, String)>> {
    Ok(nl
        .links()
        .map_err(NetError::netlink("list links"))?
        .into_iter()
        .filter(|l| {
            l.kind == "bridge" && l.alias.starts_with(BRIDGE_ALIAS_PREFIX) && l.name != except
        })
        .map(|l| (l.name, l.alias))
        .collect())
}

/// The marker's content: berth's chains may exist, in today's layout. An older berth wrote
/// another text, so a different one while berth bridges are up means their rules predate
/// this layout (see [`upgrade_if_stale`]).
const CHAINS_MARK: &[u8] = b"berth's chains may exist (layout 2: the loopback boundary)\n";

fn marker() -> PathBuf {
    host_dir().join("chains")
}

fn chains_current() -> bool {
    fs::read(marker()).is_ok_and(|b| b == CHAINS_MARK)
}

/// Brings the rules of an older berth, whose bridges outlived its upgrade, to today's layout
/// (`firewall::upgrade_globals`: the loopback boundary for every bridge that is up), so that
/// an upgrade closes the hole without restarting containers. One file read when they are
/// current, which is always but once.
pub fn upgrade_if_stale(nl: &mut Netlink) -> Result<()> {
    if chains_current() {
        return Ok(());
    }
    let _l = lock()?;
    let bridges = bridge_tags(nl, "")?;
    if chains_current() || bridges.is_empty() {
        // No bridge: the first one makes the chains afresh (`prepare`).
        return Ok(());
    }
    log::debug!("berth's firewall rules predate this version: upgrading them");
    let saved = firewall::parse_saved(&firewall::save()?);
    let mut batch = Batch::default();
    firewall::upgrade_globals(&saved, &bridges, &mut batch);
    firewall::apply(&batch)?;
    Ok(crate::store::atomic::write(&marker(), CHAINS_MARK)?)
}

fn read_sysctl(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn write_sysctl(path: &str, value: &str) -> Result<(), IoError> {
    fs::write(path, value).with_path("write", path)
}

/// Sets a sysctl to "1", remembering its old value in `orig` the first time.
fn turn_on(path: &str, orig: &Path) -> Result<()> {
    match read_sysctl(path).as_deref() {
        Some("1") => Ok(()),
        Some(old) => {
            if !orig.exists() {
                crate::store::atomic::write(orig, old.as_bytes())?;
            }
            Ok(write_sysctl(path, "1")?)
        }
        None => Err(NetError::HostUnsupported(format!(
            "{path} is missing (is this kernel built with IPv4 forwarding and bridge netfilter?)"
        ))),
    }
}

fn put_back(path: &str, orig: &Path) {
    if let Ok(old) = fs::read_to_string(orig) {
        let _ = write_sysctl(path, old.trim());
        let _ = fs::remove_file(orig);
    }
}

/// Called under [`lock`] before the first container of a network comes up: enables
/// forwarding (and bridge netfilter when `need_bridge_nf`, for icc=false), and adds berth's
/// chains to `batch` if no other berth bridge exists.
pub fn prepare(
    nl: &mut Netlink,
    bridge: &str,
    need_bridge_nf: bool,
    batch: &mut Batch,
) -> Result<()> {
    fs::create_dir_all(host_dir()).with_path("create directory", host_dir())?;
    turn_on(IP_FORWARD, &host_dir().join("ip_forward.orig"))?;
    if need_bridge_nf {
        if !Path::new(BRIDGE_NF).exists() {
            return Err(NetError::HostUnsupported(
                "icc=false needs bridge netfilter: run `modprobe br_netfilter` and retry".into(),
            ));
        }
        turn_on(BRIDGE_NF, &host_dir().join("bridge-nf.orig"))?;
    }
    if berth_bridges(nl, bridge)?.is_empty() {
        // The marker says berth's chains may exist (written before they are made, removed
        // after they are gone): only then is iptables-save needed to clear leftovers of an
        // interrupted run first. Otherwise the chains are simply declared.
        let saved = if marker().exists() {
            firewall::parse_saved(&firewall::save()?)
        } else {
            firewall::Saved::default()
        };
        crate::store::atomic::write(&marker(), CHAINS_MARK)?;
        firewall::create_globals(&saved, batch);
    }
    Ok(())
}

/// Called under [`lock`] before a dual-stack network's bridge comes up: enables IPv6
/// forwarding (and, for icc=false, bridge netfilter for IPv6), put back with the last berth
/// bridge, as IPv4's.
pub fn prepare6(need_bridge_nf: bool) -> Result<()> {
    turn_on(IP6_FORWARD, &host_dir().join("ip6_forward.orig"))?;
    if need_bridge_nf {
        turn_on(BRIDGE_NF6, &host_dir().join("bridge-nf6.orig"))?;
    }
    Ok(())
}

/// Called under [`lock`] after a network's bridge is gone: if it was the last berth bridge,
/// removes berth's chains and puts the sysctls back.
pub fn release_if_idle(nl: &mut Netlink) -> Result<()> {
    release_with(nl, Batch::default())
}

/// [`release_if_idle`], applying `batch` (a network's last deletions) in the same
/// iptables-restore: with berth's chains removed too when no berth bridge is left.
/// `except` is the bridge being removed (it may still exist while the batch is built).
pub fn release_with_batch(nl: &mut Netlink, except: &str, mut batch: Batch) -> Result<bool> {
    if !berth_bridges(nl, except)?.is_empty() {
        firewall::apply(&batch)?;
        return Ok(false);
    }
    let fast = {
        let mut b = Batch::default();
        std::mem::swap(&mut b, &mut batch);
        let mut with_globals = b;
        firewall::delete_globals_known(&mut with_globals);
        firewall::apply(&with_globals)
    };
    if let Err(e) = fast {
        log::debug!("removing berth's chains in one batch failed ({e}); using iptables-save");
        return Err(e);
    }
    finish_release();
    Ok(true)
}

fn release_with(nl: &mut Netlink, batch: Batch) -> Result<()> {
    firewall::apply(&batch)?;
    if !berth_bridges(nl, "")?.is_empty() {
        return Ok(());
    }
    let saved = firewall::parse_saved(&firewall::save()?);
    let mut batch = Batch::default();
    firewall::remove_globals(&saved, &mut batch, true);
    firewall::apply(&batch)?;
    finish_release();
    Ok(())
}

fn finish_release() {
    let _ = std::fs::remove_file(marker());
    put_back(IP_FORWARD, &host_dir().join("ip_forward.orig"));
    put_back(BRIDGE_NF, &host_dir().join("bridge-nf.orig"));
    put_back(IP6_FORWARD, &host_dir().join("ip6_forward.orig"));
    put_back(BRIDGE_NF6, &host_dir().join("bridge-nf6.orig"));
}
