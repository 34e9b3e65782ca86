//! The seed's networking (docker-notes.md, "Networking with Docker"): the four archetypes
//! (closed, bridged, joined, open), `--hostname`, `--dns`, `--dns-search`, `--add-host`,
//! every `-p` form, `-P` with image EXPOSE and `--expose`, `port`. "Outside" is a fake host in
//! a namespace the test made (it stands for the notes' 8.8.8.8); no traffic leaves the machine.

use std::net::UdpSocket;
use std::time::Duration;

use berth_e2e::argv;
use berth_e2e::net::{http_get, udp_socket_in};
use berth_e2e::seed_images::WEB_PAGE;
use berth_e2e::session::Session;
use berth_e2e::until;

/// The name asked in a DNS query (the QNAME of the packet).
fn query_name(packet: &[u8]) -> String {
    let mut i = 12;
    let mut labels = Vec::new();
    while i < packet.len() && packet[i] != 0 {
        let n = packet[i] as usize;
        labels.push(String::from_utf8_lossy(&packet[i + 1..i + 1 + n]).into_owned());
        i += 1 + n;
    }
    labels.join(".")
}

fn next_query(sock: &UdpSocket, wait: Duration) -> Option<String> {
    sock.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 512];
    sock.recv_from(&mut buf)
        .ok()
        .map(|(n, _)| query_name(&buf[..n]))
}

#[test]
fn closed_bridged_joined_and_open_containers() {
    let mut s = Session::seed();
    let (outside, oip) = s.net.outside_host(&s.w.env);
    let dns = udp_socket_in(&outside, 53);
    let oip = oip.to_string();

    // Closed: loopback only, and nothing gets out.
    let out = s.ok(&argv!("run --rm --net none busybox:latest ip addr"));
    assert!(out.contains(": lo:") && !out.contains("eth0"), "{out}");
    let r = s.berth(&argv!(
        "run --rm --net none --dns {} busybox nslookup docker.com",
        &oip
    ));
    assert_ne!(r.code(), 0, "{r:?}");
    assert_eq!(next_query(&dns, Duration::from_millis(300)), None);

    // Bridged (the default, and --net bridge): loopback and eth0 on the bridge's subnet,
    // and the outside is reachable: a DNS query reaches the --dns server.
    let subnet = format!("10.213.{}.", s.net.default_slot().n);
    for net in [&["--net", "bridge"][..], &[]] {
        let mut argv = vec!["run", "--rm"];
        argv.extend_from_slice(net);
        argv.extend_from_slice(&["busybox:latest", "ip", "addr"]);
        let out = s.ok(&argv);
        assert!(out.contains(": lo:") && out.contains(": eth0@"), "{out}");
        assert!(out.contains(&format!("inet {subnet}")), "{out}");
    }
    // docker run --rm --dns 8.8.8.8 alpine nslookup docker.com
    s.detach(&["--dns", &oip, "busybox:latest", "nslookup", "docker.com"]);
    let q = until("the query at the --dns server", || {
        next_query(&dns, Duration::from_millis(500))
    });
    assert_eq!(q, "docker.com");

    // Joined: brady listens on its loopback; a container in its network sees and reaches it.
    s.detach(&argv!(
        "--name brady --net none busybox:latest nc -l -p 3333"
    ));
    let netstat = until("brady's listener", || {
        let o = s.ok(&argv!(
            "run --rm --net container:brady busybox:latest netstat -al"
        ));
        o.contains(":3333").then_some(o)
    });
    assert!(netstat.contains("LISTEN"), "{netstat}");
    // ... and reaches it: brady's nc takes the connection, and exits when it ends.
    let brady = s.id("brady");
    s.ok(&argv!(
        "run --rm --net {} busybox nc 127.0.0.1 3333",
        &format!("container:{}", &brady[..12])
    ));
    s.wait_status("brady", "exited");
    assert_eq!(s.inspect("brady", "{{.State.ExitCode}}"), "0");

    // Open: the host's own interfaces (the fake outside host's veth is one).
    let out = s.ok(&argv!("run --rm --net host busybox:latest ip addr"));
    let veth = format!("bto{}", oip.split('.').nth(2).unwrap());
    assert!(out.contains(&veth), "host network shows {veth}: {out}");
}

#[test]
fn hostname_dns_search_and_add_host() {
    let s = Session::seed();
    // docker run --rm --hostname barker alpine nslookup barker: the name is the container's
    // own bridge address.
    let out = s.ok(&argv!(
        "run --rm --hostname barker busybox:latest sh -c 'hostname; ping -c 1 -W 2 barker'"
    ));
    let subnet = format!("10.213.{}.", s.net.default_slot().n);
    assert!(out.starts_with("barker\n"), "{out}");
    assert!(out.contains(&format!("PING barker ({subnet}")), "{out}");

    // --dns, --dns-search: the container's resolv.conf.
    let out = s.ok(&argv!(
        "run --rm --dns 8.8.8.8 --dns 8.8.4.4 --dns-search docker.com busybox:latest cat \
         /etc/resolv.conf"
    ));
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.contains(&"nameserver 8.8.8.8"), "{out}");
    assert!(lines.contains(&"nameserver 8.8.4.4"), "{out}");
    assert!(lines.contains(&"search docker.com"), "{out}");
    for env in ["dev", "test"] {
        let out = s.ok(&argv!(
            "run --rm --dns-search {} busybox:latest cat /etc/resolv.conf",
            &format!("{env}.mycompany")
        ));
        assert!(out.contains(&format!("search {env}.mycompany")), "{out}");
    }

    // docker run --rm --hostname mycontainer --add-host docker.com:127.0.0.1
    //   --add-host test:10.10.10.2 alpine cat /etc/hosts
    let out = s.ok(&argv!(
        "run --rm --hostname mycontainer --add-host docker.com:127.0.0.1 --add-host \
         test:10.10.10.2 busybox:latest sh -c 'cat /etc/hosts; ping -c 1 -W 2 docker.com'"
    ));
    assert!(out.contains("127.0.0.1\tdocker.com"), "{out}");
    assert!(out.contains("10.10.10.2\ttest"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&subnet) && l.contains("mycontainer")),
        "{out}"
    );
    assert!(out.contains("PING docker.com (127.0.0.1)"), "{out}");
}

/// Lines of `berth port NAME`, as a map "80/tcp" -> "0.0.0.0:PORT" (first binding).
fn host_port(s: &Session, name: &str, spec: &str) -> u16 {
    let out = s.ok(&["port", name, spec]);
    out.lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("berth port {name} {spec}: {out:?}"))
}

fn serves(port: u16) -> String {
    let url = format!("http://127.0.0.1:{port}/");
    until(&url, || http_get(&url))
}

/// httpd on each port given, in the foreground on the last.
fn servers(ports: &[u16]) -> String {
    let mut cmd = String::new();
    for p in &ports[..ports.len() - 1] {
        cmd.push_str(&format!("httpd -p {p} -h /www; "));
    }
    cmd.push_str(&format!(
        "exec httpd -f -p {} -h /www",
        ports[ports.len() - 1]
    ));
    cmd
}

#[test]
fn publish_forms_publish_all_expose_and_port() {
    let s = Session::seed();
    let (h1, h2) = (s.port(2), s.port(3));
    // The four -p forms on one container.
    s.detach(&argv!(
        "--name forms -p 80 -p {} -p 127.0.0.1::82 -p {} nginx sh -c {}",
        &format!("{h1}:81"),
        &format!("127.0.0.1:{h2}:83"),
        &servers(&[80, 81, 82, 83])
    ));
    let dynamic = host_port(&s, "forms", "80");
    assert!(s.ok(&["port", "forms", "80"]).starts_with("0.0.0.0:"));
    assert_eq!(host_port(&s, "forms", "81"), h1);
    let local = s.ok(&["port", "forms", "82/tcp"]);
    assert!(local.starts_with("127.0.0.1:"), "{local}");
    assert_eq!(
        s.ok(&["port", "forms", "83"]).trim(),
        format!("127.0.0.1:{h2}")
    );
    for p in [dynamic, h1, host_port(&s, "forms", "82"), h2] {
        assert_eq!(serves(p), WEB_PAGE);
    }
    // `port NAME` lists every mapping.
    assert_eq!(
        s.ok(&["port", "forms"])
            .lines()
            .filter(|l| !l.contains("[::]"))
            .count(),
        4
    );

    // docker run -d --name dawson -p 5000 -p 6000 -p 7000
    s.detach(&argv!(
        "--name dawson -p 5000 -p 6000 -p 7000 nginx sh -c {}",
        &servers(&[5000, 6000, 7000])
    ));
    for c in [5000, 6000, 7000] {
        assert_eq!(serves(host_port(&s, "dawson", &c.to_string())), WEB_PAGE);
    }
    let ports = s.ok(&["ps", "--filter", "name=dawson", "--format", "{{.Ports}}"]);
    for c in ["5000/tcp", "6000/tcp", "7000/tcp"] {
        assert!(ports.contains(&format!("->{c}")), "{ports}");
    }

    // docker run -d --name woolery -P: the image's EXPOSE 80.
    s.detach(&["--name", "woolery", "-P", "nginx"]);
    assert_eq!(serves(host_port(&s, "woolery", "80")), WEB_PAGE);
    // docker run -d --name philbin --expose 8000 -P
    s.detach(&argv!(
        "--name philbin --expose 8000 -P nginx sh -c {}",
        &servers(&[80, 8000])
    ));
    assert_eq!(serves(host_port(&s, "philbin", "8000")), WEB_PAGE);
    assert_eq!(serves(host_port(&s, "philbin", "80")), WEB_PAGE);

    // A host port already published is refused, clearly, and nothing is left behind.
    let before = s.ok(&["ps", "-aq"]);
    let r = s
        .berth(&["run", "-d", "-p", &format!("{h1}:80"), "nginx"])
        .fails_with(125);
    assert!(r.error_line().contains(&h1.to_string()), "{}", r.stderr);
    assert_eq!(s.ok(&["ps", "-aq"]), before);
}

/// `--expose` adds to the container's configuration, as Docker shows it.
#[test]
fn expose_shows_in_inspect() {
    let s = Session::seed();
    s.ok(&argv!("create --name philbin --expose 8000 -P nginx"));
    let exposed = s.inspect("philbin", "{{json .Config.ExposedPorts}}");
    assert!(
        exposed.contains("8000/tcp") && exposed.contains("80/tcp"),
        "{exposed}"
    );
}
