//! Fuzzes a manifest as a registry serves it (OCI image manifest or Docker v2 schema 2, or
//! anything else) through berth-pull's handling: `classify` (by mediaType, Content-Type or
//! shape), `check_image`, the OCI form the store keeps (`docker_to_oci`), and the store's
//! reader on what berth-pull stores.
//!
//! Input: one byte choosing the Content-Type the registry sent, then the document.
//! Whatever the input, nothing may panic; an accepted manifest must store and read back as
//! the same image; every digest it names must map to one plain file name under
//! `blobs/sha256/` (never a path that leaves the store).
//!
//! Run: see fuzz/README.md.

#![no_main]

use berth::registry::client::FetchedManifest;
use berth::registry::manifest::{self, OCI_MANIFEST, Parsed};
use libfuzzer_sys::fuzz_target;
use oci_spec::image::{Descriptor, ImageManifest};

/// Content-Types a registry may send (the empty one included: some send none).
const CONTENT_TYPES: &[&str] = &[
    "",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
    "text/plain",
];

fn plain_blob_name(d: &Descriptor) {
    let digest = d.digest().to_string();
    let hex = berth::paths::digest_hex(&digest);
    assert!(
        berth::paths::join_plain(std::path::Path::new("/store"), hex).is_some()
            && !hex.contains('/'),
        "digest {digest:?} is not a plain blob name"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let fetched = FetchedManifest {
        bytes: body.to_vec(),
        content_type: CONTENT_TYPES[*sel as usize % CONTENT_TYPES.len()].to_string(),
        digest: berth::digest::sha256(body),
    };
    let Ok(Parsed::Image {
        manifest: m,
        media_type,
    }) = manifest::classify(&fetched, "fuzz")
    else {
        return;
    };
    if manifest::check_image(&m, "fuzz").is_err() {
        return;
    }
    plain_blob_name(m.config());
    m.layers().iter().for_each(plain_blob_name);
    // What berth-pull stores, and what berth-unpack reads back (store::read_manifest).
    let stored = match manifest::docker_to_oci(&m, &media_type) {
        Some(oci) => serde_json::to_vec(&oci).expect("manifest serialises"),
        None => body.to_vec(),
    };
    let back = ImageManifest::from_reader(&stored[..]).expect("a stored manifest reads back");
    assert_eq!(back.config().digest(), m.config().digest());
    assert_eq!(back.layers().len(), m.layers().len());
    for (a, b) in back.layers().iter().zip(m.layers()) {
        assert_eq!((a.digest(), a.size()), (b.digest(), b.size()));
    }
    // The stored form, under the media type the store's descriptor gives it, is a manifest
    // that berth itself accepts again.
    let stored_type = if stored.as_slice() == body {
        media_type.clone()
    } else {
        OCI_MANIFEST.to_string()
    };
    let again = FetchedManifest {
        digest: berth::digest::sha256(&stored),
        bytes: stored,
        content_type: stored_type,
    };
    match manifest::classify(&again, "fuzz") {
        Ok(Parsed::Image {
            manifest,
            media_type: mt,
        }) => {
            assert!(mt == OCI_MANIFEST || mt == media_type, "stored as {mt}");
            manifest::check_image(&manifest, "fuzz")
                .expect("the stored manifest is accepted again");
        }
        other => panic!("the stored manifest is no longer an image: {other:?}"),
    }
});
