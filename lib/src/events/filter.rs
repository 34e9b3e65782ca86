//! `berth events --filter` and `--since`/`--until`, as moby's `daemon/events/filter.go` reads
//! them: filters of one key are alternatives, different keys must all match; `container`,
//! `network`, `volume` (and the daemon-side keys) match the actor's id or `name` attribute, or
//! a prefix of either; `image` the id, the image name, or either without its tag; `label`
//! every `KEY[=VALUE]` given against the attributes; `event` the action (a prefix for
//! `exec_create`, `exec_start` and `health_status`, whose actions carry a suffix); `type` and
//! `scope` exactly.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::Message;
use crate::units::BadValue;

/// The keys `docker events --filter` takes. berth has no daemon, plugins or swarm: their keys
/// are accepted and match what they would match in Docker, which berth never emits.
const KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// The parsed `--filter` values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    fields: BTreeMap<String, Vec<String>>,
}

impl Filter {
    /// Parses `KEY=VALUE` values, refusing keys Docker does not know.
    pub fn parse(args: &[String]) -> Result<Filter, BadValue> {
        let mut f = Filter::default();
        for a in args {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                BadValue(format!("bad format of filter (expected name=value): {a}"))
            })?;
            let k = k.trim().to_lowercase();
            if !KEYS.contains(&k.as_str()) {
                return Err(BadValue(format!("invalid filter '{k}'")));
            }
            f.fields.entry(k).or_default().push(v.trim().to_string());
        }
        Ok(f)
    }

    fn values(&self, key: &str) -> Option<&[String]> {
        self.fields.get(key).map(Vec::as_slice)
    }

    /// Go's `filters.Args.ExactMatch`: true when the key is absent.
    fn exact(&self, key: &str, source: &str) -> bool {
        self.values(key)
            .is_none_or(|vs| vs.iter().any(|v| v == source))
    }

    /// `filters.Args.FuzzyMatch`: exact, or a prefix.
    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.values(key)
            .is_none_or(|vs| vs.iter().any(|v| source.starts_with(v.as_str())))
    }

    fn by_name(&self, key: &str, m: &Message) -> bool {
        let name = m.actor.attributes.get("name").map_or("", String::as_str);
        self.fuzzy(key, &m.actor.id) || (self.values(key).is_some() && self.fuzzy(key, name))
    }

    fn event(&self, m: &Message) -> bool {
        let Some(vs) = self.values("event") else {
            return true;
        };
        let fuzzy = vs
            .iter()
            .any(|v| matches!(v.as_str(), "health_status" | "exec_create" | "exec_start"));
        if fuzzy {
            self.fuzzy("event", &m.action)
        } else {
            self.exact("event", &m.action)
        }
    }

    fn image(&self, m: &Message) -> bool {
        if self.values("image").is_none() {
            return true;
        }
        let attr = if m.kind == "image" { "name" } else { "image" };
        let name = m.actor.attributes.get(attr).map_or("", String::as_str);
        [
            &m.actor.id[..],
            name,
            strip_tag(&m.actor.id),
            strip_tag(name),
        ]
        .iter()
        .any(|s| !s.is_empty() && self.exact("image", s))
    }

    /// `filters.Args.MatchKVList`: every `KEY[=VALUE]` among the attributes.
    fn labels(&self, attrs: &BTreeMap<String, String>) -> bool {
        self.values("label").is_none_or(|vs| {
            vs.iter().all(|v| match v.split_once('=') {
                Some((k, want)) => attrs.get(k).is_some_and(|got| got == want),
                None => attrs.contains_key(v.as_str()),
            })
        })
    }

    /// Whether `m` passes every filter.
    pub fn matches(&self, m: &Message) -> bool {
        self.event(m)
            && self.exact("type", &m.kind)
            && self.exact("scope", &m.scope)
            && [
                "container",
                "daemon",
                "plugin",
                "volume",
                "network",
                "node",
                "service",
                "secret",
                "config",
            ]
            .iter()
            .all(|k| self.by_name(k, m))
            && self.image(m)
            && self.labels(&m.actor.attributes)
    }
}

/// `busybox:1.36` -> `busybox`; a digest or a registry port stays.
fn strip_tag(s: &str) -> &str {
    match s.rfind(':') {
        Some(i) if !s[i..].contains('/') && !s.contains('@') && !s.starts_with("sha256:") => {
            &s[..i]
        }
        _ => s,
    }
}

/// `--since` / `--until`, in nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Window {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl Window {
    /// Reads Docker's time values (RFC 3339, Unix timestamps, Go durations back from now).
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Window, BadValue> {
        let nanos = |v: &str| {
            crate::units::time::parse_time(v, now)
                .map(|t| t.timestamp_nanos_opt().unwrap_or(i64::MAX))
        };
        let w = Window {
            since: since.map(nanos).transpose()?,
            until: until.map(nanos).transpose()?,
        };
        if let (Some(s), Some(u), Some(sv), Some(uv)) = (w.since, w.until, since, until)
            && s > u
        {
            return Err(BadValue(format!(
                "`since` time ({sv}) cannot be after `until` time ({uv})"
            )));
        }
        Ok(w)
    }

    /// Whether an event of `nanos` is inside the window.
    pub fn contains(&self, nanos: i64) -> bool {
        self.since.is_none_or(|s| nanos >= s) && self.until.is_none_or(|u| nanos <= u)
    }
}

#[cfg(test)]
mod tests {
    use super::super::Kind;
    use super::*;

    fn ev(kind: Kind, action: &str, id: &str, attrs: &[(&str, &str)]) -> Message {
        let a = attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Message::new(kind, action, id, a)
    }

    fn f(args: &[&str]) -> Filter {
        Filter::parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn keys_are_docker_s() {
        assert!(Filter::parse(&["colour=red".into()]).is_err());
        assert_eq!(
            Filter::parse(&["nofilter".into()]).unwrap_err().0,
            "bad format of filter (expected name=value): nofilter"
        );
        assert_eq!(
            Filter::parse(&["colour=red".into()]).unwrap_err().0,
            "invalid filter 'colour'"
        );
    }

    #[test]
    fn filters_match_like_moby() {
        let web = ev(
            Kind::Container,
            "start",
            "abcdef",
            &[
                ("name", "web"),
                ("image", "busybox:1.36"),
                ("tier", "front"),
            ],
        );
        let net = ev(
            Kind::Network,
            "create",
            "n123",
            &[("name", "front"), ("type", "bridge")],
        );
        let img = ev(Kind::Image, "tag", "sha256:1", &[("name", "busybox:mine")]);
        assert!(f(&["container=web"]).matches(&web));
        assert!(f(&["container=abc"]).matches(&web));
        assert!(!f(&["container=db"]).matches(&web));
        assert!(!f(&["container=web"]).matches(&net));
        assert!(f(&["container=db", "container=web"]).matches(&web));
        assert!(f(&["type=network"]).matches(&net));
        assert!(!f(&["type=network"]).matches(&web));
        assert!(f(&["event=start"]).matches(&web));
        assert!(!f(&["event=sta"]).matches(&web));
        assert!(f(&["image=busybox"]).matches(&web));
        assert!(f(&["image=busybox:1.36"]).matches(&web));
        assert!(f(&["image=busybox"]).matches(&img));
        assert!(!f(&["image=alpine"]).matches(&web));
        assert!(f(&["label=tier"]).matches(&web));
        assert!(f(&["label=tier=front"]).matches(&web));
        assert!(!f(&["label=tier=back"]).matches(&web));
        assert!(f(&["network=front"]).matches(&net));
        assert!(f(&["type=container", "event=start", "container=web"]).matches(&web));
        assert!(!f(&["type=container", "event=stop"]).matches(&web));
        let exec = ev(
            Kind::Container,
            "exec_start: sh -c true",
            "abcdef",
            &[("name", "web")],
        );
        assert!(f(&["event=exec_start"]).matches(&exec));
        assert!(f(&["scope=local"]).matches(&exec));
        assert!(!f(&["scope=swarm"]).matches(&exec));
        assert!(!f(&["daemon=x"]).matches(&exec));
    }

    #[test]
    fn windows_take_docker_s_times() {
        let now: DateTime<Utc> = "2026-12-03T10:00:00Z".parse().unwrap();
        let w = Window::parse(Some("10m"), Some("2026-12-03T10:00:00Z"), now).unwrap();
        assert_eq!(
            w.since,
            Some(now.timestamp_nanos_opt().unwrap() - 600_000_000_000)
        );
        assert_eq!(w.until, now.timestamp_nanos_opt());
        let w = Window::parse(Some("1764756000.5"), None, now).unwrap();
        assert_eq!(w.since, Some(1_764_756_000_500_000_000));
        assert!(w.contains(1_764_756_000_500_000_000));
        assert!(!w.contains(1_764_756_000_499_999_999));
        assert!(Window::parse(Some("5m"), Some("10m"), now).is_err());
        assert!(Window::parse(Some("yesterday"), None, now).is_err());
    }
}
