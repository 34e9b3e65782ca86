//! Routing print actions through a Go-style formatter (see [`route_prints`]).

/// The function print actions are routed through.
pub(super) const GOFMT: &str = "_berth_gofmt";

/// Rewrites each action that prints (`{{ PIPELINE }}`) into `{{ _berth_gofmt (PIPELINE) }}`,
/// leaving control actions, variable declarations and comments alone. gtmpl prints values with
/// Rust's `Debug` for lists and maps; this makes them print as Go's `%v` does.
///
/// Only action boundaries are found here (quotes, raw strings, char constants and comments
/// respected); gtmpl parses everything.
pub(super) fn route_prints(text: &str) -> String {
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
pub(super) fn action_end(s: &str) -> Option<(usize, usize)> {
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

/// The function `.Label "KEY"` is rewritten to call.
pub(super) const LABEL: &str = "_berth_label";

/// Rewrites docker/cli's row method `.Label "KEY"` (ps, volume ls, network ls...) into
/// `(_berth_label . "KEY")`: gtmpl gives a field no arguments, and berth's rows are JSON, not
/// Go structs with methods. Only a `.Label` that starts a term is rewritten (not `.Labels`, not
/// `.Config.Label`), and never inside a string literal.
pub(super) fn rewrite_methods(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start + 2]);
        let after = &rest[start + 2..];
        let Some((inner_len, _)) = action_end(after) else {
            out.push_str(after);
            return out;
        };
        out.push_str(&rewrite_label_calls(&after[..inner_len]));
        rest = &after[inner_len..];
    }
    out.push_str(rest);
    out
}

fn rewrite_label_calls(body: &str) -> String {
    const CALL: &str = ".Label";
    let b = body.as_bytes();
    let mut out = String::with_capacity(body.len() + 16);
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'' | b'`') => {
                let end = literal_end(body, i, q);
                out.push_str(&body[i..end]);
                i = end;
            }
            b'.' if body[i..].starts_with(CALL)
                && (i == 0 || matches!(b[i - 1], b' ' | b'\t' | b'\n' | b'(' | b'|'))
                && body[i + CALL.len()..].starts_with([' ', '\t']) =>
            {
                let arg_start = i + CALL.len() + body[i + CALL.len()..].len()
                    - body[i + CALL.len()..].trim_start().len();
                match b.get(arg_start) {
                    Some(&q @ (b'"' | b'`')) => {
                        let end = literal_end(body, arg_start, q);
                        out.push_str(&format!("({LABEL} . {})", &body[arg_start..end]));
                        i = end;
                    }
                    _ => {
                        out.push('.');
                        i += 1;
                    }
                }
            }
            _ => {
                let c = body[i..].chars().next().expect("in bounds");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

/// The end (exclusive) of the quoted literal starting at `start` with quote `q`.
fn literal_end(s: &str, start: usize, q: u8) -> usize {
    let b = s.as_bytes();
    let mut i = start + 1;
    while i < b.len() && b[i] != q {
        i += if b[i] == b'\\' && q != b'`' { 2 } else { 1 };
    }
    (i + 1).min(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_calls_become_a_function_of_the_row() {
        assert_eq!(
            rewrite_methods(r#"{{.Names}} {{.Label "com.x.team"}}"#),
            r#"{{.Names}} {{(_berth_label . "com.x.team")}}"#
        );
        assert_eq!(
            rewrite_methods(r#"{{ .Label `a` | upper }}"#),
            r#"{{ (_berth_label . `a`) | upper }}"#
        );
        // Not a call: a field that merely starts so, a chain, a string, plain text.
        for t in [
            "{{.Labels}}",
            "{{.Config.Label}}",
            r#"{{".Label \"x\""}}"#,
            r#".Label "x" {{.ID}}"#,
        ] {
            assert_eq!(rewrite_methods(t), t);
        }
    }
}
