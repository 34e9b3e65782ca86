//! The seed's isolation chapter (docker-notes.md, "Isolation in Docker"): memory and CPU
//! allowances, `--cpuset-cpus`, `--device`, IPC namespaces private, joined and the host's,
//! users, capabilities (the notes' `--cap-drope` is `--cap-drop`) and privileged mode.

use std::process::Command;

use berth_e2e::argv;
use berth_e2e::session::Session;
use berth_e2e::until;

const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;

/// The capability set `which` (CapBnd, CapEff...) in a `/proc/PID/status` text.
fn caps(status: &str, which: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{which}:")))
        .unwrap_or_else(|| panic!("no {which} in {status}"));
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

fn has(set: u64, cap: u32) -> bool {
    set & (1 << cap) != 0
}

/// A cgroup file of a running container, found from its init's /proc/PID/cgroup.
fn cgroup_file(s: &Session, name: &str, controller: &str, file: &str) -> String {
    let pid = s.inspect(name, "{{.State.Pid}}");
    let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("{name} (pid {pid:?}): {e}: {}", s.logs(name)));
    let rel = cg
        .lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctrls
                .split(',')
                .any(|c| c == controller)
                .then(|| path.to_string())
        })
        .unwrap_or_else(|| panic!("{name} has no {controller} cgroup: {cg}"));
    let dir = std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.split(',').any(|c| c == controller))
        })
        .unwrap_or_else(|| std::path::PathBuf::from("/sys/fs/cgroup/unified"));
    let p = format!("{}{rel}/{file}", dir.display());
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn memory_cpu_and_cpuset_allowances() {
    let s = Session::seed();
    // docker run -d --name ch6_mariadb --memory 256m --cpu-shares 1024 --user nobody
    //   --cap-drope all dockerfile/mariadb (a typo for --cap-drop)
    s.detach(&argv!(
        "--name ch6_mariadb --memory 256m --cpu-shares 1024 --user nobody --cap-drop all busybox \
         sleep 1000"
    ));
    assert_eq!(
        cgroup_file(&s, "ch6_mariadb", "memory", "memory.limit_in_bytes"),
        "268435456"
    );
    assert_eq!(cgroup_file(&s, "ch6_mariadb", "cpu", "cpu.shares"), "1024");
    let status = s.ok(&["exec", "ch6_mariadb", "cat", "/proc/1/status"]);
    assert_eq!(caps(&status, "CapBnd"), 0, "{status}");
    assert!(
        status.lines().any(|l| l.starts_with("Uid:\t65534")),
        "{status}"
    );
    assert_eq!(
        s.inspect("ch6_mariadb", "{{.HostConfig.Memory}}"),
        "268435456"
    );

    // docker run -d -P --name ch6_wordpress --memory 512m --cpu-shares 512 --user nobody
    //   --cap-drop net_raw --link ch6_mariadb wordpress:4.1; docker port ch6_wordpress
    s.detach(&argv!(
        "-P --name ch6_wordpress --memory 512m --cpu-shares 512 --user nobody --cap-drop net_raw \
         --link ch6_mariadb nginx httpd -f -p 80 -h /www"
    ));
    assert_eq!(cgroup_file(&s, "ch6_wordpress", "cpu", "cpu.shares"), "512");
    let port = s.ok(&["port", "ch6_wordpress", "80"]);
    let url = format!(
        "http://127.0.0.1:{}/",
        port.lines().next().unwrap().rsplit(':').next().unwrap()
    );
    assert!(until(&url, || berth_e2e::net::http_get(&url)).contains("berth web"));
    let hosts = s.ok(&["exec", "ch6_wordpress", "cat", "/etc/hosts"]);
    assert!(
        hosts.contains("ch6_mariadb"),
        "--link NAME aliases the name: {hosts}"
    );

    // The memory limit holds: a process that needs more is killed by the OOM killer.
    let r = s.berth(&argv!(
        "run --name hog --memory 16m --memory-swap 16m busybox sh -c {}",
        "x=$(head -c 64m /dev/zero | tr '\\0' x); echo survived"
    ));
    assert_eq!(r.code(), 137, "{r:?}");
    assert!(!r.stdout.contains("survived"));
    assert_eq!(s.inspect("hog", "{{.State.OOMKilled}}"), "true");

    // docker run -d --cpuset-cpus 0 --name ch6_stresser ...; docker rm -vf ch6_stresser
    s.detach(&argv!(
        "--cpuset-cpus 0 --name ch6_stresser busybox sleep 1000"
    ));
    let status = s.ok(&["exec", "ch6_stresser", "cat", "/proc/1/status"]);
    assert!(status.contains("Cpus_allowed_list:\t0\n"), "{status}");
    assert_eq!(
        cgroup_file(&s, "ch6_stresser", "cpuset", "cpuset.cpus"),
        "0"
    );
    s.ok(&["rm", "-vf", "ch6_stresser"]);
}

#[test]
fn device_access() {
    let s = Session::seed();
    // A webcam stand-in: a device node (the kernel's zero device) under the test's dir.
    let dev = s.w.env.dir().join("video0");
    let st = Command::new("mknod")
        .arg(&dev)
        .args(["c", "1", "5"])
        .status()
        .unwrap();
    assert!(st.success());
    // docker run -it --rm --device /dev/video0:/dev/video0 ubuntu ls -al /dev
    let out = s.ok(&argv!(
        "run -i --rm --device {} busybox sh -c 'ls -al /dev; head -c 3 /dev/video0 | od -An -tx1'",
        &format!("{}:/dev/video0", dev.display())
    ));
    let line = out
        .lines()
        .find(|l| l.ends_with(" video0"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.starts_with("crw"), "{line}");
    assert!(out.trim_end().ends_with("00 00 00"), "readable: {out}");
    // Without --device it is not there.
    let r = s.berth(&["run", "--rm", "busybox", "ls", "/dev/video0"]);
    assert_ne!(r.code(), 0);
}

/// Removes a host message queue made by the test, even when it fails.
struct HostQueue(String);

impl Drop for HostQueue {
    fn drop(&mut self) {
        let _ = Command::new("ipcrm").args(["-Q", &self.0]).status();
    }
}

#[test]
fn ipc_namespaces_private_joined_and_host() {
    let s = Session::seed();
    // docker -d -u nobody --name ch6_ipc_producer dockerinaction/ch6_ipc -producer
    // (the notes drop `run`)
    s.detach(&argv!(
        "-u nobody --name ch6_ipc_producer dockerinaction/ch6_ipc -producer"
    ));
    s.detach(&argv!(
        "-u nobody --name ch6_ipc_consumer dockerinaction/ch6_ipc -consumer"
    ));
    s.wait_logs("ch6_ipc_producer", "producer: sent message 1");
    // Same key, different namespaces: the consumer finds no queue.
    s.wait_logs("ch6_ipc_consumer", "consumer: no queue 0x1234");
    assert!(!s.logs("ch6_ipc_consumer").contains("received"));
    // docker rm -v ch6_ipc_consumer (it runs: -f); a consumer joined to the producer's.
    s.ok(&["rm", "-vf", "ch6_ipc_consumer"]);
    s.detach(&argv!(
        "--name ch6_ipc_consumer --ipc container:ch6_ipc_producer dockerinaction/ch6_ipc -consumer"
    ));
    s.wait_logs("ch6_ipc_consumer", "consumer: received message");
    // docker rm -vf ch6_ipc_producer ch6_ipc_consumer
    s.ok(&["rm", "-vf", "ch6_ipc_producer", "ch6_ipc_consumer"]);

    // --ipc host: the host's namespace (a key of the test's own, removed afterwards).
    let key = format!("0x{:x}", 0x5eed_0000u32 + (std::process::id() & 0xffff));
    let _queue = HostQueue(key.clone());
    let ipc_key = format!("IPC_KEY={key}");
    for role in ["-producer", "-consumer"] {
        let name = format!("ch6_ipc{}", role.replace('-', "_"));
        s.detach(&argv!(
            "--name {} --ipc host -e {} dockerinaction/ch6_ipc {}",
            &name,
            &ipc_key,
            role
        ));
    }
    s.wait_logs("ch6_ipc_consumer", "consumer: received message");
    let ipcs = String::from_utf8(Command::new("ipcs").arg("-q").output().unwrap().stdout).unwrap();
    assert!(ipcs.contains(&key), "the host sees the queue: {ipcs}");
    s.ok(&["rm", "-vf", "ch6_ipc_producer", "ch6_ipc_consumer"]);
}

#[test]
fn users() {
    let s = Session::seed();
    // docker create --name bob busybox:latest ping localhost; docker inspect bob
    s.ok(&argv!("create --name bob busybox:latest ping localhost"));
    let doc: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "bob"])).unwrap();
    assert_eq!(doc[0]["Config"]["User"], "", "{doc:#}");
    assert_eq!(s.inspect("bob", "{{.Config.User}}"), "");
    // docker run --rm --entrypoint "" busybox:latest whoami / id
    assert_eq!(
        s.ok(&argv!("run --rm --entrypoint '' busybox:latest whoami")),
        "root\n"
    );
    let id = s.ok(&["run", "--rm", "--entrypoint", "", "busybox:latest", "id"]);
    assert!(id.starts_with("uid=0(root) gid=0(root)"), "{id}");
    // docker run --rm busybox:latest awk -F: '$0=$1' /etc/passwd
    let users = s.ok(&argv!("run --rm busybox:latest awk -F: $0=$1 /etc/passwd"));
    assert_eq!(users, "root\ndaemon\nnobody\nsomebody\n");
    for (user, want) in [
        ("somebody", "uid=1000(somebody) gid=1000(somebody)"),
        ("nobody:default", "uid=65534(nobody) gid=1001(default)"),
        ("10000:20000", "uid=10000 gid=20000"),
    ] {
        let id = s.ok(&["run", "--rm", "--user", user, "busybox:latest", "id"]);
        assert!(id.starts_with(want), "-u {user}: {id}");
    }
    // A user the image does not know: a clear error, no container left.
    let r = s.berth(&["run", "--rm", "-u", "nosuchuser", "busybox", "id"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr.contains("nosuchuser"), "{}", r.stderr);
    assert_eq!(s.ok(&["ps", "-aq"]).lines().count(), 1, "only bob");
    // A user set at create time is what inspect shows.
    s.ok(&["create", "--name", "alice", "-u", "nobody", "busybox"]);
    assert_eq!(s.inspect("alice", "{{.Config.User}}"), "nobody");
}

#[test]
fn capabilities_and_privileged_mode() {
    let s = Session::seed();
    let status = |flags: &[&str]| {
        let mut argv = vec!["run", "--rm"];
        argv.extend_from_slice(flags);
        argv.extend_from_slice(&["busybox", "cat", "/proc/self/status"]);
        s.ok(&argv)
    };
    // docker run --rm -u nobody ubuntu capsh --print | grep net_raw (and with --cap-drop)
    assert!(has(caps(&status(&["-u", "nobody"]), "CapBnd"), CAP_NET_RAW));
    assert!(!has(
        caps(
            &status(&["-u", "nobody", "--cap-drop", "net_raw"]),
            "CapBnd"
        ),
        CAP_NET_RAW
    ));
    // ... sys_admin, and with --cap-add
    assert!(!has(
        caps(&status(&["-u", "nobody"]), "CapBnd"),
        CAP_SYS_ADMIN
    ));
    assert!(has(
        caps(
            &status(&["-u", "nobody", "--cap-add", "sys_admin"]),
            "CapBnd"
        ),
        CAP_SYS_ADMIN
    ));
    // Root's effective set follows: a mount needs SYS_ADMIN.
    let r = s.berth(&argv!("run --rm busybox mount -t tmpfs t /tmp"));
    assert_ne!(r.code(), 0, "{r:?}");
    s.ok(&argv!(
        "run --rm --cap-add SYS_ADMIN busybox mount -t tmpfs t /tmp"
    ));
    // Dropping NET_RAW from root: raw sockets refused (ping falls back to ICMP sockets).
    let cap_eff = caps(&status(&["--cap-drop", "NET_RAW"]), "CapEff");
    assert!(!has(cap_eff, CAP_NET_RAW));

    // docker run --rm --privileged ubuntu id / capsh --print / ls /dev / ifconfig
    assert!(
        s.ok(&["run", "--rm", "--privileged", "busybox", "id"])
            .starts_with("uid=0(root)")
    );
    // Every capability berth itself holds (this machine's bounding set may lack some).
    let all = caps(
        &std::fs::read_to_string("/proc/self/status").unwrap(),
        "CapBnd",
    );
    assert_eq!(caps(&status(&["--privileged"]), "CapEff"), all);
    let host_disk = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| std::path::Path::new("/dev").join(n).exists())
        .expect("a block device on the host");
    let dev = s.ok(&["run", "--rm", "--privileged", "busybox", "ls", "/dev"]);
    assert!(
        dev.lines().any(|l| l == host_disk),
        "privileged sees /dev/{host_disk}: {dev}"
    );
    let dev = s.ok(&["run", "--rm", "busybox", "ls", "/dev"]);
    assert!(!dev.lines().any(|l| l == host_disk), "{dev}");
    let ifc = s.ok(&["run", "--rm", "--privileged", "busybox", "ifconfig"]);
    assert!(ifc.contains("eth0") && ifc.contains("lo"), "{ifc}");
    s.ok(&argv!(
        "run --rm --privileged busybox mount -t tmpfs t /tmp"
    ));
}
