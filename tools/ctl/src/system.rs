//! `berth events` (also `system events`), `system df` and `system prune`: the verbs about the
//! whole store, composed from the library's own pieces (the event log, the views, and each
//! kind's prune).

use berth::container::{self, PruneFilters};
use berth::events::{Filter, Message, Window, log::EventLog};
use berth::format::{Format, Template};
use berth::image::gc::{self, PruneOptions};
use berth::net::networks;
use berth::units::human::size;
use berth::views::df;
use berth::{Code, Error, Paths, Result};
use berth_cli as cli;

/// How `events` prints each event.
enum Output {
    /// Docker's line.
    Line,
    /// `json` or `{{json .}}`: moby's `events.Message`, in its own field order.
    Json,
    Template(Box<Template>),
}

impl Output {
    fn parse(format: Option<&str>) -> Result<Output> {
        Ok(match format.map(str::trim) {
            None | Some("") => Output::Line,
            Some("json") | Some("{{json .}}") | Some("{{ json . }}") => Output::Json,
            Some(t) => Output::Template(Box::new(Template::parse(t)?)),
        })
    }

    fn render(&self, m: &Message) -> Result<String> {
        Ok(match self {
            Output::Line => format!("{}\n", m.line()),
            Output::Json => format!("{}\n", serde_json::to_string(m).unwrap_or_default()),
            Output::Template(t) => {
                format!("{}\n", t.render(&m.template_doc())?)
            }
        })
    }
}

/// `docker events`: the past events with `--since`/`--until`, then, unless `--until` has
/// passed, every new one until interrupted (or until `--until`).
pub fn events(
    paths: &Paths,
    since: Option<&str>,
    until: Option<&str>,
    filter: &[String],
    format: Option<&str>,
) -> Result<()> {
    let now = chrono::Utc::now();
    let window = Window::parse(since, until, now)?;
    let filter = Filter::parse(filter)?;
    let out = Output::parse(format)?;
    let history = since.is_some() || until.is_some();
    let now_nanos = now.timestamp_nanos_opt().unwrap_or(i64::MAX);
    let follow = window.until.is_none_or(|u| u > now_nanos);
    let mut failed = None;
    let streamed = EventLog::new(paths).stream(history, follow, window.until, |m| {
        if !window.contains(m.time_nano) || !filter.matches(m) {
            return true;
        }
        match out.render(m).and_then(|text| cli::print_text(&text)) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    streamed.map_err(|e| Error::new(Code::IO, format!("{}: {e}", paths.events_log().display())))
}

/// `docker system df [-v] [--format]`.
pub fn df(paths: &Paths, verbose: bool, format: Option<&str>) -> Result<()> {
    let du = df::measure(paths)?;
    let format = format.filter(|f| !f.trim().is_empty());
    if verbose {
        if format.is_some_and(|f| f.trim() != "table") {
            return Err(Error::new(
                Code::UNSUPPORTED,
                "system df -v takes no --format template in berth (drop -v to format the summary)",
            ));
        }
        return cli::print_text(&du.verbose());
    }
    let rows: Vec<serde_json::Value> = du
        .summary()
        .iter()
        .map(|r| serde_json::to_value(r).expect("rows serialise"))
        .collect();
    let f = match format {
        Some(spec) => Format::parse(spec, &df::COLUMNS)?,
        None => Format::default_table(&df::COLUMNS)?,
    };
    cli::print_text(&f.render(&rows, &df::COLUMNS)?)
}

/// docker/cli's confirmation text for `system prune` (its `confirmationTemplate`).
fn prune_warning(all: bool, volumes: bool, filter: &[String]) -> String {
    let mut w = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if volumes {
        w.push("all anonymous volumes not used by at least one container");
    }
    w.extend(if all {
        [
            "all images without at least one container associated to them",
            "all build cache",
        ]
    } else {
        ["all dangling images", "unused build cache"]
    });
    let mut text = String::from("This will remove:\n");
    for line in w {
        text.push_str(&format!("  - {line}\n"));
    }
    let mut shown: Vec<&String> = filter
        .iter()
        .filter(|f| {
            ["label=", "label!=", "until="]
                .iter()
                .any(|p| f.starts_with(p))
        })
        .collect();
    shown.sort();
    if !shown.is_empty() {
        text.push_str("\n  Items to be pruned will be filtered with:\n");
        for f in shown {
            text.push_str(&format!("  - {f}\n"));
        }
    }
    text
}

/// `docker system prune [-a] [--volumes] [-f] [--filter]`: container prune, network prune,
/// (with `--volumes`) volume prune, image prune and the build cache (`builder prune`), each
/// the verb's own, in Docker's order. berth's build cache has no labels or ages, so a
/// `--filter` leaves it alone.
pub fn prune(
    paths: &Paths,
    all: bool,
    volumes: bool,
    force: bool,
    filter: &[String],
) -> Result<()> {
    let filters = PruneFilters::parse(filter, chrono::Utc::now())?;
    if volumes && filters.has_until() {
        return Err(Error::new(
            Code::BAD_ARGS,
            "ERROR: The \"until\" filter is not supported with \"--volumes\"",
        ));
    }
    let image_opts = PruneOptions::parse(all, filter)?;
    if !force && !cli::confirm(&prune_warning(all, volumes, filter)) {
        return Ok(());
    }
    let mut out = String::new();
    let mut reclaimed = 0;
    let mut section = |title: &str, names: &[String]| {
        if !names.is_empty() {
            out.push_str(title);
            out.push('\n');
            for n in names {
                out.push_str(n);
                out.push('\n');
            }
            out.push('\n');
        }
    };
    let pruned = container::prune(paths, &filters)?;
    reclaimed += pruned.reclaimed;
    section("Deleted Containers:", &pruned.ids);
    section("Deleted Networks:", &networks::prune(paths, &filters)?);
    if volumes {
        let vol_filter: Vec<String> = filter
            .iter()
            .filter(|f| !f.starts_with("until="))
            .cloned()
            .collect();
        let (removed, bytes) =
            berth::volume::Volumes::new(paths).prune_filtered(false, &vol_filter)?;
        reclaimed += bytes;
        section("Deleted Volumes:", &removed);
    }
    let report = gc::prune_locked(paths, &image_opts, || {
        eprintln!("berth-ctl: waiting for a pull, load or unpack in progress to finish...");
    })?;
    reclaimed += report.collected.reclaimed;
    let images: Vec<String> = report
        .deleted
        .iter()
        .map(|r| {
            r.to_string()
                .replacen("Untagged:", "untagged:", 1)
                .replacen("Deleted:", "deleted:", 1)
        })
        .collect();
    section("Deleted Images:", &images);
    if filter.is_empty() {
        let cache = berth::build::cache::prune(paths)?;
        reclaimed += cache.reclaimed;
        let ids: Vec<String> = cache
            .keys
            .iter()
            .map(|k| berth::paths::digest_hex(k)[..25].to_string())
            .collect();
        section("Deleted build cache objects:", &ids);
    }
    out.push_str(&format!("Total reclaimed space: {}\n", size(reclaimed)));
    cli::print_text(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_is_docker_s() {
        assert_eq!(
            prune_warning(false, false, &[]),
            "This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n"
        );
        assert_eq!(
            prune_warning(true, true, &["until=1h".into(), "label=a".into()]),
            "This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a\n  - until=1h\n"
        );
    }
}
