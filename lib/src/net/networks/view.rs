//! `network ls`: Docker's rows (docker/cli's `networkContext`: `.ID`, `.Name`, `.Driver`,
//! `.Scope`, `.IPv6`, `.Internal`, `.CreatedAt`, `.Labels`, `.Label "k"`), its default table,
//! its order (names in natural order, as docker/cli sorts them) and its `--filter` keys,
//! matched as moby's network filters are: `driver`, `scope` exactly, `id` and `name` as a
//! regular expression found in the value, `label` as `KEY` or `KEY=VALUE`,
//! `type=custom|builtin`, `dangling=true|false` (custom networks without containers).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{Network, predefined};
use crate::format::Columns;
use crate::net::error::{NetError, Result};
use crate::paths::Paths;

/// The row fields and their headers, and Docker's default table.
pub const COLUMNS: Columns = Columns {
    headers: &[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("CreatedAt", "CREATED AT"),
        ("Labels", "LABELS"),
    ],
    default_table: "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}",
};

const FILTER_KEYS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];

/// Go's `time.Time.String()`: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn go_time_string(t: DateTime<Utc>) -> String {
    let frac = t.format("%f").to_string();
    let frac = frac.trim_end_matches('0');
    let dot = if frac.is_empty() { "" } else { "." };
    format!("{}{dot}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

/// One `network ls` row.
pub fn row(n: &Network, no_trunc: bool) -> Value {
    let id = if no_trunc {
        n.id.clone()
    } else {
        n.id.chars().take(12).collect()
    };
    let labels: Vec<String> = n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    json!({
        "ID": id,
        "Name": n.name,
        "Driver": n.driver,
        "Scope": "local",
        "IPv6": n.ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "CreatedAt": go_time_string(n.created),
        "Labels": labels.join(","),
    })
}

/// Natural order (`net2` before `net10`), as docker/cli sorts networks by name.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (na, nb) = (
                a[..da].trim_start_matches('0'),
                b[..db].trim_start_matches('0'),
            );
            let o = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if o.is_ne() {
                return o;
            }
            (a, b) = (&a[da..], &b[db..]);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

/// `network ls --filter` values, by key.
#[derive(Debug, Default)]
pub struct Filters {
    pairs: BTreeMap<String, Vec<String>>,
    patterns: Vec<(String, regex::Regex)>,
}

impl Filters {
    /// Parses `KEY=VALUE` flags, with Docker's errors for an unknown key or a bad value.
    pub fn parse(args: &[String]) -> Result<Filters> {
        let mut f = Filters::default();
        for a in args {
            let Some((k, v)) = a.split_once('=') else {
                return Err(NetError::BadArgs(
                    "bad format of filter (expected name=value)".into(),
                ));
            };
            let k = k.trim().to_lowercase();
            if !FILTER_KEYS.contains(&k.as_str()) {
                return Err(NetError::BadArgs(format!("invalid filter '{k}'")));
            }
            match k.as_str() {
                "type" if !matches!(v, "custom" | "builtin") => {
                    return Err(NetError::BadArgs(format!("invalid filter: 'type'='{v}'")));
                }
                "dangling" if !matches!(v, "true" | "false" | "1" | "0") => {
                    return Err(NetError::BadArgs(format!("invalid filter 'dangling={v}'")));
                }
                "id" | "name" => {
                    let re = regex::Regex::new(v)
                        .map_err(|e| NetError::BadArgs(format!("invalid filter '{k}={v}': {e}")))?;
                    f.patterns.push((k.clone(), re));
                }
                _ => {}
            }
            f.pairs.entry(k).or_default().push(v.to_string());
        }
        Ok(f)
    }

    fn any(&self, key: &str, ok: impl Fn(&str) -> bool) -> bool {
        match self.pairs.get(key) {
            None => true,
            Some(vs) => vs.iter().any(|v| ok(v)),
        }
    }

    fn pattern(&self, key: &str, value: &str) -> bool {
        let mut of_key = self.patterns.iter().filter(|(k, _)| k == key).peekable();
        of_key.peek().is_none() || of_key.any(|(_, re)| re.is_match(value))
    }

    /// Whether `n` passes every filter; `in_use` says whether containers are on it.
    pub fn matches(&self, n: &Network, in_use: impl Fn() -> bool) -> bool {
        let builtin = predefined(&n.name).is_some();
        self.any("driver", |v| v == n.driver)
            && self.any("scope", |v| v == "local")
            && self.pattern("id", &n.id)
            && self.pattern("name", &n.name)
            && self.any("type", |v| (v == "builtin") == builtin)
            && self.any("label", |v| match v.split_once('=') {
                Some((k, val)) => n.labels.get(k).is_some_and(|x| x == val),
                None => n.labels.contains_key(v),
            })
            && self.any("dangling", |v| {
                let dangling = !builtin && !in_use();
                dangling == matches!(v, "true" | "1")
            })
    }
}

/// The networks `network ls` shows, filtered, in `networks::list`'s order (the table sorts
/// them as docker/cli does, [`natural_cmp`]).
pub fn list(paths: &Paths, filters: &Filters) -> Result<Vec<Network>> {
    let out: Vec<Network> = super::list(paths)?
        .into_iter()
        .filter(|n| {
            filters.matches(n, || {
                super::endpoints(paths, n).is_ok_and(|e| !e.is_empty())
            })
        })
        .collect();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str, driver: &str, labels: &[(&str, &str)]) -> Network {
        Network {
            name: name.into(),
            id: format!("{:0<64}", name.len()),
            driver: driver.into(),
            created: DateTime::parse_from_rfc3339("2024-05-01T10:00:00.120Z")
                .unwrap()
                .with_timezone(&Utc),
            bridge: String::new(),
            subnet: None,
            gateway: None,
            ipv6: false,
            subnet6: None,
            gateway6: None,
            ip_range: None,
            mtu: 0,
            icc: true,
            masquerade: true,
            internal: false,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            options: BTreeMap::new(),
            from_config: None,
        }
    }

    fn f(args: &[&str]) -> Filters {
        Filters::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn rows_have_dockers_fields() {
        let r = row(&net("web", "bridge", &[("b", "2"), ("a", "1")]), false);
        assert_eq!(r["ID"].as_str().unwrap().len(), 12);
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["CreatedAt"], "2024-05-01 10:00:00.12 +0000 UTC");
        assert_eq!(
            (&r["IPv6"], &r["Internal"]),
            (&json!("false"), &json!("false"))
        );
        assert_eq!(
            row(&net("web", "bridge", &[]), true)["ID"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
    }

    #[test]
    fn filters_match_as_mobys() {
        let web = net("web-front", "bridge", &[("tier", "front")]);
        let host = net("host", "host", &[]);
        assert!(f(&["name=front"]).matches(&web, || false));
        assert!(f(&["name=^web"]).matches(&web, || false));
        assert!(!f(&["name=^front"]).matches(&web, || false));
        assert!(f(&["driver=bridge"]).matches(&web, || false));
        assert!(!f(&["driver=bridg"]).matches(&web, || false));
        assert!(f(&["label=tier"]).matches(&web, || false));
        assert!(f(&["label=tier=front"]).matches(&web, || false));
        assert!(!f(&["label=tier=back"]).matches(&web, || false));
        assert!(f(&["type=custom"]).matches(&web, || false));
        assert!(!f(&["type=custom"]).matches(&host, || false));
        assert!(f(&["type=builtin"]).matches(&host, || false));
        assert!(f(&["dangling=true"]).matches(&web, || false));
        assert!(!f(&["dangling=true"]).matches(&web, || true));
        assert!(!f(&["dangling=true"]).matches(&host, || false));
        assert!(f(&["dangling=false"]).matches(&host, || false));
        // Two values of one key: either; two keys: both.
        assert!(f(&["driver=host", "driver=bridge"]).matches(&web, || false));
        assert!(!f(&["driver=bridge", "name=x"]).matches(&web, || false));
        for (bad, msg) in [
            ("nope=1", "invalid filter 'nope'"),
            ("type=x", "invalid filter: 'type'='x'"),
            ("dangling=maybe", "invalid filter 'dangling=maybe'"),
        ] {
            let e = Filters::parse(&[bad.to_string()]).unwrap_err();
            assert_eq!(e.to_string(), msg);
        }
    }

    #[test]
    fn names_sort_naturally() {
        let mut v = vec!["net10", "bridge", "net2", "host", "none", "net2a"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["bridge", "host", "net2", "net2a", "net10", "none"]);
    }
}
