//! Device nodes and their cgroup rules: `--device`, `--privileged`'s host devices, and the
//! masked and read-only paths that go with privilege.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Linux, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType,
};

use super::built;
use crate::protocol::ProcessSection;
use crate::runtime::{RuntimeError, defaults};

/// A device node and the cgroup rule allowing it with `access`.
fn device_entry(
    path: &Path,
    m: &std::fs::Metadata,
    typ: LinuxDeviceType,
    owner: (u32, u32),
) -> Result<LinuxDevice, RuntimeError> {
    built(
        LinuxDeviceBuilder::default()
            .path(path)
            .typ(typ)
            .major(libc::major(m.rdev()) as i64)
            .minor(libc::minor(m.rdev()) as i64)
            .file_mode(m.mode() & 0o777)
            .uid(owner.0)
            .gid(owner.1)
            .build(),
    )
}

/// A character or block device's type, or None for anything else.
fn device_type(ft: std::fs::FileType) -> Option<LinuxDeviceType> {
    if ft.is_char_device() {
        Some(LinuxDeviceType::C)
    } else if ft.is_block_device() {
        Some(LinuxDeviceType::B)
    } else {
        None
    }
}

/// `--device HOST[:CONTAINER[:PERMS]]`.
fn device(
    spec_devices: &mut Vec<LinuxDevice>,
    rules: &mut Vec<LinuxDeviceCgroup>,
    arg: &str,
) -> Result<(), RuntimeError> {
    let parts: Vec<&str> = arg.split(':').collect();
    let host = parts[0];
    let (dest, perms) = match parts.len() {
        1 => (host, "rwm"),
        2 if parts[1].chars().all(|c| "rwm".contains(c)) => (host, parts[1]),
        2 => (parts[1], "rwm"),
        _ => (parts[1], parts[2]),
    };
    let m = std::fs::metadata(host).map_err(|e| {
        RuntimeError::BadArgs(format!(
            "error gathering device information while adding custom device {host:?}: {e}"
        ))
    })?;
    let Some(t) = device_type(m.file_type()) else {
        return Err(RuntimeError::BadArgs(format!(
            "{host} is not a device node"
        )));
    };
    let dev = device_entry(Path::new(dest), &m, t, (0, 0))?;
    rules.push(built(
        LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .typ(t)
            .major(dev.major())
            .minor(dev.minor())
            .access(perms)
            .build(),
    )?);
    spec_devices.push(dev);
    Ok(())
}

/// Every device node on the host, for `--privileged` (runc's `HostDevices`).
fn host_devices() -> Result<Vec<LinuxDevice>, RuntimeError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from("/dev")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(m) = std::fs::symlink_metadata(&p) else {
                continue;
            };
            let ft = m.file_type();
            if ft.is_dir() {
                let name = e.file_name();
                if !matches!(
                    name.to_str(),
                    Some("pts" | "shm" | "mqueue" | ".lxc" | ".lxd-mounts" | ".udev")
                ) {
                    stack.push(p);
                }
                continue;
            }
            let Some(t) = device_type(ft) else {
                continue;
            };
            if p == Path::new("/dev/console") {
                continue;
            }
            out.push(device_entry(&p, &m, t, (m.uid(), m.gid()))?);
        }
    }
    Ok(out)
}

/// Masked and read-only paths (none when privileged), and the device nodes with their cgroup
/// rules (`linux.resources.devices`): every host device when privileged, else Docker's
/// defaults; then `--device`'s.
pub(super) fn paths_and_devices(linux: &mut Linux, p: &ProcessSection) -> Result<(), RuntimeError> {
    let mut devs = linux.devices().clone().unwrap_or_default();
    let mut rules: Vec<LinuxDeviceCgroup>;
    if p.privileged {
        linux.set_masked_paths(Some(vec![]));
        linux.set_readonly_paths(Some(vec![]));
        devs = host_devices()?;
        rules = vec![built(
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .access("rwm")
                .build(),
        )?];
    } else {
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        linux.set_masked_paths(Some(owned(defaults::MASKED_PATHS)));
        linux.set_readonly_paths(Some(owned(defaults::READONLY_PATHS)));
        rules = crate::bundle::defaults::default_device_rules();
    }
    for d in &p.devices {
        device(&mut devs, &mut rules, d)?;
    }
    linux.set_devices(Some(devs));
    let mut res = linux.resources().clone().unwrap_or_default();
    res.set_devices(Some(rules));
    linux.set_resources(Some(res));
    Ok(())
}
