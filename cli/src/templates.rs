//! docker/cli's handling of `--format` at the edge: the status and words of a template that
//! does not parse, and its inspector's output.
//!
//! - `inspect`, `network inspect`, `info`, `version` (docker/cli `inspect.Inspect`,
//!   `formatInfo`): `template parsing error: ...` and status 64 ([`template`]).
//! - list verbs (`formatter.Context`): `template parsing error: ...`, status 1
//!   ([`list_format`]).
//!
//! With the stage protocol the error is berth's usual one (the error document, code 4).

use serde::Serialize;

use berth::error::{Code, Error, Result};
use berth::format::{Columns, Format, FormatError, Template};

use crate::skel;

/// In Docker mode, prints docker/cli's bare line for a template that does not parse and
/// gives an error already reported; otherwise berth's error.
fn parsing_error(e: FormatError) -> Error {
    match e {
        FormatError::Parse(m) if skel::docker() => {
            eprintln!("template parsing error: {m}");
            Error::upstream(Code::BAD_ARGS, format!("template parsing error: {m}"))
        }
        other => other.into(),
    }
}

/// An inspect-style template; in Docker mode a parse error ends the process with status 64.
pub fn template(spec: &str) -> Result<Template> {
    match Template::parse(spec) {
        Ok(t) => Ok(t),
        Err(e) if skel::docker() => {
            parsing_error(e);
            std::process::exit(64)
        }
        Err(e) => Err(e.into()),
    }
}

/// A list verb's `--format`; a parse error is Docker's message (status 1).
pub fn list_format(spec: &str, columns: &Columns) -> Result<Format> {
    Format::parse(spec, columns).map_err(parsing_error)
}

/// docker/cli's `TemplateInspector`: each document rendered on its own line, and one empty
/// line when there is none.
pub fn render_each<T: Serialize>(t: &Template, docs: &[T]) -> Result<String> {
    if docs.is_empty() {
        return Ok("\n".into());
    }
    let mut out = String::new();
    for d in docs {
        out.push_str(&t.render(d)?);
        out.push('\n');
    }
    Ok(out)
}
