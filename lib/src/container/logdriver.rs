//! `--log-driver` and `--log-opt`: Docker's checks of the options per driver (moby's
//! `ValidateLogOpt`s, in their words), what the monitor is told ([`sink`]: it parses no
//! option), and the local driver's compression of rotated files ([`compress_rotated`]).
//!
//! Drivers: `json-file` (berth's default), `local` (berth's own on-disk format: json-file's
//! lines in the same file, with Docker's local defaults: max-size 20m, max-file 5, compress
//! true, rotated files gzipped to `.N.gz`), `none`, `syslog` (the host's `/dev/log`, or
//! `syslog-address`), `journald` (`/run/systemd/journal/socket`). `logs` reads json-file and
//! local only, as Docker reads neither none nor syslog.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_monitor_proto::args::LogSink;

use super::ContainerError;
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::Record;

/// The drivers berth has.
pub const DRIVERS: &[&str] = &["json-file", "local", "none", "syslog", "journald"];

/// The host's syslog socket, and systemd-journald's.
pub const SYSLOG_SOCKET: &str = "/dev/log";
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// Options every driver but none accepts (moby's common attributes).
const COMMON: &[&str] = &[
    "tag",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "mode",
    "max-buffer-size",
];

fn bad(m: impl Into<String>) -> Error {
    ContainerError::BadArgs(m.into()).into()
}

/// Whether `logs` can read what `driver` keeps.
pub fn readable(driver: &str) -> bool {
    matches!(driver, "" | "json-file" | "local")
}

/// Docker's checks of `--log-opt` for `driver` (empty: json-file), and of the host socket a
/// driver needs.
pub fn validate(driver: &str, opts: &BTreeMap<String, String>) -> Result<(), Error> {
    let driver = if driver.is_empty() {
        "json-file"
    } else {
        driver
    };
    let own: &[&str] = match driver {
        "json-file" => &["max-size", "max-file", "compress"],
        "local" => &["max-size", "max-file", "compress"],
        "syslog" => &[
            "syslog-address",
            "syslog-facility",
            "syslog-format",
            "syslog-tls-ca-cert",
            "syslog-tls-cert",
            "syslog-tls-key",
            "syslog-tls-skip-verify",
        ],
        "journald" => &[],
        "none" => return Ok(()),
        other => {
            return Err(bad(format!(
                "logger: no log driver named '{other}' is registered"
            )));
        }
    };
    for k in opts.keys() {
        if !own.contains(&k.as_str()) && !COMMON.contains(&k.as_str()) {
            return Err(bad(format!(
                "unknown log opt '{k}' for {driver} log driver"
            )));
        }
    }
    mode(opts)?;
    for key in ["labels-regex", "env-regex"] {
        if let Some(v) = opts.get(key) {
            regex::Regex::new(v).map_err(|e| bad(format!("invalid {key} {v:?}: {e}")))?;
        }
    }
    if let Some(v) = opts.get("max-size") {
        crate::units::size::parse_limit(v)
            .ok_or_else(|| bad(format!("invalid max-size {v:?}: use a size such as 10m")))?;
    }
    if let Some(v) = opts.get("max-file") {
        v.parse::<u32>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| bad(format!("invalid max-file {v:?}: must be a number >= 1")))?;
    }
    if let Some(v) = opts.get("compress") {
        v.parse::<bool>().map_err(|_| {
            bad(format!(
                "error reading compress log option: strconv.ParseBool: parsing {v:?}: invalid syntax"
            ))
        })?;
    }
    match driver {
        "syslog" => {
            if opts.keys().any(|k| k.starts_with("syslog-tls")) {
                return Err(bad(
                    "syslog over TLS (syslog-tls-*, tcp+tls://) is not supported by berth: use udp, tcp or a unix socket",
                ));
            }
            syslog_address(opts.get("syslog-address").map(String::as_str))?;
            facility(opts.get("syslog-facility").map(String::as_str))?;
            match opts.get("syslog-format").map(String::as_str) {
                None | Some("" | "rfc3164" | "rfc5424" | "rfc5424micro") => {}
                Some(_) => return Err(bad("Invalid syslog format")),
            }
        }
        "journald" if !Path::new(JOURNAL_SOCKET).exists() => {
            return Err(bad(format!(
                "--log-driver journald needs systemd-journald's socket {JOURNAL_SOCKET}, which does not exist (use --log-driver json-file)"
            )));
        }
        _ => {}
    }
    Ok(())
}

/// moby's `parseAddress`: the monitor's form (`unixgram:PATH`, `unix:PATH`, `udp:HOST:PORT`,
/// `tcp:HOST:PORT`; `local:/dev/log` for the host's socket).
fn syslog_address(address: Option<&str>) -> Result<String, Error> {
    let Some(a) = address.filter(|a| !a.is_empty()) else {
        if !Path::new(SYSLOG_SOCKET).exists() {
            return Err(bad(format!(
                "--log-driver syslog needs the host's syslog socket {SYSLOG_SOCKET}, which does not exist (start a syslog daemon, give --log-opt syslog-address=unixgram:///PATH|udp://HOST:PORT, or use --log-driver json-file)"
            )));
        }
        return Ok(format!("local:{SYSLOG_SOCKET}"));
    };
    let (scheme, rest) = a.split_once("://").ok_or_else(|| {
        bad(format!(
            "unsupported scheme: '{}'",
            a.split(':').next().unwrap_or("")
        ))
    })?;
    match scheme {
        "unix" | "unixgram" => {
            std::fs::metadata(rest).map_err(|e| bad(format!("stat {rest}: {e}")))?;
            Ok(format!("{scheme}:{rest}"))
        }
        "udp" | "tcp" => {
            let host = rest.trim_end_matches('/');
            let has_port = match host.rsplit_once(':') {
                Some((h, p)) => {
                    !h.ends_with(':')
                        && p.parse::<u16>().is_ok()
                        && (!h.contains(':') || h.ends_with(']'))
                }
                None => false,
            };
            Ok(if has_port {
                format!("{scheme}:{host}")
            } else {
                format!("{scheme}:{host}:514")
            })
        }
        other => Err(bad(format!("unsupported scheme: '{other}'"))),
    }
}

/// moby's `parseFacility`: a name or 0..=23; daemon (3) by default.
fn facility(f: Option<&str>) -> Result<u32, Error> {
    const NAMES: &[&str] = &[
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
        "authpriv", "ftp", "", "", "", "", "local0", "local1", "local2", "local3", "local4",
        "local5", "local6", "local7",
    ];
    match f {
        None | Some("") => Ok(3),
        Some(name) => NAMES
            .iter()
            .position(|n| !n.is_empty() && *n == name)
            .map(|i| i as u32)
            .or_else(|| name.parse::<u32>().ok().filter(|n| *n <= 23))
            .ok_or_else(|| bad("invalid syslog facility")),
    }
}

/// Docker's `tag` template (default `{{.ID}}`): the fields of moby's logger.Info.
fn tag(template: Option<&str>, r: &Record) -> String {
    let image = r.image.as_ref();
    let image_id = image
        .map(|i| i.id.trim_start_matches("sha256:"))
        .unwrap_or("");
    let pairs = [
        ("{{.ID}}", r.id.get(..12).unwrap_or(&r.id)),
        ("{{.FullID}}", r.id.as_str()),
        ("{{.Name}}", r.name.trim_start_matches('/')),
        (
            "{{.ImageName}}",
            image.map(|i| i.reference.as_str()).unwrap_or(""),
        ),
        ("{{.ImageID}}", image_id.get(..12).unwrap_or(image_id)),
        ("{{.ImageFullID}}", image_id),
        ("{{.DaemonName}}", "berth"),
    ];
    let mut out = template.unwrap_or("{{.ID}}").to_string();
    for (k, v) in pairs {
        out = out.replace(k, v);
    }
    out
}

/// moby's `mode` and `max-buffer-size`, checked in its words. The monitor never blocks the
/// container on a file driver (it drains the pipes in its poll loop and appends), so
/// `non-blocking` changes nothing there.
fn mode(opts: &BTreeMap<String, String>) -> Result<(), Error> {
    let mode = opts.get("mode").map(String::as_str).unwrap_or("");
    if !matches!(mode, "" | "blocking" | "non-blocking") {
        return Err(bad(format!("logger: logging mode not supported: {mode}")));
    }
    if let Some(v) = opts.get("max-buffer-size") {
        if mode != "non-blocking" {
            return Err(bad(
                "logger: max-buffer-size option is only supported with 'mode=non-blocking'",
            ));
        }
        crate::units::size::parse_limit(v).ok_or_else(|| {
            bad(format!(
                "invalid max-buffer-size {v:?}: use a size such as 4m"
            ))
        })?;
    }
    Ok(())
}

/// moby's extra attributes (`--log-opt labels=`, `labels-regex=`, `env=`, `env-regex=`): the
/// container's labels and environment variables named (or matched), which json-file and
/// local write into every line's `attrs` and `logs --details` shows. A JSON object with its
/// keys sorted, as Go writes a map; empty when none is asked for or none is set.
pub fn attrs(r: &Record) -> String {
    let Some(opts) = r.process.as_ref().map(|p| &p.log_opts) else {
        return String::new();
    };
    let config = r.bundle.as_ref().map(|b| &b.config);
    let mut out = BTreeMap::new();
    let labels = config.map(|c| c.labels.clone()).unwrap_or_default();
    let env: BTreeMap<String, String> = config
        .map(|c| c.env.as_slice())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (names, pattern, values) in [
        ("labels", "labels-regex", &labels),
        ("env", "env-regex", &env),
    ] {
        for name in opts.get(names).map(String::as_str).unwrap_or("").split(',') {
            if let Some(v) = values.get(name) {
                out.insert(name.to_string(), v.clone());
            }
        }
        if let Some(re) = opts.get(pattern).and_then(|p| regex::Regex::new(p).ok()) {
            for (k, v) in values.iter().filter(|(k, _)| re.is_match(k)) {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    if out.is_empty() {
        return String::new();
    }
    serde_json::to_string(&out).unwrap_or_default()
}

/// What the monitor of `r` is told about its log driver (checked at create already).
pub fn sink(r: &Record) -> Result<LogSink, Error> {
    let p = r.process.clone().unwrap_or_default();
    let opts = &p.log_opts;
    let mut s = LogSink {
        driver: p.log_driver.clone(),
        ..Default::default()
    };
    match p.log_driver.as_str() {
        "syslog" => {
            s.address = syslog_address(opts.get("syslog-address").map(String::as_str))?;
            s.facility = facility(opts.get("syslog-facility").map(String::as_str))?;
            s.format = opts.get("syslog-format").cloned().unwrap_or_default();
        }
        "journald" => {
            s.address = JOURNAL_SOCKET.into();
            s.name = r.name.trim_start_matches('/').to_string();
            s.image = r
                .image
                .as_ref()
                .map(|i| i.reference.clone())
                .unwrap_or_default();
        }
        "local" => {
            s.compress = opts.get("compress").is_none_or(|v| v == "true");
            s.attrs = attrs(r);
        }
        _ => {
            s.attrs = attrs(r);
            return Ok(s);
        }
    }
    s.tag = tag(opts.get("tag").map(String::as_str), r);
    Ok(s)
}

/// The max-size and max-file defaults of `driver` (Docker's local: 20m and 5; berth's
/// json-file: 10m and 3).
pub fn defaults(driver: &str) -> (&'static str, u32) {
    if driver == "local" {
        ("20m", 5)
    } else {
        ("10m", 3)
    }
}

/// The local driver's compress: every rotated file of `id`'s log not yet compressed
/// (`<log>.N`) becomes `<log>.N.gz`, written aside and renamed, then the plain one removed.
pub fn compress_rotated(paths: &Paths, id: &str) -> Result<(), Error> {
    use std::io::Write;
    let log = paths.log(id);
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else {
        return Ok(());
    };
    let prefix = format!("{}.", name.to_string_lossy());
    let rotated: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix)
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .map(|e| e.path())
        .collect();
    for plain in rotated {
        let Ok(data) = std::fs::read(&plain) else {
            continue;
        };
        let mut gz = plain.clone().into_os_string();
        gz.push(".gz");
        crate::store::atomic::write_with(Path::new(&gz), crate::store::private::LOG, |f| {
            let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::default());
            e.write_all(&data)?;
            e.finish().map(drop)
        })?;
        let _ = std::fs::remove_file(&plain);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn attrs_are_the_named_and_matched_labels_and_env_sorted() {
        let mut r = Record::default();
        let mut b = crate::protocol::BundleSection::default();
        b.config.labels = opts(&[("team", "a"), ("zone", "z"), ("x", "<")]);
        b.config.env = vec!["PATH=/bin".into(), "STAGE=prod=1".into()];
        r.bundle = Some(b);
        let mut p = crate::protocol::ProcessSection::default();
        r.process = Some(p.clone());
        assert_eq!(attrs(&r), "");
        p.log_opts = opts(&[("labels", "zone,nope,team"), ("env-regex", "^ST")]);
        r.process = Some(p);
        assert_eq!(attrs(&r), r#"{"STAGE":"prod=1","team":"a","zone":"z"}"#);
    }

    #[test]
    fn options_are_checked_per_driver_in_dockers_words() {
        let e = |d: &str, kv: &[(&str, &str)]| validate(d, &opts(kv)).unwrap_err().one_line();
        assert_eq!(
            e("local", &[("syslog-address", "udp://x")]),
            "unknown log opt 'syslog-address' for local log driver"
        );
        assert_eq!(
            e("nosuch", &[]),
            "logger: no log driver named 'nosuch' is registered"
        );
        assert_eq!(
            e(
                "syslog",
                &[("syslog-address", "udp://1.2.3.4"), ("syslog-format", "x")]
            ),
            "Invalid syslog format"
        );
        assert_eq!(
            e("syslog", &[("syslog-address", "http://x")]),
            "unsupported scheme: 'http'"
        );
        assert!(validate("none", &opts(&[("anything", "1")])).is_ok());
        assert!(validate("local", &opts(&[("max-size", "1k"), ("compress", "false")])).is_ok());
        assert_eq!(
            syslog_address(Some("udp://127.0.0.1")).unwrap(),
            "udp:127.0.0.1:514"
        );
        assert_eq!(
            syslog_address(Some("tcp://[::1]:600")).unwrap(),
            "tcp:[::1]:600"
        );
        assert_eq!(facility(Some("local0")).unwrap(), 16);
        assert_eq!(facility(Some("23")).unwrap(), 23);
        assert!(facility(Some("24")).is_err());
    }
}
