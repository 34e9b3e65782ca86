//! The loopback boundary (issue 12, item 5; the CVE-2020-8558 class). berth turns on
//! `route_localnet` on its bridges so that `curl 127.0.0.1:HOSTPORT` on the host reaches a
//! port published on 127.0.0.1. These tests attack what that could open, and check that the
//! feature still works:
//!
//! - a container, with its default CAP_NET_RAW, addresses frames to the gateway's MAC with
//!   destination 127.0.0.1 (tests/src/rawpkt.c, an AF_PACKET sender) at host services bound
//!   to loopback: they get nothing, while the same frames to the gateway's own address
//!   arrive, and ports published on 127.0.0.1 and 0.0.0.0 answer the host;
//! - a LAN neighbour (a namespace joined to the host by a veth) sends a frame to the host's
//!   MAC for 127.0.0.1 at a port published on 127.0.0.1 only: no connection, while the
//!   host's own `curl 127.0.0.1:PORT` and the neighbour's connection to a port published on
//!   every address work;
//! - both again, on a throwaway host (a network and mount namespace of the test's own) whose
//!   `iptables-restore` is iptables-legacy, then iptables-nft, through `berth-netns`;
//! - every time, nothing is left: no bridge, veth or rule, and no berth rule at all once the
//!   last berth bridge is gone.
//!
//! Traffic goes only to loopback, to the test's bridges and to namespaces the test made.

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth::net::netlink::Netlink;
use berth::net::{firewall, host, netns};
use berth_e2e::argv;
use berth_e2e::net::{self, Proc};
use berth_e2e::session::Session;
use berth_e2e::until;
use berth_e2e::{Run, TestEnv, fixtures};

/// Hang protection for a datagram that must arrive (never a timing claim).
const ARRIVES: Duration = Duration::from_secs(20);

/// Builds tests/src/rawpkt.c (static, so it runs in a busybox container) into `dir/tools/`.
fn rawpkt(dir: &Path) -> PathBuf {
    let out = dir.join("tools/rawpkt");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rawpkt.c");
    fixtures::must(
        Command::new("gcc")
            .args(["-static", "-O2", "-o"])
            .arg(&out)
            .arg(&src),
    );
    out
}

/// The MAC of interface `name` in the calling thread's network namespace.
fn mac_of(name: &str) -> String {
    let out = fixtures::must(Command::new("ip").args(["-o", "link", "show", "dev", name]));
    let mac = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC for {name}: {out}"));
    mac.to_string()
}

/// The next datagram on `sock`, waiting at most `ARRIVES`.
fn datagram(sock: &UdpSocket) -> String {
    sock.set_read_timeout(Some(ARRIVES)).unwrap();
    let mut buf = [0u8; 256];
    let (n, _) = sock.recv_from(&mut buf).expect("a datagram");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Sends `marker` to `to` from the host's loopback, and asserts it is the first datagram
/// `sock` has: whatever an attack sent earlier never arrived.
fn first_is_marker(sock: &UdpSocket, to: SocketAddr, marker: &str) {
    let me = UdpSocket::bind("127.0.0.1:0").unwrap();
    me.send_to(marker.as_bytes(), to).unwrap();
    assert_eq!(datagram(sock), marker, "an attack datagram arrived first");
}

/// Asserts that no connection is waiting on `l`.
fn nothing_accepted(l: &TcpListener) {
    l.set_nonblocking(true).unwrap();
    match l.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        Ok((_, peer)) => panic!("the loopback service accepted a connection from {peer}"),
        Err(e) => panic!("accept: {e}"),
    }
}

/// Under the machine-wide network lock: once no berth bridge is left, `iptables-save` shows
/// nothing of berth's (no rule, no chain). While another test's bridge is up, berth's chains
/// rightly stay; then only `mine` (this test's bridges and ids) must be gone.
fn no_berth_rules_once_idle(mine: &[&str]) {
    let _l = host::lock().unwrap();
    let mut nl = Netlink::open().unwrap();
    let bridges = host::berth_bridges(&mut nl, "").unwrap();
    let saved = firewall::save().unwrap();
    for w in mine {
        let left: Vec<&str> = saved.lines().filter(|l| l.contains(w)).collect();
        assert!(left.is_empty(), "rules naming {w} left: {left:#?}");
    }
    if bridges.is_empty() {
        let left: Vec<&str> = saved
            .lines()
            .filter(|l| l.to_ascii_lowercase().contains("berth"))
            .collect();
        assert!(
            left.is_empty(),
            "berth's rules outlived its last bridge: {left:#?}"
        );
    } else {
        eprintln!(
            "berth bridges of other tests are up ({bridges:?}): checked this test's rules only"
        );
    }
}

/// `rawpkt` inside a running container (`berth exec`).
fn exec_rawpkt(b: &Session, container: &str, args: &[&str]) -> Run {
    let mut argv = vec!["exec", container, "/tools/rawpkt", "eth0"];
    argv.extend_from_slice(args);
    b.berth(&argv)
}

#[test]
fn a_container_with_net_raw_cannot_reach_host_services_on_loopback() {
    let b = Session::new();
    let s = b.net.default_slot().clone();
    let helper = rawpkt(b.w.env.dir());
    let tools = helper.parent().unwrap().display().to_string();
    let (local, any) = (s.port(0), s.port(1));
    let id = b.detach(&argv!(
        "--name web -p {} -p {} -v {} busybox sh -c \
         'mkdir -p /www && echo web-page > /www/index.html && exec httpd -f -p 80 -h /www'",
        &format!("127.0.0.1:{local}:80"),
        &format!("{any}:80"),
        &format!("{tools}:/tools:ro")
    ));
    // Localhost publishing works: 127.0.0.1 from the host, and a port on every address.
    let page = Some("web-page\n".to_string());
    until("the port published on 127.0.0.1", || {
        net::http_get(&format!("http://127.0.0.1:{local}/")).filter(|p| p == "web-page\n")
    });
    assert_eq!(net::http_get(&format!("http://127.0.0.1:{any}/")), page);
    assert_eq!(net::http_get(&format!("http://{}:{any}/", s.gateway)), page);

    // Host services bound to loopback (the targets), and the same bound to the gateway's
    // address (the controls: the frames are well made and NET_RAW is there).
    let udp_lo = UdpSocket::bind(("127.0.0.1", s.port(2))).unwrap();
    let tcp_lo = TcpListener::bind(("127.0.0.1", s.port(3))).unwrap();
    let udp_gw = UdpSocket::bind((s.gateway, s.port(4))).unwrap();
    let _tcp_gw = TcpListener::bind((s.gateway, s.port(5))).unwrap();
    let gw_mac = mac_of(&s.bridge);
    let gw = s.gateway.to_string();
    let port = |k: u16| s.port(k).to_string();

    let r = exec_rawpkt(&b, "web", &[&gw_mac, &gw, "udp", &port(4), "control"]).success();
    assert_eq!(r.stdout, "sent\n");
    assert_eq!(datagram(&udp_gw), "control");
    let r = exec_rawpkt(&b, "web", &[&gw_mac, &gw, "tcp", &port(5), "control"]).success();
    assert_eq!(r.stdout, "answered\n");

    // The attack: the same frames for 127.0.0.1.
    let r = exec_rawpkt(
        &b,
        "web",
        &[&gw_mac, "127.0.0.1", "udp", &port(2), "attack"],
    )
    .success();
    assert_eq!(r.stdout, "sent\n");
    let r = exec_rawpkt(
        &b,
        "web",
        &[&gw_mac, "127.0.0.1", "tcp", &port(3), "attack"],
    )
    .fails_with(1);
    assert_eq!(r.stdout, "no answer\n", "the loopback TCP service answered");
    nothing_accepted(&tcp_lo);
    first_is_marker(&udp_lo, udp_lo.local_addr().unwrap(), "marker");

    // Ordinary traffic from the container to the host, and to a published port through the
    // gateway (from another container).
    let tcp_gw6 = TcpListener::bind((s.gateway, s.port(6))).unwrap();
    let got = std::thread::spawn(move || {
        let (c, _) = tcp_gw6.accept().unwrap();
        let mut line = String::new();
        BufReader::new(c).read_line(&mut line).unwrap();
        line
    });
    b.berth(&argv!(
        "exec web sh -c {}",
        &format!("echo to-the-host | nc {gw} {}", port(6))
    ))
    .success();
    assert_eq!(got.join().unwrap(), "to-the-host\n");
    let out = b.ok(&argv!(
        "run --rm busybox wget -q -O - {}",
        &format!("http://{gw}:{any}/")
    ));
    assert_eq!(out, "web-page\n");

    b.ok(&["rm", "-f", "web"]);
    b.assert_clean(&[&id]);
    // The default bridge is kept; the user's prune takes it and its rules.
    b.ok(&["network", "prune", "-f"]);
    no_berth_rules_once_idle(&[&id, &s.bridge, &s.subnet]);
}

#[test]
fn a_lan_neighbour_cannot_reach_a_port_published_on_loopback() {
    let mut b = Session::new();
    let s = b.net.default_slot().clone();
    let helper = rawpkt(b.w.env.dir());
    let (outside, oip) = b.net.outside_host(&b.w.env);
    let lan = oip.octets()[2];
    let host_if = format!("bto{lan}");
    let host_ip = Ipv4Addr::new(10, 213, lan, 1).to_string();
    let (local, any, udp) = (s.port(0), s.port(1), s.port(2));
    let id = b.detach(&argv!(
        "--name web -p {} -p {} -p {} busybox sh -c \
         'mkdir -p /www && echo web-page > /www/index.html && exec httpd -f -p 80 -h /www'",
        &format!("127.0.0.1:{local}:80"),
        &format!("{any}:80"),
        &format!("127.0.0.1:{udp}:53/udp")
    ));
    let page = "web-page\n".to_string();
    until("the port published on 127.0.0.1", || {
        net::http_get(&format!("http://127.0.0.1:{local}/")).filter(|p| *p == page)
    });
    let ns = PathBuf::from(b.w.record(&id)["network"]["netns"].as_str().unwrap());
    let dns = net::udp_socket_in(&ns, 53);

    // The neighbour reaches the port published on every address, with its own sockets...
    let (ok, body) = net::run_in_netns(
        &outside,
        &argv!(
            "curl -s --max-time 5 {}",
            &format!("http://{host_ip}:{any}/")
        ),
    );
    assert!(ok && body == page, "{body:?}");
    // ...and with rawpkt's frames to the host's MAC (the control).
    let mac = mac_of(&host_if);
    let h = helper.to_str().unwrap();
    let raw = |dst: &str, proto: &str, port: u16, msg: &str| {
        net::run_in_netns(
            &outside,
            &[h, "eth0", &mac, dst, proto, &port.to_string(), msg],
        )
    };
    assert_eq!(
        raw(&host_ip, "tcp", any, "GET / HTTP/1.0\r\n\r\n"),
        (true, "answered\n".into())
    );

    // The attack: frames for 127.0.0.1 at the ports published on loopback only.
    assert_eq!(
        raw("127.0.0.1", "udp", udp, "attack"),
        (true, "sent\n".into())
    );
    assert_eq!(
        raw("127.0.0.1", "tcp", local, "GET / HTTP/1.0\r\n\r\n"),
        (false, "no answer\n".into()),
        "the port published on 127.0.0.1 answered a LAN neighbour"
    );
    // The host itself still reaches both.
    first_is_marker(
        &dns,
        format!("127.0.0.1:{udp}").parse().unwrap(),
        "from-the-host",
    );
    assert_eq!(
        net::http_get(&format!("http://127.0.0.1:{local}/")),
        Some(page)
    );

    drop(dns);
    b.ok(&["rm", "-f", "web"]);
    netns::remove(&outside).unwrap();
    b.assert_clean(&[&id]);
    b.ok(&["network", "prune", "-f"]);
    no_berth_rules_once_idle(&[&id, &s.bridge, &s.subnet]);
}

/// A throwaway host for one test: a network namespace and a mount namespace of a thread's
/// own (so `/run/berth-net` is a fresh tmpfs and nothing it does reaches the real host), where
/// `iptables-restore` and `iptables-save` on the tools' PATH are `backend`'s.
struct Scratch {
    env: TestEnv,
    /// The directory of the `iptables-*` links, first on the tools' PATH.
    shim: PathBuf,
    rawpkt: PathBuf,
}

impl Scratch {
    fn new(backend: &str) -> Scratch {
        let env = TestEnv::new();
        let shim = env.dir().join(format!("iptables-{backend}"));
        fs::create_dir_all(&shim).unwrap();
        for tool in ["iptables", "iptables-restore", "iptables-save"] {
            let real = tool.replacen("iptables", &format!("iptables-{backend}"), 1);
            std::os::unix::fs::symlink(Path::new("/usr/sbin").join(real), shim.join(tool)).unwrap();
        }
        let rawpkt = rawpkt(env.dir());
        fs::create_dir_all(env.root.join("networks")).unwrap();
        fs::write(
            env.root.join("networks/default.json"),
            r#"{"bridge":"bscratch0","bip":"10.77.0.1/24"}"#,
        )
        .unwrap();
        fs::create_dir_all(host::host_dir()).unwrap();
        Scratch { env, shim, rawpkt }
    }

    /// Runs `f` on a thread inside the throwaway host.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|sc| {
            sc.spawn(|| {
                use nix::mount::{MsFlags, mount};
                use nix::sched::{CloneFlags, unshare};
                unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWNS).unwrap();
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .unwrap();
                mount(
                    Some("tmpfs"),
                    &host::host_dir(),
                    Some("tmpfs"),
                    MsFlags::empty(),
                    Some("mode=0700"),
                )
                .unwrap();
                fixtures::must(Command::new("ip").args(["link", "set", "lo", "up"]));
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// A tool of the test with the backend's `iptables-*` first on PATH.
    fn run(&self, argv: &[&str], input: Option<&[u8]>) -> Run {
        let mut c = self.env.cmd(argv[0]);
        c.args(&argv[1..]).env(
            "PATH",
            format!("{}:{}", self.shim.display(), berth_e2e::tool_path()),
        );
        let out = if let Some(bytes) = input {
            use std::io::Write;
            c.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            child.stdin.take().unwrap().write_all(bytes).unwrap();
            child.wait_with_output().unwrap()
        } else {
            c.output().unwrap()
        };
        Run {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `iptables-save` of the backend, and of the other one.
    fn saves(&self, backend: &str) -> (String, String) {
        let other = if backend == "legacy" { "nft" } else { "legacy" };
        let save =
            |b: &str| fixtures::must(&mut Command::new(format!("/usr/sbin/iptables-{b}-save")));
        (save(backend), save(other))
    }

    /// A LAN neighbour of the throwaway host: a namespace joined by veth `lan0`
    /// (host 10.78.0.1, neighbour 10.78.0.2).
    fn neighbour(&self) -> PathBuf {
        let path = self.env.dir().join("neighbour");
        drop(netns::create(&path).unwrap());
        let p = path.display();
        for cmd in [
            format!("ip link add lan0 type veth peer name eth0 netns {p}"),
            "ip addr add 10.78.0.1/24 dev lan0 && ip link set lan0 up".into(),
            format!(
                "nsenter --net={p} sh -c 'ip addr add 10.78.0.2/24 dev eth0 && ip link set eth0 up && ip link set lo up'"
            ),
        ] {
            fixtures::must(Command::new("sh").arg("-c").arg(&cmd));
        }
        path
    }
}

/// The whole boundary on a throwaway host whose iptables is `backend`, through berth-netns:
/// set-up, both attacks and their controls, localhost publishing, and exact teardown.
fn boundary_on(backend: &str) {
    let sc = Scratch::new(backend);
    sc.enter(|| {
        let (id, rec) = net::fake_container(&sc.env, "web", &[], &[]);
        let r = sc
            .run(
                &argv!("berth-netns - -p 127.0.0.1:8080:80 -p 8081:80"),
                Some(rec.as_bytes()),
            )
            .success();
        let v = r.json();
        let ns = PathBuf::from(v["network"]["netns"].as_str().unwrap());
        let ip = v["network"]["ip_address"].as_str().unwrap().to_string();
        let (ours, other) = sc.saves(backend);
        assert!(ours.contains("-A BERTH-DNAT"), "{ours}");
        assert!(
            !other.contains("BERTH"),
            "rules went to the other backend: {other}"
        );

        let _web: Proc = net::http_server(
            &sc.env,
            &ns,
            80,
            "scratch-web",
            format!("{ip}:80").parse().unwrap(),
        );
        let page = Some("scratch-web".to_string());
        assert_eq!(
            net::http_get("http://127.0.0.1:8080/"),
            page,
            "localhost publishing"
        );

        // The container's attack on the host's loopback services, and its control.
        let udp_lo = UdpSocket::bind("127.0.0.1:9000").unwrap();
        let tcp_lo = TcpListener::bind("127.0.0.1:9001").unwrap();
        let udp_gw = UdpSocket::bind("10.77.0.1:9002").unwrap();
        let gw_mac = mac_of("bscratch0");
        let h = sc.rawpkt.to_str().unwrap();
        let from_container = |dst: &str, proto: &str, port: &str, msg: &str| {
            net::run_in_netns(&ns, &[h, "eth0", &gw_mac, dst, proto, port, msg])
        };
        assert_eq!(
            from_container("10.77.0.1", "udp", "9002", "control"),
            (true, "sent\n".into())
        );
        assert_eq!(datagram(&udp_gw), "control");
        assert_eq!(
            from_container("127.0.0.1", "udp", "9000", "attack"),
            (true, "sent\n".into())
        );
        assert_eq!(
            from_container("127.0.0.1", "tcp", "9001", "attack"),
            (false, "no answer\n".into())
        );
        nothing_accepted(&tcp_lo);
        first_is_marker(&udp_lo, "127.0.0.1:9000".parse().unwrap(), "marker");

        // The neighbour's attack on the port published on loopback, and its control.
        let lan = sc.neighbour();
        let lan_mac = mac_of("lan0");
        let from_lan = |dst: &str, port: &str| {
            net::run_in_netns(
                &lan,
                &argv!(
                    "{} eth0 {} {} tcp {} 'GET / HTTP/1.0\r\n\r\n'",
                    h,
                    &lan_mac,
                    dst,
                    port
                ),
            )
        };
        assert_eq!(from_lan("10.78.0.1", "8081"), (true, "answered\n".into()));
        assert_eq!(from_lan("127.0.0.1", "8080"), (false, "no answer\n".into()));
        assert_eq!(net::http_get("http://127.0.0.1:8080/"), page);

        drop(_web);
        sc.run(&["berth-netns", "rm", &id], None).success();
        // The default bridge outlives its containers until pruned.
        let links = fixtures::must(Command::new("ip").args(["-o", "link", "show"]));
        assert!(links.contains("bscratch0"), "{links}");
        sc.run(&["berth-netns", "network", "prune", "-f"], None)
            .success();
        let (ours, other) = sc.saves(backend);
        let left: Vec<&str> = ours
            .lines()
            .chain(other.lines())
            .filter(|l| l.to_ascii_lowercase().contains("berth"))
            .collect();
        assert!(left.is_empty(), "{backend}: rules left: {left:#?}");
        let links = fixtures::must(Command::new("ip").args(["-o", "link", "show"]));
        assert!(
            !links.contains("bscratch0") && !links.contains("veth"),
            "{links}"
        );
        assert!(!ns.exists(), "the namespace's file is removed");
        netns::remove(&lan).unwrap();
    });
}

#[test]
fn the_boundary_holds_with_iptables_legacy() {
    boundary_on("legacy");
}

#[test]
fn the_boundary_holds_with_iptables_nft() {
    boundary_on("nft");
}

/// `berth-netns -` for a new fake container on the throwaway host: (id, netns).
fn scratch_container(sc: &Scratch, name: &str) -> (String, PathBuf) {
    let (id, rec) = net::fake_container(&sc.env, name, &[], &[]);
    let v = sc
        .run(&["berth-netns", "-"], Some(rec.as_bytes()))
        .success()
        .json();
    (id, PathBuf::from(v["network"]["netns"].as_str().unwrap()))
}

#[test]
fn an_upgrade_gives_running_networks_the_boundary() {
    let sc = Scratch::new("nft");
    sc.enter(|| {
        let (a, ns_a) = scratch_container(&sc, "first");
        // What berth made before the boundary: no raw chain, a PREROUTING jump that takes
        // 127.0.0.0/8 too, and its marker.
        let old = "*raw\n-D PREROUTING -d 127.0.0.0/8 -m comment --comment berth -j BERTH-LOCALNET\n-F BERTH-LOCALNET\n-X BERTH-LOCALNET\nCOMMIT\n*nat\n-D PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH-DNAT\n-I PREROUTING 1 -m addrtype --dst-type LOCAL -m comment --comment berth -j BERTH-DNAT\nCOMMIT\n";
        sc.run(&["iptables-restore", "--noflush"], Some(old.as_bytes()))
            .success();
        fs::write(host::host_dir().join("chains"), "berth's chains may exist\n").unwrap();

        // The hole, as the review found it: a frame from the container for 127.0.0.1 reaches
        // a host service bound to loopback.
        let udp_lo = UdpSocket::bind("127.0.0.1:9000").unwrap();
        let gw_mac = mac_of("bscratch0");
        let h = sc.rawpkt.to_str().unwrap();
        let attack = |msg: &str| {
            let r = net::run_in_netns(&ns_a, &[h, "eth0", &gw_mac, "127.0.0.1", "udp", "9000", msg]);
            assert_eq!(r, (true, "sent\n".into()));
        };
        attack("before-the-upgrade");
        assert_eq!(datagram(&udp_lo), "before-the-upgrade");

        // The next set-up, on the same running network, upgrades the rules; the running
        // container's frames are dropped from then on.
        let (b, _) = scratch_container(&sc, "second");
        let saved = sc.run(&["iptables-save"], None).success().stdout;
        let drops: Vec<&str> = saved
            .lines()
            .filter(|l| l.starts_with("-A BERTH-LOCALNET -i bscratch0 "))
            .collect();
        assert_eq!(drops.len(), 1, "{saved}");
        assert!(
            saved.contains("-A PREROUTING ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL"),
            "{saved}"
        );
        assert_eq!(
            fs::read_to_string(host::host_dir().join("chains")).unwrap(),
            "berth's chains may exist (layout 2: the loopback boundary)\n"
        );
        attack("after-the-upgrade");
        first_is_marker(&udp_lo, "127.0.0.1:9000".parse().unwrap(), "marker");

        // Today's teardown removes what the upgrade added.
        for id in [&a, &b] {
            sc.run(&["berth-netns", "rm", id], None).success();
        }
        sc.run(&["berth-netns", "network", "prune", "-f"], None)
            .success();
        let saved = sc.run(&["iptables-save"], None).success().stdout;
        assert!(!saved.to_ascii_lowercase().contains("berth"), "{saved}");
        assert!(!host::host_dir().join("chains").exists());
    });
}
