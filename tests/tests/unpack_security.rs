//! Malicious layers never touch the host. Each crafted image either fails with a clear error
//! and its code, leaving nothing behind, or unpacks to a safe result inside the rootfs; a
//! sentinel directory outside the root must stay exactly as it was.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_e2e::TestEnv;
use berth_e2e::crafted::{Compression, Layer, TarBuilder, put_image, tar};

/// A directory outside the root with one file, and what it looked like.
struct Sentinel {
    dir: PathBuf,
    file: PathBuf,
}

impl Sentinel {
    fn new(env: &TestEnv) -> Sentinel {
        let dir = env.dir().join("host-sentinel");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("passwd");
        std::fs::write(&file, b"host").unwrap();
        Sentinel { dir, file }
    }

    /// The sentinel path as an entry name: absolute, or climbing from a layer dir.
    fn abs(&self) -> String {
        self.dir.display().to_string()
    }

    fn climb(&self) -> String {
        format!("{}{}", "../".repeat(24), self.abs().trim_start_matches('/'))
    }

    #[track_caller]
    fn untouched(&self) {
        let names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(
            names,
            vec![std::ffi::OsString::from("passwd")],
            "host dir changed"
        );
        let m = std::fs::symlink_metadata(&self.file).unwrap();
        assert!(
            m.is_file() && m.nlink() == 1,
            "host file was replaced or linked"
        );
        assert_eq!(std::fs::read(&self.file).unwrap(), b"host");
    }
}

fn image(env: &TestEnv, layers: &[Vec<u8>]) {
    let layers: Vec<Layer> = layers.iter().map(|t| Layer::gz(t)).collect();
    put_image(
        env,
        "evil:latest",
        &layers,
        serde_json::json!({"Cmd": ["sh"]}),
    );
}

fn unpack(env: &TestEnv) -> berth_e2e::Run {
    env.run(&["berth-unpack", "evil"])
}

/// Nothing of a failed create is left: no container, name, mount, staging or layer dir.
#[track_caller]
fn nothing_left(env: &TestEnv) {
    for d in ["containers", "names"] {
        let left: Vec<_> = std::fs::read_dir(env.root.join(d))
            .map(|r| r.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{d}/ holds {left:?}");
    }
    let layers: Vec<_> = std::fs::read_dir(env.root.join("layers/sha256"))
        .map(|r| r.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(layers.is_empty(), "layers/sha256 holds {layers:?}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(env.root.to_str().unwrap()));
}

fn rootfs(r: &berth_e2e::Run) -> PathBuf {
    PathBuf::from(r.json()["bundle"]["rootfs"].as_str().unwrap())
}

#[track_caller]
fn refused(env: &TestEnv, code: i32, words: &str) {
    let r = unpack(env).fails_with(code);
    assert!(r.error_line().contains(words), "{}", r.stderr);
    assert_eq!(r.json()["error"]["code"], code);
    nothing_left(env);
}

#[test]
fn dotdot_entries_are_refused() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    image(
        &env,
        &[tar(|b| b.file(&format!("{}/pwned", s.climb()), b"x"))],
    );
    refused(&env, 106, "climbs out of the root");
    s.untouched();
}

#[test]
fn absolute_entries_land_inside_the_rootfs() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    let abs = format!("{}/pwned", s.abs());
    image(&env, &[tar(|b| b.file(&abs, b"x"))]);
    let r = unpack(&env).success();
    assert!(rootfs(&r).join(abs.trim_start_matches('/')).is_file());
    s.untouched();
}

#[test]
fn writes_through_a_symlink_to_root_or_dotdot_stay_inside() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    let rel = s.abs().trim_start_matches('/').to_string();
    image(
        &env,
        &[tar(|b| {
            b.symlink("slash", "/");
            b.file(&format!("slash/{rel}/via-slash"), b"x");
            b.symlink("up", &"../".repeat(24));
            b.file(&format!("up/{rel}/via-up"), b"x");
        })],
    );
    let r = unpack(&env).success();
    let root = rootfs(&r);
    assert!(root.join(&rel).join("via-slash").is_file());
    assert!(root.join(&rel).join("via-up").is_file());
    s.untouched();
}

#[test]
fn a_symlink_in_a_lower_layer_is_not_followed_by_an_upper_one() {
    // The umoci CVE-2021-29136 shape across layers: a lower layer plants `etc -> <host dir>`,
    // the next writes etc/passwd.
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    image(
        &env,
        &[
            tar(|b| b.symlink("etc", &s.abs())),
            tar(|b| b.file("etc/passwd", b"evil")),
        ],
    );
    let r = unpack(&env).success();
    assert_eq!(
        std::fs::read(rootfs(&r).join("etc/passwd")).unwrap(),
        b"evil"
    );
    s.untouched();
}

#[test]
fn the_root_cannot_be_replaced_by_a_symlink() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    image(
        &env,
        &[tar(|b| {
            b.symlink(".", &s.abs());
            b.file("passwd", b"evil");
        })],
    );
    refused(&env, 106, "replace the root");
    s.untouched();
}

#[test]
fn hardlinks_to_outside_are_refused() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    let file = s.file.display().to_string();
    image(
        &env,
        &[tar(|b| {
            b.hardlink("hl", &format!("{}{}", "../".repeat(24), &file[1..]))
        })],
    );
    refused(&env, 106, "outside the root");
    s.untouched();
    // An absolute target is looked up inside the root, where it does not exist.
    image(&env, &[tar(|b| b.hardlink("hl", &file))]);
    refused(&env, 6, "does not exist");
    s.untouched();
}

#[test]
fn a_directory_replaced_by_a_symlink_is_not_written_through() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    image(
        &env,
        &[tar(|b| {
            b.dir("d/", 0o755);
            b.symlink("d", &s.abs());
            b.file("d/pwned", b"x");
        })],
    );
    // `d` now points at a path that exists only on the host: inside the root it is missing.
    let r = unpack(&env);
    if r.status.success() {
        let root = rootfs(&r);
        assert!(
            root.join(s.abs().trim_start_matches('/'))
                .join("pwned")
                .is_file()
        );
    } else {
        assert_eq!(r.code(), 6, "{}", r.stderr);
        nothing_left(&env);
    }
    s.untouched();
    // Replaced by a symlink to `/`: the write lands at the rootfs's top.
    image(
        &env,
        &[tar(|b| {
            b.dir("e/", 0o755);
            b.symlink("e", "/");
            b.file("e/pwned", b"x");
        })],
    );
    let r = unpack(&env).success();
    assert!(rootfs(&r).join("pwned").is_file());
    s.untouched();
}

#[test]
fn whiteouts_naming_dotdot_or_outside_are_refused_or_stay_inside() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    image(&env, &[tar(|b| b.file("etc/.wh...", b""))]);
    refused(&env, 106, "whiteout");
    image(
        &env,
        &[tar(|b| b.file(&format!("{}/.wh.passwd", s.climb()), b""))],
    );
    refused(&env, 106, "climbs out");
    // An absolute whiteout is a whiteout inside the root.
    let abs = format!("{}/.wh.passwd", s.abs());
    image(
        &env,
        &[tar(|b| b.file("keep", b"k")), tar(|b| b.file(&abs, b""))],
    );
    unpack(&env).success();
    s.untouched();
}

#[test]
fn device_nodes_are_made_inside_only() {
    let env = TestEnv::new();
    let s = Sentinel::new(&env);
    let climb = format!("{}/kmsg", s.climb());
    image(
        &env,
        &[tar(|b: &mut TarBuilder| {
            b.device(&climb, tar::EntryType::Char, 1, 11)
        })],
    );
    refused(&env, 106, "climbs out");
    s.untouched();
    let abs = format!("{}/kmsg", s.abs());
    image(
        &env,
        &[tar(|b: &mut TarBuilder| {
            b.device("dev/kmsg", tar::EntryType::Char, 1, 11);
            b.device(&abs, tar::EntryType::Block, 7, 0);
        })],
    );
    let r = unpack(&env).success();
    let root = rootfs(&r);
    let m = std::fs::symlink_metadata(root.join("dev/kmsg")).unwrap();
    assert!(m.file_type().is_char_device());
    assert!(
        std::fs::symlink_metadata(root.join(abs.trim_start_matches('/')))
            .unwrap()
            .file_type()
            .is_block_device()
    );
    s.untouched();
}

#[test]
fn a_diff_id_mismatch_is_refused() {
    let env = TestEnv::new();
    let mut l = Layer::gz(&tar(|b| b.file("f", b"x")));
    l.diff_id = berth::digest::sha256(b"something else");
    put_image(
        &env,
        "evil:latest",
        &[l],
        serde_json::json!({"Cmd": ["sh"]}),
    );
    refused(&env, 102, "diff id mismatch");
}

#[test]
fn truncated_and_corrupt_streams_are_refused() {
    let env = TestEnv::new();
    let t = tar(|b| b.file("big", &vec![7u8; 1 << 20]));
    for c in [Compression::Gzip, Compression::Zstd] {
        let mut l = Layer::new(&t, c);
        l.blob.truncate(l.blob.len() / 2);
        put_image(
            &env,
            "evil:latest",
            &[l],
            serde_json::json!({"Cmd": ["sh"]}),
        );
        refused(&env, 103, "ends early");
    }
    let mut l = Layer::gz(&t);
    let n = l.blob.len();
    for b in &mut l.blob[20..n - 20] {
        *b ^= 0xa5;
    }
    put_image(
        &env,
        "evil:latest",
        &[l],
        serde_json::json!({"Cmd": ["sh"]}),
    );
    refused(&env, 6, "corrupt");
}

#[test]
fn a_decompression_bomb_stops_at_the_limit() {
    let env = TestEnv::new();
    // 64 MiB of zeros squeeze into ~64 KiB of gzip.
    let t = tar(|b| b.file("bomb", &vec![0u8; 64 << 20]));
    put_image(
        &env,
        "evil:latest",
        &[Layer::gz(&t)],
        serde_json::json!({"Cmd": ["sh"]}),
    );
    let r = env
        .run(&["berth-unpack", "--max-layer-size", "8m", "evil"])
        .fails_with(106);
    assert!(r.error_line().contains("exceeds the limit"), "{}", r.stderr);
    nothing_left(&env);
    // The same image within a larger limit is fine.
    env.run(&["berth-unpack", "--max-layer-size", "1g", "evil"])
        .success();
}

#[test]
fn unknown_compression_is_refused_by_name() {
    let env = TestEnv::new();
    let mut l = Layer::new(&tar(|b| b.file("f", b"x")), Compression::None);
    l.blob = b"BZh91AY&SY-not-really".to_vec();
    put_image(
        &env,
        "evil:latest",
        &[l],
        serde_json::json!({"Cmd": ["sh"]}),
    );
    refused(&env, 2, "bzip2");
}

#[test]
fn sentinel_paths_are_absolute() {
    let env = TestEnv::new();
    assert!(Path::new(&Sentinel::new(&env).abs()).is_absolute());
}
