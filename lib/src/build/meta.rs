//! The metadata instructions: each changes only the image config's `config` object, in
//! Docker's spelling (ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR's value, CMD, ENTRYPOINT,
//! SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER), and returns the `created_by` text
//! its history entry carries.

use serde_json::{Map, Value, json};

use super::BuildError;
use super::parse::Instruction;
use super::vars;

/// Variables visible to substitution: ENV first, then the args in scope.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `K=V K2="v w"` or the legacy `K V W` (ENV and LABEL).
pub fn pairs(
    ins: &Instruction,
    escape: char,
    lookup: Lookup,
) -> Result<Vec<(String, String)>, BuildError> {
    let words = vars::expand(&ins.args, escape, lookup, true).map_err(|e| ins.err(e))?;
    let Some(first) = words.first() else {
        return Err(ins.err(format!("{} requires at least one argument", ins.keyword)));
    };
    if !first.contains('=') {
        // Legacy: `ENV NAME value with spaces`.
        let raw = ins.args.trim_start();
        let rest = raw[raw.find(char::is_whitespace).unwrap_or(raw.len())..].trim();
        if rest.is_empty() {
            return Err(ins.err(format!(
                "{} must have two arguments (use {} NAME=VALUE)",
                ins.keyword, ins.keyword
            )));
        }
        let v = vars::expand_word(rest, escape, lookup).map_err(|e| ins.err(e))?;
        return Ok(vec![(first.clone(), v)]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(ins.err(format!(
                "{} names can not be blank (got {w:?}; use NAME=VALUE)",
                ins.keyword
            ))),
        })
        .collect()
}

fn obj<'a>(c: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = c.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    v.as_object_mut().expect("object")
}

pub fn env_list(c: &Map<String, Value>) -> Vec<String> {
    c.get("Env")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default()
}

pub fn set_env(c: &mut Map<String, Value>, k: &str, v: &str) {
    let mut env = env_list(c);
    let prefix = format!("{k}=");
    match env.iter_mut().find(|e| e.starts_with(&prefix) || *e == k) {
        Some(e) => *e = format!("{k}={v}"),
        None => env.push(format!("{k}={v}")),
    }
    c.insert("Env".into(), json!(env));
}

/// The command of CMD/ENTRYPOINT/RUN: the JSON form, or the shell form run by SHELL.
/// A RUN with heredocs: `RUN <<EOF` alone runs the heredoc as the shell's script; otherwise
/// the heredocs stay shell heredocs of the command line (`RUN python3 <<EOF`), as BuildKit.
pub fn command(ins: &Instruction, c: &Map<String, Value>) -> Vec<String> {
    match ins.json() {
        Some(v) => v,
        None => {
            let mut sh = shell(c);
            let a = ins.args.trim();
            let only = ins.heredocs.len() == 1
                && a.trim_start_matches("<<")
                    .trim_start_matches('-')
                    .trim_matches(|c| c == '"' || c == '\'')
                    == ins.heredocs[0].name;
            if only {
                sh.push(ins.heredocs[0].content.clone());
            } else if ins.heredocs.is_empty() {
                sh.push(ins.args.clone());
            } else {
                let mut line = format!("{}\n", ins.args);
                for h in &ins.heredocs {
                    line.push_str(&h.content);
                    line.push_str(&h.name);
                    line.push('\n');
                }
                sh.push(line);
            }
            sh
        }
    }
}

pub fn shell(c: &Map<String, Value>) -> Vec<String> {
    c.get("Shell")
        .and_then(|s| serde_json::from_value::<Vec<String>>(s.clone()).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

/// Applies a metadata instruction; returns its `created_by`. `cmd_set` tracks whether CMD
/// was given in this stage (ENTRYPOINT resets an inherited CMD, as Docker does).
pub fn apply(
    ins: &Instruction,
    c: &mut Map<String, Value>,
    escape: char,
    lookup: Lookup,
    cmd_set: &mut bool,
) -> Result<String, BuildError> {
    let word = |s: &str| vars::expand_word(s.trim(), escape, lookup).map_err(|e| ins.err(e));
    let need = |v: &str| {
        if v.is_empty() {
            Err(ins.err(format!("{} requires exactly one argument", ins.keyword)))
        } else {
            Ok(())
        }
    };
    Ok(match ins.keyword.as_str() {
        "ENV" => {
            let p = pairs(ins, escape, lookup)?;
            for (k, v) in &p {
                set_env(c, k, v);
            }
            format!("ENV {}", joined(&p))
        }
        "LABEL" => {
            let p = pairs(ins, escape, lookup)?;
            let labels = obj(c, "Labels");
            for (k, v) in &p {
                labels.insert(k.clone(), json!(v));
            }
            format!("LABEL {}", joined(&p))
        }
        "MAINTAINER" => {
            let v = word(&ins.args)?;
            need(&v)?;
            c.insert("Author".into(), json!(v));
            format!("MAINTAINER {v}")
        }
        "EXPOSE" => expose(ins, c, escape, lookup)?,
        "VOLUME" => {
            let vols = match ins.json() {
                Some(v) => v,
                None => vars::expand(&ins.args, escape, lookup, true).map_err(|e| ins.err(e))?,
            };
            if vols.is_empty() || vols.iter().any(String::is_empty) {
                return Err(ins.err("VOLUME specified can not be an empty string"));
            }
            let v = obj(c, "Volumes");
            for p in &vols {
                v.insert(p.clone(), json!({}));
            }
            format!("VOLUME [{}]", vols.join(" "))
        }
        "USER" => {
            let v = word(&ins.args)?;
            need(&v)?;
            c.insert("User".into(), json!(v));
            format!("USER {v}")
        }
        "STOPSIGNAL" => {
            let v = word(&ins.args)?;
            need(&v)?;
            if crate::runtime::oci::parse_signal(&v).is_err() {
                return Err(ins.err(format!("invalid signal: {v}")));
            }
            c.insert("StopSignal".into(), json!(v));
            format!("STOPSIGNAL {v}")
        }
        "CMD" => {
            let v = command(ins, c);
            c.insert("Cmd".into(), json!(v));
            *cmd_set = true;
            format!("CMD {}", json!(v))
        }
        "ENTRYPOINT" => {
            let v = command(ins, c);
            c.insert("Entrypoint".into(), json!(v));
            if !*cmd_set {
                c.insert("Cmd".into(), Value::Null);
            }
            format!("ENTRYPOINT {}", json!(v))
        }
        "SHELL" => {
            let Some(v) = ins.json().filter(|v| !v.is_empty()) else {
                return Err(ins.err("SHELL requires the arguments to be in JSON form"));
            };
            c.insert("Shell".into(), json!(v));
            format!("SHELL {}", json!(v))
        }
        "HEALTHCHECK" => healthcheck(ins, c)?,
        "ONBUILD" => {
            let t = ins.args.trim();
            let kw = t
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if kw.is_empty() {
                return Err(ins.err("ONBUILD requires an instruction"));
            }
            if matches!(kw.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(ins.err(format!("{kw} isn't allowed as an ONBUILD trigger")));
            }
            let trig = format!("{kw}{}", &t[kw.len()..]);
            let mut list: Vec<String> = c
                .get("OnBuild")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default();
            list.push(trig.clone());
            c.insert("OnBuild".into(), json!(list));
            format!("ONBUILD {trig}")
        }
        other => return Err(ins.err(format!("{other} is not a metadata instruction"))),
    })
}

fn joined(p: &[(String, String)]) -> String {
    p.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn expose(
    ins: &Instruction,
    c: &mut Map<String, Value>,
    escape: char,
    lookup: Lookup,
) -> Result<String, BuildError> {
    let words = vars::expand(&ins.args, escape, lookup, true).map_err(|e| ins.err(e))?;
    if words.is_empty() {
        return Err(ins.err("EXPOSE requires at least one argument"));
    }
    let ports = obj(c, "ExposedPorts");
    let mut shown = Vec::new();
    for p in words {
        let (num, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
        let proto = proto.to_ascii_lowercase();
        let (a, b) = num.split_once('-').unwrap_or((num, num));
        let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) else {
            return Err(ins.err(format!("invalid containerPort: {num}")));
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") || b < a {
            return Err(ins.err(format!("invalid proto or range: {p}")));
        }
        for n in a..=b {
            ports.insert(format!("{n}/{proto}"), json!({}));
            shown.push(format!("{n}/{proto}:{{}}"));
        }
    }
    Ok(format!("EXPOSE map[{}]", shown.join(" ")))
}

/// `HEALTHCHECK [--interval=D --timeout=D --start-period=D --start-interval=D --retries=N]
/// CMD command` or `HEALTHCHECK NONE`, as Docker's `Config.Healthcheck` (durations in ns).
fn healthcheck(ins: &Instruction, c: &mut Map<String, Value>) -> Result<String, BuildError> {
    let a = ins.args.trim();
    if a.eq_ignore_ascii_case("NONE") {
        if !ins.flags.is_empty() {
            return Err(ins.err("HEALTHCHECK NONE takes no options"));
        }
        c.insert("Healthcheck".into(), json!({"Test": ["NONE"]}));
        return Ok("HEALTHCHECK NONE".into());
    }
    let (kw, rest) = a.split_once(char::is_whitespace).unwrap_or((a, ""));
    if !kw.eq_ignore_ascii_case("CMD") || rest.trim().is_empty() {
        return Err(ins.err("HEALTHCHECK requires NONE or CMD followed by a command"));
    }
    let sub = Instruction {
        args: rest.trim().to_string(),
        ..ins.clone()
    };
    let test: Vec<String> = match sub.json() {
        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        None => vec!["CMD-SHELL".into(), sub.args.clone()],
    };
    let mut hc = json!({"Test": test});
    for (name, v) in &ins.flags {
        let key = match name.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| ins.err(format!("invalid --retries value {v:?}")))?;
                hc["Retries"] = json!(n);
                continue;
            }
            other => return Err(ins.err(format!("unknown flag: --{other}"))),
        };
        let d = crate::units::time::go_duration(v)
            .and_then(|d| d.num_nanoseconds())
            .ok_or_else(|| ins.err(format!("invalid --{name} duration {v:?} (e.g. 30s, 1m)")))?;
        hc[key] = json!(d);
    }
    c.insert("Healthcheck".into(), hc.clone());
    Ok(format!(
        "HEALTHCHECK &{{{}}}",
        serde_json::to_string(&hc["Test"]).unwrap_or_default()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::parse::parse;

    fn run(df: &str) -> Map<String, Value> {
        let df = parse(df).unwrap();
        let mut c = Map::new();
        let mut cmd_set = false;
        for ins in &df.instructions {
            let env = c.clone();
            let look = move |n: &str| {
                env_list(&env)
                    .iter()
                    .find_map(|e| e.strip_prefix(&format!("{n}=")).map(str::to_string))
            };
            apply(ins, &mut c, '\\', &look, &mut cmd_set).unwrap();
        }
        c
    }

    #[test]
    fn env_label_expose_volume() {
        let c = run(
            "ENV A=1 B=\"x y\"\nENV C ${A} and $B\nLABEL k=$A \"s p\"=v\nEXPOSE 80 53/udp\nVOLUME /data [\"/x\"]\nVOLUME [\"/y\"]\n",
        );
        assert_eq!(c["Env"], json!(["A=1", "B=x y", "C=1 and x y"]));
        assert_eq!(c["Labels"], json!({"k": "1", "s p": "v"}));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert!(c["Volumes"].get("/data").is_some() && c["Volumes"].get("/y").is_some());
    }

    #[test]
    fn entrypoint_resets_inherited_cmd_but_not_this_stages() {
        let c = run("CMD [\"a\"]\nENTRYPOINT [\"git\"]\n");
        assert_eq!(c["Cmd"], json!(["a"]));
        let mut c = Map::new();
        c.insert("Cmd".into(), json!(["sh"]));
        let df = parse("ENTRYPOINT git\n").unwrap();
        let mut set = false;
        apply(&df.instructions[0], &mut c, '\\', &|_| None, &mut set).unwrap();
        assert_eq!(c["Cmd"], Value::Null);
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "git"]));
    }

    #[test]
    fn shell_healthcheck_onbuild() {
        let c = run(
            "SHELL [\"/bin/ash\", \"-ec\"]\nCMD echo hi\nHEALTHCHECK --interval=5s --retries=2 CMD true\nONBUILD run echo x\n",
        );
        assert_eq!(c["Cmd"], json!(["/bin/ash", "-ec", "echo hi"]));
        assert_eq!(c["Healthcheck"]["Test"], json!(["CMD-SHELL", "true"]));
        assert_eq!(c["Healthcheck"]["Interval"], json!(5_000_000_000i64));
        assert_eq!(c["Healthcheck"]["Retries"], json!(2));
        assert_eq!(c["OnBuild"], json!(["RUN echo x"]));
    }

    #[test]
    fn errors() {
        let df = parse("FROM x\nEXPOSE 80/xyz\nSTOPSIGNAL SIGNOPE\nSHELL sh\n").unwrap();
        let mut c = Map::new();
        let mut s = false;
        for (i, want) in [
            (1, "Dockerfile:2: invalid proto"),
            (2, "Dockerfile:3: invalid signal"),
            (3, "Dockerfile:4: SHELL requires"),
        ] {
            let e = apply(&df.instructions[i], &mut c, '\\', &|_| None, &mut s).unwrap_err();
            assert!(e.to_string().starts_with(want), "{e}");
        }
    }
}
