//! README's first command, past its installation step: on an empty store, offline,
//! scripts/quickstart.sh builds busybox:latest from the host's busybox-static and runs
//! `berth run --rm busybox echo hello`; run again, it reuses the image.

use berth_e2e::repo_dir;
use berth_e2e::session::Session;

#[test]
fn quickstart_runs_hello_offline_on_an_empty_store() {
    let b = Session::empty();
    let script = repo_dir().join("scripts/quickstart.sh");
    let run = || {
        let mut c = b.cmd("sh");
        c.arg(&script).env("QUICKSTART_NO_INSTALL", "1");
        let out = c.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (out, err) = run();
    assert_eq!(out, "hello\n");
    assert!(err.contains("berth image default"), "{err}");
    let images = b.ok(&["images", "-q", "busybox:latest"]);
    assert_eq!(images.trim().len(), 12, "{images}");
    let (out, err) = run();
    assert_eq!(out, "hello\n");
    assert!(!err.contains("berth image default"), "{err}");
    b.assert_clean(&[]);
}
