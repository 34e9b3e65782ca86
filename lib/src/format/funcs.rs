//! Values between JSON and gtmpl, Go's `%v` printing, and the template functions: Go's
//! builtins that gtmpl lacks or prints differently, and Docker's (docker/cli
//! `templates.basicFunctions` and `HeaderFunctions`).

use std::collections::BTreeMap;

use gtmpl::{FuncError, Value};
use gtmpl_value::Number;

use super::value::{Field, as_struct, fields, from_serialize, hidden, nil_entries, time_texts};

/// A document to gtmpl (see [`super::value`]). `strict_top` makes a top-level map a struct
/// (a list row: unknown fields are errors).
pub(super) fn to_value<T: serde::Serialize + ?Sized>(j: &T, strict_top: bool) -> Value {
    let v = from_serialize(j);
    if strict_top { as_struct(v) } else { v }
}

/// gtmpl to JSON text (for `json`), as Go's encoder writes it: a struct's fields in their
/// declared order (those serde skipped left out, as `omitempty` leaves them), a map's keys
/// sorted. Written by hand because `serde_json::Value` (without `preserve_order`) would sort a
/// struct's fields too.
fn write_json(v: &Value, out: &mut String) {
    let string = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match v {
        Value::NoValue | Value::Nil | Value::Function(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::String(s) => out.push_str(&string(s)),
        Value::Number(n) => out.push_str(&number_json(n).to_string()),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(e, out);
            }
            out.push(']');
        }
        Value::Object(m) | Value::Map(m) if time_texts(m).is_some() => {
            let (json, _) = time_texts(m).unwrap_or_default();
            out.push_str(&string(json));
        }
        Value::Object(m) | Value::Map(m) => {
            let keys: Vec<(&str, Field)> = match fields(m) {
                Some(f) => f
                    .into_iter()
                    .filter(|(_, f)| *f != Field::Skipped)
                    .collect(),
                None => {
                    let nils = nil_entries(m);
                    let mut k: Vec<(&str, Field)> = m
                        .keys()
                        .filter(|k| !hidden(k))
                        .map(|k| match nils.contains(&k.as_str()) {
                            true => (k.as_str(), Field::Nil),
                            false => (k.as_str(), Field::Set),
                        })
                        .collect();
                    k.sort_unstable_by_key(|(k, _)| *k);
                    k
                }
            };
            out.push('{');
            for (i, (k, f)) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&string(k));
                out.push(':');
                match f {
                    Field::Nil => out.push_str("null"),
                    _ => write_json(m.get(k).unwrap_or(&Value::Nil), out),
                }
            }
            out.push('}');
        }
    }
}

fn number_json(n: &Number) -> serde_json::Value {
    if let Some(u) = n.as_u64() {
        serde_json::Value::from(u)
    } else if let Some(i) = n.as_i64() {
        serde_json::Value::from(i)
    } else {
        n.as_f64()
            .map_or(serde_json::Value::Null, serde_json::Value::from)
    }
}

/// Go's `%v`: a struct prints its fields' values in order, `{a b}`; a map its entries sorted
/// by key, `map[k:v]`; a list `[a b]`; nil `<nil>`. Strings inside print bare, as Go's do.
pub(super) fn gofmt(v: &Value) -> String {
    match v {
        Value::NoValue => "<no value>".into(),
        Value::Nil => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Function(_) => "<func>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(gofmt).collect::<Vec<_>>().join(" ")),
        Value::Object(m) | Value::Map(m) if time_texts(m).is_some() => {
            time_texts(m).unwrap_or_default().1.to_string()
        }
        Value::Object(m) | Value::Map(m) => match fields(m) {
            Some(f) => {
                let items: Vec<String> = f
                    .into_iter()
                    .map(|(k, _)| m.get(k).map_or_else(|| "<nil>".into(), gofmt))
                    .collect();
                format!("{{{}}}", items.join(" "))
            }
            None => {
                let sorted: BTreeMap<_, _> = m.iter().filter(|(k, _)| !hidden(k)).collect();
                let items: Vec<String> = sorted
                    .into_iter()
                    .map(|(k, v)| format!("{k}:{}", gofmt(v)))
                    .collect();
                format!("map[{}]", items.join(" "))
            }
        },
    }
}

pub(super) fn gofmt_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    Ok(Value::from(args.first().map(gofmt).unwrap_or_default()))
}

pub(super) const DOCKER_FUNCS: &[(&str, gtmpl::Func)] = &[
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
    (super::route::LABEL, label_fn),
];

/// docker/cli `templates.HeaderFunctions`: in the header row, Docker's functions leave the
/// header text alone, so `{{.Names | upper}}` still heads its column "NAMES".
pub(super) const HEADER_FUNCS: &[(&str, gtmpl::Func)] = &[
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
    (super::route::LABEL, label_header_fn),
];

/// `.Label "KEY"` of a list row (docker/cli's `ContainerContext.Label` and the like): the
/// label's value, or an empty string. A row's `Labels` is Docker's `k=v,k2=v2` column (or, in
/// a document, a map).
fn label_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let key = str_arg(args, 1, "Label", 2)?;
    let labels = match arg(args, 0, "Label", 2)? {
        Value::Object(m) | Value::Map(m) => m.get("Labels"),
        _ => None,
    };
    let found = match labels {
        Some(Value::String(s)) => s
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string()),
        Some(Value::Object(m) | Value::Map(m)) => m.get(&key).map(gofmt),
        _ => None,
    };
    Ok(Value::from(found.unwrap_or_default()))
}

/// `.Label "KEY"` in the header row: docker/cli's `SubHeaderContext.Label`, the key's last
/// dot-separated part with `-` and `_` as spaces.
fn label_header_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let key = str_arg(args, 1, "Label", 2)?;
    let last = key.rsplit('.').next().unwrap_or_default();
    Ok(Value::from(last.replace(['-', '_'], " ")))
}

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
    let mut out = String::new();
    write_json(v, &mut out);
    Ok(Value::from(out))
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

/// Go's `len`: a string's bytes, a list's or a map's entries (gtmpl's has no maps and would
/// count a struct's hidden entries); nil (a nil map or slice) is 0; a struct is Go's error.
pub(super) fn len_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let n = match arg(args, 0, "len", 1)? {
        Value::String(s) => s.len(),
        Value::Array(a) => a.len(),
        Value::Nil => 0,
        Value::Map(m) | Value::Object(m) if fields(m).is_none() => {
            m.keys().filter(|k| !hidden(k)).count()
        }
        other => {
            return Err(FuncError::Generic(format!("len of {}", go_kind(other))));
        }
    };
    Ok(Value::from(n as u64))
}

/// What Go's errors call a value's type.
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) | Value::Map(_) => "type struct",
        Value::Number(_) => "type int",
        Value::Bool(_) => "type bool",
        Value::NoValue | Value::Nil => "untyped nil",
        _ => "this type",
    }
}

/// Go's `index X K...`: a list by position (out of range is an error), a map by key. A key a
/// map lacks gives the zero value of the map's element type, as Go's does; the type is not
/// kept, so it is read from the map's other values, and a map without any is taken to be a
/// map of strings (Labels, Options: the maps scripts index), whose zero value prints empty.
pub(super) fn index_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let mut item = arg(args, 0, "index", 1)?.clone();
    for key in &args[1..] {
        item = index_one(&item, key)?;
    }
    Ok(item)
}

fn index_one(item: &Value, key: &Value) -> std::result::Result<Value, FuncError> {
    match item {
        Value::Array(a) => {
            let i = match key {
                Value::Number(n) => n.as_i64().or_else(|| n.as_u64().map(|u| u as i64)),
                _ => None,
            }
            .ok_or_else(|| {
                FuncError::Generic("cannot index slice/array with non-integer".into())
            })?;
            usize::try_from(i)
                .ok()
                .and_then(|i| a.get(i).cloned())
                .ok_or_else(|| FuncError::Generic(format!("index out of range: {i}")))
        }
        Value::String(s) => match key {
            Value::Number(n) => n
                .as_u64()
                .and_then(|i| s.as_bytes().get(i as usize))
                .map(|b| Value::from(*b as u64))
                .ok_or_else(|| FuncError::Generic(format!("index out of range: {n}"))),
            _ => Err(FuncError::Generic(
                "cannot index string with non-integer".into(),
            )),
        },
        Value::Map(m) | Value::Object(m) if fields(m).is_none() => {
            let k = match key {
                Value::String(s) => s.clone(),
                other => gofmt(other),
            };
            Ok(match m.get(&k).filter(|_| !hidden(&k)) {
                Some(v) => v.clone(),
                None => zero_of(m),
            })
        }
        Value::Nil | Value::NoValue => Err(FuncError::Generic("index of untyped nil".into())),
        other => Err(FuncError::Generic(format!(
            "can't index item of {}",
            go_kind(other)
        ))),
    }
}

/// The zero value of a map's elements, judged from its values (see [`index_fn`]).
fn zero_of(m: &std::collections::HashMap<String, Value>) -> Value {
    match m.iter().find(|(k, _)| !hidden(k)).map(|(_, v)| v) {
        None | Some(Value::String(_)) => Value::from(""),
        Some(Value::Number(_)) => Value::from(0u64),
        Some(Value::Bool(_)) => Value::Bool(false),
        Some(Value::Array(_)) => Value::Array(Vec::new()),
        Some(Value::Map(v)) if fields(v).is_none() => Value::Map(Default::default()),
        Some(_) => Value::Nil,
    }
}

/// Go's `printf`: gtmpl's verbs, with lists, maps, structs and nil given as Go's `%v` text
/// (gtmpl would print Rust's debug form), and widths applied as Go applies them (gtmpl pads
/// strings on the right and drops the `0` flag). Each verb is formatted on its own;
/// a format with argument indexes (`%[1]d`) or `*` widths is left to gtmpl whole.
pub(super) fn printf_fn(args: &[Value]) -> std::result::Result<Value, FuncError> {
    let vals: Vec<Value> = args
        .iter()
        .skip(1)
        .map(|a| match a {
            Value::Array(_) | Value::Map(_) | Value::Object(_) | Value::Nil => {
                Value::from(gofmt(a))
            }
            other => other.clone(),
        })
        .collect();
    let format = match args.first() {
        Some(Value::String(f)) if !f.contains("%[") && !f.contains('*') => f,
        _ => {
            let mut all = args.first().cloned().into_iter().collect::<Vec<_>>();
            all.extend(vals);
            return gtmpl::funcs::printf(&all);
        }
    };
    let mut out = String::new();
    let mut vals = vals.into_iter();
    let mut rest = format.as_str();
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let spec = &rest[at + 1..];
        let len = spec
            .find(|c: char| !matches!(c, '-' | '+' | '#' | ' ' | '0'..='9' | '.'))
            .map_or(spec.len(), |i| {
                i + spec[i..].chars().next().map_or(0, char::len_utf8)
            });
        let (spec, after) = spec.split_at(len);
        rest = after;
        if spec == "%" || spec.is_empty() {
            out.push('%');
            continue;
        }
        out.push_str(&one_verb(spec, vals.next())?);
    }
    out.push_str(rest);
    Ok(Value::from(out))
}

/// One `printf` verb (`spec` is what follows the `%`) applied to `arg`.
fn one_verb(spec: &str, arg: Option<Value>) -> std::result::Result<String, FuncError> {
    let verb = spec.chars().last().unwrap_or('v');
    let Some(arg) = arg else {
        return Ok(format!("%!{verb}(MISSING)"));
    };
    // Width applied here, Go's way; gtmpl formats without it.
    let flags_end = spec
        .find(|c: char| !matches!(c, '-' | '+' | '#' | ' ' | '0'))
        .unwrap_or(spec.len());
    let (flags, tail) = spec.split_at(flags_end);
    let width_end = tail
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(tail.len());
    let width: usize = tail[..width_end].parse().unwrap_or(0);
    let inner = format!("%{}{}", flags.replace(['-', '0'], ""), &tail[width_end..]);
    let r = gtmpl::funcs::printf(&[Value::from(inner), arg])?;
    let text = gofmt(&r);
    let pad = width.saturating_sub(text.chars().count());
    Ok(if flags.contains('-') {
        format!("{text}{}", " ".repeat(pad))
    } else if flags.contains('0') {
        // Zeros go after a sign.
        let sign = text.len() - text.trim_start_matches(['-', '+']).len();
        format!("{}{}{}", &text[..sign], "0".repeat(pad), &text[sign..])
    } else {
        format!("{}{text}", " ".repeat(pad))
    })
}
