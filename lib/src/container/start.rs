//! Docker `start`: a created or exited container run again, detached, under its monitor
//! (`start -a` attaches as well: [`super::attach::start_attached`]).

use super::ContainerError;
use super::{bundle_path, load_true};
use crate::error::Error;
use crate::paths::Paths;
use crate::protocol::{ProcessSection, Record};
use crate::runtime::{RuntimeError, flags};
use crate::state::Containers;

/// Docker `start`: runs an exited or created container again, detached, with its monitor.
pub fn start(paths: &Paths, arg: &str) -> Result<String, Error> {
    let id = Containers::new(paths).resolve(arg)?;
    let record = load_true(paths, &id)?;
    if record.state.as_ref().is_some_and(|s| s.status.is_active()) {
        return Ok(id);
    }
    prepare_start(paths, arg, &id, &record)?;
    super::monitor::start_detached(paths, &id, None)?;
    Ok(id)
}

/// Checks that a container can start, and gives one made without the spawn stage its
/// defaults.
pub(super) fn prepare_start(
    paths: &Paths,
    arg: &str,
    id: &str,
    record: &Record,
) -> Result<(), Error> {
    let status = record.state.as_ref().map(|s| s.status).unwrap_or_default();
    if !status.can_start() {
        return Err(ContainerError::Status {
            id: arg.into(),
            status: status.as_str().into(),
            what: "cannot start it".into(),
        }
        .into());
    }
    if record.process.is_none() {
        let p = ProcessSection {
            detach: true,
            ..Default::default()
        };
        let bundle = bundle_path(record)?;
        let lookup = |_: &str| Err(RuntimeError::BadArgs("no namespace sharing here".into()));
        crate::ocispec::edit(&bundle, |spec| flags::apply(spec, &p, id, &lookup))?;
        Containers::new(paths).update(id, |r| {
            r.process = Some(p.clone());
            Ok::<_, Error>(())
        })?;
    }
    // A resolver killed since the last change comes back when a container starts.
    if let Err(e) = crate::net::dns::ensure(paths) {
        log::warn!("container DNS: {e}");
    }
    Ok(())
}
