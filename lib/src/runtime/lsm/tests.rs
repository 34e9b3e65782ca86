use super::*;

fn host(apparmor: bool, selinux: bool, profiles: Option<&[&str]>, dir: bool) -> Host {
    Host {
        apparmor,
        selinux,
        profiles: profiles.map(|p| p.iter().map(|s| s.to_string()).collect()),
        apparmor_attr_dir: dir,
        active: None,
    }
}

fn req(origin: Origin, aa: Option<&str>, label: Option<&str>, mount: Option<&str>) -> Request {
    Request {
        origin,
        apparmor: aa.map(String::from),
        process_label: label.map(String::from),
        mount_label: mount.map(String::from),
    }
}

fn attrs(p: Plan) -> Vec<(&'static str, String)> {
    p.attrs
}

#[test]
fn apparmor_profile_goes_to_its_own_attribute_or_the_shared_one() {
    let r = req(Origin::Config, Some("docker-default"), None, None);
    let on = host(true, false, Some(&["docker-default", "other"]), true);
    assert_eq!(
        attrs(plan(&r, &on).unwrap()),
        [("attr/apparmor/exec", "exec docker-default".to_string())]
    );
    let old_kernel = host(true, false, None, false);
    assert_eq!(
        attrs(plan(&r, &old_kernel).unwrap()),
        [("attr/exec", "exec docker-default".to_string())]
    );
    // unconfined is written where AppArmor runs (runc does), and is nothing elsewhere.
    let u = req(Origin::Flag, Some("unconfined"), None, None);
    assert_eq!(
        attrs(plan(&u, &on).unwrap()),
        [("attr/apparmor/exec", "exec unconfined".to_string())]
    );
    assert_eq!(
        attrs(plan(&u, &host(false, false, None, false)).unwrap()),
        []
    );
}

#[test]
fn apparmor_refusals_name_the_field_or_the_flag() {
    let none = host(false, false, None, false);
    let e = plan(
        &req(Origin::Config, Some("docker-default"), None, None),
        &none,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "process.apparmorProfile \"docker-default\": AppArmor is not enabled on this host (remove process.apparmorProfile from config.json)"
    );
    assert_eq!(e.code(), Code::HOST_UNSUPPORTED);
    let e = plan(
        &req(Origin::Flag, Some("docker-default"), None, None),
        &none,
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--security-opt apparmor=docker-default: AppArmor is not enabled on this host (drop the option, or use apparmor=unconfined)"
    );
    let loaded = host(true, false, Some(&["a"]), true);
    let e = plan(&req(Origin::Config, Some("b"), None, None), &loaded).unwrap_err();
    assert!(matches!(e, LsmError::NotLoaded { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("process.apparmorProfile \"b\": no AppArmor profile")
    );
}

#[test]
fn selinux_labels_need_selinux() {
    let on = host(false, true, None, true);
    let r = req(
        Origin::Config,
        None,
        Some("u:r:t:s0"),
        Some("u:object_r:f:s0"),
    );
    // The mount label is not a write here: the mounts carry it.
    assert_eq!(
        attrs(plan(&r, &on).unwrap()),
        [("attr/exec", "u:r:t:s0".to_string())]
    );
    let off = host(true, false, None, true);
    let e = plan(&r, &off).unwrap_err().to_string();
    assert_eq!(
        e,
        "process.selinuxLabel \"u:r:t:s0\": SELinux is not enabled on this host (remove process.selinuxLabel from config.json)"
    );
    // A config's mount label means nothing without SELinux: skipped, and said (runc, crun).
    let p = plan(&req(Origin::Config, None, None, Some("m")), &off).unwrap();
    assert!(p.attrs.is_empty());
    assert_eq!(
        p.ignored,
        [
            "linux.mountLabel \"m\" is not applied: SELinux is not enabled on this host, so no policy reads file labels"
        ]
    );
    let e = plan(&req(Origin::Flag, None, Some("u:r:foo_t:s0"), None), &off)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("(drop the option, or use label=disable)"),
        "{e}"
    );
}

#[test]
fn both_modules_apply_together_in_runc_s_order() {
    let both = host(true, true, None, true);
    let r = req(Origin::Config, Some("p"), Some("u:r:t:s0"), None);
    assert_eq!(
        attrs(plan(&r, &both).unwrap()),
        [
            ("attr/apparmor/exec", "exec p".to_string()),
            ("attr/exec", "u:r:t:s0".to_string())
        ]
    );
}

#[test]
fn a_config_without_labels_asks_for_nothing() {
    let spec = Spec::default();
    let process = spec.process().clone().unwrap_or_default();
    let r = Request::of(&process, &spec);
    assert!(r.is_empty());
    // Nothing requested: no syscall, no error, whatever the host.
    apply(&process, &spec, true).unwrap();
    let mut p = process.clone();
    p.set_apparmor_profile(Some(String::new()));
    assert!(Request::of(&p, &spec).is_empty());
    p.set_apparmor_profile(Some("x".into()));
    assert_eq!(Request::of(&p, &spec).apparmor.as_deref(), Some("x"));
}

#[test]
fn doctor_names_the_confining_modules() {
    let mut h = host(true, false, None, true);
    h.active = Some(vec!["capability".into(), "apparmor".into()]);
    assert_eq!(h.describe(), "AppArmor (active: capability,apparmor)");
    h.apparmor = false;
    h.active = Some(vec!["lockdown".into(), "capability".into()]);
    assert_eq!(
        h.describe(),
        "no AppArmor or SELinux (active: lockdown,capability)"
    );
    assert_eq!(
        host(true, true, None, true).describe(),
        "AppArmor and SELinux"
    );
}

#[test]
fn the_attribute_writes_reach_procfs_and_nothing_else() {
    // A directory that is not procfs (a hostile image's /proc) is refused.
    let tmp = tempfile::tempdir().unwrap();
    let e = open_proc(tmp.path()).unwrap_err();
    assert!(e.to_string().ends_with("is not a procfs"), "{e}");
    // The write cannot climb out of /proc/thread-self.
    let proc = open_proc(Path::new("/proc")).unwrap();
    let e = write_attr(&proc, "../../../../etc/hostname", "x").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EXDEV), "{e}");
}

#[test]
fn kernel_refusals_are_said_in_terms_of_the_field() {
    let r = req(Origin::Config, Some("p"), Some("u:r:t:s0"), None);
    let enoent = || std::io::Error::from_raw_os_error(libc::ENOENT);
    let e = explain(&r, "attr/apparmor/exec", "exec p", enoent());
    assert!(matches!(e, LsmError::NotLoaded { .. }), "{e}");
    assert!(
        e.to_string().starts_with("process.apparmorProfile \"p\": "),
        "{e}"
    );
    let e = explain(
        &r,
        "attr/exec",
        "u:r:t:s0",
        std::io::Error::from_raw_os_error(libc::EINVAL),
    );
    assert_eq!(
        e.to_string(),
        "process.selinuxLabel \"u:r:t:s0\": writing /proc/thread-self/attr/exec: Invalid argument (os error 22)"
    );
    assert_eq!(e.code(), Code::INVALID_CONFIG);
}
