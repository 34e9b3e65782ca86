//! Fuzzes an image index / Docker manifest list through platform selection: berth-pull's
//! `classify` and `choose_platform` (a registry's index), and the store's `platform_manifest`
//! (an index loaded from an OCI archive, read back from the store).
//!
//! Input: one byte choosing the Content-Type, one choosing the platform asked for, then the
//! document. Whatever the input, nothing may panic; a chosen entry must be one of the
//! index's, for the platform asked for, never an `unknown/unknown` attestation, and name a
//! plain blob.
//!
//! Run: see fuzz/README.md.

#![no_main]

use std::sync::OnceLock;

use berth::registry::client::FetchedManifest;
use berth::registry::manifest::{self, OCI_INDEX, Parsed};
use berth::store::ImageStore;
use berth::store::layout::{PlatformSpec, descriptor};
use libfuzzer_sys::fuzz_target;
use oci_spec::image::{Descriptor, ImageIndex};

const CONTENT_TYPES: &[&str] = &[
    "",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/json",
];

const PLATFORMS: &[&str] = &[
    "linux/amd64",
    "linux/arm64",
    "linux/arm64/v8",
    "linux/arm/v7",
    "linux/arm",
    "linux/386",
    "windows/amd64",
    "unknown/unknown",
];

/// The directory a fuzzing process works in, kept for its whole life and removed when it
/// leaves: libFuzzer leaves by exit(), which runs no Rust destructor, hence `atexit`.
fn process_dir() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    extern "C" fn remove() {
        if let Some(d) = DIR.get() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap().keep();
        // SAFETY: registers a plain function with no captured state; it only removes `DIR`.
        unsafe { libc::atexit(remove) };
        d
    })
}

fn store() -> &'static ImageStore {
    static S: OnceLock<ImageStore> = OnceLock::new();
    S.get_or_init(|| {
        let dir = process_dir();
        let paths = berth::Paths::new(dir.join("root"), dir.join("run"));
        ImageStore::open(&paths).unwrap()
    })
}

fn check_choice(index: &ImageIndex, want: &PlatformSpec, d: &Descriptor, picker: &str) {
    assert!(
        index.manifests().contains(d),
        "{picker}: chose an entry not in the index"
    );
    let p = d.platform().as_ref().expect("chosen entry has a platform");
    assert!(
        want.matches(p),
        "{picker}: chose {} for {want}",
        PlatformSpec::from_oci(p)
    );
    let digest = d.digest().to_string();
    let hex = berth::paths::digest_hex(&digest);
    assert!(
        berth::paths::join_plain(std::path::Path::new("/s"), hex).is_some() && !hex.contains('/'),
        "{picker}: digest {digest:?} is not a plain blob name"
    );
}

fuzz_target!(|data: &[u8]| {
    let [ct, plat, body @ ..] = data else {
        return;
    };
    let want: PlatformSpec = PLATFORMS[*plat as usize % PLATFORMS.len()].parse().unwrap();
    let fetched = FetchedManifest {
        bytes: body.to_vec(),
        content_type: CONTENT_TYPES[*ct as usize % CONTENT_TYPES.len()].to_string(),
        digest: berth::digest::sha256(body),
    };
    if let Ok(Parsed::Index { index, .. }) = manifest::classify(&fetched, "fuzz") {
        if let Ok(d) = manifest::choose_platform(&index, &want, "fuzz") {
            check_choice(&index, &want, &d, "choose_platform");
            assert_ne!(
                PlatformSpec::from_oci(d.platform().as_ref().unwrap()).os,
                "unknown"
            );
        }
    }
    // The store reads an index blob with oci-spec's reader, by the media type of the entry
    // that names it.
    let Ok(index) = ImageIndex::from_reader(body) else {
        return;
    };
    let s = store();
    let digest = s.put_blob(body).unwrap();
    let target = descriptor(OCI_INDEX, &digest, body.len() as u64);
    let picked = s.platform_manifest("fuzz", &target, Some(&want));
    let _ = std::fs::remove_file(s.blob_path(&digest));
    if let Ok(d) = picked {
        check_choice(&index, &want, &d, "platform_manifest");
    }
});
