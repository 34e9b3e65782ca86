//! Published ports: Docker's `-p`/`--publish`, `-P`/`--publish-all` and `--expose` syntax,
//! host-port allocation, conflict checks, and `docker port`'s output.
//!
//! Host ports are a machine-wide resource (DNAT rules are global), so reservations live in
//! one file beside the host lock (`<host dir>/ports.json`, see `host`), not in a root: two
//! berth roots on one machine never hand out the same port. A port is refused when another
//! container holds it or when a host process listens on it (checked by binding it).
//!
//! Published ports are DNAT rules only, with no proxy process (Docker's
//! `--userland-proxy=false`): publishing a 1,000-port range costs one batched rule update. A
//! host process that binds a published port *after* the container started is shadowed for
//! remote clients.

use std::net::Ipv4Addr;

use super::error::{NetError, Result};
use crate::protocol::PortBinding;

mod registry;

pub use registry::{Ports, Reservation};

/// `tcp` or `udp`.
fn parse_proto(p: &str, whole: &str) -> Result<&'static str> {
    match p.to_ascii_lowercase().as_str() {
        "tcp" | "" => Ok("tcp"),
        "udp" => Ok("udp"),
        "sctp" => Err(NetError::Unsupported(format!(
            "{whole}: sctp ports are not supported (use tcp or udp)"
        ))),
        _ => Err(NetError::BadArgs(format!(
            "invalid protocol {p:?} in {whole:?} (expected tcp or udp)"
        ))),
    }
}

fn parse_range(s: &str, whole: &str) -> Result<(u16, u16)> {
    let bad = || {
        NetError::BadArgs(format!(
            "invalid port {s:?} in {whole:?} (expected a number 1-65535 or a range like 8000-8010)"
        ))
    };
    let num = |x: &str| -> Result<u16> {
        match x.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad()),
        }
    };
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(s)?;
            (n, n)
        }
    };
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// One `-p` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishSpec {
    /// `None` means every address (0.0.0.0).
    pub host_ip: Option<Ipv4Addr>,
    /// `None` means a dynamic port for each container port.
    pub host_ports: Option<(u16, u16)>,
    pub container_ports: (u16, u16),
    pub proto: &'static str,
}

/// Parses Docker's four forms, each with `/tcp` or `/udp` and ranges:
/// `CPORT`, `HPORT:CPORT`, `IP::CPORT`, `IP:HPORT:CPORT` (an IPv6 host address in brackets
/// is refused; a port on every address is published on IPv6 too for a container with an
/// IPv6 address, `attach::bridge`).
pub fn parse_publish(s: &str) -> Result<PublishSpec> {
    let (body, proto) = match s.rsplit_once('/') {
        Some((b, p)) => (b, parse_proto(p, s)?),
        None => (s, "tcp"),
    };
    if body.starts_with('[') {
        return Err(NetError::Unsupported(format!(
            "{s}: publishing on one IPv6 host address is not supported (berth has no proxy process); a port published on every address reaches a container on an --ipv6 network over IPv6 too"
        )));
    }
    let parts: Vec<&str> = body.split(':').collect();
    let (ip, host, cont) = match parts.as_slice() {
        [c] => (None, None, *c),
        [h, c] => (None, Some(*h), *c),
        [ip, h, c] => (Some(*ip), Some(*h), *c),
        _ => {
            return Err(NetError::BadArgs(format!(
                "invalid publish spec {s:?} (expected [[IP:][HOSTPORT]:]CONTAINERPORT[/PROTO])"
            )));
        }
    };
    let host_ip = match ip {
        None | Some("") => None,
        Some(ip) => Some(
            ip.parse::<Ipv4Addr>()
                .map_err(|_| NetError::BadArgs(format!("invalid host address {ip:?} in {s:?}")))?,
        ),
    };
    let host_ip = host_ip.filter(|ip| !ip.is_unspecified());
    let host_ports = match host {
        None | Some("") => None,
        Some(h) => Some(parse_range(h, s)?),
    };
    let container_ports = parse_range(cont, s)?;
    if let Some((a, b)) = host_ports {
        let (ca, cb) = container_ports;
        if cb > ca && b - a != cb - ca {
            return Err(NetError::BadArgs(format!(
                "{s}: the host port range and the container port range must have the same length"
            )));
        }
    }
    Ok(PublishSpec {
        host_ip,
        host_ports,
        container_ports,
        proto,
    })
}

/// Parses `--expose` (`80`, `80/udp`, `8000-8010/tcp`) into `PORT/PROTO` strings.
pub fn parse_expose(s: &str) -> Result<Vec<String>> {
    let (body, proto) = match s.rsplit_once('/') {
        Some((b, p)) => (b, parse_proto(p, s)?),
        None => (s, "tcp"),
    };
    let (a, b) = parse_range(body, s)?;
    Ok((a..=b).map(|p| format!("{p}/{proto}")).collect())
}

/// Splits `80/tcp` into (80, "tcp").
pub fn split_port(s: &str) -> Result<(u16, &'static str)> {
    let (body, proto) = match s.rsplit_once('/') {
        Some((b, p)) => (b, parse_proto(p, s)?),
        None => (s, "tcp"),
    };
    let (a, b) = parse_range(body, s)?;
    if a != b {
        return Err(NetError::BadArgs(format!(
            "expected a single port, got {s:?}"
        )));
    }
    Ok((a, proto))
}

/// A wanted binding before host ports are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    pub host_ip: Ipv4Addr,
    /// Candidate host ports: one fixed port, a range to pick one from, or empty (dynamic).
    pub host_range: Option<(u16, u16)>,
    pub container_port: u16,
    pub proto: &'static str,
}

/// Expands `-p` specs (and `-P`'s exposed ports) into one wanted binding per container port.
pub fn expand(specs: &[PublishSpec], publish_all: &[String]) -> Result<Vec<Wanted>> {
    let mut out = Vec::new();
    for s in specs {
        let ip = s.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let (ca, cb) = s.container_ports;
        for (i, cp) in (ca..=cb).enumerate() {
            let host_range = match s.host_ports {
                None => None,
                // HOST-RANGE:PORT picks one free port of the range.
                Some((a, b)) if ca == cb => Some((a, b)),
                Some((a, _)) => Some((a + i as u16, a + i as u16)),
            };
            out.push(Wanted {
                host_ip: ip,
                host_range,
                container_port: cp,
                proto: s.proto,
            });
        }
    }
    for p in publish_all {
        let (port, proto) = split_port(p)?;
        // -P skips ports that -p already published.
        if out
            .iter()
            .any(|w| w.container_port == port && w.proto == proto)
        {
            continue;
        }
        out.push(Wanted {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_range: None,
            container_port: port,
            proto,
        });
    }
    Ok(out)
}

/// An IPv6 host address in brackets (`[::]`), as Go's `net.JoinHostPort` writes it.
fn bracketed(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// `docker port` output: every mapping as `80/tcp -> 0.0.0.0:8080`, or, for one
/// `PORT[/PROTO]`, just its host addresses. `name` is used in the error for an unpublished port.
pub fn format_ports(bindings: &[PortBinding], filter: Option<&str>, name: &str) -> Result<String> {
    let mut sorted: Vec<&PortBinding> = bindings.iter().collect();
    sorted.sort_by_key(|b| (b.container_port, b.protocol.clone(), b.host_port));
    let mut out = String::new();
    match filter {
        None => {
            for b in sorted {
                out.push_str(&format!(
                    "{}/{} -> {}:{}\n",
                    b.container_port,
                    b.protocol,
                    bracketed(&b.host_ip),
                    b.host_port
                ));
            }
        }
        Some(f) => {
            let (port, proto) = split_port(f)?;
            for b in sorted
                .into_iter()
                .filter(|b| b.container_port == port && b.protocol == proto)
            {
                out.push_str(&format!("{}:{}\n", bracketed(&b.host_ip), b.host_port));
            }
            if out.is_empty() {
                return Err(NetError::NotPublished(format!(
                    "No public port '{port}/{proto}' published for {name}"
                )));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_forms_with_protocols_and_ranges() {
        let p = parse_publish("80").unwrap();
        assert_eq!(
            (p.host_ip, p.host_ports, p.container_ports, p.proto),
            (None, None, (80, 80), "tcp")
        );
        let p = parse_publish("8080:80/udp").unwrap();
        assert_eq!((p.host_ports, p.proto), (Some((8080, 8080)), "udp"));
        let p = parse_publish("127.0.0.1::80").unwrap();
        assert_eq!((p.host_ip, p.host_ports), (Some(Ipv4Addr::LOCALHOST), None));
        let p = parse_publish("127.0.0.1:8080:80/tcp").unwrap();
        assert_eq!(
            (p.host_ip, p.host_ports),
            (Some(Ipv4Addr::LOCALHOST), Some((8080, 8080)))
        );
        let p = parse_publish("8000-8002:9000-9002").unwrap();
        let w = expand(&[p], &[]).unwrap();
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[2].host_range, w[2].container_port),
            (Some((8002, 8002)), 9002)
        );
        let w = expand(&[parse_publish("8000-8009:80").unwrap()], &[]).unwrap();
        assert_eq!((w.len(), w[0].host_range), (1, Some((8000, 8009))));
        assert_eq!(
            expand(&[parse_publish("0.0.0.0::80-81").unwrap()], &[])
                .unwrap()
                .len(),
            2
        );
        for bad in [
            "", "x", "0", "70000", "1:2:3:4", "80/icmp", "9-8", "1-3:1-2", "a.b::80",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad} should be refused");
        }
        assert!(matches!(
            parse_publish("80/sctp"),
            Err(NetError::Unsupported(_))
        ));
    }

    #[test]
    fn publish_all_skips_ports_already_published() {
        let w = expand(
            &[parse_publish("8080:80").unwrap()],
            &["80/tcp".into(), "53/udp".into()],
        )
        .unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[1].container_port, w[1].proto, w[1].host_range),
            (53, "udp", None)
        );
        assert_eq!(
            parse_expose("7000-7001/udp").unwrap(),
            ["7000/udp", "7001/udp"]
        );
    }

    #[test]
    fn port_output_matches_docker() {
        let b = |hp, cp, proto: &str| PortBinding {
            host_ip: "0.0.0.0".into(),
            host_port: hp,
            container_port: cp,
            protocol: proto.into(),
        };
        let all = [b(8443, 443, "tcp"), b(8080, 80, "tcp"), b(5353, 53, "udp")];
        assert_eq!(
            format_ports(&all, None, "web").unwrap(),
            "53/udp -> 0.0.0.0:5353\n80/tcp -> 0.0.0.0:8080\n443/tcp -> 0.0.0.0:8443\n"
        );
        assert_eq!(
            format_ports(&all, Some("80"), "web").unwrap(),
            "0.0.0.0:8080\n"
        );
        let e = format_ports(&all, Some("81/tcp"), "web").unwrap_err();
        assert_eq!(e.to_string(), "No public port '81/tcp' published for web");
    }
}
