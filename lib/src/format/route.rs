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
