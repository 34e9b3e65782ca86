//! A small fault-injecting HTTP/1.1 proxy to put in front of a test [`Registry`]
//! (crate::registry::Registry), for what a healthy registry never does: corrupt or truncated
//! blobs, resets, 5xx, redirects to another host, stalls, a token-auth gate.
//!
//! Hand-written on `std::net` on purpose: it must misbehave in ways that an HTTP library would
//! not let it. Each connection carries one exchange (`Connection: close` both ways), which keeps
//! it simple; clients reconnect. Every request is recorded ([`Proxy::requests`]) so tests can
//! check what the client sent (a `Range`, an `Authorization`, how many requests at all).
//! Traffic stays on 127.0.0.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What to do to a matching exchange.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this instead of forwarding.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Forward, then flip a byte in the middle of the response body.
    Corrupt,
    /// Forward, but send only the first `n` bytes of the body (the original `Content-Length`
    /// header stays), then close the connection.
    Truncate(usize),
    /// Like `Truncate`, but then hold the connection open, silent, until the proxy stops.
    Stall(usize),
    /// Close the connection without answering.
    Reset,
    /// Answer `307` with `Location: <base><same path and query>`.
    RedirectTo(String),
}

/// A fault applied to requests whose path contains `path_contains` (and whose method is
/// `method`, if given), `times` times (or always).
#[derive(Debug, Clone)]
pub struct Rule {
    pub path_contains: String,
    pub method: Option<String>,
    pub fault: Fault,
    pub times: Option<usize>,
}

impl Rule {
    pub fn new(path_contains: &str, fault: Fault) -> Rule {
        Rule {
            path_contains: path_contains.to_string(),
            method: None,
            fault,
            times: None,
        }
    }
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }
    pub fn method(mut self, m: &str) -> Rule {
        self.method = Some(m.to_string());
        self
    }
}

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A Bearer-token gate in the style of Docker Hub: `/v2/...` wants `Authorization: Bearer
/// TOKEN`, else `401` with a `WWW-Authenticate: Bearer realm=...,service=...,scope=...`
/// challenge; the realm `/token` hands out TOKEN to callers with the right Basic credentials
/// (or to anyone, if `user` is `None`). The gate strips auth before forwarding, so the registry
/// behind it can be anonymous.
#[derive(Debug, Clone)]
pub struct BearerGate {
    pub user: Option<(String, String)>,
    pub token: String,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    seen: Vec<Seen>,
    bearer: Option<BearerGate>,
}

/// A running proxy. Dropping it stops it.
pub struct Proxy {
    port: u16,
    host: String,
    stop: Arc<AtomicBool>,
    state: Arc<Mutex<State>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy on a free port of 127.0.0.1 forwarding to `127.0.0.1:upstream_port`.
    pub fn start(upstream_port: u16) -> Proxy {
        Self::start_on("127.0.0.1", upstream_port)
    }

    /// A proxy listening on `ip` (any loopback address: 127.0.0.2 is another "host").
    pub fn start_on(ip: &str, upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind((ip, 0)).expect("bind proxy");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(State::default()));
        let (s2, st2) = (stop.clone(), state.clone());
        let self_addr = format!("{ip}:{port}");
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (s3, st3, me) = (s2.clone(), st2.clone(), self_addr.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream_port, &st3, &s3, &me);
                });
            }
        });
        Proxy {
            port,
            host: format!("{ip}:{port}"),
            stop,
            state,
            thread: Some(thread),
        }
    }

    /// `IP:PORT`, the registry part of image references through the proxy.
    pub fn host(&self) -> String {
        self.host.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn image(&self, repo_tag: &str) -> String {
        format!("{}/{repo_tag}", self.host)
    }

    pub fn add(&self, rule: Rule) {
        self.state.lock().unwrap().rules.push(rule);
    }

    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    pub fn set_bearer(&self, gate: BearerGate) {
        self.state.lock().unwrap().bearer = Some(gate);
    }

    /// Every request seen so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn forget_requests(&self) {
        self.state.lock().unwrap().seen.clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.host);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Message {
    head: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<(String, Vec<(String, String)>)> {
    let mut first = String::new();
    r.read_line(&mut first)?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    Ok((first.trim_end().to_string(), headers))
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn serve(
    client: TcpStream,
    upstream_port: u16,
    state: &Mutex<State>,
    stop: &AtomicBool,
    me: &str,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(client.try_clone()?);
    let (line, headers) = read_head(&mut reader)?;
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let len: usize = header(&headers, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let mut out = client;

    let (fault, bearer) = {
        let mut st = state.lock().unwrap();
        st.seen.push(Seen {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
        });
        let bearer = st.bearer.clone();
        let mut fault = None;
        for r in st.rules.iter_mut() {
            let applies = path.contains(&r.path_contains)
                && r.method.as_ref().is_none_or(|m| *m == method)
                && r.times != Some(0);
            if applies {
                if let Some(t) = r.times.as_mut() {
                    *t -= 1;
                }
                fault = Some(r.fault.clone());
                break;
            }
        }
        (fault, bearer)
    };

    if let Some(gate) = bearer {
        if path.starts_with("/token") {
            let ok = match &gate.user {
                None => true,
                Some((u, p)) => {
                    header(&headers, "authorization")
                        == Some(&format!(
                            "Basic {}",
                            crate::registry::base64(&format!("{u}:{p}"))
                        ))
                }
            };
            return if ok {
                let body = format!(
                    r#"{{"token":"{0}","access_token":"{0}","expires_in":300}}"#,
                    gate.token
                );
                respond(
                    &mut out,
                    200,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                )
            } else {
                respond(
                    &mut out,
                    401,
                    &[],
                    br#"{"details":"incorrect username or password"}"#,
                )
            };
        }
        if header(&headers, "authorization") != Some(&format!("Bearer {}", gate.token)) {
            let repo = path
                .strip_prefix("/v2/")
                .and_then(|p| {
                    ["/manifests/", "/blobs/", "/tags/"]
                        .iter()
                        .find_map(|m| p.split_once(m).map(|(r, _)| r))
                })
                .unwrap_or("");
            let scope = if repo.is_empty() {
                String::new()
            } else {
                format!(",scope=\"repository:{repo}:pull\"")
            };
            let challenge =
                format!("Bearer realm=\"http://{me}/token\",service=\"berth-test\"{scope}");
            return respond(
                &mut out,
                401,
                &[
                    ("WWW-Authenticate", &challenge),
                    ("Content-Type", "application/json"),
                ],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
        }
    }

    match &fault {
        Some(Fault::Respond {
            status,
            headers: h,
            body,
        }) => {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            return respond(&mut out, *status, &h, body);
        }
        Some(Fault::Reset) => {
            let _ = out.shutdown(Shutdown::Both);
            return Ok(());
        }
        Some(Fault::RedirectTo(base)) => {
            let loc = format!("{base}{path}");
            return respond(&mut out, 307, &[("Location", &loc)], b"");
        }
        _ => {}
    }

    // Forward, one exchange per connection, without the client's auth when a gate stands in
    // front of an anonymous registry.
    let mut up = TcpStream::connect(("127.0.0.1", upstream_port))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        let skip = k.eq_ignore_ascii_case("connection")
            || (state.lock().unwrap().bearer.is_some() && k.eq_ignore_ascii_case("authorization"));
        if !skip {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    req.push_str("Connection: close\r\n\r\n");
    up.write_all(req.as_bytes())?;
    up.write_all(&body)?;
    let mut ur = BufReader::new(up);
    let (status_line, rh) = read_head(&mut ur)?;
    let mut rbody = Vec::new();
    if method != "HEAD" {
        ur.read_to_end(&mut rbody)?;
    }
    let resp = Message {
        head: status_line,
        headers: rh,
        body: rbody,
    };
    let mut head = format!("{}\r\n", resp.head);
    for (k, v) in &resp.headers {
        if !k.eq_ignore_ascii_case("connection") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    out.write_all(head.as_bytes())?;
    let mut body = resp.body;
    match fault {
        Some(Fault::Corrupt) if !body.is_empty() => {
            let mid = body.len() / 2;
            body[mid] ^= 0xff;
            out.write_all(&body)?;
        }
        Some(Fault::Truncate(n)) => {
            out.write_all(&body[..n.min(body.len())])?;
            out.flush()?;
            let _ = out.shutdown(Shutdown::Both);
            return Ok(());
        }
        Some(Fault::Stall(n)) => {
            out.write_all(&body[..n.min(body.len())])?;
            out.flush()?;
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        _ => out.write_all(&body)?,
    }
    out.flush()?;
    let _ = out.shutdown(Shutdown::Write);
    Ok(())
}

fn respond(
    out: &mut TcpStream,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()?;
    let _ = out.shutdown(Shutdown::Write);
    Ok(())
}
