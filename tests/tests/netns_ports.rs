//! Bridge mode and published ports: every -p form, -P, reachability from the host (127.0.0.1,
//! the bridge's address, another address of the host) and from another container, `port`
//! output, conflicts refused before anything is made, and teardown leaving nothing behind.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;

use berth_e2e::TestEnv;
use berth_e2e::argv;
use berth_e2e::net::{self, TestNet, attach};

fn netns_of(v: &serde_json::Value) -> PathBuf {
    PathBuf::from(v["network"]["netns"].as_str().unwrap())
}

fn sa(s: String) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn all_publish_forms_reach_the_container_and_teardown_leaves_nothing() {
    let env = TestEnv::new();
    let tn = TestNet::new(&env);
    let s = tn.default_slot().clone();
    let (id, rec) = net::fake_container(&env, "web", &["80/tcp"], &[]);
    let fixed = s.port(0);
    let local = s.port(1);
    let r = attach(
        &env,
        &rec,
        &argv!(
            "-p {} {} 81 {} 127.0.0.1::82 {} {} {} {} {} 5353:53/udp",
            &format!("{fixed}:80"), // HOST:CONTAINER
            "-p",                   // CONTAINER (dynamic)
            "-p",                   // IP::CONTAINER
            "-p",
            &format!("127.0.0.1:{local}:83/tcp"), // IP:HOST:CONTAINER
            "-p",
            &format!("{}-{}:90-91", s.port(2), s.port(3)), // ranges
            "-p"
        ),
    )
    .success();
    let v = r.json();
    let ip = v["network"]["ip_address"].as_str().unwrap().to_string();
    assert_eq!(ip, s.addr(2).to_string(), "first address of the range");
    assert_eq!(v["network"]["gateway"], s.gateway.to_string());
    assert_eq!(v["network"]["bridge"], s.bridge);
    let ports = v["network"]["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 7, "{ports:#?}");
    let host_port = |cp: u64, proto: &str| {
        ports
            .iter()
            .find(|p| p["container_port"] == cp && p["protocol"] == proto)
            .unwrap_or_else(|| panic!("{cp}/{proto} not published"))["host_port"]
            .as_u64()
            .unwrap() as u16
    };
    let ns = netns_of(&v);
    let mut servers = Vec::new();
    for port in [80u16, 81, 82, 83, 90, 91] {
        servers.push(net::http_server(
            &env,
            &ns,
            port,
            &format!("port{port}"),
            sa(format!("{ip}:{port}")),
        ));
    }
    // HOST:CONTAINER on every address: loopback, the bridge's address.
    assert_eq!(
        net::http_get(&format!("http://127.0.0.1:{fixed}/")).as_deref(),
        Some("port80")
    );
    assert_eq!(
        net::http_get(&format!("http://{}:{fixed}/", s.gateway)).as_deref(),
        Some("port80")
    );
    // Dynamic: from the ephemeral range.
    let dynamic = host_port(81, "tcp");
    assert!(dynamic >= 32768, "{dynamic}");
    assert_eq!(
        net::http_get(&format!("http://127.0.0.1:{dynamic}/")).as_deref(),
        Some("port81")
    );
    // Bound to 127.0.0.1 only: not on the bridge address.
    let p82 = host_port(82, "tcp");
    assert_eq!(
        net::http_get(&format!("http://127.0.0.1:{p82}/")).as_deref(),
        Some("port82")
    );
    assert_eq!(net::http_get(&format!("http://{}:{p82}/", s.gateway)), None);
    assert_eq!(host_port(83, "tcp"), local);
    assert_eq!(
        net::http_get(&format!("http://127.0.0.1:{local}/")).as_deref(),
        Some("port83")
    );
    assert_eq!(
        net::http_get(&format!("http://127.0.0.1:{}/", s.port(3))).as_deref(),
        Some("port91")
    );
    // UDP: a datagram to the published port arrives in the container.
    let udp = net::udp_socket_in(&ns, 53);
    udp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"ping-udp", "127.0.0.1:5353").unwrap();
    let mut buf = [0u8; 64];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping-udp");

    // `port`, as docker port prints it.
    let text = env.ok(&["berth-netns", "port", "web", "--json"]);
    assert!(text.contains("\"container_port\":80"));
    let all = env.run(&["berth-netns", "port", "web"]).success();
    let _ = all;

    // Teardown: no interface, rule, namespace or reservation is left.
    drop(servers);
    env.ok(&["berth-netns", "rm", &id]);
    assert!(
        net::host_link_exists(&s.bridge),
        "the default bridge is kept"
    );
    assert!(!net::port_reserved_by(&id));
    assert!(net::host_links(&berth::net::attach::veth_name(&id)).is_empty());
    assert!(
        net::rules_with(&id).is_empty(),
        "{:?}",
        net::rules_with(&id)
    );
    assert!(
        !net::rules_with(&s.bridge).is_empty(),
        "the bridge's rules are kept"
    );
    assert!(!env.run.join("netns").join(&id).exists());
    // Idempotent.
    env.ok(&["berth-netns", "rm", &id]);
    // The port is free again.
    TcpListener::bind(("127.0.0.1", fixed)).unwrap();
    let rec = env.ok(&["cat", env.paths().record(&id).to_str().unwrap()]);
    assert!(
        !rec.contains("\"network\""),
        "record keeps no network section"
    );
}

#[test]
fn publish_all_uses_image_and_expose_ports_and_containers_reach_each_other() {
    let env = TestEnv::new();
    let tn = TestNet::new(&env);
    let s = tn.default_slot().clone();
    let (_, rec) = net::fake_container(&env, "app", &["80/tcp"], &[]);
    let v = attach(&env, &rec, &["-P", "--expose", "7000-7001/udp"])
        .success()
        .json();
    let ports = v["network"]["ports"].as_array().unwrap();
    let mut got: Vec<String> = ports
        .iter()
        .map(|p| {
            format!(
                "{}/{}",
                p["container_port"],
                p["protocol"].as_str().unwrap()
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, ["7000/udp", "7001/udp", "80/tcp"]);
    let exposed = v["network"]["exposed_ports"].as_array().unwrap();
    assert_eq!(exposed.len(), 3);
    let ip = v["network"]["ip_address"].as_str().unwrap().to_string();
    let p80 = ports.iter().find(|p| p["container_port"] == 80).unwrap()["host_port"]
        .as_u64()
        .unwrap();
    let _srv = net::http_server(&env, &netns_of(&v), 80, "app", sa(format!("{ip}:80")));

    // A second container reaches the first one's published port through the host's
    // address (hairpin NAT) and directly.
    let (_, rec2) = net::fake_container(&env, "client", &[], &[]);
    let v2 = attach(&env, &rec2, &[]).success().json();
    assert_eq!(v2["network"]["ip_address"], s.addr(3).to_string());
    let ns2 = netns_of(&v2);
    let (ok, body) = net::run_in_netns(
        &ns2,
        &argv!(
            "curl -s --max-time 5 {}",
            &format!("http://{}:{p80}/", s.gateway)
        ),
    );
    assert!(
        ok && body == "app",
        "hairpin through the gateway address: {body:?}"
    );
    let (ok, body) = net::run_in_netns(
        &ns2,
        &["curl", "-s", "--max-time", "5", &format!("http://{ip}:80/")],
    );
    assert!(ok && body == "app", "direct: {body:?}");
    // The host's other addresses: an address on an interface the test made.
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", &s.bridge])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(&s.gateway.to_string()));
}

#[test]
fn port_conflicts_are_refused_before_anything_is_made() {
    let env = TestEnv::new();
    let tn = TestNet::new(&env);
    let s = tn.default_slot().clone();
    let (_, rec) = net::fake_container(&env, "first", &[], &[]);
    let taken = s.port(4);
    attach(&env, &rec, &["-p", &format!("{taken}:80")]).success();

    // Another container wants the same host port.
    let (id2, rec2) = net::fake_container(&env, "second", &[], &[]);
    let r = attach(&env, &rec2, &["-p", &format!("{taken}:80")]).fails_with(104);
    let line = r.error_line();
    assert!(
        line.contains(&taken.to_string()) && line.contains("first"),
        "{line}"
    );
    assert!(!env.run.join("netns").join(&id2).exists());
    assert!(net::host_links(&berth::net::attach::veth_name(&id2)).is_empty());
    assert!(net::rules_with(&id2).is_empty());

    // A host process listening on the port.
    let busy = s.port(5);
    let _l = TcpListener::bind(("127.0.0.1", busy)).unwrap();
    let r = attach(&env, &rec2, &["-p", &format!("{busy}:80")]).fails_with(104);
    assert!(
        r.error_line().contains("in use by a process on the host"),
        "{}",
        r.stderr
    );
    // Bound to 0.0.0.0 by us clashes with a listener on 127.0.0.1; a range with one free
    // port picks it.
    let r = attach(&env, &rec2, &["-p", &format!("{busy}-{}:80", s.port(6))]).success();
    assert_eq!(r.json()["network"]["ports"][0]["host_port"], s.port(6));
    assert!(net::rules_with(&id2).len() == 1);
    // Address 10.213.N.3 was freed by the refusals: the second container got it.
    assert_eq!(r.json()["network"]["ip_address"], s.addr(3).to_string());

    // Bad specs: one line, exit 4.
    for (i, bad) in ["80:", "abc", "1.2.3:80:80", "70000:80"].iter().enumerate() {
        let (_, rec3) = net::fake_container(&env, &format!("bad{i}"), &[], &[]);
        attach(&env, &rec3, &["-p", bad]).fails_with(4).error_line();
    }
    // An address the host does not have.
    let (_, rec4) = net::fake_container(&env, "noaddr", &[], &[]);
    attach(&env, &rec4, &["-p", "192.0.2.123:8080:80"])
        .fails_with(4)
        .error_line();
}

#[test]
fn twenty_containers_in_parallel_get_twenty_addresses() {
    let env = TestEnv::new();
    let tn = TestNet::new(&env);
    let s = tn.default_slot().clone();
    let recs: Vec<(String, String)> = (0..20)
        .map(|i| net::fake_container(&env, &format!("c{i}"), &[], &[]))
        .collect();
    let results: Vec<serde_json::Value> = std::thread::scope(|sc| {
        let hs: Vec<_> = recs
            .iter()
            .map(|(_, rec)| {
                let env = &env;
                sc.spawn(move || attach(env, rec, &["-p", "80"]).success().json())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut ips: Vec<String> = results
        .iter()
        .map(|v| v["network"]["ip_address"].as_str().unwrap().to_string())
        .collect();
    let mut ports: Vec<u64> = results
        .iter()
        .map(|v| v["network"]["ports"][0]["host_port"].as_u64().unwrap())
        .collect();
    ips.sort();
    ips.dedup();
    ports.sort();
    ports.dedup();
    assert_eq!(ips.len(), 20);
    assert_eq!(ports.len(), 20);
    assert!(net::host_link_exists(&s.bridge), "one bridge");
    // Parallel teardown too: every container's objects go, the shared bridge stays.
    std::thread::scope(|sc| {
        for (id, _) in &recs {
            let env = &env;
            sc.spawn(move || env.ok(&["berth-netns", "rm", id]));
        }
    });
    assert!(net::host_link_exists(&s.bridge));
    for (id, _) in &recs {
        assert!(net::rules_with(id).is_empty(), "rules of {id} left");
        assert!(!net::port_reserved_by(id));
    }
    assert!(net::addresses_held(&env.paths()).is_empty());
    assert!(
        net::host_links("veth")
            .iter()
            .all(|l| !recs.iter().any(|(id, _)| l.contains(&id[..11])))
    );
}
