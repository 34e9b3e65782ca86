//! Sizes as Docker's flags take them (go-units `RAMInBytes`): `512k`, `64m`, `1.5g`, `1GiB`,
//! `100` (bytes); binary multiples, an optional `i` and `b`, case-insensitive.

/// Parses a size (see the module doc); `None` when it is not one.
pub fn parse(s: &str) -> Option<u64> {
    let t = s.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    if num.is_empty() || num.starts_with('.') {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let unit = unit.trim_start().to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    let bytes = n * mult as f64;
    (bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// A limit flag's value: a size, or `-1` for unlimited (go-units `MemSwapBytes`).
pub fn parse_limit(s: &str) -> Option<i64> {
    if s.trim() == "-1" {
        return Some(-1);
    }
    parse(s).and_then(|b| i64::try_from(b).ok())
}

/// [`parse_limit`] with the error a flag gives.
pub fn limit(s: &str) -> Result<i64, super::BadValue> {
    parse_limit(s).ok_or_else(|| {
        super::BadValue(format!(
            "invalid size {s:?} (use bytes or a k, m, g or t suffix, e.g. 32m or 1g; -1 for no limit)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        assert_eq!(parse("64m"), Some(64 << 20));
        assert_eq!(parse("64M"), Some(64 << 20));
        assert_eq!(parse("1GiB"), Some(1 << 30));
        assert_eq!(parse("512kb"), Some(512 << 10));
        assert_eq!(parse("1.5g"), Some(3 << 29));
        assert_eq!(parse("100"), Some(100));
        assert_eq!(parse("100b"), Some(100));
        assert_eq!(parse("10 m"), Some(10 << 20));
        for bad in ["1x", "", "m", "-5m", ".5m", "1e30t"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse_limit("-1"), Some(-1));
        assert_eq!(parse_limit("32m"), Some(32 << 20));
        assert_eq!(parse_limit("-2"), None);
        assert!(limit("lots").unwrap_err().0.contains("\"lots\""));
    }
}
