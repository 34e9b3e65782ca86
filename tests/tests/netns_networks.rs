//! User-defined networks (create/ls/rm/inspect), icc=false with links as the exception,
//! isolation between networks, and outbound NAT seen from a fake outside host.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use berth_e2e::argv;
use berth_e2e::net::{self, Slot, TestNet, attach};
use berth_e2e::{Run, TestEnv};

fn create_net(env: &TestEnv, name: &str, s: &Slot, extra: &[&str]) -> Run {
    let opt = format!("com.docker.network.bridge.name={}", s.bridge);
    let mut argv = vec![
        "berth-netns",
        "network",
        "create",
        "--subnet",
        &s.subnet,
        "-o",
        &opt,
    ];
    argv.extend_from_slice(extra);
    argv.push(name);
    env.run(&argv)
}

fn ns(v: &serde_json::Value) -> PathBuf {
    PathBuf::from(v["network"]["netns"].as_str().unwrap())
}

fn ip(v: &serde_json::Value) -> String {
    v["network"]["ip_address"].as_str().unwrap().to_string()
}

/// Whether a client in `from` can fetch `url` (curl, 2 s connect timeout).
fn can_fetch(from: &Path, url: &str) -> bool {
    net::run_in_netns(
        from,
        &argv!("curl -s --connect-timeout 2 --max-time 4 {}", url),
    )
    .0
}

#[test]
fn network_create_ls_inspect_rm() {
    let env = TestEnv::new();
    let mut tn = TestNet::new(&env);
    let s = tn.slot();
    let created = create_net(&env, "appnet", &s, &["--label", "team=a"])
        .success()
        .json();
    let id = created["Id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 64);
    let ls = env.run(&["berth-netns", "network", "ls"]).success().json();
    let names: Vec<&str> = ls
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bridge", "host", "none", "appnet"]);
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["berth-netns", "network", "inspect", "appnet"])).unwrap();
    let n = &inspect[0];
    assert_eq!(n["Id"], id.as_str());
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["IPAM"]["Config"][0]["Subnet"], s.subnet.as_str());
    assert_eq!(n["IPAM"]["Config"][0]["Gateway"], s.gateway.to_string());
    assert_eq!(
        n["Options"]["com.docker.network.bridge.name"],
        s.bridge.as_str()
    );
    assert_eq!(n["Labels"]["team"], "a");
    // By id prefix too.
    env.ok(&["berth-netns", "network", "inspect", &id[..12]]);

    // Refusals.
    create_net(&env, "appnet", &s, &[])
        .fails_with(104)
        .error_line();
    let s2 = tn.slot();
    let opt = format!("com.docker.network.bridge.name={}", s2.bridge);
    env.run(&argv!(
        "berth-netns network create --subnet {} -o {} overlap",
        &s.subnet,
        &opt
    ))
    .fails_with(104)
    .error_line();
    env.run(&["berth-netns", "network", "create", "-d", "overlay", "x1"])
        .fails_with(2)
        .error_line();
    env.run(&argv!("berth-netns network create --subnet 10.0.0.1/24 x2"))
        .fails_with(4)
        .error_line();
    env.run(&["berth-netns", "network", "rm", "bridge"])
        .fails_with(4)
        .error_line();
    env.run(&["berth-netns", "network", "inspect", "nosuch"])
        .fails_with(3)
        .error_line();

    // In use: refused until its container is gone; --ip picks the address.
    let (cid, rec) = net::fake_container(&env, "member", &[], &[]);
    let v = attach(
        &env,
        &rec,
        &["--network", "appnet", "--ip", &s.addr(77).to_string()],
    )
    .success()
    .json();
    assert_eq!(ip(&v), s.addr(77).to_string());
    let inspect: serde_json::Value =
        serde_json::from_str(&env.ok(&["berth-netns", "network", "inspect", "appnet"])).unwrap();
    assert_eq!(inspect[0]["Containers"][&cid]["Name"], "member");
    assert_eq!(
        inspect[0]["Containers"][&cid]["IPv4Address"],
        format!("{}/24", s.addr(77))
    );
    env.run(&["berth-netns", "network", "rm", "appnet"])
        .fails_with(104)
        .error_line();
    env.ok(&["berth-netns", "rm", &cid]);
    env.ok(&["berth-netns", "network", "rm", "appnet"]);
    env.run(&["berth-netns", "network", "rm", "appnet"])
        .fails_with(3);
    assert!(!net::host_link_exists(&s.bridge));
}

#[test]
fn icc_false_blocks_containers_except_along_links() {
    let env = TestEnv::new();
    let mut tn = TestNet::new(&env);
    let s = tn.slot();
    create_net(&env, "quiet", &s, &["--icc=false"]).success();
    let (sid, srec) = net::fake_container(&env, "server", &["80/tcp"], &[]);
    let sv = attach(
        &env,
        &srec,
        &["--network", "quiet", "-p", &format!("{}:80", s.port(0))],
    )
    .success()
    .json();
    let sip = ip(&sv);
    let _srv = net::http_server(
        &env,
        &ns(&sv),
        80,
        "served",
        format!("{sip}:80").parse().unwrap(),
    );
    let _run = net::mark_running(&env, &sid);
    let (_, lrec) = net::fake_container(&env, "linked", &[], &[]);
    let lv = attach(&env, &lrec, &["--network", "quiet", "--link", "server:srv"])
        .success()
        .json();
    let (oid, orec) = net::fake_container(&env, "outsider", &[], &[]);
    let ov = attach(&env, &orec, &["--network", "quiet"])
        .success()
        .json();
    let url = format!("http://{sip}:80/");
    assert!(can_fetch(&ns(&lv), &url), "the link is the exception");
    assert!(
        !can_fetch(&ns(&ov), &url),
        "icc=false blocks unlinked containers"
    );
    // The published port still works from the host.
    assert_eq!(
        net::http_get(&format!("http://127.0.0.1:{}/", s.port(0))).as_deref(),
        Some("served")
    );
    // Removing the target takes the link's rule with it.
    env.ok(&["berth-netns", "rm", &oid]);
    env.ok(&["berth-netns", "rm", &sid]);
    assert!(net::rules_with(&format!("berth-peer:{sid}")).is_empty());
}

#[test]
fn networks_are_isolated_and_outbound_traffic_is_masqueraded() {
    let env = TestEnv::new();
    let mut tn = TestNet::new(&env);
    let s1 = tn.default_slot().clone();
    let s2 = tn.slot();
    create_net(&env, "other", &s2, &[]).success();
    let (_, arec) = net::fake_container(&env, "alpha", &[], &[]);
    let av = attach(&env, &arec, &[]).success().json();
    let aip = ip(&av);
    let _srv = net::http_server(
        &env,
        &ns(&av),
        80,
        "a",
        format!("{aip}:80").parse().unwrap(),
    );
    let (_, brec) = net::fake_container(&env, "beta", &[], &[]);
    let bv = attach(&env, &brec, &["--network", "other"])
        .success()
        .json();
    assert!(ip(&bv).starts_with(&format!("10.213.{}.", s2.n)));
    assert!(
        !can_fetch(&ns(&bv), &format!("http://{aip}:80/")),
        "no traffic between networks"
    );

    // Outbound: a fake outside host in its own namespace sees the host's address, not the
    // container's.
    let (outside, oip) = tn.outside_host(&env);
    let listener = listener_in(&outside, 8081);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(listener.accept().map(|(_, peer)| peer));
    });
    let (ok, _) = net::run_in_netns(
        &ns(&av),
        &["sh", "-c", &format!("echo hi | busybox nc -w 3 {oip} 8081")],
    );
    assert!(ok, "the container reaches the outside host");
    let peer = rx
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("a connection")
        .unwrap();
    let outside_gw = oip.octets();
    assert_eq!(
        peer.ip().to_string(),
        format!("10.213.{}.1", outside_gw[2]),
        "masqueraded to the host's address"
    );
    assert_ne!(peer.ip().to_string(), aip);
    let _ = s1;
}

/// A TCP listener inside namespace `ns`.
fn listener_in(ns: &Path, port: u16) -> TcpListener {
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        let f = std::fs::File::open(&ns).unwrap();
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        TcpListener::bind(("0.0.0.0", port)).unwrap()
    })
    .join()
    .unwrap()
}
