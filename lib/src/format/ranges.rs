//! Go's `range` on top of gtmpl (see [`route_ranges`]).
//!
//! gtmpl's `range` differs from Go's text/template in three ways that values alone cannot
//! fix: it walks a map in hash order (Go walks it sorted by key), it fails on nil (Go ranges
//! over nothing), and it runs `{{else}}` after every range, not only an empty one. gtmpl keeps
//! a map as a `HashMap` and its parse tree is private, so the template text is rewritten
//! instead of forking the crate: the range walks a list that [`range_fn`] builds in Go's
//! order, the keys come from [`keys_fn`] in the same order, and `{{else}}` becomes an `if`
//! on that key list.

use gtmpl::{FuncError, Value};

use super::funcs::gofmt;
use super::route::action_end;
use super::value::{fields, hidden};

/// The function a range's pipeline goes through: its values in Go's order.
pub(super) const RANGE: &str = "_berth_range";
/// The function giving a range's keys (map keys, or indexes) in the same order.
pub(super) const KEYS: &str = "_berth_keys";

/// What a `range` walks, as a list: a list as it is, a map's values sorted by key, nil as
/// nothing, an integer `n` as `0..n` (Go 1.22). A struct or a scalar is Go's error.
pub(super) fn range_fn(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(
        walk(args)?.into_iter().map(|(_, v)| v).collect(),
    ))
}

/// The keys of what a `range` walks, in [`range_fn`]'s order: a map's keys, else indexes.
pub(super) fn keys_fn(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::Array(
        walk(args)?.into_iter().map(|(k, _)| k).collect(),
    ))
}

/// The (key, value) pairs a `range` walks, in Go's order.
fn walk(args: &[Value]) -> Result<Vec<(Value, Value)>, FuncError> {
    let index = |i: usize| Value::from(i as u64);
    Ok(match args.first().unwrap_or(&Value::Nil) {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (index(i), v.clone()))
            .collect(),
        Value::Nil | Value::NoValue => Vec::new(),
        Value::Map(m) | Value::Object(m) if fields(m).is_none() => {
            let mut keys: Vec<&String> = m.keys().filter(|k| !hidden(k)).collect();
            keys.sort();
            keys.into_iter()
                .map(|k| (Value::from(k.as_str()), m[k].clone()))
                .collect()
        }
        Value::Number(n) if n.as_i64().is_some() || n.as_u64().is_some() => {
            let n = n.as_i64().unwrap_or(i64::MAX).max(0) as usize;
            (0..n).map(|i| (index(i), index(i))).collect()
        }
        other => {
            return Err(FuncError::Generic(format!(
                "range can't iterate over {}",
                gofmt(other)
            )));
        }
    })
}

/// One action of a template: `{{` with its left trim marker, the inside, and `}}` with its
/// right trim marker.
struct Action<'a> {
    open: &'a str,
    body: &'a str,
    close: &'a str,
}

enum Piece<'a> {
    Text(&'a str),
    Action(Action<'a>),
}

/// The template as text and actions; `None` if an action is unterminated (gtmpl reports it).
fn pieces(text: &str) -> Option<Vec<Piece<'_>>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let (inner_len, close_len) = action_end(after)?;
        let inner = &after[..inner_len];
        let ltrim = inner.starts_with('-') && inner[1..].starts_with([' ', '\t', '\n', '\r']);
        out.push(Piece::Action(Action {
            open: &rest[start..start + if ltrim { 3 } else { 2 }],
            body: if ltrim { &inner[1..] } else { inner },
            close: &after[inner_len..inner_len + close_len],
        }));
        rest = &after[inner_len + close_len..];
    }
    out.push(Piece::Text(rest));
    Some(out)
}

/// A `range` action's declaration (`$v :=`, `$k, $v :=`, or `=`) and pipeline.
struct RangeHead<'a> {
    vars: Vec<&'a str>,
    op: &'a str,
    pipe: &'a str,
}

fn variable(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix('$')?;
    let len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    Some((&s[..len + 1], &rest[len..]))
}

fn range_head(body: &str) -> Option<RangeHead<'_>> {
    let rest = body.trim().strip_prefix("range")?;
    if !rest.starts_with([' ', '\t', '\n', '\r']) {
        return None;
    }
    let rest = rest.trim();
    let declared = (|| {
        let (v1, after) = variable(rest)?;
        let mut vars = vec![v1];
        let mut after = after.trim_start();
        if let Some(a) = after.strip_prefix(',') {
            let (v2, a) = variable(a.trim_start())?;
            vars.push(v2);
            after = a.trim_start();
        }
        let op = if after.starts_with(":=") {
            ":="
        } else if after.starts_with('=') && !after.starts_with("==") {
            "="
        } else {
            return None;
        };
        Some((vars, op, after[op.len()..].trim()))
    })();
    let (vars, op, pipe) = declared.unwrap_or((Vec::new(), "", rest));
    (!pipe.is_empty()).then_some(RangeHead { vars, op, pipe })
}

/// Rewrites each `{{range PIPE}}` so that it walks Go's order (see the module docs):
///
/// `{{range $k, $v := P}}A{{else}}B{{end}}` becomes
/// `{{$_berth_kN := _berth_keys (P)}}{{range $_berth_iN, $v := _berth_range (P)}}`
/// `{{$k := index $_berth_kN $_berth_iN}}A{{end}}{{if not $_berth_kN}}B{{end}}`,
/// with the trim markers kept on the outer delimiters. Text that does not parse is left for
/// gtmpl to report.
pub(super) fn route_ranges(text: &str) -> String {
    let Some(pieces) = pieces(text) else {
        return text.to_string();
    };
    let mut out = String::with_capacity(text.len() + 64);
    // Open blocks: `Some(n)` for a rewritten range whose `else` is still to come.
    let mut blocks: Vec<Option<usize>> = Vec::new();
    let mut n = 0;
    for p in pieces {
        let a = match p {
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Action(a) => a,
        };
        let word = a
            .body
            .trim_start()
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("");
        match word {
            "range" => {
                if let Some(h) = range_head(a.body) {
                    out.push_str(&rewrite_range(&h, n, &a));
                    blocks.push(Some(n));
                    n += 1;
                    continue;
                }
                blocks.push(None);
            }
            "if" | "with" | "block" | "define" => blocks.push(None),
            "end" => {
                blocks.pop();
            }
            "else" if a.body.trim() == "else" => {
                if let Some(k) = blocks.last_mut().and_then(Option::take) {
                    out.push_str(&format!(
                        "{} end}}}}{{{{if not $_berth_k{k}{}",
                        a.open, a.close
                    ));
                    continue;
                }
            }
            _ => {}
        }
        out.push_str(a.open);
        out.push_str(a.body);
        out.push_str(a.close);
    }
    out
}

fn rewrite_range(h: &RangeHead, n: usize, a: &Action) -> String {
    let (keys, idx, pipe) = (format!("$_berth_k{n}"), format!("$_berth_i{n}"), h.pipe);
    let mut out = format!("{} {keys} := {KEYS} ({pipe})}}}}", a.open);
    match h.vars.as_slice() {
        [] => out.push_str(&format!("{{{{range {RANGE} ({pipe}){}", a.close)),
        [v] => out.push_str(&format!(
            "{{{{range {v} {} {RANGE} ({pipe}){}",
            h.op, a.close
        )),
        [k, v, ..] => {
            if h.op == "=" {
                out.push_str(&format!("{{{{{idx} := 0}}}}"));
            }
            out.push_str(&format!(
                "{{{{range {idx}, {v} {} {RANGE} ({pipe})}}}}{{{{{k} {} index {keys} {idx}{}",
                h.op, h.op, a.close
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_rewritten_with_their_trim_markers() {
        assert_eq!(
            route_ranges("{{range .L}}x{{end}}"),
            "{{ $_berth_k0 := _berth_keys (.L)}}{{range _berth_range (.L)}}x{{end}}"
        );
        assert_eq!(
            route_ranges("{{- range $k, $v := .M | f -}}a{{- else -}}b{{end}}"),
            "{{- $_berth_k0 := _berth_keys (.M | f)}}\
             {{range $_berth_i0, $v := _berth_range (.M | f)}}\
             {{$k := index $_berth_k0 $_berth_i0 -}}a\
             {{- end}}{{if not $_berth_k0 -}}b{{end}}"
        );
        // An else of an inner if stays the if's; a range's own else is rewritten.
        assert_eq!(
            route_ranges("{{range $v := .L}}{{if $v}}y{{else}}n{{end}}{{else}}e{{end}}"),
            "{{ $_berth_k0 := _berth_keys (.L)}}{{range $v := _berth_range (.L)}}\
             {{if $v}}y{{else}}n{{end}}{{ end}}{{if not $_berth_k0}}e{{end}}"
        );
        // `$.X` and `$x.Y` are pipelines, not declarations; a string is not an action.
        assert_eq!(
            route_ranges("{{range $.L}}{{end}}"),
            "{{ $_berth_k0 := _berth_keys ($.L)}}{{range _berth_range ($.L)}}{{end}}"
        );
        for t in [
            "{{\"range .x\"}}",
            "{{ranger}}",
            "{{range",
            "a {{/* range .x */}}",
        ] {
            assert_eq!(route_ranges(t), t);
        }
    }
}

#[cfg(test)]
mod go_semantics {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use crate::format::Template;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Doc {
        labels: BTreeMap<String, String>,
        list: Vec<String>,
        nothing: Option<Vec<String>>,
        empty: Vec<String>,
        ports: BTreeMap<String, Option<Vec<String>>>,
        count: u32,
    }

    fn render(t: &str) -> Result<String, String> {
        // Many keys, so that hash order would show.
        let labels = (0..30)
            .map(|i| (format!("k{i:02}"), format!("v{i}")))
            .collect();
        let doc = Doc {
            labels,
            list: vec!["a".into(), "b".into()],
            nothing: None,
            empty: Vec::new(),
            ports: BTreeMap::from([("80/tcp".into(), Some(vec!["x".into()]))]),
            count: 3,
        };
        Template::parse(t)
            .map_err(|e| e.to_string())?
            .render(&doc)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn range_over_a_map_walks_its_keys_in_order() {
        let want: String = (0..30).map(|i| format!("k{i:02}=v{i};")).collect();
        assert_eq!(
            render("{{range $k, $v := .Labels}}{{$k}}={{$v}};{{end}}").unwrap(),
            want
        );
        let values: String = (0..30).map(|i| format!("v{i},")).collect();
        assert_eq!(render("{{range .Labels}}{{.}},{{end}}").unwrap(), values);
        assert_eq!(
            render("{{range $v := .Labels}}{{$v}},{{end}}").unwrap(),
            values
        );
        assert_eq!(
            render("{{range $i, $e := .List}}{{$i}}:{{$e}} {{end}}").unwrap(),
            "0:a 1:b "
        );
        assert_eq!(
            render("{{range $p, $b := .Ports}}{{$p}} {{$b}}{{end}}").unwrap(),
            "80/tcp [x]"
        );
        // Nested ranges each keep their own keys; `$` still reaches the document.
        assert_eq!(
            render(
                "{{range $i, $e := .List}}{{range $j, $f := $.List}}{{$i}}{{$j}} {{end}}{{end}}"
            )
            .unwrap(),
            "00 01 10 11 "
        );
    }

    #[test]
    fn range_over_nil_is_empty_and_else_runs_only_when_empty() {
        assert_eq!(render("[{{range .Nothing}}x{{end}}]").unwrap(), "[]");
        assert_eq!(render("[{{range .Labels.nope}}x{{end}}]").unwrap(), "[]");
        assert_eq!(
            render("{{range .Nothing}}x{{else}}none{{end}}").unwrap(),
            "none"
        );
        assert_eq!(
            render("{{range .Empty}}x{{else}}none{{end}}").unwrap(),
            "none"
        );
        assert_eq!(
            render("{{range .List}}{{.}}{{else}}none{{end}}").unwrap(),
            "ab"
        );
        assert_eq!(render("{{range .Count}}{{.}}{{end}}").unwrap(), "012");
        assert_eq!(
            render("{{range .List -}} {{.}} {{- else}}none{{end}}").unwrap(),
            "ab"
        );
        assert!(
            render("{{range .}}x{{end}}")
                .unwrap_err()
                .contains("range can't iterate over {"),
        );
    }

    #[test]
    fn len_index_and_printf_as_go() {
        assert_eq!(
            render("{{len .Labels}} {{len .List}} {{len .Nothing}} {{len \"abc\"}}").unwrap(),
            "30 2 0 3"
        );
        assert!(
            render("{{len .}}")
                .unwrap_err()
                .contains("len of type struct")
        );
        assert_eq!(render(r#"{{index .Labels "k03"}}"#).unwrap(), "v3");
        // A missing key is the zero value: an empty string for a map of strings.
        assert_eq!(render(r#"[{{index .Labels "nope"}}]"#).unwrap(), "[]");
        assert_eq!(render(r#"{{index .Ports "53/udp"}}"#).unwrap(), "[]");
        assert_eq!(render("{{index .List 1}}").unwrap(), "b");
        assert_eq!(render(r#"{{index .Ports "80/tcp" 0}}"#).unwrap(), "x");
        assert!(
            render("{{index .List 5}}")
                .unwrap_err()
                .contains("out of range")
        );
        assert_eq!(
            render(r#"{{printf "%s|%v|%d|%5s|%-4s|%03d|%%|%.1s|%03d" .List .Ports .Count "ab" "c" 7 "xy" -7}}"#)
                .unwrap(),
            "[a b]|map[80/tcp:[x]]|3|   ab|c   |007|%|x|-07"
        );
        assert_eq!(
            render(r#"{{printf "%s-%s" "a"}}"#).unwrap(),
            "a-%!s(MISSING)"
        );
    }
}
