//! The seed's volume stories (docker-notes.md, "Volumes"), with real containers through the
//! real pipeline: `berth-unpack IMAGE CMD | berth-vol - FLAGS | berth-spawn start -`.

mod vol_support;

use std::fs;
use std::os::unix::fs::MetadataExt;

use berth_e2e::argv;
use vol_support::*;

const CASS: &str = "/var/lib/cassandra/data";

/// The Cassandra story: a volume container, a user of its volumes that is removed with -v,
/// and a new user that finds the data.
#[test]
fn data_survives_removal_and_is_shared_through_volumes_from() {
    let w = world();
    run_ok(
        &w,
        "cass-shared",
        "busybox",
        &["--volume", CASS],
        &["sh", "-c", &format!("echo keyspace > {CASS}/ks")],
    );
    let anon = mount_at(&w, "cass-shared", CASS);
    let vol = anon["name"].as_str().unwrap().to_string();
    assert_eq!(vol.len(), 64, "anonymous volumes get 64-hex names: {anon}");
    assert!(vol.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(anon["anonymous"], true);

    // {{json .Volumes}} shows where the data lives on the host.
    let legacy = inspect_json(&w, "cass-shared", "{{json .Volumes}}");
    assert_eq!(legacy[CASS], s(&data(&w, &vol)), "{legacy}");

    let out = run_ok(
        &w,
        "cass1",
        "busybox",
        &["--volumes-from", "cass-shared"],
        &argv!(
            "sh -c {}",
            &format!("cat {CASS}/ks; echo more >> {CASS}/ks")
        ),
    );
    assert_eq!(out, "keyspace\n");
    rm(&w, "cass1", true);
    // cass-shared still uses it: rm -v kept it.
    assert!(data(&w, &vol).join("ks").exists());

    let out = run_ok(
        &w,
        "cass2",
        "busybox",
        &["--volumes-from", "cass-shared"],
        &["cat", &format!("{CASS}/ks")],
    );
    assert_eq!(out, "keyspace\nmore\n");
    assert_eq!(mount_at(&w, "cass2", CASS)["name"], vol.as_str());

    // docker rm -vf cass2 cass-shared: the last user takes the volume with it.
    rm(&w, "cass2", true);
    assert_eq!(volume_names(&w), vec![vol.clone()]);
    rm(&w, "cass-shared", true);
    assert!(volume_names(&w).is_empty(), "{:?}", volume_names(&w));
}

/// Bind mounts: `:ro` blocks writes, a missing host directory is created, a single file can
/// be mounted, and `--mount` binds read-only.
#[test]
fn binds_read_only_missing_directories_and_single_files() {
    let w = world();
    let docs = host_dir(&w, "example-docs");
    fs::write(docs.join("index.html"), "<h1>hello</h1>\n").unwrap();

    let r = run(
        &w,
        "bmweb_ro",
        "busybox",
        &[
            "--volume",
            &format!("{}:/usr/local/apache2/htdocs/:ro", s(&docs)),
        ],
        &argv!(
            "sh -c 'cat /usr/local/apache2/htdocs/index.html; echo test > \
             /usr/local/apache2/htdocs/test'"
        ),
    );
    assert_ne!(r.code(), 0, "a write through :ro succeeded: {}", r.stdout);
    assert_eq!(r.stdout, "<h1>hello</h1>\n");
    assert!(r.stderr.contains("Read-only file system"), "{}", r.stderr);
    assert!(!docs.join("test").exists());
    let m = mount_at(&w, "bmweb_ro", "/usr/local/apache2/htdocs");
    assert_eq!(
        (m["kind"].as_str(), m["rw"].as_bool()),
        (Some("bind"), Some(false))
    );

    // The same directory read-write: the container's write lands on the host.
    run_ok(
        &w,
        "bmweb",
        "busybox",
        &["-v", &format!("{}:/htdocs", s(&docs))],
        &["sh", "-c", "echo written > /htdocs/new"],
    );
    assert_eq!(fs::read_to_string(docs.join("new")).unwrap(), "written\n");

    let absent = docs.join("absent/deeper");
    assert!(!absent.exists());
    let out = run_ok(
        &w,
        "absent",
        "busybox",
        &["-v", &format!("{}:/absent", s(&absent))],
        &["sh", "-c", "mount | grep -c ' /absent '"],
    );
    assert_eq!(out, "1\n");
    assert!(
        absent.is_dir(),
        "the missing host directory was not created"
    );

    let conf = docs.join("app.conf");
    fs::write(&conf, "port=80\n").unwrap();
    let out = run_ok(
        &w,
        "onefile",
        "busybox",
        &argv!(
            "-v {} --mount {}",
            &format!("{}:/etc/app.conf", s(&conf)),
            &format!("type=bind,src={},dst=/srv/docs,readonly", s(&docs))
        ),
        &argv!(
            "sh -c {}",
            "cat /etc/app.conf; test -f /etc/app.conf && echo FILE; echo port=81 > /etc/app.conf; \
             touch /srv/docs/x 2>/dev/null || echo RO; ls /srv/docs/index.html"
        ),
    );
    assert_eq!(out, "port=80\nFILE\nRO\n/srv/docs/index.html\n");
    assert_eq!(fs::read_to_string(&conf).unwrap(), "port=81\n");
}

/// Generalized sharing: --volumes-from gathers the volumes of several containers, copies
/// transitively, the last source wins a mount point, and :ro makes every copy read-only.
#[test]
fn volumes_from_gathers_transitively_and_the_last_source_wins() {
    let w = world();
    let books = host_dir(&w, "example-books");
    fs::write(books.join("poeaa.txt"), "Patterns\n").unwrap();
    run_ok(
        &w,
        "fowler",
        "busybox",
        &argv!(
            "-v {} -v /library/DSL",
            &format!("{}:/library/PoEAA", s(&books))
        ),
        &["echo", "Fowler collection created."],
    );
    run_ok(
        &w,
        "knuth",
        "busybox",
        &["-v", "/library/TAoCP.vol1", "-v", "/library/TAoCP.vol2"],
        &["echo", "Knuth collection created."],
    );
    let out = run_ok(
        &w,
        "reader",
        "busybox",
        &["--volumes-from", "fowler", "--volumes-from", "knuth"],
        &argv!("sh -c 'ls /library; cat /library/PoEAA/poeaa.txt; touch /library/DSL/ok'"),
    );
    assert_eq!(out, "DSL\nPoEAA\nTAoCP.vol1\nTAoCP.vol2\nPatterns\n");
    // Transitive: reader2 copies what reader copied.
    let out = run_ok(
        &w,
        "reader2",
        "busybox",
        &["--volumes-from", "reader"],
        &["sh", "-c", "ls /library; ls /library/DSL"],
    );
    assert_eq!(out, "DSL\nPoEAA\nTAoCP.vol1\nTAoCP.vol2\nok\n");
    assert_eq!(
        mount_at(&w, "reader2", "/library/DSL")["name"],
        mount_at(&w, "fowler", "/library/DSL")["name"]
    );
    let mounts = inspect_json(&w, "reader", "{{json .Mounts}}");
    assert_eq!(mounts.as_array().unwrap().len(), 4, "{mounts:#}");

    // :ro makes all copied volumes read-only.
    let r = run(
        &w,
        "ro-reader",
        "busybox",
        &["--volumes-from", "fowler:ro"],
        &argv!("sh -c 'touch /library/DSL/x || touch /library/PoEAA/x || echo BOTH-RO'"),
    );
    assert_eq!(r.success().stdout, "BOTH-RO\n");
    assert_eq!(mount_at(&w, "ro-reader", "/library/DSL")["rw"], false);
    assert!(!books.join("x").exists());

    // Conflicting sources: the consumer of both gets the last one's volume.
    for who in ["chomsky", "lamport"] {
        run_ok(
            &w,
            who,
            "busybox",
            &["--volume", "/library/ss"],
            &["sh", "-c", &format!("echo {who} > /library/ss/who")],
        );
    }
    let out = run_ok(
        &w,
        "student",
        "busybox",
        &["--volumes-from", "chomsky", "--volumes-from", "lamport"],
        &["sh", "-c", "ls /library; cat /library/ss/who"],
    );
    assert_eq!(out, "ss\nlamport\n");
    let mounts = inspect_json(&w, "student", "{{json .Mounts}}");
    let mounts = mounts.as_array().unwrap();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    assert_eq!(
        mounts[0]["Name"],
        mount_at(&w, "lamport", "/library/ss")["name"]
    );
    // A flag of one's own overrides a copied mount point.
    let out = run_ok(
        &w,
        "own",
        "busybox",
        &["--volumes-from", "lamport", "-v", "mine:/library/ss"],
        &["sh", "-c", "ls /library/ss | wc -l"],
    );
    assert_eq!(out.trim(), "0");
}

/// Data-packed volumes: a new volume over a directory that holds files in the image starts
/// with those files, owners and modes; a volume that has content is left alone.
#[test]
fn data_packed_volumes_are_seeded_from_the_image() {
    let w = world();
    let stat = "stat -c '%n %u:%g %a' /config /config/packedData /config/sub/owned; \
                readlink /config/link; cat /config/packedData";
    let want = "/config 1000:1000 750\n/config/packedData 0:0 644\n\
                /config/sub/owned 1000:1001 640\npackedData\npacked data\n";
    // The image's VOLUME /config gets an anonymous volume, seeded.
    run_ok(&w, "dpvc", "packed", &[], &["true"]);
    let m = mount_at(&w, "dpvc", "/config");
    assert_eq!(
        (m["anonymous"].as_bool(), m["origin"].as_str()),
        (Some(true), Some("image"))
    );
    let out = run_ok(
        &w,
        "user",
        "busybox",
        &["--volumes-from", "dpvc"],
        &["sh", "-c", stat],
    );
    assert_eq!(out, want);
    let vol = m["name"].as_str().unwrap();
    assert_eq!(fs::metadata(data(&w, vol)).unwrap().uid(), 1000);

    // A named volume is seeded when empty...
    let out = run_ok(
        &w,
        "named",
        "packed",
        &["-v", "cfg:/config"],
        &["sh", "-c", stat],
    );
    assert_eq!(out, want);
    run_ok(
        &w,
        "edit",
        "busybox",
        &["-v", "cfg:/config"],
        &["rm", "/config/packedData"],
    );
    // ...and not seeded again once it has content.
    let out = run_ok(
        &w,
        "again",
        "packed",
        &["-v", "cfg:/config"],
        &["ls", "/config"],
    );
    assert_eq!(out, "link\nsub\n");
    // nocopy, and volumes over paths the image does not have, start empty.
    let out = run_ok(
        &w,
        "nocopy",
        "packed",
        &argv!("-v bare:/config:nocopy --mount type=volume,dst=/elsewhere"),
        &["sh", "-c", "ls -A /config /elsewhere"],
    );
    assert_eq!(out, "/config:\n\n/elsewhere:\n");
    // A bind over the path shows the host's files, not the image's.
    let empty = host_dir(&w, "empty");
    let out = run_ok(
        &w,
        "bind",
        "packed",
        &["-v", &format!("{}:/config", s(&empty))],
        &["ls", "-A", "/config"],
    );
    assert_eq!(out, "");
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
}

/// The read-only WordPress story: `--read-only` with anonymous volumes as the writable
/// exceptions (`-v /run/lock/apache2/ -v /run/apache2/`).
#[test]
fn read_only_root_with_writable_volumes() {
    let w = world();
    let rec = w
        .run(&argv!(
            "berth-unpack --name wp3 --read-only busybox sh -c {}",
            "touch /run/lock/apache2/pid /run/apache2/sock && echo VOLUMES-RW; \
             touch /root/x 2>/dev/null || echo ROOT-RO"
        ))
        .success()
        .stdout;
    let rec = w
        .run_in(
            &argv!("berth-vol - -v /run/lock/apache2/ -v /run/apache2/"),
            Some(rec.as_bytes()),
        )
        .success()
        .stdout;
    let out = w
        .run_in(&["berth-spawn", "start", "-"], Some(rec.as_bytes()))
        .success()
        .stdout;
    assert_eq!(out, "VOLUMES-RW\nROOT-RO\n");
    let lock = mount_at(&w, "wp3", "/run/lock/apache2");
    assert!(
        data(&w, lock["name"].as_str().unwrap())
            .join("pid")
            .exists()
    );
}
