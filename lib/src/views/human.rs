//! Docker's human-readable sizes and ages. berth-image's `image::human` has Docker's
//! `HumanSize`, `HumanDuration` and time strings; this adds go-units' `BytesSize`, the binary
//! units `docker stats` prints memory in.

pub use crate::image::human::{ago, duration, format_g, go_time, size};

const BINARY_UNITS: [&str; 9] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"];

/// `1.5MiB`, `7.668GiB`: binary units, four significant digits.
pub fn bytes_size(bytes: u64) -> String {
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < BINARY_UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{}{}", format_g(v, 4), BINARY_UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_sizes_read_like_docker_stats() {
        assert_eq!(bytes_size(0), "0B");
        assert_eq!(bytes_size(1023), "1023B");
        assert_eq!(bytes_size(1536 * 1024), "1.5MiB");
        assert_eq!(bytes_size(8_233_000_000), "7.668GiB");
    }
}
