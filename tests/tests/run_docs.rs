//! Shell completions and man pages, generated from the clap definitions and installed by
//! scripts/install-docs.sh (what scripts/install.sh runs): every tool and both scripts get
//! them, bash's completion completes, and the pages are roff.

use std::path::Path;
use std::process::Command;

use berth_e2e::{TestEnv, bin_dir, repo_dir};

/// The installed layout (install.sh): the binaries and the two scripts in one directory.
fn install(env: &TestEnv) -> std::path::PathBuf {
    let prefix = env.dir().join("prefix");
    let bin = prefix.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for e in std::fs::read_dir(bin_dir()).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("berth-") && e.file_type().unwrap().is_file() {
            std::os::unix::fs::symlink(e.path(), bin.join(&name)).unwrap();
        }
    }
    for s in ["berth", "berth-run"] {
        std::os::unix::fs::symlink(repo_dir().join("tools/run").join(s), bin.join(s)).unwrap();
    }
    let out = Command::new(repo_dir().join("scripts/install-docs.sh"))
        .arg(&bin)
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    prefix
}

/// What bash's completion offers for `words` (the last one being completed).
fn complete(script: &Path, words: &[&str]) -> Vec<String> {
    let line = words.join(" ");
    let cmd = format!(
        "source {script}; COMP_WORDS=({line}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}; \
         $(complete -p {prog} | sed 's/.*-F \\([^ ]*\\) .*/\\1/') {prog} '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        cword = words.len() - 1,
        prog = words[0],
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Command::new("bash").arg("-c").arg(&cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn completions_and_man_pages_for_every_tool_and_script() {
    let env = TestEnv::new();
    let prefix = install(&env);
    let share = prefix.join("share");
    let tools = [
        "berth",
        "berth-run",
        "berth-pull",
        "berth-unpack",
        "berth-netns",
        "berth-vol",
        "berth-spawn",
        "berth-ps",
        "berth-image",
        "berth-ctl",
    ];
    for t in tools {
        let bash = share.join("bash-completion/completions").join(t);
        assert!(bash.is_file(), "{t}: no bash completion");
        let st = Command::new("bash").arg("-n").arg(&bash).status().unwrap();
        assert!(st.success(), "{t}: bash completion does not parse");
        let zsh = std::fs::read_to_string(share.join("zsh/site-functions").join(format!("_{t}")))
            .unwrap();
        assert!(zsh.starts_with(&format!("#compdef {t}")), "{t}: {zsh:.40}");
        let fish = std::fs::read_to_string(
            share
                .join("fish/vendor_completions.d")
                .join(format!("{t}.fish")),
        )
        .unwrap();
        assert!(fish.contains(&format!("complete -c {t}")), "{t}");
        let man = std::fs::read_to_string(share.join("man/man1").join(format!("{t}.1"))).unwrap();
        assert!(man.contains(".TH"), "{t}: not roff");
    }
    // Subcommands have their own pages.
    for page in [
        "berth-run.1",
        "berth-ps-logs.1",
        "berth-vol-create.1",
        "berth-ctl-rm.1",
        "berth-spawn-exec.1",
    ] {
        assert!(share.join("man/man1").join(page).is_file(), "no {page}");
    }
    // The flags are the real ones: berth-run's man page lists Docker's run flags...
    let run = std::fs::read_to_string(share.join("man/man1/berth-run.1")).unwrap();
    for flag in [
        "publish",
        "volume",
        "restart",
        "cidfile",
        "detach\\-keys",
        "dry\\-run",
    ] {
        assert!(run.contains(flag), "berth-run.1 lacks {flag}");
    }
    // ...and bash completes them, for `berth run` and for the stages.
    let bash = share.join("bash-completion/completions");
    let got = complete(&bash.join("berth"), &["berth", "run", "--pub"]);
    assert!(got.contains(&"--publish".to_string()), "{got:?}");
    assert!(got.contains(&"--publish-all".to_string()), "{got:?}");
    let got = complete(&bash.join("berth"), &["berth", "sto"]);
    assert_eq!(got, vec!["stop".to_string()]);
    let got = complete(&bash.join("berth-pull"), &["berth-pull", "--plat"]);
    assert_eq!(got, vec!["--platform".to_string()]);
}
