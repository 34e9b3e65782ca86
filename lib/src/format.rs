//! `--format`: Docker's Go templates, executed by the gtmpl crate, shared by every tool that
//! takes `--format` (ps, images, volume ls, network ls, inspect...).
//!
//! The API is small:
//! - [`Format::parse`] reads a list command's `--format` value the way docker/cli's
//!   `formatter.Context` does: `table` (the tool's default columns), `table TEMPLATE` (aligned,
//!   with a header row), `json` (one JSON document per line), or a bare `TEMPLATE` (one line per
//!   row). Literal `\t` and `\n` in the value become a tab and a newline.
//! - [`Format::render`] turns rows (any `Serialize` value, as JSON) into the text to print.
//!   The tool describes its columns once in a [`Columns`]: which field prints under which
//!   header, and its default `table ...` template.
//! - [`Template::parse`] + [`Template::render`] for `inspect --format`: one document, printed
//!   as-is (no `table`, no `\t` replacement, as `docker inspect` does).
//!
//! Functions: Go's builtins (gtmpl's, with `print`/`println` replaced by Go-faithful ones, plus
//! `html`, `js`, `slice`) and Docker's (`json`, `join`, `split`, `lower`, `upper`, `title`,
//! `truncate`, `pad`). Values print as Go's `%v` would: `[a b]` for lists, `map[k:v]` for maps,
//! `<nil>`, `<no value>`; gtmpl itself would print Rust debug output there, so print actions are
//! routed through a formatter (see [`route_prints`]).
//!
//! Field lookup follows Docker: in list commands a row is a struct, so `{{.Nmes}}` is an error
//! ("can't evaluate field Nmes"); in inspect the document is a map, so a missing key prints
//! `<no value>`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use gtmpl::{Context, FuncError, Value};
use gtmpl_value::Number;
use serde_json::Value as Json;

use crate::error::{Code, Coded};

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("invalid --format template: {0}")]
    Parse(String),
    #[error("--format template failed: {0}")]
    Exec(String),
}

impl Coded for FormatError {
    fn code(&self) -> Code {
        Code::BAD_ARGS
    }
}

type Result<T, E = FormatError> = std::result::Result<T, E>;

/// How a list command's rows print under `table`: each row field with its header, and the
/// default `table ...` template used for `table` alone and for a terminal without `--format`.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// `(field, HEADER)`, e.g. `("ID", "CONTAINER ID")`. Every field a row has should be here,
    /// so that a template naming an unknown field fails even with no rows.
    pub headers: &'a [(&'a str, &'a str)],
    /// e.g. `table {{.ID}}\t{{.Image}}\t{{.Names}}`.
    pub default_table: &'a str,
}

/// A list command's parsed `--format`.
pub enum Format {
    /// `json`: each row as one line of JSON.
    Json,
    /// `table [TEMPLATE]`: a header row, then the rows, aligned.
    Table(Template),
    /// `TEMPLATE`: each row rendered on its own line.
    Lines(Template),
}

impl Format {
    /// Parses a `--format` value (`table`, `table TEMPLATE`, `json`, `TEMPLATE`).
    pub fn parse(spec: &str, columns: &Columns) -> Result<Format> {
        let spec = spec.replace("\\t", "\t").replace("\\n", "\n");
        let trimmed = spec.trim_matches(' ');
        if trimmed == "json" {
            return Ok(Format::Json);
        }
        if let Some(rest) = trimmed.strip_prefix("table") {
            let body = rest.trim_matches(' ');
            if body.is_empty() {
                return Format::default_table(columns);
            }
            return Ok(Format::Table(Template::parse(body)?));
        }
        Ok(Format::Lines(Template::parse(trimmed)?))
    }

    /// The tool's default table (what a terminal shows without `--format`).
    pub fn default_table(columns: &Columns) -> Result<Format> {
        let spec = columns.default_table.replace("\\t", "\t");
        let body = spec.trim().strip_prefix("table").unwrap_or(&spec).trim();
        Ok(Format::Table(Template::parse(body)?))
    }

    /// Renders `rows` (objects) as the text to print, each line ending in a newline. A
    /// template that names a field the rows do not have is an error even when there are no
    /// rows, as it is with Docker.
    pub fn render(&self, rows: &[Json], columns: &Columns) -> Result<String> {
        match self {
            Format::Json => {
                let mut out = String::new();
                for r in rows {
                    out.push_str(&serde_json::to_string(r).unwrap_or_default());
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Lines(t) => {
                t.check_fields(columns)?;
                let mut out = String::new();
                for r in rows {
                    out.push_str(&t.render_strict(r)?);
                    out.push('\n');
                }
                Ok(out)
            }
            Format::Table(t) => {
                t.check_fields(columns)?;
                let mut out = t.render_header(columns)?;
                out.push('\n');
                for r in rows {
                    out.push_str(&t.render_strict(r)?);
                    out.push('\n');
                }
                Ok(align(&out))
            }
        }
    }
}

/// Aligns tab-separated text as Docker's tables are: Go's tabwriter with a minimum cell width
/// of 10 and a padding of 3 (docker/cli `formatter.Context.postFormat`).
pub fn align(text: &str) -> String {
    align_min(text, 10)
}

/// [`align`] with another minimum cell width (`docker top` uses 20). Go counts the padding
/// inside the minimum width, the tabwriter crate adds it on top.
pub fn align_min(text: &str, min_width: usize) -> String {
    let mut tw = tabwriter::TabWriter::new(Vec::new())
        .minwidth(min_width.saturating_sub(3))
        .padding(3);
    let _ = tw.write_all(text.as_bytes());
    let _ = tw.flush();
    String::from_utf8_lossy(&tw.into_inner().unwrap_or_default()).into_owned()
}

/// A parsed Go template with Docker's functions.
pub struct Template {
    body: gtmpl::Template,
    header: gtmpl::Template,
}

impl Template {
    /// Parses `text` as a Go template.
    pub fn parse(text: &str) -> Result<Template> {
        Ok(Template {
            body: compile(text, DOCKER_FUNCS)?,
            header: compile(text, HEADER_FUNCS)?,
        })
    }

    /// Renders one document (inspect): objects are maps, so a missing key prints
    /// `<no value>`.
    pub fn render(&self, data: &Json) -> Result<String> {
        execute(&self.body, to_value(data, false))
    }

    /// Renders one row: the row itself is a struct (unknown fields are errors), values inside
    /// it are maps.
    fn render_strict(&self, row: &Json) -> Result<String> {
        execute(&self.body, to_value(row, true))
    }

    fn render_header(&self, columns: &Columns) -> Result<String> {
        let map: HashMap<String, Value> = columns
            .headers
            .iter()
            .map(|(f, h)| (f.to_string(), Value::from(*h)))
            .collect();
        execute(&self.header, Value::Object(map))
    }

    /// Executes the template on an empty row with every known column, so that a misspelt
    /// field is reported even when there is nothing to list.
    fn check_fields(&self, columns: &Columns) -> Result<()> {
        let row: serde_json::Map<String, Json> = columns
            .headers
            .iter()
            .map(|(f, _)| (f.to_string(), Json::String(String::new())))
            .collect();
        self.render_strict(&Json::Object(row)).map(drop)
    }
}

fn compile(text: &str, funcs: &[(&str, gtmpl::Func)]) -> Result<gtmpl::Template> {
    let build = |src: &str| {
        let mut t = gtmpl::Template::default();
        t.add_funcs(funcs);
        t.add_func(GOFMT, gofmt_fn);
        t.parse(src).map(|()| t).map_err(|e| e.to_string())
    };
    // The routed form prints Go-style; if our rewrite ever confuses gtmpl's parser, the
    // template as written is still valid and used as is.
    match build(&route_prints(text)) {
        Ok(t) => Ok(t),
        Err(_) => build(text).map_err(FormatError::Parse),
    }
}

fn execute(t: &gtmpl::Template, data: Value) -> Result<String> {
    t.render(&Context::from(data)).map_err(|e| {
        use gtmpl::error::ExecError;
        FormatError::Exec(match &e {
            // gtmpl's message includes the whole receiver in debug form.
            ExecError::NoFiledFor(field, _) => format!("can't evaluate field {field}"),
            other => other.to_string(),
        })
    })
}

/// The function print actions are routed through.
const GOFMT: &str = "_berth_gofmt";

/// Rewrites each action that prints (`{{ PIPELINE }}`) into `{{ _berth_gofmt (PIPELINE) }}`,
/// leaving control actions, variable declarations and comments alone. gtmpl prints values with
/// Rust's `Debug` for lists and maps; this makes them print as Go's `%v` does.
///
/// Only action boundaries are found here (quotes, raw strings, char constants and comments
/// respected); gtmpl parses everything.
pub(crate) fn route_prints(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 32);
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some((inner_len, close_len)) = action_end(after) else {
            // Unterminated: leave it for gtmpl to report.
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..inner_len];
        let close = &after[inner_len..inner_len + close_len];
        out.push_str("{{");
        let (ltrim, body) = match inner.strip_prefix('-') {
            Some(b) if b.starts_with([' ', '\t', '\n', '\r']) => ("-", b),
            _ => ("", inner),
        };
        out.push_str(ltrim);
        if prints(body) {
            out.push_str(&format!(" {GOFMT} ({})", body.trim()));
            if close == "}}" {
                out.push(' ');
            }
        } else {
            out.push_str(body);
        }
        out.push_str(close);
        rest = &after[inner_len + close_len..];
    }
    out.push_str(rest);
    out
}

/// Length of an action's inside and of its closing delimiter (`}}` or ` -}}`).
fn action_end(s: &str) -> Option<(usize, usize)> {
    let b = s.as_bytes();
    let trimmed = s.trim_start_matches('-').trim_start();
    if trimmed.starts_with("/*") {
        let end = s.find("*/")? + 2;
        let close = s[end..].find("}}")?;
        return Some((end, close + 2));
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1 + s[i + 1..].find('`')?;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => {
                // A right trim marker is " -" before the delimiter.
                if i >= 2 && &s[i - 2..i] == " -" {
                    return Some((i - 2, 4));
                }
                return Some((i, 2));
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Whether an action's body prints its value: not a keyword action, a comment, or a variable
/// declaration/assignment.
fn prints(body: &str) -> bool {
    let t = body.trim();
    if t.is_empty() || t.starts_with("/*") {
        return false;
    }
    let word: &str = t
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    if matches!(
        word,
        "if" | "else"
            | "end"
            | "range"
            | "with"
            | "define"
            | "template"
            | "block"
            | "break"
            | "continue"
    ) {
        return false;
    }
    if t.starts_with('$') {
        // `$x := ...`, `$x = ...`, `$i, $e := ...`
        let decl = t
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || matches!(c, '_' | '$' | ',' | ' ' | '\t')))
            .map(|(i, _)| &t[i..]);
        if let Some(op) = decl
            && (op.starts_with(":=") || (op.starts_with('=') && !op.starts_with("==")))
        {
            return false;
        }
    }
    true
}

/// JSON to gtmpl. `strict_top` makes the top-level object a struct (unknown fields are errors).
fn to_value(j: &Json, strict_top: bool) -> Value {
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::from(u)
            } else if let Some(i) = n.as_i64() {
                Value::from(i)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(a) => Value::Array(a.iter().map(|v| to_value(v, false)).collect()),
        Json::Object(o) => {
            let m = o
                .iter()
                .map(|(k, v)| (k.clone(), to_value(v, false)))
                .collect();
            if strict_top {
                Value::Object(m)
            } else {
                Value::Map(m)
            }
        }
    }
}

/// gtmpl to JSON (for `json`). Maps come out with sorted keys, as Go's encoder writes them.
fn to_json(v: &Value) -> Json {
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => number_json(n),
        Value::Array(a) => Json::Array(a.iter().map(to_json).collect()),
        Value::Object(m) | Value::Map(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect(),
        ),
    }
}

fn number_json(n: &Number) -> Json {
    if let Some(u) = n.as_u64() {
        Json::from(u)
    } else if let Some(i) = n.as_i64() {
        Json::from(i)
    } else {
        n.as_f64().map_or(Json::Null, Json::from)
    }
}

/// Go's `%v`.
pub(crate) fn gofmt(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Function(_) => "<func>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(gofmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) | Value::Map(m) => {
            let sorted: BTreeMap<_, _> = m.iter().collect();
            let items: Vec<String> = sorted
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", gofmt(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

fn gofmt_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::from(args.first().map(gofmt).unwrap_or_default()))
}

// ---- functions -------------------------------------------------------------------------

const DOCKER_FUNCS: &[(&str, gtmpl::Func)] = &[
    ("json", json_fn),
    ("join", join_fn),
    ("split", split_fn),
    ("lower", lower_fn),
    ("upper", upper_fn),
    ("title", title_fn),
    ("truncate", truncate_fn),
    ("pad", pad_fn),
    ("print", print_fn),
    ("println", println_fn),
    ("html", html_fn),
    ("js", js_fn),
    ("slice", slice_fn),
];

/// docker/cli `templates.HeaderFunctions`: in the header row, Docker's functions leave the
/// header text alone, so `{{.Names | upper}}` still heads its column "NAMES".
const HEADER_FUNCS: &[(&str, gtmpl::Func)] = &[
    ("json", first_fn),
    ("join", first_fn),
    ("split", first_fn),
    ("lower", first_fn),
    ("upper", first_fn),
    ("title", first_fn),
    ("truncate", first_fn),
    ("pad", first_fn),
    ("print", print_fn),
    ("println", println_fn),
    ("html", html_fn),
    ("js", js_fn),
    ("slice", first_fn),
];

fn arg<'a>(
    args: &'a [Value],
    i: usize,
    f: &str,
    n: usize,
) -> std::result::Result<&'a Value, FuncError> {
    args.get(i)
        .ok_or_else(|| FuncError::ExactlyXArgs(f.to_string(), n))
}

fn str_arg(args: &[Value], i: usize, f: &str, n: usize) -> std::result::Result<String, FuncError> {
    Ok(match arg(args, i, f, n)? {
        Value::String(s) => s.clone(),
        other => gofmt(other),
    })
}

fn int_arg(args: &[Value], i: usize, f: &str, n: usize) -> std::result::Result<i64, FuncError> {
    match arg(args, i, f, n)? {
        Value::Number(num) => num
            .as_i64()
            .or_else(|| num.as_u64().map(|u| u as i64))
            .ok_or_else(|| FuncError::Generic(format!("{f}: expected an integer"))),
        Value::String(s) => s
            .parse()
            .map_err(|_| FuncError::Generic(format!("{f}: expected an integer, got {s:?}"))),
        _ => Err(FuncError::Generic(format!("{f}: expected an integer"))),
    }
}

fn first_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(args.first().cloned().unwrap_or(Value::NoValue))
}

fn json_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let v = arg(args, 0, "json", 1)?;
    Ok(Value::from(
        serde_json::to_string(&to_json(v)).unwrap_or_default(),
    ))
}

fn join_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let sep = str_arg(args, 1, "join", 2)?;
    match arg(args, 0, "join", 2)? {
        Value::Array(a) => Ok(Value::from(
            a.iter().map(gofmt).collect::<Vec<_>>().join(&sep),
        )),
        Value::Nil | Value::NoValue => Ok(Value::from("")),
        other => Ok(Value::from(gofmt(other))),
    }
}

fn split_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = str_arg(args, 0, "split", 2)?;
    let sep = str_arg(args, 1, "split", 2)?;
    // Go's strings.Split with an empty separator splits into characters.
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::from(c.to_string())).collect()
    } else {
        s.split(sep.as_str()).map(Value::from).collect()
    };
    Ok(Value::Array(parts))
}

fn lower_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::from(str_arg(args, 0, "lower", 1)?.to_lowercase()))
}

fn upper_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::from(str_arg(args, 0, "upper", 1)?.to_uppercase()))
}

/// Go's strings.Title: the first letter of each word in upper case.
fn title_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = str_arg(args, 0, "title", 1)?;
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    Ok(Value::from(out))
}

fn truncate_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = str_arg(args, 0, "truncate", 2)?;
    let n = int_arg(args, 1, "truncate", 2)?.max(0) as usize;
    Ok(Value::from(s.chars().take(n).collect::<String>()))
}

fn pad_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = str_arg(args, 0, "pad", 3)?;
    let pre = int_arg(args, 1, "pad", 3)?.max(0) as usize;
    let post = int_arg(args, 2, "pad", 3)?.max(0) as usize;
    if s.is_empty() {
        return Ok(Value::from(s));
    }
    Ok(Value::from(format!(
        "{}{s}{}",
        " ".repeat(pre),
        " ".repeat(post)
    )))
}

/// Go's fmt.Sprint: spaces between operands when neither side is a string.
fn print_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let mut out = String::new();
    let mut prev_string = true;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&gofmt(a));
        prev_string = is_string;
    }
    Ok(Value::from(out))
}

/// Go's fmt.Sprintln: spaces between all operands, and a newline.
fn println_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let mut out = args.iter().map(gofmt).collect::<Vec<_>>().join(" ");
    out.push('\n');
    Ok(Value::from(out))
}

fn html_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = args.iter().map(gofmt).collect::<String>();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    Ok(Value::from(out))
}

/// Go's template.JSEscapeString.
fn js_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let s = args.iter().map(gofmt).collect::<String>();
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    Ok(Value::from(out))
}

/// Go's `slice x i [j]` for strings and lists.
fn slice_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let v = arg(args, 0, "slice", 2)?;
    let len = match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        _ => {
            return Err(FuncError::Generic(
                "slice: expected a string or a list".into(),
            ));
        }
    };
    let i = if args.len() > 1 {
        int_arg(args, 1, "slice", 2)?
    } else {
        0
    };
    let j = if args.len() > 2 {
        int_arg(args, 2, "slice", 3)?
    } else {
        len as i64
    };
    if i < 0 || j < i || j as usize > len {
        return Err(FuncError::Generic(format!(
            "slice: index out of range [{i}:{j}] with length {len}"
        )));
    }
    let (i, j) = (i as usize, j as usize);
    Ok(match v {
        Value::String(s) => Value::from(s.get(i..j).unwrap_or_default()),
        Value::Array(a) => Value::Array(a[i..j].to_vec()),
        _ => unreachable!(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COLS: Columns = Columns {
        headers: &[("ID", "CONTAINER ID"), ("Names", "NAMES"), ("Size", "SIZE")],
        default_table: "table {{.ID}}\\t{{.Names}}",
    };

    fn inspect(t: &str, v: Json) -> String {
        Template::parse(t).unwrap().render(&v).unwrap()
    }

    fn rows() -> Vec<Json> {
        vec![
            json!({"ID": "abc", "Names": "web", "Size": "0B"}),
            json!({"ID": "defdefdefdef", "Names": "db", "Size": "1kB"}),
        ]
    }

    #[test]
    fn values_print_as_go_does() {
        let doc = json!({
            "State": {"Running": true, "Pid": 42, "Error": ""},
            "Config": {"Env": ["A=1", "B=2"], "User": "", "Labels": {"b": "2", "a": "1"}, "Cmd": null},
        });
        assert_eq!(inspect("{{.State.Running}}", doc.clone()), "true");
        assert_eq!(inspect("{{.Config.User}}", doc.clone()), "");
        assert_eq!(inspect("{{.Config.Env}}", doc.clone()), "[A=1 B=2]");
        assert_eq!(inspect("{{.Config.Labels}}", doc.clone()), "map[a:1 b:2]");
        assert_eq!(inspect("{{.Config.Cmd}}", doc.clone()), "<nil>");
        assert_eq!(inspect("{{.Config.Nope}}", doc.clone()), "<no value>");
        assert_eq!(inspect("{{.State.Pid}}", doc.clone()), "42");
        assert_eq!(
            inspect("{{json .Config.Labels}}", doc.clone()),
            r#"{"a":"1","b":"2"}"#
        );
        assert_eq!(inspect(r#"{{index .Config.Labels "b"}}"#, doc.clone()), "2");
        assert_eq!(
            inspect("{{range .Config.Env}}{{println .}}{{end}}", doc.clone()),
            "A=1\nB=2\n"
        );
        assert_eq!(
            inspect(
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}",
                doc.clone()
            )
            .len(),
            8
        );
        assert_eq!(
            inspect("{{if .State.Running}}up{{else}}down{{end}}", doc.clone()),
            "up"
        );
        assert_eq!(inspect("{{$x := .State.Pid}}{{$x}}", doc.clone()), "42");
        assert_eq!(inspect("a {{- /* note */ -}} b", doc.clone()), "ab");
        assert_eq!(inspect("{{ `}}` }}", doc.clone()), "}}");
        assert_eq!(inspect(r#"{{ "a}}b" }}"#, doc.clone()), "a}}b");
        assert_eq!(
            inspect("{{print .Config.Env 1 2}}", doc.clone()),
            "[A=1 B=2] 1 2"
        );
        assert_eq!(
            inspect("{{json .}}", json!({"b": [1, null], "a": "<&>"})),
            r#"{"a":"<&>","b":[1,null]}"#
        );
    }

    #[test]
    fn docker_functions() {
        let doc = json!({"S": "Hello big world", "L": ["a", "b"]});
        assert_eq!(inspect("{{join .L \",\"}}", doc.clone()), "a,b");
        assert_eq!(
            inspect("{{split .S \" \"}}", doc.clone()),
            "[Hello big world]"
        );
        assert_eq!(inspect("{{index (split .S \" \") 1}}", doc.clone()), "big");
        assert_eq!(
            inspect("{{lower .S}} {{upper .S}}", doc.clone()),
            "hello big world HELLO BIG WORLD"
        );
        assert_eq!(
            inspect("{{title \"hello big-world\"}}", doc.clone()),
            "Hello Big-World"
        );
        assert_eq!(
            inspect("{{truncate .S 5}}|{{truncate .S 99}}", doc.clone()),
            "Hello|Hello big world"
        );
        assert_eq!(
            inspect("[{{pad .S 1 2}}][{{pad \"\" 1 2}}]", doc.clone()),
            "[ Hello big world  ][]"
        );
        assert_eq!(
            inspect("{{.S | upper | printf \"%.3s\"}}", doc.clone()),
            "HEL"
        );
        assert_eq!(
            inspect(
                "{{len .L}} {{slice .S 6 9}} {{html \"<a>\"}} {{js \"'\"}}",
                doc.clone()
            ),
            "2 big &lt;a&gt; \\'"
        );
        assert_eq!(
            inspect("{{printf \"%s-%d\" .S 3}}", doc),
            "Hello big world-3"
        );
    }

    #[test]
    fn tables_have_headers_and_docker_alignment() {
        let f = Format::parse("table {{.ID}}\\t{{.Names | upper}}", &COLS).unwrap();
        assert_eq!(
            f.render(&rows(), &COLS).unwrap(),
            "CONTAINER ID   NAMES\nabc            WEB\ndefdefdefdef   DB\n"
        );
        // `table` alone is the default; short columns get Docker's minimum width of 10.
        let f = Format::parse("table {{.Size}}\\t{{.Names}}", &COLS).unwrap();
        assert_eq!(
            f.render(&rows(), &COLS).unwrap(),
            "SIZE      NAMES\n0B        web\n1kB       db\n"
        );
        let f = Format::parse("table", &COLS).unwrap();
        assert!(
            f.render(&rows(), &COLS)
                .unwrap()
                .starts_with("CONTAINER ID   NAMES\n")
        );
    }

    #[test]
    fn lines_json_and_errors() {
        let f = Format::parse("{{.ID}}: {{.Names}}", &COLS).unwrap();
        assert_eq!(
            f.render(&rows(), &COLS).unwrap(),
            "abc: web\ndefdefdefdef: db\n"
        );
        let f = Format::parse("json", &COLS).unwrap();
        let out = f.render(&rows(), &COLS).unwrap();
        assert_eq!(out.lines().count(), 2);
        assert_eq!(
            serde_json::from_str::<Json>(out.lines().next().unwrap()).unwrap()["Names"],
            "web"
        );
        let f = Format::parse("{{json .}}", &COLS).unwrap();
        assert_eq!(
            f.render(&rows()[..1], &COLS).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"web\",\"Size\":\"0B\"}\n"
        );
        // A misspelt field fails, even with no rows.
        let f = Format::parse("{{.Nmes}}", &COLS).unwrap();
        let e = f.render(&[], &COLS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--format template failed: can't evaluate field Nmes"
        );
        assert_eq!(e.code(), Code::BAD_ARGS);
        let e = Format::parse("{{.ID", &COLS).err().unwrap();
        assert!(
            e.to_string().starts_with("invalid --format template"),
            "{e}"
        );
        assert!(Format::parse("{{if}}", &COLS).is_err());
    }

    #[test]
    fn routing_leaves_control_actions_alone() {
        assert_eq!(
            route_prints("a{{.X}}b"),
            format!("a{{{{ {GOFMT} (.X) }}}}b")
        );
        assert_eq!(
            route_prints("{{- .X -}}"),
            format!("{{{{- {GOFMT} (.X) -}}}}")
        );
        for t in [
            "{{if .X}}",
            "{{else}}",
            "{{ end }}",
            "{{range $i, $e := .L}}",
            "{{$x := 1}}",
            "{{ $x = 2 }}",
            "{{/* c */}}",
            "{{template \"t\" .}}",
        ] {
            assert_eq!(route_prints(t), t);
        }
        assert_eq!(route_prints("{{.X"), "{{.X");
    }
}
