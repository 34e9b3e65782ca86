//! The offline default image: `berth image default` builds `busybox:latest` from the host's
//! static busybox (Debian's busybox-static), so a machine without any registry can run
//! `berth run --rm busybox echo hello`. Built entirely here (no umoci, no skopeo), and
//! reproducible: every timestamp is the binary's mtime, so the same binary always gives the
//! same image id, and running it again changes nothing.
//!
//! The image: the busybox binary (checked static: no `PT_INTERP`, [`crate::elf`]) with its
//! applet symlinks in `/bin`, a minimal `/etc/passwd` and `/etc/group`, `CMD ["sh"]`, one
//! uncompressed layer. It carries the label [`LABEL`] (`io.berth.image.default`) and never
//! replaces a `busybox:latest` it did not build, unless `--force`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;

use super::inventory::Inventory;
use super::oneshot::{LayerDesc, commit_image, oci_manifest};
use super::{ImageError, Result};
use crate::error::IoContext;
use crate::reference::Reference;
use crate::store::ImageStore;
use crate::store::layout::PlatformSpec;

/// The label that marks an image as built here, so a rebuild may replace it but never a
/// busybox someone pulled or loaded.
pub const LABEL: &str = "io.berth.image.default";

pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Where Debian's busybox-static installs the binary.
pub const HOST_BUSYBOX: &[&str] = &["/usr/bin/busybox", "/bin/busybox"];

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
";

const GROUP: &str = "root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:8:
www-data:x:33:
operator:x:37:
staff:x:50:
users:x:100:
nogroup:x:65534:
";

#[derive(Debug, Clone)]
pub struct DefaultOptions {
    /// The busybox binary (default: the host's).
    pub busybox: Option<PathBuf>,
    /// The name to store it under (default `busybox:latest`).
    pub tag: String,
    /// Replace an image of that name that berth did not build.
    pub force: bool,
}

impl Default for DefaultOptions {
    fn default() -> Self {
        DefaultOptions {
            busybox: None,
            tag: "busybox:latest".into(),
            force: false,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub id: String,
    pub name: String,
    /// False when the store already held exactly this image.
    pub changed: bool,
    pub busybox: PathBuf,
    pub applets: usize,
}

/// Builds the default image and names it.
pub fn build(store: &ImageStore, opts: &DefaultOptions) -> Result<Built> {
    let name = Reference::parse(&opts.tag)?.familiar();
    let bin = match &opts.busybox {
        Some(p) => p.clone(),
        None => HOST_BUSYBOX
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                ImageError::HostUnsupported(
                    "no busybox on this host: install Debian's busybox-static (apt-get install busybox-static), or give --busybox PATH".into(),
                )
            })?,
    };
    let md = fs::metadata(&bin).with_path("stat", &bin)?;
    check_static(&bin)?;
    let applets = applets(&bin)?;
    let mtime = md.mtime().max(0) as u64;
    let created = DateTime::<Utc>::from_timestamp(mtime as i64, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true);

    // Never replace someone's busybox (a pulled or loaded one) unless told to: checked before
    // anything is written.
    let inv = Inventory::load(store)?;
    if let Ok(existing) = inv.resolve(&name)
        && existing.name.is_some()
        && !opts.force
        && !existing.image.labels().contains_key(LABEL)
    {
        return Err(ImageError::Conflict(format!(
            "{name} already exists and was not built by berth (image {}); use --force to replace it, or --tag to choose another name",
            existing.image.short_id()
        )));
    }

    let _lease = store.lease()?;
    let mut w = store.blob_writer()?;
    let size = write_rootfs(&mut w, &bin, md.len(), mtime, &applets)?;
    let layer = w.commit(None, None)?;
    let platform = PlatformSpec::host();
    let config = json!({
        "architecture": platform.architecture,
        "os": "linux",
        "created": created,
        "config": {
            "Env": [PATH_ENV],
            "Cmd": ["sh"],
            "Labels": {LABEL: "true"},
        },
        "rootfs": {"type": "layers", "diff_ids": [layer]},
        "history": [{
            "created": created,
            "created_by": format!("berth image default: {} with {} applets", bin.display(), applets.len()),
        }, {
            "created": created,
            "created_by": "CMD [\"sh\"]",
            "empty_layer": true,
        }],
    });
    let config_bytes = serde_json::to_vec(&config).expect("json");
    let config_digest = store.put_blob(&config_bytes)?;
    let manifest = oci_manifest(
        &config_digest,
        config_bytes.len() as u64,
        &[LayerDesc {
            media_type: super::compress::Compression::None.oci_layer_type().into(),
            digest: layer,
            size,
        }],
    );

    let unchanged = Inventory::load(store)?
        .resolve(&name)
        .is_ok_and(|e| e.name.is_some() && e.image.id == config_digest);
    if unchanged {
        return Ok(Built {
            id: config_digest,
            name,
            changed: false,
            busybox: bin,
            applets: applets.len(),
        });
    }
    commit_image(store, &manifest, std::slice::from_ref(&name))?;
    Ok(Built {
        id: config_digest,
        name,
        changed: true,
        busybox: bin,
        applets: applets.len(),
    })
}

/// A dynamically linked busybox (Debian's `busybox` package) would find no libc inside the
/// image (`crate::elf`).
pub fn check_static(bin: &Path) -> Result<()> {
    let mut f = File::open(bin).with_path("open", bin)?;
    let not_static = |why: &str| {
        ImageError::HostUnsupported(format!(
            "{} {why}; the default image needs a static busybox (apt-get install busybox-static)",
            bin.display()
        ))
    };
    match crate::elf::linkage(&mut f).with_path("read", bin)? {
        crate::elf::Linkage::Static => Ok(()),
        crate::elf::Linkage::Dynamic => Err(not_static("is dynamically linked")),
        crate::elf::Linkage::NotElf => Err(not_static("is not an ELF executable")),
    }
}

/// The applets this busybox provides (`busybox --list`).
fn applets(bin: &Path) -> Result<Vec<String>> {
    let out = Command::new(bin)
        .arg("--list")
        .output()
        .with_path("run", bin)?;
    if !out.status.success() {
        return Err(ImageError::HostUnsupported(format!(
            "{} --list failed: {}",
            bin.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let mut list: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
        .map(str::to_string)
        .collect();
    list.sort();
    list.dedup();
    if !list.iter().any(|a| a == "sh") {
        return Err(ImageError::HostUnsupported(format!(
            "{} has no sh applet",
            bin.display()
        )));
    }
    Ok(list)
}

/// Writes the root filesystem tar; returns its size.
fn write_rootfs(
    out: &mut impl Write,
    bin: &Path,
    bin_size: u64,
    mtime: u64,
    applets: &[String],
) -> Result<u64> {
    let mut counter = Counter { inner: out, n: 0 };
    {
        let mut tar = tar::Builder::new(&mut counter);
        let header = |kind: tar::EntryType, mode: u32, size: u64| {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(kind);
            h.set_mode(mode);
            h.set_size(size);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(mtime);
            h
        };
        let err = |e: io::Error| {
            ImageError::Io(crate::error::IoError {
                op: "write layer",
                path: bin.to_path_buf(),
                source: e,
            })
        };
        for (dir, mode) in [
            ("bin/", 0o755),
            ("dev/", 0o755),
            ("etc/", 0o755),
            ("home/", 0o755),
            ("proc/", 0o555),
            ("root/", 0o700),
            ("sys/", 0o555),
            ("tmp/", 0o1777),
            ("usr/", 0o755),
            ("usr/sbin/", 0o755),
            ("var/", 0o755),
            ("var/spool/", 0o755),
            ("var/spool/mail/", 0o755),
            ("var/www/", 0o755),
        ] {
            let mut h = header(tar::EntryType::Directory, mode, 0);
            tar.append_data(&mut h, dir, io::empty()).map_err(err)?;
        }
        let f = File::open(bin).with_path("open", bin)?;
        let mut h = header(tar::EntryType::Regular, 0o755, bin_size);
        tar.append_data(&mut h, "bin/busybox", f.take(bin_size))
            .map_err(err)?;
        for a in applets {
            let mut h = header(tar::EntryType::Symlink, 0o777, 0);
            tar.append_link(&mut h, format!("bin/{a}"), "busybox")
                .map_err(err)?;
        }
        for (path, body) in [("etc/passwd", PASSWD), ("etc/group", GROUP)] {
            let mut h = header(tar::EntryType::Regular, 0o644, body.len() as u64);
            tar.append_data(&mut h, path, body.as_bytes())
                .map_err(err)?;
        }
        tar.finish().map_err(err)?;
    }
    Ok(counter.n)
}

struct Counter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for Counter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_busybox_is_static_and_a_shell() {
        let Some(bin) = HOST_BUSYBOX.iter().map(Path::new).find(|p| p.is_file()) else {
            return; // not installed: the e2e tests say so loudly
        };
        check_static(bin).unwrap();
        assert!(applets(bin).unwrap().contains(&"sh".to_string()));
        let e = check_static(Path::new("/bin/ls")).unwrap_err();
        assert!(e.to_string().contains("dynamically linked"), "{e}");
    }
}
