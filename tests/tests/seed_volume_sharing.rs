//! The seed's shared volumes (docker-notes.md, "Sharing volumes between different
//! containers" to "Polymorphic container pattern"): generalized sharing with
//! `--volumes-from` (several sources, transitive, conflicting mount points), the managed
//! volume life cycle (`rm -v`, `rm -v $(ps -aq)`), data-packed volume containers, the
//! polymorphic pattern, and volumes seeded from an image.

use std::fs;

use berth_e2e::argv;
use berth_e2e::seed_images::{DEV_CONF, PACKED_DATA, PROD_CONF};
use berth_e2e::session::Session;

fn volume_count(s: &Session) -> usize {
    s.ok(&["volume", "ls", "-q"]).lines().count()
}

/// Mount points of a container, from `inspect` (`{{range .Mounts}}`), sorted.
fn mounts(s: &Session, name: &str) -> Vec<String> {
    let out = s.inspect(name, "{{range .Mounts}}{{.Destination}} {{.Type}}\n{{end}}");
    let mut v: Vec<String> = out.lines().map(String::from).collect();
    v.sort();
    v
}

#[test]
fn generalized_sharing_copies_every_volume_of_every_source() {
    let s = Session::seed();
    let books = s.w.env.dir().join("example-books");
    fs::create_dir_all(&books).unwrap();
    fs::write(
        books.join("toc"),
        "Patterns of Enterprise Application Architecture\n",
    )
    .unwrap();
    // fowler: a bind and a managed volume; knuth: four managed volumes.
    let out = s.ok(&argv!(
        "run --name fowler -v {} -v /library/DSL busybox:latest echo 'Fowler collection created.'",
        &format!("{}:/library/PoEAA", books.display())
    ));
    assert_eq!(out, "Fowler collection created.\n");
    s.ok(&argv!(
        "run --name knuth -v /library/TAoCP.vol1 -v /library/TAoCP.vol2 -v /library/TAoCP.vol3 -v \
         /library/TAoCP.vol4.a busybox:latest echo 'Knuth collection created.'"
    ));
    // reader copies all of them: ls -l /library/
    let ls = s.ok(&argv!(
        "run --name reader --volumes-from fowler --volumes-from knuth busybox:latest sh -c \
         'ls /library/; cat /library/PoEAA/toc'"
    ));
    assert_eq!(
        ls,
        "DSL\nPoEAA\nTAoCP.vol1\nTAoCP.vol2\nTAoCP.vol3\nTAoCP.vol4.a\n\
         Patterns of Enterprise Application Architecture\n"
    );
    // docker inspect reader: the same six mounts, with the same mount points.
    let m = mounts(&s, "reader");
    assert_eq!(m.len(), 6, "{m:?}");
    assert!(m.contains(&"/library/PoEAA bind".to_string()), "{m:?}");
    assert!(m.contains(&"/library/DSL volume".to_string()), "{m:?}");
    // Transitive: a copy of reader's volumes is a copy of fowler's and knuth's.
    let ls = s.ok(&argv!("run --rm --volumes-from reader busybox ls /library"));
    assert_eq!(ls.lines().count(), 6, "{ls}");
    assert_eq!(volume_count(&s), 5);
}

/// chomsky and lamport both have /library/ss: student gets only one of them (the last
/// named); `rm -v student` keeps what others still use; `rm -v $(ps -aq)` removes the rest.
#[test]
fn conflicting_mount_points_and_the_managed_volume_life_cycle() {
    let s = Session::seed();
    for (name, text) in [("chomsky", "Chomsky"), ("lamport", "Lamport")] {
        s.ok(&argv!(
            "run --name {} --volume /library/ss busybox:latest sh -c {}",
            name,
            &format!("echo {text} collection created. | tee /library/ss/who")
        ));
    }
    let out = s.ok(&argv!(
        "run --name student --volumes-from chomsky --volumes-from lamport busybox:latest sh -c \
         'ls -l /library/ | grep -c ss; cat /library/ss/who'"
    ));
    assert_eq!(out, "1\nLamport collection created.\n");
    assert_eq!(mounts(&s, "student"), ["/library/ss volume"]);
    let lamport_vol = s.inspect("lamport", "{{range .Mounts}}{{.Name}}{{end}}");
    assert_eq!(
        s.inspect("student", "{{range .Mounts}}{{.Name}}{{end}}"),
        lamport_vol
    );

    // docker rm -v student: lamport still uses the volume.
    assert_eq!(volume_count(&s), 2);
    s.ok(&["rm", "-v", "student"]);
    assert_eq!(volume_count(&s), 2);
    // docker rm -v $(docker ps -aq)
    s.sh("berth rm -v $(berth ps -aq)").success();
    assert_eq!(volume_count(&s), 0);
    assert!(s.ok(&["ps", "-aq"]).is_empty());
}

/// A data-packed volume container (dpvc) filled by `cp` at creation, read through
/// `--volumes-from`; and the polymorphic pattern: one app, two configurations.
#[test]
fn data_packed_volume_containers_and_polymorphic_apps() {
    let s = Session::seed();
    s.ok(&argv!(
        "run --name dpvc -v /config dockerinaction/ch4_packed /bin/sh -c 'cp /packed/* /config/'"
    ));
    let ls = s.ok(&argv!(
        "run --rm --volumes-from dpvc busybox:latest ls /config"
    ));
    assert_eq!(ls, "packedData\n");
    let cat = s.ok(&argv!(
        "run --rm --volumes-from dpvc busybox:latest cat /config/packedData"
    ));
    assert_eq!(cat, PACKED_DATA);
    // docker rm -v dpvc
    s.ok(&["rm", "-v", "dpvc"]);
    assert_eq!(volume_count(&s), 0);

    for (name, dir) in [("devConfig", "development"), ("prodConfig", "production")] {
        s.ok(&argv!(
            "run --name {} -v /config dockerinaction/ch4_packed:latest /bin/sh -c {}",
            name,
            &format!("cp /{dir}/* /config/")
        ));
    }
    let dev = s.ok(&argv!(
        "run --name devApp --volumes-from devConfig dockerinaction/ch4_polyapp"
    ));
    let prod = s.ok(&argv!(
        "run --name prodApp --volumes-from prodConfig dockerinaction/ch4_polyapp"
    ));
    assert_eq!(dev, format!("app configured with: {}", DEV_CONF));
    assert_eq!(prod, format!("app configured with: {}", PROD_CONF));
}

/// A new volume mounted over image content is seeded with it (Docker's copy-up): the data
/// travels in the image, and a named volume keeps it for other containers.
#[test]
fn new_volumes_are_seeded_from_the_image() {
    let s = Session::seed();
    s.ok(&argv!(
        "run --rm -v packed:/packed dockerinaction/ch4_packed true"
    ));
    let out = s.ok(&argv!(
        "run --rm -v packed:/data busybox cat /data/packedData"
    ));
    assert_eq!(out, PACKED_DATA);
    // A volume that already has content is not seeded again; a bind never is.
    s.ok(&argv!(
        "run --rm -v packed:/data busybox sh -c 'echo mine > /data/packedData'"
    ));
    s.ok(&argv!(
        "run --rm -v packed:/packed dockerinaction/ch4_packed true"
    ));
    let out = s.ok(&argv!(
        "run --rm -v packed:/data busybox cat /data/packedData"
    ));
    assert_eq!(out, "mine\n");
    let empty = s.w.env.dir().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let out = s.ok(&argv!(
        "run --rm -v {} dockerinaction/ch4_packed ls -A /packed",
        &format!("{}:/packed", empty.display())
    ));
    assert_eq!(out, "");
    // An anonymous volume is seeded too, and `--rm` takes it away.
    let out = s.ok(&argv!(
        "run --rm -v /packed dockerinaction/ch4_packed cat /packed/packedData"
    ));
    assert_eq!(out, PACKED_DATA);
    assert_eq!(s.ok(&["volume", "ls", "-q"]).trim(), "packed");
}
