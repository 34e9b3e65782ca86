//! The files every container gets, written into its directory and bind-mounted over
//! /etc/hostname, /etc/hosts and /etc/resolv.conf (as Docker does): the image's own copies
//! stay untouched and the host's are never shared.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::error::{NetError, Result};

/// Docker's fallback when the host has no usable (non-loopback) nameserver.
const FALLBACK_NAMESERVERS: [&str; 2] = ["8.8.8.8", "8.8.4.4"];

/// `/etc/hosts`: localhost, IPv6 names, `--add-host` entries, links, and the container itself.
pub fn hosts(
    own: Option<(Ipv4Addr, &str, &str)>,
    extra: &[(String, String)],
    links: &[(Ipv4Addr, Vec<String>)],
) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for (name, ip) in extra {
        s.push_str(&format!("{ip}\t{name}\n"));
    }
    for (ip, names) in links {
        s.push_str(&format!("{ip}\t{}\n", names.join(" ")));
    }
    if let Some((ip, hostname, domain)) = own {
        if domain.is_empty() {
            s.push_str(&format!("{ip}\t{hostname}\n"));
        } else {
            s.push_str(&format!("{ip}\t{hostname}.{domain} {hostname}\n"));
        }
    }
    s
}

/// Parses `--add-host NAME:IP` (or `NAME=IP`); `host-gateway` becomes `gateway`.
pub fn parse_add_host(s: &str, gateway: Option<Ipv4Addr>) -> Result<(String, String)> {
    let (name, ip) = s
        .split_once('=')
        .or_else(|| s.split_once(':'))
        .ok_or_else(|| NetError::BadArgs(format!("invalid --add-host {s:?}: expected NAME:IP")))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(NetError::BadArgs(format!(
            "invalid host name in --add-host {s:?}"
        )));
    }
    let ip = if ip == "host-gateway" {
        gateway
            .ok_or_else(|| {
                NetError::BadArgs(format!(
                    "--add-host {s}: host-gateway needs a bridge network (it is the bridge's address)"
                ))
            })?
            .to_string()
    } else {
        ip.parse::<IpAddr>()
            .map_err(|_| NetError::BadArgs(format!("invalid IP address in --add-host {s:?}")))?
            .to_string()
    };
    Ok((name.to_string(), ip))
}

fn is_loopback(ns: &str) -> bool {
    ns.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `/etc/resolv.conf` from the host's: loopback nameservers dropped (they would point into
/// the container itself; Docker's fallback applies if none is left), or replaced by `--dns`;
/// `--dns-search` and `--dns-option` replace the search and options lines.
pub fn resolv_conf(
    host: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
    keep_loopback: bool,
) -> Result<String> {
    for d in dns {
        d.parse::<IpAddr>().map_err(|_| {
            NetError::BadArgs(format!("invalid --dns {d:?}: expected an IP address"))
        })?;
    }
    let mut nameservers = Vec::new();
    let mut host_search: Vec<String> = Vec::new();
    let mut host_options: Vec<String> = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ns) = words.next()
                    && (keep_loopback || !is_loopback(ns))
                {
                    nameservers.push(ns.to_string());
                }
            }
            Some("search") | Some("domain") => host_search = words.map(String::from).collect(),
            Some("options") => host_options.extend(words.map(String::from)),
            _ => {}
        }
    }
    if !dns.is_empty() {
        nameservers = dns.to_vec();
    } else if nameservers.is_empty() {
        nameservers = FALLBACK_NAMESERVERS.iter().map(|s| s.to_string()).collect();
    }
    let search = if search.is_empty() {
        host_search
    } else {
        search.to_vec()
    };
    let options = if options.is_empty() {
        host_options
    } else {
        options.to_vec()
    };
    let mut s = String::new();
    if !search.is_empty() && search != ["."] {
        s.push_str(&format!("search {}\n", search.join(" ")));
    }
    for ns in nameservers {
        s.push_str(&format!("nameserver {ns}\n"));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    Ok(s)
}

/// The host's resolv.conf, following systemd-resolved's stub to the real upstream list.
pub fn host_resolv_conf(configured: Option<&Path>) -> String {
    if let Some(p) = configured {
        return std::fs::read_to_string(p).unwrap_or_default();
    }
    let main = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let only_stub = main
        .lines()
        .filter(|l| l.trim_start().starts_with("nameserver"))
        .all(|l| l.split_whitespace().nth(1).is_some_and(is_loopback));
    if only_stub && let Ok(real) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
        return real;
    }
    main
}

/// Validates `--hostname` (RFC 1123 labels, as Docker checks).
pub fn validate_hostname(h: &str) -> Result<()> {
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(NetError::BadArgs(format!("invalid hostname {h:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_drops_loopback_and_takes_overrides() {
        let host = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.1\nsearch a.example b.example\noptions edns0\n";
        assert_eq!(
            resolv_conf(host, &[], &[], &[], false).unwrap(),
            "search a.example b.example\nnameserver 10.0.0.1\noptions edns0\n"
        );
        assert_eq!(
            resolv_conf("nameserver ::1\n", &[], &[], &[], false).unwrap(),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
        let s = resolv_conf(
            host,
            &["1.1.1.1".into(), "9.9.9.9".into()],
            &["x.test".into()],
            &["ndots:2".into()],
            false,
        )
        .unwrap();
        assert_eq!(
            s,
            "search x.test\nnameserver 1.1.1.1\nnameserver 9.9.9.9\noptions ndots:2\n"
        );
        assert!(resolv_conf(host, &["nope".into()], &[], &[], false).is_err());
        assert!(
            resolv_conf(host, &[], &[], &[], true)
                .unwrap()
                .contains("127.0.0.53")
        );
    }

    #[test]
    fn hosts_and_add_host() {
        let gw = Some(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            parse_add_host("db:10.0.0.9", gw).unwrap(),
            ("db".into(), "10.0.0.9".into())
        );
        assert_eq!(parse_add_host("h=host-gateway", gw).unwrap().1, "10.0.0.1");
        assert_eq!(parse_add_host("v6:::1", gw).unwrap().1, "::1");
        assert!(parse_add_host("nocolon", gw).is_err());
        assert!(parse_add_host("x:notanip", gw).is_err());
        let h = hosts(
            Some((Ipv4Addr::new(10, 0, 0, 2), "abc", "")),
            &[("db".into(), "10.0.0.9".into())],
            &[(
                Ipv4Addr::new(10, 0, 0, 3),
                vec!["alias".into(), "cafe".into(), "web".into()],
            )],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(
            h.contains("10.0.0.9\tdb\n10.0.0.3\talias cafe web\n10.0.0.2\tabc\n"),
            "{h}"
        );
    }

    #[test]
    fn hostnames() {
        assert!(validate_hostname("web-1.example").is_ok());
        for bad in ["", "-a", "a_b", "a..b", "x y"] {
            assert!(validate_hostname(bad).is_err(), "{bad}");
        }
    }
}
