//! Any `Serialize` value as a template value that keeps what Go's text/template sees: a struct
//! (serde's `serialize_struct`) becomes an object whose fields keep their declared order and
//! whose unknown fields are errors, a map (`serialize_map`, and a `serde_json::Value` object)
//! stays a map printed sorted by key, as Go prints maps.
//!
//! gtmpl's objects are hash maps, so a struct's field order travels in a hidden entry
//! ([`FIELDS`]) that no template can name (`.` lookups cannot spell a control character). A
//! field serde skipped (`skip_serializing_if`) is kept as `nil`, so `{{.State.Health}}` prints
//! `<nil>` as Docker's typed struct does, and is left out of `json` as Go's `omitempty` is.
//!
//! Go tells a nil map or slice from a nil pointer (`map[]`, `[]`, `<nil>`); an `Option` does
//! not say what it holds, so a field that is a Go map or slice says so with
//! `#[serde(serialize_with = "go_nil_map")]` (or [`go_nil_slice`]): JSON still writes `null`,
//! a template prints `map[]` (or `[]`), ranges over nothing, and `json` of the struct writes
//! `null` for it.

use std::collections::HashMap;

use gtmpl::Value;
use serde::ser::{self, Serialize};

/// The hidden entry of an object listing its fields in order; a name starting with [`OMIT`]
/// is a field serde skipped.
pub(super) const FIELDS: &str = "\u{1}fields";
/// Prefix of a skipped field's name in [`FIELDS`].
pub(super) const OMIT: char = '\u{2}';
/// Prefix of a nil map or slice field's name in [`FIELDS`] (`null` in `json`).
const NIL: char = '\u{3}';
/// The newtype names [`go_nil_map`] and [`go_nil_slice`] wrap a field in.
const GO_NIL_MAP: &str = "\u{1}go-nil-map";
const GO_NIL_SLICE: &str = "\u{1}go-nil-slice";
/// The key of the value a nil map or slice travels as, until its struct takes it.
const NIL_MARK: &str = "\u{1}nil";
/// The hidden entry of a map (a struct serde wrote as a map: `#[serde(flatten)]`) listing
/// its nil map or slice entries, `null` in `json`.
const NILS: &str = "\u{1}nils";

/// Whether a key is one of the hidden entries, never printed or written.
pub(super) fn hidden(key: &str) -> bool {
    key.starts_with('\u{1}')
}

/// The entries of a map that are nil maps or slices.
pub(super) fn nil_entries(m: &HashMap<String, Value>) -> Vec<&str> {
    match m.get(NILS) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// serde `serialize_with` for an `Option` that is a Go map: `None` prints `map[]`.
pub fn go_nil_map<T: Serialize, S: ser::Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_newtype_struct(GO_NIL_MAP, v)
}

/// serde `serialize_with` for an `Option` that is a Go slice: `None` prints `[]`.
pub fn go_nil_slice<T: Serialize, S: ser::Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.serialize_newtype_struct(GO_NIL_SLICE, v)
}

/// A value as its container keeps it, and whether it is a nil map or slice.
fn unmark(v: Value) -> (Value, bool) {
    match &v {
        Value::Map(m) if m.len() == 1 => match m.get(NIL_MARK) {
            Some(Value::String(k)) if k == "map" => (Value::Map(HashMap::new()), true),
            Some(Value::String(_)) => (Value::Array(Vec::new()), true),
            _ => (v, false),
        },
        _ => (v, false),
    }
}

/// What a struct's field is, for printing and `json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    Set,
    /// Skipped by serde: `<nil>`, left out of `json`.
    Skipped,
    /// A nil map or slice: printed empty, `null` in `json`.
    Nil,
}

/// `v` as a template value (see the module docs).
pub(super) fn from_serialize<T: Serialize + ?Sized>(v: &T) -> Value {
    unmark(v.serialize(ValueSerializer).unwrap_or(Value::Nil)).0
}

/// The fields of an object in declaration order (`None` for a map), with what each is.
pub(super) fn fields(m: &HashMap<String, Value>) -> Option<Vec<(&str, Field)>> {
    match m.get(FIELDS)? {
        Value::Array(a) => Some(
            a.iter()
                .filter_map(|n| match n {
                    Value::String(s) => Some(if let Some(name) = s.strip_prefix(OMIT) {
                        (name, Field::Skipped)
                    } else if let Some(name) = s.strip_prefix(NIL) {
                        (name, Field::Nil)
                    } else {
                        (s.as_str(), Field::Set)
                    }),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// Makes a map (a list row built as JSON) a struct whose fields are its keys, sorted.
pub(super) fn as_struct(v: Value) -> Value {
    match v {
        Value::Map(mut m) => {
            let mut names: Vec<String> = m.keys().cloned().collect();
            names.sort();
            m.insert(
                FIELDS.into(),
                Value::Array(names.into_iter().map(Value::from).collect()),
            );
            Value::Object(m)
        }
        other => other,
    }
}

#[derive(Debug)]
pub(super) struct Unsupported(String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

type Res = Result<Value, Unsupported>;

struct ValueSerializer;

/// A list being built (seq, tuple, tuple struct or variant).
struct SeqBuilder {
    items: Vec<Value>,
    variant: Option<&'static str>,
}

/// A map being built.
struct MapBuilder {
    map: HashMap<String, Value>,
    key: Option<String>,
    nils: Vec<Value>,
}

/// A struct being built.
struct StructBuilder {
    map: HashMap<String, Value>,
    order: Vec<Value>,
    variant: Option<&'static str>,
}

fn wrap_variant(variant: Option<&'static str>, v: Value) -> Value {
    match variant {
        None => v,
        Some(name) => Value::Map(HashMap::from([(name.to_string(), v)])),
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Unsupported;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = StructBuilder;
    type SerializeStructVariant = StructBuilder;

    fn serialize_bool(self, v: bool) -> Res {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Res {
        Ok(Value::from(v as i64))
    }
    fn serialize_i16(self, v: i16) -> Res {
        Ok(Value::from(v as i64))
    }
    fn serialize_i32(self, v: i32) -> Res {
        Ok(Value::from(v as i64))
    }
    fn serialize_i64(self, v: i64) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_u8(self, v: u8) -> Res {
        Ok(Value::from(v as u64))
    }
    fn serialize_u16(self, v: u16) -> Res {
        Ok(Value::from(v as u64))
    }
    fn serialize_u32(self, v: u32) -> Res {
        Ok(Value::from(v as u64))
    }
    fn serialize_u64(self, v: u64) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_f32(self, v: f32) -> Res {
        Ok(Value::from(v as f64))
    }
    fn serialize_f64(self, v: f64) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_char(self, v: char) -> Res {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Res {
        Ok(Value::from(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Res {
        Ok(Value::Array(
            v.iter().map(|b| Value::from(*b as u64)).collect(),
        ))
    }
    fn serialize_none(self) -> Res {
        Ok(Value::Nil)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Res {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Res {
        Ok(Value::Nil)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Res {
        Ok(Value::Nil)
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Res {
        Ok(Value::from(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, name: &'static str, v: &T) -> Res {
        let inner = v.serialize(self)?;
        let kind = match name {
            GO_NIL_MAP => "map",
            GO_NIL_SLICE => "slice",
            _ => return Ok(inner),
        };
        Ok(match inner {
            Value::Nil => Value::Map(HashMap::from([(NIL_MARK.to_string(), Value::from(kind))])),
            other => other,
        })
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        v: &T,
    ) -> Res {
        Ok(wrap_variant(Some(variant), v.serialize(self)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, Unsupported> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.unwrap_or(0)),
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, Unsupported> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<MapBuilder, Unsupported> {
        Ok(MapBuilder {
            map: HashMap::new(),
            key: None,
            nils: Vec::new(),
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<StructBuilder, Unsupported> {
        Ok(StructBuilder {
            map: HashMap::with_capacity(len + 1),
            order: Vec::with_capacity(len),
            variant: None,
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<StructBuilder, Unsupported> {
        Ok(StructBuilder {
            map: HashMap::with_capacity(len + 1),
            order: Vec::with_capacity(len),
            variant: Some(variant),
        })
    }
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.items.push(unmark(v.serialize(ValueSerializer)?).0);
        Ok(())
    }
    fn done(self) -> Res {
        Ok(wrap_variant(self.variant, Value::Array(self.items)))
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.push(v)
    }
    fn end(self) -> Res {
        self.done()
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.push(v)
    }
    fn end(self) -> Res {
        self.done()
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.push(v)
    }
    fn end(self) -> Res {
        self.done()
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        self.push(v)
    }
    fn end(self) -> Res {
        self.done()
    }
}

/// A map key as text, as JSON would write it.
fn key_text(k: Value) -> String {
    match k {
        Value::String(s) => s,
        other => super::funcs::gofmt(&other),
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Unsupported> {
        self.key = Some(key_text(k.serialize(ValueSerializer)?));
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Unsupported> {
        let k = self.key.take().unwrap_or_default();
        let (v, nil) = unmark(v.serialize(ValueSerializer)?);
        if nil {
            self.nils.push(Value::from(k.as_str()));
        }
        self.map.insert(k, v);
        Ok(())
    }
    fn end(mut self) -> Res {
        if !self.nils.is_empty() {
            self.map.insert(NILS.into(), Value::Array(self.nils));
        }
        Ok(Value::Map(self.map))
    }
}

impl StructBuilder {
    fn field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        let (v, nil) = unmark(v.serialize(ValueSerializer)?);
        self.order.push(Value::from(if nil {
            format!("{NIL}{name}")
        } else {
            name.to_string()
        }));
        self.map.insert(name.into(), v);
        Ok(())
    }
    fn skip(&mut self, name: &'static str) {
        self.order.push(Value::from(format!("{OMIT}{name}")));
        self.map.insert(name.into(), Value::Nil);
    }
    fn done(mut self) -> Res {
        self.map.insert(FIELDS.into(), Value::Array(self.order));
        Ok(wrap_variant(self.variant, Value::Object(self.map)))
    }
}

impl ser::SerializeStruct for StructBuilder {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        self.field(name, v)
    }
    fn skip_field(&mut self, name: &'static str) -> Result<(), Unsupported> {
        self.skip(name);
        Ok(())
    }
    fn end(self) -> Res {
        self.done()
    }
}

impl ser::SerializeStructVariant for StructBuilder {
    type Ok = Value;
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Unsupported> {
        self.field(name, v)
    }
    fn skip_field(&mut self, name: &'static str) -> Result<(), Unsupported> {
        self.skip(name);
        Ok(())
    }
    fn end(self) -> Res {
        self.done()
    }
}

#[cfg(test)]
mod tests {
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
}
