//! The seed's volumes (docker-notes.md, "Volumes" to "Volume types"), typed as `berth run`:
//! the Cassandra story (a volume container, `--volumes-from`, `rm -vf`), bind mounts served by
//! the web server, `:ro`, missing host directories, single files, managed volumes and where
//! they live, and host-dependent sharing.

use std::fs;
use std::os::unix::fs::MetadataExt;

use berth_e2e::argv;
use berth_e2e::session::Session;
use berth_e2e::until;

const CASS: &str = "/var/lib/cassandra/data";

fn dir(s: &Session, rel: &str) -> String {
    let p = s.w.env.dir().join(rel);
    fs::create_dir_all(&p).unwrap();
    p.to_str().unwrap().to_string()
}

fn volume_names(s: &Session) -> Vec<String> {
    let mut v: Vec<String> = s
        .ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// A volume container, a user of its volume removed with `rm -vf`, and a new user that
/// finds the data; the last `rm -vf` takes the volume with it.
#[test]
fn cassandra_keyspace_survives_its_container() {
    let s = Session::seed();
    // docker run -d --volume /var/lib/cassandra/data --name cass-shared alpine echo Data container
    s.detach(&argv!(
        "--volume {} --name cass-shared busybox echo 'Data container'",
        CASS
    ));
    s.wait_status("cass-shared", "exited");
    assert_eq!(s.logs("cass-shared"), "Data container\n");
    let vols = volume_names(&s);
    assert_eq!(vols.len(), 1, "{vols:?}");
    // docker inspect -f "{{json .Volumes}}" cass-shared: where it lives on the host.
    let legacy: serde_json::Value =
        serde_json::from_str(&s.inspect("cass-shared", "{{json .Volumes}}")).unwrap();
    let host = legacy[CASS].as_str().unwrap().to_string();
    assert!(
        host.contains(&vols[0]) && host.ends_with("_data"),
        "{legacy}"
    );

    // cass1 inherits the volume and writes the keyspace.
    s.detach(&argv!(
        "--volumes-from cass-shared --name cass1 busybox sh -c {}",
        &format!("echo docker_hello_world > {CASS}/keyspaces; exec sleep 1000")
    ));
    until("cass1's write", || {
        fs::read_to_string(format!("{host}/keyspaces")).ok()
    });
    // docker stop cass1; docker rm -vf cass1: the volume stays (cass-shared names it).
    s.ok(&["stop", "-t", "1", "cass1"]);
    s.ok(&["rm", "-vf", "cass1"]);
    assert_eq!(volume_names(&s), vols);
    // cass2 finds the keyspace.
    let out = s.ok(&argv!(
        "run --volumes-from cass-shared --name cass2 busybox cat {}",
        &format!("{CASS}/keyspaces")
    ));
    assert_eq!(out, "docker_hello_world\n");
    // docker rm -vf cass2 cass-shared
    s.ok(&["rm", "-vf", "cass2", "cass-shared"]);
    assert!(volume_names(&s).is_empty());
    assert!(s.ok(&["ps", "-a", "-q"]).is_empty());
}

/// `-v ~/example-docs:/usr/local/apache2/htdocs -p 80:80 httpd`: the web server serves the
/// host's page; `:ro` keeps the container from changing it.
#[test]
fn bind_mounts_serve_host_files_and_ro_blocks_writes() {
    let s = Session::seed();
    let docs = dir(&s, "example-docs");
    fs::write(format!("{docs}/index.html"), "<h1>from the host</h1>\n").unwrap();
    let port = s.port(1);
    let publish = format!("{port}:80");
    let url = format!("http://127.0.0.1:{port}/");
    s.detach(&argv!(
        "--name bmweb -v {} -p {} nginx:latest",
        &format!("{docs}:/www"),
        &publish
    ));
    let page = until("bmweb's page", || berth_e2e::net::http_get(&url));
    assert_eq!(page, "<h1>from the host</h1>\n");
    // Edits on the host show at once.
    fs::write(format!("{docs}/index.html"), "<h1>edited</h1>\n").unwrap();
    assert_eq!(berth_e2e::net::http_get(&url).unwrap(), "<h1>edited</h1>\n");
    // docker rm -vf bmweb: the host's files stay.
    s.ok(&["rm", "-vf", "bmweb"]);
    assert!(fs::metadata(format!("{docs}/index.html")).is_ok());

    // docker run --name bmweb_ro --volume ~/example-docs:/usr/local/apache2/htdocs/:ro
    s.detach(&argv!(
        "--name bmweb_ro --volume {} -p {} nginx:latest",
        &format!("{docs}:/www/:ro"),
        &publish
    ));
    assert_eq!(
        until("bmweb_ro's page", || berth_e2e::net::http_get(&url)),
        "<h1>edited</h1>\n"
    );
    // docker run --rm -v ~/example-docs:/testspace:ro alpine /bin/sh -c 'echo test > /testspace/test'
    let r = s.berth(&argv!(
        "run --rm -v {} busybox /bin/sh -c 'echo test > /testspace/test'",
        &format!("{docs}:/testspace:ro")
    ));
    assert_ne!(r.code(), 0);
    assert!(r.stderr.contains("Read-only file system"), "{r:?}");
    assert!(fs::metadata(format!("{docs}/test")).is_err());
}

#[test]
fn missing_host_directories_are_made_and_single_files_mount() {
    let s = Session::seed();
    let docs = dir(&s, "example-docs");
    let absent = format!("{docs}/absent");
    // docker run --rm -v ~/example-docs/absent:/absent alpine sh -c 'mount | grep absent'
    let out = s.ok(&argv!(
        "run --rm -v {} busybox:latest /bin/sh -c 'mount | grep absent'",
        &format!("{absent}:/absent")
    ));
    assert!(out.contains(" /absent "), "{out}");
    assert!(
        fs::metadata(&absent).unwrap().is_dir(),
        "ls ~/example-docs/absent/"
    );
    // A single file, mounted over a file of the image.
    let conf = format!("{docs}/httpd.conf");
    fs::write(&conf, "H:/www\n").unwrap();
    let out = s.ok(&argv!(
        "run --rm -v {} busybox sh -c 'cat /etc/httpd.conf; ls /etc | grep -c passwd'",
        &format!("{conf}:/etc/httpd.conf:ro")
    ));
    assert_eq!(out, "H:/www\n1\n", "only the file is replaced, not /etc");
}

/// Host-dependent sharing: a writer and a reader on the same host directory, and `-u`
/// with a host directory chowned for it (the logFiles story of "Users").
#[test]
fn host_dependent_sharing_and_a_user_owned_log_dir() {
    let s = Session::seed();
    let logs = dir(&s, "web-logs-example");
    // The writer (ch4_writer_a): appends to /data/logA.
    s.detach(&argv!(
        "--name plath -v {} busybox sh -c {}",
        &format!("{logs}:/data"),
        "trap 'exit 0' TERM; while :; do date >> /data/logA; sleep 0.2 & wait $!; done"
    ));
    until("logA", || {
        fs::read_to_string(format!("{logs}/logA"))
            .ok()
            .filter(|t| t.lines().count() >= 2)
    });
    // docker run --rm -v ~/web-logs-example:/reader-data alpine head /reader-data/logA
    let head = s.ok(&argv!(
        "run --rm -v {} busybox:latest head /reader-data/logA",
        &format!("{logs}:/reader-data")
    ));
    assert!(head.contains(" UTC "), "{head}");
    let host = fs::read_to_string(format!("{logs}/logA")).unwrap();
    assert!(
        host.starts_with(head.lines().next().unwrap()),
        "{host}\n{head}"
    );
    // docker stop plath
    s.ok(&["stop", "plath"]);
    let n = fs::read_to_string(format!("{logs}/logA")).unwrap().len();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(fs::read_to_string(format!("{logs}/logA")).unwrap().len(), n);

    // mkdir logFiles; chown 2000:2000 logFiles; two runs as 2000:2000 write and append.
    let lf = dir(&s, "logFiles");
    std::os::unix::fs::chown(&lf, Some(2000), Some(2000)).unwrap();
    let v = format!("{lf}:/logFiles");
    for (cmd, _) in [
        ("echo This is important info > /logFiles/important.log", 0),
        ("echo More info >> /logFiles/important.log", 1),
    ] {
        s.ok(&argv!(
            "run --rm -v {} -u 2000:2000 busybox:latest /bin/sh -c {}",
            &v,
            cmd
        ));
    }
    let file = format!("{lf}/important.log");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "This is important info\nMore info\n"
    );
    let m = fs::metadata(&file).unwrap();
    assert_eq!((m.uid(), m.gid()), (2000, 2000));
    // Another user cannot write there.
    let r = s.berth(&argv!(
        "run --rm -v {} -u 3000 busybox touch /logFiles/x",
        &v
    ));
    assert_ne!(r.code(), 0, "{r:?}");
}
