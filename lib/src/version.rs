//! `berth version`: Docker's `docker version` document (`types.Version` for the server, the
//! CLI's `clientVersion`), filled with what is true of berth, and its default text.
//!
//! berth has no daemon: the "server" is the engine on this machine, i.e. the same build as
//! the client, run by the user. Fields Docker fills from its API (`ApiVersion`,
//! `MinAPIVersion`) or its Go toolchain (`GoVersion`) have no berth equivalent and are left
//! empty rather than invented, so `{{.Server.Version}}`, `{{.Client.Version}}`,
//! `{{.Server.Os}}`, `{{.Server.Arch}}` and `{{.Server.KernelVersion}}` work as scripts use
//! them, and `{{json .}}` has Docker's shape.

use serde_json::{Value, json};

/// Docker's `GOARCH` name of the machine berth was built for.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// The document `version --format` runs on; `version` is the berth build's version.
pub fn document(version: &str) -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let (os, arch) = (std::env::consts::OS, go_arch());
    json!({
        "Client": {
            "Platform": {"Name": "berth"},
            "Version": version,
            "ApiVersion": "",
            "DefaultAPIVersion": "",
            "GitCommit": "",
            "GoVersion": "",
            "Os": os,
            "Arch": arch,
            "BuildTime": "",
            "Context": "default",
        },
        "Server": {
            "Platform": {"Name": "berth (no daemon)"},
            "Components": [{
                "Name": "Engine",
                "Version": version,
                "Details": {"Os": os, "Arch": arch, "KernelVersion": kernel, "Runtime": "berth-spawn"},
            }],
            "Version": version,
            "ApiVersion": "",
            "MinAPIVersion": "",
            "GitCommit": "",
            "GoVersion": "",
            "Os": os,
            "Arch": arch,
            "KernelVersion": kernel,
            "BuildTime": "",
        },
    })
}

/// `docker version`'s text without `--format`: the same sections and labels, aligned as its
/// tabwriter does (labels padded to 20 columns), with the lines berth has values for.
pub fn text(doc: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let line = |indent: &str, label: &str, value: String| {
        format!("{:<20}{value}\n", format!("{indent}{label}:"))
    };
    let (c, srv) = (&doc["Client"], &doc["Server"]);
    let mut out = format!("Client: {}\n", s(&c["Platform"]["Name"]));
    out += &line(" ", "Version", s(&c["Version"]));
    out += &line(" ", "OS/Arch", format!("{}/{}", s(&c["Os"]), s(&c["Arch"])));
    out += &line(" ", "Context", s(&c["Context"]));
    out += &format!("\nServer: {}\n", s(&srv["Platform"]["Name"]));
    out += " Engine:\n";
    out += &line("  ", "Version", s(&srv["Version"]));
    out += &line(
        "  ",
        "OS/Arch",
        format!("{}/{}", s(&srv["Os"]), s(&srv["Arch"])),
    );
    out += &line("  ", "Kernel Version", s(&srv["KernelVersion"]));
    out += " berth-spawn:\n";
    out += &line("  ", "Version", s(&srv["Version"]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::Template;

    #[test]
    fn scripts_read_docker_fields() {
        let doc = document("1.2.3");
        let get = |t: &str| Template::parse(t).unwrap().render(&doc).unwrap();
        assert_eq!(get("{{.Server.Version}}"), "1.2.3");
        assert_eq!(get("{{.Client.Version}}"), "1.2.3");
        assert_eq!(
            get("{{.Server.Os}}/{{.Client.Arch}}"),
            format!("linux/{}", go_arch())
        );
        assert!(!get("{{.Server.KernelVersion}}").is_empty());
        let t = text(&doc);
        assert!(
            t.starts_with("Client: berth\n Version:           1.2.3\n"),
            "{t}"
        );
        assert!(
            t.contains("\nServer: berth (no daemon)\n Engine:\n  Version:          1.2.3\n"),
            "{t}"
        );
    }
}
