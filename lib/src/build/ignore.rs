//! `.dockerignore`, with Docker's pattern semantics (moby's patternmatcher): one pattern a
//! line, `#` comments, paths cleaned and taken from the context's root (a leading `/` is
//! dropped), `*` and `?` within one path component, `[...]` classes, `**` any number of
//! components, `!` an exception. A pattern that matches a directory excludes everything
//! beneath it, and the last pattern that matches a path (or one of its parents) decides.

use regex::Regex;

#[derive(Debug)]
struct Pattern {
    exception: bool,
    re: Regex,
}

#[derive(Debug, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let l = line.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (exception, p) = match l.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, l),
            };
            let cleaned = clean(p);
            if cleaned.is_empty() {
                continue;
            }
            if let Ok(re) = Regex::new(&to_regex(&cleaned)) {
                patterns.push(Pattern { exception, re });
            }
        }
        Ignore { patterns }
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any `!` exception exists (an excluded directory must then still be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether `rel` (relative to the context, `/`-separated) is excluded.
    pub fn excluded(&self, rel: &str) -> bool {
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() {
            return false;
        }
        let prefixes: Vec<&str> = rel
            .match_indices('/')
            .map(|(i, _)| &rel[..i])
            .chain(std::iter::once(rel))
            .collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exception != matched {
                continue;
            }
            if prefixes.iter().any(|s| p.re.is_match(s)) {
                matched = !p.exception;
            }
        }
        matched
    }
}

/// filepath.Clean, relative to the context root.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn to_regex(p: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                // `**/` matches zero or more directories; a trailing `**` anything.
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                    re.push_str("(.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let end = chars[i..].iter().position(|c| *c == ']').map(|e| i + e);
                match end {
                    Some(e) => {
                        let class: String = chars[i + 1..e].iter().collect();
                        let class = class
                            .strip_prefix('!')
                            .map_or(class.clone(), |c| format!("^{c}"));
                        re.push('[');
                        re.push_str(&class.replace('\\', "\\\\"));
                        re.push(']');
                        i = e;
                    }
                    None => re.push_str("\\["),
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                re.push_str(&regex::escape(&chars[i].to_string()));
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_semantics() {
        let i = Ignore::parse(
            "# comment\n*.log\n!keep.log\n/build\n**/node_modules\ndocs/**/*.md\n!docs/README.md\ntmp?\n",
        );
        assert!(i.excluded("a.log"));
        assert!(!i.excluded("keep.log"));
        assert!(!i.excluded("sub/a.log"), "* stays in one component");
        assert!(i.excluded("build") && i.excluded("build/out/x"));
        assert!(i.excluded("node_modules/x") && i.excluded("a/b/node_modules"));
        assert!(i.excluded("docs/x.md") && i.excluded("docs/a/b/x.md"));
        assert!(!i.excluded("docs/README.md"));
        assert!(i.excluded("tmp1") && !i.excluded("tmp12"));
        assert!(!i.excluded("src/main.rs"));
        assert!(i.has_exceptions());
        let j = Ignore::parse("*\n!src\n");
        assert!(j.excluded("Dockerfile") && !j.excluded("src/a"));
    }
}
