//! The build driver: the plan's needed stages in order, each instruction a step whose key
//! chains its parent's ([`super::cache`]); metadata steps through [`super::meta`], RUN,
//! COPY, ADD and WORKDIR through [`super::exec`] and [`super::context`]; then the result
//! written to the store with its names.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::cache::{self, Cache};
use super::context::{self, Sums};
use super::exec;
use super::parse::{self, Instruction};
use super::plan::{self, Plan, Stage};
use super::{BuildError, BuildOptions, Built, ImageState, Progress, at, interrupted, meta, vars};
use crate::bundle::Overrides;
use crate::confine::{Root, clean_path};
use crate::error::{Code, Error, Result};
use crate::image::oneshot::commit_image;
use crate::paths::Paths;
use crate::reference::Reference;
use crate::store::ImageStore;

pub(super) struct Builder<'a> {
    pub(super) paths: &'a Paths,
    pub(super) store: ImageStore,
    pub(super) opts: &'a BuildOptions,
    pub(super) cache: Cache,
    pub(super) escape: char,
    pub(super) plan: Plan,
    pub(super) results: Vec<Option<(ImageState, String)>>,
    pub(super) sums: Sums,
    pub(super) context: Root,
    /// The context's `.dockerignore` (None: there is none).
    pub(super) ignore: Option<std::sync::Arc<super::ignore::Ignore>>,
    /// The names ARG declared in the stages built so far.
    pub(super) declared: std::collections::BTreeSet<String>,
    /// `ADD URL`'s files.
    pub(super) downloads: super::fetch::Downloads,
}

/// Builds the Dockerfile in `opts`; returns the image's id and names.
pub fn build(paths: &Paths, opts: &BuildOptions, progress: &mut dyn Progress) -> Result<Built> {
    let df = parse::parse(&opts.dockerfile)?;
    if df.instructions.is_empty() {
        return Err(BuildError::Empty.into());
    }
    let names = opts
        .tags
        .iter()
        .map(|t| {
            let r = Reference::parse(t).map_err(|e| {
                BuildError::BadArgs(format!(
                    "invalid tag \"{t}\": {}",
                    Error::from(e).one_line()
                ))
            })?;
            Ok(r.familiar())
        })
        .collect::<Result<Vec<_>>>()?;
    let plan = plan::plan(&df, &opts.build_args, opts.target.as_deref())?;
    let store = ImageStore::open(paths)?;
    let _lease = store.lease()?;
    let context = Root::open(&opts.context).map_err(|e| {
        BuildError::BadArgs(format!(
            "unable to prepare context: path {:?} not found: {e}",
            opts.context.display().to_string()
        ))
    })?;
    let n = plan.stages.len();
    let mut b = Builder {
        paths,
        store,
        opts,
        cache: Cache::open(paths, !opts.no_cache)?,
        escape: df.escape,
        plan,
        results: vec![None; n],
        sums: Sums::load(paths),
        ignore: dockerignore(&context),
        context,
        declared: Default::default(),
        downloads: Default::default(),
    };
    let needed = b.plan.needed.clone();
    let last = *needed.last().expect("a target");
    for i in needed {
        let r = b.stage(i, progress);
        b.sums.save(paths);
        let r = r?;
        b.results[i] = Some(r);
    }
    let (mut state, _) = b.results[last].take().expect("built");
    let unused_args = unused_args(opts, &b.plan, &b.declared);
    if opts.dry_run {
        return Ok(Built {
            id: String::new(),
            names,
            unused_args,
        });
    }
    if !opts.labels.is_empty() {
        let c = config_mut(&mut state);
        let labels = c.entry("Labels").or_insert_with(|| json!({}));
        if !labels.is_object() {
            *labels = json!({});
        }
        for (k, v) in &opts.labels {
            labels[k] = json!(v);
        }
    }
    let (manifest, size, id) = exec::write_image(&b.store, &state)?;
    let _ = size;
    let bytes = b.store.read_blob(&manifest)?;
    commit_image(&b.store, &bytes, &names)?;
    Ok(Built {
        id,
        names,
        unused_args,
    })
}

/// Docker's predefined build args, which need no ARG and are never reported unused.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The `--build-arg` names that neither an ARG before the first FROM nor one of a built stage
/// declared, sorted.
fn unused_args(
    opts: &BuildOptions,
    plan: &Plan,
    declared: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let mut out: Vec<String> = opts
        .build_args
        .iter()
        .map(|(k, _)| k.clone())
        .filter(|k| {
            !declared.contains(k)
                && !plan.meta_args.contains_key(k)
                && !PREDEFINED_ARGS.contains(&k.as_str())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The context's `.dockerignore`, read through the context root (it may be a symlink to
/// anything: it resolves inside the context).
fn dockerignore(ctx: &Root) -> Option<std::sync::Arc<super::ignore::Ignore>> {
    // Looked up without opening it, so a FIFO planted there cannot block the build.
    let p = ctx
        .open_at(b".dockerignore", rustix::fs::OFlags::PATH)
        .ok()?;
    let st = rustix::fs::fstat(&p).ok()?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
        return None;
    }
    let fd = crate::confine::reopen(&p, rustix::fs::OFlags::RDONLY).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text).ok()?;
    let i = super::ignore::Ignore::parse(&text);
    (!i.is_empty()).then(|| std::sync::Arc::new(i))
}

/// The base's ONBUILD triggers as instructions (at the FROM's line, for errors), taken out of
/// the config so that they do not pass to images built on this one.
fn onbuild(state: &mut ImageState, from: &Instruction) -> Result<Vec<Instruction>> {
    let Some(list) = config_mut(state).remove("OnBuild") else {
        return Ok(Vec::new());
    };
    let list: Vec<String> = serde_json::from_value(list).unwrap_or_default();
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let df = parse::parse(&list.join("\n"))
        .map_err(|e| Error::from(from.err(format!("the base image's ONBUILD triggers: {e}"))))?;
    Ok(df
        .instructions
        .into_iter()
        .map(|mut i| {
            i.line = from.line;
            i
        })
        .collect())
}

/// A COPY/ADD's heredocs, name and content, the content expanded unless its delimiter was
/// quoted (BuildKit's; a RUN's heredocs are left to its shell).
pub(super) fn heredocs(cur: &Cur, ins: &Instruction) -> Result<Vec<(String, String)>> {
    let look = cur.lookup();
    ins.heredocs
        .iter()
        .map(|h| {
            let content = match h.expand {
                true => vars::expand_raw(&h.content, &look).map_err(|e| ins.err(e))?,
                false => h.content.clone(),
            };
            Ok((h.name.clone(), content))
        })
        .collect()
}

pub(super) fn config_mut(s: &mut ImageState) -> &mut Map<String, Value> {
    if !s.config["config"].is_object() {
        s.config["config"] = json!({});
    }
    s.config["config"].as_object_mut().expect("object")
}

fn history(s: &mut ImageState, created_by: &str, empty: bool) {
    let now = exec::now();
    s.config["created"] = json!(now);
    let mut h =
        json!({"created": now, "created_by": created_by, "comment": "buildkit.dockerfile.v0"});
    if empty {
        h["empty_layer"] = json!(true);
    }
    match s.config["history"].as_array_mut() {
        Some(a) => a.push(h),
        None => s.config["history"] = json!([h]),
    }
}

/// The state of one stage as it runs.
pub(super) struct Cur {
    pub(super) state: ImageState,
    pub(super) key: String,
    pub(super) args: BTreeMap<String, String>,
    pub(super) cmd_set: bool,
    pub(super) label: String,
    pub(super) step: usize,
    pub(super) steps: usize,
}

impl Cur {
    pub(super) fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |n: &str| {
            let env = meta::env_list(
                self.state.config["config"]
                    .as_object()
                    .unwrap_or(&Map::new()),
            );
            env.iter()
                .find_map(|e| e.strip_prefix(&format!("{n}=")).map(str::to_string))
                .or_else(|| self.args.get(n).cloned())
        }
    }
}

const FS_STEPS: &[&str] = &["RUN", "COPY", "ADD", "WORKDIR"];

impl Builder<'_> {
    fn stage(&mut self, i: usize, progress: &mut dyn Progress) -> Result<(ImageState, String)> {
        let st: Stage = self.plan.stages[i].clone();
        let (mut state, key) = self.from(&st).map_err(|e| at(st.from.line, e))?;
        // The base's ONBUILD triggers run first, as Docker's; they are not inherited further.
        let triggers = onbuild(&mut state, &st.from)?;
        let body: Vec<Instruction> = triggers.into_iter().chain(st.body.clone()).collect();
        let steps = 1 + body
            .iter()
            .filter(|x| FS_STEPS.contains(&x.keyword.as_str()))
            .count();
        let label = st.name.clone().unwrap_or_else(|| format!("stage-{i}"));
        let label = if self.plan.stages.len() == 1 {
            String::new()
        } else {
            format!("{label} ")
        };
        let title = format!("[{label}1/{steps}] FROM {}", st.base);
        if self.opts.dry_run {
            progress.planned(&title, true);
        } else {
            progress.step(&title);
            progress.done();
        }
        let mut cur = Cur {
            state,
            key,
            args: BTreeMap::new(),
            cmd_set: false,
            label,
            step: 1,
            steps,
        };
        for ins in &body {
            if interrupted() {
                return Err(BuildError::Interrupted.into());
            }
            self.instruction(&mut cur, ins, progress)
                .map_err(|e| at(ins.line, e))?;
        }
        Ok((cur.state, cur.key))
    }

    fn from(&mut self, st: &Stage) -> Result<(ImageState, String)> {
        if let Some(j) = plan::stage_ref(&self.plan.stages, st.index, &st.base)
            && self.plan.stages[j].name.as_deref() == Some(&st.base.to_ascii_lowercase())
        {
            let (s, k) = self.results[j].clone().expect("earlier stage built");
            return Ok((s, k));
        }
        if st.base == "scratch" {
            return Ok((
                exec::scratch_state(),
                cache::key("", "FROM scratch", &BTreeMap::new(), ""),
            ));
        }
        if self.opts.pull {
            exec::pull(self.paths, &st.base)?;
        }
        let got = match exec::image_state(&self.store, &st.base) {
            Err(e) if e.code() == Code::NOT_FOUND && !self.opts.pull => {
                exec::pull(self.paths, &st.base)?;
                exec::image_state(&self.store, &st.base)
            }
            r => r,
        };
        let (state, id) = got?;
        Ok((
            state,
            cache::key("", &format!("FROM {id}"), &BTreeMap::new(), ""),
        ))
    }

    fn instruction(
        &mut self,
        cur: &mut Cur,
        ins: &Instruction,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        if ins.keyword == "ARG" {
            let pairs = plan::arg_pairs(ins, self.escape, &cur.lookup())?;
            for (k, default) in pairs {
                let given = self
                    .opts
                    .build_args
                    .iter()
                    .rev()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.clone());
                let v = given
                    .or(default)
                    .or_else(|| self.plan.meta_args.get(&k).cloned());
                self.declared.insert(k.clone());
                cur.args.insert(k, v.unwrap_or_default());
            }
            return Ok(());
        }
        if ins.keyword == "FROM" {
            return Err(ins.err("FROM inside a stage").into());
        }
        let fs_step = FS_STEPS.contains(&ins.keyword.as_str());
        // What the step does, after substitution: its key and its history line.
        let (text, extra) = self.describe(cur, ins)?;
        let key = cache::key(&cur.key, &text, &cur.args, &extra);
        let title = if fs_step {
            cur.step += 1;
            format!("[{}{}/{}] {}", cur.label, cur.step, cur.steps, text)
        } else {
            String::new()
        };
        let hit = self.cache.get(&self.store, &key);
        if self.opts.dry_run {
            if fs_step {
                progress.planned(&title, hit.is_some());
            }
            if let Some(h) = hit {
                cur.state = h;
            } else if !fs_step {
                self.metadata(cur, ins)?;
            }
            cur.key = key;
            return Ok(());
        }
        if fs_step {
            progress.step(&title);
        }
        if let Some(h) = hit {
            cur.state = h;
            if ins.keyword == "CMD" {
                cur.cmd_set = true;
            }
            if fs_step {
                progress.cached();
            }
        } else {
            if fs_step {
                self.filesystem(cur, ins, &text, progress)?;
                progress.done();
            } else {
                self.metadata(cur, ins)?;
            }
            self.cache.put(&key, &cur.state)?;
        }
        cur.key = key;
        Ok(())
    }

    fn metadata(&mut self, cur: &mut Cur, ins: &Instruction) -> Result<()> {
        let mut c = config_mut(&mut cur.state).clone();
        let mut cmd_set = cur.cmd_set;
        let text = {
            let look = cur.lookup();
            meta::apply(ins, &mut c, self.escape, &look, &mut cmd_set)?
        };
        cur.cmd_set = cmd_set;
        *config_mut(&mut cur.state) = c;
        history(&mut cur.state, &text, true);
        Ok(())
    }

    /// The instruction's text after substitution, and for COPY/ADD the checksum of what it
    /// copies.
    fn describe(&mut self, cur: &Cur, ins: &Instruction) -> Result<(String, String)> {
        let look = cur.lookup();
        match ins.keyword.as_str() {
            "RUN" => {
                let flags: String = ins
                    .flags
                    .iter()
                    .map(|(k, v)| format!("--{k}={v} "))
                    .collect();
                // A heredoc's lines are part of the command.
                let docs: String = ins
                    .heredocs
                    .iter()
                    .map(|h| format!("{}\0{}\0", h.name, h.content))
                    .collect();
                let mounts = self.mount_keys(cur, ins)?;
                Ok((format!("RUN {flags}{}", ins.args), docs + &mounts))
            }
            "WORKDIR" => {
                let w = vars::expand_word(ins.args.trim(), self.escape, &look)
                    .map_err(|e| ins.err(e))?;
                if w.is_empty() {
                    return Err(ins.err("WORKDIR requires exactly one argument").into());
                }
                Ok((format!("WORKDIR {}", self.workdir(cur, &w)), String::new()))
            }
            "COPY" | "ADD" => {
                let (srcs, dest) = self.copy_args(cur, ins)?;
                let flags: Vec<String> = ins
                    .flags
                    .iter()
                    .map(|(k, v)| match v.is_empty() {
                        true => format!("--{k}"),
                        false => format!("--{k}={v}"),
                    })
                    .collect();
                let text = format!(
                    "{} {}{} {}",
                    ins.keyword,
                    flags.iter().map(|f| format!("{f} ")).collect::<String>(),
                    srcs.join(" "),
                    dest
                );
                let extra = match ins.flag("from") {
                    _ if !ins.heredocs.is_empty() => {
                        let all: String = heredocs(cur, ins)?
                            .iter()
                            .map(|(n, c)| format!("{n}\0{c}\0"))
                            .collect();
                        crate::digest::sha256(all.as_bytes())
                    }
                    _ if ins.keyword == "ADD" && self.urls(ins, &srcs)?.is_some() => {
                        let checksum = ins.flag("checksum");
                        let mut all = String::new();
                        for u in &srcs {
                            let f = self.downloads.get(self.paths, u, checksum)?;
                            let name = super::fetch::file_name(u);
                            all.push_str(&format!("{name}\0{}\0", f.digest));
                        }
                        all
                    }
                    Some(f) => {
                        let (_, k, _) = self.source_of(cur, ins, f)?;
                        k
                    }
                    None => {
                        let ig = self.ignore.as_deref();
                        let rels = context::sources(&self.context, &srcs, ig)?;
                        context::checksum(
                            &self.context,
                            &context::context_id(&self.opts.context),
                            &rels,
                            &mut self.sums,
                            ig,
                        )?
                    }
                };
                Ok((text, extra))
            }
            _ => {
                // Metadata: the key is the instruction as written plus the scope's values.
                let env = meta::env_list(
                    cur.state.config["config"]
                        .as_object()
                        .unwrap_or(&Map::new()),
                );
                Ok((format!("{} {}", ins.keyword, ins.original), env.join("\0")))
            }
        }
    }

    /// What a RUN's bind mounts show it: for `from=`, the stage's key or the image's id; for
    /// the context, the checksum of the files bound. A change there is a cache miss.
    fn mount_keys(&mut self, cur: &Cur, ins: &Instruction) -> Result<String> {
        let mut out = String::new();
        for (k, spec) in &ins.flags {
            if k != "mount" {
                continue;
            }
            let opt = |name: &str| {
                spec.split(',').find_map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (k == name).then(|| v.to_string())
                })
            };
            if opt("type").is_some_and(|t| t != "bind") {
                continue;
            }
            let source = opt("source").or_else(|| opt("src")).unwrap_or_default();
            if let Some(f) = opt("from") {
                let (_, key, _) = self.source_of(cur, ins, &f)?;
                out.push_str(&format!("\0{key}"));
                continue;
            }
            let Ok(rel) = clean_path(source.as_bytes()) else {
                continue;
            };
            if self
                .context
                .open_at(&rel, rustix::fs::OFlags::PATH)
                .is_err()
            {
                continue;
            }
            let sum = context::checksum(
                &self.context,
                &context::context_id(&self.opts.context),
                &[rel],
                &mut self.sums,
                self.ignore.as_deref(),
            )?;
            out.push_str(&format!("\0{sum}"));
        }
        Ok(out)
    }

    fn workdir(&self, cur: &Cur, w: &str) -> String {
        let base = cur.state.config["config"]["WorkingDir"]
            .as_str()
            .unwrap_or("/")
            .to_string();
        let joined = if w.starts_with('/') {
            w.to_string()
        } else {
            format!("{}/{w}", base.trim_end_matches('/'))
        };
        let clean = clean_path(joined.as_bytes()).unwrap_or_default();
        format!("/{}", String::from_utf8_lossy(&clean))
    }

    pub(super) fn copy_args(&self, cur: &Cur, ins: &Instruction) -> Result<(Vec<String>, String)> {
        let words = match ins.json() {
            Some(v) => v,
            None => {
                let look = cur.lookup();
                vars::expand(&ins.args, self.escape, &look, true).map_err(|e| ins.err(e))?
            }
        };
        if words.len() < 2 {
            return Err(ins.err(format!("{} requires at least two arguments, but only one was provided. Destination could not be determined", ins.keyword)).into());
        }
        let (dest, srcs) = words.split_last().expect("two");
        Ok((srcs.to_vec(), dest.clone()))
    }

    /// `--from=stage|index|image`: its state and key, and whether it is a stage.
    pub(super) fn source_of(
        &mut self,
        cur: &Cur,
        ins: &Instruction,
        f: &str,
    ) -> Result<(ImageState, String, bool)> {
        let look = cur.lookup();
        let f = vars::expand_word(f, self.escape, &look).map_err(|e| ins.err(e))?;
        let me = self
            .plan
            .stages
            .iter()
            .position(|s| s.from.line > ins.line)
            .unwrap_or(self.plan.stages.len());
        if let Some(j) = plan::stage_ref(&self.plan.stages, me.saturating_sub(1), &f)
            && let Some((s, k)) = self.results[j].clone()
        {
            return Ok((s, k, true));
        }
        let got = match exec::image_state(&self.store, &f) {
            Err(e) if e.code() == Code::NOT_FOUND => {
                exec::pull(self.paths, &f)?;
                exec::image_state(&self.store, &f)
            }
            r => r,
        };
        let (s, id) = got?;
        Ok((s, id, false))
    }

    fn filesystem(
        &mut self,
        cur: &mut Cur,
        ins: &Instruction,
        text: &str,
        progress: &mut dyn Progress,
    ) -> Result<()> {
        let layer = match ins.keyword.as_str() {
            "RUN" => self.run(cur, ins, progress)?,
            "WORKDIR" => {
                let w = text.trim_start_matches("WORKDIR ").to_string();
                config_mut(&mut cur.state).insert("WorkingDir".into(), json!(w));
                let sc = exec::scratch(self.paths, &self.store, &cur.state, Overrides::default())?;
                let rel = clean_path(w.as_bytes()).unwrap_or_default();
                sc.root()?
                    .mkdir_all(&rel)
                    .map_err(|e| Error::new(Code::IO, format!("cannot create {w}: {e}")))?;
                exec::commit_layer(&self.store, &sc)?
            }
            _ => self.copy(cur, ins)?,
        };
        let empty = layer.is_none();
        if let Some(l) = layer {
            cur.state.layers.push(l);
        }
        let shown = if ins.keyword == "RUN" || ins.keyword == "COPY" || ins.keyword == "ADD" {
            format!("{text} # buildkit")
        } else {
            text.to_string()
        };
        history(&mut cur.state, &shown, empty);
        Ok(())
    }
}
