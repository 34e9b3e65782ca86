//! Published ports as Docker prints them in the PORTS column of `ps`
//! (`0.0.0.0:8080->80/tcp, 443/tcp`); `port`'s lines come from `net::ports`.
//!
//! Ranges are collapsed as docker/cli's `DisplayablePorts` does (`0.0.0.0:8000-8002->8000-8002/tcp`),
//! and further: consecutive mappings whose host and container ports move together collapse
//! too (`0.0.0.0:9000-9999->8000-8999/tcp`), where Docker would print a thousand entries.

use crate::protocol::{PortBinding, Record};
use crate::views::status::status_of;

/// One port of a container: published (`public` > 0) or only exposed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Port {
    pub private: u16,
    pub ip: String,
    pub public: u16,
    pub proto: String,
}

/// The container's ports: each published binding, and each exposed port that has none.
pub fn ports(bindings: &[PortBinding], exposed: &[String]) -> Vec<Port> {
    let mut out: Vec<Port> = bindings
        .iter()
        .map(|b| Port {
            private: b.container_port,
            ip: if b.host_ip.is_empty() {
                "0.0.0.0".into()
            } else {
                b.host_ip.clone()
            },
            public: b.host_port,
            proto: proto_or_tcp(&b.protocol),
        })
        .collect();
    for e in exposed {
        let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        if !out.iter().any(|p| p.private == port && p.proto == proto) {
            out.push(Port {
                private: port,
                ip: String::new(),
                public: 0,
                proto: proto.to_string(),
            });
        }
    }
    out
}

fn proto_or_tcp(p: &str) -> String {
    if p.is_empty() {
        "tcp".into()
    } else {
        p.to_lowercase()
    }
}

/// `host:port`, with brackets for IPv6 (Go's `net.JoinHostPort`).
pub fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn range(first: u16, last: u16) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    }
}

struct Group {
    key: (String, String, i32),
    first: u16,
    last: u16,
    public_first: u16,
}

impl Group {
    fn text(&self) -> String {
        let (ip, proto, offset) = &self.key;
        let private = range(self.first, self.last);
        if ip.is_empty() {
            return format!("{private}/{proto}");
        }
        let public = if *offset == 0 {
            private.clone()
        } else {
            range(
                self.public_first,
                self.public_first + (self.last - self.first),
            )
        };
        format!("{}->{private}/{proto}", join_host_port(ip, &public))
    }
}

/// The PORTS column.
pub fn display(ports: &[Port]) -> String {
    let mut sorted = ports.to_vec();
    sorted.sort();
    // Docker lists same-port groups and bare exposed ports first, then mappings to other host
    // ports.
    let mut same = Grouper::default();
    let mut mapped = Grouper::default();
    for p in &sorted {
        let offset = if p.ip.is_empty() {
            0
        } else {
            p.public as i32 - p.private as i32
        };
        let g = if offset == 0 { &mut same } else { &mut mapped };
        g.add((p.ip.clone(), p.proto.clone(), offset), p.private, p.public);
    }
    let mut parts = same.finish();
    parts.extend(mapped.finish());
    parts.join(", ")
}

#[derive(Default)]
struct Grouper {
    done: Vec<String>,
    open: Vec<Group>,
}

impl Grouper {
    fn add(&mut self, key: (String, String, i32), private: u16, public: u16) {
        if let Some(g) = self.open.iter_mut().find(|g| g.key == key) {
            if private == g.last.wrapping_add(1) {
                g.last = private;
                return;
            }
            self.done.push(g.text());
            *g = Group {
                key,
                first: private,
                last: private,
                public_first: public,
            };
            return;
        }
        self.open.push(Group {
            key,
            first: private,
            last: private,
            public_first: public,
        });
    }

    fn finish(mut self) -> Vec<String> {
        self.done.extend(self.open.iter().map(Group::text));
        self.done
    }
}

/// `port NAME [PRIVATE[/PROTO]]`: netns's formatter (`net::ports::format_ports`, one copy of
/// Docker's output) over the ports that are live. Like Docker, a container that is not
/// running publishes nothing.
pub fn container_port_output(r: &Record, filter: Option<&str>) -> crate::Result<String> {
    let live = match (&r.network, status_of(r).is_active()) {
        (Some(n), true) => n.ports.clone(),
        _ => Vec::new(),
    };
    Ok(crate::net::ports::format_ports(&live, filter, &r.name)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, host: u16, ctr: u16, proto: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.into(),
            host_port: host,
            container_port: ctr,
            protocol: proto.into(),
        }
    }

    #[test]
    fn ps_column_matches_docker() {
        let p = ports(
            &[b("0.0.0.0", 8080, 80, "tcp")],
            &["80/tcp".into(), "443/tcp".into()],
        );
        assert_eq!(display(&p), "443/tcp, 0.0.0.0:8080->80/tcp");
        let p = ports(&[], &["53/udp".into(), "53/tcp".into()]);
        assert_eq!(display(&p), "53/tcp, 53/udp");
        let same: Vec<_> = (8000..=8002).map(|x| b("0.0.0.0", x, x, "tcp")).collect();
        assert_eq!(
            display(&ports(&same, &[])),
            "0.0.0.0:8000-8002->8000-8002/tcp"
        );
        let shifted: Vec<_> = (0..1000)
            .map(|i| b("0.0.0.0", 9000 + i, 8000 + i, "tcp"))
            .collect();
        assert_eq!(
            display(&ports(&shifted, &[])),
            "0.0.0.0:9000-9999->8000-8999/tcp"
        );
        let gap = vec![b("127.0.0.1", 1, 1, "udp"), b("127.0.0.1", 3, 3, "udp")];
        assert_eq!(
            display(&ports(&gap, &[])),
            "127.0.0.1:1->1/udp, 127.0.0.1:3->3/udp"
        );
        assert_eq!(
            display(&ports(&[b("::", 80, 80, "tcp")], &[])),
            "[::]:80->80/tcp"
        );
        assert_eq!(display(&[]), "");
    }
}
