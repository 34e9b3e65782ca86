//! The seed's inter-container dependencies (docker-notes.md, "Inter-container
//! dependencies" and the bridge's options): an entrypoint that checks for its link alias,
//! the link environment variables, `--icc=false` with links as the exception, and the
//! bridge's `--bip`, `--fixed-cidr` and `--mtu` (daemon options in Docker, the default
//! network's config here).

use berth_e2e::argv;
use berth_e2e::session::Session;
use berth_e2e::until;

#[test]
fn an_entrypoint_checks_its_link_alias() {
    let s = Session::seed();
    // docker run -d --name mydb --expose 3306 alpine:latest nc -l 0.0.0.0:3306
    s.detach(&argv!(
        "--name mydb --expose 3306 busybox:latest nc -l -p 3306"
    ));
    // docker run -it --rm dockerinaction/ch5_ff: refused, on a terminal.
    let mut t = s.pty(&["run", "-it", "--rm", "dockerinaction/ch5_ff"]);
    assert_eq!(t.wait(), 1);
    assert!(
        t.screen().contains("Link alias 'database' was not set!"),
        "{}",
        t.screen()
    );
    // --link mydb:wrongalias: still refused.
    let r = s.berth(&argv!(
        "run -i --rm --link mydb:wrongalias dockerinaction/ch5_ff"
    ));
    assert_eq!(r.code(), 1);
    assert_eq!(r.stdout, "Link alias 'database' was not set!\n");
    // The notes' `link mydb:database` lacks its `--`: with it, it works.
    let out = s.ok(&argv!(
        "run -i --rm --link mydb:database dockerinaction/ch5_ff echo It worked."
    ));
    assert_eq!(out, "It worked.\n");
    // Without the dashes, `link` is the image name: berth says it cannot find it.
    let r = s.berth(&argv!(
        "run -i --rm link mydb:database dockerinaction/ch5_ff"
    ));
    assert_eq!(r.code(), 125, "{r:?}");
    // docker stop mydb && docker rm mydb (nc as PID 1 ignores SIGTERM: -t 1, not 10 s)
    s.sh("berth stop -t 1 mydb && berth rm mydb").success();
    assert!(s.ok(&["ps", "-aq"]).is_empty());

    // A target exposing several ports: the link's environment describes each.
    let id = s.detach(&argv!(
        "--name mydb --expose 2222 --expose 3333 --expose 4444/udp busybox:latest nc -l -p 2222"
    ));
    let ip = s.inspect("mydb", "{{.NetworkSettings.IPAddress}}");
    assert!(ip.starts_with("10.213."), "{ip}");
    let env = s.ok(&argv!(
        "run -i --rm --name ff --link mydb:database dockerinaction/ch5_ff env"
    ));
    for want in [
        format!("DATABASE_PORT=tcp://{ip}:2222"),
        format!("DATABASE_PORT_2222_TCP=tcp://{ip}:2222"),
        format!("DATABASE_PORT_2222_TCP_ADDR={ip}"),
        "DATABASE_PORT_2222_TCP_PORT=2222".to_string(),
        "DATABASE_PORT_2222_TCP_PROTO=tcp".to_string(),
        format!("DATABASE_PORT_3333_TCP=tcp://{ip}:3333"),
        format!("DATABASE_PORT_4444_UDP=udp://{ip}:4444"),
        "DATABASE_NAME=/ff/database".to_string(),
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing:\n{env}");
    }
    s.sh("berth stop -t 1 mydb && berth rm mydb").success();
    assert!(!s.w.paths().container(&id).exists());
}

/// `--icc=false`: containers cannot reach each other, except along a link (to the ports
/// the target exposes); the published port still works from the host. With the bridge's
/// address range narrowed (`--fixed-cidr`) and its MTU set.
#[test]
fn icc_false_links_are_the_exception_fixed_cidr_and_mtu() {
    let s = Session::seed();
    let slot = s.net.default_slot().clone();
    s.net.write_config(&format!(
        r#"{{"bridge":"{}","bip":"{}/24","fixed_cidr":"10.213.{}.192/26","mtu":1200,"icc":false}}"#,
        slot.bridge, slot.gateway, slot.n
    ));
    let port = s.port(4);
    s.detach(&argv!(
        "--name importantData --expose 3306 -p {} nginx httpd -f -p 3306 -h /www",
        &format!("{port}:3306")
    ));
    let ip = s.inspect("importantData", "{{.NetworkSettings.IPAddress}}");
    let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!(
        ip.starts_with(&format!("10.213.{}.", slot.n)) && last >= 192,
        "--fixed-cidr 10.213.{}.192/26 gave {ip}",
        slot.n
    );
    // Not the last command of `sh -c` (which sh would exec as PID 1, where timeout's
    // SIGTERM is ignored).
    let fetch = "timeout 3 wget -q -O - http://db:3306/; exit $?";
    // importantWebapp reaches the database through its link.
    let out = s.ok(&argv!(
        "run --rm --name importantWebapp --link importantData:db busybox sh -c {}",
        fetch
    ));
    assert!(out.contains("berth web"), "{out}");
    // buggyProgram has no route to importantData.
    let r = s.berth(&argv!(
        "run --rm --name buggyProgram --add-host {} busybox sh -c {}",
        &format!("db:{ip}"),
        fetch
    ));
    assert_ne!(r.code(), 0, "icc=false let an unlinked container in: {r:?}");
    // The host still reaches the published port.
    let url = format!("http://127.0.0.1:{port}/");
    assert!(until(&url, || berth_e2e::net::http_get(&url)).contains("berth web"));
    // The bridge's MTU reaches the container's interface.
    let out = s.ok(&["run", "--rm", "busybox", "ip", "link", "show", "eth0"]);
    assert!(out.contains("mtu 1200"), "{out}");
}
