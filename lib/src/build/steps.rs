//! RUN: its command, SHELL, build args as its environment, `--network`, and `--mount`s
//! (cache, bind of the context or `from=` a stage or image, tmpfs, secret), in a step
//! container ([`super::exec`]). COPY and ADD are in `copystep`.

use rustix::fs::OFlags;

use super::Progress;
use super::exec::{self, RunStep, Scratch};
use super::meta;
use super::parse::Instruction;
use super::stage::{Builder, Cur};
use crate::bundle::Overrides;
use crate::confine::{Root, clean_path};
use crate::error::{Code, Error, Result};

impl<'a> Builder<'a> {
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
                self.mount(cur, ins, v, &mut m)?;
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
        // The secrets' files and the `from=` filesystems live until the step is done.
        let _secrets = m.hold;
        let _sources = m.sources;
        exec::run(self.paths, &self.store, &cur.state, &step, progress)
    }

    /// `RUN --mount=type=cache|bind|tmpfs|secret,target=...`: the berth-vol flags that make
    /// it, added to `m`. A cache mount is a directory under `<root>/build/mounts`, kept
    /// between builds, by its `id` (default: the target); a bind mount is a context
    /// directory, read-only unless `rw`, resolved inside the context by descriptor, or with
    /// `from=STAGE|IMAGE` inside that filesystem (a step container of it, whose writes under
    /// `rw` are thrown away with it, as BuildKit's); a secret is a private copy of
    /// `--secret`'s value bound read-only ([`Builder::secret`]).
    fn mount(
        &mut self,
        cur: &Cur,
        ins: &Instruction,
        spec: &str,
        m: &mut RunMounts<'a>,
    ) -> Result<()> {
        let mut kind = "bind".to_string();
        let (mut target, mut id, mut source, mut rw) = (None, None, None, false);
        let mut from = None;
        let mut sec = SecretMount::default();
        for part in spec.split(',') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let on = v.is_empty() || v == "true";
            match k {
                "type" => kind = v.to_string(),
                "target" | "dst" | "destination" => target = Some(v.to_string()),
                "id" => id = Some(v.to_string()),
                "source" | "src" => source = Some(v.to_string()),
                "from" => from = Some(v.to_string()),
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
        if let Some(f) = from.filter(|_| kind == "bind") {
            let (state, _, _) = self.source_of(cur, ins, &f)?;
            let sc = exec::scratch(self.paths, &self.store, &state, Overrides::default())?;
            let flags = bind_flags(
                ins,
                spec,
                &sc.root()?,
                source,
                &target,
                rw,
                "its filesystem",
            )?;
            m.sources.push(sc);
            m.vol.extend(flags);
            return Ok(());
        }
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
            "bind" => bind_flags(ins, spec, &self.context, source, &target, rw, "the build context"),
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

    /// `COPY <<EOF /dest`: the heredocs (name, content) as files of a private directory,
    /// copied as any source is.
    pub(super) fn heredoc_files(
        &self,
        ins: &Instruction,
        docs: &[(String, String)],
    ) -> Result<(TmpDir, Vec<String>)> {
        let io = |e: std::io::Error| Error::new(Code::IO, format!("heredoc: {e}"));
        let dir = TmpDir::new(self.paths, "heredoc")?;
        let mut names = Vec::new();
        for (name, content) in docs {
            if name.contains('/') || name == "." || name == ".." {
                return Err(ins.err(format!("invalid heredoc name {name:?}")).into());
            }
            let p = dir.path().join(name);
            std::fs::write(&p, content).map_err(io)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).map_err(io)?;
            names.push(name.clone());
        }
        Ok((dir, names))
    }
}

/// berth-vol's flags for a bind mount of `source` (default: the root) in `root`, resolved
/// inside it by descriptor; read-only unless `rw`.
fn bind_flags(
    ins: &Instruction,
    spec: &str,
    root: &Root,
    source: Option<String>,
    target: &str,
    rw: bool,
    what: &str,
) -> Result<Vec<String>> {
    let src = source.unwrap_or_default();
    let rel = clean_path(src.as_bytes())
        .map_err(|_| ins.err(format!("forbidden path outside {what}: {src}")))?;
    let fd = root.open_at(&rel, OFlags::PATH).map_err(|_| {
        let shown = String::from_utf8_lossy(&rel);
        ins.err(format!("--mount={spec}: \"/{shown}\": not found"))
    })?;
    // The path the kernel resolved inside the root.
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

/// What a RUN's `--mount` flags add to its step.
#[derive(Default)]
struct RunMounts<'a> {
    /// The step containers of `from=` bind mounts' filesystems.
    sources: Vec<Scratch<'a>>,
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
    /// A new private directory under the store's tmp (`.tmp-<pid>-TAG-...`: collected by gc
    /// if this process dies before its drop).
    pub(super) fn new(paths: &crate::paths::Paths, tag: &str) -> Result<TmpDir> {
        crate::store::private::create_dir_all(&paths.tmp())?;
        let dir = TmpDir(paths.tmp().join(format!(
            ".tmp-{}-{tag}-{}",
            std::process::id(),
            &crate::state::ids::new_id()[..12]
        )));
        crate::store::private::mkdir(dir.path())
            .map_err(|e| Error::new(Code::IO, format!("{}: {e}", dir.path().display())))?;
        Ok(dir)
    }

    pub(super) fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
