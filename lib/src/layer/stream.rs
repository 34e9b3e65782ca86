//! The uncompressed tar stream of a layer blob: decompressed (gzip, zstd or none), hashed for
//! the diff id and counted against the size limit on a thread of its own, and handed to the
//! extractor in large chunks. Decompression and hashing thus overlap with the file writes, as
//! `tar -xzf` overlaps gzip and tar in two processes.
//!
//! The hash covers every byte of the decompressed stream, including whatever follows the tar's
//! end-of-archive blocks, because that is what the diff id is defined over.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::digest::Hasher;

/// Bytes per chunk handed from the decoder to the extractor.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight; bounds the memory a layer takes to `CHUNK * (DEPTH + 2)`.
const DEPTH: usize = 8;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Decides from the blob's first bytes. Media types are not trusted for this: registries
    /// and tools mislabel layers, and the magic numbers are unambiguous. Other compressions
    /// (bzip2, xz) are refused with their name, so the error says what was found.
    pub fn sniff(head: &[u8]) -> Result<Compression, &'static str> {
        Ok(match head {
            [0x1f, 0x8b, ..] => Compression::Gzip,
            [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
            [b'B', b'Z', b'h', ..] => return Err("bzip2"),
            [0xfd, b'7', b'z', b'X', b'Z', 0, ..] => return Err("xz"),
            _ => Compression::None,
        })
    }
}

/// What went wrong in the decoder thread.
#[derive(Debug)]
pub enum StreamError {
    /// The compressed stream is corrupt.
    Corrupt(io::Error),
    /// The compressed stream ended early.
    Truncated(io::Error),
    /// More than `limit` bytes came out.
    TooLarge { limit: u64 },
    /// Reading the blob file failed.
    Read(io::Error),
    /// The extractor gave up first (its error is the one to report).
    Cancelled,
}

/// The decoder's result: the diff id and size of the uncompressed stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    pub diff_id: String,
    pub size: u64,
}

/// Starts decoding `blob` on its own thread. Read the tar from the returned reader; join the
/// handle for the digest (or the decoder's error, which explains an early end of the reader).
pub fn spawn(
    mut blob: File,
    limit: u64,
) -> io::Result<(ChunkReader, JoinHandle<Result<Decoded, StreamError>>)> {
    let mut head = [0u8; 6];
    let n = read_full(&mut blob, &mut head)?;
    let compression = Compression::sniff(&head[..n]).map_err(|name| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{name}-compressed layers are not supported (use gzip, zstd or none)"),
        )
    })?;
    let source = io::Cursor::new(head[..n].to_vec()).chain(blob);
    let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
    let (back_tx, back_rx) = sync_channel::<Vec<u8>>(DEPTH + 2);
    let cancel = Arc::new(AtomicBool::new(false));
    let cancelled = cancel.clone();
    let handle = std::thread::Builder::new()
        .name("layer-decode".into())
        .spawn(move || {
            let reader: Box<dyn Read> = match compression {
                Compression::None => Box::new(source),
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
                    BufReader::with_capacity(CHUNK, source),
                )),
                Compression::Zstd => match zstd::stream::read::Decoder::new(source) {
                    Ok(d) => Box::new(d),
                    Err(e) => return Err(StreamError::Corrupt(e)),
                },
            };
            pump(reader, compression, limit, tx, back_rx, &cancelled)
        })?;
    Ok((
        ChunkReader {
            rx,
            back: back_tx,
            cur: Vec::new(),
            pos: 0,
            cancel,
            finished: false,
        },
        handle,
    ))
}

fn pump(
    mut reader: Box<dyn Read>,
    compression: Compression,
    limit: u64,
    tx: SyncSender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
    cancel: &AtomicBool,
) -> Result<Decoded, StreamError> {
    let mut hasher = Hasher::new();
    let mut spare = vec![0u8; CHUNK];
    let mut listening = true;
    loop {
        let mut buf = if listening {
            recycled.try_recv().unwrap_or_else(|_| vec![0u8; CHUNK])
        } else {
            std::mem::take(&mut spare)
        };
        buf.resize(CHUNK, 0);
        if cancel.load(Ordering::Relaxed) {
            return Err(StreamError::Cancelled);
        }
        let n = read_full(&mut reader, &mut buf).map_err(|e| classify(e, compression))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        if hasher.len() > limit {
            return Err(StreamError::TooLarge { limit });
        }
        buf.truncate(n);
        if listening {
            // The extractor stops reading at the tar's end; the rest is only hashed.
            if let Err(e) = tx.send(buf) {
                listening = false;
                spare = e.0;
            }
        } else {
            spare = buf;
        }
    }
    Ok(Decoded {
        diff_id: hasher.digest(),
        size: hasher.len(),
    })
}

fn classify(e: io::Error, compression: Compression) -> StreamError {
    match (e.kind(), compression) {
        (io::ErrorKind::UnexpectedEof, _) => StreamError::Truncated(e),
        (_, Compression::None) => StreamError::Read(e),
        _ => StreamError::Corrupt(e),
    }
}

/// Reads until `buf` is full or the input ends.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The extractor's end of the pipe. It reports end-of-file when the decoder stops, whether it
/// finished or failed; the decoder's result says which. Dropping it without [`finish`]
/// (an extraction error) stops the decoder early.
///
/// [`finish`]: ChunkReader::finish
pub struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    back: SyncSender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    cancel: Arc<AtomicBool>,
    finished: bool,
}

impl ChunkReader {
    /// The tar ended normally: let the decoder hash the rest of the stream.
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for ChunkReader {
    fn drop(&mut self) {
        if !self.finished {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(next) => {
                    let old = std::mem::replace(&mut self.cur, next);
                    let _ = self.back.try_send(old);
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn blob(bytes: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let h = File::open(f.path()).unwrap();
        (f, h)
    }

    fn decode(bytes: &[u8], limit: u64) -> (Vec<u8>, Result<Decoded, StreamError>) {
        let (_keep, f) = blob(bytes);
        let (mut r, h) = spawn(f, limit).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        r.finish();
        (out, h.join().unwrap())
    }

    #[test]
    fn gzip_zstd_and_plain_decode_to_the_same_digest() {
        let data: Vec<u8> = (0..1_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let want = crate::digest::sha256(&data);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let gz = gz.finish().unwrap();
        let zs = zstd::encode_all(&data[..], 1).unwrap();
        for input in [&data[..], &gz[..], &zs[..]] {
            let (out, r) = decode(input, u64::MAX);
            assert_eq!(out, data);
            assert_eq!(r.unwrap().diff_id, want);
        }
        // Truncated and corrupt streams are told apart.
        let (_, r) = decode(&gz[..gz.len() / 2], u64::MAX);
        assert!(matches!(r, Err(StreamError::Truncated(_))), "{r:?}");
        let mut bad = gz.clone();
        for b in &mut bad[100..200] {
            *b ^= 0x55;
        }
        let (_, r) = decode(&bad, u64::MAX);
        assert!(matches!(r, Err(StreamError::Corrupt(_))), "{r:?}");
        // The limit stops a bomb.
        let (_, r) = decode(&gz, 1000);
        assert!(matches!(r, Err(StreamError::TooLarge { limit: 1000 })));
        assert_eq!(Compression::sniff(b"BZh91"), Err("bzip2"));
    }
}
