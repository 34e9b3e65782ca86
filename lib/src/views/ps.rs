//! `ps`: one scan of `<root>/containers/*/record.json`, made truthful, filtered, and turned
//! into Docker's rows.
//!
//! The scan is built for thousands of containers: it reads each record once (in parallel on
//! large stores), spawns no process, and checks the kernel (`/proc/PID/stat`) only for
//! containers whose record claims a process.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::format::Columns;
use crate::protocol::{MountKind, PROTOCOL_VERSION, Record, RootfsDriver};
use crate::state::{Containers, ids, truth};
use crate::units::human::{ago, go_time, size};
use crate::views::filter::{Filters, Matcher, network_name};
use crate::views::status::{status_of, status_text};
use crate::views::{Result, ports};

/// `ps` flags that choose and shape the rows.
#[derive(Debug, Clone, Default)]
pub struct PsOptions {
    /// `-a`: stopped containers too.
    pub all: bool,
    /// `-l`: only the latest created container, in any state.
    pub latest: bool,
    /// `-n N`: the N latest created, in any state.
    pub last: Option<usize>,
    /// `--no-trunc`.
    pub no_trunc: bool,
    /// `-s`: the size of each container's writable layer.
    pub size: bool,
    /// `--filter KEY=VALUE`.
    pub filters: Vec<String>,
}

/// Reads every record on file, truthfully: an active record whose process died unseen is
/// corrected (and saved) as exited. Directories without a readable record (a create in
/// progress, a removal half done) are skipped; a corrupt record is reported on stderr and
/// skipped, so one bad container never hides the others.
pub fn scan(containers: &Containers) -> Result<Vec<Record>> {
    let ids = containers.list_ids()?;
    let load = |id: &String| -> Option<Record> {
        let r = load_fast(containers, id)?;
        match &r.state {
            Some(s) if s.status.is_active() => match truth::observe(containers, r.clone()) {
                Ok(seen) => Some(seen),
                Err(e) => {
                    log::warn!(
                        "container {}: cannot check its process: {e}",
                        ids::short(id)
                    );
                    Some(r)
                }
            },
            _ => Some(r),
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if ids.len() < 64 || threads == 1 {
        return Ok(ids.iter().filter_map(load).collect());
    }
    let chunk = ids.len().div_ceil(threads);
    Ok(std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().filter_map(load).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    }))
}

/// The sections of a record the views read. Decoding into this, rather than [`Record`] with
/// its flattened catch-all of unknown sections (which makes serde buffer the whole document
/// first), halves the scan's parse time. Unknown sections are not needed to show a container;
/// anything that writes goes through `Containers::update`, which keeps them.
#[derive(serde::Deserialize)]
struct Sections {
    berth: u32,
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    created: Option<DateTime<Utc>>,
    #[serde(default)]
    argv: Vec<String>,
    #[serde(default)]
    creator: Option<crate::protocol::Creator>,
    #[serde(default)]
    image: Option<crate::protocol::ImageSection>,
    #[serde(default)]
    bundle: Option<crate::protocol::BundleSection>,
    #[serde(default)]
    network: Option<crate::protocol::NetworkSection>,
    #[serde(default)]
    mounts: Option<Vec<crate::protocol::MountEntry>>,
    #[serde(default)]
    process: Option<crate::protocol::ProcessSection>,
    #[serde(default)]
    state: Option<crate::protocol::StateSection>,
}

impl From<Sections> for Record {
    fn from(s: Sections) -> Record {
        Record {
            berth: s.berth,
            id: s.id,
            name: s.name,
            created: s.created,
            argv: s.argv,
            creator: s.creator,
            image: s.image,
            bundle: s.bundle,
            network: s.network,
            mounts: s.mounts,
            process: s.process,
            state: s.state,
            other: Default::default(),
        }
    }
}

/// Decodes a record straight into the sections the views read (the common case), falling
/// back to the checked path for anything unusual (an error document, another protocol
/// version, garbage) so that errors read the same as everywhere else.
fn load_fast(containers: &Containers, id: &str) -> Option<Record> {
    let bytes = fs::read(containers.record_path(id)).ok()?;
    if let Ok(s) = serde_json::from_slice::<Sections>(&bytes)
        && s.berth == PROTOCOL_VERSION
        && s.id == id
    {
        return Some(s.into());
    }
    match containers.load(id) {
        Ok(r) => Some(r),
        Err(e) => {
            log::warn!("skipping container {}: {e}", ids::short(id));
            None
        }
    }
}

/// The records `ps` shows, newest first.
pub fn list(containers: &Containers, opts: &PsOptions) -> Result<Vec<Record>> {
    let filters = Filters::parse(&opts.filters)?;
    let matcher = Matcher::new(&filters, containers)?;
    let limit = if opts.latest {
        Some(1)
    } else {
        opts.last.filter(|n| *n > 0)
    };
    // As in Docker: -n, -l and the status/exited filters show stopped containers too.
    let all = opts.all || limit.is_some() || filters.implies_all();
    let mut records: Vec<Record> = scan(containers)?
        .into_iter()
        .filter(|r| {
            let st = status_of(r);
            (all || st.is_active()) && matcher.matches(r, st)
        })
        .collect();
    records.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
    load_tags(containers.paths());
    if let Some(n) = limit {
        records.truncate(n);
    }
    Ok(records)
}

/// One row of `ps`, with Docker's field names (what `--format '{{json .}}'` prints).
#[derive(Debug, Clone, Serialize)]
pub struct PsRow {
    #[serde(rename = "Command")]
    pub command: String,
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Image")]
    pub image: String,
    #[serde(rename = "Labels")]
    pub labels: String,
    #[serde(rename = "LocalVolumes")]
    pub local_volumes: String,
    #[serde(rename = "Mounts")]
    pub mounts: String,
    #[serde(rename = "Names")]
    pub names: String,
    #[serde(rename = "Networks")]
    pub networks: String,
    #[serde(rename = "Ports")]
    pub ports: String,
    #[serde(rename = "RunningFor")]
    pub running_for: String,
    #[serde(rename = "Size")]
    pub size: String,
    #[serde(rename = "State")]
    pub state: String,
    #[serde(rename = "Status")]
    pub status: String,
}

/// `ps`'s columns for `--format table ...`, and Docker's default table.
pub const COLUMNS: Columns<'static> = Columns {
    headers: &[
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Labels", "LABELS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Mounts", "MOUNTS"),
        ("Names", "NAMES"),
        ("Networks", "NETWORKS"),
        ("Ports", "PORTS"),
        ("RunningFor", "CREATED"),
        ("Size", "SIZE"),
        ("State", "STATE"),
        ("Status", "STATUS"),
    ],
    default_table: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
};

/// The default table with `-s`: Docker adds the SIZE column.
pub const DEFAULT_TABLE_WITH_SIZE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}";

/// The container's command as Docker records it: its path and arguments (entrypoint, then
/// cmd).
pub fn path_and_args(r: &Record) -> (String, Vec<String>) {
    let Some(b) = &r.bundle else {
        return (String::new(), Vec::new());
    };
    let mut argv: Vec<String> = b.config.entrypoint.clone().unwrap_or_default();
    argv.extend(b.config.cmd.clone().unwrap_or_default());
    let mut it = argv.into_iter();
    (it.next().unwrap_or_default(), it.collect())
}

/// The store's tags (familiar reference -> the digest it names), read once per `ps` by
/// [`list`]: whether the image a container was made from still has the name it was given.
static TAGS: std::sync::OnceLock<HashMap<String, String>> = std::sync::OnceLock::new();

fn load_tags(paths: &crate::Paths) {
    TAGS.get_or_init(|| {
        crate::store::layout::ImageStore::open_for_gc(paths)
            .and_then(|s| s.refs())
            .map(|refs| {
                refs.into_iter()
                    .map(|(name, d)| (name, d.digest().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    });
}

/// moby's `refreshImage`: the name as typed no longer resolves to the container's image (the
/// tag moved, or is gone). Unknown (tags not loaded, or no image section) is not moved.
fn tag_moved(typed: &str, image: Option<&crate::protocol::ImageSection>) -> bool {
    let (Some(tags), Some(i)) = (TAGS.get(), image) else {
        return false;
    };
    if typed.starts_with("sha256:")
        || typed.contains('@')
        || typed.len() < 64 && i.id.contains(typed)
    {
        return false;
    }
    let Ok(r) = crate::reference::Reference::parse(typed) else {
        return false;
    };
    match tags.get(&r.familiar()) {
        Some(d) => *d != i.digest && Some(d) != i.index_digest.as_ref(),
        None => true,
    }
}

/// The image as `ps` shows it (docker/cli's `Image()` over moby's `refreshImage`): the name the
/// user gave, unless its tag moved (then the image id, short unless `no_trunc`); else the
/// stored reference, else the short image id.
pub fn image_of(r: &Record, no_trunc: bool) -> String {
    if let Some(b) = &r.bundle
        && !b.config.image.is_empty()
    {
        if !tag_moved(&b.config.image, r.image.as_ref()) {
            return b.config.image.clone();
        }
        if let Some(i) = &r.image {
            return if no_trunc {
                i.id.clone()
            } else {
                ids::short(crate::paths::digest_hex(&i.id)).to_string()
            };
        }
    }
    match &r.image {
        Some(i) if !i.reference.is_empty() => i.reference.clone(),
        Some(i) if no_trunc => i.id.clone(),
        Some(i) => ids::short(crate::paths::digest_hex(&i.id)).to_string(),
        None => String::new(),
    }
}

/// Builds a row. `sizes` computes `-s` values (see [`Sizer`]).
pub fn row(r: &Record, no_trunc: bool, sizes: Option<&mut Sizer>, now: DateTime<Utc>) -> PsRow {
    let status = status_of(r);
    let (path, args) = path_and_args(r);
    let mut command = path;
    if !args.is_empty() {
        command.push(' ');
        command.push_str(&args.join(" "));
    }
    if !no_trunc {
        command = ellipsis(&command, 20);
    }
    let labels = r
        .bundle
        .as_ref()
        .map(|b| {
            b.config
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mounts = r.mounts.as_deref().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let n = match &m.name {
                Some(n) if !n.is_empty() => n.clone(),
                _ => m.source.display().to_string(),
            };
            if no_trunc { n } else { ellipsis(&n, 15) }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| m.kind == MountKind::Volume)
        .count();
    // Docker shows ports only while the container runs: they are unbound otherwise.
    let ports = match (&r.network, status.is_active()) {
        (Some(n), true) => {
            let exposed = r.bundle.as_ref().map(|b| b.config.exposed_ports.as_slice());
            ports::display(&ports::ports(&n.ports, exposed.unwrap_or_default()))
        }
        _ => String::new(),
    };
    let id = if no_trunc {
        r.id.clone()
    } else {
        r.short_id().to_string()
    };
    PsRow {
        command: go_quote(&command),
        created_at: go_time(r.created),
        id,
        image: image_of(r, no_trunc),
        labels,
        local_volumes: local_volumes.to_string(),
        mounts: mount_names.join(","),
        names: r.name.clone(),
        networks: network_name(r).unwrap_or_default(),
        ports,
        running_for: ago(r.created),
        size: sizes.map_or_else(|| "0B".into(), |s| s.size_text(r)),
        state: status.as_str().to_string(),
        status: status_text(r.state.as_ref(), now),
    }
}

/// docker/cli's `formatter.Ellipsis`: at most `max` characters, the last one an ellipsis.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Go's `strconv.Quote`, which Docker applies to COMMAND.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Computes `ps -s` sizes: the writable layer (the overlay's upper dir, found from the mount
/// table) and, as Docker's "virtual" size, that plus the image's unpacked layers. Sizes of
/// shared layers are measured once per `ps`.
pub struct Sizer {
    layers: PathBuf,
    uppers: HashMap<PathBuf, PathBuf>,
    layer_sizes: HashMap<String, u64>,
}

impl Sizer {
    pub fn new(containers: &Containers) -> Sizer {
        Sizer {
            layers: containers.paths().layers(),
            uppers: overlay_uppers(),
            layer_sizes: HashMap::new(),
        }
    }

    /// `12B (virtual 4.26MB)`.
    pub fn size_text(&mut self, r: &Record) -> String {
        let (rw, virt) = self.sizes(r);
        format!("{} (virtual {})", size(rw), size(virt))
    }

    /// The writable layer's size, and that plus the image's layers (Docker's `SizeRw` and
    /// `SizeRootFs`).
    pub fn sizes(&mut self, r: &Record) -> (u64, u64) {
        let rw = self.rw_dir(r).map_or(0, |d| dir_size(&d));
        let mut virt = rw;
        for l in r
            .image
            .as_ref()
            .map(|i| i.layers.as_slice())
            .unwrap_or_default()
        {
            let dir = self.layers.join(crate::paths::digest_hex(&l.diff_id));
            virt += *self
                .layer_sizes
                .entry(l.diff_id.clone())
                .or_insert_with(|| dir_size(&dir));
        }
        (rw, virt)
    }

    fn rw_dir(&self, r: &Record) -> Option<PathBuf> {
        let b = r.bundle.as_ref()?;
        if b.driver != RootfsDriver::Overlay {
            return Some(b.rootfs.clone());
        }
        if let Some(u) = self.uppers.get(&b.rootfs) {
            return Some(u.clone());
        }
        ["upper", "diff"]
            .iter()
            .map(|d| b.path.join(d))
            .find(|d| d.is_dir())
    }
}

/// Mount point -> upper dir of every overlay mount, from /proc/self/mountinfo.
fn overlay_uppers() -> HashMap<PathBuf, PathBuf> {
    let mut out = HashMap::new();
    let Ok(info) = procfs::process::Process::myself().and_then(|p| p.mountinfo()) else {
        return out;
    };
    for m in info {
        if m.fs_type != "overlay" {
            continue;
        }
        if let Some(Some(upper)) = m.super_options.get("upperdir") {
            out.insert(m.mount_point.clone(), PathBuf::from(upper));
        }
    }
    out
}

/// Apparent size of the files under `dir`, each hard-linked inode counted once.
pub fn dir_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .filter(|m| !m.is_dir())
        .filter(|m| m.nlink() == 1 || seen.insert((m.dev(), m.ino())))
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Paths;
    use crate::protocol::{BundleSection, NetworkSection, PortBinding, StateSection, Status};

    fn store() -> (tempfile::TempDir, Containers) {
        let d = tempfile::tempdir().unwrap();
        let c = Containers::new(&Paths::new(d.path().join("r"), d.path().join("run")));
        (d, c)
    }

    fn make(c: &Containers, name: &str, status: Status, age_s: i64) -> Record {
        let (id, name) = c.create(Some(name)).unwrap();
        let mut r = Record::new();
        r.id = id;
        r.name = name;
        r.created = Some(Utc::now() - chrono::Duration::seconds(age_s));
        let mut b = BundleSection::default();
        b.config.image = "busybox".into();
        b.config.cmd = Some(vec!["sleep".into(), "1000".into()]);
        r.bundle = Some(b);
        r.state = Some(StateSection {
            status,
            // A process that certainly exists: this test.
            pid: if status.is_active() {
                std::process::id() as i32
            } else {
                0
            },
            pid_start: if status.is_active() {
                crate::state::liveness::start_time(std::process::id() as i32).unwrap()
            } else {
                0
            },
            started_at: Some(Utc::now() - chrono::Duration::seconds(age_s)),
            finished_at: (!status.is_active()).then(Utc::now),
            exit_code: if status.is_active() { 0 } else { 3 },
            ..Default::default()
        });
        c.save(&r).unwrap();
        r
    }

    #[test]
    fn list_selects_and_orders_like_docker() {
        let (_d, c) = store();
        make(&c, "old", Status::Exited, 300);
        make(&c, "mid", Status::Running, 200);
        make(&c, "new", Status::Created, 100);
        let names = |o: PsOptions| -> Vec<String> {
            list(&c, &o).unwrap().into_iter().map(|r| r.name).collect()
        };
        assert_eq!(names(PsOptions::default()), ["mid"]);
        assert_eq!(
            names(PsOptions {
                all: true,
                ..Default::default()
            }),
            ["new", "mid", "old"]
        );
        assert_eq!(
            names(PsOptions {
                latest: true,
                ..Default::default()
            }),
            ["new"]
        );
        assert_eq!(
            names(PsOptions {
                last: Some(2),
                ..Default::default()
            }),
            ["new", "mid"]
        );
        let f = |f: &str| PsOptions {
            filters: vec![f.into()],
            ..Default::default()
        };
        assert_eq!(names(f("status=exited")), ["old"]);
        assert_eq!(names(f("before=mid")), Vec::<String>::new());
        assert_eq!(
            names(PsOptions {
                all: true,
                ..f("before=mid")
            }),
            ["old"]
        );
        assert_eq!(
            names(PsOptions {
                all: true,
                ..f("since=mid")
            }),
            ["new"]
        );
        // A directory with no record yet (a create in progress) and a corrupt record are
        // skipped, not fatal.
        c.create(Some("inprogress")).unwrap();
        let (bad, _) = c.create(Some("corrupt")).unwrap();
        std::fs::write(c.record_path(&bad), b"{not json").unwrap();
        assert_eq!(
            names(PsOptions {
                all: true,
                ..Default::default()
            })
            .len(),
            3
        );
    }

    #[test]
    fn a_dead_process_is_shown_exited() {
        let (_d, c) = store();
        let r = make(&c, "ghost", Status::Running, 10);
        c.update(&r.id, |r| {
            let s = r.state.as_mut().unwrap();
            s.pid_start += 1; // the pid now belongs to someone else
            Ok::<_, crate::state::StateError>(())
        })
        .unwrap();
        assert!(list(&c, &PsOptions::default()).unwrap().is_empty());
        let all = list(
            &c,
            &PsOptions {
                all: true,
                ..Default::default()
            },
        )
        .unwrap();
        let row = row(&all[0], false, None, Utc::now());
        assert_eq!(row.state, "exited");
        assert!(row.status.starts_with("Exited (255) "), "{}", row.status);
    }

    #[test]
    fn rows_read_like_docker() {
        let (_d, c) = store();
        let mut r = make(&c, "web", Status::Running, 180);
        r.network = Some(NetworkSection {
            mode: "bridge".into(),
            network: Some("bridge".into()),
            ports: vec![PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
            }],
            ..Default::default()
        });
        r.bundle.as_mut().unwrap().config.cmd = Some(vec![
            "sh".into(),
            "-c".into(),
            "echo \"hi\"; sleep 1000000".into(),
        ]);
        let row1 = row(&r, false, None, Utc::now());
        assert_eq!(row1.id.len(), 12);
        assert_eq!(row1.command, "\"sh -c echo \\\"hi\\\"; sl…\"");
        assert_eq!(row1.status, "Up 3 minutes");
        assert_eq!(row1.running_for, "3 minutes ago");
        assert_eq!(row1.ports, "0.0.0.0:8080->80/tcp");
        assert_eq!(row1.networks, "bridge");
        assert_eq!(row1.size, "0B");
        let full = row(&r, true, None, Utc::now());
        assert_eq!(full.id, r.id);
        assert_eq!(full.command, "\"sh -c echo \\\"hi\\\"; sleep 1000000\"");
        // Stopped: no ports.
        r.state.as_mut().unwrap().status = Status::Exited;
        assert_eq!(row(&r, false, None, Utc::now()).ports, "");
    }

    #[test]
    fn quoting_and_ellipsis() {
        assert_eq!(go_quote("a\tb\u{1}é"), "\"a\\tb\\x01é\"");
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }
}
