//! berth images / tag / rmi / image prune, as a user drives them through `berth`.

use std::fs;

use berth::protocol::{ImageSection, LayerRef, Record};
use berth::state::Containers;
use berth_e2e::argv;
use berth_e2e::{TestEnv, fixtures};
use serde_json::Value;

/// The busybox fixture, alone in the store: `seed` links every blob of the fixture cache (other
/// fixtures' too), so collect those first and tests can compare blob lists.
fn seed_busybox(env: &TestEnv) {
    fixtures::seed(env, "busybox", "busybox:latest");
    env.ok(&["berth", "image", "prune", "-f"]);
}

fn images(env: &TestEnv, args: &[&str]) -> Vec<Value> {
    let mut argv = vec!["berth", "images", "--json"];
    argv.extend_from_slice(args);
    let out = env.run(&argv).success();
    out.json()
        .as_array()
        .expect("images prints an array")
        .clone()
}

fn names(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows
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

fn blobs(env: &TestEnv) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(env.root.join("images/blobs/sha256"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
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

/// A container record that uses `image`, as berth-unpack would leave it.
fn fake_container(env: &TestEnv, image: &str, name: &str) -> String {
    let doc = inspect(env, image);
    let containers = Containers::new(&env.paths());
    let (id, name) = containers.create(Some(name)).unwrap();
    let mut rec = Record::new();
    rec.id = id.clone();
    rec.name = name;
    rec.image = Some(ImageSection {
        reference: image.into(),
        name: image.into(),
        digest: doc["Descriptor"]["digest"].as_str().unwrap().into(),
        id: doc["Id"].as_str().unwrap().into(),
        layers: doc["RootFS"]["Layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| LayerRef {
                diff_id: d.as_str().unwrap().into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    });
    containers.save(&rec).unwrap();
    id
}

#[test]
fn images_lists_tags_filters_and_quiet_ids() {
    let env = TestEnv::new();
    seed_busybox(&env);
    env.ok(&["berth", "tag", "busybox", "me/app:v1"]);
    env.ok(&argv!(
        "berth image tag busybox:latest localhost:5000/team/app"
    ));

    let rows = images(&env, &[]);
    assert_eq!(
        names(&rows),
        [
            "busybox:latest",
            "localhost:5000/team/app:latest",
            "me/app:v1"
        ]
    );
    let id = rows[0]["ID"].as_str().unwrap();
    assert_eq!(id.len(), 12);
    assert!(rows.iter().all(|r| r["ID"] == id), "one image, three names");
    assert!(rows[0]["Size"].as_str().unwrap().ends_with("MB"));

    assert_eq!(names(&images(&env, &["me/app"])), ["me/app:v1"]);
    assert_eq!(
        names(&images(&env, &["busybox:latest"])),
        ["busybox:latest"]
    );
    assert!(images(&env, &["busybox:nope"]).is_empty());
    assert_eq!(
        names(&images(&env, &["--filter", "reference=*/app:*"])),
        ["me/app:v1"]
    );
    assert!(images(&env, &["--filter", "dangling=true"]).is_empty());
    assert_eq!(images(&env, &["-f", "dangling=false"]).len(), 3);
    let full = images(&env, &["--no-trunc"]);
    assert!(full[0]["ID"].as_str().unwrap().starts_with("sha256:"));

    // -q prints ids even through a pipe, for `berth rmi $(berth images -q)`.
    let q = env.ok(&["berth", "images", "-q"]);
    assert_eq!(q.lines().collect::<Vec<_>>(), [id, id, id]);
    // The table a person sees, with Docker's header.
    let t = env.ok(&["berth", "image", "ls", "--format", "table", "busybox"]);
    let mut lines = t.lines();
    let header = lines.next().unwrap();
    // Docker's tabwriter: cells at least 10 wide, three spaces between columns.
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED   ")
            && header.ends_with("   SIZE"),
        "{header:?}"
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("busybox      latest    {id}   "))
    );
    let d = env.ok(&["berth", "images", "--digests", "--format", "table"]);
    assert!(d.lines().next().unwrap().contains("DIGEST"));
    // --format json: Docker's one object per line.
    let j = env.ok(&["berth", "images", "--format", "json"]);
    assert_eq!(j.lines().count(), 3);

    // Go templates, through berth's shared --format.
    let t = env.ok(&argv!(
        "berth images --format '{{.Repository}}:{{.Tag}} {{.ID}}' me/app"
    ));
    assert_eq!(t, format!("me/app:v1 {id}\n"));
    let t = env.ok(&argv!(
        "berth images --format 'table {{.Repository}}\t{{.Tag}}' me/app"
    ));
    assert_eq!(t.lines().next().unwrap().trim_end(), "REPOSITORY   TAG");
    let t = env.ok(&argv!(
        "berth image inspect -f '{{.Id}} {{len .RepoTags}}' me/app:v1"
    ));
    assert!(t.starts_with("sha256:") && t.ends_with(" 3\n"), "{t}");
    env.run(&["berth", "images", "--format", "{{.Nope}}"])
        .fails_with(1);

    let e = env
        .run(&["berth", "images", "--json", "--filter", "colour=red"])
        .fails_with(4);
    assert!(e.error_line().contains("invalid filter"), "{}", e.stderr);
}

#[test]
fn tag_refuses_bad_names_and_leaves_the_store_alone() {
    let env = TestEnv::new();
    seed_busybox(&env);
    let index = env.root.join("images/index.json");
    let before = fs::read(&index).unwrap();
    for bad in ["Bad:tag", "app:bad tag!", "app:-lead", "a@sha256:1234"] {
        let r = env
            .run(&["berth", "tag", "--json", "busybox", bad])
            .fails_with(4);
        let line = r.error_line();
        assert!(line.starts_with("berth-image: error: "), "{line}");
    }
    let r = env
        .run(&argv!(
            "berth tag --json busybox {}",
            &format!("app@sha256:{}", "a".repeat(64))
        ))
        .fails_with(4);
    assert!(r.error_line().contains("digest"), "{}", r.stderr);
    env.run(&["berth", "tag", "--json", "nothere", "x:1"])
        .fails_with(3);
    assert_eq!(fs::read(&index).unwrap(), before, "index.json unchanged");
}

#[test]
fn rmi_untags_then_deletes_blobs_and_unpacked_layers() {
    let env = TestEnv::new();
    seed_busybox(&env);
    env.ok(&["berth", "tag", "busybox", "copy:1"]);
    let diff_id = inspect(&env, "busybox")["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()
        .to_string();
    // As if berth-unpack had unpacked the layer.
    let layer = env.paths().layer(&diff_id);
    fs::create_dir_all(layer.join("diff/bin")).unwrap();
    fs::write(layer.join("diff/bin/x"), b"x").unwrap();
    let all_blobs = blobs(&env);
    assert!(all_blobs.len() >= 3);

    let out = env
        .run(&["berth", "rmi", "--json", "copy:1"])
        .success()
        .json();
    assert_eq!(out, serde_json::json!([{"Untagged": "copy:1"}]));
    assert_eq!(
        blobs(&env),
        all_blobs,
        "another name remains: nothing deleted"
    );
    assert!(layer.exists());

    let out = env
        .run(&["berth", "rmi", "--json", "busybox"])
        .success()
        .json();
    let out = out.as_array().unwrap();
    assert_eq!(out[0]["Untagged"], "busybox:latest");
    assert!(out[1]["Deleted"].as_str().unwrap().starts_with("sha256:"));
    assert!(blobs(&env).is_empty(), "{:?}", blobs(&env));
    assert!(!layer.exists(), "the unpacked layer went with the image");
    assert!(images(&env, &[]).is_empty());
    env.run(&["berth", "rmi", "--json", "busybox"])
        .fails_with(3);
}

#[test]
fn rmi_by_id_refuses_several_repositories_without_force() {
    let env = TestEnv::new();
    seed_busybox(&env);
    env.ok(&["berth", "tag", "busybox", "other:1"]);
    let id = inspect(&env, "busybox")["Id"].as_str().unwrap()[7..19].to_string();
    let r = env.run(&["berth", "rmi", "--json", &id]).fails_with(104);
    assert!(
        r.error_line()
            .contains("referenced in multiple repositories"),
        "{}",
        r.stderr
    );
    assert_eq!(images(&env, &[]).len(), 2);
    let out = env
        .run(&["berth", "rmi", "--json", "-f", &id])
        .success()
        .json();
    assert_eq!(
        out.as_array()
            .unwrap()
            .iter()
            .filter(|r| r.get("Untagged").is_some())
            .count(),
        2
    );
    assert!(images(&env, &[]).is_empty());
}

#[test]
fn an_image_a_container_uses_is_kept() {
    let env = TestEnv::new();
    seed_busybox(&env);
    let cid = fake_container(&env, "busybox:latest", "web");
    let before = blobs(&env);

    let r = env
        .run(&["berth", "rmi", "--json", "busybox"])
        .fails_with(104);
    let line = r.error_line();
    assert!(
        line.contains(&cid[..12]) && line.contains("web") && line.contains("-f"),
        "{line}"
    );
    assert_eq!(names(&images(&env, &[])), ["busybox:latest"]);

    // -f untags, but the container's image stays, dangling, with all its blobs.
    env.ok(&["berth", "rmi", "-f", "busybox"]);
    let rows = images(&env, &[]);
    assert_eq!(names(&rows), ["<none>:<none>"]);
    assert_eq!(images(&env, &["--filter", "dangling=true"]).len(), 1);
    assert_eq!(blobs(&env), before);
    // Prune leaves it too: a container uses it.
    env.ok(&["berth", "image", "prune", "-f", "-a"]);
    assert_eq!(blobs(&env), before);

    // Once the container is gone, prune collects it.
    fs::remove_dir_all(env.paths().container(&cid)).unwrap();
    let out = env
        .run(&["berth", "image", "prune", "--json", "-f"])
        .success()
        .json();
    assert!(out["deleted"].as_array().unwrap().len() >= 2, "{out}");
    assert!(blobs(&env).is_empty());
    assert!(images(&env, &[]).is_empty());
}

#[test]
fn prune_removes_dangling_images_unused_layers_and_interrupted_pulls() {
    let env = TestEnv::new();
    seed_busybox(&env);
    env.ok(&["berth", "image", "default", "--tag", "mine:1"]);
    // Moving a tag leaves the old image dangling, as in Docker.
    env.ok(&["berth", "tag", "mine:1", "busybox:latest"]);
    let rows = images(&env, &[]);
    assert_eq!(names(&rows), ["<none>:<none>", "busybox:latest", "mine:1"]);

    let busy_layer = inspect(&env, "busybox")["RootFS"]["Layers"][0]
        .as_str()
        .unwrap()
        .to_string();
    let kept_layer = env.paths().layer(&busy_layer);
    fs::create_dir_all(kept_layer.join("diff")).unwrap();
    let stray_layer = env.paths().layer(&format!("sha256:{}", "a".repeat(64)));
    fs::create_dir_all(stray_layer.join("diff/etc")).unwrap();
    fs::write(stray_layer.join("diff/etc/f"), vec![0u8; 5000]).unwrap();
    // What an interrupted pull leaves: a staged blob of a dead process, a partial download.
    let tmp = env.paths().tmp();
    fs::create_dir_all(&tmp).unwrap();
    fs::write(tmp.join(".tmp-2147483647-abcd-blob"), b"half").unwrap();
    fs::write(
        tmp.join(format!("sha256-{}.partial", "b".repeat(64))),
        b"partial",
    )
    .unwrap();
    // Work in progress of a live process (this test) is left alone.
    let live = tmp.join(format!(".tmp-{}-ef01-blob", std::process::id()));
    fs::write(&live, b"mine").unwrap();

    // Without -f it asks, and a "no" (here: no answer) does nothing.
    // docker/cli prompts on stdout, and adds nothing after the answer.
    let r = env.run(&["berth", "image", "prune"]).success();
    assert_eq!(
        (r.stdout.as_str(), r.stderr.as_str()),
        (
            "WARNING! This will remove all dangling images.\n\
             Are you sure you want to continue? [y/N] ",
            ""
        )
    );
    assert_eq!(images(&env, &[]).len(), 3);

    let out = env
        .run(&["berth", "image", "prune", "--json", "-f"])
        .success()
        .json();
    let deleted = out["deleted"].as_array().unwrap();
    assert!(deleted.iter().any(|d| d.get("Deleted").is_some()), "{out}");
    assert_eq!(names(&images(&env, &[])), ["busybox:latest", "mine:1"]);
    assert_eq!(out["collected"]["leftovers"], 2, "{out}");
    assert!(!stray_layer.exists());
    assert!(kept_layer.exists(), "busybox's layer is still needed");
    assert!(live.exists());
    assert!(out["collected"]["reclaimed"].as_u64().unwrap() > 5000);

    // -a: everything no container uses. The human output reads like Docker's.
    let out = env.ok(&["sh", "-c", "script -qc 'berth image prune -a -f' /dev/null"]);
    assert!(
        out.contains("Deleted Images:") && out.contains("untagged: mine:1"),
        "{out}"
    );
    assert!(out.contains("Total reclaimed space:"), "{out}");
    assert!(images(&env, &[]).is_empty());
    assert!(blobs(&env).is_empty());
    assert!(!kept_layer.exists());
}

#[test]
fn collection_waits_for_work_in_flight() {
    let env = TestEnv::new();
    seed_busybox(&env);
    let before = blobs(&env);
    // A pull (or load, or unpack) in flight holds the store open, and so a lease.
    let in_flight = berth::store::ImageStore::open(&env.paths()).unwrap();
    let partial = env
        .paths()
        .tmp()
        .join(format!("partial-sha256-{}", "c".repeat(64)));
    fs::write(&partial, b"downloading").unwrap();
    // rmi untags at once but leaves the blobs for later.
    env.ok(&["berth", "rmi", "busybox"]);
    assert!(images(&env, &[]).is_empty());
    assert_eq!(blobs(&env), before);
    drop(in_flight);
    // With nothing in flight, prune collects the blobs and the abandoned partial download.
    env.ok(&["berth", "image", "prune", "-f"]);
    assert!(blobs(&env).is_empty());
    assert!(!partial.exists());
}
