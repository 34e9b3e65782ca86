//! The stage's spec edits, and what it writes (or leaves alone) in a bundle.

use super::*;

#[test]
fn nothing_to_mount_leaves_config_json_alone_and_records_no_mounts() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempfile::tempdir().unwrap();
    let paths = Paths::new(tmp.path().join("root"), tmp.path().join("run"));
    let (id, name) = Containers::new(&paths).create(Some("vols")).unwrap();
    let dir = paths.container(&id);
    ocispec::save(&dir, &Spec::default()).unwrap();
    let bundle = crate::protocol::BundleSection {
        rootfs: dir.join("rootfs"),
        path: dir.clone(),
        ..Default::default()
    };
    let (berth, bundle) = (crate::protocol::PROTOCOL_VERSION, Some(bundle));
    let mut record = Record {
        berth,
        id,
        name,
        bundle,
        ..Default::default()
    };
    Containers::new(&paths).save(&record).unwrap();
    let inode = |p: &std::path::Path| fs::metadata(p).unwrap().ino();
    let before = (
        inode(&ocispec::config_path(&dir)),
        inode(&paths.record(&record.id)),
    );
    attach(&paths, &mut record, &VolOpts::default()).unwrap();
    assert_eq!(
        (
            inode(&ocispec::config_path(&dir)),
            inode(&paths.record(&record.id))
        ),
        before,
        "config.json or the record was rewritten with nothing to change"
    );
    assert_eq!(
        record.mounts,
        Some(vec![]),
        "the printed record has its section"
    );
    // A mount is written in; running the stage again without it takes it out.
    let scratch = || {
        let mounts = ocispec::load(&dir)
            .unwrap()
            .mounts()
            .clone()
            .unwrap_or_default();
        mounts
            .iter()
            .any(|m| m.destination() == Path::new("/scratch"))
    };
    let tmpfs = vec!["/scratch".to_string()];
    attach(
        &paths,
        &mut record,
        &VolOpts {
            tmpfs,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(scratch());
    attach(&paths, &mut record, &VolOpts::default()).unwrap();
    assert!(!scratch(), "a re-run replaces the earlier mounts");
    let saved = Containers::new(&paths).load(&record.id).unwrap();
    assert_eq!(saved.mounts, Some(vec![]), "taking them out is saved");
}

#[test]
fn mounts_sort_parents_first_and_replace_defaults() {
    let mut spec = Spec::default();
    let before = spec.mounts().clone().unwrap_or_default().len();
    let e = |d: &str| MountEntry {
        kind: MountKind::Volume,
        name: Some("v".into()),
        source: "/r/volumes/v/_data".into(),
        destination: d.into(),
        rw: false,
        ..Default::default()
    };
    let ours = vec![oci_mount(&e("/dev/shm"), true)];
    edit_spec(&mut spec, &HashSet::new(), &ours);
    let mounts = spec.mounts().clone().unwrap();
    // oci-spec's default has a /dev/shm; ours replaced it.
    assert_eq!(mounts.len(), before);
    let shm: Vec<_> = mounts
        .iter()
        .filter(|m| m.destination() == Path::new("/dev/shm"))
        .collect();
    assert_eq!(shm.len(), 1);
    assert_eq!(
        shm[0].options().clone().unwrap(),
        vec!["rbind", "rprivate", "ro"]
    );
    let replaced: HashSet<String> = ["/dev/shm".to_string()].into();
    edit_spec(&mut spec, &replaced, &[]);
    assert_eq!(spec.mounts().clone().unwrap().len(), before - 1);
    assert!(depth("/a/b") > depth("/a") && depth("/") == 0);
    let t = MountEntry {
        kind: MountKind::Tmpfs,
        destination: "/run".into(),
        options: "size=64m,exec".into(),
        rw: true,
        ..Default::default()
    };
    let m = oci_mount(&t, true);
    assert_eq!(m.typ().as_deref(), Some("tmpfs"));
    assert_eq!(
        m.options().clone().unwrap(),
        vec!["noexec", "nosuid", "nodev", "rprivate", "size=64m", "exec"]
    );
}
