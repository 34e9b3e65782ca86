//! The resolver process (`berth-netns dns-resolver`): one poll loop over the control socket
//! and each container's UDP socket and TCP listener on 127.0.0.11:53, all handed to it
//! already bound (it never enters a namespace). A forwarded query gets a thread of its own
//! (at most [`MAX_INFLIGHT`] at once, as Docker caps its concurrent forwards), which asks the
//! container's upstream servers in turn from the host's namespace.
//!
//! Control messages (SOCK_SEQPACKET, root only: the socket is `<run>/dns/ctl` in a 0700
//! directory): `udp ID` and `tcp ID`, each with one descriptor attached, then `sync`, which
//! reloads the table, closes the sockets of containers no longer in it, and answers `ok PID`,
//! or `exit` (and exits) when the table is empty.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use berth_monitor_proto::fdpass;
use nix::poll::{PollFd, PollFlags, PollTimeout};

use super::answer::{self, Reply};
use super::table::{self, Table};
use crate::error::{IoContext, IoError};

/// Forwards (and TCP connections) served at once; past it, queries are dropped and the
/// client retries.
pub const MAX_INFLIGHT: usize = 100;
/// How long one upstream server gets to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP client or a control peer may keep the resolver waiting.
const PEER_TIMEOUT: Duration = Duration::from_secs(5);

struct Sockets {
    udp: Option<Arc<UdpSocket>>,
    tcp: Option<TcpListener>,
}

struct Server {
    table: Arc<RwLock<Table>>,
    socks: HashMap<String, Sockets>,
    inflight: Arc<AtomicUsize>,
}

/// Serves until the table is empty. `ctl` is the listening control socket; the table is
/// read from `table::FILE` in the current directory (the resolver runs chrooted there).
pub fn serve(ctl: OwnedFd) -> Result<(), IoError> {
    let mut s = Server {
        table: Arc::new(RwLock::new(
            Table::load(Path::new(table::FILE)).unwrap_or_default(),
        )),
        socks: HashMap::new(),
        inflight: Arc::new(AtomicUsize::new(0)),
    };
    loop {
        let ids: Vec<String> = s.socks.keys().cloned().collect();
        let mut fds = vec![PollFd::new(ctl.as_fd(), PollFlags::POLLIN)];
        let mut what = vec![None];
        for id in &ids {
            let k = &s.socks[id];
            if let Some(u) = &k.udp {
                fds.push(PollFd::new(u.as_fd(), PollFlags::POLLIN));
                what.push(Some((id.clone(), true)));
            }
            if let Some(t) = &k.tcp {
                fds.push(PollFd::new(t.as_fd(), PollFlags::POLLIN));
                what.push(Some((id.clone(), false)));
            }
        }
        match nix::poll::poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(std::io::Error::from(e)).with_path("poll", Path::new(".")),
        }
        let ready: Vec<Option<(String, bool)>> = fds
            .iter()
            .zip(what)
            .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, w)| w)
            .collect();
        drop(fds);
        for r in ready {
            match r {
                None => {
                    if s.control(&ctl) {
                        return Ok(());
                    }
                }
                Some((id, true)) => s.udp(&id),
                Some((id, false)) => s.tcp(&id),
            }
        }
    }
}

impl Server {
    /// One control connection. Returns true when the resolver should exit.
    fn control(&mut self, ctl: &OwnedFd) -> bool {
        let Ok(conn) = nix::sys::socket::accept4(ctl, nix::sys::socket::SockFlag::SOCK_CLOEXEC)
        else {
            return false;
        };
        let _ = nix::sys::socket::setsockopt(
            &conn,
            nix::sys::socket::sockopt::ReceiveTimeout,
            &nix::sys::time::TimeVal::new(PEER_TIMEOUT.as_secs() as i64, 0),
        );
        let mut buf = [0u8; 256];
        loop {
            let Ok((n, fd)) = fdpass::recv(conn.as_raw_fd(), &mut buf) else {
                return false;
            };
            if n == 0 {
                return false;
            }
            let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
            match (msg.split_once(' '), fd) {
                (Some(("udp", id)), Some(fd)) => {
                    self.slot(id).udp = Some(Arc::new(UdpSocket::from(fd)));
                }
                (Some(("tcp", id)), Some(fd)) => {
                    self.slot(id).tcp = Some(TcpListener::from(fd));
                }
                (None, _) if msg == "sync" => {
                    let empty = self.reload();
                    let word = if empty {
                        "exit".to_string()
                    } else {
                        format!("ok {}", std::process::id())
                    };
                    let _ = fdpass::send(conn.as_raw_fd(), word.as_bytes(), None);
                    return empty;
                }
                _ => return false,
            }
        }
    }

    fn slot(&mut self, id: &str) -> &mut Sockets {
        self.socks.entry(id.to_string()).or_insert(Sockets {
            udp: None,
            tcp: None,
        })
    }

    /// Reads the table again and closes the sockets of containers no longer in it. Returns
    /// true when it is empty. An unreadable table keeps the old one.
    fn reload(&mut self) -> bool {
        if let Ok(t) = Table::load(Path::new(table::FILE)) {
            self.socks.retain(|id, _| t.containers.contains_key(id));
            *self.table.write().unwrap_or_else(|e| e.into_inner()) = t;
        }
        self.table
            .read()
            .map(|t| t.containers.is_empty())
            .unwrap_or(false)
    }

    fn upstreams(&self, id: &str) -> Vec<SocketAddr> {
        let t = self.table.read().unwrap_or_else(|e| e.into_inner());
        t.containers
            .get(id)
            .map(|e| e.upstreams.clone())
            .unwrap_or_default()
    }

    /// Takes a slot for a thread, or None when [`MAX_INFLIGHT`] are busy.
    fn take_slot(&self) -> Option<Slot> {
        if self.inflight.fetch_add(1, Ordering::SeqCst) >= MAX_INFLIGHT {
            self.inflight.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Slot(self.inflight.clone()))
    }

    fn udp(&mut self, id: &str) {
        let Some(sock) = self.socks.get(id).and_then(|s| s.udp.clone()) else {
            return;
        };
        let mut buf = vec![0u8; 65535];
        let Ok((n, client)) = sock.recv_from(&mut buf) else {
            return;
        };
        buf.truncate(n);
        let reply = {
            let t = self.table.read().unwrap_or_else(|e| e.into_inner());
            answer::answer(&buf, id, &t)
        };
        match reply {
            Reply::Local(b) => {
                let _ = sock.send_to(&b, client);
            }
            Reply::Drop => {}
            Reply::Forward => {
                let Some(slot) = self.take_slot() else { return };
                let ups = self.upstreams(id);
                std::thread::spawn(move || {
                    let _slot = slot;
                    let out = forward_udp(&buf, &ups).or_else(|| answer::servfail(&buf));
                    if let Some(b) = out {
                        let _ = sock.send_to(&b, client);
                    }
                });
            }
        }
    }

    fn tcp(&mut self, id: &str) {
        let Some(l) = self.socks.get(id).and_then(|s| s.tcp.as_ref()) else {
            return;
        };
        let Ok((conn, _)) = l.accept() else { return };
        let Some(slot) = self.take_slot() else { return };
        let table = self.table.clone();
        let id = id.to_string();
        std::thread::spawn(move || {
            let _slot = slot;
            serve_tcp(conn, &id, &table);
        });
    }
}

/// Gives back a thread's place when the thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Asks each upstream in turn over UDP; the first answer carrying the query's id wins.
fn forward_udp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let local: SocketAddr = if up.is_ipv4() {
            ([0u8; 4], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let Ok(s) = UdpSocket::bind(local) else {
            continue;
        };
        // Connected: only the upstream's datagrams are received.
        if s.connect(up).is_err() || s.set_read_timeout(Some(UPSTREAM_TIMEOUT)).is_err() {
            continue;
        }
        if s.send(query).is_err() {
            continue;
        }
        let mut buf = vec![0u8; 65535];
        while let Ok(n) = s.recv(&mut buf) {
            if n >= 2 && buf[..2] == query[..2] {
                buf.truncate(n);
                return Some(buf);
            }
        }
    }
    None
}

/// Queries on one TCP connection (two-byte length prefix), answered or forwarded over TCP.
fn serve_tcp(mut conn: TcpStream, id: &str, table: &RwLock<Table>) {
    let _ = conn.set_read_timeout(Some(PEER_TIMEOUT));
    let _ = conn.set_write_timeout(Some(PEER_TIMEOUT));
    while let Some(q) = read_framed(&mut conn) {
        let (reply, ups) = {
            let t = table.read().unwrap_or_else(|e| e.into_inner());
            let ups = t
                .containers
                .get(id)
                .map(|e| e.upstreams.clone())
                .unwrap_or_default();
            (answer::answer(&q, id, &t), ups)
        };
        let out = match reply {
            Reply::Local(b) => b,
            Reply::Drop => return,
            Reply::Forward => match forward_tcp(&q, &ups).or_else(|| answer::servfail(&q)) {
                Some(b) => b,
                None => return,
            },
        };
        if write_framed(&mut conn, &out).is_err() {
            return;
        }
    }
}

fn forward_tcp(query: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(mut s) = TcpStream::connect_timeout(up, UPSTREAM_TIMEOUT) else {
            continue;
        };
        let _ = s.set_read_timeout(Some(UPSTREAM_TIMEOUT));
        if write_framed(&mut s, query).is_ok()
            && let Some(r) = read_framed(&mut s)
        {
            return Some(r);
        }
    }
    None
}

fn read_framed(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn write_framed(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<()> {
    let len = u16::try_from(msg.len()).map_err(std::io::Error::other)?;
    let mut out = len.to_be_bytes().to_vec();
    out.extend_from_slice(msg);
    s.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_udp_takes_the_first_answer_with_the_querys_id() {
        let up = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = up.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let mut b = [0u8; 512];
            let (n, from) = up.recv_from(&mut b).unwrap();
            // A stray datagram with another id first: ignored.
            up.send_to(b"\x00\x00stray", from).unwrap();
            let mut r = b[..n].to_vec();
            r.extend_from_slice(b"-answer");
            up.send_to(&r, from).unwrap();
        });
        // A dead upstream first: skipped after its timeout would be too slow for a unit
        // test, so only the live one is given.
        let got = forward_udp(b"\x12\x34query", &[addr]).unwrap();
        assert_eq!(got, b"\x12\x34query-answer");
        t.join().unwrap();
    }

    #[test]
    fn tcp_framing_round_trips() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let q = read_framed(&mut c).unwrap();
            write_framed(&mut c, &[q.as_slice(), b"!"].concat()).unwrap();
        });
        assert_eq!(forward_tcp(b"\x00\x01hi", &[addr]).unwrap(), b"\x00\x01hi!");
        t.join().unwrap();
    }
}
