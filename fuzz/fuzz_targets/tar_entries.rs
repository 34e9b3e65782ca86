//! Fuzzes the tar entry handling of the layer unpacker with arbitrary bytes as a layer's
//! uncompressed tar. Whatever the input, extraction may fail, but nothing outside the root may
//! appear or change: a sentinel directory beside the root is checked after every input.
//!
//! Run (needs root for chown/mknod, and RUSTC_BOOTSTRAP for the sanitizer flags on stable):
//!   cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run tar_entries -- -max_total_time=60

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let root_path = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&root_path).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("sentinel"), b"host").unwrap();
    let root = berth::confine::Root::open(&root_path).unwrap();
    let _ = berth::layer::extract::extract(data, &root, 16 << 20);
    let names: Vec<_> = std::fs::read_dir(&outside)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "something was written outside the root: {names:?}"
    );
    assert_eq!(std::fs::read(outside.join("sentinel")).unwrap(), b"host");
    let top: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        top.len(),
        2,
        "something was written beside the root: {top:?}"
    );
});
