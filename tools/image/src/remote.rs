//! The verbs that talk to a registry: push, login, logout, search.

use std::io::{self, BufRead, IsTerminal, Read, Write};

use berth::format;
use berth::registry::RegistryConfig;
use berth::registry::catalog;
use berth::registry::credentials::Credential;
use berth::registry::login;
use berth::registry::push::{self, BlobOutcome, PushOptions, PushProgress};
use berth::store::ImageStore;
use berth::{Code, Error, Result};
use berth_cli::{CommonOpts, print_json, print_text};

use crate::{LoginArgs, LogoutArgs, PushArgs, SearchArgs};

/// Prints each blob's fate as Docker does (`5b8c72934dfc: Pushed`).
struct Lines {
    show: bool,
}

impl PushProgress for Lines {
    fn blob(&self, digest: &str, _size: u64, layer: bool, outcome: &BlobOutcome) {
        // Docker lists layers only.
        if !self.show || !layer {
            return;
        }
        let short = &berth::paths::digest_hex(digest)[..12];
        let what = match outcome {
            BlobOutcome::Exists => "Layer already exists".to_string(),
            BlobOutcome::Mounted(from) => format!("Mounted from {from}"),
            BlobOutcome::Pushed(_) => "Pushed".to_string(),
        };
        let _ = print_text(&format!("{short}: {what}\n"));
    }
}

pub fn push(c: &CommonOpts, a: PushArgs) -> Result<()> {
    let store = ImageStore::open(&c.paths())?;
    let names = if a.all_tags {
        push::all_tags(&store, &a.name)?
    } else {
        vec![a.name.clone()]
    };
    let json = c.wants_json();
    let opts = PushOptions {
        chunk_size: a.chunk_size.unwrap_or(push::DEFAULT_CHUNK),
    };
    let lines = Lines {
        show: !json && !a.quiet,
    };
    let mut done = Vec::new();
    for name in &names {
        if lines.show {
            let r = berth::reference::Reference::parse(name)?;
            print_text(&format!(
                "The push refers to repository [{}]\n",
                r.familiar_name()
            ))?;
        }
        let p = push::push(&store, name, &opts, &lines)?;
        if lines.show {
            print_text(&format!(
                "{}: digest: {} size: {}\n",
                p.tag, p.digest, p.size
            ))?;
        } else if a.quiet && !json {
            print_text(&format!("{}\n", p.reference))?;
        }
        done.push(p);
    }
    if json {
        print_json(&done)?;
    }
    Ok(())
}

pub fn login(c: &CommonOpts, a: LoginArgs) -> Result<()> {
    let registry = login::registry_arg(a.server.as_deref());
    let config = RegistryConfig::load()?;
    if a.password.is_some() && a.password_stdin {
        return Err(bad(
            "--password and --password-stdin are mutually exclusive",
        ));
    }
    if a.password_stdin && a.username.is_none() {
        return Err(bad("must provide --username with --password-stdin"));
    }
    let interactive = io::stdin().is_terminal();
    // No name and no password given: try what is saved first, as Docker does.
    if a.username.is_none()
        && a.password.is_none()
        && !a.password_stdin
        && let Some(saved) = login::saved_credential(&config.docker_config, &registry)?
    {
        eprintln!("Authenticating with existing credentials...");
        if login::verify(&config, &registry, &saved).is_ok() {
            return succeeded(c, None);
        }
        eprintln!("Stored credentials are invalid or expired; log in again.");
    }
    let username = match &a.username {
        Some(u) => u.clone(),
        None if interactive => {
            eprint!("Username: ");
            let _ = io::stderr().flush();
            let mut line = String::new();
            io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Error::new(Code::IO, format!("reading the username: {e}")))?;
            line.trim().to_string()
        }
        None => {
            return Err(bad(
                "cannot perform an interactive login from a non TTY device (give -u USER and --password-stdin)",
            ));
        }
    };
    if username.is_empty() {
        return Err(bad("username is empty"));
    }
    let password = if a.password_stdin {
        let mut s = String::new();
        io::stdin()
            .lock()
            .read_to_string(&mut s)
            .map_err(|e| Error::new(Code::IO, format!("reading the password from stdin: {e}")))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &a.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else if interactive {
        rpassword::prompt_password("Password: ")
            .map_err(|e| Error::new(Code::IO, format!("reading the password: {e}")))?
    } else {
        return Err(bad(
            "cannot perform an interactive login from a non TTY device (use --password-stdin)",
        ));
    };
    if password.is_empty() {
        return Err(bad("password is empty"));
    }
    let cred = Credential::Basic { username, password };
    login::verify(&config, &registry, &cred)?;
    let saved = login::save(&config.docker_config, &registry, &cred)?;
    succeeded(c, Some(saved))
}

fn succeeded(c: &CommonOpts, saved: Option<login::Saved>) -> Result<()> {
    if let Some(s) = &saved
        && s.helper.is_none()
    {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/engine/reference/commandline/login/#credentials-store",
            s.file
        );
    }
    if c.wants_json() {
        print_json(&serde_json::json!({"status": "Login Succeeded", "saved": saved}))
    } else {
        print_text("Login Succeeded\n")
    }
}

pub fn logout(c: &CommonOpts, a: LogoutArgs) -> Result<()> {
    let registry = login::registry_arg(a.server.as_deref());
    let config = RegistryConfig::load()?;
    let server = berth::registry::credentials::server_key(&registry);
    let removed = login::erase(&config.docker_config, &registry)?;
    if c.wants_json() {
        return print_json(&serde_json::json!({"server": server, "removed": removed.is_some()}));
    }
    match removed {
        Some(s) => print_text(&format!("Removing login credentials for {s}\n")),
        None => print_text(&format!("Not logged in to {server}\n")),
    }
}

const SEARCH_COLUMNS: format::Columns = format::Columns {
    headers: &[("Name", "NAME"), ("Tags", "TAGS")],
    default_table: "table {{.Name}}\\t{{join .Tags \", \"}}",
};

pub fn search(c: &CommonOpts, a: SearchArgs) -> Result<()> {
    let (registry, term) = catalog::split_term(&a.term);
    let found = catalog::search(&registry, &term, a.limit)?;
    let mut rows: Vec<serde_json::Value> = found
        .iter()
        .map(|f| serde_json::to_value(f).expect("rows serialise"))
        .collect();
    if !a.no_trunc && a.format.is_none() && !c.wants_json() {
        // Long tag lists would drown the table: keep the first few, as `docker search`
        // truncates its descriptions.
        for r in &mut rows {
            if let Some(t) = r["Tags"].as_array_mut()
                && t.len() > 8
            {
                let more = t.len() - 7;
                t.truncate(7);
                t.push(serde_json::json!(format!("… ({more} more)")));
            }
        }
    }
    let f = match a.format.as_deref() {
        Some(spec) if !spec.trim().is_empty() => format::Format::parse(spec, &SEARCH_COLUMNS)?,
        _ if c.wants_json() => return print_json(&rows),
        _ => format::Format::default_table(&SEARCH_COLUMNS)?,
    };
    print_text(&f.render(&rows, &SEARCH_COLUMNS)?)
}

fn bad(msg: &str) -> Error {
    Error::new(Code::BAD_ARGS, msg)
}
