//! The DNAT of published ports: one rule per run of consecutive ports, not one per port, so
//! `-p 20000-20999:20000-20999` is one rule per family. A run is bindings (in the record's
//! order) of one protocol and host address whose host and container ports both go up by one;
//! it keeps the port (`--to-destination IP`) when host and container ports are equal, and
//! shifts it with the kernel's base-port form otherwise (`IP:30000-30999/20000`: the packet
//! for `20000 + k` goes to `30000 + k`; DNAT revision 2, Linux 5.0 and iptables 1.8.6, in both
//! the nft and legacy backends). A single port keeps the classic `IP:PORT`, so a record made
//! before runs existed regenerates the rules its set-up added.

use std::net::IpAddr;

use crate::protocol::PortBinding;

/// One run of consecutive published ports.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run<'a> {
    proto: &'a str,
    host_ip: &'a str,
    host: (u16, u16),
    container: (u16, u16),
}

fn runs<'a>(ports: impl Iterator<Item = &'a PortBinding>) -> Vec<Run<'a>> {
    let mut out: Vec<Run> = Vec::new();
    for p in ports {
        if let Some(r) = out.last_mut()
            && r.proto == p.protocol
            && r.host_ip == p.host_ip
            && r.host.1.checked_add(1) == Some(p.host_port)
            && r.container.1.checked_add(1) == Some(p.container_port)
        {
            r.host.1 = p.host_port;
            r.container.1 = p.container_port;
            continue;
        }
        out.push(Run {
            proto: &p.protocol,
            host_ip: &p.host_ip,
            host: (p.host_port, p.host_port),
            container: (p.container_port, p.container_port),
        });
    }
    out
}

/// The DNAT rule specs (without the tag) of `ports` to container address `to`, one per run;
/// `dst` gives the `-d` match of a binding's host address (empty for every address).
pub(super) fn specs<'a>(
    ports: impl Iterator<Item = &'a PortBinding>,
    to: IpAddr,
    dst: impl Fn(&str) -> String,
) -> Vec<String> {
    let addr = match to {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    };
    runs(ports)
        .into_iter()
        .map(|r| {
            let proto = r.proto;
            let ((h0, h1), (c0, c1)) = (r.host, r.container);
            let target = if h0 == h1 {
                format!("--dport {h0} -j DNAT --to-destination {addr}:{c0}")
            } else if h0 == c0 {
                format!("--dport {h0}:{h1} -j DNAT --to-destination {to}")
            } else {
                format!("--dport {h0}:{h1} -j DNAT --to-destination {addr}:{c0}-{c1}/{h0}")
            };
            format!("{}-p {proto} -m {proto} {target}", dst(r.host_ip))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(hp: u16, cp: u16, proto: &str) -> PortBinding {
        PortBinding {
            host_ip: "0.0.0.0".into(),
            host_port: hp,
            container_port: cp,
            protocol: proto.into(),
        }
    }

    #[test]
    fn a_range_is_one_rule_and_a_single_port_the_classic_one() {
        let mut ports: Vec<PortBinding> =
            (0..1000).map(|k| b(20000 + k, 20000 + k, "tcp")).collect();
        ports.extend((0..10).map(|k| b(21000 + k, 30000 + k, "tcp")));
        ports.push(b(8080, 80, "tcp"));
        ports.push(b(8081, 81, "udp"));
        let to: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(
            specs(ports.iter(), to, |_| String::new()),
            [
                "-p tcp -m tcp --dport 20000:20999 -j DNAT --to-destination 10.0.0.2",
                "-p tcp -m tcp --dport 21000:21009 -j DNAT --to-destination 10.0.0.2:30000-30009/21000",
                "-p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.2:80",
                "-p udp -m udp --dport 8081 -j DNAT --to-destination 10.0.0.2:81",
            ]
        );
        let v6: IpAddr = "fd00::2".parse().unwrap();
        assert_eq!(
            specs(ports[..2].iter(), v6, |_| "-d x ".into()),
            ["-d x -p tcp -m tcp --dport 20000:20001 -j DNAT --to-destination fd00::2"]
        );
        assert_eq!(
            specs(ports[1000..1002].iter(), v6, |_| String::new()),
            [
                "-p tcp -m tcp --dport 21000:21001 -j DNAT --to-destination [fd00::2]:30000-30001/21000"
            ]
        );
    }

    #[test]
    fn a_run_breaks_on_a_gap_a_protocol_or_an_address() {
        let mut other = b(2, 2, "tcp");
        other.host_ip = "127.0.0.1".into();
        let ports = [
            b(1, 1, "tcp"),
            other,
            b(3, 3, "tcp"),
            b(4, 4, "udp"),
            b(6, 6, "udp"),
        ];
        assert_eq!(runs(ports.iter()).len(), 5);
        let ports = [b(1, 1, "tcp"), b(2, 3, "tcp")];
        assert_eq!(
            runs(ports.iter()).len(),
            2,
            "the container side must follow too"
        );
    }
}
