//! `--since` / `--until` values and `until=` filters as Docker reads them (moby
//! `api/types/time.GetTimestamp`), for logs, events, ps and every prune:
//! a Go duration relative to now (`10m`, `1h30m`, `2.5s`), an RFC 3339 timestamp with or
//! without zone and fraction, a date, partial `T` forms in local time, or a Unix timestamp
//! (`1700000000`, `1700000000.5`).

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

use super::BadValue;

type Result<T> = std::result::Result<T, BadValue>;

/// Parses `value` (see the module doc) relative to `now`.
pub fn parse_time(value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let v = value.trim();
    if v != "0"
        && let Some(d) = go_duration(v)
    {
        return Ok(now - d);
    }
    let bad = || {
        BadValue(format!(
            "cannot parse {value:?} as a time or duration (use e.g. 10m, 2h30m, 2024-01-02, 2024-01-02T15:04:05Z or a Unix timestamp)"
        ))
    };
    if v.contains('-') && !v.starts_with('-') {
        if let Ok(t) = DateTime::parse_from_rfc3339(v) {
            return Ok(t.with_timezone(&Utc));
        }
        // Zone given but no seconds: 2006-01-02T15:04Z07:00 and the like.
        for f in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H:%M%:z"] {
            if let Ok(t) = DateTime::parse_from_str(&v.replace('Z', "+00:00"), f) {
                return Ok(t.with_timezone(&Utc));
            }
        }
        let local = |n: NaiveDateTime| {
            Local
                .from_local_datetime(&n)
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        for f in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%dT%H:%M",
        ] {
            if let Ok(n) = NaiveDateTime::parse_from_str(v, f) {
                return local(n).ok_or_else(bad);
            }
        }
        if let Some((d, h)) = v.split_once('T')
            && let (Ok(d), Ok(h)) = (NaiveDate::parse_from_str(d, "%Y-%m-%d"), h.parse::<u32>())
        {
            return d.and_hms_opt(h, 0, 0).and_then(local).ok_or_else(bad);
        }
        if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
            return d.and_hms_opt(0, 0, 0).and_then(local).ok_or_else(bad);
        }
        return Err(bad());
    }
    // A Unix timestamp: seconds with an optional fraction.
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else if frac.len() <= 9 && frac.bytes().all(|b| b.is_ascii_digit()) {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    DateTime::from_timestamp(secs, nanos).ok_or_else(bad)
}

/// Go's `time.ParseDuration` (`300ms`, `-1.5h`, `2h45m`). Hand-written because the crates
/// that parse durations each take a different syntax, and Docker users type Go's.
pub fn go_duration(s: &str) -> Option<chrono::Duration> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num = &rest[..num_len];
        if num.is_empty() || num == "." {
            return None;
        }
        let n: f64 = num.parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * nanos_per;
        rest = &rest[unit_len..];
    }
    let d = chrono::Duration::nanoseconds(total as i64);
    Some(if neg { -d } else { d })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_go_s() {
        let d = |s| go_duration(s).map(|d| d.num_milliseconds());
        assert_eq!(d("10m"), Some(600_000));
        assert_eq!(d("1h30m"), Some(5_400_000));
        assert_eq!(d("1.5s"), Some(1500));
        assert_eq!(d("300ms"), Some(300));
        assert_eq!(d("-2s"), Some(-2000));
        assert_eq!(d("10"), None);
        assert_eq!(d("m"), None);
        assert_eq!(d("5x"), None);
    }

    #[test]
    fn times_parse_like_docker() {
        let now: DateTime<Utc> = "2024-05-01T12:00:00Z".parse().unwrap();
        let p = |s| parse_time(s, now).unwrap();
        assert_eq!(
            p("10m"),
            "2024-05-01T11:50:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(p("2024-01-02T03:04:05Z").timestamp(), 1704164645);
        assert_eq!(
            p("2024-01-02T03:04:05.5+01:00").timestamp_millis(),
            1704161045500
        );
        assert_eq!(p("1704164645").timestamp(), 1704164645);
        assert_eq!(
            p("24h"),
            "2024-04-30T12:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(
            p("1h30m"),
            "2024-05-01T10:30:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(p("1704164645.25").timestamp_millis(), 1704164645250);
        assert_eq!(p("0").timestamp(), 0);
        // Local forms resolve in the local zone.
        let local = Local
            .with_ymd_and_hms(2024, 1, 2, 0, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(p("2024-01-02"), local);
        assert_eq!(p("2024-01-02T00:00:00"), local);
        assert_eq!(p("2024-01-02T00"), local);
        for bad in ["yesterday", "2024-13-45", "12:00", "1.2.3"] {
            let e = parse_time(bad, now).unwrap_err();
            assert_eq!(
                crate::error::Coded::code(&e),
                crate::Code::BAD_ARGS,
                "{bad}"
            );
        }
    }
}
