//! `ADD https://...`: the file downloaded once per build into a private directory, then
//! copied as any source is. As BuildKit's HTTP source: the name is the URL path's last
//! component (`__unnamed__` if it has none), the mode 0600 (`--chmod` changes it), the mtime
//! the response's `Last-Modified` (else the Unix epoch), and `--checksum=sha256:...` is
//! verified. The content's digest is part of the step's cache key.

use std::collections::BTreeMap;
use std::io::Write;

use super::steps::TmpDir;
use crate::error::{Code, Error, Result};
use crate::paths::Paths;

/// Whether an ADD source is a URL.
pub fn is_url(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// A downloaded file: its path under the downloads directory and its content digest.
#[derive(Clone)]
pub(super) struct Fetched {
    pub(super) rel: String,
    pub(super) digest: String,
}

/// The build's downloads, by URL.
#[derive(Default)]
pub(super) struct Downloads {
    dir: Option<TmpDir>,
    got: BTreeMap<String, Fetched>,
}

impl Downloads {
    /// The directory the downloads are in.
    pub(super) fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// `url`, downloaded if it was not already, checked against `checksum` if given.
    pub(super) fn get(
        &mut self,
        paths: &Paths,
        url: &str,
        checksum: Option<&str>,
    ) -> Result<Fetched> {
        let f = match self.got.get(url) {
            Some(f) => f.clone(),
            None => {
                if self.dir.is_none() {
                    self.dir = Some(TmpDir::new(paths, "add")?);
                }
                let dir = self.dir.as_ref().expect("made").path();
                let sub = self.got.len().to_string();
                std::fs::create_dir(dir.join(&sub))
                    .map_err(|e| Error::new(Code::IO, format!("{}: {e}", dir.display())))?;
                let rel = format!("{sub}/{}", file_name(url));
                let digest = download(url, &dir.join(&rel))?;
                let f = Fetched { rel, digest };
                self.got.insert(url.to_string(), f.clone());
                f
            }
        };
        if let Some(want) = checksum
            && want != f.digest
        {
            return Err(Error::new(
                Code::DIGEST_MISMATCH,
                format!("digest mismatch {want}: {}", f.digest),
            ));
        }
        Ok(f)
    }
}

/// The name BuildKit gives a URL's file: its path's last component.
pub fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .split_once('/')
        .map_or("", |(_, p)| p);
    match path.rsplit('/').next() {
        Some(n) if !n.is_empty() && n != "." && n != ".." => n.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// Downloads `url` into the new file `to` (mode 0600, mtime from `Last-Modified`); returns
/// its `sha256:` digest.
fn download(url: &str, to: &std::path::Path) -> Result<String> {
    let fail = |m: String| Error::new(Code::IO, format!("ADD {url}: {m}"));
    let agent = crate::registry::transport::agent(ureq::tls::TlsConfig::builder().build());
    let resp = agent.get(url).call().map_err(|e| fail(e.to_string()))?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(fail(format!("invalid response status {status}")));
    }
    let mtime = resp
        .headers()
        .get("last-modified")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
        .map_or(0, |t| t.timestamp());
    let mut body = resp.into_body().into_reader();
    let file = {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(|e| fail(e.to_string()))?
    };
    let mut w = crate::digest::HashingWriter::new(std::io::BufWriter::new(file));
    std::io::copy(&mut body, &mut w).map_err(|e| fail(e.to_string()))?;
    w.flush().map_err(|e| fail(e.to_string()))?;
    let digest = w.hasher().digest();
    drop(w);
    let t = filetime_of(mtime);
    rustix::fs::utimensat(
        rustix::fs::CWD,
        to,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::empty(),
    )
    .map_err(|e| fail(e.to_string()))?;
    Ok(digest)
}

fn filetime_of(secs: i64) -> rustix::fs::Timespec {
    rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_buildkit() {
        assert_eq!(file_name("https://h/a/b/tool.tgz?x=1"), "tool.tgz");
        assert_eq!(file_name("http://h:8080/f"), "f");
        assert_eq!(file_name("http://h/"), "__unnamed__");
        assert_eq!(file_name("http://h"), "__unnamed__");
        assert_eq!(file_name("http://h/dir/"), "__unnamed__");
        assert!(is_url("HTTPS://x/y") && !is_url("file.txt"));
    }
}
