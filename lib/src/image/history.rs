//! `berth history IMAGE`: the config's history, newest first, each step with the size of the
//! layer it made (Docker's columns and field names).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::inventory::LocalImage;
use crate::units::human;

/// A row, with the field names of `docker history --format json`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryRow {
    pub comment: String,
    pub created_at: String,
    pub created_by: String,
    pub created_since: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub size: String,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct HistoryOptions {
    pub no_trunc: bool,
    /// `-H=false`: sizes in bytes and times in RFC 3339.
    pub raw: bool,
}

pub fn rows(img: &LocalImage, opts: HistoryOptions) -> Vec<HistoryRow> {
    let layer_sizes = &img.layer_sizes;
    let history = img
        .config
        .as_ref()
        .and_then(|c| c.history().clone())
        .unwrap_or_default();
    let mut layer = 0usize;
    let mut rows = Vec::new();
    for h in &history {
        let size = if h.empty_layer().unwrap_or(false) {
            0
        } else {
            let s = layer_sizes.get(layer).copied().unwrap_or(0);
            layer += 1;
            s
        };
        let created = h
            .created()
            .as_deref()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|c| c.with_timezone(&Utc));
        let by = h
            .created_by()
            .clone()
            .unwrap_or_default()
            .replace('\t', " ");
        rows.push(HistoryRow {
            comment: h.comment().clone().unwrap_or_default(),
            created_at: created.map(|c| c.to_rfc3339()).unwrap_or_default(),
            created_by: if opts.no_trunc { by } else { ellipsis(&by, 45) },
            created_since: if opts.raw {
                created.map(|c| c.to_rfc3339()).unwrap_or_default()
            } else {
                human::ago(created)
            },
            id: "<missing>".into(),
            size: if opts.raw {
                size.to_string()
            } else {
                human::size(size)
            },
        });
    }
    if rows.is_empty() {
        // No history recorded: one row per layer, as Docker shows such images.
        for s in layer_sizes {
            rows.push(HistoryRow {
                comment: String::new(),
                created_at: String::new(),
                created_by: String::new(),
                created_since: "N/A".into(),
                id: "<missing>".into(),
                size: if opts.raw {
                    s.to_string()
                } else {
                    human::size(*s)
                },
            });
        }
    }
    rows.reverse();
    if let Some(top) = rows.first_mut() {
        top.id = if opts.no_trunc {
            img.id.clone()
        } else {
            img.short_id().to_string()
        };
    }
    rows
}

/// Docker's `stringutils.Ellipsis`: at most `max` characters, the last one `…` when cut.
fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ellipsis_cuts_like_docker() {
        assert_eq!(super::ellipsis("short", 45), "short");
        let long = "x".repeat(50);
        let cut = super::ellipsis(&long, 45);
        assert_eq!(cut.chars().count(), 45);
        assert!(cut.ends_with('…'));
    }
}
