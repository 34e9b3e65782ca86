//! `system df`: what images, containers, local volumes and the build cache take on disk, as
//! docker/cli's `formatter/disk_usage.go` prints it. Read-only: sizes come from the image
//! store's layer sizes, each container's writable layer (`ps -s`'s [`Sizer`]) and each
//! volume's `_data`; which objects are in use from the records. berth has no build cache
//! yet: its row is all zeros.

use std::collections::{BTreeMap, HashMap};

use chrono::Utc;
use serde::Serialize;

use super::ps::{self, Sizer};
use crate::error::Result;
use crate::image::Inventory;
use crate::image::list::split_name;
use crate::image::usage;
use crate::paths::Paths;
use crate::state::Containers;
use crate::store::ImageStore;
use crate::units::human::{self, size};
use crate::volume::Volumes;
use crate::volume::store::disk_usage;

/// One summary row (`TYPE TOTAL ACTIVE SIZE RECLAIMABLE`), with docker/cli's field names.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Summary {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "TotalCount")]
    pub total_count: String,
    #[serde(rename = "Active")]
    pub active: String,
    #[serde(rename = "Size")]
    pub size: String,
    #[serde(rename = "Reclaimable")]
    pub reclaimable: String,
}

/// The summary's columns for `--format`.
pub const COLUMNS: crate::format::Columns<'static> = crate::format::Columns {
    headers: &[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ],
    default_table: "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
};

/// Everything `system df` knows, per object; [`DiskUsage::summary`] and
/// [`DiskUsage::verbose`] print it.
#[derive(Debug, Default)]
pub struct DiskUsage {
    /// REPOSITORY, TAG, IMAGE ID, CREATED, SIZE, SHARED SIZE, UNIQUE SIZE, CONTAINERS.
    images: Vec<[String; 8]>,
    image_total: u64,
    image_active: usize,
    image_reclaimable: u64,
    /// CONTAINER ID, IMAGE, COMMAND, LOCAL VOLUMES, SIZE, CREATED, STATUS, NAMES.
    containers: Vec<[String; 8]>,
    container_total: u64,
    container_active: usize,
    container_reclaimable: u64,
    /// VOLUME NAME, LINKS, SIZE.
    volumes: Vec<[String; 3]>,
    volume_total: u64,
    volume_active: usize,
    volume_reclaimable: u64,
}

/// Measures the store under `paths`.
pub fn measure(paths: &Paths) -> Result<DiskUsage> {
    let mut du = DiskUsage::default();
    images(paths, &mut du)?;
    containers(paths, &mut du)?;
    volumes(paths, &mut du)?;
    Ok(du)
}

fn images(paths: &Paths, du: &mut DiskUsage) -> Result<()> {
    let store = ImageStore::open_for_gc(paths)?;
    let inv = Inventory::load(&store)?;
    let uses = usage::scan(paths);
    // Each layer once: how many images hold it, and its size.
    let mut layers: HashMap<String, (usize, u64)> = HashMap::new();
    for img in &inv.images {
        for (d, s) in img.diff_ids().into_iter().zip(img.layer_sizes.iter()) {
            layers.entry(d).or_insert((0, *s)).0 += 1;
        }
    }
    du.image_total = layers.values().map(|(_, s)| s).sum();
    let mut used = 0;
    let mut images: Vec<_> = inv.images.iter().collect();
    images.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id)));
    for img in images {
        let shared: u64 = img
            .diff_ids()
            .iter()
            .zip(img.layer_sizes.iter())
            .filter(|(d, _)| layers.get(*d).is_some_and(|(n, _)| *n > 1))
            .map(|(_, s)| s)
            .sum();
        let manifest = img.manifest_digest();
        let n = uses
            .iter()
            .filter(|u| u.uses(&img.id, manifest.as_deref()))
            .count();
        if n > 0 {
            du.image_active += 1;
            // docker/cli's arithmetic: what an image in use holds alone is not reclaimable.
            used += img.size.saturating_sub(shared);
        }
        let mut names: Vec<&str> = img.names().collect();
        names.sort();
        let (repo, tag) = match names.first() {
            Some(n) if !img.is_dangling() => {
                let (r, t) = split_name(n);
                (r, t.unwrap_or_else(|| "<none>".into()))
            }
            _ => ("<none>".into(), "<none>".into()),
        };
        du.images.push([
            repo,
            tag,
            img.short_id().to_string(),
            human::ago(img.created),
            size(img.size),
            size(shared),
            size(img.size.saturating_sub(shared)),
            n.to_string(),
        ]);
    }
    du.image_reclaimable = du.image_total.saturating_sub(used);
    Ok(())
}

fn containers(paths: &Paths, du: &mut DiskUsage) -> Result<()> {
    let c = Containers::new(paths);
    let mut sizer = Sizer::new(&c);
    let now = Utc::now();
    for r in ps::scan(&c)? {
        let (rw, _) = sizer.sizes(&r);
        let active = r.state.as_ref().is_some_and(|s| s.status.is_active());
        du.container_total += rw;
        if active {
            du.container_active += 1;
        } else {
            du.container_reclaimable += rw;
        }
        let row = ps::row(&r, false, None, now);
        du.containers.push([
            row.id,
            row.image,
            row.command,
            row.local_volumes,
            size(rw),
            row.running_for,
            row.status,
            row.names,
        ]);
    }
    Ok(())
}

fn volumes(paths: &Paths, du: &mut DiskUsage) -> Result<()> {
    let v = Volumes::new(paths);
    let usage = v.usage()?;
    let mut links: BTreeMap<String, usize> = BTreeMap::new();
    for vol in v.list()? {
        links.insert(vol.name.clone(), usage.users(&vol.name, None).len());
    }
    for (name, n) in links {
        let bytes = disk_usage(&paths.volume_data(&name));
        du.volume_total += bytes;
        if n > 0 {
            du.volume_active += 1;
        } else {
            du.volume_reclaimable += bytes;
        }
        du.volumes.push([name, n.to_string(), size(bytes)]);
    }
    Ok(())
}

/// `1.2MB (45%)`: docker/cli's reclaimable column, the percentage in whole units rounded
/// down; no percentage when nothing is stored.
fn reclaimable(bytes: u64, total: u64) -> String {
    match (bytes * 100).checked_div(total) {
        Some(pct) => format!("{} ({pct}%)", size(bytes)),
        None => size(bytes),
    }
}

impl DiskUsage {
    /// The four summary rows, in Docker's order.
    pub fn summary(&self) -> Vec<Summary> {
        let row = |kind: &str, total: usize, active: usize, bytes: u64, rec: String| Summary {
            kind: kind.into(),
            total_count: total.to_string(),
            active: active.to_string(),
            size: size(bytes),
            reclaimable: rec,
        };
        vec![
            row(
                "Images",
                self.images.len(),
                self.image_active,
                self.image_total,
                reclaimable(self.image_reclaimable, self.image_total),
            ),
            row(
                "Containers",
                self.containers.len(),
                self.container_active,
                self.container_total,
                reclaimable(self.container_reclaimable, self.container_total),
            ),
            row(
                "Local Volumes",
                self.volumes.len(),
                self.volume_active,
                self.volume_total,
                reclaimable(self.volume_reclaimable, self.volume_total),
            ),
            row("Build Cache", 0, 0, 0, size(0)),
        ]
    }

    /// `system df -v`: docker/cli's four sections.
    pub fn verbose(&self) -> String {
        let table = |header: &[&str], rows: Vec<Vec<String>>| {
            let mut t = header.join("\t");
            t.push('\n');
            for r in rows {
                t.push_str(&r.join("\t"));
                t.push('\n');
            }
            crate::format::align(&t)
        };
        let mut out = String::from("Images space usage:\n\n");
        out.push_str(&table(
            &[
                "REPOSITORY",
                "TAG",
                "IMAGE ID",
                "CREATED",
                "SIZE",
                "SHARED SIZE",
                "UNIQUE SIZE",
                "CONTAINERS",
            ],
            self.images.iter().map(|r| r.to_vec()).collect(),
        ));
        out.push_str("\nContainers space usage:\n\n");
        out.push_str(&table(
            &[
                "CONTAINER ID",
                "IMAGE",
                "COMMAND",
                "LOCAL VOLUMES",
                "SIZE",
                "CREATED",
                "STATUS",
                "NAMES",
            ],
            self.containers.iter().map(|r| r.to_vec()).collect(),
        ));
        out.push_str("\nLocal Volumes space usage:\n\n");
        out.push_str(&table(
            &["VOLUME NAME", "LINKS", "SIZE"],
            self.volumes.iter().map(|r| r.to_vec()).collect(),
        ));
        out.push_str(&format!("\nBuild cache usage: {}\n\n", size(0)));
        out.push_str(&table(
            &[
                "CACHE ID",
                "CACHE TYPE",
                "SIZE",
                "CREATED",
                "LAST USED",
                "USAGE",
                "SHARED",
            ],
            Vec::new(),
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reclaimable_prints_like_docker() {
        assert_eq!(reclaimable(0, 0), "0B");
        assert_eq!(reclaimable(5, 10), "5B (50%)");
        assert_eq!(reclaimable(2, 3), "2B (66%)");
        assert_eq!(reclaimable(10, 10), "10B (100%)");
    }
}
