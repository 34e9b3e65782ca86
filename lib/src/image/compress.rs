//! Layer compression: recognised by media type, or by magic number where there is none (a
//! layer tar in a Docker archive, a rootfs tar given to import).

use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    /// bzip2 or xz: Docker accepts them on load/import; berth says so instead of guessing.
    Other(&'static str),
}

impl Compression {
    /// From an OCI or Docker layer media type.
    pub fn from_media_type(mt: &str) -> Compression {
        if mt.ends_with("+gzip") || mt.ends_with(".tar.gzip") {
            Compression::Gzip
        } else if mt.ends_with("+zstd") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// From the first bytes of a stream.
    pub fn sniff(head: &[u8]) -> Compression {
        match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', ..] => Compression::Other("bzip2"),
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => Compression::Other("xz"),
            _ => Compression::None,
        }
    }

    /// The OCI layer media type for a layer stored this way.
    pub fn oci_layer_type(self) -> &'static str {
        match self {
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            _ => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// Peeks at a buffered stream's first bytes without consuming them.
pub fn sniff_stream(r: &mut impl BufRead) -> io::Result<Compression> {
    let head = r.fill_buf()?;
    Ok(Compression::sniff(head))
}

/// A reader that decompresses `r`. `Other` compressions are refused by the caller first.
pub fn decoder<'a, R: BufRead + 'a>(c: Compression, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match c {
        Compression::None => Box::new(r),
        // Multi-member: pigz and some registries write several gzip members per layer.
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Compression::Other(name) => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("{name} compression is not supported (use gzip, zstd or none)"),
            ));
        }
    })
}

/// The uncompressed size of a stored layer, cheaply: gzip's trailer (ISIZE, exact below
/// 4 GiB) or zstd's frame header. Falls back to the stored size where neither says.
/// Docker and Podman report image sizes uncompressed; decompressing every layer for a
/// listing would make `berth images` slow, and these fields are there for exactly this.
pub fn uncompressed_size(path: &Path, c: Compression, stored: u64) -> u64 {
    let probe = || -> io::Result<Option<u64>> {
        let mut f = File::open(path)?;
        match c {
            Compression::Gzip if stored >= 18 => {
                f.seek(SeekFrom::End(-4))?;
                let mut b = [0u8; 4];
                f.read_exact(&mut b)?;
                let isize = u32::from_le_bytes(b) as u64;
                // ISIZE is the size modulo 2^32; a layer bigger than that shows as stored.
                Ok((stored < (1u64 << 32)).then_some(isize))
            }
            Compression::Zstd => {
                let mut head = [0u8; 18];
                let n = f.read(&mut head)?;
                Ok(zstd::zstd_safe::get_frame_content_size(&head[..n])
                    .ok()
                    .flatten())
            }
            _ => Ok(Some(stored)),
        }
    };
    probe().ok().flatten().unwrap_or(stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn sniffs_and_sizes_gzip_and_zstd() {
        let data = vec![7u8; 100_000];
        let d = tempfile::tempdir().unwrap();
        let gz = d.path().join("l.gz");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&data).unwrap();
        let bytes = e.finish().unwrap();
        assert_eq!(Compression::sniff(&bytes), Compression::Gzip);
        std::fs::write(&gz, &bytes).unwrap();
        assert_eq!(
            uncompressed_size(&gz, Compression::Gzip, bytes.len() as u64),
            100_000
        );
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        assert_eq!(Compression::sniff(&zs), Compression::Zstd);
        let zp = d.path().join("l.zst");
        std::fs::write(&zp, &zs).unwrap();
        assert_eq!(
            uncompressed_size(&zp, Compression::Zstd, zs.len() as u64),
            100_000
        );
        let mut out = Vec::new();
        decoder(Compression::Zstd, &zs[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
        assert_eq!(Compression::sniff(b"BZh9"), Compression::Other("bzip2"));
        assert_eq!(
            Compression::from_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"),
            Compression::Gzip
        );
    }
}
