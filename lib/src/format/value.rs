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
//! Go's `omitempty` leaves an empty field out of JSON but a template still sees its zero
//! value: a struct whose serde name is [`GO_OMITEMPTY`] followed by ` Field:kind` words
//! (kind `s` string, `b` bool, `n` number, `m` map, `l` slice; anything else a pointer) says
//! what its skipped fields are, e.g. `#[serde(rename = "go-omitempty Subnet:s
//! AuxiliaryAddresses:m")]`: such a field skipped by `skip_serializing_if` prints `""`,
//! `false`, `0`, `map[]` or `[]`, and stays out of `json`. serde_json never shows a struct's
//! name.
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
/// The newtype name [`GoTime`] travels as.
const GO_TIME: &str = "\u{1}go-time";

/// A time that is Go's `time.Time` in Docker's type: RFC 3339 in JSON (chrono's form), Go's
/// `Time.String()` in a template (`2024-06-01 10:00:00.5 +0000 UTC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoTime(pub chrono::DateTime<chrono::Utc>);

impl Serialize for GoTime {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_struct(GO_TIME, &self.0)
    }
}

/// The hidden entries a [`GoTime`] travels in: its JSON text and its Go text.
const TIME_JSON: &str = "\u{1}time-json";
const TIME_GO: &str = "\u{1}time-go";

/// A [`GoTime`]'s texts, (JSON, Go's `String()`), if `m` is one.
pub(super) fn time_texts(m: &HashMap<String, Value>) -> Option<(&str, &str)> {
    match (m.get(TIME_JSON), m.get(TIME_GO)) {
        (Some(Value::String(j)), Some(Value::String(g))) => Some((j, g)),
        _ => None,
    }
}

/// Go's `Time.String()` of an RFC 3339 text (the text itself if it does not parse).
fn go_time(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return rfc3339.to_string();
    };
    let t = t.with_timezone(&chrono::Utc);
    let frac = match t.timestamp_subsec_nanos() {
        0 => String::new(),
        n => format!(".{}", format!("{n:09}").trim_end_matches('0')),
    };
    format!("{}{frac} +0000 UTC", t.format("%Y-%m-%d %H:%M:%S"))
}

/// The serde name prefix of a struct listing the zero values of its omitempty fields.
pub(super) const GO_OMITEMPTY: &str = "go-omitempty";

/// The zero value a template sees for the skipped field `field` of the struct named `name`
/// (see the module docs); nil unless the name lists the field.
fn omitted_zero(name: &str, field: &str) -> Value {
    let Some(list) = name.strip_prefix(GO_OMITEMPTY) else {
        return Value::Nil;
    };
    let kind = list
        .split_whitespace()
        .filter_map(|w| w.split_once(':'))
        .find(|(f, _)| *f == field)
        .map(|(_, k)| k);
    match kind {
        Some("s") => Value::from(""),
        Some("b") => Value::Bool(false),
        Some("n") => Value::from(0u64),
        Some("m") => Value::Map(HashMap::new()),
        Some("l") => Value::Array(Vec::new()),
        _ => Value::Nil,
    }
}

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
    /// The struct's serde name (see [`omitted_zero`]).
    name: &'static str,
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
            // A time prints as Go's `String()` but stays RFC 3339 in `json`: a map of hidden
            // entries that `gofmt` and `json` read.
            GO_TIME => {
                return Ok(match inner {
                    Value::String(s) => Value::Map(HashMap::from([
                        (TIME_GO.to_string(), Value::from(go_time(&s))),
                        (TIME_JSON.to_string(), Value::from(s)),
                    ])),
                    other => other,
                });
            }
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
    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<StructBuilder, Unsupported> {
        Ok(StructBuilder {
            name,
            map: HashMap::with_capacity(len + 1),
            order: Vec::with_capacity(len),
            variant: None,
        })
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<StructBuilder, Unsupported> {
        Ok(StructBuilder {
            name,
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
        self.map.insert(name.into(), omitted_zero(self.name, name));
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
#[path = "value_tests.rs"]
mod tests;
