//! Tests of `value`: Go's view of serde documents.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::format::Template;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Binding {
    host_ip: String,
    host_port: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Policy {
    name: String,
    maximum_retry_count: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Doc {
    // Declared out of alphabetical order on purpose.
    zeta: String,
    running: bool,
    pid: i32,
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<Policy>,
    env: Vec<String>,
    cmd: Option<Vec<String>>,
    ports: BTreeMap<String, Option<Vec<Binding>>>,
    labels: BTreeMap<String, String>,
    restart_policy: Policy,
    list_of_structs: Vec<Policy>,
}

fn doc() -> Doc {
    Doc {
        zeta: "last-in-abc".into(),
        running: true,
        pid: 42,
        error: String::new(),
        health: None,
        env: vec!["A=1".into(), "B=2".into()],
        cmd: None,
        ports: BTreeMap::from([
            (
                "80/tcp".into(),
                Some(vec![Binding {
                    host_ip: "0.0.0.0".into(),
                    host_port: "8080".into(),
                }]),
            ),
            ("53/udp".into(), None),
        ]),
        labels: BTreeMap::from([("b".into(), "2".into()), ("a".into(), "1".into())]),
        restart_policy: Policy {
            name: "no".into(),
            maximum_retry_count: 0,
        },
        list_of_structs: vec![
            Policy {
                name: "x".into(),
                maximum_retry_count: 1,
            },
            Policy {
                name: "y".into(),
                maximum_retry_count: 2,
            },
        ],
    }
}

fn render(t: &str) -> String {
    Template::parse(t).unwrap().render(&doc()).unwrap()
}

#[test]
fn structs_print_their_values_in_field_order() {
    assert_eq!(render("{{.RestartPolicy}}"), "{no 0}");
    // Empty strings leave their gap, a skipped Option is nil, as Go prints them.
    assert_eq!(
        Template::parse("{{.}}")
            .unwrap()
            .render(&Policy {
                name: String::new(),
                maximum_retry_count: 3
            })
            .unwrap(),
        "{ 3}"
    );
    let whole = render("{{.}}");
    assert!(
        whole.starts_with("{last-in-abc true 42  <nil> [A=1 B=2] <nil> map["),
        "{whole}"
    );
    assert_eq!(render("{{.ListOfStructs}}"), "[{x 1} {y 2}]");
    assert_eq!(render("{{.Health}}"), "<nil>");
}

#[test]
fn maps_print_sorted_and_nested_values_as_go_does() {
    assert_eq!(
        render("{{.Ports}}"),
        "map[53/udp:<nil> 80/tcp:[{0.0.0.0 8080}]]"
    );
    assert_eq!(render("{{.Labels}}"), "map[a:1 b:2]");
    assert_eq!(render("{{.Env}}"), "[A=1 B=2]");
    assert_eq!(render("{{.Cmd}}"), "<nil>");
    assert_eq!(
        Template::parse("{{.}}")
            .unwrap()
            .render(&BTreeMap::<String, String>::new())
            .unwrap(),
        "map[]"
    );
    assert_eq!(render(r#"{{index .Labels "b"}}"#), "2");
    assert_eq!(render("{{.Labels.nope}}"), "<no value>");
    assert_eq!(
        render(r#"{{(index (index .Ports "80/tcp") 0).HostPort}}"#),
        "8080"
    );
}

#[test]
fn json_keeps_field_order_and_leaves_skipped_fields_out() {
    assert_eq!(
        render("{{json .RestartPolicy}}"),
        r#"{"Name":"no","MaximumRetryCount":0}"#
    );
    let whole = render("{{json .}}");
    assert!(
        whole.starts_with(r#"{"Zeta":"last-in-abc","Running":true,"Pid":42,"Error":"","Env":"#),
        "{whole}"
    );
    assert!(!whole.contains("Health"), "{whole}");
    assert!(whole.contains(r#""Labels":{"a":"1","b":"2"}"#), "{whole}");
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Nils {
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    binds: Option<Vec<String>>,
    #[serde(serialize_with = "crate::format::go_nil_map")]
    volumes: Option<BTreeMap<String, String>>,
    pointer: Option<Policy>,
    #[serde(serialize_with = "crate::format::go_nil_slice")]
    set: Option<Vec<String>>,
}

#[test]
fn nil_maps_and_slices_print_empty_and_stay_null_in_json() {
    let n = Nils {
        binds: None,
        volumes: None,
        pointer: None,
        set: Some(vec!["a".into()]),
    };
    let r = |t: &str| Template::parse(t).unwrap().render(&n).unwrap();
    assert_eq!(r("{{.}}"), "{[] map[] <nil> [a]}");
    assert_eq!(r("{{.Binds}}|{{.Volumes}}|{{.Pointer}}"), "[]|map[]|<nil>");
    assert_eq!(
        r("{{range .Binds}}x{{end}}{{range .Volumes}}y{{end}}|"),
        "|"
    );
    assert_eq!(
        r("{{json .}}"),
        r#"{"Binds":null,"Volumes":null,"Pointer":null,"Set":["a"]}"#
    );
    // A struct serde writes as a map (flatten) keeps its nil entries null in json.
    #[derive(Serialize)]
    struct Flat {
        #[serde(flatten)]
        inner: Nils,
    }
    let flat = Flat { inner: n };
    let r = |t: &str| Template::parse(t).unwrap().render(&flat).unwrap();
    assert_eq!(r("{{.Binds}}|{{.Volumes}}"), "[]|map[]");
    assert_eq!(
        r("{{json .}}"),
        r#"{"Binds":null,"Pointer":null,"Set":["a"],"Volumes":null}"#
    );
    assert_eq!(
        r("{{.}}"),
        "map[Binds:[] Pointer:<nil> Set:[a] Volumes:map[]]"
    );
    let n = flat.inner;
    // serde_json sees plain Options.
    assert_eq!(
        serde_json::to_string(&n).unwrap(),
        r#"{"Binds":null,"Volumes":null,"Pointer":null,"Set":["a"]}"#
    );
}

#[derive(Serialize)]
#[serde(
    rename = "go-omitempty Subnet:s IPRange:s Gateway:s AuxiliaryAddresses:m Open:b",
    rename_all = "PascalCase"
)]
struct Pool {
    #[serde(skip_serializing_if = "String::is_empty")]
    subnet: String,
    #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
    ip_range: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    gateway: String,
    #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "Option::is_none")]
    aux: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pointer: Option<Policy>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    open: bool,
}

#[test]
fn omitempty_fields_print_their_zero_value_and_stay_out_of_json() {
    let p = Pool {
        subnet: "172.18.0.0/16".into(),
        ip_range: String::new(),
        gateway: "172.18.0.1".into(),
        aux: None,
        pointer: None,
        open: false,
    };
    let r = |t: &str| Template::parse(t).unwrap().render(&p).unwrap();
    assert_eq!(r("{{.}}"), "{172.18.0.0/16  172.18.0.1 map[] <nil> false}");
    assert_eq!(r("[{{.IPRange}}]{{len .AuxiliaryAddresses}}"), "[]0");
    assert_eq!(
        r("{{json .}}"),
        r#"{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}"#
    );
    assert_eq!(
        serde_json::to_string(&p).unwrap(),
        r#"{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}"#
    );
}

#[test]
fn a_struct_names_only_its_fields() {
    let e = Template::parse("{{.RestartPolicy.Nope}}")
        .unwrap()
        .render(&doc())
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--format template failed: can't evaluate field Nope"
    );
    // The hidden order entry cannot be reached or ranged over by a template's lookups.
    assert_eq!(render("{{.Pid}} {{if .Running}}up{{end}}"), "42 up");
}

#[test]
fn times_are_rfc3339_in_json_and_go_strings_in_templates() {
    use crate::format::GoTime;
    #[derive(Serialize)]
    struct T {
        #[serde(rename = "Created")]
        created: GoTime,
        #[serde(rename = "Whole")]
        whole: GoTime,
    }
    let t = T {
        created: GoTime("2024-06-01T10:00:00.120Z".parse().unwrap()),
        whole: GoTime("2024-06-01T10:00:00Z".parse().unwrap()),
    };
    let r = |s: &str| Template::parse(s).unwrap().render(&t).unwrap();
    assert_eq!(
        r("{{.Created}}|{{.Whole}}"),
        "2024-06-01 10:00:00.12 +0000 UTC|2024-06-01 10:00:00 +0000 UTC"
    );
    assert_eq!(
        serde_json::to_string(&t).unwrap(),
        r#"{"Created":"2024-06-01T10:00:00.120Z","Whole":"2024-06-01T10:00:00Z"}"#
    );
    // json keeps RFC 3339, as Go's encoder writes a time.Time; printf and print see String().
    assert_eq!(
        r("{{json .Created}} {{json .}}"),
        r#""2024-06-01T10:00:00.120Z" {"Created":"2024-06-01T10:00:00.120Z","Whole":"2024-06-01T10:00:00Z"}"#
    );
    assert_eq!(
        r(r#"{{printf "%s" .Whole}}|{{print .Whole}}|{{.}}"#),
        "2024-06-01 10:00:00 +0000 UTC|2024-06-01 10:00:00 +0000 UTC|\
         {2024-06-01 10:00:00.12 +0000 UTC 2024-06-01 10:00:00 +0000 UTC}"
    );
}
