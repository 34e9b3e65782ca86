//! `linux.resources.blockIO`: v1's blkio files (CFQ's or BFQ's weights, the throttles) and
//! v2's io files.

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::CgroupError;
use super::resources::{Ctl, Host, Plan, R, Ver, need, refuse};

/// io.weight (1..10000) from a blkio weight (10..1000), as runc and crun convert it.
pub fn blkio_to_io_weight(w: u16) -> u64 {
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

pub fn plan(p: &mut Plan, b: &LinuxBlockIo, host: &dyn Host) -> Result<(), CgroupError> {
    let f = |n: &str| format!("{R}.blockIO.{n}");
    let throttles: [(&str, &str, &str, &Option<Vec<LinuxThrottleDevice>>); 4] = [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            b.throttle_read_bps_device(),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            b.throttle_write_bps_device(),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            b.throttle_read_iops_device(),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            b.throttle_write_iops_device(),
        ),
    ];
    let weight = b.weight().filter(|w| *w > 0);
    let leaf = b.leaf_weight().filter(|w| *w > 0);
    let wdevs = b.weight_device().as_deref().unwrap_or_default();
    let any = weight.is_some()
        || leaf.is_some()
        || !wdevs.is_empty()
        || throttles
            .iter()
            .any(|t| t.3.as_ref().is_some_and(|v| !v.is_empty()));
    if !any {
        return Ok(());
    }
    let ver = need(host, Ctl::Io, &format!("{R}.blockIO"))?;
    let no_leaf = || {
        refuse(
            f("leafWeight"),
            "cgroup v2 has no leaf weight (it was CFQ's, gone since Linux 5.0)",
        )
    };
    if let Some(w) = weight {
        let choices = match ver {
            Ver::V1 => [
                ("blkio.weight", w.to_string()),
                ("blkio.bfq.weight", w.to_string()),
            ],
            Ver::V2 => [
                ("io.bfq.weight", w.to_string()),
                ("io.weight", blkio_to_io_weight(w).to_string()),
            ],
        };
        p.add_choices(f("weight"), Ctl::Io, &choices);
    }
    if let Some(w) = leaf {
        if ver == Ver::V2 {
            return Err(no_leaf());
        }
        p.add(f("leafWeight"), Ctl::Io, "blkio.leaf_weight", w);
    }
    for (i, d) in wdevs.iter().enumerate() {
        let dev = format!("{}:{}", d.major(), d.minor());
        let field = |n: &str| f(&format!("weightDevice[{i}].{n}"));
        if let Some(w) = d.weight() {
            let choices = match ver {
                Ver::V1 => [
                    ("blkio.weight_device", format!("{dev} {w}")),
                    ("blkio.bfq.weight_device", format!("{dev} {w}")),
                ],
                Ver::V2 => [
                    ("io.bfq.weight", format!("{dev} {w}")),
                    ("io.weight", format!("{dev} {}", blkio_to_io_weight(w))),
                ],
            };
            p.add_choices(field("weight"), Ctl::Io, &choices);
        }
        if let Some(w) = d.leaf_weight() {
            if ver == Ver::V2 {
                return Err(refuse(
                    field("leafWeight"),
                    "cgroup v2 has no leaf weight (it was CFQ's, gone since Linux 5.0)",
                ));
            }
            p.add(
                field("leafWeight"),
                Ctl::Io,
                "blkio.leaf_weight_device",
                format!("{dev} {w}"),
            );
        }
    }
    for (name, v1_file, v2_key, devs) in throttles {
        for (i, d) in devs.iter().flatten().enumerate() {
            let dev = format!("{}:{}", d.major(), d.minor());
            let (file, v) = match ver {
                Ver::V1 => (v1_file, format!("{dev} {}", d.rate())),
                Ver::V2 => ("io.max", format!("{dev} {v2_key}={}", d.rate())),
            };
            p.add(f(&format!("{name}[{i}]")), Ctl::Io, file, v);
        }
    }
    Ok(())
}
