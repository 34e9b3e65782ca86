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
        if let Some((k, _)) = ins
            .flags
            .iter()
            .find(|(k, _)| k != "network" && k != "mount")
        {
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
        let env: Vec<String> = cur
            .args
            .iter()
            .filter(|(k, _)| !env_keys.contains(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let network = ins
            .flag("network")
            .unwrap_or(&self.opts.network)
            .to_string();
        let mut env: Vec<String> = env;
        let mut m = RunMounts::default();
        for (k, v) in &ins.flags {
            if k == "mount" {
                self.mount(ins, v, &mut m)?;
            }
        }
        env.extend(m.env);
        let step = RunStep {
            line: ins.line,
            argv,
            env,
            network: &network,
            vol: m.vol,
            stubs: m.stubs,
            add_hosts: &self.opts.add_hosts,
        };
        // The secrets' files live until the step is done.
        let _secrets = m.hold;
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
        // `COPY <<EOF /dest`: the heredocs as files of a private directory, copied as any
        // source is.
        let (_heredocs, src_root, srcs) = if ins.heredocs.is_empty() {
            (None, src_root, srcs)
        } else {
            let (dir, root, names) = self.heredoc_files(ins)?;
            (Some(dir), root, names)
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

    /// `RUN --mount=type=cache|bind|tmpfs|secret,target=...`: the berth-vol flags that make
    /// it, added to `m`. A cache mount is a directory under `<root>/build/mounts`, kept
    /// between builds, by its `id` (default: the target); a bind mount is a context
    /// directory, read-only unless `rw`, resolved inside the context by descriptor; a secret
    /// is a private copy of `--secret`'s value bound read-only ([`Builder::secret`]).
    fn mount(&self, ins: &Instruction, spec: &str, m: &mut RunMounts) -> Result<()> {
        let mut kind = "bind".to_string();
        let (mut target, mut id, mut source, mut rw) = (None, None, None, false);
        let mut sec = SecretMount::default();
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let on = v.is_empty() || v == "true";
            match k {
                "type" => kind = v.to_string(),
                "target" | "dst" | "destination" => target = Some(v.to_string()),
                "id" => id = Some(v.to_string()),
                "source" | "src" => source = Some(v.to_string()),
                "rw" | "readwrite" => rw = on,
                "ro" | "readonly" => rw = !on,
                "required" => sec.required = on,
                "env" => sec.env = Some(v.to_string()),
                "mode" => sec.mode = Some(number(ins, spec, k, v, 8)?),
                "uid" => sec.uid = Some(number(ins, spec, k, v, 10)?),
                "gid" => sec.gid = Some(number(ins, spec, k, v, 10)?),
                "sharing" => {}
                other => {
                    return Err(ins
                        .err(format!("unexpected key '{other}' in '{spec}'"))
                        .into());
                }
            }
        }
        if kind == "secret" {
            return self.secret(ins, id, target, sec, m);
        }
        let Some(target) = target.filter(|t| !t.is_empty()) else {
            return Err(ins
                .err(format!("--mount={spec}: a target is required"))
                .into());
        };
        m.stubs.push(target.clone());
        m.vol
            .extend(self.mount_flags(ins, spec, &kind, &target, id, source, rw)?);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn mount_flags(
        &self,
        ins: &Instruction,
        spec: &str,
        kind: &str,
        target: &str,
        id: Option<String>,
        source: Option<String>,
        rw: bool,
    ) -> Result<Vec<String>> {
        let target = target.to_string();
        match kind {
            "cache" => {
                let key = crate::digest::sha256(id.as_deref().unwrap_or(&target).as_bytes());
                let dir = self
                    .paths
                    .build_mounts()
                    .join(crate::paths::digest_hex(&key));
                crate::store::private::create_dir_all(&self.paths.build_mounts())?;
                match std::fs::create_dir(&dir) {
                    Ok(()) => {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(
                            &dir,
                            std::fs::Permissions::from_mode(0o755),
                        );
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(Error::new(Code::IO, format!("{}: {e}", dir.display()))),
                }
                Ok(vec![
                    "--mount".into(),
                    format!("type=bind,source={},target={target}", dir.display()),
                ])
            }
            "bind" => {
                let src = source.unwrap_or_default();
                let rel = clean_path(src.as_bytes()).map_err(|_| {
                    ins.err(format!("forbidden path outside the build context: {src}"))
                })?;
                let fd = self.context.open_at(&rel, OFlags::PATH).map_err(|_| {
                    ins.err(format!("--mount={spec}: \"/{src}\": not found"))
                })?;
                // The path the kernel resolved inside the context.
                let real = std::fs::read_link(format!(
                    "/proc/self/fd/{}",
                    std::os::fd::AsRawFd::as_raw_fd(&fd)
                ))
                .map_err(|e| Error::new(Code::IO, e.to_string()))?;
                let ro = if rw { "" } else { ",readonly" };
                Ok(vec![
                    "--mount".into(),
                    format!("type=bind,source={},target={target}{ro}", real.display()),
                ])
            }
            "tmpfs" => Ok(vec!["--tmpfs".into(), target]),
            other => Err(ins
                .err(format!(
                    "RUN --mount=type={other} is not supported by berth build (cache, bind, tmpfs and secret are)"
                ))
                .into()),
        }
    }

    /// `RUN --mount=type=secret`: `--secret`'s value copied into a private file (mode 0400
    /// unless `mode`, owned by `uid`:`gid`, 0:0 by default) under the run root and bound
    /// read-only at `target` (default `/run/secrets/ID`), and/or put in the step's
    /// environment as `env`. A missing secret is skipped, or an error if `required`. The
    /// value never enters the cache key (only the instruction's text does) nor the layer
    /// (the mount's stub is removed from the upper directory).
    fn secret(
        &self,
        ins: &Instruction,
        id: Option<String>,
        target: Option<String>,
        sec: SecretMount,
        m: &mut RunMounts,
    ) -> Result<()> {
        let target = target.filter(|t| !t.is_empty());
        let id = match (id.filter(|i| !i.is_empty()), &target) {
            (Some(i), _) => i,
            (None, Some(t)) => t.rsplit('/').next().unwrap_or(t).to_string(),
            (None, None) => return Err(ins.err("secret ID missing from mount options").into()),
        };
        let Some(value) = self.opts.secrets.get(&id) else {
            if sec.required {
                return Err(ins.err(format!("secret {id}: not found")).into());
            }
            return Ok(());
        };
        if let Some(var) = &sec.env {
            m.env
                .push(format!("{var}={}", String::from_utf8_lossy(&value.0)));
            if target.is_none() {
                return Ok(());
            }
        }
        let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
        let io = |e: std::io::Error| Error::new(Code::IO, format!("secret {id}: {e}"));
        let base = self.paths.run.join("build-secrets");
        crate::store::private::create_dir_all(&base)?;
        let dir = TmpDir(base.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            &crate::state::ids::new_id()[..12]
        )));
        crate::store::private::mkdir(dir.path()).map_err(io)?;
        let file = dir.path().join("secret");
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&file)
                .map_err(io)?;
            std::io::Write::write_all(&mut f, &value.0).map_err(io)?;
            std::os::unix::fs::fchown(&f, Some(sec.uid.unwrap_or(0)), Some(sec.gid.unwrap_or(0)))
                .map_err(io)?;
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(sec.mode.unwrap_or(0o400)))
                .map_err(io)?;
        }
        m.vol.extend([
            "--mount".to_string(),
            format!(
                "type=bind,source={},target={target},readonly",
                file.display()
            ),
        ]);
        m.stubs.push(target);
        m.hold.push(dir);
        Ok(())
    }

    fn heredoc_files(&self, ins: &Instruction) -> Result<(TmpDir, Root, Vec<String>)> {
        crate::store::private::create_dir_all(&self.paths.tmp())?;
        let io = |e: std::io::Error| Error::new(Code::IO, format!("heredoc: {e}"));
        // `.tmp-<pid>-...`: collected by gc if this process dies before its drop.
        let dir = TmpDir(self.paths.tmp().join(format!(
            ".tmp-{}-heredoc-{}",
            std::process::id(),
            &crate::state::ids::new_id()[..12]
        )));
        crate::store::private::mkdir(dir.path()).map_err(io)?;
        let mut names = Vec::new();
        for h in &ins.heredocs {
            if h.name.contains('/') || h.name == "." || h.name == ".." {
                return Err(ins.err(format!("invalid heredoc name {:?}", h.name)).into());
            }
            let p = dir.path().join(&h.name);
            std::fs::write(&p, &h.content).map_err(io)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(io)?;
            names.push(h.name.clone());
        }
        let root = Root::open(dir.path()).map_err(io)?;
        Ok((dir, root, names))
    }
}

/// What a RUN's `--mount` flags add to its step.
#[derive(Default)]
struct RunMounts {
    /// berth-vol's flags.
    vol: Vec<String>,
    /// `env=` secrets: `VAR=value` for the step's environment only.
    env: Vec<String>,
    /// The mount targets, whose stubs are not part of the layer.
    stubs: Vec<String>,
    /// The secrets' private files, removed when the step is done.
    hold: Vec<TmpDir>,
}

#[derive(Default)]
struct SecretMount {
    required: bool,
    env: Option<String>,
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
}

fn number(ins: &Instruction, spec: &str, k: &str, v: &str, radix: u32) -> Result<u32> {
    u32::from_str_radix(v, radix).map_err(|_| {
        ins.err(format!("invalid value {v:?} for {k} in '{spec}'"))
            .into()
    })
}

/// A directory removed when dropped.
pub(super) struct TmpDir(std::path::PathBuf);

impl TmpDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
