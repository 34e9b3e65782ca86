//! Variable substitution, as BuildKit's shell lexer does it for the instructions that support
//! it (ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG, ONBUILD is
//! not): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
//! `${VAR:?message}`; single quotes are literal, double quotes keep spaces, the escape
//! character escapes. RUN, CMD and ENTRYPOINT are left to the shell.

/// Expands `s`. With `split`, unquoted whitespace separates words; otherwise one word.
pub fn expand(
    s: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
    split: bool,
) -> Result<Vec<String>, String> {
    let mut lx = Lexer {
        chars: s.chars().collect(),
        pos: 0,
        escape,
        lookup,
        raw_quotes: false,
    };
    lx.words(split)
}

/// A COPY/ADD heredoc's content, as BuildKit expands it (`SkipProcessQuotes`): quotes are
/// ordinary characters, `$VAR` is expanded anywhere, and `\` (always the backslash) makes the
/// next character literal.
pub fn expand_raw(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut lx = Lexer {
        chars: s.chars().collect(),
        pos: 0,
        escape: '\\',
        lookup,
        raw_quotes: true,
    };
    Ok(lx.words(false)?.concat())
}

/// One word: quotes removed, variables expanded.
pub fn expand_word(
    s: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, String> {
    Ok(expand(s, escape, lookup, false)?.concat())
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Quotes are ordinary characters (heredocs).
    raw_quotes: bool,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        self.pos += 1;
        c
    }

    fn words(&mut self, split: bool) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut in_word = false;
        while let Some(c) = self.next() {
            if split && c.is_whitespace() {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
                continue;
            }
            in_word = true;
            match c {
                '\'' | '"' if self.raw_quotes => cur.push(c),
                '\'' => {
                    loop {
                        match self.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err("unexpected end of statement while looking for matching single-quote".into()),
                    }
                    }
                }
                '"' => self.double_quoted(&mut cur)?,
                '$' => cur.push_str(&self.dollar()?),
                c if c == self.escape => match self.next() {
                    Some(n) => cur.push(n),
                    None => cur.push(c),
                },
                c => cur.push(c),
            }
        }
        if in_word {
            out.push(cur);
        }
        Ok(out)
    }

    fn double_quoted(&mut self, cur: &mut String) -> Result<(), String> {
        loop {
            match self.next() {
                Some('"') => return Ok(()),
                Some('$') => cur.push_str(&self.dollar()?),
                Some(c) if c == self.escape => match self.peek() {
                    Some(n) if n == '"' || n == '$' || n == self.escape => {
                        self.pos += 1;
                        cur.push(n);
                    }
                    _ => cur.push(c),
                },
                Some(c) => cur.push(c),
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        n
    }

    /// After a `$`.
    fn dollar(&mut self) -> Result<String, String> {
        if self.peek() != Some('{') {
            let n = self.name();
            if n.is_empty() {
                return Ok("$".into());
            }
            return Ok((self.lookup)(&n).unwrap_or_default());
        }
        self.pos += 1;
        let n = self.name();
        if n.is_empty() {
            return Err("bad substitution: missing variable name after ${".into());
        }
        let value = (self.lookup)(&n);
        let c = self.next();
        if c == Some('}') {
            return Ok(value.unwrap_or_default());
        }
        let (colon, op) = match c {
            Some(':') => (true, self.next()),
            other => (false, other),
        };
        let Some(op @ ('-' | '+' | '?')) = op else {
            return Err(format!("unsupported modifier in ${{{n}...}}"));
        };
        let word = self.braced_word()?;
        let set = match (&value, colon) {
            (Some(v), true) => !v.is_empty(),
            (Some(_), false) => true,
            (None, _) => false,
        };
        Ok(match op {
            '-' if set => value.unwrap_or_default(),
            '-' => word,
            '+' if set => word,
            '+' => String::new(),
            _ if set => value.unwrap_or_default(),
            _ if word.is_empty() => return Err(format!("{n}: is not allowed to be unset")),
            _ => return Err(format!("{n}: {word}")),
        })
    }

    /// The word of `${VAR:-word}` up to its closing brace, itself expanded.
    fn braced_word(&mut self) -> Result<String, String> {
        let mut out = String::new();
        loop {
            match self.next() {
                Some('}') => return Ok(out),
                Some('$') => out.push_str(&self.dollar()?),
                Some(c @ ('\'' | '"')) if self.raw_quotes => out.push(c),
                Some('\'') => loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(c) => out.push(c),
                        None => return Err("missing '}'".into()),
                    }
                },
                Some('"') => self.double_quoted(&mut out)?,
                Some(c) if c == self.escape => {
                    if let Some(n) = self.next() {
                        out.push(n);
                    }
                }
                Some(c) => out.push(c),
                None => return Err("syntax error: missing '}'".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "A" => Some("alpha".into()),
            "E" => Some(String::new()),
            "SP" => Some("x y".into()),
            _ => None,
        }
    }

    fn w(s: &str) -> String {
        expand_word(s, '\\', &env).unwrap()
    }

    #[test]
    fn forms() {
        assert_eq!(w("$A-${A}"), "alpha-alpha");
        assert_eq!(w("${U:-def}/${A:-no}"), "def/alpha");
        assert_eq!(w("${E:-def}|${E-def}|${U-def}"), "def||def");
        assert_eq!(w("${A:+set}|${E:+set}|${E+set}|${U:+set}"), "set||set|");
        assert_eq!(w("${U:-${A}x}"), "alphax");
        assert_eq!(w("'$A'\"$A\"\\$A"), "$Aalpha$A");
        assert_eq!(w("cost $"), "cost $");
        assert!(
            expand_word("${U:?need it}", '\\', &env)
                .unwrap_err()
                .contains("need it")
        );
        assert!(expand_word("${A", '\\', &env).is_err());
    }

    #[test]
    fn splitting_keeps_quoted_spaces() {
        let v = expand("a \"b c\" $SP '$A d'", '\\', &env, true).unwrap();
        assert_eq!(v, ["a", "b c", "x y", "$A d"]);
        let v = expand("`$A", '`', &env, true).unwrap();
        assert_eq!(v, ["$A"]);
    }

    #[test]
    fn heredoc_content_keeps_quotes_and_whitespace() {
        let v = expand_raw("x='$A' \"${U:-d}\"\n  \\$A ${A:+\"y\"}\n", &env).unwrap();
        assert_eq!(v, "x='alpha' \"d\"\n  $A \"y\"\n");
    }
}
