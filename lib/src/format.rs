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
//! Functions: Go's builtins (gtmpl's, with `print`/`println`/`printf`/`len`/`index` replaced
//! by Go-faithful ones, plus `html`, `js`, `slice`) and Docker's (`json`, `join`, `split`, `lower`, `upper`, `title`,
//! `truncate`, `pad`). Values print as Go's `%v` would: `[a b]` for lists, `map[k:v]` for maps
//! (sorted by key), `{a b}` for structs (fields in declared order), `<nil>`, `<no value>`;
//! gtmpl itself would print Rust debug output there, so print actions are routed through a
//! formatter (see `route::route_prints`), and `json` writes a struct's fields in order.
//! `range` walks a map in key order, ranges over nil as over nothing and runs `{{else}}` only
//! when empty, as Go's does (gtmpl's does none of these; see `ranges`).
//!
//! Documents are turned into template values straight from serde's data model (`value`), not
//! through `serde_json::Value`: serde says which objects are structs (`serialize_struct`, in
//! declaration order) and which are maps, which Go prints differently. serde_json's
//! `preserve_order` would keep the order but not that distinction, and would make every
//! `HashMap` print in hash order.
//!
//! Field lookup follows Docker: a struct names only its fields, so `{{.Nmes}}` in a list row
//! or `{{.State.Nope}}` in a typed inspect document is an error ("can't evaluate field
//! Nope"); in a map a missing key prints `<no value>`.

mod funcs;
mod ranges;
mod route;
mod value;

pub use value::{GoTime, go_nil_map, go_nil_slice};

use std::collections::HashMap;
use std::io::Write;

use gtmpl::{Context, Value};
use serde_json::Value as Json;

use funcs::{DOCKER_FUNCS, HEADER_FUNCS, gofmt_fn, index_fn, len_fn, printf_fn, to_value};
use ranges::{KEYS, RANGE, keys_fn, range_fn, route_ranges};
use route::{GOFMT, rewrite_methods, route_prints};

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

    /// Renders one document (inspect, info, version). A typed document keeps Go's view of
    /// it: its structs print as `{a b}` in field order and name only their own fields, its
    /// maps print sorted and a missing key prints `<no value>` (see `value`). A
    /// `serde_json::Value` is all maps.
    pub fn render<T: serde::Serialize + ?Sized>(&self, data: &T) -> Result<String> {
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
    let text = &rewrite_methods(text);
    let ranged = &route_ranges(text);
    let build = |src: &str| {
        let mut t = gtmpl::Template::default();
        t.add_funcs(funcs);
        // Go's builtins where gtmpl's differ (maps, nil, printing), and the range helpers.
        t.add_funcs(&[
            ("len", len_fn as gtmpl::Func),
            ("index", index_fn),
            ("printf", printf_fn),
            (GOFMT, gofmt_fn),
            (RANGE, range_fn),
            (KEYS, keys_fn),
        ]);
        t.parse(src).map(|()| t).map_err(|e| e.to_string())
    };
    // The routed form prints Go-style and ranges Go's way; if our rewrites ever confuse
    // gtmpl's parser, the template as written is still valid and used as is.
    build(&route_prints(ranged))
        .or_else(|_| build(ranged))
        .or_else(|_| build(text).map_err(FormatError::Parse))
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
    fn label_method_of_a_row() {
        let cols = Columns {
            headers: &[("Names", "NAMES"), ("Labels", "LABELS")],
            default_table: "table {{.Names}}",
        };
        let rows = vec![
            json!({"Names": "web", "Labels": "com.x.team=core,tier=front"}),
            json!({"Names": "db", "Labels": ""}),
        ];
        let f = Format::parse(r#"table {{.Names}}\t{{.Label "com.x.team"}}"#, &cols).unwrap();
        assert_eq!(
            f.render(&rows, &cols).unwrap(),
            "NAMES     team\nweb       core\ndb        \n"
        );
        let f = Format::parse(r#"{{.Names}}={{.Label "tier"}}"#, &cols).unwrap();
        assert_eq!(f.render(&rows, &cols).unwrap(), "web=front\ndb=\n");
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
