//! OVSDB data values (RFC 7047 section 5.1): atoms, sets and maps, and their JSON notation.
//!
//! Atoms are integers, reals, booleans, strings, `["uuid", "..."]` and `["named-uuid", "..."]`.
//! A set is `["set", [atom, ...]]` (a one-element set may be sent as the bare atom) and a map is
//! `["map", [[key, value], ...]]`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;
use uuid::Uuid;

/// One row: column name to value.
pub type Row = BTreeMap<String, Value>;

/// A single OVSDB atom.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    Integer(i64),
    Real(f64),
    Boolean(bool),
    String(String),
    Uuid(Uuid),
    /// A reference to a row inserted earlier in the same transaction.
    NamedUuid(String),
}

/// An OVSDB datum: an atom, a set of atoms or a map.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Atom(Atom),
    Set(Vec<Atom>),
    Map(Vec<(Atom, Atom)>),
}

impl Atom {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Atom::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Atom::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// Reals, and integers (the server prints integral reals without a fraction).
    pub fn as_real(&self) -> Option<f64> {
        match self {
            Atom::Real(r) => Some(*r),
            Atom::Integer(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Atom::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// The atom in RFC 7047 JSON notation.
    pub fn to_json(&self) -> Json {
        match self {
            Atom::Integer(i) => Json::from(*i),
            Atom::Real(r) => Json::from(*r),
            Atom::Boolean(b) => Json::from(*b),
            Atom::String(s) => Json::from(s.as_str()),
            Atom::Uuid(u) => serde_json::json!(["uuid", u.to_string()]),
            Atom::NamedUuid(n) => serde_json::json!(["named-uuid", n]),
        }
    }

    /// Parses an atom from RFC 7047 JSON notation.
    pub fn from_json(json: &Json) -> Result<Atom, String> {
        match json {
            Json::Bool(b) => Ok(Atom::Boolean(*b)),
            Json::String(s) => Ok(Atom::String(s.clone())),
            Json::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Ok(Atom::Integer(i))
                } else if let Some(f) = n.as_f64() {
                    Ok(Atom::Real(f))
                } else {
                    Err(format!("number out of range: {n}"))
                }
            }
            Json::Array(items) => match items.as_slice() {
                [Json::String(tag), Json::String(text)] if tag == "uuid" => Uuid::parse_str(text)
                    .map(Atom::Uuid)
                    .map_err(|e| format!("invalid uuid {text:?}: {e}")),
                [Json::String(tag), Json::String(name)] if tag == "named-uuid" => {
                    Ok(Atom::NamedUuid(name.clone()))
                }
                _ => Err(format!("not an atom: {json}")),
            },
            _ => Err(format!("not an atom: {json}")),
        }
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Integer(i) => write!(f, "{i}"),
            Atom::Real(r) => write!(f, "{r}"),
            Atom::Boolean(b) => write!(f, "{b}"),
            Atom::String(s) => write!(f, "{s}"),
            Atom::Uuid(u) => write!(f, "{u}"),
            Atom::NamedUuid(n) => write!(f, "{n}"),
        }
    }
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::Atom(Atom::String(s.into()))
    }

    pub fn integer(i: i64) -> Value {
        Value::Atom(Atom::Integer(i))
    }

    pub fn real(r: f64) -> Value {
        Value::Atom(Atom::Real(r))
    }

    pub fn boolean(b: bool) -> Value {
        Value::Atom(Atom::Boolean(b))
    }

    pub fn uuid(u: Uuid) -> Value {
        Value::Atom(Atom::Uuid(u))
    }

    pub fn named_uuid(name: impl Into<String>) -> Value {
        Value::Atom(Atom::NamedUuid(name.into()))
    }

    pub fn empty_set() -> Value {
        Value::Set(Vec::new())
    }

    pub fn set_of(atoms: Vec<Atom>) -> Value {
        Value::Set(atoms)
    }

    /// A set of row references.
    pub fn uuid_set(uuids: impl IntoIterator<Item = Uuid>) -> Value {
        Value::Set(uuids.into_iter().map(Atom::Uuid).collect())
    }

    /// A string-to-string map such as `external_ids`.
    pub fn string_map<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Value
    where
        K: Into<String>,
        V: Into<String>,
    {
        Value::Map(
            pairs
                .into_iter()
                .map(|(k, v)| (Atom::String(k.into()), Atom::String(v.into())))
                .collect(),
        )
    }

    /// The single atom of an atom or of a one-element set.
    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Value::Atom(a) => Some(a),
            Value::Set(atoms) if atoms.len() == 1 => Some(&atoms[0]),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        self.as_atom().and_then(Atom::as_str)
    }

    pub fn as_integer(&self) -> Option<i64> {
        self.as_atom().and_then(Atom::as_integer)
    }

    pub fn as_real(&self) -> Option<f64> {
        self.as_atom().and_then(Atom::as_real)
    }

    pub fn as_bool(&self) -> Option<bool> {
        self.as_atom().and_then(Atom::as_bool)
    }

    pub fn as_uuid(&self) -> Option<Uuid> {
        self.as_atom().and_then(Atom::as_uuid)
    }

    /// The elements of a set (a bare atom counts as a one-element set); empty for a map.
    pub fn as_set(&self) -> Vec<&Atom> {
        match self {
            Value::Atom(a) => vec![a],
            Value::Set(atoms) => atoms.iter().collect(),
            Value::Map(_) => Vec::new(),
        }
    }

    /// The string pairs of a map (non-string keys or values are printed); empty for non-maps.
    pub fn as_string_map(&self) -> BTreeMap<String, String> {
        match self {
            Value::Map(pairs) => pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _ => BTreeMap::new(),
        }
    }

    /// The string-to-integer pairs of a map such as `statistics`; other pairs are skipped.
    pub fn as_integer_map(&self) -> BTreeMap<String, i64> {
        self.as_map()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_integer()?)))
            .collect()
    }

    /// The string elements of a set.
    pub fn as_string_set(&self) -> Vec<String> {
        self.as_set()
            .into_iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect()
    }

    /// The integer elements of a set.
    pub fn as_integer_set(&self) -> Vec<i64> {
        self.as_set()
            .into_iter()
            .filter_map(Atom::as_integer)
            .collect()
    }

    /// The pairs of a map; empty for non-maps.
    pub fn as_map(&self) -> &[(Atom, Atom)] {
        match self {
            Value::Map(pairs) => pairs,
            _ => &[],
        }
    }

    /// The uuids of a set of row references.
    pub fn as_uuid_set(&self) -> Vec<Uuid> {
        self.as_set()
            .into_iter()
            .filter_map(Atom::as_uuid)
            .collect()
    }

    /// The value in RFC 7047 JSON notation.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Atom(a) => a.to_json(),
            Value::Set(atoms) => {
                serde_json::json!(["set", atoms.iter().map(Atom::to_json).collect::<Vec<_>>()])
            }
            Value::Map(pairs) => serde_json::json!([
                "map",
                pairs
                    .iter()
                    .map(|(k, v)| Json::Array(vec![k.to_json(), v.to_json()]))
                    .collect::<Vec<_>>()
            ]),
        }
    }

    /// Parses a value from RFC 7047 JSON notation.
    pub fn from_json(json: &Json) -> Result<Value, String> {
        if let Json::Array(items) = json {
            if let [Json::String(tag), Json::Array(elements)] = items.as_slice() {
                match tag.as_str() {
                    "set" => {
                        return elements
                            .iter()
                            .map(Atom::from_json)
                            .collect::<Result<Vec<_>, _>>()
                            .map(Value::Set)
                    }
                    "map" => {
                        return elements
                            .iter()
                            .map(|pair| match pair {
                                Json::Array(kv) if kv.len() == 2 => {
                                    Ok((Atom::from_json(&kv[0])?, Atom::from_json(&kv[1])?))
                                }
                                _ => Err(format!("not a map pair: {pair}")),
                            })
                            .collect::<Result<Vec<_>, _>>()
                            .map(Value::Map)
                    }
                    _ => {}
                }
            }
        }
        Atom::from_json(json).map(Value::Atom)
    }
}

/// Parses a row object (`{"column": value, ...}`).
pub fn row_from_json(json: &Json) -> Result<Row, String> {
    let object = json
        .as_object()
        .ok_or_else(|| format!("row is not an object: {json}"))?;
    object
        .iter()
        .map(|(column, value)| {
            Value::from_json(value)
                .map(|v| (column.clone(), v))
                .map_err(|e| format!("column {column}: {e}"))
        })
        .collect()
}

/// A row in JSON notation.
pub fn row_to_json(row: &Row) -> Json {
    Json::Object(
        row.iter()
            .map(|(column, value)| (column.clone(), value.to_json()))
            .collect(),
    )
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl Serialize for Atom {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Atom::Integer(i) => serializer.serialize_i64(*i),
            Atom::Real(r) => serializer.serialize_f64(*r),
            Atom::Boolean(b) => serializer.serialize_bool(*b),
            Atom::String(s) => serializer.serialize_str(s),
            Atom::Uuid(u) => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element("uuid")?;
                tuple.serialize_element(&u.to_string())?;
                tuple.end()
            }
            Atom::NamedUuid(n) => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element("named-uuid")?;
                tuple.serialize_element(n)?;
                tuple.end()
            }
        }
    }
}

struct Pairs<'a>(&'a [(Atom, Atom)]);

impl Serialize for Pairs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for pair in self.0 {
            seq.serialize_element(&[&pair.0, &pair.1])?;
        }
        seq.end()
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Atom(a) => a.serialize(serializer),
            Value::Set(atoms) => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element("set")?;
                tuple.serialize_element(atoms)?;
                tuple.end()
            }
            Value::Map(pairs) => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element("map")?;
                tuple.serialize_element(&Pairs(pairs))?;
                tuple.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Atom {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Json::deserialize(deserializer)?;
        Atom::from_json(&json).map_err(D::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Json::deserialize(deserializer)?;
        Value::from_json(&json).map_err(D::Error::custom)
    }
}

impl From<Atom> for Value {
    fn from(atom: Atom) -> Value {
        Value::Atom(atom)
    }
}

macro_rules! value_from {
    ($($ty:ty => $variant:ident $(via $conv:ident)?),* $(,)?) => {$(
        impl From<$ty> for Atom {
            fn from(v: $ty) -> Atom {
                Atom::$variant(v $(.$conv())?)
            }
        }
        impl From<$ty> for Value {
            fn from(v: $ty) -> Value {
                Value::Atom(Atom::from(v))
            }
        }
    )*};
}

value_from! {
    i64 => Integer,
    f64 => Real,
    bool => Boolean,
    String => String,
    &str => String via to_string,
    &String => String via clone,
    Uuid => Uuid,
}

impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::integer(v.into())
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::integer(v.into())
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::integer(v.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(value: &Value) -> Value {
        let text = serde_json::to_string(value).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn atoms_serialize_to_rfc_notation() {
        let u = Uuid::parse_str("36bd0bd2-2ee6-4bf4-8e0d-d6b5d4f4e0a1").unwrap();
        assert_eq!(serde_json::to_value(Value::integer(5)).unwrap(), json!(5));
        assert_eq!(
            serde_json::to_value(Value::string("x")).unwrap(),
            json!("x")
        );
        assert_eq!(
            serde_json::to_value(Value::boolean(true)).unwrap(),
            json!(true)
        );
        assert_eq!(
            serde_json::to_value(Value::uuid(u)).unwrap(),
            json!(["uuid", "36bd0bd2-2ee6-4bf4-8e0d-d6b5d4f4e0a1"])
        );
        assert_eq!(
            serde_json::to_value(Value::named_uuid("row1")).unwrap(),
            json!(["named-uuid", "row1"])
        );
    }

    #[test]
    fn sets_and_maps_serialize_to_rfc_notation() {
        assert_eq!(
            serde_json::to_value(Value::empty_set()).unwrap(),
            json!(["set", []])
        );
        assert_eq!(
            serde_json::to_value(Value::set_of(vec![Atom::Integer(1), Atom::Integer(2)])).unwrap(),
            json!(["set", [1, 2]])
        );
        assert_eq!(
            serde_json::to_value(Value::string_map([("a", "1"), ("b", "2")])).unwrap(),
            json!(["map", [["a", "1"], ["b", "2"]]])
        );
        assert_eq!(
            Value::string_map([("k", "v")]).to_json(),
            json!(["map", [["k", "v"]]])
        );
    }

    #[test]
    fn values_round_trip() {
        let values = [
            Value::integer(-7),
            Value::real(1.5),
            Value::string("with \"quotes\" and {braces}"),
            Value::uuid(Uuid::new_v4()),
            Value::named_uuid("n"),
            Value::empty_set(),
            Value::uuid_set([Uuid::new_v4(), Uuid::new_v4()]),
            Value::string_map([("x", "y")]),
            Value::Map(vec![(Atom::Integer(1), Atom::Uuid(Uuid::new_v4()))]),
        ];
        for value in values {
            assert_eq!(round_trip(&value), value);
        }
    }

    #[test]
    fn deserialize_bare_atom_as_one_element_set() {
        let u = Uuid::new_v4();
        let value: Value = serde_json::from_value(json!(["uuid", u.to_string()])).unwrap();
        assert_eq!(value.as_uuid_set(), vec![u]);
        assert_eq!(value.as_set().len(), 1);
        let value: Value = serde_json::from_value(json!(["set", [5]])).unwrap();
        assert_eq!(value.as_integer(), Some(5));
        let value: Value = serde_json::from_value(json!(["set", []])).unwrap();
        assert!(value.as_set().is_empty());
        assert_eq!(value.as_integer(), None);
        assert_eq!(value.as_str(), None);
    }

    #[test]
    fn deserialize_map_accessors() {
        let value: Value =
            serde_json::from_value(json!(["map", [["a", "1"], ["b", "two"]]])).unwrap();
        let map = value.as_string_map();
        assert_eq!(map.get("a").map(String::as_str), Some("1"));
        assert_eq!(map.get("b").map(String::as_str), Some("two"));
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn rejects_malformed_values() {
        assert!(serde_json::from_value::<Value>(json!(["uuid", "not-a-uuid"])).is_err());
        assert!(serde_json::from_value::<Value>(json!({"a": 1})).is_err());
        assert!(serde_json::from_value::<Value>(json!(["map", [["a"]]])).is_err());
        assert!(serde_json::from_value::<Value>(json!(null)).is_err());
    }

    #[test]
    fn real_and_integer_are_distinguished() {
        let value: Value = serde_json::from_value(json!(2.5)).unwrap();
        assert_eq!(value, Value::real(2.5));
        let value: Value = serde_json::from_value(json!(3)).unwrap();
        assert_eq!(value.as_integer(), Some(3));
        assert_eq!(value.as_real(), Some(3.0));
    }

    #[test]
    fn reals_round_trip_exactly() {
        // Found by tests/proptest_codec.rs: serde_json's default float parsing can be one ulp
        // off, so a real read back from its JSON text differed from the one written.
        for r in [
            -1.0364436736334099e-63,
            -1.5835278524409679e180,
            2.7821055147794986e76,
        ] {
            let text = serde_json::to_string(&Value::real(r)).unwrap();
            assert_eq!(
                serde_json::from_str::<Value>(&text).unwrap(),
                Value::real(r)
            );
        }
    }

    #[test]
    fn row_parsing() {
        let u = Uuid::new_v4();
        let row = row_from_json(&json!({
            "_uuid": ["uuid", u.to_string()],
            "name": "br0",
            "ports": ["set", []],
        }))
        .unwrap();
        assert_eq!(row["_uuid"].as_uuid(), Some(u));
        assert_eq!(row["name"].as_str(), Some("br0"));
        assert_eq!(row_to_json(&row)["name"], json!("br0"));
    }
}
