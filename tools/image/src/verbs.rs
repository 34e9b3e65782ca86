//! One function per verb: call the library, print the result: Docker's text for `berth VERB`
//! (berth_cli::skel); berth's JSON for a program (`--json`, or berth-image on its own).

use std::io::{self, IsTerminal, Write};

use berth::format;
use berth::image::archive::{load, save};
use berth::image::gc::{self, PruneOptions};
use berth::image::remove::{self, RmiOptions};
use berth::image::{Inventory, busybox, history as hist, import as imp, inspect as insp, list};
use berth::store::ImageStore;
use berth::store::layout::PlatformSpec;
use berth::{Code, Error, Result};
use berth_cli::{CommonOpts, print_json, print_text};
use serde::Serialize;

use crate::{
    DefaultArgs, HistoryArgs, ImportArgs, InspectArgs, ListArgs, LoadArgs, PruneArgs, RmiArgs,
    SaveArgs, TagArgs,
};

fn store(c: &CommonOpts) -> Result<ImageStore> {
    Ok(ImageStore::open(&c.paths())?)
}

/// For rmi and prune, which take the gc lock and so must not hold a lease themselves.
fn gc_store(c: &CommonOpts) -> Result<ImageStore> {
    Ok(ImageStore::open_for_gc(&c.paths())?)
}

/// Prints list rows: `--format` (table, table TEMPLATE, json, TEMPLATE) through berth's shared
/// formatter; without it, Docker's default table, or berth's JSON array (`--json`).
fn print_rows<T: Serialize>(
    c: &CommonOpts,
    rows: &[T],
    format: Option<&str>,
    columns: &format::Columns,
) -> Result<()> {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| serde_json::to_value(r).expect("rows serialise"))
        .collect();
    let f = match format {
        Some(spec) if !spec.trim().is_empty() => format::Format::parse(spec, columns)?,
        _ if c.wants_json() => return print_json(&rows),
        _ => format::Format::default_table(columns)?,
    };
    print_text(&f.render(&rows, columns)?)
}

const IMAGE_FIELDS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

const HISTORY_COLUMNS: format::Columns = format::Columns {
    headers: &[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ],
    default_table: "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
};

pub fn images(c: &CommonOpts, a: ListArgs) -> Result<()> {
    let _ = a.all;
    let filters = a
        .filter
        .iter()
        .map(|f| f.parse::<list::Filter>())
        .collect::<Result<Vec<_>, _>>()?;
    let opts = list::ListOptions {
        repository: a.repository.clone(),
        filters,
        no_trunc: a.no_trunc,
    };
    let inv = Inventory::load(&store(c)?)?;
    let rows = list::rows(&inv, &opts)?;
    if a.quiet {
        let ids: String = rows.iter().map(|r| format!("{}\n", r.id)).collect();
        return print_text(&ids);
    }
    let columns = format::Columns {
        headers: IMAGE_FIELDS,
        default_table: if a.digests {
            "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        } else {
            "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
        },
    };
    print_rows(c, &rows, a.format.as_deref(), &columns)
}

pub fn tag(c: &CommonOpts, a: TagArgs) -> Result<()> {
    remove::tag(&store(c)?, &a.source, &a.target)?;
    Ok(())
}

pub fn rmi(c: &CommonOpts, a: RmiArgs) -> Result<()> {
    let opts = RmiOptions {
        force: a.force,
        no_prune: a.no_prune,
    };
    let report = remove::rmi(&gc_store(c)?, &c.paths(), &a.images, opts);
    if c.wants_json() {
        if !report.removed.is_empty() || report.errors.is_empty() {
            print_json(&report.removed)?;
        }
    } else {
        let text: String = report.removed.iter().map(|r| format!("{r}\n")).collect();
        print_text(&text)?;
    }
    // Docker reports every argument that failed; with --force, images that do not exist only
    // if nothing worse happened (docker/cli's rmi).
    let mut failures = berth_cli::Failures::new().forgive_not_found(a.force);
    for e in report.errors {
        failures.add("", e.into());
    }
    failures.finish()
}

pub fn prune(c: &CommonOpts, a: PruneArgs) -> Result<()> {
    let opts = PruneOptions::parse(a.all, &a.filter)?;
    if !a.force {
        let what = if a.all {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        if !berth_cli::confirm(&format!("This will remove {what}.")) {
            return Ok(());
        }
    }
    let report = gc::prune_locked(&c.paths(), &opts, || {
        eprintln!("berth-image: waiting for a pull, load or unpack in progress to finish...");
    })?;
    if c.wants_json() {
        return print_json(&report);
    }
    let mut text = String::new();
    if !report.deleted.is_empty() {
        text.push_str("Deleted Images:\n");
        for r in &report.deleted {
            let line = r.to_string();
            // Docker's prune spells these in lower case.
            let line = line
                .replacen("Untagged:", "untagged:", 1)
                .replacen("Deleted:", "deleted:", 1);
            text.push_str(&line);
            text.push('\n');
        }
        text.push('\n');
    }
    let col = &report.collected;
    if col.leftovers > 0 {
        // berth's own word, beside Docker's lines: on stderr.
        eprintln!(
            "Removed {} leftover(s) of interrupted pulls and loads",
            col.leftovers
        );
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        berth::units::human::size(col.reclaimed)
    ));
    print_text(&text)
}

pub fn save(c: &CommonOpts, a: SaveArgs) -> Result<()> {
    let s = store(c)?;
    match &a.output {
        Some(path) => {
            save::save_to_file(&s, &a.images, path)?;
        }
        None => {
            if io::stdout().is_terminal() {
                return Err(Error::client(
                    Code::BAD_ARGS,
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect",
                ));
            }
            let mut out = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
            save::save(&s, &a.images, &mut out)?;
            out.flush()
                .map_err(|e| Error::new(Code::IO, format!("writing to stdout: {e}")))?;
        }
    }
    Ok(())
}

pub fn load(c: &CommonOpts, a: LoadArgs) -> Result<()> {
    if a.input.is_none() && io::stdin().is_terminal() {
        return Err(Error::new(
            Code::BAD_ARGS,
            "requested load from stdin, but stdin is a terminal (use -i FILE, or redirect an archive into stdin)",
        ));
    }
    let loaded = load::load(&store(c)?, a.input.as_deref())?;
    if c.wants_json() {
        return print_json(&loaded);
    }
    if a.quiet {
        return Ok(());
    }
    let mut text = String::new();
    for l in &loaded {
        if l.names.is_empty() {
            text.push_str(&format!("Loaded image ID: {}\n", l.id));
        }
        for n in &l.names {
            text.push_str(&format!("Loaded image: {n}\n"));
        }
    }
    print_text(&text)
}

pub fn import(c: &CommonOpts, a: ImportArgs) -> Result<()> {
    if a.file.contains("://") {
        return Err(Error::new(
            Code::UNSUPPORTED,
            format!(
                "import from a URL ({}) is not supported: download it first, then berth import FILE",
                a.file
            ),
        ));
    }
    if a.file == "-" && io::stdin().is_terminal() {
        return Err(Error::new(
            Code::BAD_ARGS,
            "import from stdin, but stdin is a terminal (redirect a tar into it, or give FILE)",
        ));
    }
    let platform = a
        .platform
        .as_deref()
        .map(str::parse::<PlatformSpec>)
        .transpose()?;
    let opts = imp::ImportOptions {
        reference: a.reference.clone(),
        changes: a.change.clone(),
        message: a.message.clone(),
        platform,
    };
    let source = (a.file != "-").then(|| std::path::PathBuf::from(&a.file));
    let loaded = imp::import(&store(c)?, source.as_deref(), &opts)?;
    if c.wants_json() {
        print_json(&loaded)
    } else {
        print_text(&format!("{}\n", loaded.id))
    }
}

pub fn history(c: &CommonOpts, a: HistoryArgs) -> Result<()> {
    let inv = Inventory::load(&store(c)?)?;
    let img = inv.resolve(&a.image)?.image;
    let rows = hist::rows(
        img,
        hist::HistoryOptions {
            no_trunc: a.no_trunc,
            raw: !a.human,
        },
    );
    if a.quiet {
        let ids: String = rows.iter().map(|r| format!("{}\n", r.id)).collect();
        return print_text(&ids);
    }
    print_rows(c, &rows, a.format.as_deref(), &HISTORY_COLUMNS)
}

pub fn inspect(c: &CommonOpts, a: InspectArgs) -> Result<()> {
    let template = match a.format.as_deref().map(str::trim) {
        None | Some("") | Some("json") => None,
        Some(t) => Some(berth_cli::template(t)?),
    };
    let inv = Inventory::load(&store(c)?)?;
    let mut docs = Vec::new();
    let mut failures = berth_cli::Failures::new();
    for arg in &a.images {
        match inv.resolve(arg) {
            Ok(r) => docs.push(insp::document(r.image)),
            Err(e) => failures.add(arg, e.into()),
        }
    }
    if let Some(t) = &template {
        // The typed documents, so that structs print as Go prints them.
        print_text(&berth_cli::render_each(t, &docs)?)?;
    } else if a.format.as_deref().map(str::trim) == Some("json") {
        let text: String = docs
            .iter()
            .map(|d| format!("{}\n", serde_json::to_string(d).unwrap_or_default()))
            .collect();
        print_text(&text)?;
    } else {
        print_pretty(&docs)?;
    }
    failures.finish()
}

/// Docker's inspect output: indented by four spaces.
fn print_pretty<T: Serialize>(docs: &[T]) -> Result<()> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    docs.serialize(&mut ser).expect("json");
    buf.push(b'\n');
    print_text(&String::from_utf8_lossy(&buf))
}

pub fn default_image(c: &CommonOpts, a: DefaultArgs) -> Result<()> {
    let opts = busybox::DefaultOptions {
        busybox: a.busybox.clone(),
        tag: a.tag.clone(),
        force: a.force,
    };
    let built = busybox::build(&store(c)?, &opts)?;
    if c.wants_json() {
        return print_json(&built);
    }
    let short = &berth::paths::digest_hex(&built.id)[..12];
    let text = if built.changed {
        format!(
            "{}: built from {} ({} applets), image {short}\n",
            built.name,
            built.busybox.display(),
            built.applets
        )
    } else {
        format!("{}: up to date (image {short})\n", built.name)
    };
    print_text(&text)
}

/// `berth image pull ...` is berth-pull's job.
pub fn pull(c: &CommonOpts, args: &[String]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let tool = berth::paths::tool_path("berth-pull");
    let err = std::process::Command::new(&tool)
        .args(args)
        .env("BERTH_ROOT", &c.root)
        .env("BERTH_RUN_ROOT", &c.run_root)
        .exec();
    Err(Error::new(
        Code::COMMAND_NOT_FOUND,
        format!("cannot run {}: {err}", tool.display()),
    ))
}
