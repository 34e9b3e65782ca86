//! The Dockerfile's syntax, per the Dockerfile reference: parser directives (`# syntax=`,
//! `# escape=`), comments, line continuations (with comment and empty lines inside them
//! dropped, as BuildKit does), the instruction keyword (any case), leading `--flag[=value]`
//! options, and the JSON (exec) or shell form of the arguments. Variables are expanded later,
//! per instruction and scope ([`super::vars`]).

use super::BuildError;

/// One instruction, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The line the instruction starts on (1-based).
    pub line: usize,
    /// The keyword, upper case.
    pub keyword: String,
    /// `--name=value` options before the arguments (`--from=build` -> ("from", "build")).
    pub flags: Vec<(String, String)>,
    /// The arguments after the flags, continuations joined.
    pub args: String,
    /// The whole logical line after the keyword (for history and errors).
    pub original: String,
    /// BuildKit's heredocs (`RUN <<EOF`, `COPY <<EOF /dest`), in order.
    pub heredocs: Vec<Heredoc>,
}

/// One heredoc: `<<NAME` (or `<<-NAME`, leading tabs stripped; `<<"NAME"` quoted) and the
/// lines up to the line `NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    pub content: String,
    /// Variables in the content are expanded (COPY/ADD; RUN leaves them to the shell):
    /// BuildKit's `Expand`, true unless the delimiter is quoted.
    pub expand: bool,
}

/// The JSON form, when the arguments are a JSON array of strings.
impl Instruction {
    pub fn json(&self) -> Option<Vec<String>> {
        let a = self.args.trim();
        if !a.starts_with('[') {
            return None;
        }
        serde_json::from_str(a).ok()
    }

    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn err(&self, msg: impl Into<String>) -> BuildError {
        BuildError::Syntax {
            line: self.line,
            message: msg.into(),
        }
    }
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, Default)]
pub struct Dockerfile {
    pub escape: char,
    pub syntax: Option<String>,
    pub instructions: Vec<Instruction>,
}

const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Parses the text of a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut df = Dockerfile {
        escape: '\\',
        ..Default::default()
    };
    let mut i = directives(&lines, &mut df)?;
    while i < lines.len() {
        let raw = lines[i].trim_start();
        if raw.is_empty() || raw.starts_with('#') {
            i += 1;
            continue;
        }
        let start = i;
        let mut logical = String::new();
        loop {
            let l = lines[i];
            i += 1;
            let t = l.trim_end();
            if let Some(body) = t.strip_suffix(df.escape) {
                logical.push_str(body);
                // Skip comment and empty lines inside the continuation.
                while i < lines.len() {
                    let n = lines[i].trim_start();
                    if n.is_empty() || n.starts_with('#') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i >= lines.len() {
                    break;
                }
            } else {
                logical.push_str(l);
                break;
            }
        }
        let mut ins = instruction(start + 1, &logical)?;
        if matches!(ins.keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (name, strip, expand) in heredoc_markers(&ins.args) {
                let mut content = String::new();
                loop {
                    let Some(l) = lines.get(i) else {
                        return Err(BuildError::Syntax {
                            line: start + 1,
                            message: format!("unterminated heredoc {name}: no line {name} ends it"),
                        });
                    };
                    i += 1;
                    let l = if strip { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        break;
                    }
                    content.push_str(l);
                    content.push('\n');
                }
                ins.heredocs.push(Heredoc {
                    name,
                    content,
                    expand,
                });
            }
        }
        df.instructions.push(ins);
    }
    Ok(df)
}

/// The parser directives at the top: `# name=value` lines before any comment, empty line or
/// instruction. Returns the index of the first line after them.
fn directives(lines: &[&str], df: &mut Dockerfile) -> Result<usize, BuildError> {
    let mut seen = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.trim().strip_prefix('#') else {
            return Ok(i);
        };
        let Some((name, value)) = rest.split_once('=') else {
            return Ok(i);
        };
        let name = name.trim().to_ascii_lowercase();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Ok(i);
        }
        if seen.contains(&name) {
            return Err(BuildError::Syntax {
                line: i + 1,
                message: format!("only one {name} parser directive can be used"),
            });
        }
        seen.push(name.clone());
        let value = value.trim();
        match name.as_str() {
            "escape" => {
                df.escape = match value {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(BuildError::Syntax {
                            line: i + 1,
                            message: format!(
                                "invalid escape token '{value}' does not match ` or \\"
                            ),
                        });
                    }
                }
            }
            "syntax" => df.syntax = Some(value.to_string()),
            // Unknown directives are comments, as the reference says.
            _ => {}
        }
    }
    Ok(lines.len())
}

fn instruction(line: usize, logical: &str) -> Result<Instruction, BuildError> {
    let t = logical.trim();
    let (word, rest) = t
        .split_once(char::is_whitespace)
        .map_or((t, ""), |(w, r)| (w, r.trim_start()));
    let keyword = word.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(BuildError::Syntax {
            line,
            message: format!("unknown instruction: {word}"),
        });
    }
    let mut flags = Vec::new();
    let mut args = rest;
    // Only these take --flags; elsewhere a leading -- is the argument itself (ENV --x=1 is an
    // error in BuildKit too, but CMD --help is a command).
    if matches!(
        keyword.as_str(),
        "ADD" | "COPY" | "FROM" | "RUN" | "HEALTHCHECK"
    ) {
        while let Some(f) = args.strip_prefix("--") {
            let (word, after) = f
                .split_once(char::is_whitespace)
                .map_or((f, ""), |(w, r)| (w, r.trim_start()));
            if word.is_empty() {
                break;
            }
            let (n, v) = word.split_once('=').unwrap_or((word, ""));
            flags.push((n.to_ascii_lowercase(), v.to_string()));
            args = after;
        }
    }
    Ok(Instruction {
        line,
        keyword,
        flags,
        args: args.trim_end().to_string(),
        original: rest.trim_end().to_string(),
        heredocs: Vec::new(),
    })
}

/// The heredoc markers of an instruction's arguments: name, whether tabs are stripped, and
/// whether the content is expanded (the name is not quoted).
fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(p) = rest.find("<<") {
        let mut m = &rest[p + 2..];
        let strip = m.starts_with('-');
        if strip {
            m = &m[1..];
        }
        let quote = m.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            m = &m[1..];
            let end = m.find(q).unwrap_or(m.len());
            let name = &m[..end];
            if !name.is_empty() {
                out.push((name.to_string(), strip, false));
            }
            rest = &m[end.min(m.len())..];
            continue;
        }
        let end = m
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(m.len());
        if end > 0 {
            out.push((m[..end].to_string(), strip, true));
        }
        rest = &m[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_line_numbers() {
        let df = parse(
            "# syntax=docker/dockerfile:1\nFROM busybox AS base\n\n# c\nRUN echo a \\\n  # inside\n\n  && echo b\nrun [\"sh\", \"-c\", \"x\"]\n",
        )
        .unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        let i = &df.instructions;
        assert_eq!(i.len(), 3);
        assert_eq!((i[0].line, i[0].keyword.as_str()), (2, "FROM"));
        assert_eq!(i[1].line, 5);
        assert_eq!(i[1].args, "echo a   && echo b");
        assert_eq!(i[2].keyword, "RUN");
        assert_eq!(i[2].json().unwrap(), ["sh", "-c", "x"]);
    }

    #[test]
    fn escape_directive_and_flags() {
        let df = parse("# escape=`\nFROM x\nCOPY --from=b --chmod=644 a `\n c /d\n").unwrap();
        assert_eq!(df.escape, '`');
        let c = &df.instructions[1];
        assert_eq!(c.flag("from"), Some("b"));
        assert_eq!(c.flag("chmod"), Some("644"));
        assert_eq!(c.args, "a  c /d");
        // A directive after an instruction is a comment.
        let df = parse("FROM x\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.instructions[1].args, "a  b");
    }

    #[test]
    fn unknown_instruction_names_its_line() {
        let e = parse("FROM x\n\nFOO bar\n").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:3: unknown instruction: FOO");
        let e = parse("# escape=x\nFROM x\n").unwrap_err();
        assert!(e.to_string().starts_with("Dockerfile:1: invalid escape"));
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM x\nRUN <<EOF\necho a\n  echo b\nEOF\nCOPY <<-\"END\" /f\n\thello\n\tEND\nRUN x\n",
        )
        .unwrap();
        let i = &df.instructions;
        assert_eq!(i.len(), 4);
        assert_eq!(i[1].heredocs[0].content, "echo a\n  echo b\n");
        assert_eq!(i[2].heredocs[0].name, "END");
        assert_eq!(i[2].heredocs[0].content, "hello\n");
        assert!(i[1].heredocs[0].expand && !i[2].heredocs[0].expand);
        let q = parse("FROM x\nCOPY <<'A' <<B /d/\na\nA\nb\nB\n").unwrap();
        let h = &q.instructions[1].heredocs;
        assert_eq!((h[0].expand, h[1].expand), (false, true));
        assert_eq!((i[3].line, i[3].keyword.as_str()), (9, "RUN"));
        assert!(
            parse("RUN <<EOF\nx\n")
                .unwrap_err()
                .to_string()
                .starts_with("Dockerfile:1: unterminated heredoc EOF")
        );
    }

    #[test]
    fn shell_form_is_not_json() {
        let df = parse("CMD [not json\nCMD echo [a]\n").unwrap();
        assert!(df.instructions[0].json().is_none());
        assert!(df.instructions[1].json().is_none());
    }
}
