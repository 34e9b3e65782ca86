//! `inspect`: Docker-shaped JSON for containers (moby's `types.ContainerJSON`), so that
//! people's `--format` strings (`{{.State.Running}}`, `{{.Config.User}}`,
//! `{{.NetworkSettings.IPAddress}}`, `{{json .Mounts}}`) work unchanged.
//!
//! Field order follows Docker's (typed structs, not maps), so the output reads like
//! `docker inspect`'s. A `Berth` object at the end adds what Docker has no field for: the
//! command line that made the container, its bundle, monitor and cgroup.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

mod find;
mod hostmore;
mod mounts;
mod types;

pub use find::{Inspected, Kind, find};
pub use hostmore::HostConfigMoreJson;
pub use types::*;

use mounts::MountViews;

use crate::paths::Paths;
use crate::protocol::{
    ContainerConfig, NetworkSection, ProcessSection, Record, StateSection, Status,
};
use crate::views::ports;
use crate::views::ps::path_and_args;
use crate::views::status::status_of;

/// Go's RFC3339Nano (trailing zeros of the fraction dropped); Go's zero time when unset.
pub fn go_rfc3339(t: Option<DateTime<Utc>>) -> String {
    match t {
        None => "0001-01-01T00:00:00Z".into(),
        Some(t) => {
            let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
            let (main, frac) = s.trim_end_matches('Z').split_once('.').unwrap_or((&s, ""));
            let frac = frac.trim_end_matches('0');
            if frac.is_empty() {
                format!("{}Z", main.trim_end_matches('Z'))
            } else {
                format!("{main}.{frac}Z")
            }
        }
    }
}

fn some_if_nonempty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// The inspect document of one container, assembled from the record's sections one part at a
/// time, in Docker's field order.
pub fn container(paths: &Paths, r: &Record) -> ContainerJson {
    let status = status_of(r);
    let active = status.is_active();
    let st = r.state.clone().unwrap_or_default();
    let config = r
        .bundle
        .as_ref()
        .map(|b| b.config.clone())
        .unwrap_or_default();
    let process = r.process.clone().unwrap_or_default();
    let net = r.network.clone().unwrap_or_default();
    // Config.ExposedPorts is the image's EXPOSE plus `--expose` and `-p`'s container ports:
    // berth-netns keeps that list in the network section.
    let mut exposed_ports = config.exposed_ports.clone();
    for p in &net.exposed_ports {
        if !exposed_ports.contains(p) {
            exposed_ports.push(p.clone());
        }
    }
    let mounts = MountViews::of(&r.mounts.clone().unwrap_or_default(), &config);
    let (path, args) = path_and_args(r);
    let bundle_path = r
        .bundle
        .as_ref()
        .map(|b| b.path.display().to_string())
        .unwrap_or_default();
    let rootfs = r
        .bundle
        .as_ref()
        .map(|b| b.rootfs.display().to_string())
        .unwrap_or_default();
    let mut graph_data = BTreeMap::new();
    if !rootfs.is_empty() {
        graph_data.insert("MergedDir".to_string(), rootfs.clone());
    }

    ContainerJson {
        id: r.id.clone(),
        created: go_rfc3339(r.created),
        path,
        args,
        state: state_json(status, &st),
        image: r.image.as_ref().map(|i| i.id.clone()).unwrap_or_default(),
        resolv_conf_path: path_str(&net.resolv_conf_path),
        hostname_path: path_str(&net.hostname_path),
        hosts_path: path_str(&net.hosts_path),
        log_path: paths.log(&r.id).display().to_string(),
        name: format!("/{}", r.name),
        restart_count: st.restart_count,
        driver: match r.bundle.as_ref().map(|b| b.driver) {
            Some(crate::protocol::RootfsDriver::Overlay) | None => "overlay".into(),
            Some(crate::protocol::RootfsDriver::Copy) => "vfs".into(),
            Some(crate::protocol::RootfsDriver::Dir) => "dir".into(),
        },
        platform: "linux".into(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: None,
        host_config: host_config(r, &process, &net, &config, &mounts),
        graph_driver: GraphDriverJson {
            data: graph_data,
            name: "overlay2".into(),
        },
        size_rw: None,
        size_root_fs: None,
        config: config_json(r, &config, &process, &net, exposed_ports.clone(), &mounts),
        mounts: mounts.mounts,
        network_settings: network_settings(paths, r, &net, &exposed_ports, active),
        volumes: mounts.legacy_volumes,
        berth: BerthJson {
            argv: r.argv.clone(),
            bundle: bundle_path,
            rootfs,
            monitor_pid: if active { st.monitor_pid } else { 0 },
            cgroup_path: process.cgroup_path.clone(),
        },
    }
}

fn path_str(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// `/NAME:/CONTAINER/ALIAS`, Docker's legacy link form.
fn links(r: &Record, net: &NetworkSection) -> Option<Vec<String>> {
    some_if_nonempty(
        net.links
            .iter()
            .map(|l| format!("/{}:/{}/{}", l.name, r.name, l.alias))
            .collect(),
    )
}

/// `.State`.
fn state_json(status: Status, st: &StateSection) -> StateJson {
    let active = status.is_active();
    StateJson {
        status: status.as_str().into(),
        // Docker's Running stays true while paused or restarting.
        running: active,
        paused: status == Status::Paused,
        restarting: status == Status::Restarting,
        oom_killed: st.oom_killed,
        dead: status == Status::Dead,
        pid: if active { st.pid } else { 0 },
        exit_code: st.exit_code,
        error: st.error.clone(),
        started_at: go_rfc3339(st.started_at),
        finished_at: go_rfc3339(st.finished_at),
        health: st.health.as_ref().map(|h| HealthJson {
            status: h.status.as_str().into(),
            failing_streak: h.failing_streak,
            log: h
                .log
                .iter()
                .map(|l| HealthLogJson {
                    start: go_rfc3339(Some(l.start)),
                    end: go_rfc3339(Some(l.end)),
                    exit_code: l.exit_code,
                    output: l.output.clone(),
                })
                .collect(),
        }),
    }
}

/// `HostConfig.PortBindings`: what was asked for, kept while the container is stopped.
fn port_bindings(net: &NetworkSection) -> BTreeMap<String, Vec<PortBindingJson>> {
    let mut out: BTreeMap<String, Vec<PortBindingJson>> = BTreeMap::new();
    for p in &net.ports {
        let proto = if p.protocol.is_empty() {
            "tcp"
        } else {
            &p.protocol
        };
        out.entry(format!("{}/{proto}", p.container_port))
            .or_default()
            .push(PortBindingJson {
                // Docker keeps what the user typed: no address means "".
                host_ip: if p.host_ip == "0.0.0.0" {
                    String::new()
                } else {
                    p.host_ip.clone()
                },
                host_port: p.host_port.to_string(),
            });
    }
    out
}

/// `.HostConfig`.
fn host_config(
    r: &Record,
    process: &ProcessSection,
    net: &NetworkSection,
    config: &ContainerConfig,
    mounts: &MountViews,
) -> HostConfigJson {
    let res = &process.resources;
    let restart = if process.restart.name.is_empty() {
        RestartPolicyJson {
            name: "no".into(),
            maximum_retry_count: 0,
        }
    } else {
        RestartPolicyJson {
            name: process.restart.name.clone(),
            maximum_retry_count: process.restart.maximum_retry_count,
        }
    };
    HostConfigJson {
        binds: some_if_nonempty(mounts.binds.clone()),
        tmpfs: (!mounts.tmpfs.is_empty()).then(|| mounts.tmpfs.clone()),
        volumes_from: some_if_nonempty(mounts.volumes_from.clone()),
        container_id_file: process.cidfile.clone().unwrap_or_default(),
        log_config: LogConfigJson {
            kind: if process.log_driver.is_empty() {
                "json-file".into()
            } else {
                process.log_driver.clone()
            },
            config: process.log_opts.clone(),
        },
        network_mode: if net.mode.is_empty() {
            "none".into()
        } else {
            net.mode.clone()
        },
        port_bindings: port_bindings(net),
        restart_policy: restart,
        auto_remove: process.auto_remove,
        cap_add: some_if_nonempty(process.cap_add.clone()),
        cap_drop: some_if_nonempty(process.cap_drop.clone()),
        dns: net.dns.clone(),
        dns_search: net.dns_search.clone(),
        extra_hosts: some_if_nonempty(net.extra_hosts.clone()),
        ipc_mode: if process.ipc.is_empty() {
            "private".into()
        } else {
            process.ipc.clone()
        },
        links: links(r, net),
        pid_mode: process.pid.clone(),
        privileged: process.privileged,
        readonly_rootfs: config.read_only,
        security_opt: some_if_nonempty(process.security_opt.clone()),
        uts_mode: process.uts.clone(),
        userns_mode: process.userns.clone(),
        cpu_shares: res.cpu_shares,
        memory: res.memory,
        nano_cpus: res.nano_cpus,
        blkio_weight: res.blkio_weight,
        cpu_period: res.cpu_period,
        cpu_quota: res.cpu_quota,
        cpuset_cpus: res.cpuset_cpus.clone(),
        cpuset_mems: res.cpuset_mems.clone(),
        devices: process.devices.clone(),
        memory_reservation: res.memory_reservation,
        memory_swap: res.memory_swap,
        pids_limit: (res.pids_limit != 0).then_some(res.pids_limit),
        ulimits: some_if_nonempty(process.ulimits.clone()),
        init: process.init.then_some(true),
        more: hostmore::host_config_more(process),
    }
}

/// `.Config`.
fn config_json(
    r: &Record,
    config: &ContainerConfig,
    process: &ProcessSection,
    net: &NetworkSection,
    exposed_ports: Vec<String>,
    mounts: &MountViews,
) -> ConfigJson {
    let hostname = [&net.hostname, &config.hostname]
        .into_iter()
        .find(|h| !h.is_empty())
        .cloned()
        .unwrap_or_else(|| r.short_id().to_string());
    ConfigJson {
        hostname,
        domainname: config.domainname.clone(),
        user: config.user.clone(),
        attach_stdin: process.interactive,
        attach_stdout: !process.detach,
        attach_stderr: !process.detach,
        exposed_ports: some_if_nonempty(exposed_ports).map(|v| {
            v.into_iter()
                .map(|p| {
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    (p, Value::Object(Default::default()))
                })
                .collect()
        }),
        tty: process.tty,
        open_stdin: process.interactive,
        stdin_once: process.interactive && !process.detach,
        env: config.env.clone(),
        cmd: config.cmd.clone(),
        image: config.image.clone(),
        volumes: (!mounts.config_volumes.is_empty()).then(|| mounts.config_volumes.clone()),
        working_dir: config.working_dir.clone(),
        entrypoint: config.entrypoint.clone(),
        on_build: None,
        labels: config.labels.clone(),
        stop_signal: process.stop_signal.clone().or(config.stop_signal.clone()),
        healthcheck: config.healthcheck.clone(),
        stop_timeout: process.stop_timeout,
    }
}

/// `.NetworkSettings`: the live view, emptied when the container stops, as Docker does.
fn network_settings(
    paths: &Paths,
    r: &Record,
    net: &NetworkSection,
    exposed_ports: &[String],
    active: bool,
) -> NetworkSettingsJson {
    // While the container runs, Ports has every exposed port, null where it is not published.
    let mut live_ports: BTreeMap<String, Option<Vec<PortBindingJson>>> = BTreeMap::new();
    if active {
        for p in ports::ports(&net.ports, exposed_ports) {
            let e = live_ports
                .entry(format!("{}/{}", p.private, p.proto))
                .or_default();
            if p.public != 0 {
                e.get_or_insert_with(Vec::new).push(PortBindingJson {
                    host_ip: p.ip.clone(),
                    host_port: p.public.to_string(),
                });
            }
        }
    }
    let (ip, prefix, gateway, mac) = if active {
        (
            net.ip_address.clone().unwrap_or_default(),
            net.prefix_len.unwrap_or(0),
            net.gateway.clone().unwrap_or_default(),
            net.mac_address.clone().unwrap_or_default(),
        )
    } else {
        (String::new(), 0, String::new(), String::new())
    };
    let mut networks = BTreeMap::new();
    let net_name = crate::views::filter::network_name(r);
    if let Some(name) = net_name.filter(|n| !n.starts_with("container:")) {
        networks.insert(
            name.clone(),
            EndpointJson {
                ipam_config: EndpointIpamConfig::of(net.fixed.as_ref()),
                links: links(r, net),
                aliases: None,
                mac_address: mac.clone(),
                // Only a network that exists is read: inspecting never creates one.
                network_id: crate::net::networks::exists(paths, &name)
                    .then(|| crate::net::networks::get(paths, &name).ok())
                    .flatten()
                    .map(|n| n.id)
                    .unwrap_or_default(),
                endpoint_id: String::new(),
                gateway: gateway.clone(),
                ip_address: ip.clone(),
                ip_prefix_len: prefix,
                ipv6_gateway: live6(active, &net.ipv6_gateway),
                global_ipv6_address: live6(active, &net.ipv6_address),
                global_ipv6_prefix_len: if active {
                    net.ipv6_prefix_len.unwrap_or(0)
                } else {
                    0
                },
                dns_names: dns_names(r, net, &name, &net.aliases),
            },
        );
        if let Some(e) = networks.get_mut(&name) {
            e.aliases = (!net.aliases.is_empty()).then(|| net.aliases.clone());
        }
    }
    for c in &net.connected {
        let live = |v: &str| if active { v.to_string() } else { String::new() };
        networks.insert(
            c.network.clone(),
            EndpointJson {
                ipam_config: EndpointIpamConfig::of(c.fixed.as_ref()),
                links: None,
                aliases: (!c.aliases.is_empty()).then(|| c.aliases.clone()),
                mac_address: live(&c.mac_address),
                network_id: c.network_id.clone(),
                endpoint_id: String::new(),
                gateway: live(c.gateway.as_deref().unwrap_or_default()),
                ip_address: live(&c.ip_address),
                ip_prefix_len: if active { c.prefix_len } else { 0 },
                ipv6_gateway: live6(active, &c.ipv6_gateway),
                global_ipv6_address: live6(active, &c.ipv6_address),
                global_ipv6_prefix_len: if active {
                    c.ipv6_prefix_len.unwrap_or(0)
                } else {
                    0
                },
                dns_names: dns_names(r, net, &c.network, &c.aliases),
            },
        );
    }
    NetworkSettingsJson {
        bridge: String::new(),
        sandbox_id: String::new(),
        sandbox_key: if active {
            path_str(&net.netns)
        } else {
            String::new()
        },
        ports: live_ports,
        gateway,
        ip_address: ip,
        ip_prefix_len: prefix,
        mac_address: mac,
        networks,
    }
}

/// An endpoint's IPv6 field while the container is active (empty otherwise, as Docker's).
fn live6(active: bool, v: &Option<String>) -> String {
    if active {
        v.clone().unwrap_or_default()
    } else {
        String::new()
    }
}

/// `DNSNames` of an endpoint on a user-defined network (Docker 25+); none on the default
/// bridge, where names are not resolved.
fn dns_names(
    r: &Record,
    net: &NetworkSection,
    network: &str,
    aliases: &[String],
) -> Option<Vec<String>> {
    crate::net::dns::serves(network)
        .then(|| crate::net::dns::dns_names(&r.name, aliases, &r.id, &net.hostname))
}

/// Docker's indented JSON (`json.MarshalIndent` with four spaces), with a final newline.
pub fn pretty<T: Serialize>(v: &T) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    let _ = v.serialize(&mut ser);
    out.push(b'\n');
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::*;

    fn record() -> Record {
        let mut r = Record::new();
        r.id = "a".repeat(64);
        r.name = "web".into();
        r.created = Some("2024-01-02T03:04:05.120Z".parse().unwrap());
        let mut b = BundleSection {
            path: "/r/containers/aaa".into(),
            rootfs: "/r/containers/aaa/rootfs".into(),
            ..Default::default()
        };
        b.config.image = "busybox".into();
        b.config.user = "nobody".into();
        b.config.entrypoint = Some(vec!["/bin/sh".into()]);
        b.config.cmd = Some(vec!["-c".into(), "sleep 1".into()]);
        b.config.exposed_ports = vec!["80/tcp".into(), "443/tcp".into()];
        r.bundle = Some(b);
        r.network = Some(NetworkSection {
            mode: "bridge".into(),
            network: Some("bridge".into()),
            ip_address: Some("10.88.0.2".into()),
            prefix_len: Some(16),
            gateway: Some("10.88.0.1".into()),
            ports: vec![PortBinding {
                host_ip: "0.0.0.0".into(),
                host_port: 8080,
                container_port: 80,
                protocol: "tcp".into(),
            }],
            ..Default::default()
        });
        r.mounts = Some(vec![MountEntry {
            kind: MountKind::Volume,
            name: Some("data".into()),
            source: "/r/volumes/data/_data".into(),
            destination: "/data".into(),
            rw: true,
            origin: "-v".into(),
            ..Default::default()
        }]);
        r.process = Some(ProcessSection {
            restart: RestartPolicy {
                name: "on-failure".into(),
                maximum_retry_count: 3,
            },
            resources: Resources {
                memory: 64 << 20,
                cpu_shares: 512,
                ..Default::default()
            },
            cap_add: vec!["NET_ADMIN".into()],
            ..Default::default()
        });
        r.state = Some(StateSection {
            status: Status::Running,
            pid: 4242,
            started_at: r.created,
            ..Default::default()
        });
        r
    }

    #[test]
    fn running_container_reads_like_docker() {
        let paths = Paths::new("/r", "/run/b");
        let v = serde_json::to_value(container(&paths, &record())).unwrap();
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["Created"], "2024-01-02T03:04:05.12Z");
        assert_eq!(v["Path"], "/bin/sh");
        assert_eq!(v["Args"], serde_json::json!(["-c", "sleep 1"]));
        assert_eq!(v["State"]["Running"], true);
        assert_eq!(v["State"]["Status"], "running");
        assert_eq!(v["State"]["Pid"], 4242);
        assert_eq!(v["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
        assert_eq!(v["Config"]["User"], "nobody");
        assert_eq!(v["Config"]["ExposedPorts"]["80/tcp"], serde_json::json!({}));
        assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(v["HostConfig"]["Memory"], 64 << 20);
        assert_eq!(v["HostConfig"]["CpuShares"], 512);
        assert_eq!(v["HostConfig"]["CapAdd"][0], "NET_ADMIN");
        assert_eq!(v["HostConfig"]["Binds"][0], "data:/data");
        assert_eq!(
            v["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
            "8080"
        );
        assert_eq!(v["NetworkSettings"]["IPAddress"], "10.88.0.2");
        assert_eq!(
            v["NetworkSettings"]["Networks"]["bridge"]["Gateway"],
            "10.88.0.1"
        );
        assert_eq!(
            v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostIp"],
            "0.0.0.0"
        );
        assert_eq!(v["NetworkSettings"]["Ports"]["443/tcp"], Value::Null);
        assert_eq!(v["Mounts"][0]["Type"], "volume");
        assert_eq!(v["Mounts"][0]["Name"], "data");
        assert_eq!(v["Volumes"]["/data"], "/r/volumes/data/_data");
        assert_eq!(
            v["LogPath"],
            format!("/r/containers/{0}/{0}-json.log", "a".repeat(64))
        );
        // Docker's order: Id first.
        assert!(pretty(&[container(&paths, &record())]).starts_with("[\n    {\n        \"Id\": "));
    }

    #[test]
    fn stopped_container_has_no_live_network() {
        let mut r = record();
        r.state = Some(StateSection {
            status: Status::Exited,
            exit_code: 137,
            started_at: r.created,
            finished_at: r.created,
            ..Default::default()
        });
        let v = serde_json::to_value(container(&Paths::new("/r", "/run"), &r)).unwrap();
        assert_eq!(v["State"]["Running"], false);
        assert_eq!(v["State"]["ExitCode"], 137);
        assert_eq!(v["State"]["Pid"], 0);
        assert_eq!(v["NetworkSettings"]["IPAddress"], "");
        assert_eq!(v["NetworkSettings"]["Ports"], serde_json::json!({}));
        let none =
            serde_json::to_value(container(&Paths::new("/r", "/run"), &Record::new())).unwrap();
        assert_eq!(none["State"]["Status"], "created");
        assert_eq!(none["Config"]["Cmd"], Value::Null);
    }

    #[test]
    fn times_are_go_rfc3339nano() {
        let t = |s: &str| go_rfc3339(Some(s.parse().unwrap()));
        assert_eq!(t("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z");
        assert_eq!(
            t("2024-01-02T03:04:05.000000100Z"),
            "2024-01-02T03:04:05.0000001Z"
        );
        assert_eq!(go_rfc3339(None), "0001-01-01T00:00:00Z");
    }
}
