//! `linux.resources.hugepageLimits`: hugetlb.<size>.limit_in_bytes on v1, .max on v2, and
//! the reservation limits beside them where the kernel has them.

use super::CgroupError;
use super::resources::{Check, Ctl, Host, Plan, R, Ver, invalid, need, refuse};

/// "2MB" -> 2048 (kB), the names runc and the kernel's hugetlb files use.
pub fn page_size_kb(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    let n: u64 = s[..digits].parse().ok()?;
    let shift = match &s[digits..] {
        "KB" => 0,
        "MB" => 10,
        "GB" => 20,
        "TB" => 30,
        _ => return None,
    };
    n.checked_shl(shift)
        .filter(|kb| *kb > 0 && kb >> shift == n)
}

/// 2048 -> "2MB".
pub fn page_size_name(kb: u64) -> String {
    let mut v = kb;
    for unit in ["KB", "MB", "GB"] {
        if v < 1024 || !v.is_multiple_of(1024) {
            return format!("{v}{unit}");
        }
        v /= 1024;
    }
    format!("{v}TB")
}

pub fn plan(
    p: &mut Plan,
    i: usize,
    size: &str,
    limit: i64,
    host: &dyn Host,
) -> Result<(), CgroupError> {
    let field = format!("{R}.hugepageLimits[{i}]");
    let have = host.hugepage_kb();
    let sizes = || {
        let names: Vec<String> = have.iter().map(|kb| page_size_name(*kb)).collect();
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    };
    let Some(kb) = page_size_kb(size) else {
        return Err(invalid(
            format!("{field}.pageSize"),
            format!(
                "{size:?} is not a page size like 2MB or 1GB (this host has {})",
                sizes()
            ),
        ));
    };
    if !have.contains(&kb) {
        return Err(refuse(
            format!("{field}.pageSize"),
            format!("this host has no {size} huge pages (it has {})", sizes()),
        ));
    }
    if limit < 0 {
        return Err(invalid(
            format!("{field}.limit"),
            format!("{limit} is negative"),
        ));
    }
    // The kernel's own spelling of the size, whatever the config's.
    let name = page_size_name(kb);
    let ver = need(host, Ctl::Hugetlb, &field)?;
    let (limit_file, rsvd_file) = match ver {
        Ver::V1 => (
            format!("hugetlb.{name}.limit_in_bytes"),
            format!("hugetlb.{name}.rsvd.limit_in_bytes"),
        ),
        Ver::V2 => (
            format!("hugetlb.{name}.max"),
            format!("hugetlb.{name}.rsvd.max"),
        ),
    };
    p.add(format!("{field}.limit"), Ctl::Hugetlb, &limit_file, limit);
    // Reservations too (Linux 5.7+), as runc 1.2 does, so a mapping cannot reserve past it.
    p.add(format!("{field}.limit"), Ctl::Hugetlb, &rsvd_file, limit);
    p.last_check(Check::IfPresent);
    Ok(())
}
