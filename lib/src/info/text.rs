//! `docker info`'s text without `--format` (docker/cli `prettyPrintInfo`): a `Client:` and a
//! `Server:` section, one `Label: value` per line, the same whether piped or not. The
//! warnings are not part of it: Docker prints them on stderr.

use super::Info;

/// The text of `info`; the caller prints `info.warnings` on stderr.
pub fn text(info: &Info) -> String {
    let mut o = String::new();
    let c = &info.client_info;
    o += "Client:\n";
    o += &format!(" Version:    {}\n", c.version);
    o += &format!(" Context:    {}\n", c.context);
    o += &format!(" Debug Mode: {}\n", c.debug);
    o += "\nServer:\n";
    o += &format!(" Containers: {}\n", info.containers);
    o += &format!("  Running: {}\n", info.containers_running);
    o += &format!("  Paused: {}\n", info.containers_paused);
    o += &format!("  Stopped: {}\n", info.containers_stopped);
    o += &format!(" Images: {}\n", info.images);
    o += &format!(" Server Version: {}\n", info.server_version);
    o += &format!(" Storage Driver: {}\n", info.driver);
    for [k, v] in &info.driver_status {
        o += &format!("  {k}: {v}\n");
    }
    o += &format!(" Logging Driver: {}\n", info.logging_driver);
    o += &format!(" Cgroup Driver: {}\n", info.cgroup_driver);
    o += &format!(" Cgroup Version: {}\n", info.cgroup_version);
    o += " Plugins:\n";
    o += &format!("  Volume: {}\n", info.plugins.volume.join(" "));
    o += &format!("  Network: {}\n", info.plugins.network.join(" "));
    o += &format!("  Log: {}\n", info.plugins.log.join(" "));
    o += &format!(" Swarm: {}\n", info.swarm.local_node_state);
    let runtimes: Vec<&str> = info.runtimes.keys().map(String::as_str).collect();
    o += &format!(" Runtimes: {}\n", runtimes.join(" "));
    o += &format!(" Default Runtime: {}\n", info.default_runtime);
    o += &format!(" Init Binary: {}\n", info.init_binary);
    o += &format!(" containerd version: {}\n", info.containerd_commit.id);
    o += &format!(" runc version: {}\n", info.runc_commit.id);
    o += &format!(" init version: {}\n", info.init_commit.id);
    security_options(&mut o, &info.security_options);
    o += &format!(" Kernel Version: {}\n", info.kernel_version);
    non_empty(&mut o, " Operating System:", &info.operating_system);
    non_empty(&mut o, " OSType:", &info.os_type);
    non_empty(&mut o, " Architecture:", &info.architecture);
    o += &format!(" CPUs: {}\n", info.ncpu);
    o += &format!(
        " Total Memory: {}\n",
        crate::units::human::bytes_size(info.mem_total)
    );
    non_empty(&mut o, " Name:", &info.name);
    non_empty(&mut o, " ID:", &info.id);
    o += &format!(" Docker Root Dir: {}\n", info.docker_root_dir);
    o += &format!(" Debug Mode: {}\n", info.debug);
    non_empty(&mut o, " HTTP Proxy:", &info.http_proxy);
    non_empty(&mut o, " HTTPS Proxy:", &info.https_proxy);
    non_empty(&mut o, " No Proxy:", &info.no_proxy);
    if !info.labels.is_empty() {
        o += " Labels:\n";
        for l in &info.labels {
            o += &format!("  {l}\n");
        }
    }
    o += &format!(" Experimental: {}\n", info.experimental_build);
    registries(&mut o, info);
    o += &format!(" Live Restore Enabled: {}\n", info.live_restore_enabled);
    o += "\n";
    o
}

fn non_empty(o: &mut String, label: &str, v: &str) {
    if !v.is_empty() {
        *o += &format!("{label} {v}\n");
    }
}

/// `name=seccomp,profile=builtin` prints as `seccomp` with `Profile: builtin` beneath.
fn security_options(o: &mut String, opts: &[String]) {
    if opts.is_empty() {
        return;
    }
    *o += " Security Options:\n";
    for opt in opts {
        let mut name = opt.as_str();
        let mut rest = Vec::new();
        for kv in opt.split(',') {
            match kv.split_once('=') {
                Some(("name", n)) => name = n,
                Some((k, v)) => rest.push((k, v)),
                None => {}
            }
        }
        *o += &format!("  {name}\n");
        for (k, v) in rest {
            let mut key = k.to_string();
            if let Some(first) = key.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            *o += &format!("   {key}: {v}\n");
        }
    }
}

fn registries(o: &mut String, info: &Info) {
    let rc = &info.registry_config;
    let insecure_names: Vec<&str> = rc
        .index_configs
        .values()
        .filter(|i| !i.secure)
        .map(|i| i.name.as_str())
        .collect();
    if !insecure_names.is_empty() || !rc.insecure_registry_cidrs.is_empty() {
        *o += " Insecure Registries:\n";
        for n in insecure_names {
            *o += &format!("  {n}\n");
        }
        for c in &rc.insecure_registry_cidrs {
            *o += &format!("  {c}\n");
        }
    }
    if !rc.mirrors.is_empty() {
        *o += " Registry Mirrors:\n";
        for m in &rc.mirrors {
            *o += &format!("  {m}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_options_print_as_docker_lists_them() {
        let mut o = String::new();
        security_options(
            &mut o,
            &[
                "name=seccomp,profile=builtin".into(),
                "name=cgroupns".into(),
            ],
        );
        assert_eq!(
            o,
            " Security Options:\n  seccomp\n   Profile: builtin\n  cgroupns\n"
        );
    }
}
