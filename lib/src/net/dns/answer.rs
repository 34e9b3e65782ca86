//! One query, answered from the table for the container that asked, or handed on: the
//! decision is a pure function of the query's bytes and the table, so it is tested without
//! sockets. Wire format by `simple-dns`.
//!
//! As Docker's embedded resolver (libnetwork `resolver.go`, `sandbox_dns.go`):
//! - `A` of a name on one of the asker's networks: its addresses (TTL 600); `NAME.NETWORK`
//!   looks on that network only;
//! - `AAAA` of such a name: its IPv6 addresses (endpoints on `--ipv6` networks), or no
//!   records; any other type: no records; NOERROR either way, so the question never leaves
//!   the host with a container's name in it;
//! - `PTR` of an address (in-addr.arpa or ip6.arpa) on one of its networks: `NAME.NETWORK`
//!   (the endpoint's first name);
//! - anything else is forwarded to the asker's upstream servers, unchanged;
//! - a response, or bytes that do not parse as a query, are dropped; more than one
//!   question gets FORMERR, an opcode other than QUERY NOTIMP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::{A, AAAA, PTR, RData};
use simple_dns::{
    CLASS, Name, OPCODE, Packet, PacketFlag, QCLASS, QTYPE, RCODE, ResourceRecord, TYPE,
};

use super::table::{Table, dedup};

/// Docker's TTL for the names it serves.
pub const TTL: u32 = 600;

#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Send these bytes back.
    Local(Vec<u8>),
    /// Hand the query, as it came, to the upstream servers.
    Forward,
    /// Say nothing.
    Drop,
}

/// Decides what container `me` gets for the DNS message `query`.
pub fn answer(query: &[u8], me: &str, table: &Table) -> Reply {
    let Ok(q) = Packet::parse(query) else {
        return Reply::Drop;
    };
    if q.has_flags(PacketFlag::RESPONSE) {
        return Reply::Drop;
    }
    if q.opcode() != OPCODE::StandardQuery {
        return reply(&q, RCODE::NotImplemented, Vec::new());
    }
    let [question] = q.questions.as_slice() else {
        return reply(&q, RCODE::FormatError, Vec::new());
    };
    if !matches!(question.qclass, QCLASS::CLASS(CLASS::IN) | QCLASS::ANY) {
        return Reply::Forward;
    }
    let name = question.qname.to_string().to_ascii_lowercase();
    let name = name.trim_end_matches('.');
    if question.qtype == QTYPE::TYPE(TYPE::PTR) {
        return match reverse_ip(name).and_then(|ip| table.reverse(me, ip)) {
            Some(target) => {
                let Ok(target) = Name::new(&target) else {
                    return Reply::Forward;
                };
                let rr = ResourceRecord::new(
                    question.qname.clone(),
                    CLASS::IN,
                    TTL,
                    RData::PTR(PTR(target)),
                );
                reply(&q, RCODE::NoError, vec![rr])
            }
            None => Reply::Forward,
        };
    }
    let eps = lookup(table, me, name);
    if eps.is_empty() {
        return Reply::Forward;
    }
    let rr =
        |data: RData<'static>| ResourceRecord::new(question.qname.clone(), CLASS::IN, TTL, data);
    let mut answers = Vec::new();
    if matches!(question.qtype, QTYPE::TYPE(TYPE::A) | QTYPE::ANY) {
        for ip in dedup(eps.iter().map(|(ip, _)| *ip)) {
            answers.push(rr(RData::A(A {
                address: u32::from(ip),
            })));
        }
    }
    if matches!(question.qtype, QTYPE::TYPE(TYPE::AAAA) | QTYPE::ANY) {
        for ip in dedup(eps.iter().filter_map(|(_, ip6)| *ip6)) {
            answers.push(rr(RData::AAAA(AAAA {
                address: u128::from(ip),
            })));
        }
    }
    reply(&q, RCODE::NoError, answers)
}

/// The addresses of `name` on the asker's networks; `name.network` on that network alone.
fn lookup(table: &Table, me: &str, name: &str) -> Vec<(Ipv4Addr, Option<Ipv6Addr>)> {
    let found: Vec<_> = table
        .named(me, name)
        .into_iter()
        .map(|ep| (ep.ip, ep.ip6))
        .collect();
    if !found.is_empty() {
        return found;
    }
    let Some((host, net)) = name.rsplit_once('.') else {
        return found;
    };
    table
        .visible(me)
        .into_iter()
        .filter(|(_, ep)| ep.network.eq_ignore_ascii_case(net))
        .filter(|(_, ep)| ep.names.iter().any(|n| n.eq_ignore_ascii_case(host)))
        .map(|(_, ep)| (ep.ip, ep.ip6))
        .collect()
}

/// `4.3.2.1.in-addr.arpa` -> 1.2.3.4; the 32 nibbles of an `ip6.arpa` name -> the IPv6
/// address.
fn reverse_ip(name: &str) -> Option<IpAddr> {
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<u8> = rest
            .split('.')
            .map(|p| u8::from_str_radix(p, 16).ok().filter(|_| p.len() == 1))
            .collect::<Option<_>>()?;
        if nibbles.len() != 32 {
            return None;
        }
        let v = nibbles
            .iter()
            .rev()
            .fold(0u128, |acc, n| (acc << 4) | u128::from(*n));
        return Some(IpAddr::V6(Ipv6Addr::from(v)));
    }
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let mut o: Vec<u8> = rest
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if o.len() != 4 {
        return None;
    }
    o.reverse();
    Some(IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])))
}

fn reply(q: &Packet, rcode: RCODE, answers: Vec<ResourceRecord>) -> Reply {
    let mut r = Packet::new_reply(q.id());
    r.set_flags(PacketFlag::RECURSION_AVAILABLE);
    if q.has_flags(PacketFlag::RECURSION_DESIRED) {
        r.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    *r.rcode_mut() = rcode;
    r.questions = q.questions.clone();
    r.answers = answers;
    match r.build_bytes_vec_compressed() {
        Ok(b) => Reply::Local(b),
        Err(_) => Reply::Drop,
    }
}

/// The id of a DNS message, for a SERVFAIL when forwarding fails.
pub fn servfail(query: &[u8]) -> Option<Vec<u8>> {
    let q = Packet::parse(query).ok()?;
    match reply(&q, RCODE::ServerFailure, Vec::new()) {
        Reply::Local(b) => Some(b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::dns::table::{Endpoint, Entry};
    use simple_dns::Question;

    fn table() -> Table {
        let mut t = Table::default();
        for (id, net, ip, names) in [
            (
                "a",
                "front",
                [10, 0, 0, 2],
                vec!["web", "www", "aaaaaaaaaaaa"],
            ),
            ("b", "front", [10, 0, 0, 3], vec!["api"]),
            ("c", "back", [10, 1, 0, 2], vec!["db"]),
        ] {
            t.containers.insert(
                id.into(),
                Entry {
                    netns: "/x".into(),
                    upstreams: vec![],
                    endpoints: vec![Endpoint {
                        network: net.into(),
                        ip: ip.into(),
                        ip6: (id == "a").then(|| "fd00:db8::2".parse().unwrap()),
                        names: names.into_iter().map(String::from).collect(),
                    }],
                    stopped: false,
                },
            );
        }
        t
    }

    fn query(name: &str, t: TYPE) -> Vec<u8> {
        let mut p = Packet::new_query(0x4242);
        p.set_flags(PacketFlag::RECURSION_DESIRED);
        p.questions.push(Question::new(
            Name::new_unchecked(name),
            t.into(),
            CLASS::IN.into(),
            false,
        ));
        p.build_bytes_vec().unwrap()
    }

    fn local(r: Reply) -> Vec<u8> {
        match r {
            Reply::Local(b) => b,
            other => panic!("expected a local answer, got {other:?}"),
        }
    }

    fn addrs(bytes: &[u8]) -> Vec<Ipv4Addr> {
        let p = Packet::parse(bytes).unwrap();
        p.answers
            .iter()
            .filter_map(|rr| match &rr.rdata {
                RData::A(a) => Some(Ipv4Addr::from(a.address)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn names_aliases_and_short_ids_on_the_askers_network() {
        let t = table();
        for name in ["web", "WWW.", "aaaaaaaaaaaa", "web.front"] {
            let b = local(answer(&query(name, TYPE::A), "b", &t));
            let p = Packet::parse(&b).unwrap();
            assert_eq!(p.id(), 0x4242);
            assert!(p.has_flags(PacketFlag::RESPONSE));
            assert_eq!(p.rcode(), RCODE::NoError);
            assert_eq!(addrs(&b), [Ipv4Addr::new(10, 0, 0, 2)], "{name}");
            assert_eq!(p.answers[0].ttl, TTL);
        }
    }

    #[test]
    fn other_networks_and_unknown_names_are_forwarded() {
        let t = table();
        assert_eq!(answer(&query("db", TYPE::A), "b", &t), Reply::Forward);
        assert_eq!(answer(&query("web", TYPE::A), "c", &t), Reply::Forward);
        assert_eq!(answer(&query("web.back", TYPE::A), "c", &t), Reply::Forward);
        assert_eq!(
            answer(&query("example.com", TYPE::A), "b", &t),
            Reply::Forward
        );
        assert_eq!(answer(&query("web", TYPE::A), "nobody", &t), Reply::Forward);
    }

    #[test]
    fn aaaa_gives_the_ipv6_address_or_nothing_and_ptr_names_the_endpoint() {
        let t = table();
        let b = local(answer(&query("web", TYPE::AAAA), "b", &t));
        let p = Packet::parse(&b).unwrap();
        assert_eq!(p.rcode(), RCODE::NoError);
        match &p.answers[..] {
            [rr] => match &rr.rdata {
                RData::AAAA(a) => assert_eq!(Ipv6Addr::from(a.address).to_string(), "fd00:db8::2"),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
        assert!(addrs(&b).is_empty(), "no A in an AAAA answer");
        // A name without an IPv6 address: NOERROR, no records (never forwarded).
        let b = local(answer(&query("api", TYPE::AAAA), "a", &t));
        let p = Packet::parse(&b).unwrap();
        assert_eq!(p.rcode(), RCODE::NoError);
        assert!(p.answers.is_empty());
        // PTR in ip6.arpa.
        let rev = "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.0.0.d.f.ip6.arpa";
        let b = local(answer(&query(rev, TYPE::PTR), "b", &t));
        match &Packet::parse(&b).unwrap().answers[0].rdata {
            RData::PTR(n) => assert_eq!(n.0.to_string(), "web.front"),
            other => panic!("{other:?}"),
        }
        let b = local(answer(&query("2.0.0.10.in-addr.arpa", TYPE::PTR), "b", &t));
        let p = Packet::parse(&b).unwrap();
        match &p.answers[0].rdata {
            RData::PTR(n) => assert_eq!(n.0.to_string(), "web.front"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            answer(&query("2.0.1.10.in-addr.arpa", TYPE::PTR), "b", &t),
            Reply::Forward
        );
    }

    #[test]
    fn garbage_responses_and_bad_queries() {
        let t = table();
        assert_eq!(answer(b"\x01", "b", &t), Reply::Drop);
        let q = query("web", TYPE::A);
        let mut resp = Packet::parse(&q).unwrap();
        resp.set_flags(PacketFlag::RESPONSE);
        assert_eq!(
            answer(&resp.build_bytes_vec().unwrap(), "b", &t),
            Reply::Drop
        );
        let mut two = Packet::new_query(7);
        for n in ["web", "api"] {
            two.questions.push(Question::new(
                Name::new_unchecked(n),
                TYPE::A.into(),
                CLASS::IN.into(),
                false,
            ));
        }
        let b = local(answer(&two.build_bytes_vec().unwrap(), "b", &t));
        assert_eq!(Packet::parse(&b).unwrap().rcode(), RCODE::FormatError);
        let s = servfail(&query("x", TYPE::A)).unwrap();
        assert_eq!(Packet::parse(&s).unwrap().rcode(), RCODE::ServerFailure);
    }
}
