//! The seed's first system (docker-notes.md, "Let's say we want to run nginx..."): a web
//! server and a mailer detached, an interactive shell on a terminal linked to the web server,
//! and an agent that polls the web server through a link and tells the mailer when it is
//! down; then `ps`, `restart`, `logs`, `logs -f` and `stop` as the notes use them. And the same
//! system built from ids with `create` and `start`.

use berth_e2e::argv;
use berth_e2e::seed_images::WEB_PAGE;
use berth_e2e::session::Session;
use berth_e2e::until;

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn web_mailer_and_agent_the_agent_notices_the_web_server_stopped() {
    let s = Session::seed();
    // docker run --detach --name web nginx:latest
    let web = s.ok(&["run", "--detach", "--name", "web", "nginx:latest"]);
    let web = web.trim();
    assert_eq!(web.len(), 64, "run --detach prints the id: {web}");
    // docker run -d --name mailer dockerinaction/ch2_mailer
    s.detach(&["--name", "mailer", "dockerinaction/ch2_mailer"]);
    s.wait_logs("mailer", "Mailer listening on port 33333.");

    // An interactive shell on a terminal, linked to web; `wget -O http://web:80/` in the
    // notes lacks the `-` that prints the page.
    let mut t = s.pty(&argv!(
        "run --interactive --tty --link web:web --name web_test busybox:latest /bin/sh"
    ));
    t.type_in("tty; wget -q -O - http://web:80/\n");
    let screen = t.wait_for(WEB_PAGE.trim());
    assert!(screen.contains("/dev/pts/"), "a terminal inside: {screen}");
    t.type_in("exit 3\n");
    assert_eq!(t.wait(), 3, "run -it exits with the shell's code");

    // The agent, interactive, left running with Ctrl-P Ctrl-Q.
    let mut a = s.pty(&argv!(
        "run -it --name agent --link web:insideweb --link mailer:insidemailer \
         dockerinaction/ch2_agent"
    ));
    a.wait_for("System up.");
    a.type_in("\x10\x11");
    assert_eq!(a.wait(), 0, "Ctrl-P Ctrl-Q detaches: {}", a.screen());
    assert_eq!(s.inspect("agent", "{{.State.Running}}"), "true");

    // docker ps: the three running containers, not the exited shell.
    assert_eq!(
        sorted_lines(&s.ok(&["ps", "--format", "{{.Names}}"])),
        ["agent", "mailer", "web"]
    );
    // ... and on a terminal, Docker's table.
    let mut p = s.pty(&["ps"]);
    assert_eq!(p.wait(), 0);
    let table = p.screen();
    for h in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(table.contains(h), "ps table lacks {h}: {table}");
    }
    assert!(
        table.contains(&web[..12]) && table.contains("nginx:latest"),
        "{table}"
    );
    assert!(table.contains("Up "), "{table}");

    // docker restart web / mailer / agent: each prints its name, and each is running again.
    for n in ["web", "mailer", "agent"] {
        let before = s.inspect(n, "{{.State.StartedAt}}");
        assert_eq!(s.ok(&["restart", n]).trim(), n);
        assert_eq!(s.inspect(n, "{{.State.Running}}"), "true");
        assert_ne!(
            s.inspect(n, "{{.State.StartedAt}}"),
            before,
            "{n} restarted"
        );
    }

    // docker logs web: the agent's requests, every second.
    s.wait_logs("web", "response:200");
    // docker logs -f agent: follows as the agent writes, still reaching web after restarts.
    let mut follow = s.spawn(&["logs", "--follow", "agent"]);
    let seen = follow.output().matches("System up.").count();
    until("logs -f to show new lines", || {
        (follow.output().matches("System up.").count() > seen + 1).then_some(())
    });

    // docker stop web; docker logs mailer: the agent noticed, and the mailer sent an email.
    s.ok(&["stop", "web"]);
    assert_eq!(s.inspect("web", "{{.State.Running}}"), "false");
    follow.wait_for("System down.");
    let mail = s.wait_logs("mailer", "Sending email: web is down");
    assert!(
        mail.starts_with("Mailer listening on port 33333."),
        "{mail}"
    );
    assert!(s.logs("agent").contains("Mailer notified."));
    // Ctrl-C ends logs -f; the agent keeps running.
    follow.interrupt();
    follow.wait();
    assert_eq!(s.inspect("agent", "{{.State.Running}}"), "true");
}

/// The same system from ids: `MAILER_CID=$(docker run -d ...)`, `WEB_CID=$(docker create
/// nginx)`, an agent created with links to both ids, `ps` and `ps -a`, then `start`.
#[test]
fn the_system_from_ids_create_then_start() {
    let s = Session::seed();
    let script = r#"
set -e
MAILER_CID=$(berth run -d dockerinaction/ch2_mailer)
WEB_CID=$(berth create nginx)
AGENT_CID=$(berth create --link $WEB_CID:insideweb --link $MAILER_CID:insidemailer dockerinaction/ch2_agent)
echo "running: $(berth ps -q | wc -l)"
echo "all: $(berth ps -a -q | wc -l)"
echo "states: $(berth ps -a --format '{{.State}}' | sort | tr '\n' ' ')"
berth start $WEB_CID
berth start $AGENT_CID
echo "$MAILER_CID $WEB_CID $AGENT_CID"
"#;
    let out = s.sh(script).success().stdout;
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("running: 1"), "{out}");
    assert_eq!(lines.next(), Some("all: 3"), "{out}");
    assert_eq!(
        lines.next(),
        Some("states: created created running "),
        "{out}"
    );
    // `start` prints what it was given.
    let (web, agent) = (lines.next().unwrap(), lines.next().unwrap());
    let ids: Vec<&str> = lines.next().unwrap().split(' ').collect();
    assert_eq!((web, agent), (ids[1], ids[2]), "{out}");
    let agent_logs = s.wait_logs(ids[2], "System up.");
    assert!(!agent_logs.contains("System down."), "{agent_logs}");
    // Names were generated, Docker-style (adjective_surname), and work like ids.
    let name = s.inspect(ids[2], "{{.Name}}");
    let name = name.trim_start_matches('/');
    assert!(name.contains('_'), "generated name {name:?}");
    assert_eq!(s.id(name), ids[2]);
}

/// `docker run -it ...` then Ctrl-P Ctrl-Q: the terminal is given back, the container keeps
/// running, and `attach` takes the terminal again.
#[test]
fn detach_keys_leave_an_interactive_container_running() {
    let s = Session::seed();
    let mut a = s.pty(&["run", "-it", "--name", "agent", "busybox", "sh"]);
    a.type_in("echo ready-$((6*7))\n");
    a.wait_for("ready-42");
    a.type_in("\x10\x11");
    assert_eq!(a.wait(), 0, "Ctrl-P Ctrl-Q detaches: {}", a.screen());
    assert_eq!(s.inspect("agent", "{{.State.Running}}"), "true");
    let mut t = s.pty(&["attach", "agent"]);
    t.type_in("echo again-$((6*7))\n");
    t.wait_for("again-42");
    t.type_in("exit 5\n");
    assert_eq!(t.wait(), 5);
    s.wait_status("agent", "exited");
}
