//! Docker `container prune`: every container that is not running and matches the filters,
//! torn down as `rm` does ([`super::teardown`]).

use chrono::{DateTime, Utc};

use super::ContainerError;
use super::teardown::teardown;
use crate::error::Result;
use crate::paths::Paths;
use crate::protocol::Record;
use crate::state::{Containers, truth};

/// `container prune --filter`: `until=TIMESTAMP|DURATION`, `label=K[=V]`, `label!=K[=V]`.
#[derive(Debug, Clone, Default)]
pub struct PruneFilters {
    until: Option<DateTime<Utc>>,
    labels: Vec<(String, Option<String>)>,
    not_labels: Vec<(String, Option<String>)>,
}

impl PruneFilters {
    pub fn parse(args: &[String], now: DateTime<Utc>) -> Result<PruneFilters> {
        let mut f = PruneFilters::default();
        for a in args {
            let label = |v: &str| match v.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (v.to_string(), None),
            };
            if let Some(v) = a.strip_prefix("label!=") {
                f.not_labels.push(label(v));
            } else if let Some(v) = a.strip_prefix("label=") {
                f.labels.push(label(v));
            } else if let Some(v) = a.strip_prefix("until=") {
                f.until = Some(crate::units::time::parse_time(v, now)?);
            } else {
                return Err(ContainerError::BadArgs(format!(
                    "invalid filter {a:?} (prune takes until=, label= and label!=)"
                ))
                .into());
            }
        }
        Ok(f)
    }

    fn matches(&self, r: &Record) -> bool {
        self.admits(r.created, r.bundle.as_ref().map(|b| &b.config.labels))
    }

    /// Whether an object made at `created` with `labels` passes the filters (the same
    /// filters serve `network prune` and `system prune`).
    pub fn admits(
        &self,
        created: Option<DateTime<Utc>>,
        labels: Option<&std::collections::BTreeMap<String, String>>,
    ) -> bool {
        let has = |(k, v): &(String, Option<String>)| {
            labels
                .and_then(|l| l.get(k))
                .is_some_and(|got| v.as_ref().is_none_or(|v| v == got))
        };
        self.until.is_none_or(|u| created.is_some_and(|c| c < u))
            && self.labels.iter().all(has)
            && !self.not_labels.iter().any(has)
    }

    /// True when an `until=` filter was given (`system prune --volumes` refuses it).
    pub fn has_until(&self) -> bool {
        self.until.is_some()
    }

    /// True when no filter was given.
    pub fn is_empty(&self) -> bool {
        self.until.is_none() && self.labels.is_empty() && self.not_labels.is_empty()
    }
}

/// What `container prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub ids: Vec<String>,
    /// Bytes of the writable layers removed.
    pub reclaimed: u64,
}

/// Docker `container prune`: removes every container that is not running (created, exited,
/// dead) and matches the filters, with its anonymous volumes kept (as Docker does).
pub fn prune(paths: &Paths, filters: &PruneFilters) -> Result<Pruned> {
    let containers = Containers::new(paths);
    let mut out = Pruned::default();
    let mut sizer = crate::views::ps::Sizer::new(&containers);
    for id in containers.list_ids()? {
        let Ok(record) = containers.load(&id) else {
            continue;
        };
        let Ok(record) = truth::observe(&containers, record) else {
            continue;
        };
        let status = record.state.as_ref().map(|s| s.status).unwrap_or_default();
        // A container a live `berth run` is still making is not "stopped": leave it be.
        let in_flight = record.creator.is_some() && super::creator_alive(&record);
        if in_flight || !status.can_remove() || !filters.matches(&record) {
            continue;
        }
        let (rw, _) = sizer.sizes(&record);
        // A container removed meanwhile by someone else is simply gone.
        if teardown(paths, &record, false).is_ok() {
            out.ids.push(id);
            out.reclaimed += rw;
        }
    }
    Ok(out)
}
