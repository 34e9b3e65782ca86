//! Modes none, host and container:NAME; the hostname, hosts and resolv.conf files and their
//! flags; links (hosts entry, Docker's variables, refusals).

use std::path::PathBuf;

use berth_e2e::TestEnv;
use berth_e2e::argv;
use berth_e2e::net::{self, TestNet, attach};

fn config(env: &TestEnv, id: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(env.paths().container(id).join("config.json")).unwrap())
        .unwrap()
}

fn net_ns(cfg: &serde_json::Value) -> Option<String> {
    cfg["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["type"] == "network")
        .map(|n| n["path"].as_str().unwrap_or("").to_string())
}

fn mount_source(cfg: &serde_json::Value, dest: &str) -> PathBuf {
    let m = cfg["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == dest)
        .unwrap_or_else(|| panic!("no mount on {dest}"));
    PathBuf::from(m["source"].as_str().unwrap())
}

fn read(p: PathBuf) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn none_has_only_loopback_up() {
    let env = TestEnv::new();
    let _tn = TestNet::new(&env);
    let (id, rec) = net::fake_container(&env, "lonely", &[], &[]);
    let v = attach(&env, &rec, &["--network", "none", "--hostname", "solo"])
        .success()
        .json();
    assert_eq!(v["network"]["mode"], "none");
    let ns = PathBuf::from(v["network"]["netns"].as_str().unwrap());
    let (ok, links) = net::run_in_netns(&ns, &["ip", "-o", "link"]);
    assert!(ok);
    assert_eq!(links.lines().count(), 1, "{links}");
    assert!(links.contains("lo:") && links.contains("UP"), "{links}");
    let cfg = config(&env, &id);
    assert_eq!(net_ns(&cfg).unwrap(), ns.to_str().unwrap());
    assert_eq!(cfg["hostname"], "solo");
    assert_eq!(read(mount_source(&cfg, "/etc/hostname")), "solo\n");
    assert!(read(mount_source(&cfg, "/etc/hosts")).contains("127.0.0.1\tsolo\n"));
    assert!(
        cfg["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "HOSTNAME=solo")
    );
    env.ok(&["berth-netns", "rm", "lonely"]);
    assert!(!ns.exists());
    // Refusals: links and MACs make no sense without a bridge.
    let (_, rec2) = net::fake_container(&env, "other", &[], &[]);
    attach(
        &env,
        &rec2,
        &["--network", "none", "--mac-address", "02:00:00:00:00:01"],
    )
    .fails_with(4);
}

/// berth-netns makes its namespace while it waits for its record, held by the process alone:
/// killed -9 before the record comes, it leaves nothing (no file under `<run>/netns`, no
/// mount).
#[test]
fn a_namespace_made_ahead_dies_with_the_stage() {
    let env = TestEnv::new();
    let mut stage = env.cmd("berth-netns");
    stage
        .args(["--network", "none", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = stage.spawn().unwrap();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    let fds = format!("/proc/{}/fd", child.id());
    berth_e2e::until("berth-netns to hold a namespace of its own", || {
        std::fs::read_dir(&fds)
            .ok()?
            .flatten()
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .find(|l| l.to_string_lossy().starts_with("net:[") && *l != ours)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<_> = std::fs::read_dir(env.paths().run.join("netns"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(env.dir().to_str().unwrap()),
        "a mount under the test's roots: {mounts}"
    );
}

#[test]
fn host_mode_shares_the_host_stack() {
    let env = TestEnv::new();
    let _tn = TestNet::new(&env);
    let (id, rec) = net::fake_container(&env, "hosty", &[], &[]);
    let v = attach(
        &env,
        &rec,
        &["--net", "host", "--add-host", "extra:10.9.8.7", "-p", "80"],
    )
    .success();
    assert!(
        v.stderr.contains("published ports are discarded"),
        "{}",
        v.stderr
    );
    let v = v.json();
    assert_eq!(v["network"]["mode"], "host");
    assert!(v["network"]["netns"].is_null());
    assert!(v["network"]["ports"].as_array().unwrap().is_empty());
    let cfg = config(&env, &id);
    assert_eq!(net_ns(&cfg), None, "no network namespace: the host's");
    let hostname = read(PathBuf::from("/proc/sys/kernel/hostname"));
    assert_eq!(cfg["hostname"], hostname.trim());
    let hosts = read(mount_source(&cfg, "/etc/hosts"));
    assert!(hosts.starts_with(&read(PathBuf::from("/etc/hosts"))));
    assert!(hosts.ends_with("10.9.8.7\textra\n"));
    env.ok(&["berth-netns", "rm", &id]);
}

#[test]
fn container_mode_joins_a_running_containers_namespace() {
    let env = TestEnv::new();
    let _tn = TestNet::new(&env);
    let (aid, arec) = net::fake_container(&env, "base", &[], &[]);
    let a = attach(&env, &arec, &["--hostname", "basehost"])
        .success()
        .json();
    let (_, brec) = net::fake_container(&env, "side", &[], &[]);
    // Not running yet: refused.
    attach(&env, &brec, &["--network", "container:base"])
        .fails_with(105)
        .error_line();
    attach(&env, &brec, &["--network", "container:nosuch"])
        .fails_with(3)
        .error_line();
    let _p = net::mark_running(&env, &aid);
    attach(&env, &brec, &["--network", "container:base", "-p", "80"])
        .fails_with(4)
        .error_line();
    let b = attach(&env, &brec, &["--network", "container:base"])
        .success()
        .json();
    assert_eq!(b["network"]["netns"], a["network"]["netns"]);
    assert_eq!(b["network"]["joined"], aid.as_str());
    let bid = b["id"].as_str().unwrap();
    let cfg = config(&env, bid);
    assert_eq!(
        net_ns(&cfg).unwrap(),
        a["network"]["netns"].as_str().unwrap()
    );
    assert_eq!(cfg["hostname"], "basehost");
    assert_eq!(
        mount_source(&cfg, "/etc/hosts"),
        PathBuf::from(a["network"]["hosts_path"].as_str().unwrap())
    );
    // Removing the joiner leaves the base's namespace alone.
    env.ok(&["berth-netns", "rm", bid]);
    assert!(PathBuf::from(a["network"]["netns"].as_str().unwrap()).exists());
}

#[test]
fn hosts_resolv_conf_and_dns_flags() {
    let env = TestEnv::new();
    let tn = TestNet::new(&env);
    let s = tn.default_slot().clone();
    // The host's resolv.conf, as the root's config names it: loopback servers are dropped.
    let host_resolv = env.dir().join("host-resolv.conf");
    std::fs::write(
        &host_resolv,
        "nameserver 127.0.0.53\nnameserver 10.1.2.3\nsearch corp.example\noptions edns0\n",
    )
    .unwrap();
    tn.write_config(&format!(
        r#"{{"bridge":"{}","bip":"{}/24","resolv_conf":"{}"}}"#,
        s.bridge,
        s.gateway,
        host_resolv.display()
    ));
    let (id, rec) = net::fake_container(&env, "dns1", &[], &[]);
    attach(
        &env,
        &rec,
        &["--add-host", "db:10.0.0.9", "--add-host", "gw:host-gateway"],
    )
    .success();
    let cfg = config(&env, &id);
    assert_eq!(
        read(mount_source(&cfg, "/etc/resolv.conf")),
        "search corp.example\nnameserver 10.1.2.3\noptions edns0\n"
    );
    let hosts = read(mount_source(&cfg, "/etc/hosts"));
    assert!(hosts.contains("10.0.0.9\tdb\n"), "{hosts}");
    assert!(hosts.contains(&format!("{}\tgw\n", s.gateway)), "{hosts}");
    assert!(
        hosts.contains(&format!("{}\t{}\n", s.addr(2), &id[..12])),
        "own name and address: {hosts}"
    );
    assert_eq!(
        read(mount_source(&cfg, "/etc/hostname")),
        format!("{}\n", &id[..12])
    );

    let (id2, rec2) = net::fake_container(&env, "dns2", &[], &[]);
    attach(
        &env,
        &rec2,
        &argv!(
            "--dns 10.0.0.53 --dns 10.0.0.54 --dns-search a.test --dns-search b.test --dns-option \
             ndots:3"
        ),
    )
    .success();
    let cfg = config(&env, &id2);
    assert_eq!(
        read(mount_source(&cfg, "/etc/resolv.conf")),
        "search a.test b.test\nnameserver 10.0.0.53\nnameserver 10.0.0.54\noptions ndots:3\n"
    );
    let (_, rec3) = net::fake_container(&env, "dns3", &[], &[]);
    attach(&env, &rec3, &["--dns", "not-an-ip"])
        .fails_with(4)
        .error_line();
    attach(&env, &rec3, &["--add-host", "nocolon"])
        .fails_with(4)
        .error_line();
    attach(&env, &rec3, &["--hostname", "bad_name"])
        .fails_with(4)
        .error_line();
}

#[test]
fn links_give_hosts_entries_and_docker_variables() {
    let env = TestEnv::new();
    let _tn = TestNet::new(&env);
    let (did, drec) = net::fake_container(
        &env,
        "mysql",
        &["3306/tcp"],
        &["MYSQL_ROOT_PASSWORD=secret", "PATH=/bin"],
    );
    let d = attach(&env, &drec, &["--hostname", "dbhost"])
        .success()
        .json();
    let dip = d["network"]["ip_address"].as_str().unwrap().to_string();
    let (wid, wrec) = net::fake_container(&env, "web", &[], &[]);
    // A target that ran and exited is refused; so is a missing one. (One created and not
    // yet started is accepted, as `docker create --link` does.)
    drop(net::mark_running(&env, &did));
    attach(&env, &wrec, &["--link", "mysql:db"])
        .fails_with(105)
        .error_line();
    attach(&env, &wrec, &["--link", "nosuch:db"])
        .fails_with(3)
        .error_line();
    let _p = net::mark_running(&env, &did);
    attach(&env, &wrec, &["--link", "mysql:db"]).success();
    let cfg = config(&env, &wid);
    let envs: Vec<String> = cfg["process"]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    for want in [
        format!("DB_PORT=tcp://{dip}:3306"),
        format!("DB_PORT_3306_TCP=tcp://{dip}:3306"),
        format!("DB_PORT_3306_TCP_ADDR={dip}"),
        "DB_PORT_3306_TCP_PORT=3306".to_string(),
        "DB_PORT_3306_TCP_PROTO=tcp".to_string(),
        "DB_NAME=/web/db".to_string(),
        "DB_ENV_MYSQL_ROOT_PASSWORD=secret".to_string(),
    ] {
        assert!(envs.contains(&want), "{want} missing from {envs:#?}");
    }
    assert!(!envs.iter().any(|e| e.starts_with("DB_ENV_PATH=")));
    let hosts = read(mount_source(&cfg, "/etc/hosts"));
    assert!(
        hosts.contains(&format!("{dip}\tdb dbhost mysql\n")),
        "{hosts}"
    );
}
