//! Docker `create` as a pipeline stage (`berth-spawn create -`), and the part of `run`
//! (`berth-spawn start -`) it shares: Docker's HostConfig flags (the record's `process`
//! section) applied to config.json (`runtime::flags`), the `--cidfile`, and the record saved
//! with its `process` section and a `state` section in the created state.

use std::io::Write;
use std::path::Path;

use super::ContainerError;
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{ProcessSection, Record, StateSection};
use crate::runtime::{RuntimeError, flags};
use crate::state::{Containers, truth};

/// Docker `create` as a pipeline stage (`berth-spawn create -`): the flags applied to
/// config.json and the record, the container left in the created state. Returns its id.
pub fn create_record(paths: &Paths, record: Record, p: ProcessSection) -> Result<String, Error> {
    super::creator_check(paths, &record)?;
    let id = prepare_record(paths, record, p)?.0;
    Containers::new(paths).update(&id, |r| {
        super::settle_creator(paths, r);
        Ok::<_, Error>(())
    })?;
    Ok(id)
}

/// Applies the flags to config.json and saves the record with its `process` and (created)
/// `state` sections. Returns the id, the flags as applied and the record as saved (a caller
/// that goes on with it need not read it back).
pub(super) fn prepare_record(
    paths: &Paths,
    mut record: Record,
    mut p: ProcessSection,
) -> Result<(String, ProcessSection, Record), Error> {
    let id = record.require_id()?.to_string();
    let bundle = record
        .require(&record.bundle, "bundle", "berth-unpack")?
        .clone();
    let containers = Containers::new(paths);
    if p.stop_signal.is_none() {
        p.stop_signal = bundle.config.stop_signal.clone();
    }
    if let Some(cid) = &p.cidfile {
        if Path::new(cid).exists() {
            return Err(ContainerError::BadArgs(format!(
                "container ID file found, make sure the other container isn't running or delete {cid}"
            ))
            .into());
        }
        // The user's file, not berth's state: readable as Docker leaves it.
        crate::store::atomic::write_with(Path::new(cid), 0o644, |f| f.write_all(id.as_bytes()))?;
    }
    if p.restart.name.is_empty() {
        p.restart.name = "no".into();
    }
    if p.auto_remove && p.restart.name != "no" {
        return Err(ContainerError::BadArgs(
            "conflicting options: cannot specify both --restart and --rm".into(),
        )
        .into());
    }
    let lookup = |arg: &str| -> Result<i32, RuntimeError> {
        let other = containers.resolve(arg)?;
        let r = truth::observe(&containers, containers.load(&other)?)?;
        match r.state {
            Some(s) if s.status.is_active() && s.pid > 0 => Ok(s.pid),
            _ => Err(RuntimeError::WrongState {
                id: arg.into(),
                status: "not running".into(),
                what: "cannot join the namespaces of a container that is not running".into(),
            }),
        }
    };
    crate::ocispec::edit(&bundle.path, |spec| {
        flags::apply_in(spec, &p, &id, &lookup, &bundle.path)
    })?;
    record.process = Some(p.clone());
    record.state = Some(StateSection::default());
    containers.save(&record)?;
    crate::events::container(&paths.root, &record, "create", &[]);
    Ok((id, p, record))
}
