//! sha256 digests computed while data streams past (umoci's `verified_reader` lesson): content
//! is never trusted, or renamed into a store, before its digest and size are checked.
//!
//! sha2 picks the CPU's SHA extensions at run time where they exist.

use std::io::{self, Read, Write};

use sha2::{Digest as _, Sha256};

use crate::error::{Code, Coded};

#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    #[error(
        "{what}: digest mismatch: expected {expected}, got {actual} (the content is corrupt or was tampered with; pull it again)"
    )]
    Mismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{what}: size mismatch: expected {expected} bytes, got {actual} (the download was truncated or the content is corrupt)"
    )]
    Size {
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex characters>")]
    Malformed(String),
}

impl Coded for DigestError {
    fn code(&self) -> Code {
        match self {
            DigestError::Mismatch { .. } => Code::DIGEST_MISMATCH,
            DigestError::Size {
                expected, actual, ..
            } if actual < expected => Code::TRUNCATED,
            DigestError::Size { .. } => Code::DIGEST_MISMATCH,
            DigestError::Malformed(_) => Code::BAD_ARGS,
        }
    }
}

/// Checks that `d` is `sha256:` followed by 64 lowercase hex digits; the only form berth stores.
pub fn validate(d: &str) -> Result<(), DigestError> {
    match d.strip_prefix("sha256:") {
        Some(h) if h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
            Ok(())
        }
        _ => Err(DigestError::Malformed(d.to_string())),
    }
}

/// `sha256:<hex>` of a byte slice.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A running sha256 with a byte count.
#[derive(Clone, Default)]
pub struct Hasher {
    inner: Sha256,
    len: u64,
}

impl Hasher {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn update(&mut self, bytes: &[u8]) {
        self.inner.update(bytes);
        self.len += bytes.len() as u64;
    }
    pub fn len(&self) -> u64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// `sha256:<hex>` of everything so far.
    pub fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.inner.clone().finalize()))
    }
    /// Checks the digest (and the size, when known) against what was expected.
    pub fn verify(&self, what: &str, expected: &str, size: Option<u64>) -> Result<(), DigestError> {
        if let Some(expected_size) = size
            && expected_size != self.len
        {
            return Err(DigestError::Size {
                what: what.to_string(),
                expected: expected_size,
                actual: self.len,
            });
        }
        let actual = self.digest();
        if actual != expected {
            return Err(DigestError::Mismatch {
                what: what.to_string(),
                expected: expected.to_string(),
                actual,
            });
        }
        Ok(())
    }
}

/// A reader that hashes what passes through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Hasher,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Hasher::new(),
        }
    }
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }
    pub fn into_parts(self) -> (R, Hasher) {
        (self.inner, self.hasher)
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes what passes through it.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter {
            inner,
            hasher: Hasher::new(),
        }
    }
    /// Continues hashing from an earlier state (a resumed download).
    pub fn with_hasher(inner: W, hasher: Hasher) -> Self {
        HashingWriter { inner, hasher }
    }
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }
    pub fn into_parts(self) -> (W, Hasher) {
        (self.inner, self.hasher)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn known_digest_and_verification() {
        assert_eq!(sha256(b""), EMPTY);
        let mut r = HashingReader::new(&b"abc"[..]);
        io::copy(&mut r, &mut io::sink()).unwrap();
        let h = r.hasher();
        assert_eq!(h.len(), 3);
        h.verify("x", &sha256(b"abc"), Some(3)).unwrap();
        let e = h.verify("x", EMPTY, None).unwrap_err();
        assert_eq!(e.code(), Code::DIGEST_MISMATCH);
        let e = h.verify("x", &sha256(b"abc"), Some(10)).unwrap_err();
        assert_eq!(e.code(), Code::TRUNCATED);
        validate(EMPTY).unwrap();
        assert!(validate("sha256:ABC").is_err());
        assert!(validate("md5:x").is_err());
    }
}
