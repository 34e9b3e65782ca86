//! A small synchronous rtnetlink client: the message types come from `netlink-packet-route`,
//! the socket from `netlink-sys`; only the request/acknowledge loop is ours.
//!
//! Why not the `rtnetlink` crate: it is async and would bring a tokio runtime into every
//! set-up for about ten request/ack round trips; a blocking socket does the same work with
//! no runtime start-up (DESIGN.md, "Fast by design"). A netlink socket stays bound to the
//! network namespace it was created in, so [`Netlink::open_in`] creates it on a short-lived
//! thread that has joined the target namespace (setns affects the calling thread only), and
//! the socket then works from any thread.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload,
};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

/// A link as a dump reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, ... (empty for devices without a kind, like `lo`).
    pub kind: String,
    pub alias: String,
    /// The bridge this link is a port of, if any.
    pub master: Option<u32>,
    /// Administratively up (IFF_UP).
    pub up: bool,
}

/// A blocking rtnetlink socket.
pub struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        // Extended acks make the kernel say *why* a request failed (e.g. "Invalid MTU").
        let _ = sock.set_ext_ack(true);
        Ok(Netlink { sock, seq: 0 })
    }

    /// A socket in the network namespace `ns` (an nsfs file descriptor). The calling thread
    /// is not moved: the socket is made on a helper thread.
    pub fn open_in(ns: BorrowedFd<'_>) -> io::Result<Netlink> {
        let fd = ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: `fd` is borrowed for the whole scope.
                let ns = unsafe { BorrowedFd::borrow_raw(fd) };
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(io::Error::from)?;
                Netlink::open()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("netlink helper thread panicked")))
        })
    }

    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock.send(&buf, 0)?;

        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 64 * 1024];
        loop {
            let n = self.sock.recv(&mut &mut rbuf[..], 0)?;
            let mut offset = 0;
            while offset < n {
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[offset..n])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = msg.header.length as usize;
                if len == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "empty netlink message",
                    ));
                }
                offset += len;
                if msg.header.sequence_number != self.seq {
                    continue;
                }
                match msg.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        // A non-dump reply without NLM_F_MULTI is complete once the ack comes.
                    }
                    _ => {}
                }
            }
        }
    }

    /// Sends a request that expects only an acknowledgement.
    fn ack(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.request(msg, NLM_F_ACK | flags).map(|_| ())
    }

    /// Every link in the namespace.
    pub fn links(&mut self) -> io::Result<Vec<Link>> {
        let replies = self.request(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            NLM_F_DUMP,
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(&l)),
                _ => None,
            })
            .collect())
    }

    /// The link called `name`, if it exists.
    pub fn link(&mut self, name: &str) -> io::Result<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK) {
            Ok(replies) => Ok(replies.iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_of(l)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a bridge (down, no address yet) and returns its index.
    pub fn add_bridge(&mut self, name: &str, mtu: u32, alias: &str) -> io::Result<u32> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        if mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)?;
        let link = self
            .link(name)?
            .ok_or_else(|| io::Error::other(format!("bridge {name} vanished after creation")))?;
        // IFLA_IFALIAS cannot be given at creation time; it marks the bridge as berth's.
        self.set_alias(link.index, alias)?;
        Ok(link.index)
    }

    pub fn set_alias(&mut self, index: u32, alias: &str) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_string()));
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// Creates a veth pair: `host` here (a port of `master`, up), `peer` directly inside the
    /// namespace `peer_ns`, with `peer_mac` as its address.
    #[allow(clippy::too_many_arguments)]
    pub fn add_veth(
        &mut self,
        host: &str,
        alias: &str,
        master: u32,
        mtu: u32,
        peer: &str,
        peer_ns: BorrowedFd<'_>,
        peer_mac: [u8; 6],
    ) -> io::Result<()> {
        let mut peer_msg = LinkMessage::default();
        peer_msg
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_msg
            .attributes
            .push(LinkAttribute::NetNsFd(peer_ns.as_raw_fd()));
        peer_msg
            .attributes
            .push(LinkAttribute::Address(peer_mac.to_vec()));
        if mtu > 0 {
            peer_msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        let mut msg = LinkMessage::default();
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        msg.attributes.push(LinkAttribute::IfName(host.to_string()));
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_string()));
        msg.attributes.push(LinkAttribute::Controller(master));
        if mtu > 0 {
            msg.attributes.push(LinkAttribute::Mtu(mtu));
        }
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
        ]));
        self.ack(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.ack(RouteNetlinkMessage::SetLink(msg), 0)
    }

    /// Deletes a link; a link that does not exist is not an error.
    pub fn del_link(&mut self, index: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        match self.ack(RouteNetlinkMessage::DelLink(msg), 0) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            r => r,
        }
    }

    /// Deletes the link called `name` if it exists.
    pub fn del_link_named(&mut self, name: &str) -> io::Result<()> {
        match self.link(name)? {
            Some(l) => self.del_link(l.index),
            None => Ok(()),
        }
    }

    /// [`del_link_named`](Self::del_link_named), returning as soon as the link is gone from the
    /// namespace rather than once the kernel has also freed it (see [`del_link_unfreed`]).
    /// `self` must be a socket in the calling thread's namespace ([`Netlink::open`]).
    pub fn del_link_named_unfreed(&mut self, name: &str) -> io::Result<()> {
        // Subscribed first, so that a deletion from now on (ours, or a dying namespace's
        // taking its veth peer along) is heard even if it happens before the request.
        let mut events = Socket::new(NETLINK_ROUTE)?;
        events.bind(&SocketAddr::new(0, RTMGRP_LINK))?;
        let Some(link) = self.link(name)? else {
            return Ok(());
        };
        del_link_unfreed(self, &events, name, link.index)
    }

    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix_len: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix_len;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(ip.into()));
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        if prefix_len < 31 {
            let brd = Ipv4Addr::from(u32::from(ip) | (u32::MAX >> prefix_len));
            msg.attributes.push(AddressAttribute::Broadcast(brd));
        }
        self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip -6 addr add IP/PREFIX dev INDEX nodad`: usable at once (no duplicate address
    /// detection, as Docker adds its bridge and container addresses: berth's IPAM is the
    /// only source of addresses on the link).
    pub fn add_address6(&mut self, index: u32, ip: Ipv6Addr, prefix_len: u8) -> io::Result<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.prefix_len = prefix_len;
        msg.header.index = index;
        msg.header.flags = AddressHeaderFlags::Nodad;
        msg.attributes.push(AddressAttribute::Local(ip.into()));
        msg.attributes.push(AddressAttribute::Address(ip.into()));
        self.ack(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip -6 route add default via GW dev INDEX`.
    pub fn add_default_route6(&mut self, gateway: Ipv6Addr, index: u32) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet6;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet6(gateway)));
        msg.attributes.push(RouteAttribute::Oif(index));
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// `ip route add default via GW`.
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.ack(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// The IPv4 destinations of the main table's routes (to refuse overlapping subnets).
    pub fn routes_v4(&mut self) -> io::Result<Vec<(Ipv4Addr, u8)>> {
        self.route_destinations(AddressFamily::Inet, |d| match d {
            RouteAddress::Inet(a) => Some(*a),
            _ => None,
        })
    }

    /// The IPv6 destinations of the main table's routes (to refuse overlapping subnets).
    pub fn routes_v6(&mut self) -> io::Result<Vec<(Ipv6Addr, u8)>> {
        self.route_destinations(AddressFamily::Inet6, |d| match d {
            RouteAddress::Inet6(a) => Some(*a),
            _ => None,
        })
    }

    /// The destinations (`pick` keeps the family's addresses) and prefix lengths of the main
    /// table's non-default routes of `family`.
    fn route_destinations<A>(
        &mut self,
        family: AddressFamily,
        pick: impl Fn(&RouteAddress) -> Option<A>,
    ) -> io::Result<Vec<(A, u8)>> {
        let mut req = RouteMessage::default();
        req.header.address_family = family;
        let replies = self.request(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP)?;
        let mut out = Vec::new();
        for m in replies {
            let RouteNetlinkMessage::NewRoute(r) = m else {
                continue;
            };
            let len = r.header.destination_prefix_length;
            if r.header.table != RouteHeader::RT_TABLE_MAIN || len == 0 {
                continue;
            }
            for a in &r.attributes {
                if let RouteAttribute::Destination(d) = a
                    && let Some(d) = pick(d)
                {
                    out.push((d, len));
                }
            }
        }
        Ok(out)
    }
}

fn link_of(l: &LinkMessage) -> Link {
    let mut link = Link {
        index: l.header.index,
        name: String::new(),
        kind: String::new(),
        alias: String::new(),
        master: None,
        up: l.header.flags.contains(LinkFlags::Up),
    };
    for a in &l.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::IfAlias(n) => link.alias = n.clone(),
            LinkAttribute::Controller(m) => link.master = Some(*m),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        link.kind = k.to_string();
                    }
                }
            }
            _ => {}
        }
    }
    link
}

/// rtnetlink's link multicast group, as a bind mask (`RTMGRP_LINK` in linux/rtnetlink.h;
/// the libc crate has no constant for it).
const RTMGRP_LINK: u32 = 1;

/// Deleting a link is one request, but the kernel answers it only after `netdev_run_todo`'s
/// `rcu_barrier()`: 15-40 ms of waiting for every CPU's RCU callbacks to run, long after the
/// link left the namespace (it is unlisted, and `RTM_DELLINK` announced, before that). A
/// container's teardown does not need to wait for the kernel to free a veth, only for it to be
/// gone. So the request is sent by a detached grandchild (double fork: it is nobody's zombie;
/// it keeps only the request socket and a pipe, no lock, no output), which sits out the barrier
/// alone, and this returns on the link's `RTM_DELLINK` announcement heard on `events` (a
/// socket subscribed to [`RTMGRP_LINK`] before `index` was looked up). Each quiet 10 ms, or
/// when the announcement may have been lost (the socket overflowed: `ENOBUFS`), the link is
/// looked up again; if the helper died without deleting it (killed), it is deleted here, the
/// slow way.
fn del_link_unfreed(nl: &mut Netlink, events: &Socket, name: &str, index: u32) -> io::Result<()> {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    let mut packet = NetlinkMessage::new(
        {
            let mut h = NetlinkHeader::default();
            h.flags = NLM_F_REQUEST;
            h
        },
        NetlinkPayload::from(RouteNetlinkMessage::DelLink(msg)),
    );
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf);
    let req = Socket::new(NETLINK_ROUTE)?;
    req.connect(&SocketAddr::new(0, 0))?;
    let (alive_r, alive_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let keep = [req.as_raw_fd(), alive_w.as_raw_fd()];
    // SAFETY: the children make only async-signal-safe calls (fork, close_range, send,
    // _exit) on memory and descriptors prepared before the fork, so the caller may have
    // threads.
    let first = unsafe { libc::fork() };
    if first < 0 {
        return Err(io::Error::last_os_error());
    }
    if first == 0 {
        // SAFETY: the forked child's async-signal-safe calls (above); it leaves with _exit,
        // running none of its parent's destructors.
        unsafe {
            if libc::fork() != 0 {
                libc::_exit(0);
            }
            close_all_but(keep);
            libc::send(keep[0], buf.as_ptr().cast(), buf.len(), 0);
            libc::_exit(0);
        }
    }
    drop(alive_w);
    drop(req);
    // SAFETY: reaping our own child, which exits at once.
    unsafe { libc::waitpid(first, std::ptr::null_mut(), 0) };

    let gone = |nl: &mut Netlink| -> io::Result<bool> {
        Ok(nl.link(name)?.is_none_or(|l| l.index != index))
    };
    let mut rbuf = vec![0u8; 64 * 1024];
    loop {
        let mut fds = [
            libc::pollfd {
                fd: events.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: alive_r.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two valid pollfd entries.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 10) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        // The helper is gone, its request answered or never sent: what is left is ours.
        let helper_gone = fds[1].revents != 0;
        let slow_way = |nl: &mut Netlink| {
            if gone(nl)? {
                Ok(())
            } else {
                nl.del_link(index)
            }
        };
        if fds[0].revents != 0 {
            match events.recv(&mut &mut rbuf[..], libc::MSG_DONTWAIT) {
                Ok(len) if announces_deletion(&rbuf[..len], index) => return Ok(()),
                Ok(_) if !helper_gone => continue,
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && !helper_gone => continue,
                Ok(_) => {}
                // Announcements were dropped: look.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOBUFS | libc::EAGAIN)) => {}
                // The subscription is unusable.
                Err(_) => return slow_way(nl),
            }
        }
        if helper_gone {
            return slow_way(nl);
        }
        if gone(nl)? {
            return Ok(());
        }
    }
}

/// Whether the datagram `buf` holds the `RTM_DELLINK` that says link `index` left its
/// namespace (not a bridge's `AF_BRIDGE` one for its port, sent before the link is unlisted).
fn announces_deletion(buf: &[u8], index: u32) -> bool {
    let mut offset = 0;
    while offset < buf.len() {
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[offset..]) else {
            return false;
        };
        let len = msg.header.length as usize;
        if len == 0 {
            return false;
        }
        offset += len;
        if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(l)) = msg.payload
            && l.header.index == index
            && l.header.interface_family == AddressFamily::Unspec
        {
            return true;
        }
    }
    false
}

/// Closes every descriptor but the two in `keep` (in a forked child: async-signal-safe).
///
/// # Safety
/// Closes descriptors the process's other owners may believe open: only for a child about to
/// `_exit`.
unsafe fn close_all_but(keep: [i32; 2]) {
    let (a, b) = (keep[0].min(keep[1]) as u32, keep[0].max(keep[1]) as u32);
    let close = |lo: u32, hi: u32| {
        if lo <= hi {
            // SAFETY: see the function's contract.
            unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0) };
        }
    };
    if a > 0 {
        close(0, a - 1);
    }
    close(a + 1, b.saturating_sub(1));
    close(b + 1, u32::MAX);
}
