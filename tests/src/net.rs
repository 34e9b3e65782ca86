//! Network test fixtures: every test gets its own bridge names and subnets (unique across
//! tests running in parallel, in any process), written into its root's network config so that
//! nothing ever touches `berth0`, and a Drop guard that removes bridges, veths, firewall rules
//! and namespaces even when the test fails. The root's default bridge outlives its containers
//! (as docker0 does), so the guard is what removes it, with its rules, at the end of the test.
//!
//! Slots: slot N is bridge `btest<N>` and subnet `10.213.N.0/24`, held with a flock on
//! `/run/berth-test-net/<N>.lock` for the guard's lifetime. Traffic in tests goes only to
//! loopback, these subnets, and addresses inside namespaces the test made.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth::net::{firewall, host, netlink::Netlink, netns};
use berth::store::Lock;

use crate::TestEnv;

const SLOTS: u32 = 250;

/// One bridge name and /24 subnet, held for the test.
#[derive(Debug, Clone)]
pub struct Slot {
    pub n: u32,
    pub bridge: String,
    /// `10.213.N.0/24`.
    pub subnet: String,
    /// `10.213.N.1`.
    pub gateway: Ipv4Addr,
}

impl Slot {
    /// The `i`th address of the subnet.
    pub fn addr(&self, i: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.n as u8, i)
    }

    /// The slot's IPv6 subnet, for `--ipv6` networks: `fd00:b7:<N in hex>::/64`, written as
    /// berth and ip6tables write it (slot 0's is `fd00:b7::/64`).
    pub fn subnet6(&self) -> String {
        format!("{}/64", self.addr6(0))
    }

    /// The `i`th address of the IPv6 subnet.
    pub fn addr6(&self, i: u16) -> std::net::Ipv6Addr {
        std::net::Ipv6Addr::new(0xfd00, 0xb7, self.n as u16, 0, 0, 0, 0, i)
    }

    /// A host port unique to this slot (`k` < 16), for fixed `-p` host ports.
    pub fn port(&self, k: u16) -> u16 {
        assert!(k < 16);
        21000 + self.n as u16 * 16 + k
    }
}

/// The guard: the test's slots, and the roots whose containers it tears down.
pub struct TestNet {
    root: PathBuf,
    run: PathBuf,
    slots: Vec<(Slot, Lock)>,
    /// Extra links the test made itself (fake outside hosts).
    links: Vec<String>,
}

fn take_slot() -> (Slot, Lock) {
    let dir = Path::new("/run/berth-test-net");
    fs::create_dir_all(dir).expect("create /run/berth-test-net");
    // Start at a pseudo-random slot so parallel tests rarely contend for the same locks.
    let start = std::process::id() % SLOTS;
    for i in 0..SLOTS {
        let n = (start + i) % SLOTS;
        if let Some(lock) = Lock::try_exclusive(&dir.join(format!("{n}.lock"))).expect("slot lock")
        {
            let slot = Slot {
                n,
                bridge: format!("btest{n}"),
                subnet: format!("10.213.{n}.0/24"),
                gateway: Ipv4Addr::new(10, 213, n as u8, 1),
            };
            purge(
                &[slot.bridge.clone(), format!("bto{n}")],
                &[slot.subnet.clone(), format!("fd00:b7:{n:x}:")],
            );
            return (slot, lock);
        }
    }
    panic!("no free network test slot");
}

/// Removes links named `links` and every rule mentioning one of `words`, then berth's chains
/// if no berth bridge is left.
fn purge(links: &[String], words: &[String]) {
    if let Ok(mut nl) = Netlink::open() {
        for l in links {
            let _ = nl.del_link_named(l);
        }
    }
    purge6(words);
    let Ok(text) = firewall::save() else { return };
    let saved = firewall::parse_saved(&text);
    let mut batch = firewall::Batch::default();
    for (t, line) in &saved.rules {
        if words.iter().any(|w| mentions(line, w)) {
            batch.raw(*t, format!("-D {}", &line[3..]));
        }
    }
    let _ = firewall::apply(&batch);
    if let (Ok(_l), Ok(mut nl)) = (host::lock(), Netlink::open()) {
        let _ = host::release_if_idle(&mut nl);
    }
}

/// Whether a rule mentions `word`: a prefix word (an address prefix, ending in `.` or `:`)
/// anywhere, any other (a bridge, a tag) only whole, so that `btest2`'s guard never deletes
/// the rules of `btest21`, another test's bridge.
fn mentions(line: &str, word: &str) -> bool {
    if word.ends_with('.') || word.ends_with(':') {
        return line.contains(word);
    }
    line.match_indices(word).any(|(i, _)| {
        line[i + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    })
}

/// The IPv6 side of [`purge`]: rules mentioning one of `words`, then berth's IPv6 chains if
/// no network's rule is left in them.
fn purge6(words: &[String]) {
    let Ok(text) = firewall::save6() else { return };
    let saved = firewall::parse_saved(&text);
    let mut batch = firewall::Batch::default();
    for (t, line) in &saved.rules {
        if words.iter().any(|w| mentions(line, w)) {
            batch.raw(*t, format!("-D {}", &line[3..]));
        }
    }
    let _ = firewall::apply6(&batch);
    let _l = host::lock();
    if let Ok(text) = firewall::save6() {
        let saved = firewall::parse_saved(&text);
        if !saved.chains.is_empty() && !saved.rules.iter().any(|(_, l)| l.contains("berth-net:")) {
            let mut b = firewall::Batch::default();
            firewall::remove_globals(&saved, &mut b, true);
            let _ = firewall::apply6(&b);
        }
    }
}

impl TestNet {
    /// Takes a slot and makes it the default network of `env`'s root.
    pub fn new(env: &TestEnv) -> TestNet {
        let mut t = TestNet {
            root: env.root.clone(),
            run: env.run.clone(),
            slots: Vec::new(),
            links: Vec::new(),
        };
        let s = t.slot();
        t.write_config(&format!(
            r#"{{"bridge":"{}","bip":"{}/24"}}"#,
            s.bridge, s.gateway
        ));
        t
    }

    /// Replaces the root's network config file (`<root>/networks/default.json`).
    pub fn write_config(&self, json: &str) {
        let p = self.root.join("networks/default.json");
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, json).unwrap();
    }

    /// The default network's slot.
    pub fn default_slot(&self) -> &Slot {
        &self.slots[0].0
    }

    /// One more slot (for a user-defined network or a fake outside host).
    pub fn slot(&mut self) -> Slot {
        let (s, l) = take_slot();
        self.slots.push((s.clone(), l));
        s
    }

    /// A fake "outside" host: a namespace of its own under the test's directory, joined to
    /// the host by a veth pair on a fresh slot's subnet (host side .1, outside .2). Returns
    /// the namespace path and the outside address.
    pub fn outside_host(&mut self, env: &TestEnv) -> (PathBuf, Ipv4Addr) {
        let s = self.slot();
        let ns_path = env.dir().join(format!("outside{}", s.n));
        let ns = netns::create(&ns_path).expect("outside namespace");
        drop(ns);
        let host_if = format!("bto{}", s.n);
        self.links.push(host_if.clone());
        let sh = |cmd: String| {
            let st = Command::new("sh").arg("-c").arg(&cmd).status().unwrap();
            assert!(st.success(), "{cmd}");
        };
        let nsp = ns_path.display();
        sh(format!(
            "ip link add {host_if} type veth peer name eth0 netns {nsp}"
        ));
        sh(format!(
            "ip addr add {}/24 dev {host_if} && ip link set {host_if} up",
            s.gateway
        ));
        sh(format!(
            "nsenter --net={nsp} sh -c 'ip addr add {}/24 dev eth0 && ip link set eth0 up && ip link set lo up'",
            s.addr(2)
        ));
        (ns_path, s.addr(2))
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // The real teardown first, for every container of the root...
        let paths = berth::Paths::new(&self.root, &self.run);
        let ids = berth::state::Containers::new(&paths)
            .list_ids()
            .unwrap_or_default();
        for id in &ids {
            let _ = berth::net::detach(&paths, id);
        }
        // ...then whatever it missed, by name.
        let mut links: Vec<String> = self.slots.iter().map(|(s, _)| s.bridge.clone()).collect();
        links.extend(self.links.iter().cloned());
        links.extend(ids.iter().map(|id| berth::net::attach::veth_name(id)));
        let mut words: Vec<String> = self.slots.iter().map(|(s, _)| s.bridge.clone()).collect();
        words.extend(self.slots.iter().map(|(s, _)| format!("10.213.{}.", s.n)));
        words.extend(
            self.slots
                .iter()
                .map(|(s, _)| format!("fd00:b7:{:x}:", s.n)),
        );
        words.extend(ids.iter().map(|id| format!("berth:{id}")));
        // User-defined networks' bridges made by the test (br-<id>).
        if let Ok(nets) = berth::net::networks::list(&paths) {
            for n in nets.into_iter().filter(|n| !n.bridge.is_empty()) {
                words.push(n.tag());
                links.push(n.bridge);
            }
        }
        purge(&links, &words);
        for id in &ids {
            let _ = netns::remove(&paths.netns(id));
        }
        if let Ok(mut reg) = berth::net::ports::Ports::open(&host::host_dir()) {
            let mut changed = false;
            for id in &ids {
                changed |= reg.release(id);
            }
            if changed {
                let _ = reg.save();
            }
        }
    }
}

/// A process the test started, killed and reaped when dropped.
pub struct Proc(pub Child);

impl Proc {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Makes a container directory and record as berth-unpack would (a bundle with a minimal
/// config.json), and returns (id, record JSON).
pub fn fake_container(
    env: &TestEnv,
    name: &str,
    exposed: &[&str],
    env_vars: &[&str],
) -> (String, String) {
    let (id, name) = berth::state::Containers::new(&env.paths())
        .create(Some(name))
        .expect("create container");
    let dir = env.paths().container(&id);
    fs::create_dir_all(dir.join("rootfs")).unwrap();
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {"user": {"uid": 0, "gid": 0}, "args": ["sh"], "env": env_vars, "cwd": "/"},
        "root": {"path": "rootfs"},
        "hostname": "x",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}
    });
    fs::write(
        dir.join("config.json"),
        serde_json::to_vec_pretty(&config).unwrap(),
    )
    .unwrap();
    let record = serde_json::json!({
        "berth": 1, "id": id, "name": name,
        "bundle": {"path": dir, "rootfs": dir.join("rootfs"), "driver": "dir",
                   "config": {"exposed_ports": exposed, "env": env_vars}}
    });
    let text = record.to_string();
    fs::write(env.paths().record(&id), &text).unwrap();
    (id, text)
}

/// Marks a container as running, with a real process (a `sleep` killed with the test), as
/// berth-spawn would record it.
pub fn mark_running(env: &TestEnv, id: &str) -> Proc {
    let child = Command::new("sleep")
        .arg("1000")
        .current_dir(env.dir())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let start = berth::state::liveness::start_time(pid).unwrap();
    let c = berth::state::Containers::new(&env.paths());
    c.update(id, |r| {
        r.state = Some(berth::protocol::StateSection {
            status: berth::protocol::Status::Running,
            pid,
            pid_start: start,
            ..Default::default()
        });
        Ok::<_, berth::state::StateError>(())
    })
    .unwrap();
    Proc(child)
}

/// A process inside a network namespace (killed with the test: its cwd is the test dir).
pub fn in_netns(env: &TestEnv, ns: &Path, argv: &[&str]) -> Proc {
    Proc(
        Command::new("nsenter")
            .arg(format!("--net={}", ns.display()))
            .args(argv)
            .current_dir(env.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Runs a command inside a namespace to completion; returns (success, stdout).
pub fn run_in_netns(ns: &Path, argv: &[&str]) -> (bool, String) {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", ns.display()))
        .args(argv)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// Serves `body` over HTTP on `port` inside namespace `ns` (busybox httpd), and waits until it
/// answers at `reach` from the host.
pub fn http_server(env: &TestEnv, ns: &Path, port: u16, body: &str, reach: SocketAddr) -> Proc {
    let www = env.dir().join(format!("www-{port}-{}", body.len()));
    fs::create_dir_all(&www).unwrap();
    fs::write(www.join("index.html"), body).unwrap();
    let child = in_netns(
        env,
        ns,
        &[
            "busybox",
            "httpd",
            "-f",
            "-p",
            &port.to_string(),
            "-h",
            www.to_str().unwrap(),
        ],
    );
    wait_tcp(reach);
    child
}

/// Polls until `addr` accepts a TCP connection (hang protection: 20 s).
pub fn wait_tcp(addr: SocketAddr) {
    crate::until(&format!("{addr} to accept a connection"), || {
        TcpStream::connect_timeout(&addr, Duration::from_millis(200))
            .ok()
            .map(|_| ())
    });
}

/// `GET /` with curl; `None` when unreachable (2 s connect timeout).
pub fn http_get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "5", "--connect-timeout", "2", url])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The links (interfaces) on the host whose name starts with `prefix`.
pub fn host_links(prefix: &str) -> Vec<String> {
    Netlink::open()
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .filter(|n| n.starts_with(prefix))
        .collect()
}

/// Whether the host has a link named exactly `name` (a prefix would match another test's
/// bridge: `btest1` is a prefix of `btest12`).
pub fn host_link_exists(name: &str) -> bool {
    Netlink::open()
        .unwrap()
        .links()
        .unwrap()
        .into_iter()
        .any(|l| l.name == name)
}

/// Every address held in any network of the root: (network, holder id), from the IPAM
/// files (IPv4 and IPv6).
pub fn addresses_held(paths: &berth::Paths) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let nets = paths.networks().join("nets");
    for net in fs::read_dir(&nets).into_iter().flatten().flatten() {
        let name = net.file_name().to_string_lossy().into_owned();
        for sub in ["ipam", "ipam6"] {
            for e in fs::read_dir(net.path().join(sub))
                .into_iter()
                .flatten()
                .flatten()
            {
                if e.file_type().is_ok_and(|t| t.is_file())
                    && e.file_name()
                        .to_string_lossy()
                        .parse::<std::net::IpAddr>()
                        .is_ok()
                {
                    let holder = fs::read_to_string(e.path()).unwrap_or_default();
                    out.push((name.clone(), holder.trim().to_string()));
                }
            }
        }
    }
    out
}

/// Whether the machine-wide port registry holds a host port for container `id`.
pub fn port_reserved_by(id: &str) -> bool {
    fs::read_to_string(host::host_dir().join("ports.json")).is_ok_and(|t| t.contains(id))
}

/// `iptables-save` and `ip6tables-save` lines containing `needle`.
pub fn rules_with(needle: &str) -> Vec<String> {
    let v6 = firewall::save6().unwrap_or_default();
    firewall::save()
        .unwrap()
        .lines()
        .chain(v6.lines())
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// `ip6tables-save` lines containing `needle`.
pub fn rules6_with(needle: &str) -> Vec<String> {
    firewall::save6()
        .unwrap()
        .lines()
        .filter(|l| l.contains(needle))
        .map(String::from)
        .collect()
}

/// A UDP socket bound to `port` inside namespace `ns` (made on a helper thread that joined
/// it; the socket stays in that namespace).
pub fn udp_socket_in(ns: &Path, port: u16) -> std::net::UdpSocket {
    let ns = ns.to_path_buf();
    std::thread::spawn(move || {
        let f = fs::File::open(&ns).unwrap();
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        std::net::UdpSocket::bind(("0.0.0.0", port)).unwrap()
    })
    .join()
    .unwrap()
}

/// Whether a TCP port on 127.0.0.1 accepts connections.
pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        std::time::Duration::from_millis(500),
    )
    .is_ok()
}

/// `berth-netns - ARGS...` with `record` on stdin, as a pipe hands it over.
pub fn attach(env: &TestEnv, record: &str, args: &[&str]) -> crate::Run {
    let mut argv = vec!["berth-netns", "-"];
    argv.extend_from_slice(args);
    env.run_with_stdin(&argv, Some(record.as_bytes()))
}
