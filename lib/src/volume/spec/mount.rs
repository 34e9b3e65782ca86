//! `--mount`: docker/cli `opts/mount.go`'s one CSV record of `key=value` fields, checked
//! against the mount's type.

use std::path::PathBuf;

use super::{
    ORIGIN_MOUNT, Request, RequestKind, bad, clean_destination, destination, parse_mode,
    valid_volume_name,
};
use crate::volume::{Result, VolumeError};

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Splits one CSV record (docker/cli reads `--mount` with encoding/csv, so a field holding a
/// comma can be quoted).
fn csv_fields(raw: &str) -> Result<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(raw.as_bytes());
    let mut rec = csv::StringRecord::new();
    match reader.read_record(&mut rec) {
        Ok(true) => Ok(rec.iter().map(str::to_string).collect()),
        Ok(false) => Ok(vec![]),
        Err(e) => Err(bad(format!("invalid --mount {raw:?}: {e}"))),
    }
}

/// `--mount type=bind|volume|tmpfs,src=...,dst=...,readonly,...`.
pub fn parse_mount(raw: &str) -> Result<Request> {
    let f = MountFields::parse(raw)?;
    if f.target.is_empty() {
        return Err(f.invalid("target is required (dst=/path)".into()));
    }
    let destination = destination(raw, "--mount", &f.target)?;
    let rw = !f.readonly;
    let (kind, mode, propagation) = match f.typ.as_str() {
        "bind" => f.bind()?,
        "volume" => f.volume()?,
        "tmpfs" => f.tmpfs()?,
        t => {
            return Err(VolumeError::Unsupported(format!(
                "--mount type={t} is not supported (use bind, volume or tmpfs)"
            )));
        }
    };
    Ok(Request {
        kind,
        destination,
        rw,
        mode,
        propagation,
        origin: ORIGIN_MOUNT,
        spec: raw.to_string(),
    })
}

/// The fields of one `--mount` value, before its type decides what they make.
struct MountFields<'a> {
    raw: &'a str,
    typ: String,
    source: String,
    target: String,
    readonly: bool,
    propagation: Option<String>,
    recursive: bool,
    nocopy: bool,
    labels: Vec<(String, String)>,
    tmpfs_size: Option<u64>,
    tmpfs_mode: Option<u32>,
    /// Which type-specific options were given, to refuse those that do not belong to the type.
    bind_opts: bool,
    vol_opts: bool,
    tmpfs_opts: bool,
}

/// What a mount type makes: the request, its mode and its propagation.
type Made = (RequestKind, String, String);

impl<'a> MountFields<'a> {
    fn parse(raw: &'a str) -> Result<MountFields<'a>> {
        let mut f = MountFields {
            raw,
            typ: "volume".into(),
            source: String::new(),
            target: String::new(),
            readonly: false,
            propagation: None,
            recursive: true,
            nocopy: false,
            labels: Vec::new(),
            tmpfs_size: None,
            tmpfs_mode: None,
            bind_opts: false,
            vol_opts: false,
            tmpfs_opts: false,
        };
        let fields = csv_fields(raw)?;
        if fields.iter().all(|f| f.trim().is_empty()) {
            return Err(f.invalid("empty value".into()));
        }
        for field in &fields {
            let (key, value) = match field.split_once('=') {
                Some((k, v)) => (k.trim().to_lowercase(), Some(v.to_string())),
                None => (field.trim().to_lowercase(), None),
            };
            f.field(&key, value)?;
        }
        Ok(f)
    }

    fn invalid(&self, why: String) -> VolumeError {
        bad(format!("invalid --mount {:?}: {why}", self.raw))
    }

    /// Reads one `key[=value]` field.
    fn field(&mut self, key: &str, value: Option<String>) -> Result<()> {
        let flag = |v: &Option<String>| -> Result<bool> {
            match v {
                None => Ok(true),
                Some(v) => parse_bool(v)
                    .ok_or_else(|| self.invalid(format!("invalid value for {key}: {v:?}"))),
            }
        };
        let need = || -> Result<String> {
            value.clone().ok_or_else(|| {
                self.invalid(format!("invalid field {key:?} must be a key=value pair"))
            })
        };
        match key {
            "type" => self.typ = need()?.to_lowercase(),
            "source" | "src" => self.source = need()?,
            "target" | "dst" | "destination" => self.target = need()?,
            "readonly" | "ro" => self.readonly = flag(&value)?,
            "consistency" => {
                let v = need()?;
                if !["default", "consistent", "cached", "delegated"].contains(&v.as_str()) {
                    return Err(self.invalid(format!("invalid consistency {v:?}")));
                }
            }
            "bind-propagation" => {
                let v = need()?;
                if parse_mode(&v).and_then(|m| m.propagation).is_none() {
                    return Err(self.invalid(format!("invalid bind-propagation {v:?}")));
                }
                self.bind_opts = true;
                self.propagation = Some(v);
            }
            "bind-nonrecursive" => {
                self.recursive = !flag(&value)?;
                self.bind_opts = true;
            }
            "bind-recursive" => {
                self.recursive = match need()?.as_str() {
                    "enabled" => true,
                    "disabled" => false,
                    v => {
                        return Err(self.invalid(format!(
                            "bind-recursive={v} is not supported (use enabled or disabled)"
                        )));
                    }
                };
                self.bind_opts = true;
            }
            "volume-nocopy" => {
                self.nocopy = flag(&value)?;
                self.vol_opts = true;
            }
            "volume-label" => {
                let v = need()?;
                let (k, v) = v.split_once('=').unwrap_or((&v, ""));
                self.labels.push((k.to_string(), v.to_string()));
                self.vol_opts = true;
            }
            "volume-driver" => {
                let v = need()?;
                if v != "local" {
                    return Err(VolumeError::Unsupported(format!(
                        "volume driver {v:?} is not supported (berth has the local driver only)"
                    )));
                }
                self.vol_opts = true;
            }
            "volume-opt" | "volume-subpath" => {
                return Err(VolumeError::Unsupported(format!(
                    "--mount {key} is not supported by berth's local volumes"
                )));
            }
            "tmpfs-size" => {
                let v = need()?;
                self.tmpfs_size = Some(
                    crate::units::size::parse(&v)
                        .ok_or_else(|| self.invalid(format!("invalid tmpfs-size {v:?}")))?,
                );
                self.tmpfs_opts = true;
            }
            "tmpfs-mode" => {
                let v = need()?;
                self.tmpfs_mode = Some(
                    u32::from_str_radix(&v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| self.invalid(format!("invalid tmpfs-mode {v:?} (octal)")))?,
                );
                self.tmpfs_opts = true;
            }
            _ => return Err(self.invalid(format!("unexpected key {key:?}"))),
        }
        Ok(())
    }

    /// Refuses the options of the other two types.
    fn only(&self, bind: bool, vol: bool, tmpfs: bool) -> Result<()> {
        for (given, allowed, opts) in [
            (self.bind_opts, bind, "bind-*"),
            (self.vol_opts, vol, "volume-*"),
            (self.tmpfs_opts, tmpfs, "tmpfs-*"),
        ] {
            if given && !allowed {
                return Err(self.invalid(format!(
                    "{opts} options do not apply to type={} mounts",
                    self.typ
                )));
            }
        }
        Ok(())
    }

    fn bind(self) -> Result<Made> {
        self.only(true, false, false)?;
        if self.source.is_empty() {
            return Err(self.invalid("type=bind needs a source (src=/host/path)".into()));
        }
        // The Docker CLI makes `./PATH` and `.` absolute against the current directory; any
        // other relative source is refused.
        let source = if self.source.starts_with("./") || self.source == "." {
            super::from_cwd(&self.source)?
        } else if self.source.starts_with('/') {
            self.source
        } else {
            return Err(VolumeError::RelativeHostPath {
                spec: self.raw.to_string(),
                path: self.source,
            });
        };
        let source = PathBuf::from(clean_destination(&source).unwrap_or(source));
        Ok((
            RequestKind::Bind {
                source,
                create_missing: false,
                recursive: self.recursive,
            },
            String::new(),
            self.propagation.unwrap_or_else(|| "rprivate".into()),
        ))
    }

    fn volume(self) -> Result<Made> {
        self.only(false, true, false)?;
        let copy = !self.nocopy;
        let kind = if self.source.is_empty() {
            RequestKind::Anonymous {
                copy,
                labels: self.labels,
            }
        } else if valid_volume_name(&self.source) {
            RequestKind::Named {
                name: self.source,
                copy,
                labels: self.labels,
            }
        } else if self.source.contains('/') || self.source.starts_with('.') {
            return Err(self.invalid(format!(
                "{:?} is not a volume name (for a host path use type=bind)",
                self.source
            )));
        } else {
            return Err(VolumeError::InvalidName(self.source));
        };
        Ok((kind, "z".to_string(), String::new()))
    }

    fn tmpfs(self) -> Result<Made> {
        self.only(false, false, true)?;
        if !self.source.is_empty() {
            return Err(self.invalid("type=tmpfs takes no source".into()));
        }
        let mut options = Vec::new();
        if let Some(s) = self.tmpfs_size {
            options.push(format!("size={s}"));
        }
        if let Some(m) = self.tmpfs_mode {
            options.push(format!("mode={m:o}"));
        }
        Ok((RequestKind::Tmpfs { options }, String::new(), String::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::code;
    use super::*;
    use crate::error::Code;

    #[test]
    fn mount_forms() {
        let r = parse_mount("type=bind,src=/srv,dst=/data,readonly").unwrap();
        assert!(matches!(
            r.kind,
            RequestKind::Bind {
                create_missing: false,
                ..
            }
        ));
        assert_eq!(
            (r.rw, r.mode.as_str(), r.propagation.as_str()),
            (false, "", "rprivate")
        );
        let r = parse_mount("type=volume,source=db,target=/var/lib/db,volume-nocopy").unwrap();
        assert!(matches!(&r.kind, RequestKind::Named { name, copy: false, .. } if name == "db"));
        assert_eq!(r.mode, "z");
        let r = parse_mount("dst=/cache").unwrap();
        assert!(matches!(r.kind, RequestKind::Anonymous { .. }));
        let r = parse_mount("type=tmpfs,dst=/run,tmpfs-size=64m,tmpfs-mode=1770").unwrap();
        assert_eq!(
            r.kind,
            RequestKind::Tmpfs {
                options: vec!["size=67108864".into(), "mode=1770".into()]
            }
        );
        let r = parse_mount("type=bind,\"src=/a,b\",dst=/x,ro=false").unwrap();
        assert!(
            matches!(&r.kind, RequestKind::Bind { source, .. } if source == std::path::Path::new("/a,b"))
        );
        assert!(r.rw);
        // `./PATH` and `.` are made absolute against the current directory (docker/cli).
        let cwd = std::env::current_dir().unwrap();
        for (spec, want) in [
            ("type=bind,src=./d/e,dst=/x", cwd.join("d/e")),
            ("type=bind,src=.,dst=/x", cwd.clone()),
        ] {
            let r = parse_mount(spec).unwrap();
            assert!(
                matches!(&r.kind, RequestKind::Bind { source, .. } if *source == want),
                "{spec}: {r:?}"
            );
        }
        for bad in [
            "type=bind,src=rel,dst=/x",
            "type=bind,src=../up,dst=/x",
            "type=bind,dst=/x",
            "type=volume,src=/abs,dst=/x",
            "type=tmpfs,src=x,dst=/x",
            "type=bind,src=/a,dst=/x,volume-nocopy",
            "type=volume,dst=/x,bind-propagation=rshared",
            "src=v1",
            "type=volume,src=v1,dst=/x,bogus=1",
            "type=volume,src=v1,dst=/x,readonly=maybe",
            "type=volume,src=v1,dst=x",
        ] {
            assert_eq!(code(parse_mount(bad)), Code::BAD_ARGS, "{bad}");
        }
        assert_eq!(code(parse_mount("type=npipe,dst=/x")), Code::UNSUPPORTED);
    }
}
