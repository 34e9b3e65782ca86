//! The pipeline protocol: the container record that flows through the stages.
//!
//! ```text
//! berth-pull busybox | berth-unpack - --name web | berth-netns - -p 8080:80 | berth-vol - -v data:/data | berth-spawn start -d -
//! ```
//!
//! Each stage reads one JSON document (the record), adds its own section, saves the record
//! atomically under `<root>/containers/<id>/record.json` (from unpack on, when there is an id)
//! and prints it. Every document carries `"berth": PROTOCOL_VERSION`. Sections a stage does not
//! know are kept verbatim (`other`), so an older stage passes a newer stage's work on intact.
//!
//! An error is a document of its own: `{"berth":1,"error":{"code":N,"message":"..."}}`. A stage
//! that reads one stops and passes it on unchanged (see [`read_record`]).
//!
//! Each section's type lives in its own file and belongs to the stage that writes it:
//! `image` (pull), `bundle` (unpack), `network` (netns), `mounts` (vol), `process` and `state`
//! (spawn).
//!
//! The views (berth-ps, `inspect`) read only the record and what it points at, so a stage must
//! write what they show:
//!
//! - spawn and the monitor: `state` (pid and `pid_start`, `monitor_pid` and `monitor_start`,
//!   `started_at`, `finished_at`, `exit_code`, `restart_count`), `process.cgroup_path`
//!   (relative to each hierarchy's root; without it `top` and `stats` fall back to the init's
//!   `/proc/PID/cgroup`), and the json-file log at `Paths::log(id)`, one
//!   `{"log","stream","time"}` line per write (RFC 3339 UTC with nanoseconds), rotated by
//!   renaming to `.1` (newest) ... `.N`. The last log lines are written before the exit is
//!   recorded: `logs -f` stops when the state says stopped, after one final read.
//! - unpack: `bundle.config` (Docker's `.Config`), `bundle.rootfs` and `bundle.layers`; `ps -s`
//!   finds the writable layer as the overlay's `upperdir`, else `<bundle>/upper` or `diff`.
//! - netns: `network` (mode or network name, address, gateway, ports, netns path). `stats`
//!   reads `/proc/PID/net/dev`, the container's namespace, unless the mode is host.
//! - vol: `mounts`; `origin` is `-v`, `--mount`, `--tmpfs`, `image` or `volumes-from:<id>`,
//!   `spec` what the user typed (`HostConfig.Binds`); `--tmpfs` entries show as
//!   `HostConfig.Tmpfs`, not `.Mounts`, as in Docker.
//!
//! The record also keeps the command line that made it (`--argv`), so `inspect` can give the
//! run command back.

mod bundle;
mod health;
mod image;
mod mounts;
mod network;
mod process;
mod state;
mod transition;

pub use bundle::*;
pub use health::*;
pub use image::*;
pub use mounts::*;
pub use network::*;
pub use process::*;
pub use state::*;
pub use transition::*;

use std::collections::BTreeMap;
use std::io::Read;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Code, Coded, Error};

/// The protocol version every document carries.
pub const PROTOCOL_VERSION: u32 = 1;

/// The container record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Record {
    /// Protocol version.
    pub berth: u32,
    /// 64 hex characters, assigned by berth-unpack. Empty in an image-only record (pull).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The container's name, unique, without Docker's leading slash.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// The command line that made this container (e.g. the `berth run ...` argv), so that
    /// `berth inspect` can give it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub argv: Vec<String>,
    /// The process that is making this container (berth-run, through `BERTH_CREATOR`), so
    /// that a run that fails or is interrupted finds and undoes what it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<Creator>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mounts: Option<Vec<MountEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessSection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateSection>,
    /// Sections this version does not know, passed on untouched.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl Record {
    /// An empty record of the current protocol version.
    pub fn new() -> Self {
        Record {
            berth: PROTOCOL_VERSION,
            ..Default::default()
        }
    }

    /// The 12-character short id Docker prints.
    pub fn short_id(&self) -> &str {
        crate::state::ids::short(&self.id)
    }

    /// The section a stage needs from an earlier one, or an error naming the stage to run.
    pub fn require<'a, T>(
        &'a self,
        section: &'a Option<T>,
        name: &str,
        stage: &str,
    ) -> Result<&'a T, ProtocolError> {
        section
            .as_ref()
            .ok_or_else(|| ProtocolError::MissingSection {
                section: name.to_string(),
                stage: stage.to_string(),
            })
    }

    /// The record's id, or an error if no stage has created the container yet.
    pub fn require_id(&self) -> Result<&str, ProtocolError> {
        if self.id.is_empty() {
            Err(ProtocolError::MissingSection {
                section: "id".into(),
                stage: "berth-unpack".into(),
            })
        } else {
            Ok(&self.id)
        }
    }
}

/// A process, identified beyond pid reuse by its start time (see `state::liveness`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Creator {
    pub pid: i32,
    pub start: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error(
        "cannot decode the record on stdin: {0} (pipe in the output of an earlier berth stage)"
    )]
    Decode(#[source] serde_json::Error),
    #[error(
        "the record on stdin has protocol version {found}, this tool speaks {PROTOCOL_VERSION} (use matching berth tools)"
    )]
    Version { found: Value },
    #[error("the record has no {section} section (run {stage} earlier in the pipeline)")]
    MissingSection { section: String, stage: String },
    #[error("reading stdin: {0}")]
    Read(#[source] std::io::Error),
    #[error(
        "stdin is empty (pipe in the output of an earlier berth stage, or pass an argument instead of -)"
    )]
    Empty,
}

impl Coded for ProtocolError {
    fn code(&self) -> Code {
        match self {
            ProtocolError::Decode(_) => Code::DECODE,
            ProtocolError::Version { .. } => Code::VERSION,
            ProtocolError::MissingSection { .. } => Code::INVALID_CONFIG,
            ProtocolError::Read(_) => Code::IO,
            ProtocolError::Empty => Code::BAD_ARGS,
        }
    }
}

/// The error document a failing stage prints on stdout when stdout is a pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorDoc {
    pub berth: u32,
    pub error: ErrorBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: u32,
    pub message: String,
}

impl ErrorDoc {
    pub fn new(e: &Error) -> Self {
        ErrorDoc {
            berth: PROTOCOL_VERSION,
            error: ErrorBody {
                code: e.code().0 as u32,
                message: e.one_line(),
            },
        }
    }
}

/// Reads one record from `reader`. An upstream error document becomes an
/// [`Error::upstream`], which the edge passes on without printing it again.
pub fn read_record(mut reader: impl Read) -> Result<Record, Error> {
    // Room for a whole record at once (a few KiB): one read, not a doubling series of them.
    let mut buf = Vec::with_capacity(64 * 1024);
    reader.read_to_end(&mut buf).map_err(ProtocolError::Read)?;
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Err(ProtocolError::Empty.into());
    }
    parse_record(&buf)
}

/// Parses a record from bytes; see [`read_record`].
pub fn parse_record(bytes: &[u8]) -> Result<Record, Error> {
    let value: Value = serde_json::from_slice(bytes).map_err(ProtocolError::Decode)?;
    if let Some(err) = value.get("error") {
        let body: ErrorBody = serde_json::from_value(err.clone()).map_err(ProtocolError::Decode)?;
        let code = u8::try_from(body.code).unwrap_or(Code::IO.0);
        return Err(Error::upstream(Code(code), body.message));
    }
    match value.get("berth") {
        Some(v) if v.as_u64() == Some(PROTOCOL_VERSION as u64) => {}
        other => {
            return Err(ProtocolError::Version {
                found: other.cloned().unwrap_or(Value::Null),
            }
            .into());
        }
    }
    Ok(serde_json::from_value(value).map_err(ProtocolError::Decode)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_keep_unknown_sections() {
        let doc = r#"{"berth":1,"id":"ab","image":{"reference":"busybox:latest","name":"docker.io/library/busybox:latest","digest":"sha256:1","id":"sha256:2","layers":[]},"future":{"x":1}}"#;
        let r = parse_record(doc.as_bytes()).unwrap();
        assert_eq!(r.image.as_ref().unwrap().reference, "busybox:latest");
        let back = serde_json::to_value(&r).unwrap();
        assert_eq!(back["future"]["x"], 1);
        assert!(back.get("bundle").is_none());
    }

    #[test]
    fn upstream_errors_and_versions() {
        let e = parse_record(br#"{"berth":1,"error":{"code":3,"message":"no such image"}}"#)
            .unwrap_err();
        assert!(e.is_upstream());
        assert_eq!(e.code(), Code::NOT_FOUND);
        let e = parse_record(br#"{"berth":9}"#).unwrap_err();
        assert_eq!(e.code(), Code::VERSION);
        let e = read_record(&b"  \n"[..]).unwrap_err();
        assert_eq!(e.code(), Code::BAD_ARGS);
        let e = parse_record(b"{not json").unwrap_err();
        assert_eq!(e.code(), Code::DECODE);
    }
}
