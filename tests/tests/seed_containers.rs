//! The seed's container chapter (docker-notes.md, "Every running program on Linux..." to
//! "Durable containers"): PID namespaces seen by `exec ps`, port conflicts inside one
//! container, names, renames and name conflicts, ids and prefixes, `create` with `--cidfile`,
//! `ps` and its flags, read-only roots with volume exceptions, and env injection.

use berth_e2e::argv;
use berth_e2e::seed_images::WEB_PAGE;
use berth_e2e::session::Session;
use berth_e2e::until;

/// PIDs of `ps` output lines whose command contains `needle`.
fn pids_of(ps: &str, needle: &str) -> Vec<u32> {
    ps.lines()
        .filter(|l| l.contains(needle))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn each_container_has_its_own_pid_namespace() {
    let s = Session::seed();
    s.detach(&argv!(
        "--name namespaceA busybox:latest /bin/sh -c 'sleep 30000'"
    ));
    // The notes' `nc -l -p 0.0.0.0:80` is alpine's form; busybox's nc takes the port alone.
    s.detach(&argv!(
        "--name namespaceB busybox:latest /bin/sh -c 'nc -l -p 80'"
    ));
    let a = s.ok(&["exec", "namespaceA", "ps"]);
    let b = s.ok(&["exec", "namespaceB", "ps"]);
    // Each is PID 1 in its own namespace, and neither sees the other.
    assert_eq!(pids_of(&a, "sleep 30000"), [1], "{a}");
    assert_eq!(pids_of(&b, "nc -l -p 80"), [1], "{b}");
    assert!(
        !a.contains("nc -l") && !b.contains("sleep 30000"),
        "{a}\n{b}"
    );
    // `exec` by id prefix (docker exec 734f934b23 ps) sees the same namespace.
    let id = s.id("namespaceA");
    assert_eq!(
        pids_of(&s.ok(&["exec", &id[..10], "ps"]), "sleep 30000"),
        [1]
    );
    // From the host, `top` shows host pids, not 1.
    let top = s.ok(&["top", "namespaceA"]);
    assert!(top.contains("sleep 30000"), "{top}");
    // docker stop 734f934b23 (sh as PID 1 ignores SIGTERM: -t 1 spares the 10 s wait)
    assert_eq!(s.ok(&["stop", "-t", "1", &id[..10]]).trim(), &id[..10]);
    assert_eq!(s.inspect("namespaceA", "{{.State.Running}}"), "false");
}

#[test]
fn two_web_servers_conflict_in_one_container_not_in_two() {
    let s = Session::seed();
    s.detach(&["--name", "webConflict", "nginx:latest"]);
    s.wait_logs("webConflict", "web: serving /www on port 80");
    // A second server in the same container: port 80 is taken there.
    let r = s.berth(&argv!("exec webConflict httpd -f -p 80 -h /www"));
    assert_eq!(r.code(), 1, "{r:?}");
    assert!(r.stderr.contains("Address already in use"), "{}", r.stderr);
    // Two containers each have their own port 80.
    s.detach(&["--name", "webA", "nginx:latest"]);
    s.detach(&["--name", "webB", "nginx:latest"]);
    for n in ["webA", "webB"] {
        s.wait_logs(n, "serving /www");
        assert!(!s.logs(n).contains("Address already in use"));
    }
    let ps = s.ok(&["ps", "--format", "{{.Names}} {{.Image}}"]);
    for n in ["webConflict", "webA", "webB"] {
        assert!(ps.contains(&format!("{n} nginx:latest")), "{ps}");
    }
}

#[test]
fn names_rename_and_name_conflicts() {
    let s = Session::seed();
    let first = s.detach(&["--name", "webid", "nginx"]);
    // The name is taken: a clear one-line error, Docker's 125, nothing made.
    let r = s
        .berth(&["run", "-d", "--name", "webid", "nginx"])
        .fails_with(125);
    let line = r.error_line();
    assert!(
        line.contains("webid") && line.contains("already in use"),
        "{line}"
    );
    assert_eq!(s.ok(&["ps", "-a", "-q"]).lines().count(), 1);
    let r = s
        .berth(&["create", "--name", "webid", "nginx"])
        .fails_with(125);
    assert!(r.error_line().contains("webid"));

    // docker rename webid webid-old; docker run -d --name webid nginx
    s.ok(&["rename", "webid", "webid-old"]);
    assert_eq!(s.id("webid-old"), first);
    let second = s.detach(&["--name", "webid", "nginx"]);
    assert_ne!(first, second);
    let mut names: Vec<String> = s
        .ok(&["ps", "--format", "{{.Names}}"])
        .lines()
        .map(String::from)
        .collect();
    names.sort();
    assert_eq!(names, ["webid", "webid-old"]);
    // Renaming onto a taken name fails and changes nothing.
    let r = s.berth(&["rename", "webid-old", "webid"]);
    assert_ne!(r.code(), 0, "{r:?}");
    assert_eq!(s.id("webid-old"), first);
    assert_eq!(s.id("webid"), second);
    // Names and unique id prefixes work wherever a container is named.
    assert_eq!(s.inspect(&first[..6], "{{.Name}}"), "/webid-old");
}

#[test]
fn create_with_cidfile_then_start_and_ps_flags() {
    let s = Session::seed();
    // CID=$(docker create nginx:latest)
    let cid = s.ok(&["create", "nginx:latest"]).trim().to_string();
    assert_eq!(cid.len(), 64, "{cid}");
    assert_eq!(s.inspect(&cid, "{{.State.Status}}"), "created");
    // docker ps shows running containers only; -a shows the created one.
    assert_eq!(s.ok(&["ps", "-q"]), "");
    assert_eq!(s.ok(&["ps", "-a", "-q"]).trim(), &cid[..12]);

    // docker create --cidfile /tmp/web.cid nginx
    let cidfile = s.w.env.dir().join("web.cid");
    let cf = cidfile.to_str().unwrap();
    let out = s.ok(&["create", "--cidfile", cf, "nginx"]);
    let written = std::fs::read_to_string(&cidfile).unwrap();
    assert_eq!(out.trim(), written.trim(), "the cidfile holds the new id");
    // A second create with the same cidfile is refused, and makes nothing.
    let r = s
        .berth(&["create", "--cidfile", cf, "nginx"])
        .fails_with(125);
    assert!(r.error_line().contains("web.cid"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&cidfile).unwrap(), written);
    assert_eq!(s.ok(&["ps", "-a", "-q"]).lines().count(), 2);

    // CID=$(docker ps --latest --quiet); docker ps -l -q --no-trunc
    assert_eq!(s.ok(&["ps", "--latest", "--quiet"]).trim(), &written[..12]);
    assert_eq!(
        s.ok(&["ps", "-l", "-q", "--no-trunc"]).trim(),
        written.trim()
    );
    assert_eq!(s.ok(&["ps", "-n", "2", "-q"]).lines().count(), 2);

    // docker start $CID: it serves.
    s.ok(&["start", written.trim()]);
    s.wait_status(written.trim(), "running");
    assert_eq!(s.ok(&["ps", "-q"]).trim(), &written[..12]);
    // Filters and formats.
    let ps = s.ok(&argv!("ps -a --filter status=created --format {{.ID}}"));
    assert_eq!(ps.trim(), &cid[..12]);
    let ps = s.ok(&argv!("ps --filter ancestor=nginx --format {{.Status}}"));
    assert!(ps.starts_with("Up "), "{ps}");
}

/// wordpress on a read-only root fails to start until its two run directories are volumes
/// (`--read-only -v /run/lock/apache2/ -v /run/apache2/`), then serves on its `-p 80` port.
#[test]
fn read_only_root_with_volume_exceptions() {
    let s = Session::seed();
    s.ok(&["tag", "nginx:latest", "wordpress:4"]);
    s.ok(&["tag", "dockerinaction/ch2_mailer:latest", "mysql:5"]);
    s.detach(&["--name", "wp", "--read-only", "wordpress:4"]);
    s.wait_status("wp", "exited");
    // docker inspect --format "{{.State.Running}}" wp
    assert_eq!(s.inspect("wp", "{{.State.Running}}"), "false");
    assert_eq!(s.inspect("wp", "{{.State.ExitCode}}"), "1");
    let logs = s.logs("wp");
    assert!(logs.contains("Read-only file system"), "{logs}");

    s.detach(&argv!("--name wpdb -e MYSQL_ROOT_PASSWORD=ch2demo mysql:5"));
    s.detach(&argv!(
        "--name wp3 --link wpdb:mysql -p 80 -v /run/lock/apache2/ -v /run/apache2/ --read-only \
         wordpress:4"
    ));
    s.wait_logs("wp3", "serving /www");
    assert_eq!(s.inspect("wp3", "{{.State.Running}}"), "true");
    // -p 80: a host port chosen for it, serving the page on the host.
    let port = s.ok(&["port", "wp3", "80"]);
    let hostport = port.lines().next().unwrap().rsplit(':').next().unwrap();
    let url = format!("http://127.0.0.1:{hostport}/");
    let page = until("wp3's published port", || berth_e2e::net::http_get(&url));
    assert_eq!(page, WEB_PAGE);
    // The exceptions are writable, the rest is not.
    let r = s.berth(&argv!(
        "exec wp3 sh -c 'touch /run/apache2/x && touch /www/x'"
    ));
    assert_ne!(r.code(), 0);
    assert!(r.stderr.contains("Read-only file system"), "{r:?}");
    assert_eq!(
        s.ok(&["exec", "wp3", "cat", "/run/apache2/httpd.pid"])
            .trim(),
        "1"
    );
    // The link gave wp3 the database's address and environment.
    let env = s.ok(&["exec", "wp3", "env"]);
    assert!(
        env.contains("MYSQL_ENV_MYSQL_ROOT_PASSWORD=ch2demo"),
        "{env}"
    );
    assert!(env.contains("MYSQL_PORT_33333_TCP="), "{env}");
}

#[test]
fn environment_injection_and_the_client_script() {
    let s = Session::seed();
    // docker run --env MY_ENVIRONMENT="test env" busybox:latest env
    let out = s.ok(&argv!(
        "run --env 'MY_ENVIRONMENT=test env' busybox:latest env"
    ));
    assert!(out.lines().any(|l| l == "MY_ENVIRONMENT=test env"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("PATH=")),
        "the image's env stays: {out}"
    );

    // The per-client script of the notes, verbatim but for `docker` -> `berth`.
    s.ok(&["tag", "nginx:latest", "wordpress:4"]);
    s.ok(&["tag", "dockerinaction/ch2_mailer:latest", "mysql:5"]);
    let script = r#"
DB_CID=$(berth run -d -e MYSQL_ROOT_PASSWORD=ch2demo mysql:5)
MAILER_CID=$(berth run -d dockerinaction/ch2_mailer)

if [ ! -n "$CLIENT_ID" ]; then
    echo "Client ID is not set."
    exit 1
fi

WP_CID=$(berth create \
    --link $DB_CID:mysql \
    --name wp_$CLIENT_ID \
    -p 80 \
    -v /run/lock/apache2/ -v /run/apache2/ \
    -e WORDPRESS_DB_NAME=$CLIENT_ID \
    --read-only wordpress:4)

berth start $WP_CID

AGENT_CID=$(berth create \
    --name agent_$CLIENT_ID \
    --link $WP_CID:insideweb \
    --link $MAILER_CID:insidemailer \
    dockerinaction/ch2_agent)
berth start $AGENT_CID
"#;
    let r = s.sh(&format!("unset CLIENT_ID; {script}"));
    assert_eq!(r.code(), 1);
    assert!(r.stdout.contains("Client ID is not set."));
    s.sh(&format!("CLIENT_ID=acme; {script}")).success();
    s.wait_logs("agent_acme", "System up.");
    let env = s.inspect("wp_acme", "{{json .Config.Env}}");
    assert!(env.contains("WORDPRESS_DB_NAME=acme"), "{env}");
    // docker create --env ... (several): all in the container's config.
    let id = s
        .ok(&argv!(
            "create --env WORDPRESS_DB_HOST=db.example --env WORDPRESS_DB_USER=site_admin --env \
             WORDPRESS_DB_PASSWORD=password wordpress:4"
        ))
        .trim()
        .to_string();
    let env = s.inspect(&id, "{{range .Config.Env}}{{println .}}{{end}}");
    for v in [
        "WORDPRESS_DB_HOST=db.example",
        "WORDPRESS_DB_USER=site_admin",
        "WORDPRESS_DB_PASSWORD=password",
    ] {
        assert!(env.lines().any(|l| l == v), "{v} missing: {env}");
    }
}
