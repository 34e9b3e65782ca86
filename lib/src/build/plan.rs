//! Stages: the `ARG`s before the first `FROM` (the global scope, usable in `FROM` lines and
//! re-declared inside a stage with a bare `ARG NAME`), each `FROM image [AS name]` and its
//! instructions, `--target`, and the stages the target needs (through `FROM <stage>` and
//! `COPY --from=<stage>`); the others are skipped, as BuildKit skips them.

use std::collections::BTreeMap;

use super::BuildError;
use super::parse::{Dockerfile, Instruction};
use super::vars;

#[derive(Debug, Clone)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower case.
    pub name: Option<String>,
    /// The FROM image after substitution of the global args.
    pub base: String,
    pub from: Instruction,
    pub body: Vec<Instruction>,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// The global args with their values (build args override defaults).
    pub meta_args: BTreeMap<String, String>,
    pub stages: Vec<Stage>,
    /// Indexes of the stages to build, in order; the last is the target.
    pub needed: Vec<usize>,
}

/// Args every build has (BuildKit's automatic platform args), in the global scope.
pub fn platform_args() -> Vec<(String, String)> {
    let arch = crate::store::layout::PlatformSpec::host().architecture;
    let p = format!("linux/{arch}");
    vec![
        ("TARGETPLATFORM".into(), p.clone()),
        ("TARGETOS".into(), "linux".into()),
        ("TARGETARCH".into(), arch.clone()),
        ("BUILDPLATFORM".into(), p),
        ("BUILDOS".into(), "linux".into()),
        ("BUILDARCH".into(), arch),
    ]
}

pub fn plan(
    df: &Dockerfile,
    build_args: &[(String, String)],
    target: Option<&str>,
) -> Result<Plan, BuildError> {
    let given: BTreeMap<&str, &str> = build_args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut meta: BTreeMap<String, String> = platform_args().into_iter().collect();
    let mut stages: Vec<Stage> = Vec::new();
    for ins in &df.instructions {
        if ins.keyword == "FROM" {
            stages.push(from(ins, stages.len(), &meta, df.escape)?);
        } else if let Some(s) = stages.last_mut() {
            s.body.push(ins.clone());
        } else if ins.keyword == "ARG" {
            for (k, v) in arg_pairs(ins, df.escape, &|n| meta.get(n).cloned())? {
                let value = given.get(k.as_str()).map(|s| s.to_string()).or(v);
                meta.insert(k, value.unwrap_or_default());
            }
        } else {
            return Err(ins.err(format!(
                "no build stage in current context ({} before the first FROM; only ARG may come before it)",
                ins.keyword
            )));
        }
    }
    if stages.is_empty() {
        return Err(BuildError::Syntax {
            line: df.instructions.last().map_or(1, |i| i.line),
            message: "the Dockerfile has no FROM instruction (start it with FROM IMAGE)".into(),
        });
    }
    let target_ix = match target {
        None => stages.len() - 1,
        Some(t) => stages
            .iter()
            .position(|s| s.name.as_deref() == Some(&t.to_ascii_lowercase()))
            .ok_or_else(|| {
                BuildError::BadArgs(format!("target stage \"{t}\" could not be found"))
            })?,
    };
    let mut want = vec![false; stages.len()];
    mark(&stages, target_ix, &mut want, df.escape, &meta);
    let needed = (0..stages.len()).filter(|i| want[*i]).collect();
    Ok(Plan {
        meta_args: meta,
        stages,
        needed,
    })
}

fn from(
    ins: &Instruction,
    index: usize,
    meta: &BTreeMap<String, String>,
    escape: char,
) -> Result<Stage, BuildError> {
    let words =
        vars::expand(&ins.args, escape, &|n| meta.get(n).cloned(), true).map_err(|e| ins.err(e))?;
    let (base, name) = match words.as_slice() {
        [b] => (b.clone(), None),
        [b, kw, n] if kw.eq_ignore_ascii_case("as") => {
            let n = n.to_ascii_lowercase();
            let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !ok {
                return Err(ins.err(format!(
                    "invalid name for build stage: \"{n}\", name can't start with a number or contain symbols"
                )));
            }
            (b.clone(), Some(n))
        }
        _ => {
            return Err(
                ins.err("FROM requires either one or three arguments (FROM IMAGE [AS NAME])")
            );
        }
    };
    if base.is_empty() {
        return Err(ins.err("base name (empty) should not be blank (is an ARG unset?)"));
    }
    Ok(Stage {
        index,
        name,
        base,
        from: ins.clone(),
        body: Vec::new(),
    })
}

/// `ARG NAME[=default] ...`: names with their defaults (quotes removed, values expanded).
pub fn arg_pairs(
    ins: &Instruction,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Option<String>)>, BuildError> {
    let words = vars::expand(&ins.args, escape, lookup, true).map_err(|e| ins.err(e))?;
    if words.is_empty() {
        return Err(ins.err("ARG requires at least one argument (ARG NAME[=DEFAULT])"));
    }
    words
        .into_iter()
        .map(|w| {
            let (k, v) = match w.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.to_string())),
                None => (w, None),
            };
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ins.err(format!("invalid ARG name {k:?}")));
            }
            Ok((k, v))
        })
        .collect()
}

/// The stage a `FROM` or `--from` names: by name, by index, or none (an image).
pub fn stage_ref(stages: &[Stage], before: usize, name: &str) -> Option<usize> {
    let n = name.to_ascii_lowercase();
    if let Ok(i) = n.parse::<usize>() {
        return (i < before).then_some(i);
    }
    stages[..before]
        .iter()
        .position(|s| s.name.as_deref() == Some(n.as_str()))
}

fn mark(
    stages: &[Stage],
    i: usize,
    want: &mut [bool],
    escape: char,
    meta: &BTreeMap<String, String>,
) {
    if want[i] {
        return;
    }
    want[i] = true;
    let s = &stages[i];
    if let Some(j) = stage_ref(stages, i, &s.base)
        && stages[j].name.as_deref() == Some(&s.base.to_ascii_lowercase())
    {
        mark(stages, j, want, escape, meta);
    }
    for ins in &s.body {
        // `COPY --from=`, and `RUN --mount=...,from=` (BuildKit's bind of another stage).
        let mount_froms = ins
            .flags
            .iter()
            .filter(|(k, _)| k == "mount")
            .filter_map(|(_, v)| v.split(',').find_map(|p| p.strip_prefix("from=")));
        let froms: Vec<&str> = ins.flag("from").into_iter().chain(mount_froms).collect();
        for f in froms {
            let f = vars::expand_word(f, escape, &|n| meta.get(n).cloned())
                .unwrap_or_else(|_| f.to_string());
            if let Some(j) = stage_ref(stages, i, &f) {
                mark(stages, j, want, escape, meta);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::parse::parse;

    #[test]
    fn meta_args_target_and_needed_stages() {
        let df = parse(
            "ARG BASE=busybox\nFROM ${BASE} AS a\nFROM busybox AS unused\nRUN x\nFROM a AS b\nCOPY --from=0 /x /y\nFROM b\n",
        )
        .unwrap();
        let p = plan(&df, &[], None).unwrap();
        assert_eq!(p.stages[0].base, "busybox");
        assert_eq!(p.needed, [0, 2, 3]);
        let p = plan(&df, &[("BASE".into(), "alpine".into())], Some("A")).unwrap();
        assert_eq!(p.stages[0].base, "alpine");
        assert_eq!(p.needed, [0]);
        let e = plan(&df, &[], Some("nope")).unwrap_err();
        assert_eq!(e.to_string(), "target stage \"nope\" could not be found");
    }

    #[test]
    fn errors_carry_lines() {
        let df = parse("RUN x\n").unwrap();
        assert!(
            plan(&df, &[], None)
                .unwrap_err()
                .to_string()
                .starts_with("Dockerfile:1: no build stage")
        );
        let df = parse("FROM a b\n").unwrap();
        assert!(
            plan(&df, &[], None)
                .unwrap_err()
                .to_string()
                .starts_with("Dockerfile:1: FROM requires")
        );
        let df = parse("ARG X\nFROM ${X}\n").unwrap();
        assert!(
            plan(&df, &[], None)
                .unwrap_err()
                .to_string()
                .contains("should not be blank")
        );
    }
}
