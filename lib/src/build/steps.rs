//! The filesystem steps of a stage: RUN (its command, SHELL, build args as its
//! environment, `--network`) and COPY/ADD (sources in the context or `--from`, destination
//! resolved against WORKDIR, `--chown` by the rootfs's own passwd and group files,
//! `--chmod`, ADD's local archives extracted), each in a step container ([`super::exec`]).

use rustix::fs::OFlags;

use super::Progress;
use super::context::{self, CopyInto};
use super::exec::{self, RunStep};
use super::meta;
use super::parse::Instruction;
use super::stage::{Builder, Cur};
use crate::bundle::Overrides;
use crate::confine::{RESOLVE, Root, clean_path};
use crate::error::{Code, Error, Result};

impl Builder<'_> {
    pub(super) fn run(
        &mut self,
        cur: &mut Cur,
        ins: &Instruction,
        progress: &mut dyn Progress,
    ) -> Result<Option<super::Layer>> {
        if let Some((k, _)) = ins.flags.iter().find(|(k, _)| k != "network") {
            return Err(ins
                .err(format!("RUN --{k} is not supported by berth build yet"))
                .into());
        }
        let c = cur.state.config["config"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let argv = meta::command(ins, &c);
        if argv.is_empty() || argv[0].is_empty() {
            return Err(ins.err("RUN requires a command").into());
        }
        // Build args are the command's environment, below ENV.
        let env_keys: Vec<String> = meta::env_list(&c)
            .iter()
            .map(|e| e.split('=').next().unwrap_or("").to_string())
            .collect();
        let env = cur
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let network = ins
            .flag("network")
            .unwrap_or(&self.opts.network)
            .to_string();
        let step = RunStep {
            line: ins.line,
            argv,
            env,
            network: &network,
        };
        exec::run(self.paths, &self.store, &cur.state, &step, progress)
    }

    pub(super) fn copy(
        &mut self,
        cur: &mut Cur,
        ins: &Instruction,
    ) -> Result<Option<super::Layer>> {
        for (k, _) in &ins.flags {
            if !matches!(k.as_str(), "from" | "chown" | "chmod" | "link") {
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
        // The source: the context, or another stage's or image's filesystem.
        let from = match ins.flag("from") {
            Some(f) => Some(self.source_of(cur, ins, f)?.0),
            None => None,
        };
        let src_scratch = match &from {
            Some(s) => Some(exec::scratch(
                self.paths,
                &self.store,
                s,
                Overrides::default(),
            )?),
            None => None,
        };
        let src_root = match &src_scratch {
            Some(s) => s.root()?,
            None => Root::from_fd(
                self.context
                    .fd()
                    .try_clone_to_owned()
                    .map_err(|e| Error::new(Code::IO, e.to_string()))?,
                RESOLVE,
            ),
        };
        let ignore = if from.is_none() {
            self.ignore.clone()
        } else {
            None
        };
        let rels = context::sources(&src_root, &srcs, ignore.as_deref())?;
        let sc = exec::scratch(self.paths, &self.store, &cur.state, Overrides::default())?;
        let dst = sc.root()?;
        let owner = match ins.flag("chown") {
            Some(u) => {
                let r = crate::bundle::user::resolve_at(&dst, u).map_err(|e| {
                    ins.err(format!(
                        "unable to convert uid/gid chown string to host mapping: {e}"
                    ))
                })?;
                (r.uid, r.gid)
            }
            None => (0, 0),
        };
        let existing_dir = dst
            .open_at(&dest_rel, OFlags::DIRECTORY | OFlags::PATH)
            .is_ok();
        let how = CopyInto {
            dest: &dest_rel,
            dest_is_dir: dest.ends_with('/')
                || rels.len() > 1
                || existing_dir
                || srcs.iter().any(|s| s.contains(['*', '?', '['])) && rels.len() > 1,
            owner,
            chmod,
        };
        for rel in &rels {
            if ins.keyword == "ADD"
                && from.is_none()
                && context::add_archive(&src_root, rel, &dst, &dest_rel)?
            {
                continue;
            }
            context::copy(&src_root, rel, &dst, &how, ignore.clone())?;
        }
        exec::commit_layer(&self.store, &sc)
    }
}
