//! Legacy `--link NAME[:ALIAS]`: the alias in /etc/hosts and Docker's link environment
//! variables (moby `daemon/links/links.go`), e.g. for `--link db:db` to a MySQL container:
//!
//! ```text
//! DB_PORT=tcp://172.17.0.2:3306
//! DB_PORT_3306_TCP=tcp://172.17.0.2:3306
//! DB_PORT_3306_TCP_ADDR=172.17.0.2  DB_PORT_3306_TCP_PORT=3306  DB_PORT_3306_TCP_PROTO=tcp
//! DB_NAME=/web/db
//! DB_ENV_MYSQL_ROOT_PASSWORD=...
//! ```

use std::net::Ipv4Addr;

use super::error::{NetError, Result};

/// Parses `NAME[:ALIAS]` (a leading '/' on the name is Docker's and is dropped).
pub fn parse(s: &str) -> Result<(String, String)> {
    let s = s.strip_prefix('/').unwrap_or(s);
    let (name, alias) = match s.split_once(':') {
        Some((n, a)) => (n, a.strip_prefix('/').unwrap_or(a)),
        None => (s, s),
    };
    let valid = |x: &str| {
        !x.is_empty()
            && x.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && x.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    if !valid(name) || !valid(alias) {
        return Err(NetError::BadArgs(format!(
            "invalid --link {s:?}: expected NAME[:ALIAS]"
        )));
    }
    Ok((name.to_string(), alias.to_string()))
}

/// Sorts `(port, proto)` as Docker does for links: TCP first, then by number.
fn sorted(ports: &[(u16, String)]) -> Vec<(u16, String)> {
    let mut v = ports.to_vec();
    v.sort_by_key(|(p, proto)| (proto != "tcp", proto.clone(), *p));
    v.dedup();
    v
}

/// The environment a link to a container at `ip`, exposing `ports`, with environment
/// `target_env`, gives the linking container called `parent`.
pub fn env(
    parent: &str,
    alias: &str,
    ip: Ipv4Addr,
    ports: &[(u16, String)],
    target_env: &[String],
) -> Vec<String> {
    let a = alias.to_uppercase().replace(['-', '.'], "_");
    let ports = sorted(ports);
    let mut env = Vec::new();
    if let Some((p, proto)) = ports.first() {
        env.push(format!("{a}_PORT={proto}://{ip}:{p}"));
    }
    // Runs of consecutive ports of one protocol also get _START/_END variables.
    let mut i = 0;
    while i < ports.len() {
        let mut j = i;
        while j + 1 < ports.len()
            && ports[j + 1].1 == ports[i].1
            && ports[j + 1].0 == ports[j].0 + 1
        {
            j += 1;
        }
        if j > i {
            let (start, proto) = &ports[i];
            let end = ports[j].0;
            let up = proto.to_uppercase();
            env.push(format!(
                "{a}_PORT_{start}_{up}_START={proto}://{ip}:{start}"
            ));
            env.push(format!("{a}_PORT_{start}_{up}_ADDR={ip}"));
            env.push(format!("{a}_PORT_{start}_{up}_PROTO={proto}"));
            env.push(format!("{a}_PORT_{start}_{up}_PORT_START={start}"));
            env.push(format!("{a}_PORT_{start}_{up}_PORT_END={end}"));
        }
        i = j + 1;
    }
    for (p, proto) in &ports {
        let up = proto.to_uppercase();
        env.push(format!("{a}_PORT_{p}_{up}={proto}://{ip}:{p}"));
        env.push(format!("{a}_PORT_{p}_{up}_ADDR={ip}"));
        env.push(format!("{a}_PORT_{p}_{up}_PORT={p}"));
        env.push(format!("{a}_PORT_{p}_{up}_PROTO={proto}"));
    }
    env.push(format!("{a}_NAME=/{parent}/{alias}"));
    for kv in target_env {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        // Docker skips these two: they describe the target's image, not the service.
        if k == "HOME" || k == "PATH" {
            continue;
        }
        env.push(format!("{a}_ENV_{k}={v}"));
    }
    env
}

/// Adds `vars` to `env` unless the name is already set (the user's `-e` wins, as in Docker).
pub fn merge_env(env: &mut Vec<String>, vars: &[String]) {
    for v in vars {
        let name = v.split('=').next().unwrap_or("");
        if !env.iter().any(|e| e.split('=').next() == Some(name)) {
            env.push(v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_link_variables() {
        let ip = Ipv4Addr::new(172, 17, 0, 2);
        let ports = vec![
            (3306, "tcp".to_string()),
            (53, "udp".into()),
            (8000, "tcp".into()),
            (8001, "tcp".into()),
        ];
        let env = env(
            "web",
            "my-db",
            ip,
            &ports,
            &["PATH=/bin".into(), "MYSQL_USER=u".into()],
        );
        let has = |s: &str| env.iter().any(|e| e == s);
        assert!(has("MY_DB_PORT=tcp://172.17.0.2:3306"), "{env:#?}");
        assert!(has("MY_DB_PORT_3306_TCP=tcp://172.17.0.2:3306"));
        assert!(has("MY_DB_PORT_3306_TCP_ADDR=172.17.0.2"));
        assert!(has("MY_DB_PORT_3306_TCP_PORT=3306"));
        assert!(has("MY_DB_PORT_3306_TCP_PROTO=tcp"));
        assert!(has("MY_DB_PORT_53_UDP=udp://172.17.0.2:53"));
        assert!(has("MY_DB_PORT_8000_TCP_START=tcp://172.17.0.2:8000"));
        assert!(has("MY_DB_PORT_8000_TCP_PORT_END=8001"));
        assert!(has("MY_DB_NAME=/web/my-db"));
        assert!(has("MY_DB_ENV_MYSQL_USER=u"));
        assert!(!env.iter().any(|e| e.starts_with("MY_DB_ENV_PATH")));
        let mut mine = vec!["MY_DB_NAME=mine".to_string()];
        merge_env(&mut mine, &env);
        assert!(mine.contains(&"MY_DB_NAME=mine".to_string()));
        assert!(!mine.contains(&"MY_DB_NAME=/web/my-db".to_string()));
    }

    #[test]
    fn link_syntax() {
        assert_eq!(parse("db").unwrap(), ("db".into(), "db".into()));
        assert_eq!(parse("/db:/alias").unwrap(), ("db".into(), "alias".into()));
        assert!(parse("db:").is_err());
        assert!(parse(":x").is_err());
    }
}
