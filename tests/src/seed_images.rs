//! The seed's images (docker-notes.md), rebuilt from Debian's busybox-static with umoci and
//! cached for the whole test run under `target/berth-fixtures/seed-v<N>/`, beside
//! [`crate::fixtures`]' own cache. Every image is the `busybox` base (one layer, shared) plus
//! one layer of its own, so the cache holds one copy of busybox.
//!
//! [`seed`] puts them in a test's store under the names the seed uses, so a test reads like
//! the notes (`berth run -d --name web nginx:latest`):
//!
//! | ref | what it is |
//! | --- | --- |
//! | `busybox:latest` | busybox, `CMD sh`, users root, nobody, somebody (1000) and group default (1001) |
//! | `nginx:latest` | a web server: busybox httpd on port 80 serving `/www` ([`WEB_PAGE`]), logging each request (`-vv`); its start script, like wordpress's, writes a pid file under `/run/apache2` (so it fails on a read-only root) |
//! | `dockerinaction/ch2_mailer:latest` | listens on 33333 and logs each message as `Sending email: MSG` |
//! | `dockerinaction/ch2_agent:latest` | polls `http://insideweb:80/` every second (`System up.`); when it fails, prints `System down.` and sends `web is down` to `insidemailer:33333` |
//! | `dockerinaction/ch5_ff:latest` | entrypoint that refuses to start without the `database` link (`DATABASE_PORT`) |
//! | `dockerinaction/ch4_packed:latest` | data in `/packed/packedData`, `/development/app.conf`, `/production/app.conf` |
//! | `dockerinaction/ch4_polyapp:latest` | prints the configuration it finds in `/config/app.conf` |
//! | `dockerinaction/ch6_ipc:latest` | entrypoint `/usr/local/bin/ipc` (tests/src/seed_ipc.c, `gcc -static`), `CMD -producer` |

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth::store::Lock;

use crate::fixtures::{PATH_ENV, add_layer, build_with_umoci, must, populate_busybox};

/// Bump when an image's content changes, so stale caches are rebuilt.
const SEED_VERSION: u32 = 4;

/// What the web server serves at `/`.
pub const WEB_PAGE: &str = "<h1>berth web</h1>\n";
/// What `/development/app.conf` and `/production/app.conf` of ch4_packed hold.
pub const DEV_CONF: &str = "env=development db=dev-db\n";
pub const PROD_CONF: &str = "env=production db=prod-db\n";
/// `/packed/packedData` of ch4_packed.
pub const PACKED_DATA: &str = "This is packed data\n";

/// (fixture name in the cache, the ref a test's store gets).
pub const IMAGES: &[(&str, &str)] = &[
    ("busybox", "busybox:latest"),
    ("web", "nginx:latest"),
    ("mailer", "dockerinaction/ch2_mailer:latest"),
    ("agent", "dockerinaction/ch2_agent:latest"),
    ("ff", "dockerinaction/ch5_ff:latest"),
    ("packed", "dockerinaction/ch4_packed:latest"),
    ("polyapp", "dockerinaction/ch4_polyapp:latest"),
    ("ipc", "dockerinaction/ch6_ipc:latest"),
];

/// Puts every seed image in `env`'s store under its seed name ([`IMAGES`]).
pub fn seed(env: &crate::TestEnv) {
    let src = layout();
    for (name, as_ref) in IMAGES {
        crate::fixtures::seed_from(env, &src, name, as_ref);
    }
}

/// The cached layout, built on first use (under a lock, into a temporary directory renamed
/// into place, so a killed build is never taken for a cache).
pub fn layout() -> PathBuf {
    let base = crate::target_dir().join("berth-fixtures");
    let dir = base.join(format!("seed-v{SEED_VERSION}"));
    if dir.join("index.json").exists() {
        return dir;
    }
    fs::create_dir_all(&base).unwrap();
    let _l = Lock::exclusive(&base.join("seed.lock")).unwrap();
    if dir.join("index.json").exists() {
        return dir;
    }
    let tmp = base.join(format!("seed-building-{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    build_all(&tmp);
    fs::rename(&tmp, &dir).unwrap();
    dir
}

fn write_exec(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// `busybox` retagged as `name`, plus one layer made by `edit`, with `config` flags.
fn derive(layout: &Path, name: &str, edit: &dyn Fn(&Path), config: &[&str]) {
    let l = layout.display();
    must(Command::new("umoci").args(["tag", "--image", &format!("{l}:busybox"), name]));
    let work = tempfile::tempdir().unwrap();
    let image = format!("{l}:{name}");
    add_layer(&image, &work.path().join("b"), edit);
    if !config.is_empty() {
        must(
            Command::new("umoci")
                .args(["config", "--image", &image])
                .args(config),
        );
    }
}

// The scripts stop on SIGTERM as real servers do (`docker stop` is prompt): a shell that is
// PID 1 ignores signals it has no trap for, and runs a trap only when its foreground child
// ends, so each waits on a background child with `wait`, which a trapped signal interrupts.

const WEB_START: &str = r#"#!/bin/sh
# Like wordpress's apache: a pid file under /run/apache2 first (so a read-only root needs
# volumes there), then the server, logging every request.
mkdir -p /run/apache2 /run/lock/apache2 && echo $$ > /run/apache2/httpd.pid || {
  echo "web: cannot write /run/apache2/httpd.pid" >&2
  exit 1
}
echo "web: serving /www on port 80"
httpd -f -vv -p 80 -h /www &
trap 'kill $!; exit 0' TERM INT
wait $!
"#;

const MAILER: &str = r#"#!/bin/sh
# ch2_mailer: waits for a caller on 33333 and "sends" what it says as an email.
# busybox nc quits as soon as the other side closes, and it closes its own side when its
# stdin ends: with /dev/null as stdin the caller could see that close before it sent a word.
# A fifo held open here is a stdin that never ends (made anew: `restart` keeps /tmp).
trap 'exit 0' TERM INT
rm -f /tmp/hold; mkfifo /tmp/hold && exec 3<>/tmp/hold
echo "Mailer listening on port 33333."
while :; do
  nc -l -p 33333 < /tmp/hold > /tmp/message &
  wait $!
  msg=$(cat /tmp/message)
  [ -n "$msg" ] && echo "Sending email: $msg"
done
"#;

const AGENT: &str = r#"#!/bin/sh
# ch2_agent: tests the web server every second; when it is down, tells the mailer.
# (busybox wget's own -T crashes on a refused connection: timeout(1) bounds it instead.)
trap 'exit 0' TERM INT
while :; do
  if timeout 3 wget -q -O /dev/null http://insideweb:80/ 2>/dev/null; then
    echo "System up."
  else
    echo "System down."
    echo "web is down" | nc insidemailer 33333 && echo "Mailer notified."
  fi
  sleep 1 &
  wait $!
done
"#;

const FF: &str = r#"#!/bin/sh
# ch5_ff: refuses to start without a link aliased "database". (The seed's script ends with
# `exit`, which returns echo's 0; a refusal that exits 1 is what it means.)
if [ -z ${DATABASE_PORT+x} ]
then
    echo "Link alias 'database' was not set!"
    exit 1
else
    exec "$@"
fi
"#;

fn build_all(layout: &Path) {
    // The seed's `--user somebody` and `-u nobody:default` name a user and a group the image
    // has: busybox here knows both.
    let base = |root: &Path| {
        populate_busybox(root);
        let mut passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
        passwd.push_str("somebody:x:1000:1000:somebody:/home/somebody:/bin/sh\n");
        fs::write(root.join("etc/passwd"), passwd).unwrap();
        let mut group = fs::read_to_string(root.join("etc/group")).unwrap();
        group.push_str("somebody:x:1000:\ndefault:x:1001:\n");
        fs::write(root.join("etc/group"), group).unwrap();
    };
    build_with_umoci(
        layout,
        "busybox",
        &[&base],
        &["--config.cmd", "sh", "--config.env", PATH_ENV],
    );
    let web = |root: &Path| {
        fs::create_dir_all(root.join("www")).unwrap();
        fs::write(root.join("www/index.html"), WEB_PAGE).unwrap();
        write_exec(&root.join("usr/local/bin/start-web"), WEB_START);
    };
    derive(
        layout,
        "web",
        &web,
        &[
            "--config.cmd",
            "/usr/local/bin/start-web",
            "--config.exposedports",
            "80/tcp",
            "--config.stopsignal",
            "SIGTERM",
        ],
    );
    let mailer = |root: &Path| write_exec(&root.join("usr/local/bin/mailer"), MAILER);
    derive(
        layout,
        "mailer",
        &mailer,
        &[
            "--config.cmd",
            "/usr/local/bin/mailer",
            "--config.exposedports",
            "33333/tcp",
        ],
    );
    let agent = |root: &Path| write_exec(&root.join("usr/local/bin/agent"), AGENT);
    derive(
        layout,
        "agent",
        &agent,
        &["--config.cmd", "/usr/local/bin/agent"],
    );
    let ff = |root: &Path| write_exec(&root.join("ff.sh"), FF);
    derive(
        layout,
        "ff",
        &ff,
        &[
            "--config.entrypoint",
            "/ff.sh",
            "--config.cmd",
            "echo",
            "--config.cmd",
            "Link alias 'database' found.",
        ],
    );
    let packed = |root: &Path| {
        for (f, text) in [
            ("packed/packedData", PACKED_DATA),
            ("development/app.conf", DEV_CONF),
            ("production/app.conf", PROD_CONF),
        ] {
            fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            fs::write(root.join(f), text).unwrap();
        }
    };
    derive(layout, "packed", &packed, &[]);
    let polyapp = |root: &Path| {
        write_exec(
            &root.join("usr/local/bin/app"),
            "#!/bin/sh\necho \"app configured with: $(cat /config/app.conf)\"\n",
        )
    };
    derive(
        layout,
        "polyapp",
        &polyapp,
        &["--config.cmd", "/usr/local/bin/app"],
    );
    let ipc = |root: &Path| {
        let out = root.join("usr/local/bin/ipc");
        fs::create_dir_all(out.parent().unwrap()).unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/seed_ipc.c");
        must(
            Command::new("gcc")
                .args(["-static", "-O2", "-s", "-o"])
                .arg(&out)
                .arg(&src),
        );
    };
    derive(
        layout,
        "ipc",
        &ipc,
        &[
            "--config.entrypoint",
            "/usr/local/bin/ipc",
            "--config.cmd=-producer",
        ],
    );
    must(Command::new("umoci").args(["gc", "--layout"]).arg(layout));
}
