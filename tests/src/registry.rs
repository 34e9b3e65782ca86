//! A real local registry for the tests: Debian's `docker-registry serve CONFIG` (CNCF
//! distribution 2.8) with temporary storage on a free 127.0.0.1 port.
//!
//! Each test starts its own and the [`Registry`] guard stops it when dropped, also when the
//! test panics. The process also gets `PR_SET_PDEATHSIG`, so a test runner killed outright does
//! not leave registries behind either.
//!
//! Variants:
//! - [`Registry::start`]: plain HTTP, anonymous;
//! - [`Registry::start_with_auth`]: htpasswd Basic auth, the file made by `htpasswd -B`;
//! - [`Registry::start_tls`]: HTTPS with a certificate signed by a fresh self-signed CA. The
//!   test trusts that CA by [`Registry::trust`], which writes `ca.crt` under
//!   `<DOCKER_CONFIG>/certs.d/<host:port>/` of the test's [`TestEnv`]; berth reads `certs.d`
//!   from `$BERTH_CERTS_D` (which `TestEnv` points there), so no test ever touches
//!   `/etc/docker/certs.d`.
//!
//! Images get into it with skopeo ([`Registry::push`]), so berth-pull is tested against an
//! independent writer. [`Registry::blob_data`] gives the on-disk file of a blob for tests that
//! corrupt content behind the registry's back.

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::TestEnv;
use crate::fixtures::must;

/// Manifest format skopeo writes into the registry (`skopeo copy --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker v2 schema 2 (`application/vnd.docker.distribution.manifest.v2+json`).
    V2s2,
    /// OCI image manifest.
    Oci,
    /// Docker v2 schema 1 (signed). Only a registry started with
    /// [`Options::schema1`] accepts it.
    V2s1,
    /// Whatever the source has.
    Keep,
}

/// How to start a registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// htpasswd Basic auth with this user and password.
    pub basic_auth: Option<(String, String)>,
    /// Serve HTTPS with a certificate from a fresh CA.
    pub tls: bool,
    /// Accept schema 1 manifests (distribution refuses them by default).
    pub schema1: bool,
}

/// Every manifest type, for the `Accept` header of [`Registry::get_manifest`].
const MANIFEST_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A running `docker-registry`. Dropping it stops the process and deletes its storage.
pub struct Registry {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
    opts: Options,
}

impl Registry {
    /// A plain-HTTP anonymous registry.
    pub fn start() -> Registry {
        Self::start_with(Options::default())
    }

    /// A registry that wants htpasswd Basic auth as `user`/`password`.
    pub fn start_with_auth(user: &str, password: &str) -> Registry {
        Self::start_with(Options {
            basic_auth: Some((user.into(), password.into())),
            ..Options::default()
        })
    }

    /// An HTTPS registry whose certificate is signed by a fresh, untrusted CA ([`Self::ca`]).
    pub fn start_tls() -> Registry {
        Self::start_with(Options {
            tls: true,
            ..Options::default()
        })
    }

    pub fn start_with(opts: Options) -> Registry {
        let mut dir = tempfile::Builder::new()
            .prefix("berth-registry-")
            .tempdir()
            .expect("registry temp dir");
        fs::create_dir_all(dir.path().join("storage")).unwrap();
        if let Some((user, password)) = &opts.basic_auth {
            must(
                Command::new("htpasswd")
                    .args(["-B", "-b", "-c"])
                    .arg(dir.path().join("htpasswd"))
                    .args([user, password]),
            );
        }
        if opts.tls {
            make_certs(dir.path());
        }
        // Another process may take the free port between our probe and the registry's bind:
        // then the registry exits at once and we try another port.
        for _ in 0..10 {
            let port = free_port();
            let config = dir.path().join("config.yml");
            fs::write(&config, config_yaml(dir.path(), port, &opts)).unwrap();
            let log = fs::File::create(dir.path().join("registry.log")).unwrap();
            let mut cmd = Command::new("docker-registry");
            cmd.arg("serve")
                .arg(&config)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            // SAFETY: prctl is async-signal-safe; the registry dies with the test thread.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = cmd
                .spawn()
                .expect("cannot start docker-registry (apt-get install docker-registry)");
            let mut reg = Registry {
                dir,
                child,
                port,
                opts: opts.clone(),
            };
            if reg.wait_ready() {
                return reg;
            }
            let _ = reg.child.kill();
            let _ = reg.child.wait();
            dir = std::mem::replace(&mut reg.dir, tempfile::tempdir().unwrap());
            // `reg` drops here, stopping nothing new; its replacement dir is removed.
        }
        panic!("docker-registry did not start");
    }

    /// Polls until the registry answers on its port; false if the process exited.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                if self.opts.tls {
                    // The TLS listener is up; a handshake is the client's business.
                    return true;
                }
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.") {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("docker-registry not ready after 20 s; log:\n{}", self.log());
    }

    /// `127.0.0.1:PORT`: the registry part of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT/<repo_tag>`.
    pub fn image(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host())
    }

    /// The base URL (`http://` or `https://`).
    pub fn url(&self) -> String {
        let scheme = if self.opts.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host())
    }

    /// The manifest `repo:tag` exactly as the registry serves it (OCI or Docker types
    /// accepted), with its Content-Type.
    pub fn get_manifest(&self, repo_tag: &str) -> (Vec<u8>, String) {
        let (repo, tag) = repo_tag.split_once(':').expect("REPO:TAG");
        let dir = tempfile::tempdir().unwrap();
        let headers = dir.path().join("headers");
        let body = must(
            Command::new("curl")
                .args(["-sfk", "-D"])
                .arg(&headers)
                .args(["-H", &format!("Accept: {MANIFEST_TYPES}")])
                .arg(format!("{}/v2/{repo}/manifests/{tag}", self.url())),
        );
        let ct = fs::read_to_string(&headers)
            .unwrap()
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-type")
                    .then(|| v.trim().to_string())
            })
            .unwrap_or_default();
        (body.into_bytes(), ct)
    }

    /// Stores `body` byte for byte as the manifest `repo:tag`, of type `media_type`: a
    /// document that no well-behaved tool writes, which the registry accepts as long as the
    /// blobs it names are there.
    pub fn put_manifest(&self, repo_tag: &str, media_type: &str, body: &[u8]) {
        let (repo, tag) = repo_tag.split_once(':').expect("REPO:TAG");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("manifest");
        fs::write(&file, body).unwrap();
        must(
            Command::new("curl")
                .args(["-sfk", "-X", "PUT", "-H"])
                .arg(format!("Content-Type: {media_type}"))
                .arg("--data-binary")
                .arg(format!("@{}", file.display()))
                .arg(format!("{}/v2/{repo}/manifests/{tag}", self.url())),
        );
    }

    /// The PEM file of the CA that signed a TLS registry's certificate.
    pub fn ca(&self) -> PathBuf {
        assert!(self.opts.tls, "only the TLS variant has a CA");
        self.dir.path().join("ca.crt")
    }

    /// Makes `env` trust this registry's CA: `<DOCKER_CONFIG>/certs.d/<host:port>/ca.crt`.
    pub fn trust(&self, env: &TestEnv) {
        let d = env.docker_config.join("certs.d").join(self.host());
        fs::create_dir_all(&d).unwrap();
        fs::copy(self.ca(), d.join("ca.crt")).unwrap();
    }

    /// Saves this registry's credentials (or `password` instead) in `env`'s
    /// `$DOCKER_CONFIG/config.json`, as `docker login` does.
    pub fn login(&self, env: &TestEnv, password: Option<&str>) {
        let (user, pw) = self.opts.basic_auth.clone().expect("registry has no auth");
        let pw = password.map(str::to_string).unwrap_or(pw);
        let path = env.docker_config.join("config.json");
        let mut cfg: serde_json::Value = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| serde_json::json!({}));
        cfg["auths"][self.host()] = serde_json::json!({ "auth": base64(&format!("{user}:{pw}")) });
        fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    }

    /// Pushes image `src` (a skopeo source, e.g. `oci:/path/layout:busybox`) to `repo_tag`
    /// here with skopeo, in `format`. Extra skopeo flags go in `extra` (e.g. `--all`).
    pub fn push(&self, src: &str, repo_tag: &str, format: Format, extra: &[&str]) {
        let mut c = Command::new("skopeo");
        c.args(["--insecure-policy", "copy", "-q", "--retry-times", "2"]);
        match format {
            Format::V2s2 => c.args(["--format", "v2s2"]),
            Format::Oci => c.args(["--format", "oci"]),
            Format::V2s1 => c.args(["--format", "v2s1"]),
            Format::Keep => &mut c,
        };
        if self.opts.tls {
            c.arg("--dest-cert-dir").arg(self.dir.path().join("certs"));
        } else {
            c.arg("--dest-tls-verify=false");
        }
        if let Some((u, p)) = &self.opts.basic_auth {
            c.arg(format!("--dest-creds={u}:{p}"));
        }
        c.args(extra);
        // skopeo keeps a blob-info cache in $HOME; keep it out of the user's.
        c.env("HOME", self.dir.path());
        c.arg(src).arg(format!("docker://{}", self.image(repo_tag)));
        must(&mut c);
    }

    /// Pushes fixture image `name` from the shared fixture layout.
    pub fn push_fixture(&self, name: &str, repo_tag: &str, format: Format) {
        let src = format!("oci:{}:{name}", crate::fixtures::layout().display());
        let extra: &[&str] = if crate::fixtures::is_index(name) {
            &["--all"]
        } else {
            &[]
        };
        self.push(&src, repo_tag, format, extra);
    }

    /// The registry's storage directory (distribution's filesystem driver layout).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The file holding blob `digest` in the registry's storage, for tests that tamper with it.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The registry's own log, for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Stops the registry now (the port then refuses connections).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn config_yaml(dir: &Path, port: u16, opts: &Options) -> String {
    let mut y = format!(
        "version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: berth-test-secret
",
        storage = dir.join("storage").display()
    );
    if opts.tls {
        y.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            dir.join("certs/server.cert").display(),
            dir.join("certs/server.key").display()
        ));
    }
    if opts.basic_auth.is_some() {
        y.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
            dir.join("htpasswd").display()
        ));
    }
    if opts.schema1 {
        y.push_str("compatibility:\n  schema1:\n    enabled: true\n");
    }
    y
}

/// A CA and a server certificate for 127.0.0.1 and localhost, made with openssl (P-256 keys:
/// quick to make, and both rustls and Go speak them). `certs/` also holds `ca.crt` so skopeo's
/// `--dest-cert-dir` trusts it.
fn make_certs(dir: &Path) {
    let certs = dir.join("certs");
    fs::create_dir_all(&certs).unwrap();
    let ca_key = dir.join("ca.key");
    let ca = dir.join("ca.crt");
    must(
        Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args([
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=berth test CA",
                "-keyout",
            ])
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca),
    );
    let key = certs.join("server.key");
    let csr = dir.join("server.csr");
    must(
        Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-subj", "/CN=127.0.0.1", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&csr),
    );
    let ext = dir.join("san.ext");
    fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    must(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .args(["-CAcreateserial", "-extfile"])
            .arg(&ext)
            .arg("-out")
            .arg(certs.join("server.cert")),
    );
    fs::copy(&ca, certs.join("ca.crt")).unwrap();
}

/// Standard base64 (for `config.json`'s `auth` field); tiny, so not worth a dependency here.
pub fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (x as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(super::base64("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(super::base64("ab"), "YWI=");
        assert_eq!(super::base64("a"), "YQ==");
    }
}
