//! Container DNS on user-defined networks (`berth::net::dns`), as a user sees it through
//! `berth run`, `exec`, `network connect|disconnect` and `inspect`: names, aliases and short
//! ids resolve through 127.0.0.11; networks do not see each other's names; other names go to
//! the host's resolver (here a tiny responder the test runs on a loopback address, named by
//! the root's `resolv_conf` setting: the host's /etc/resolv.conf is never read or touched);
//! the default bridge is unchanged; the resolver is gone with the last container and comes
//! back after a kill -9.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use berth_e2e::net::Slot;
use berth_e2e::session::Session;

/// The external name the fake upstream knows, and its address (TEST-NET-1: never routed).
const EXTERNAL: &str = "external.example.test";
const EXTERNAL_IP: [u8; 4] = [192, 0, 2, 7];

/// A DNS responder on a loopback address of its own, port 53: `EXTERNAL` has `EXTERNAL_IP`,
/// every other name is NXDOMAIN. Counts the queries it saw for `EXTERNAL`.
struct Upstream {
    addr: Ipv4Addr,
    seen: Arc<AtomicUsize>,
}

impl Upstream {
    fn start() -> Upstream {
        let pid = std::process::id();
        let addr = Ipv4Addr::new(127, 53, (pid >> 8) as u8, (pid as u8).max(1));
        let sock = UdpSocket::bind((addr, 53)).expect("bind the fake upstream on loopback:53");
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let q = &buf[..n];
                if let Some((name, reply)) = respond(q) {
                    if name.eq_ignore_ascii_case(EXTERNAL) {
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    let _ = sock.send_to(&reply, from);
                }
            }
        });
        Upstream { addr, seen }
    }
}

/// The reply to one query: the A record of `EXTERNAL` (no records for other types of it),
/// NXDOMAIN for anything else.
fn respond(q: &[u8]) -> Option<(String, Vec<u8>)> {
    if q.len() < 12 {
        return None;
    }
    let mut i = 12;
    let mut labels = Vec::new();
    while i < q.len() && q[i] != 0 {
        let n = q[i] as usize;
        labels.push(String::from_utf8_lossy(q.get(i + 1..i + 1 + n)?).into_owned());
        i += 1 + n;
    }
    let qtype = u16::from_be_bytes([*q.get(i + 1)?, *q.get(i + 2)?]);
    let end = i + 5;
    let name = labels.join(".");
    let known = name.eq_ignore_ascii_case(EXTERNAL);
    let answer = known && qtype == 1;
    let mut r = q[..2].to_vec();
    r.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]);
    r.extend_from_slice(&[0, 1, 0, answer as u8, 0, 0, 0, 0]);
    r.extend_from_slice(q.get(12..end)?);
    if answer {
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&EXTERNAL_IP);
    }
    Some((name, r))
}

/// A world with the fake upstream as the host's resolver.
fn world() -> (Session, Upstream) {
    let b = Session::new();
    let up = Upstream::start();
    let conf = b.w.env.dir().join("host-resolv.conf");
    std::fs::write(&conf, format!("nameserver {}\noptions edns0\n", up.addr)).unwrap();
    let s = b.net.default_slot().clone();
    b.net.write_config(&format!(
        r#"{{"bridge":"{}","bip":"{}/24","resolv_conf":"{}"}}"#,
        s.bridge,
        s.gateway,
        conf.display()
    ));
    (b, up)
}

fn create_net(b: &Session, name: &str, s: &Slot) {
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    b.ok(&["network", "create", "--subnet", &s.subnet, "-o", &opt, name]);
}

/// `berth run -d --name NAME --network NET [EXTRA...] busybox sleep 600`.
fn sleeper(b: &Session, name: &str, net: &str, extra: &[&str]) -> String {
    let mut a = vec!["--name", name, "--network", net];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["busybox:latest", "sleep", "600"]);
    b.detach(&a)
}

fn ip_of(b: &Session, id: &str) -> String {
    b.w.record(id)["network"]["ip_address"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `nslookup NAME` in container `from`: the output (success or not).
fn lookup(b: &Session, from: &str, name: &str) -> String {
    let r = b.berth(&["exec", from, "nslookup", name]);
    format!("{}{}", r.stdout, r.stderr)
}

/// Whether `nslookup NAME` in `from` gives exactly the address `ip` among its answers.
fn resolves_to(b: &Session, from: &str, name: &str, ip: &str) -> bool {
    lookup(b, from, name)
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .any(|l| l.starts_with("Address") && l.split_whitespace().last() == Some(ip))
}

fn resolver_pid(b: &Session) -> Option<i32> {
    let s = std::fs::read_to_string(dns_dir(b).join("resolver.pid")).ok()?;
    let pid: i32 = s.split_whitespace().next()?.parse().ok()?;
    alive(pid).then_some(pid)
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
}

fn dns_dir(b: &Session) -> PathBuf {
    b.w.env.run.join("dns")
}

/// No resolver process of this test's root is left, nor its table.
fn assert_no_resolver(b: &Session) {
    let dir = dns_dir(b);
    assert!(!dir.join("table.json").exists(), "resolver table left");
    assert!(!dir.join("resolver.pid").exists(), "resolver pid file left");
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(root) = std::fs::read_link(p.path().join("root")) {
            assert!(
                !root.starts_with(&dir),
                "a process is still chrooted in {}: {:?}",
                dir.display(),
                p.file_name()
            );
        }
    }
}

#[test]
fn names_aliases_and_short_ids_resolve_and_other_names_are_forwarded() {
    let (mut b, up) = world();
    let s = b.net.slot();
    create_net(&b, "appnet", &s);
    let web = b.detach(&[
        "--name",
        "web",
        "--network",
        "appnet",
        "--network-alias",
        "www",
        "busybox:latest",
        "sh",
        "-c",
        "mkdir /srv && echo hello-from-web > /srv/index.html && exec httpd -f -p 80 -h /srv",
    ]);
    let client = sleeper(&b, "client", "appnet", &[]);
    let web_ip = ip_of(&b, &web);

    assert_eq!(
        b.ok(&["exec", "client", "cat", "/etc/resolv.conf"]),
        "nameserver 127.0.0.11\noptions edns0 ndots:0\n"
    );
    for name in ["web", "www", &web[..12], "WEB"] {
        assert!(
            resolves_to(&b, "client", name, &web_ip),
            "{name}: {}",
            lookup(&b, "client", name)
        );
    }
    assert!(resolves_to(&b, "web", "client", &ip_of(&b, &client)));
    b.ok(&["exec", "client", "ping", "-c1", "-W5", "web"]);
    let page = berth_e2e::until("web's httpd", || {
        let r = b.berth(&["exec", "client", "wget", "-qO-", "http://www/"]);
        (r.code() == 0).then_some(r.stdout)
    });
    assert_eq!(page, "hello-from-web\n");

    // Another name goes to the host's resolver, from the host's namespace.
    assert!(up.seen.load(Ordering::SeqCst) == 0);
    assert!(
        resolves_to(&b, "client", EXTERNAL, "192.0.2.7"),
        "{}",
        lookup(&b, "client", EXTERNAL)
    );
    assert!(
        up.seen.load(Ordering::SeqCst) > 0,
        "the upstream saw no query"
    );
    assert!(!resolves_to(
        &b,
        "client",
        "nosuch.example.test",
        "192.0.2.7"
    ));

    // inspect: Docker 28's Aliases and DNSNames; network inspect lists both containers.
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", "web"])).unwrap();
    let ep = &v[0]["NetworkSettings"]["Networks"]["appnet"];
    assert_eq!(ep["Aliases"], serde_json::json!(["www"]));
    assert_eq!(
        ep["DNSNames"],
        serde_json::json!(["web", "www", &web[..12]])
    );
    assert_eq!(ep["IPAddress"], web_ip.as_str());
    let v: serde_json::Value =
        serde_json::from_str(&b.ok(&["network", "inspect", "appnet"])).unwrap();
    let c = v[0]["Containers"].as_object().unwrap();
    assert!(c.contains_key(&web) && c.contains_key(&client), "{c:?}");

    // The resolver runs without privileges, chrooted in its state directory.
    let pid = resolver_pid(&b).expect("a resolver runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for field in [
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
        "CapBnd:\t0000000000000000",
        "NoNewPrivs:\t1",
    ] {
        assert!(status.contains(field), "{field}: {status}");
    }
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        dns_dir(&b)
    );
    // Nothing answers on 127.0.0.11 in the host's namespace.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe.connect("127.0.0.11:53").unwrap();
    probe
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap();
    let _ = probe.send(&[
        0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'w', b'e', b'b', 0, 0, 1, 0, 1,
    ]);
    assert!(
        probe.recv(&mut [0u8; 512]).is_err(),
        "127.0.0.11 answered on the host"
    );

    b.ok(&["rm", "-f", "web", "client"]);
    assert!(!alive(pid), "the resolver outlived the last container");
    assert_no_resolver(&b);
    b.ok(&["network", "rm", "appnet"]);
    b.assert_clean(&[&web, &client]);
}

#[test]
fn networks_do_not_resolve_each_others_names_and_the_default_bridge_is_unchanged() {
    let (mut b, _up) = world();
    let (sa, sb) = (b.net.slot(), b.net.slot());
    create_net(&b, "neta", &sa);
    create_net(&b, "netb", &sb);
    let a = sleeper(&b, "a1", "neta", &["--network-alias", "shared"]);
    let bb = sleeper(&b, "b1", "netb", &["--network-alias", "shared"]);
    let (aip, bip) = (ip_of(&b, &a), ip_of(&b, &bb));
    assert!(resolves_to(&b, "a1", "shared", &aip));
    assert!(resolves_to(&b, "b1", "shared", &bip));
    assert!(!resolves_to(&b, "a1", "shared", &bip));
    assert!(
        !resolves_to(&b, "b1", "a1", &aip),
        "{}",
        lookup(&b, "b1", "a1")
    );
    assert!(!resolves_to(&b, "a1", "b1", &bip));
    assert!(!resolves_to(&b, "b1", &a[..12], &aip));
    assert!(!resolves_to(&b, "b1", "a1.neta", &aip));
    assert!(resolves_to(&b, "a1", "a1.neta", &aip));

    // The default bridge: the host's resolv.conf (its loopback server dropped, Docker's
    // fallback instead), and nothing listens on 127.0.0.11 in the container.
    let d = sleeper(&b, "d1", "bridge", &[]);
    let conf = b.ok(&["exec", "d1", "cat", "/etc/resolv.conf"]);
    assert!(!conf.contains("127.0.0.11"), "{conf}");
    assert!(conf.contains("nameserver 8.8.8.8"), "{conf}");
    let r = b.berth(&["exec", "d1", "nslookup", "a1", "127.0.0.11"]);
    assert!(!r.stdout.contains(&aip), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", "d1"])).unwrap();
    assert!(v[0]["NetworkSettings"]["Networks"]["bridge"]["DNSNames"].is_null());
    // --network-alias on the default bridge is refused, as Docker refuses it.
    let r = b.berth(&[
        "run",
        "--rm",
        "--network-alias",
        "x",
        "busybox:latest",
        "true",
    ]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr.contains(
            "network-scoped alias is supported only for containers in user defined networks"
        ),
        "{r:?}"
    );

    b.ok(&["rm", "-f", "a1", "b1", "d1"]);
    assert_no_resolver(&b);
    b.ok(&["network", "rm", "neta", "netb"]);
    b.assert_clean(&[&a, &bb, &d]);
}

#[test]
fn connect_and_disconnect_update_name_resolution() {
    let (mut b, _up) = world();
    let (sa, sb) = (b.net.slot(), b.net.slot());
    create_net(&b, "front", &sa);
    create_net(&b, "back", &sb);
    let x = sleeper(&b, "cx", "front", &[]);
    let y = sleeper(&b, "cy", "back", &[]);
    let yip = ip_of(&b, &y);
    assert!(!resolves_to(&b, "cx", "cy", &yip));

    let r = b.berth(&["network", "connect", "--alias", "cxx", "back", "cx"]);
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""), "{r:?}");
    let rec = b.w.record(&x);
    let att = &rec["network"]["connected"][0];
    assert_eq!(att["ifname"], "eth1");
    let xb = att["ip_address"].as_str().unwrap().to_string();
    assert!(xb.starts_with(&sb.subnet[..sb.subnet.len() - 4]), "{xb}");
    assert!(
        resolves_to(&b, "cx", "cy", &yip),
        "{}",
        lookup(&b, "cx", "cy")
    );
    assert!(resolves_to(&b, "cy", "cx", &xb));
    assert!(resolves_to(&b, "cy", "cxx", &xb));
    b.ok(&["exec", "cx", "ping", "-c1", "-W5", "cy"]);
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", "cx"])).unwrap();
    let nets = &v[0]["NetworkSettings"]["Networks"];
    assert_eq!(nets["back"]["Aliases"], serde_json::json!(["cxx"]));
    assert_eq!(
        nets["back"]["DNSNames"],
        serde_json::json!(["cx", "cxx", &x[..12]])
    );
    assert_eq!(nets["back"]["IPAddress"], xb.as_str());
    assert!(nets["front"].is_object());

    let r = b.berth(&["network", "connect", "back", "cx"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr
            .contains("endpoint with name cx already exists in network back"),
        "{r:?}"
    );
    let r = b.berth(&["network", "connect", "back", "nosuch"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr.contains("nosuch"), "{r:?}");
    let r = b.berth(&["network", "connect", "nonet", "cx"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr.contains("nonet"), "{r:?}");

    let r = b.berth(&["network", "disconnect", "back", "cx"]);
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""), "{r:?}");
    assert!(!resolves_to(&b, "cx", "cy", &yip));
    assert!(!resolves_to(&b, "cy", "cxx", &xb));
    assert!(berth_e2e::net::host_links(&format!("vx{}", &x[..12])).is_empty());
    let r = b.berth(&["network", "disconnect", "back", "cx"]);
    assert_ne!(r.code(), 0);
    assert!(
        r.stderr
            .contains(&format!("container {x} is not connected to network back")),
        "{r:?}"
    );

    // Connected again, then removed while connected: rm takes the second interface too.
    let fixed = sb.addr(77).to_string();
    b.ok(&["network", "connect", "--ip", &fixed, "back", "cx"]);
    assert_eq!(ip_of_connected(&b, &x), fixed);
    assert!(resolves_to(&b, "cy", "cx", &fixed));
    b.ok(&["rm", "-f", "cx", "cy"]);
    assert!(berth_e2e::net::host_links(&format!("vx{}", &x[..12])).is_empty());
    assert_no_resolver(&b);
    b.ok(&["network", "rm", "front", "back"]);
    b.assert_clean(&[&x, &y]);
}

fn ip_of_connected(b: &Session, id: &str) -> String {
    b.w.record(id)["network"]["connected"][0]["ip_address"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_resolver_killed_9_comes_back_and_goes_with_the_last_container() {
    let (mut b, _up) = world();
    let s = b.net.slot();
    create_net(&b, "appnet", &s);
    let one = sleeper(&b, "one", "appnet", &[]);
    let two = sleeper(&b, "two", "appnet", &[]);
    let oip = ip_of(&b, &one);
    assert!(resolves_to(&b, "two", "one", &oip));

    // Killed: the next container start brings it back with every container's sockets.
    let pid = resolver_pid(&b).expect("a resolver runs");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    berth_e2e::until("the resolver to die", || (!alive(pid)).then_some(()));
    b.ok(&["stop", "-t", "0", "two"]);
    b.ok(&["start", "two"]);
    let again = resolver_pid(&b).expect("the resolver is back after start");
    assert_ne!(again, pid);
    assert!(resolves_to(&b, "two", "one", &oip));
    assert!(resolves_to(&b, "one", "two", &ip_of(&b, &two)));

    // Killed again: the next container's set-up brings it back too.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(again),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    berth_e2e::until("the resolver to die", || (!alive(again)).then_some(()));
    let three = sleeper(&b, "three", "appnet", &[]);
    assert!(resolver_pid(&b).is_some());
    assert!(resolves_to(&b, "one", "three", &ip_of(&b, &three)));
    assert!(resolves_to(&b, "three", "two", &ip_of(&b, &two)));

    // Not the last: it keeps serving; the last takes it away.
    let last = resolver_pid(&b).unwrap();
    b.ok(&["rm", "-f", "one", "two"]);
    assert!(alive(last));
    assert!(!resolves_to(&b, "three", "one", &oip));
    b.ok(&["rm", "-f", "three"]);
    assert!(!alive(last));
    assert_no_resolver(&b);
    b.ok(&["network", "rm", "appnet"]);
    b.assert_clean(&[&one, &two, &three]);
}

#[test]
fn disconnect_from_the_first_network_and_stopping_take_a_container_out_of_dns() {
    let (mut b, _up) = world();
    let (sa, sb) = (b.net.slot(), b.net.slot());
    create_net(&b, "front", &sa);
    create_net(&b, "back", &sb);
    let x = sleeper(&b, "dx", "front", &["--network-alias", "dxa"]);
    let y = sleeper(&b, "dy", "front", &[]);
    let z = sleeper(&b, "dz", "back", &[]);
    let (xip, yip, zip) = (ip_of(&b, &x), ip_of(&b, &y), ip_of(&b, &z));
    assert!(resolves_to(&b, "dy", "dxa", &xip));
    b.ok(&["network", "connect", "back", "dx"]);
    let xb = ip_of_connected(&b, &x);
    assert!(resolves_to(&b, "dz", "dx", &xb));

    // Off the network it was created on: its names there go, and so does its eth0.
    let r = b.berth(&["network", "disconnect", "front", "dx"]);
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""), "{r:?}");
    assert!(
        !resolves_to(&b, "dy", "dx", &xip),
        "{}",
        lookup(&b, "dy", "dx")
    );
    assert!(!resolves_to(&b, "dy", "dxa", &xip));
    assert!(
        !resolves_to(&b, "dx", "dy", &yip),
        "dx is not on front any more"
    );
    assert!(resolves_to(&b, "dz", "dx", &xb));
    assert!(resolves_to(&b, "dx", "dz", &zip));
    assert!(berth_e2e::net::host_links(&berth::net::attach::veth_name(&x)).is_empty());
    let links = b.ok(&["exec", "dx", "ip", "-o", "link"]);
    assert!(!links.contains("eth0"), "{links}");
    // The default route moved to the network it is still on, as Docker's gateway does.
    let route = b.ok(&["exec", "dx", "ip", "route"]);
    assert!(
        route.contains(&format!("default via {} dev eth1", sb.gateway)),
        "{route}"
    );
    let v: serde_json::Value = serde_json::from_str(&b.ok(&["inspect", "dx"])).unwrap();
    let nets = &v[0]["NetworkSettings"]["Networks"];
    assert!(
        nets.get("front").is_none() && nets["back"].is_object(),
        "{nets}"
    );
    assert_eq!(v[0]["HostConfig"]["NetworkMode"], "front");
    let n: serde_json::Value =
        serde_json::from_str(&b.ok(&["network", "inspect", "front"])).unwrap();
    assert!(n[0]["Containers"].get(&x).is_none(), "{n}");
    let r = b.berth(&["network", "disconnect", "front", "dx"]);
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("container {x} is not connected to network front")),
        "{r:?}"
    );
    // Connected again, it resolves again (on a connect interface now).
    b.ok(&["network", "connect", "front", "dx"]);
    let again = b.w.record(&x)["network"]["connected"][1]["ip_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(resolves_to(&b, "dy", "dx", &again));

    // Stopped: nobody resolves it; started again: back.
    b.ok(&["stop", "-t", "0", "dz"]);
    assert!(
        !resolves_to(&b, "dx", "dz", &zip),
        "{}",
        lookup(&b, "dx", "dz")
    );
    b.ok(&["start", "dz"]);
    assert!(resolves_to(&b, "dx", "dz", &zip));
    // Created and never started: not yet.
    b.ok(&[
        "create",
        "--name",
        "dc",
        "--network",
        "back",
        "busybox:latest",
        "sleep",
        "600",
    ]);
    let c = b.id("dc");
    assert!(!resolves_to(&b, "dx", "dc", &ip_of(&b, &c)));
    b.ok(&["rm", "-f", "dx", "dy", "dz", "dc"]);
    assert_no_resolver(&b);
    b.ok(&["network", "rm", "front", "back"]);
    b.assert_clean(&[&x, &y, &z, &c]);
}

#[test]
fn disconnect_force_removes_what_a_lost_container_left_on_the_network() {
    let (mut b, _up) = world();
    let s = b.net.slot();
    create_net(&b, "lost", &s);
    let (id, rec) = berth_e2e::net::fake_container(&b.w.env, "ghost", &[], &[]);
    berth_e2e::net::attach(&b.w.env, &rec, &["--network", "lost"]).success();
    assert!(berth_e2e::net::host_link_exists(&s.bridge));
    // The store loses it (its directory and its name); its endpoint stays on the network.
    let paths = b.w.env.paths();
    std::fs::remove_dir_all(paths.container(&id)).unwrap();
    std::fs::remove_file(paths.names().join("ghost")).unwrap();
    let r = b.berth(&["network", "rm", "lost"]);
    assert_eq!(r.code(), 1, "{r:?}");
    let r = b.berth(&["network", "disconnect", "lost", &id]);
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("No such container"), "{r:?}");
    let r = b.berth(&["network", "disconnect", "-f", "lost", "nosuch"]);
    assert_eq!(r.code(), 1, "{r:?}");
    // -f: Docker's ForceEndpointDelete; the last endpoint takes the bridge and rules along.
    let r = b.berth(&["network", "disconnect", "-f", "lost", &id]);
    assert_eq!((r.code(), r.stdout.as_str()), (0, ""), "{r:?}");
    assert!(!berth_e2e::net::host_link_exists(&s.bridge));
    assert!(berth_e2e::net::host_links(&berth::net::attach::veth_name(&id)).is_empty());
    assert!(berth_e2e::net::rules_with(&s.bridge).is_empty());
    assert_no_resolver(&b);
    b.ok(&["network", "rm", "lost"]);
    // Its namespace is the container's, not the network's: the stage's teardown takes it.
    b.w.env.run(&["berth-netns", "rm", &id]).success();
    b.assert_clean(&[&id]);
}
