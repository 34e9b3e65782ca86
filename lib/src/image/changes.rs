//! `import --change`: the Dockerfile instructions Docker accepts there (CMD, ENTRYPOINT, ENV,
//! EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR), applied to an image config's `config`
//! object in Docker's spelling.

use serde_json::{Map, Value, json};

use super::{ImageError, Result};

/// Applies one instruction (`CMD ["sh"]`, `ENV A=1 B="x y"`) to `config`.
pub fn apply(config: &mut Map<String, Value>, change: &str) -> Result<()> {
    let change = change.trim();
    let (word, rest) = change
        .split_once(char::is_whitespace)
        .map_or((change, ""), |(w, r)| (w, r.trim()));
    let bad = |why: &str| ImageError::BadArgs(format!("invalid --change {change:?}: {why}"));
    match word.to_ascii_uppercase().as_str() {
        "CMD" | "ENTRYPOINT" => {
            let v = exec_form(rest).map_err(|e| bad(&e))?;
            let key = if word.eq_ignore_ascii_case("CMD") {
                "Cmd"
            } else {
                "Entrypoint"
            };
            config.insert(key.into(), json!(v));
        }
        "ENV" => {
            let mut env: Vec<String> = config
                .get("Env")
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_default();
            for (k, v) in pairs(rest).map_err(|e| bad(&e))? {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
            config.insert("Env".into(), json!(env));
        }
        "LABEL" => {
            let labels = config.entry("Labels").or_insert_with(|| json!({}));
            if labels.is_null() {
                *labels = json!({});
            }
            for (k, v) in pairs(rest).map_err(|e| bad(&e))? {
                labels[k] = json!(v);
            }
        }
        "EXPOSE" => {
            let ports = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let valid_num = num
                    .split_once('-')
                    .map_or(num.parse::<u16>().is_ok(), |(a, b)| {
                        a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok()
                    });
                if !valid_num || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad(&format!(
                        "{p:?} is not a port (e.g. 80, 80/tcp, 53/udp)"
                    )));
                }
                ports[format!("{num}/{proto}")] = json!({});
            }
        }
        "VOLUME" => {
            let vols = if rest.starts_with('[') {
                serde_json::from_str::<Vec<String>>(rest)
                    .map_err(|e| bad(&format!("not a JSON array of strings: {e}")))?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            let v = config.entry("Volumes").or_insert_with(|| json!({}));
            for p in vols {
                v[p] = json!({});
            }
        }
        "USER" | "WORKDIR" | "STOPSIGNAL" => {
            if rest.is_empty() {
                return Err(bad("it needs a value"));
            }
            let key = match word.to_ascii_uppercase().as_str() {
                "USER" => "User",
                "WORKDIR" => "WorkingDir",
                _ => "StopSignal",
            };
            config.insert(key.into(), json!(rest));
        }
        "ONBUILD" | "HEALTHCHECK" => {
            return Err(ImageError::Unsupported(
                format!("--change {word}"),
                "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME and WORKDIR",
            ));
        }
        _ => {
            return Err(bad(
                "unknown instruction (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR)",
            ));
        }
    }
    Ok(())
}

/// `["a","b"]` (exec form) or `a b` (shell form, run by `/bin/sh -c`).
fn exec_form(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') {
        serde_json::from_str(rest).map_err(|e| format!("not a JSON array of strings: {e}"))
    } else if rest.is_empty() {
        Err("it needs a command".into())
    } else {
        Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
    }
}

/// `K=V K2="v w"`, or the old one-pair form `K V W`.
fn pairs(rest: &str) -> Result<Vec<(String, String)>, String> {
    let words = shell_words::split(rest).map_err(|e| e.to_string())?;
    if words.is_empty() {
        return Err("it needs KEY=VALUE".into());
    }
    if !words[0].contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or("it needs KEY=VALUE or KEY VALUE")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?} is not KEY=VALUE")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_changes_apply_like_docker() {
        let mut c = Map::new();
        apply(&mut c, r#"CMD ["echo", "hi"]"#).unwrap();
        apply(&mut c, "ENTRYPOINT top -b").unwrap();
        apply(&mut c, r#"ENV A=1 B="two words""#).unwrap();
        apply(&mut c, "ENV A=3").unwrap();
        apply(&mut c, "ENV OLD style value").unwrap();
        apply(&mut c, "EXPOSE 80 53/udp").unwrap();
        apply(&mut c, "LABEL team=infra").unwrap();
        apply(&mut c, "WORKDIR /srv").unwrap();
        apply(&mut c, "VOLUME /data").unwrap();
        let v = Value::Object(c);
        assert_eq!(v["Cmd"], json!(["echo", "hi"]));
        assert_eq!(v["Entrypoint"], json!(["/bin/sh", "-c", "top -b"]));
        assert_eq!(v["Env"], json!(["B=two words", "A=3", "OLD=style value"]));
        assert_eq!(v["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(v["Labels"]["team"], "infra");
        assert_eq!(v["WorkingDir"], "/srv");
        assert_eq!(v["Volumes"], json!({"/data": {}}));
        let mut c = Map::new();
        assert!(apply(&mut c, "FROM scratch").is_err());
        assert!(apply(&mut c, "EXPOSE http").is_err());
        assert!(apply(&mut c, "CMD [oops").is_err());
    }
}
