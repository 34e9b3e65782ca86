//! Reading and writing a bundle's `config.json` (the OCI runtime spec, oci-spec's types).
//!
//! Several stages edit the same file in turn (unpack writes it; netns adds the network
//! namespace and the hosts/resolv.conf/hostname mounts; vol adds mounts; spawn adds the
//! process settings), so the edit is one locked read-modify-write with an atomic replace.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Code, Coded, IoError};
use crate::store::{Lock, atomic};

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("cannot read {}: {source} (is this an OCI bundle?)", path.display())]
    Load {
        path: PathBuf,
        #[source]
        source: oci_spec::OciSpecError,
    },
}

impl Coded for SpecError {
    fn code(&self) -> Code {
        match self {
            SpecError::Io(e) => e.code(),
            SpecError::Load { source, .. } => match source {
                oci_spec::OciSpecError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Code::NOT_FOUND
                }
                _ => Code::DECODE,
            },
        }
    }
}

/// `<bundle>/config.json`.
pub fn config_path(bundle: &Path) -> PathBuf {
    bundle.join("config.json")
}

/// Loads a bundle's config.json: read whole, then parsed from memory (oci-spec's
/// `Spec::load` parses through a buffered reader: 83 µs against 54 µs here for a config that
/// carries the default seccomp profile, and every stage and every start loads one).
pub fn load(bundle: &Path) -> Result<Spec, SpecError> {
    let path = config_path(bundle);
    std::fs::read(&path)
        .map_err(oci_spec::OciSpecError::from)
        .and_then(|b| Ok(serde_json::from_slice(&b)?))
        .map_err(|source| SpecError::Load { path, source })
}

/// Writes a bundle's config.json atomically.
pub fn save(bundle: &Path, spec: &Spec) -> Result<(), SpecError> {
    Ok(atomic::write_json_volatile(&config_path(bundle), spec)?)
}

/// Locked read-modify-write of a bundle's config.json. Nothing is written if `f` fails.
pub fn edit<T, E>(bundle: &Path, f: impl FnOnce(&mut Spec) -> Result<T, E>) -> Result<T, E>
where
    E: From<SpecError>,
{
    let _l = Lock::exclusive(&bundle.join(".config.lock")).map_err(SpecError::from)?;
    let mut spec = load(bundle)?;
    let out = f(&mut spec)?;
    save(bundle, &spec)?;
    Ok(out)
}
