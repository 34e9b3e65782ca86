//! Container DNS on user-defined networks, as Docker's embedded resolver gives it: a
//! container resolves (A, and AAAA for endpoints on `--ipv6` networks) the names, aliases
//! (`--network-alias`, `network connect --alias`), short ids and hostnames of the containers
//! on its networks through 127.0.0.11, and other names are forwarded to the host's
//! resolvers. As Docker's, only running containers' names resolve: a created or stopped one
//! stays in the table marked `stopped` until it starts (`set_running`, called from the
//! container's start and exit). The default `bridge` network keeps the host's resolv.conf
//! and no name resolution but `--link`s, as in Docker.
//!
//! **The choice: a resolver process, not hosts entries.** Hosts files cannot forward (a host
//! that names a loopback resolver, such as systemd-resolved's 127.0.0.53, is unreachable
//! from a container's namespace: Docker forwards from the host's namespace for that reason),
//! and they go stale in running containers (an alias added by `network connect`, a container
//! that comes or goes) unless every container's bind-mounted file is rewritten. So berth
//! runs one small resolver per run root (`berth-netns dns-resolver`), started by the set-up
//! of the first container on any user-defined network and stopped by the teardown of the
//! last one: no daemon, and no process while no such container exists. One per root, not
//! one per network, because a container connected to two networks has one 127.0.0.11:53
//! and resolves names on both (Docker does the same); isolation between networks is the
//! table's rule instead (`Table::visible`: a query is answered from the networks of the
//! container whose socket it came in on, and only those).
//!
//! **How queries reach it.** berth-netns binds UDP and TCP 127.0.0.11:53 inside the
//! container's namespace (127.0.0.0/8 is on its loopback, so no address and no DNAT rule is
//! needed) and passes the sockets to the resolver (`control`); the resolver lives in the
//! host's namespace, so it forwards from there, loopback resolvers included. Each socket is
//! tagged with its container, which is how a query's asker is known.
//!
//! **State** (`<run>/dns/`, 0700, root's): `table.json` (the truth: each container's
//! namespace, upstream servers and endpoints, `table`), `ctl` (the control socket, 0600),
//! `resolver.pid` (pid and start time), `lock` (held around every change).
//!
//! **Crash safety.** A resolver killed -9 loses its sockets with it (the kernel closes
//! them); the next change (a container's set-up or teardown, `network connect` or
//! `disconnect`) or the next `berth start` of a container finds no live pid (pid and start
//! time) and starts a new one from the table, binding every container's sockets again.
//!
//! **Least privilege.** The resolver chroots into `<run>/dns`, drops every capability (the
//! bounding set too) and sets no_new_privs before it serves; it keeps uid 0 only to read the
//! root-owned 0600 table. It holds no socket but the containers' loopback ones, the control
//! socket and, per forwarded query, one connected to the upstream (only its replies come in).
//! Nothing outside the containers' namespaces can reach it: 127.0.0.11 is on their loopback
//! only (a packet for 127/8 arriving on eth0 is a martian).

mod answer;
mod control;
pub mod server;
pub mod table;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

pub use answer::{Reply, answer};
pub use table::{Endpoint, Entry, Table, dns_names};

use super::error::{NetError, Result};
use crate::error::IoContext;
use crate::paths::Paths;
use crate::store::{Lock, private};

/// Docker's embedded resolver address.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);
pub(crate) const CTL: &str = "ctl";
pub(crate) const PIDFILE: &str = "resolver.pid";
const LOCK: &str = "lock";
/// Docker's fallback when the host names no nameserver.
const FALLBACK: [Ipv4Addr; 2] = [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

/// `<run>/dns`.
pub fn dir(paths: &Paths) -> PathBuf {
    paths.run.join("dns")
}

/// Whether containers on the network `name` use the resolver: every network but the
/// default `bridge` (and host and none, which have no bridge).
pub fn serves(name: &str) -> bool {
    !matches!(name, "bridge" | "host" | "none")
}

/// The resolv.conf of a container on a user-defined network, as Docker writes it:
/// `nameserver 127.0.0.11`, the search domains (`--dns-search`, else the host's) and the
/// options (`--dns-option`, else the host's) with `ndots:0` unless one sets ndots.
pub fn resolv_conf(host: &str, search: &[String], options: &[String]) -> String {
    let mut host_search: Vec<String> = Vec::new();
    let mut host_options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut w = line.split_whitespace();
        match w.next() {
            Some("search") | Some("domain") => host_search = w.map(String::from).collect(),
            Some("options") => host_options.extend(w.map(String::from)),
            _ => {}
        }
    }
    let search = if search.is_empty() {
        host_search
    } else {
        search.to_vec()
    };
    let mut options = if options.is_empty() {
        host_options
    } else {
        options.to_vec()
    };
    if !options.iter().any(|o| o.starts_with("ndots:")) {
        options.push("ndots:0".into());
    }
    let mut s = String::new();
    if !search.is_empty() && search != ["."] {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    s.push_str(&format!("nameserver {ADDRESS}\n"));
    s.push_str(&format!("options {}\n", options.join(" ")));
    s
}

/// Where the resolver forwards a container's other names: `--dns` if given, else the host's
/// nameservers, loopback ones included (the resolver asks from the host's namespace), else
/// Docker's fallback. IPv6 servers are kept (the host's namespace may reach them).
pub fn upstreams(host: &str, dns: &[String]) -> Vec<SocketAddr> {
    let given: Vec<IpAddr> = if dns.is_empty() {
        host.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some("nameserver"))
                    .then(|| w.next().and_then(|a| a.parse().ok()))
                    .flatten()
            })
            .collect()
    } else {
        dns.iter().filter_map(|d| d.parse().ok()).collect()
    };
    let list = if given.is_empty() {
        FALLBACK.iter().map(|a| IpAddr::V4(*a)).collect()
    } else {
        given
    };
    list.into_iter().map(|a| SocketAddr::new(a, 53)).collect()
}

/// Puts container `id`'s entry in the table (replacing any) and makes sure the resolver
/// serves it: its sockets are bound now, and a failure is the set-up's error.
pub fn register(paths: &Paths, id: &str, entry: Entry) -> Result<()> {
    change(paths, Some(id), |t| {
        t.containers.insert(id.to_string(), entry);
    })
}

/// Updates the endpoints of a container already served (`network connect`/`disconnect`).
pub fn update(paths: &Paths, id: &str, f: impl FnOnce(&mut Entry)) -> Result<()> {
    change(paths, None, |t| {
        if let Some(e) = t.containers.get_mut(id) {
            f(e);
        }
    })
}

/// Marks container `id` running or not (its start and its exit): only running containers'
/// names resolve. Nothing to do for a container the table does not hold, or already so.
pub fn set_running(paths: &Paths, id: &str, running: bool) -> Result<()> {
    let path = dir(paths).join(table::FILE);
    if !path.exists() {
        return Ok(());
    }
    match Table::load(&path)?.containers.get(id) {
        Some(e) if e.stopped == running => {}
        _ => return Ok(()),
    }
    change(paths, None, |t| {
        if let Some(e) = t.containers.get_mut(id) {
            e.stopped = !running;
        }
    })
}

/// Takes container `id` out of the table; the resolver closes its sockets, and exits if it
/// was the last. Idempotent.
pub fn unregister(paths: &Paths, id: &str) -> Result<()> {
    let d = dir(paths);
    if !d.join(table::FILE).exists() {
        return Ok(());
    }
    change(paths, None, |t| {
        t.containers.remove(id);
    })
}

/// Restarts the resolver if containers need it and none runs (after a kill -9): called
/// when a container starts. One stat and one /proc read when all is well.
pub fn ensure(paths: &Paths) -> Result<()> {
    let d = dir(paths);
    if !d.join(table::FILE).exists() || control::running(&d).is_some() {
        return Ok(());
    }
    change(paths, None, |_| {})
}

/// The table as it is now (empty if none).
pub fn read_table(paths: &Paths) -> Result<Table> {
    Ok(Table::load(&dir(paths).join(table::FILE))?)
}

/// Edits the table under the lock, then brings the resolver in line: stopped when the table
/// is empty, else told (binding the sockets of `new`, if it was not served yet), or
/// restarted if it cannot be.
fn change(paths: &Paths, new: Option<&str>, edit: impl FnOnce(&mut Table)) -> Result<()> {
    let d = dir(paths);
    private::create_dir_all(&d)?;
    let _lock = Lock::exclusive(&d.join(LOCK))?;
    let path = d.join(table::FILE);
    let mut t = Table::load(&path)?;
    let must: Vec<String> = new
        .filter(|id| !t.containers.contains_key(*id))
        .map(String::from)
        .into_iter()
        .collect();
    edit(&mut t);
    if t.containers.is_empty() {
        // Gone first: the resolver reads the empty table, closes everything and exits.
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_path("remove", &path).map_err(Into::into);
            }
            _ => {}
        }
        control::stop(&d);
        return Ok(());
    }
    t.save(&path)?;
    if control::running(&d).is_some() {
        let mut socks = Vec::new();
        for id in &must {
            let ns = &t.containers[id].netns;
            socks.push((id.clone(), control::bind_in(ns)?));
        }
        if control::tell(&d, &socks).is_ok() {
            return Ok(());
        }
        // Our copies would keep 127.0.0.11:53 taken for the restart.
        drop(socks);
    }
    control::restart(paths, &d, &t, &must)
}

/// The resolver process (`berth-netns dns-resolver --ctl-fd FD`): confines itself, then
/// serves until the last container is gone.
pub fn run_resolver(paths: &Paths, ctl_fd: RawFd) -> crate::Result<()> {
    // SAFETY: fstat writes into the zeroed struct it is given; a bad descriptor is EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat buffer for the call.
    if unsafe { libc::fstat(ctl_fd, &mut st) } != 0 {
        return Err(NetError::BadArgs(format!(
            "--ctl-fd {ctl_fd}: not an open descriptor ({}); the resolver is started by berth-netns",
            std::io::Error::last_os_error()
        ))
        .into());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(NetError::BadArgs(format!("--ctl-fd {ctl_fd}: not a socket")).into());
    }
    // SAFETY: the descriptor was checked to be open, and this process owns it from here on.
    let ctl = unsafe { OwnedFd::from_raw_fd(ctl_fd) };
    confine(&dir(paths))?;
    server::serve(ctl)?;
    Ok(())
}

/// Chroot into the state directory, no capabilities (bounding set included), no new
/// privileges, not dumpable, SIGPIPE ignored.
fn confine(dir: &Path) -> Result<()> {
    use caps::CapSet;
    let _ = nix::sys::prctl::set_name(c"berth-dns");
    nix::unistd::chdir(dir)
        .map_err(std::io::Error::from)
        .with_path("chdir", dir)?;
    nix::unistd::chroot(".")
        .map_err(std::io::Error::from)
        .with_path("chroot", dir)?;
    nix::unistd::chdir("/")
        .map_err(std::io::Error::from)
        .with_path("chdir", dir)?;
    let fail = |what: &str, e: caps::errors::CapsError| {
        NetError::HostUnsupported(format!("resolver: cannot drop capabilities ({what}): {e}"))
    };
    caps::clear(None, CapSet::Ambient).map_err(|e| fail("ambient", e))?;
    for c in caps::read(None, CapSet::Bounding).map_err(|e| fail("bounding", e))? {
        caps::drop(None, CapSet::Bounding, c).map_err(|e| fail("bounding", e))?;
    }
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        caps::clear(None, set).map_err(|e| fail("sets", e))?;
    }
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| NetError::HostUnsupported(format!("resolver: no_new_privs: {e}")))?;
    let _ = nix::sys::prctl::set_dumpable(false);
    // SAFETY: installing SIG_IGN for SIGPIPE has no handler to be unsafe in.
    unsafe {
        let _ = nix::sys::signal::signal(
            nix::sys::signal::Signal::SIGPIPE,
            nix::sys::signal::SigHandler::SigIgn,
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_as_docker_writes_it() {
        let host = "nameserver 127.0.0.53\nsearch corp.example\noptions edns0 trust-ad\n";
        assert_eq!(
            resolv_conf(host, &[], &[]),
            "search corp.example\nnameserver 127.0.0.11\noptions edns0 trust-ad ndots:0\n"
        );
        assert_eq!(
            resolv_conf(host, &["x.test".into()], &["ndots:2".into()]),
            "search x.test\nnameserver 127.0.0.11\noptions ndots:2\n"
        );
        assert_eq!(
            resolv_conf("", &[], &[]),
            "nameserver 127.0.0.11\noptions ndots:0\n"
        );
    }

    #[test]
    fn upstreams_keep_loopback_and_fall_back() {
        let host = "nameserver 127.0.0.53\nnameserver 10.1.2.3\nnameserver ::1\nnameserver junk\n";
        let u: Vec<String> = upstreams(host, &[]).iter().map(|a| a.to_string()).collect();
        assert_eq!(u, ["127.0.0.53:53", "10.1.2.3:53", "[::1]:53"]);
        let u: Vec<String> = upstreams(host, &["10.9.9.9".into()])
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(u, ["10.9.9.9:53"]);
        assert_eq!(upstreams("", &[]).len(), 2);
    }

    #[test]
    fn only_user_networks_are_served() {
        assert!(!serves("bridge"));
        assert!(!serves("host"));
        assert!(serves("appnet"));
    }
}
