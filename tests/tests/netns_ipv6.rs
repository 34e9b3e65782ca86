//! IPv6 on user-defined networks (`berth network create --ipv6`, `run --ip6`, `network
//! connect --ip6`), as a user sees it with stdout piped: two containers on a dual-stack
//! network reach each other over IPv6 by address and by name (AAAA from 127.0.0.11), inspect
//! shows Docker's fields, /etc/hosts names the IPv6 address, `-p` is published on `[::]` too
//! and reaches the container from a fake outside host over IPv6 (ip6tables DNAT), bad `--ip6`
//! values get Docker's errors, and everything (ip6tables rules, addresses, the bridge) is gone
//! afterwards. Every IPv6 subnet is the test slot's own `fd00:b7:<N>::/64`; traffic goes only
//! into namespaces the test made.

use std::path::Path;

use berth_e2e::net::{self, Slot};
use berth_e2e::session::Session;
use serde_json::Value;

/// A session whose containers' resolv.conf derives from a file of the test's (never the
/// host's): container names never leave the resolver, so the upstream is never asked.
fn world() -> Session {
    let b = Session::new();
    let conf = b.w.env.dir().join("host-resolv.conf");
    std::fs::write(&conf, "nameserver 127.0.0.1\n").unwrap();
    let s = b.net.default_slot().clone();
    b.net.write_config(&format!(
        r#"{{"bridge":"{}","bip":"{}/24","resolv_conf":"{}"}}"#,
        s.bridge,
        s.gateway,
        conf.display()
    ));
    b
}

/// `network create --ipv6 --subnet V4 --subnet V6` on the slot's bridge.
fn create_v6(b: &Session, name: &str, s: &Slot) {
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    let id = b.ok(&[
        "network",
        "create",
        "--ipv6",
        "--subnet",
        &s.subnet,
        "--subnet",
        &s.subnet6(),
        "-o",
        &opt,
        name,
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
}

fn sleeper(b: &Session, name: &str, net: &str, extra: &[&str]) -> String {
    let mut a = vec!["--name", name, "--network", net];
    a.extend_from_slice(extra);
    a.extend_from_slice(&["busybox:latest", "sleep", "600"]);
    b.detach(&a)
}

fn inspect(b: &Session, name: &str) -> Value {
    let v: Value = serde_json::from_str(&b.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn two_containers_on_an_ipv6_network_reach_each_other_by_address_and_name() {
    let mut b = world();
    let s = b.net.slot();
    create_v6(&b, "v6net", &s);
    let a = sleeper(&b, "a6", "v6net", &[]);
    let fixed = s.addr6(0x99).to_string();
    let c = sleeper(&b, "c6", "v6net", &["--ip6", &fixed]);
    let (ip_a, gw) = (s.addr6(2).to_string(), s.addr6(1).to_string());

    // inspect: Docker's endpoint fields; network inspect: EnableIPv6 and both subnets.
    let ep = &inspect(&b, "a6")["NetworkSettings"]["Networks"]["v6net"];
    assert_eq!(ep["GlobalIPv6Address"], ip_a.as_str(), "{ep}");
    assert_eq!(ep["GlobalIPv6PrefixLen"], 64);
    assert_eq!(ep["IPv6Gateway"], gw.as_str());
    assert_eq!(ep["IPAddress"], s.addr(2).to_string().as_str());
    assert_eq!(
        b.inspect(
            "c6",
            "{{range .NetworkSettings.Networks}}{{.GlobalIPv6Address}}{{end}}"
        )
        .trim(),
        fixed
    );
    let n: Value = serde_json::from_str(&b.ok(&["network", "inspect", "v6net"])).unwrap();
    assert_eq!(n[0]["EnableIPv6"], true);
    let cfg = &n[0]["IPAM"]["Config"];
    assert_eq!(cfg[0]["Subnet"], s.subnet.as_str(), "{cfg}");
    assert_eq!(cfg[1]["Subnet"], s.subnet6().as_str(), "{cfg}");
    assert_eq!(cfg[1]["Gateway"], gw.as_str(), "{cfg}");
    assert_eq!(
        n[0]["Containers"][&a]["IPv6Address"],
        format!("{ip_a}/64").as_str()
    );
    let d: Value = serde_json::from_str(&b.ok(&["network", "inspect", "bridge"])).unwrap();
    assert_eq!(
        d[0]["EnableIPv6"], false,
        "the default bridge stays IPv4-only"
    );

    // Inside: the address, the IPv6 default route, /etc/hosts, and the bridge's gateway.
    let addr = b.ok(&["exec", "a6", "ip", "-6", "addr", "show", "eth0"]);
    assert!(addr.contains(&format!("inet6 {ip_a}/64")), "{addr}");
    let route = b.ok(&["exec", "a6", "ip", "-6", "route"]);
    assert!(route.contains(&format!("default via {gw}")), "{route}");
    let hosts = b.ok(&["exec", "c6", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains(&format!("{fixed}\t{}\n", &c[..12])),
        "{hosts}"
    );
    b.ok(&["exec", "a6", "ping", "-6", "-c1", "-W5", &gw]);

    // Each other, by address and by name (AAAA through 127.0.0.11).
    b.ok(&["exec", "a6", "ping", "-6", "-c1", "-W5", &fixed]);
    b.ok(&["exec", "c6", "ping", "-6", "-c1", "-W5", &ip_a]);
    let ping = b.ok(&["exec", "a6", "ping", "-6", "-c1", "-W5", "c6"]);
    assert!(ping.contains(&fixed), "{ping}");
    let ns = b.ok(&["exec", "c6", "nslookup", "-type=aaaa", "a6"]);
    assert!(ns.contains(&ip_a), "{ns}");

    // A connected container gets an IPv6 address on the second network, --ip6 honoured.
    let s2 = b.net.slot();
    create_v6(&b, "v6two", &s2);
    let other = s2.addr6(0x42).to_string();
    b.ok(&["network", "connect", "--ip6", &other, "v6two", "a6"]);
    let ep2 = &inspect(&b, "a6")["NetworkSettings"]["Networks"]["v6two"];
    assert_eq!(ep2["GlobalIPv6Address"], other.as_str(), "{ep2}");
    let addr = b.ok(&["exec", "a6", "ip", "-6", "addr", "show", "eth1"]);
    assert!(addr.contains(&format!("inet6 {other}/64")), "{addr}");
    b.ok(&[
        "exec",
        "a6",
        "ping",
        "-6",
        "-c1",
        "-W5",
        &s2.addr6(1).to_string(),
    ]);

    // Gone with the containers: rules of both families, addresses, bridges.
    let masq = net::rules6_with(&format!("-s {} ! -o {} ", s.subnet6(), s.bridge));
    assert_eq!(masq.len(), 1, "{:?}", net::rules6_with("fd00:b7"));
    b.ok(&["rm", "-f", "a6", "c6"]);
    let n: Value = serde_json::from_str(&b.ok(&["network", "inspect", "v6net"])).unwrap();
    assert_eq!(n[0]["Containers"], serde_json::json!({}));
    for sl in [&s, &s2] {
        assert!(
            !net::host_link_exists(&sl.bridge),
            "bridge {} left",
            sl.bridge
        );
        assert!(
            net::rules6_with(&format!("fd00:b7:{:x}:", sl.n)).is_empty(),
            "{:?}",
            net::rules6_with("fd00:b7")
        );
    }
    b.ok(&["network", "rm", "v6net", "v6two"]);
    b.assert_clean(&[&a, &c]);
}

#[test]
fn published_ports_reach_the_container_over_ipv6_from_outside() {
    let mut b = world();
    let s = b.net.slot();
    create_v6(&b, "v6pub", &s);
    let (outside, peer4) = b.net.outside_host(&b.w.env);
    let link = outside_v6(&outside, peer4.octets()[2]);
    let port = s.port(1);
    let published = format!("{port}:80");
    let id = b.detach(&[
        "--name",
        "web6",
        "--network",
        "v6pub",
        "-p",
        &published,
        "busybox:latest",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ]);
    let ports = b.ok(&["port", "web6"]);
    assert_eq!(
        ports,
        format!("80/tcp -> 0.0.0.0:{port}\n80/tcp -> [::]:{port}\n")
    );
    let v = inspect(&b, "web6");
    assert_eq!(
        v["NetworkSettings"]["Ports"]["80/tcp"][1],
        serde_json::json!({"HostIp": "::", "HostPort": port.to_string()})
    );
    let dnat = net::rules6_with(&format!("berth:{id}"));
    assert!(
        dnat.iter()
            .any(|l| l.contains(&format!("[{}]:80", s.addr6(2)))),
        "{dnat:?}"
    );
    // From the outside host, to the host's IPv6 address on their link.
    let url = format!("http://[{}]:{port}/hostname", link);
    let body = berth_e2e::until("the published port to answer over IPv6", || {
        let (ok, out) = net::run_in_netns(
            &outside,
            &[
                "curl",
                "-gs",
                "--max-time",
                "5",
                "--connect-timeout",
                "2",
                &url,
            ],
        );
        ok.then_some(out)
    });
    assert_eq!(body.trim(), &id[..12]);
    b.ok(&["rm", "-f", "web6"]);
    assert!(net::rules6_with(&format!("berth:{id}")).is_empty());
    b.ok(&["network", "rm", "v6pub"]);
    // The fake outside host is the test's own: its namespace goes before the check.
    berth::net::netns::remove(&outside).unwrap();
    b.assert_clean(&[&id]);
}

/// Gives the outside host's link (`bto<N>`, made by `outside_host` on slot N, whose IPv4
/// addresses are `10.213.N.x`) IPv6 addresses of that slot: the host side `fd00:b7:<N>::1`,
/// the outside `::2` (both removed with the link). Returns the host side's address.
fn outside_v6(outside: &Path, link_slot: u8) -> std::net::Ipv6Addr {
    let host = std::net::Ipv6Addr::new(0xfd00, 0xb7, link_slot as u16, 0, 0, 0, 0, 1);
    let peer = std::net::Ipv6Addr::new(0xfd00, 0xb7, link_slot as u16, 0, 0, 0, 0, 2);
    let sh = |cmd: String| {
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .status()
            .unwrap();
        assert!(st.success(), "{cmd}");
    };
    sh(format!("ip -6 addr add {host}/64 dev bto{link_slot} nodad"));
    sh(format!(
        "nsenter --net={} ip -6 addr add {peer}/64 dev eth0 nodad",
        outside.display()
    ));
    host
}

#[test]
fn bad_ip6_values_get_dockers_errors_and_leave_nothing() {
    let mut b = world();
    let (s4, s6) = (b.net.slot(), b.net.slot());
    let opt = format!("com.docker.network.bridge.name={}", s4.bridge);
    b.ok(&[
        "network", "create", "--subnet", &s4.subnet, "-o", &opt, "only4",
    ]);
    create_v6(&b, "dual", &s6);
    let inside = s6.addr6(5).to_string();
    let outside = s4.addr6(5).to_string();
    for (net, ip, want) in [
        (
            "only4",
            inside.as_str(),
            format!("no configured subnet contains IP address {inside}"),
        ),
        (
            "dual",
            outside.as_str(),
            format!("no configured subnet contains IP address {outside}"),
        ),
        (
            "bridge",
            inside.as_str(),
            "user specified IP address is supported on user defined networks only".to_string(),
        ),
        ("dual", "fd00::zz", "invalid IPv6 address".to_string()),
    ] {
        let r = b.berth(&[
            "run",
            "--rm",
            "--network",
            net,
            "--ip6",
            ip,
            "busybox:latest",
            "true",
        ]);
        assert_eq!(r.code(), 125, "{net} {ip}: {r:?}");
        assert!(r.stderr.contains(&want), "{net} {ip}: {r:?}");
        assert_eq!(r.stdout, "", "{r:?}");
    }
    // network connect --ip6 on a network without IPv6.
    let x = sleeper(&b, "x6", "dual", &[]);
    let r = b.berth(&["network", "connect", "--ip6", &inside, "only4", "x6"]);
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "no configured subnet contains IP address {inside}"
        )),
        "{r:?}"
    );
    // An IPv6 subnet without --ipv6, and a second IPv6 subnet, are refused.
    let r = b.berth(&["network", "create", "--subnet", &s6.subnet6(), "nov6"]);
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("--ipv6"), "{r:?}");
    // An IPv6 address in use.
    let taken = s6.addr6(2).to_string();
    let r = b.berth(&[
        "run",
        "--rm",
        "--network",
        "dual",
        "--ip6",
        &taken,
        "busybox:latest",
        "true",
    ]);
    assert_eq!(r.code(), 125, "{r:?}");
    assert!(r.stderr.contains("already in use"), "{r:?}");
    b.ok(&["rm", "-f", "x6"]);
    b.ok(&["network", "rm", "only4", "dual"]);
    b.assert_clean(&[&x]);
}

#[test]
fn without_a_subnet_an_ipv6_network_gets_a_ula_64() {
    let b = world();
    let id = b.ok(&["network", "create", "--ipv6", "autov6"]);
    let n: Value = serde_json::from_str(&b.ok(&["network", "inspect", "autov6"])).unwrap();
    assert_eq!(n[0]["Id"], id.trim());
    let cfg = &n[0]["IPAM"]["Config"];
    let v6 = cfg[1]["Subnet"].as_str().unwrap();
    assert!(v6.ends_with("/64"), "{cfg}");
    // From the host's ULA /48, as Docker derives it from its host id (here the machine id).
    let host_id = std::fs::read_to_string("/etc/machine-id").unwrap_or_default();
    let base = berth::net::networks::subnets6::ula_base(host_id.trim());
    let net6: std::net::Ipv6Addr = v6.trim_end_matches("/64").parse().unwrap();
    assert!(base.contains(&net6), "{v6} not in {base}");
    assert!(cfg[0]["Subnet"].as_str().unwrap().contains('.'), "{cfg}");
    assert_eq!(
        cfg[1]["Gateway"].as_str().unwrap(),
        v6.replace("::/64", "::1")
    );
    b.ok(&["network", "rm", "autov6"]);
}

#[test]
fn icc_false_keeps_containers_apart_over_ipv6_too() {
    let mut b = world();
    let s = b.net.slot();
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    b.ok(&[
        "network",
        "create",
        "--ipv6",
        "--icc=false",
        "--subnet",
        &s.subnet,
        "--subnet",
        &s.subnet6(),
        "-o",
        &opt,
        "v6iso",
    ]);
    let a = sleeper(&b, "ia", "v6iso", &[]);
    let c = sleeper(&b, "ic", "v6iso", &[]);
    let gw = s.addr6(1).to_string();
    // The gateway answers; the other container does not, in either family.
    b.ok(&["exec", "ia", "ping", "-6", "-c1", "-W5", &gw]);
    for target in [s.addr6(3).to_string(), s.addr(3).to_string()] {
        let r = b.berth(&["exec", "ia", "ping", "-c1", "-W2", &target]);
        assert_ne!(r.code(), 0, "{target} reachable with icc=false: {r:?}");
    }
    b.ok(&["rm", "-f", "ia", "ic"]);
    b.ok(&["network", "rm", "v6iso"]);
    b.assert_clean(&[&a, &c]);
}

/// `iptables-BACKEND*` and `ip6tables-BACKEND*` links under the test's directory, to put
/// first on a tool's PATH: the host's choice of backend, made by the test.
fn shim(env: &berth_e2e::TestEnv, backend: &str) -> std::path::PathBuf {
    let dir = env.dir().join(format!("xtables-{backend}"));
    std::fs::create_dir_all(&dir).unwrap();
    for fam in ["iptables", "ip6tables"] {
        for suffix in ["", "-restore", "-save"] {
            let real = format!("/usr/sbin/{fam}-{backend}{suffix}");
            std::os::unix::fs::symlink(real, dir.join(format!("{fam}{suffix}"))).unwrap();
        }
    }
    dir
}

/// On a throwaway host (network and mount namespaces of a thread, `/run/berth-net` a tmpfs
/// there) whose iptables is `backend`: an IPv6 network's and a container's rules go to that
/// backend's ip6tables only, and its teardown leaves no berth rule or chain there.
fn ipv6_rules_on(backend: &str) {
    let env = berth_e2e::TestEnv::new();
    let path = format!(
        "{}:{}",
        shim(&env, backend).display(),
        berth_e2e::tool_path()
    );
    let other = if backend == "legacy" { "nft" } else { "legacy" };
    let save6 = |b: &str| {
        let out = std::process::Command::new(format!("/usr/sbin/ip6tables-{b}-save"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
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
            let hd = berth::net::host::host_dir();
            mount(
                Some("tmpfs"),
                &hd,
                Some("tmpfs"),
                MsFlags::empty(),
                Some("mode=0700"),
            )
            .unwrap();
            let run = |argv: &[&str], input: Option<&[u8]>| {
                let mut c = env.cmd(argv[0]);
                c.args(&argv[1..]).env("PATH", &path);
                if let Some(bytes) = input {
                    use std::io::Write;
                    c.stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .stderr(std::process::Stdio::piped());
                    let mut child = c.spawn().unwrap();
                    child.stdin.take().unwrap().write_all(bytes).unwrap();
                    child.wait_with_output().unwrap()
                } else {
                    c.output().unwrap()
                }
            };
            let out = run(
                &[
                    "berth-netns",
                    "network",
                    "create",
                    "--ipv6",
                    "--subnet",
                    "10.79.0.0/24",
                    "--subnet",
                    "fd00:79::/64",
                    "-o",
                    "com.docker.network.bridge.name=bscratch6",
                    "scratch6",
                ],
                None,
            );
            assert!(out.status.success(), "{out:?}");
            let (id, rec) = net::fake_container(&env, "web", &[], &[]);
            let out = run(
                &["berth-netns", "-", "--network", "scratch6", "-p", "8080:80"],
                Some(rec.as_bytes()),
            );
            assert!(out.status.success(), "{out:?}");
            let (ours, theirs) = (save6(backend), save6(other));
            assert!(
                ours.contains("-j DNAT --to-destination [fd00:79::2]:80"),
                "{ours}"
            );
            assert!(ours.contains("-s fd00:79::/64 ! -o bscratch6"), "{ours}");
            assert!(
                !theirs.contains("BERTH"),
                "rules went to the other backend: {theirs}"
            );
            let out = run(&["berth-netns", "rm", &id], None);
            assert!(out.status.success(), "{out:?}");
            let after = save6(backend);
            assert!(
                !after.contains("BERTH") && !after.contains("berth"),
                "{after}"
            );
        })
        .join()
        .unwrap()
    });
}

#[test]
fn ipv6_rules_work_with_iptables_legacy() {
    ipv6_rules_on("legacy");
}

#[test]
fn ipv6_rules_work_with_iptables_nft() {
    ipv6_rules_on("nft");
}
