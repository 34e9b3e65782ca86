//! berth save / load / import: Docker archives that skopeo reads and writes, OCI layout tars,
//! and bad archives refused with the store left exactly as it was.

use std::fs;
use std::path::{Path, PathBuf};

use berth_e2e::argv;
use berth_e2e::{TestEnv, fixtures};
use serde_json::Value;

/// Everything in the store that a failed command must not change: index.json, the blob names,
/// and an empty staging area.
fn snapshot(env: &TestEnv) -> (Vec<u8>, Vec<String>, Vec<String>) {
    let list = |d: PathBuf| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(d)
            .map(|r| {
                r.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    (
        fs::read(env.root.join("images/index.json")).unwrap_or_default(),
        list(env.root.join("images/blobs/sha256")),
        list(env.paths().tmp()),
    )
}

fn names(env: &TestEnv) -> Vec<String> {
    let rows = env.run(&["berth", "images", "--json"]).success().json();
    let mut v: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            format!(
                "{}:{}",
                r["Repository"].as_str().unwrap(),
                r["Tag"].as_str().unwrap()
            )
        })
        .collect();
    v.sort();
    v
}

fn inspect(env: &TestEnv, image: &str) -> Value {
    env.run(&["berth", "image", "inspect", "--json", image])
        .success()
        .json()[0]
        .clone()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn save_is_a_docker_archive_skopeo_reads_and_load_gives_the_same_image() {
    let env = TestEnv::new();
    fixtures::seed(&env, "busybox", "busybox:latest");
    env.ok(&["berth", "tag", "busybox", "me/bb:2"]);
    let before = inspect(&env, "busybox");
    let archive = env.dir().join("bb.tar");
    env.ok(&argv!(
        "berth save -o {} busybox:latest me/bb:2",
        p(&archive)
    ));

    // Docker's layout: manifest.json with both names, repositories, a config, layer tars.
    let list = env.ok(&["tar", "tf", p(&archive)]);
    for f in ["manifest.json", "repositories", "index.json", "oci-layout"] {
        assert!(list.lines().any(|l| l == f), "{f} missing:\n{list}");
    }
    let sk = env.ok(&argv!(
        "skopeo inspect {}",
        &format!("docker-archive:{}:busybox:latest", archive.display())
    ));
    let sk: Value = serde_json::from_str(&sk).unwrap();
    assert_eq!(
        sk["Layers"], before["RootFS"]["Layers"],
        "skopeo sees the same layers"
    );
    assert_eq!(sk["Os"], "linux");
    let raw = env.ok(&argv!(
        "skopeo inspect --config --raw {}",
        &format!("docker-archive:{}:me/bb:2", archive.display())
    ));
    assert_eq!(
        berth::digest::sha256(raw.as_bytes()),
        before["Id"].as_str().unwrap(),
        "the config is saved byte for byte"
    );

    // Through stdout too, and back in after removal.
    let piped = env
        .sh(&format!(
            "berth save busybox > {}/out.tar && tar tf {}/out.tar | grep -c manifest.json",
            env.dir().display(),
            env.dir().display()
        ))
        .success();
    assert_eq!(piped.stdout.trim(), "1");
    env.ok(&["berth", "rmi", "busybox", "me/bb:2"]);
    assert!(names(&env).is_empty());
    let out = env
        .run(&["berth", "load", "--json", "-i", p(&archive)])
        .success()
        .json();
    assert_eq!(out[0]["id"], before["Id"]);
    assert_eq!(names(&env), ["busybox:latest", "me/bb:2"]);
    let after = inspect(&env, "busybox");
    assert_eq!(after["Id"], before["Id"]);
    assert_eq!(after["RootFS"], before["RootFS"]);
    // The loaded image is a normal OCI image in the store.
    env.ok(&argv!(
        "skopeo inspect {}",
        &format!("oci:{}:me/bb:2", env.root.join("images").display())
    ));
    // Loading again changes nothing; stdin works; the human message is Docker's.
    let t = env
        .sh(&format!(
            "script -qc 'berth load < {}' /dev/null",
            archive.display()
        ))
        .success();
    assert!(
        t.stdout.contains("Loaded image: busybox:latest"),
        "{}",
        t.stdout
    );
    assert_eq!(names(&env), ["busybox:latest", "me/bb:2"]);
}

#[test]
fn load_reads_what_skopeo_writes_and_oci_layout_tars() {
    let env = TestEnv::new();
    let layout = fixtures::layout();
    let archive = env.dir().join("sk.tar");
    env.ok(&argv!(
        "skopeo copy {} {}",
        &format!("oci:{}:busybox", layout.display()),
        &format!(
            "docker-archive:{}:docker.io/library/skbox:v1",
            archive.display()
        )
    ));
    let out = env
        .run(&["berth", "load", "--json", "-i", p(&archive)])
        .success()
        .json();
    assert_eq!(out[0]["names"], serde_json::json!(["skbox:v1"]));
    let sk_cfg = env.ok(&argv!(
        "skopeo inspect --config --raw {}",
        &format!("docker-archive:{}", archive.display())
    ));
    assert_eq!(
        out[0]["id"].as_str().unwrap(),
        berth::digest::sha256(sk_cfg.as_bytes())
    );

    // A gzip-compressed archive loads the same.
    let gz = env.dir().join("sk.tar.gz");
    env.sh(&format!("gzip -c {} > {}", archive.display(), gz.display()))
        .success();
    env.ok(&["berth", "rmi", "skbox:v1"]);
    env.ok(&["berth", "load", "-i", p(&gz)]);
    assert_eq!(names(&env), ["skbox:v1"]);

    // An OCI layout tar (umoci's, whose ref name is a bare tag) loads untagged.
    let oci_tar = env.dir().join("oci.tar");
    env.ok(&["tar", "-C", p(&layout), "-cf", p(&oci_tar), "."]);
    let out = env
        .run(&["berth", "load", "--json", "-i", p(&oci_tar)])
        .success()
        .json();
    assert_eq!(out[0]["names"], serde_json::json!([]));
    // And skopeo's oci-archive, which names the image.
    let oa = env.dir().join("oa.tar");
    env.ok(&argv!(
        "skopeo copy {} {}",
        &format!("oci:{}:busybox", layout.display()),
        &format!("oci-archive:{}:quay.io/x/oa:3", oa.display())
    ));
    env.ok(&["berth", "load", "-i", p(&oa)]);
    assert!(
        names(&env).contains(&"quay.io/x/oa:3".to_string()),
        "{:?}",
        names(&env)
    );
}

/// Rewrites a tar, changing the named member's bytes with `edit`.
fn rewrite_tar(src: &Path, dst: &Path, member: &str, edit: &dyn Fn(&mut Vec<u8>)) {
    let mut a = tar::Archive::new(fs::File::open(src).unwrap());
    let mut b = tar::Builder::new(fs::File::create(dst).unwrap());
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        if name == member {
            edit(&mut data);
        }
        let mut h = e.header().clone();
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append_data(&mut h, &name, &data[..]).unwrap();
    }
    b.finish().unwrap();
}

#[test]
fn bad_archives_are_refused_and_change_nothing() {
    let env = TestEnv::new();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let good = env.dir().join("good.tar");
    env.ok(&["berth", "save", "-o", p(&good), "busybox"]);
    let layer = inspect(&env, "busybox")["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()[7..]
        .to_string();
    let state = snapshot(&env);
    let bytes = fs::read(&good).unwrap();

    // Truncated half-way through a layer.
    let cut = env.dir().join("cut.tar");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let r = env
        .run(&["berth", "load", "--json", "-i", p(&cut)])
        .fails_with(103);
    assert!(r.error_line().contains("truncated"), "{}", r.stderr);
    assert_eq!(snapshot(&env), state);

    // Not an archive at all.
    let junk = env.dir().join("junk.tar");
    fs::write(
        &junk,
        b"this is not a tar archive, just some text\n".repeat(40),
    )
    .unwrap();
    let r = env
        .run(&["berth", "load", "--json", "-i", p(&junk)])
        .fails_with(6);
    assert!(
        r.error_line().contains("not a valid image archive"),
        "{}",
        r.stderr
    );
    assert_eq!(snapshot(&env), state);

    // A layer whose content does not match the digest the manifest gives it.
    let tampered = env.dir().join("tampered.tar");
    rewrite_tar(&good, &tampered, &format!("blobs/sha256/{layer}"), &|d| {
        let n = d.len() / 3;
        d[n] ^= 0xff;
    });
    let r = env
        .run(&["berth", "load", "--json", "-i", p(&tampered)])
        .fails_with(102);
    assert!(r.error_line().contains("digest mismatch"), "{}", r.stderr);
    assert_eq!(snapshot(&env), state);

    // A classic Docker archive (layer path without a digest in it) whose layer does not
    // match the config's diff id.
    let classic = env.dir().join("classic.tar");
    let manifest = format!(
        r#"[{{"Config":"blobs/sha256/{}","RepoTags":["evil:1"],"Layers":["abc/layer.tar"]}}]"#,
        &inspect(&env, "busybox")["Id"].as_str().unwrap()[7..]
    );
    {
        let mut a = tar::Archive::new(fs::File::open(&good).unwrap());
        let mut b = tar::Builder::new(fs::File::create(&classic).unwrap());
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            let name = if name.ends_with(&layer) {
                data.extend_from_slice(&[0u8; 512]);
                "abc/layer.tar".to_string()
            } else if name == "manifest.json" {
                data = manifest.clone().into_bytes();
                name
            } else {
                name
            };
            let mut h = e.header().clone();
            h.set_size(data.len() as u64);
            h.set_cksum();
            b.append_data(&mut h, &name, &data[..]).unwrap();
        }
        b.finish().unwrap();
    }
    let r = env
        .run(&["berth", "load", "--json", "-i", p(&classic)])
        .fails_with(102);
    assert!(r.error_line().contains("layer 1"), "{}", r.stderr);
    assert_eq!(snapshot(&env), state);
    assert_eq!(names(&env), ["busybox:latest"]);

    // Stdin that is empty.
    let r = env
        .run_with_stdin(&["berth", "load", "--json"], Some(b""))
        .fails_with(6);
    r.error_line();
    assert_eq!(snapshot(&env), state);

    // save of an image that is not there writes no file.
    let out = env.dir().join("none.tar");
    env.run(&[
        "berth",
        "save",
        "--json",
        "-o",
        p(&out),
        "busybox",
        "nothere",
    ])
    .fails_with(3);
    assert!(!out.exists());
    assert!(
        fs::read_dir(env.dir())
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with(".tmp-"))
    );
}

#[test]
fn import_makes_a_one_layer_image_from_a_rootfs_tar() {
    let env = TestEnv::new();
    let rootfs = env.dir().join("rootfs");
    fixtures::populate_busybox(&rootfs);
    let tarball = env.dir().join("rootfs.tar");
    env.ok(&["tar", "-C", p(&rootfs), "-cf", p(&tarball), "."]);

    let out = env
        .run(&argv!(
            "berth import --json -c 'CMD [\"/bin/sh\", \"-c\", \"echo hi\"]' -c 'ENV A=1' -c 'EXPOSE 80' \
             -m 'my rootfs' {} me/rootfs:1",
            p(&tarball)
        ))
        .success()
        .json();
    assert_eq!(out["names"], serde_json::json!(["me/rootfs:1"]));
    let doc = inspect(&env, "me/rootfs:1");
    assert_eq!(doc["Id"], out["id"]);
    assert_eq!(
        doc["Config"]["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "echo hi"])
    );
    assert_eq!(doc["Config"]["Env"], serde_json::json!(["A=1"]));
    assert_eq!(
        doc["Config"]["ExposedPorts"],
        serde_json::json!({"80/tcp": {}})
    );
    assert_eq!(doc["Comment"], "my rootfs");
    assert_eq!(doc["RootFS"]["Layers"].as_array().unwrap().len(), 1);
    // The diff id is the tar's own digest.
    let tar_digest = berth::digest::sha256(&fs::read(&tarball).unwrap());
    assert_eq!(doc["RootFS"]["Layers"][0], tar_digest);
    // umoci unpacks what was imported.
    let bundle = env.dir().join("bundle");
    env.ok(&argv!(
        "umoci unpack --image {} {}",
        &format!("{}:me/rootfs:1", env.root.join("images").display()),
        p(&bundle)
    ));
    assert!(bundle.join("rootfs/bin/busybox").is_file());

    // From stdin, gzip-compressed, without a name: an untagged image, id printed.
    let gz = env
        .sh(&format!(
            "gzip -c {} | berth import --json - ",
            tarball.display()
        ))
        .success();
    let v: Value = serde_json::from_str(gz.stdout.trim()).unwrap();
    assert_eq!(v["names"], serde_json::json!([]));
    assert_eq!(
        inspect(&env, v["id"].as_str().unwrap())["RootFS"]["Layers"][0],
        tar_digest
    );

    // Bad input changes nothing.
    let state = snapshot(&env);
    let junk = env.dir().join("junk");
    fs::write(&junk, vec![b'x'; 3000]).unwrap();
    let r = env
        .run(&["berth", "import", "--json", p(&junk), "junk:1"])
        .fails_with(6);
    assert!(r.error_line().contains("not a tar"), "{}", r.stderr);
    let cut = env.dir().join("cut.tar");
    let bytes = fs::read(&tarball).unwrap();
    fs::write(&cut, &bytes[..bytes.len() / 2 + 100]).unwrap();
    env.run(&["berth", "import", "--json", p(&cut), "cut:1"])
        .fails_with(103);
    env.run(&["berth", "import", "--json", p(&tarball), "Bad Name"])
        .fails_with(4);
    env.run(&["berth", "import", "--json", "-c", "FROM x", p(&tarball)])
        .fails_with(4);
    env.run(&["berth", "import", "--json", "/nonexistent.tar"])
        .fails_with(3);
    assert_eq!(snapshot(&env), state);
}

#[test]
fn history_and_inspect_show_the_config() {
    let env = TestEnv::new();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let doc = inspect(&env, "busybox");
    assert!(doc["Id"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(doc["RepoTags"], serde_json::json!(["busybox:latest"]));
    assert_eq!(doc["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(doc["Os"], "linux");
    assert!(doc["Size"].as_u64().unwrap() > 1_000_000);
    let h = env
        .run(&["berth", "history", "--json", "busybox"])
        .success()
        .json();
    let rows = h.as_array().unwrap();
    assert!(!rows.is_empty());
    assert_eq!(rows[0]["ID"], &doc["Id"].as_str().unwrap()[7..19]);
    let t = env.ok(&argv!("berth history --format table --no-trunc busybox"));
    assert!(t.starts_with("IMAGE"), "{t}");
    assert!(t.contains(doc["Id"].as_str().unwrap()));
    let r = env
        .run(&["berth", "image", "inspect", "--json", "busybox", "nothere"])
        .fails_with(3);
    assert!(r.stdout.contains("\"Id\""), "found ones are still printed");
    let last: Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], 3);
    assert!(r.error_line().contains("No such image: nothere"));
}

#[test]
fn a_load_killed_half_way_leaves_the_store_as_it_was() {
    use std::io::Write;
    use std::process::Stdio;
    let env = TestEnv::new();
    fixtures::seed(&env, "busybox", "busybox:latest");
    let archive = env.dir().join("bb.tar");
    env.ok(&["berth", "save", "-o", p(&archive), "busybox"]);
    env.ok(&["berth", "rmi", "busybox"]);
    env.ok(&["berth", "image", "prune", "-f"]);
    let state = snapshot(&env);
    let bytes = fs::read(&archive).unwrap();

    let mut child = env
        .cmd("berth-image")
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&bytes[..bytes.len() / 2]).unwrap();
    stdin.flush().unwrap();
    // Wait until the load has staged something, then kill it outright.
    let tmp = env.paths().tmp();
    for _ in 0..500 {
        if fs::read_dir(&tmp).is_ok_and(|d| d.count() > 0) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);

    let (index, blobs, leftovers) = snapshot(&env);
    assert_eq!(
        (index, blobs),
        (state.0.clone(), state.1.clone()),
        "no ref, no blob"
    );
    assert!(
        !leftovers.is_empty(),
        "the staging dir of the killed load is there"
    );
    let out = env
        .run(&["berth", "image", "prune", "--json", "-f"])
        .success()
        .json();
    assert!(
        out["collected"]["leftovers"].as_u64().unwrap() >= 1,
        "{out}"
    );
    assert_eq!(snapshot(&env), state);
    env.ok(&["berth", "load", "-i", p(&archive)]);
    assert_eq!(names(&env), ["busybox:latest"]);
}
