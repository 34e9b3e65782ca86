//! Sizes and ages as Docker prints them (moby's go-units `HumanSizeWithPrecision`,
//! `BytesSize` and `HumanDuration`), so that `berth images` reads like `docker images`.
//! Hand-written because the wording is Docker's, not any crate's.

use chrono::{DateTime, Utc};

const DECIMAL_UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];

/// `4.26MB`, `999B`, `1.2GB`: decimal units, three significant digits (go-units `HumanSize`).
pub fn size(bytes: u64) -> String {
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < DECIMAL_UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{}{}", format_g(v, 3), DECIMAL_UNITS[unit])
}

const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// `1.5MiB`, `7.668GiB`: binary units, four significant digits (go-units `BytesSize`, the
/// units `docker stats` prints memory in).
pub fn bytes_size(bytes: u64) -> String {
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < BINARY_UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{}{}", format_g(v, 4), BINARY_UNITS[unit])
}

/// Go's `%.{p}g`: `p` significant digits, trailing zeros dropped, exponent form for very large
/// or small values.
pub fn format_g(v: f64, p: usize) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let e = format!("{:.*e}", p.saturating_sub(1), v);
    let (mant, exp) = e.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is a number");
    if exp < -4 || exp >= p as i32 {
        let mant = trim_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        trim_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// `2 weeks`, `About an hour`, `Less than a second` (go-units `HumanDuration`).
pub fn duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    let hours_f = d.num_milliseconds() as f64 / 3_600_000.0;
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (hours_f + 0.5) as i64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", d.num_hours() / 24 / 365)
}

/// `2 weeks ago`, or `N/A` when the time is unknown.
pub fn ago(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => format!("{} ago", duration(Utc::now() - t)),
        None => "N/A".into(),
    }
}

/// Go's `time.Time.String()` in UTC, as Docker's `CreatedAt`: `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S +0000 UTC").to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn sizes_read_like_docker() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1000), "1kB");
        assert_eq!(size(4_261_000), "4.26MB");
        assert_eq!(size(1_240_000_000), "1.24GB");
        assert_eq!(size(72_800_000), "72.8MB");
        assert_eq!(size(123_456_789), "123MB");
        assert_eq!(size(2_000_000), "2MB");
        assert_eq!(format_g(999.6, 3), "1e+03");
    }

    #[test]
    fn binary_sizes_read_like_docker_stats() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1023), "1023B");
        assert_eq!(bytes_size(1536 * 1024), "1.5MiB");
        assert_eq!(bytes_size(8_233_000_000), "7.668GiB");
    }

    #[test]
    fn ages_read_like_docker() {
        assert_eq!(duration(Duration::milliseconds(300)), "Less than a second");
        assert_eq!(duration(Duration::seconds(45)), "45 seconds");
        assert_eq!(duration(Duration::seconds(70)), "About a minute");
        assert_eq!(duration(Duration::minutes(59)), "59 minutes");
        assert_eq!(duration(Duration::minutes(70)), "About an hour");
        assert_eq!(duration(Duration::hours(30)), "30 hours");
        assert_eq!(duration(Duration::days(3)), "3 days");
        assert_eq!(duration(Duration::days(20)), "2 weeks");
        assert_eq!(duration(Duration::days(100)), "3 months");
        assert_eq!(duration(Duration::days(800)), "2 years");
    }
}
