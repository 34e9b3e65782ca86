//! COPY and ADD: sources in the context (after `.dockerignore`), in a heredoc, or in
//! `--from`'s stage or image; the destination resolved against WORKDIR; `--chown` by the
//! destination image's own passwd and group files; `--chmod`. The layer is written straight
//! from the sources ([`super::copylayer`]). ADD of a local archive, and a kernel that cannot
//! mount an overlay detached (before Linux 6.8, for images of two layers or more), go
//! through a step container instead: the sources are copied into its rootfs by descriptor
//! and the layer is its upper directory ([`super::exec::commit_layer`]).

use rustix::fs::{FileType, OFlags};

use super::context::{self, CopyInto};
use super::copylayer::{self, LayerTar, Lower};
use super::exec::{self, Scratch};
use super::parse::Instruction;
use super::stage::{Builder, Cur};
use super::{ImageState, Layer};
use crate::bundle::Overrides;
use crate::confine::{RESOLVE, Root, clean_path};
use crate::error::{Code, Error, Result};

/// What a COPY writes, whichever way.
struct Plan<'a> {
    ins: &'a Instruction,
    /// The destination as written (a trailing `/` makes it a directory).
    dest: &'a str,
    /// The destination, absolute (WORKDIR applied), cleaned and relative.
    dest_rel: Vec<u8>,
    src: &'a Root,
    rels: &'a [Vec<u8>],
    chmod: Option<u32>,
    chown: Option<&'a str>,
    /// Without `--chown`: root for the context and heredocs, the source's for `--from`.
    default_owner: Option<(u32, u32)>,
    ignore: Option<std::sync::Arc<super::ignore::Ignore>>,
    /// ADD's local archives are extracted.
    add: bool,
}

/// Where the sources are read.
enum Source<'p> {
    Context,
    /// `ADD URL...`: the build's downloads.
    Downloads,
    Heredocs(super::steps::TmpDir),
    Image(Lower),
    Container(Box<Scratch<'p>>),
}

impl<'a> Builder<'a> {
    pub(super) fn copy(&mut self, cur: &mut Cur, ins: &Instruction) -> Result<Option<Layer>> {
        for (k, _) in &ins.flags {
            let add_only = ins.keyword == "ADD" && k == "checksum";
            if !add_only && !matches!(k.as_str(), "from" | "chown" | "chmod" | "link") {
                return Err(ins
                    .err(format!("{} --{k} is not supported", ins.keyword))
                    .into());
            }
        }
        if ins.keyword == "ADD" && ins.flag("from").is_some() {
            return Err(ins
                .err("ADD does not support --from (use COPY --from)")
                .into());
        }
        let (srcs, dest) = self.copy_args(cur, ins)?;
        let wd = cur.state.config["config"]["WorkingDir"]
            .as_str()
            .unwrap_or("/")
            .to_string();
        let abs = if dest.starts_with('/') {
            dest.clone()
        } else {
            format!("{}/{dest}", wd.trim_end_matches('/'))
        };
        let dest_rel = clean_path(abs.as_bytes())
            .map_err(|_| ins.err(format!("invalid destination {dest}")))?;
        let chmod = match ins.flag("chmod") {
            Some(m) => Some(
                u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| {
                        ins.err(format!(
                            "invalid chmod parameter {m:?} (use octal, e.g. 755)"
                        ))
                    })?,
            ),
            None => None,
        };
        let from = match ins.flag("from") {
            Some(f) if ins.heredocs.is_empty() => Some(self.source_of(cur, ins, f)?.0),
            _ => None,
        };
        let (source, srcs) = self.source(cur, ins, from.as_ref(), srcs)?;
        let src_root = match &source {
            Source::Context => dup(&self.context)?,
            Source::Downloads => {
                let d = self.downloads.dir().expect("downloaded");
                Root::open(d).map_err(|e| Error::new(Code::IO, format!("{}: {e}", d.display())))?
            }
            Source::Heredocs(d) => {
                Root::open(d.path()).map_err(|e| Error::new(Code::IO, format!("heredoc: {e}")))?
            }
            Source::Image(l) => dup(&l.root)?,
            Source::Container(s) => s.root()?,
        };
        let ignore = matches!(source, Source::Context)
            .then(|| self.ignore.clone())
            .flatten();
        let rels = context::sources(&src_root, &srcs, ignore.as_deref())?;
        let plan = Plan {
            ins,
            dest: &dest,
            dest_rel,
            src: &src_root,
            rels: &rels,
            chmod,
            chown: ins.flag("chown"),
            default_owner: (from.is_none()).then_some((0, 0)),
            ignore,
            add: ins.keyword == "ADD" && matches!(source, Source::Context),
        };
        let archives = plan.add && rels.iter().any(|r| context::is_archive(&src_root, r));
        let lower = match archives {
            true => None,
            false => copylayer::lower(self.paths, &self.store, &cur.state)?,
        };
        match lower {
            Some(l) => self.copy_direct(&plan, &l).map(Some),
            None => self.copy_in_container(&plan, &cur.state),
        }
    }

    /// The sources' root: the context, the heredocs' files, or `--from`'s filesystem (a
    /// detached overlay, or a container of it where the kernel has none).
    fn source(
        &mut self,
        cur: &Cur,
        ins: &Instruction,
        from: Option<&ImageState>,
        srcs: Vec<String>,
    ) -> Result<(Source<'a>, Vec<String>)> {
        if !ins.heredocs.is_empty() {
            let docs = super::stage::heredocs(cur, ins)?;
            let (dir, names) = self.heredoc_files(ins, &docs)?;
            return Ok((Source::Heredocs(dir), names));
        }
        if ins.keyword == "ADD"
            && let Some(urls) = self.urls(ins, &srcs)?
        {
            let checksum = ins.flag("checksum");
            let mut rels = Vec::new();
            for u in urls {
                rels.push(self.downloads.get(self.paths, &u, checksum)?.rel);
            }
            return Ok((Source::Downloads, rels));
        }
        let Some(state) = from else {
            return Ok((Source::Context, srcs));
        };
        if let Some(l) = copylayer::lower(self.paths, &self.store, state)? {
            return Ok((Source::Image(l), srcs));
        }
        let s = exec::scratch(self.paths, &self.store, state, Overrides::default())?;
        Ok((Source::Container(Box::new(s)), srcs))
    }

    /// ADD's sources if they are URLs (None: local files). `--checksum` is for URLs only.
    pub(super) fn urls(&self, ins: &Instruction, srcs: &[String]) -> Result<Option<Vec<String>>> {
        let n = srcs.iter().filter(|s| super::fetch::is_url(s)).count();
        if n == 0 {
            if ins.flag("checksum").is_some() {
                return Err(ins
                    .err("checksum can't be specified for non-HTTP(S) sources")
                    .into());
            }
            return Ok(None);
        }
        if n < srcs.len() {
            return Err(ins
                .err("berth build cannot mix URLs and local files in one ADD (split it in two)")
                .into());
        }
        if let Some(c) = ins.flag("checksum") {
            let hex = c.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ins
                    .err(format!(
                        "invalid checksum digest format: {c} (use sha256:<64 hex>)"
                    ))
                    .into());
            }
        }
        Ok(Some(srcs.to_vec()))
    }

    /// `--chown`'s user and group, looked up in `root`'s passwd and group files.
    fn owner(&self, p: &Plan, root: &Root) -> Result<Option<(u32, u32)>> {
        let Some(u) = p.chown else {
            return Ok(p.default_owner);
        };
        let r = crate::bundle::user::resolve_at(root, u).map_err(|e| {
            p.ins.err(format!(
                "unable to convert uid/gid chown string to host mapping: {e}"
            ))
        })?;
        Ok(Some((r.uid, r.gid)))
    }

    fn copy_direct(&self, p: &Plan, lower: &Lower) -> Result<Layer> {
        let owner = self.owner(p, &lower.root)?;
        let (dest, there) = copylayer::resolve(&lower.root, &p.dest_rel)?;
        let existing_dir =
            there.is_some_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory);
        let dest_is_dir = p.dest.ends_with('/') || p.rels.len() > 1 || existing_dir;
        let mut t = LayerTar::new(&self.store, &lower.root)?;
        t.owner = owner;
        t.chmod = p.chmod;
        let mut first = true;
        for rel in p.rels {
            let shown = String::from_utf8_lossy(rel);
            let fd = p
                .src
                .open_at(rel, OFlags::PATH)
                .map_err(|_| Error::new(Code::NOT_FOUND, format!("\"/{shown}\": not found")))?;
            let st = rustix::fs::fstat(&fd)
                .map_err(|e| Error::new(Code::IO, format!("{shown}: {e}")))?;
            if first {
                // Created directories: `--chown`'s owner (root without it) and the first
                // source's mtime, so the same tree gives the same layer.
                t.created = (owner.unwrap_or((0, 0)), st.st_mtime.max(0) as u64);
                first = false;
            }
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                let skip = copylayer::skip_for(p.ignore.clone(), rel);
                t.contents(&fd, &dest, &skip)?;
            } else if dest_is_dir {
                t.dirs_to(&dest)?;
                let name = crate::confine::split_parent(rel).1;
                let at = if dest.is_empty() {
                    name.to_vec()
                } else {
                    [&dest[..], b"/", name].concat()
                };
                t.one(&fd, &st, &at)?;
            } else {
                t.dirs_to(crate::confine::split_parent(&dest).0)?;
                t.one(&fd, &st, &dest)?;
            }
        }
        t.finish()
    }

    fn copy_in_container(&self, p: &Plan, state: &ImageState) -> Result<Option<Layer>> {
        let sc = exec::scratch(self.paths, &self.store, state, Overrides::default())?;
        let dst = sc.root()?;
        let owner = self.owner(p, &dst)?;
        let existing_dir = dst
            .open_at(&p.dest_rel, OFlags::DIRECTORY | OFlags::PATH)
            .is_ok();
        let how = CopyInto {
            dest: &p.dest_rel,
            dest_is_dir: p.dest.ends_with('/') || p.rels.len() > 1 || existing_dir,
            owner,
            chmod: p.chmod,
        };
        // The directories the copy creates belong to `--chown`'s user, as BuildKit's.
        let dest_dir: &[u8] = match how.dest_is_dir {
            true => &p.dest_rel,
            false => crate::confine::split_parent(&p.dest_rel).0,
        };
        let mut created = Vec::new();
        let mut prefix = Vec::new();
        for c in dest_dir.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(c);
            if !created.is_empty() || dst.open_at(&prefix, OFlags::PATH).is_err() {
                created.push(prefix.clone());
            }
        }
        for rel in p.rels {
            let members = p.chown.and(owner);
            if p.add && context::add_archive(p.src, rel, &dst, &p.dest_rel, members)? {
                continue;
            }
            context::copy(p.src, rel, &dst, &how, p.ignore.clone())?;
        }
        if let (Some(_), Some((u, g))) = (p.chown, owner) {
            for d in &created {
                let fd = dst
                    .open_at(d, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW)
                    .map_err(|e| {
                        Error::new(Code::IO, format!("{}: {e}", String::from_utf8_lossy(d)))
                    })?;
                rustix::fs::fchown(
                    &fd,
                    Some(rustix::process::Uid::from_raw(u)),
                    Some(rustix::process::Gid::from_raw(g)),
                )
                .map_err(|e| {
                    Error::new(Code::IO, format!("{}: {e}", String::from_utf8_lossy(d)))
                })?;
            }
        }
        exec::commit_layer(&self.store, &sc)
    }
}

fn dup(r: &Root) -> Result<Root> {
    let fd = r
        .fd()
        .try_clone_to_owned()
        .map_err(|e| Error::new(Code::IO, e.to_string()))?;
    Ok(Root::from_fd(fd, RESOLVE))
}
