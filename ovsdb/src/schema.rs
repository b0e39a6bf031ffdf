//! Database schemas (RFC 7047 section 3.2), as far as a client needs them: tables, columns and
//! whether each column holds a scalar, a set or a map. The raw JSON is kept as well.

use std::collections::BTreeMap;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::value::{Atom, Value};

/// The shape of a column's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Exactly one atom (`min` = `max` = 1, no value type).
    Scalar,
    /// A set of atoms, including optional values (`min` 0, `max` 1).
    Set,
    Map,
}

/// One column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnSchema {
    pub kind: ColumnKind,
    /// Atomic type of the keys (or of the elements): "integer", "string", "uuid", ...
    pub key_type: String,
    /// Atomic type of map values.
    pub value_type: Option<String>,
    /// For uuid keys referencing another table.
    pub ref_table: Option<String>,
    pub min: u64,
    /// `None` means "unlimited".
    pub max: Option<u64>,
}

/// One table's columns (including the implicit `_uuid` and `_version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSchema {
    pub columns: BTreeMap<String, ColumnSchema>,
    pub is_root: bool,
}

/// A database schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub name: String,
    pub version: String,
    pub tables: BTreeMap<String, TableSchema>,
    /// The schema exactly as the server sent it.
    pub raw: Json,
}

impl ColumnSchema {
    /// The value a column has when it was never set (what the server omits in `update2` rows).
    pub fn default_value(&self) -> Value {
        let atom = || match self.key_type.as_str() {
            "integer" => Atom::Integer(0),
            "real" => Atom::Real(0.0),
            "boolean" => Atom::Boolean(false),
            "uuid" => Atom::Uuid(uuid::Uuid::nil()),
            _ => Atom::String(String::new()),
        };
        match self.kind {
            ColumnKind::Scalar => Value::Atom(atom()),
            ColumnKind::Set if self.min > 0 => Value::Set(vec![atom()]),
            ColumnKind::Set => Value::empty_set(),
            ColumnKind::Map => Value::Map(Vec::new()),
        }
    }

    /// Whether `update2` diffs of this column are the new value (scalars and optional values)
    /// rather than a set difference.
    pub(crate) fn diff_is_new_value(&self) -> bool {
        self.kind == ColumnKind::Scalar || (self.kind == ColumnKind::Set && self.max == Some(1))
    }

    fn uuid_scalar() -> Self {
        ColumnSchema {
            kind: ColumnKind::Scalar,
            key_type: "uuid".into(),
            value_type: None,
            ref_table: None,
            min: 1,
            max: Some(1),
        }
    }
}

impl Schema {
    pub fn from_json(raw: Json) -> Result<Schema> {
        let bad = |why: String| Error::Protocol(format!("invalid schema: {why}"));
        let name = raw
            .get("name")
            .and_then(Json::as_str)
            .ok_or_else(|| bad("missing name".into()))?
            .to_string();
        let version = raw
            .get("version")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let tables_json = raw
            .get("tables")
            .and_then(Json::as_object)
            .ok_or_else(|| bad("missing tables".into()))?;
        let mut tables = BTreeMap::new();
        for (table_name, table) in tables_json {
            let columns_json = table
                .get("columns")
                .and_then(Json::as_object)
                .ok_or_else(|| bad(format!("table {table_name} has no columns")))?;
            let mut columns = BTreeMap::new();
            columns.insert("_uuid".to_string(), ColumnSchema::uuid_scalar());
            columns.insert("_version".to_string(), ColumnSchema::uuid_scalar());
            for (column_name, column) in columns_json {
                let column_type = column
                    .get("type")
                    .ok_or_else(|| bad(format!("column {table_name}.{column_name} has no type")))?;
                let parsed = parse_column_type(column_type)
                    .map_err(|why| bad(format!("column {table_name}.{column_name}: {why}")))?;
                columns.insert(column_name.clone(), parsed);
            }
            let is_root = table.get("isRoot").and_then(Json::as_bool).unwrap_or(false);
            tables.insert(table_name.clone(), TableSchema { columns, is_root });
        }
        Ok(Schema {
            name,
            version,
            tables,
            raw,
        })
    }

    /// The kind of a column, if the table and column exist.
    pub fn column_kind(&self, table: &str, column: &str) -> Option<ColumnKind> {
        self.tables.get(table)?.columns.get(column).map(|c| c.kind)
    }
}

/// Returns (atomic type, refTable) of a base type.
fn parse_base_type(json: &Json) -> Result<(String, Option<String>), String> {
    match json {
        Json::String(s) => Ok((s.clone(), None)),
        Json::Object(o) => {
            let atomic = o
                .get("type")
                .and_then(Json::as_str)
                .ok_or("base type without \"type\"")?;
            let ref_table = o.get("refTable").and_then(Json::as_str).map(str::to_string);
            Ok((atomic.to_string(), ref_table))
        }
        other => Err(format!("bad base type {other}")),
    }
}

fn parse_column_type(json: &Json) -> Result<ColumnSchema, String> {
    match json {
        Json::String(atomic) => Ok(ColumnSchema {
            kind: ColumnKind::Scalar,
            key_type: atomic.clone(),
            value_type: None,
            ref_table: None,
            min: 1,
            max: Some(1),
        }),
        Json::Object(o) => {
            let (key_type, ref_table) = parse_base_type(o.get("key").ok_or("type without key")?)?;
            let value_type = o
                .get("value")
                .map(parse_base_type)
                .transpose()?
                .map(|(t, _)| t);
            let min = o.get("min").and_then(Json::as_u64).unwrap_or(1);
            let max = match o.get("max") {
                None => Some(1),
                Some(Json::String(s)) if s == "unlimited" => None,
                Some(m) => Some(m.as_u64().ok_or_else(|| format!("bad max {m}"))?),
            };
            let kind = if value_type.is_some() {
                ColumnKind::Map
            } else if min == 1 && max == Some(1) {
                ColumnKind::Scalar
            } else {
                ColumnKind::Set
            };
            Ok(ColumnSchema {
                kind,
                key_type,
                value_type,
                ref_table,
                min,
                max,
            })
        }
        other => Err(format!("bad column type {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_column_kinds() {
        let schema = Schema::from_json(json!({
            "name": "T", "version": "1.0.0",
            "tables": {"Bridge": {"isRoot": true, "columns": {
                "name": {"type": "string"},
                "ports": {"type": {"key": {"type": "uuid", "refTable": "Port"}, "min": 0, "max": "unlimited"}},
                "tag": {"type": {"key": {"type": "integer", "minInteger": 0}, "min": 0, "max": 1}},
                "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}},
                "flag": {"type": {"key": "boolean"}}
            }}}
        }))
        .unwrap();
        assert_eq!(schema.name, "T");
        let kind = |c| schema.column_kind("Bridge", c);
        assert_eq!(kind("name"), Some(ColumnKind::Scalar));
        assert_eq!(kind("ports"), Some(ColumnKind::Set));
        assert_eq!(kind("tag"), Some(ColumnKind::Set));
        assert_eq!(kind("external_ids"), Some(ColumnKind::Map));
        assert_eq!(kind("flag"), Some(ColumnKind::Scalar));
        assert_eq!(kind("_uuid"), Some(ColumnKind::Scalar));
        assert_eq!(kind("nope"), None);
        let ports = &schema.tables["Bridge"].columns["ports"];
        assert_eq!(ports.ref_table.as_deref(), Some("Port"));
        assert_eq!(ports.max, None);
        assert!(schema.tables["Bridge"].is_root);
        let column = |c: &str| &schema.tables["Bridge"].columns[c];
        assert_eq!(column("name").default_value(), Value::string(""));
        assert_eq!(column("tag").default_value(), Value::empty_set());
        assert_eq!(column("external_ids").default_value(), Value::Map(vec![]));
        assert_eq!(column("flag").default_value(), Value::boolean(false));
        assert!(column("tag").diff_is_new_value());
        assert!(!column("ports").diff_is_new_value());
    }

    #[test]
    fn rejects_garbage() {
        assert!(Schema::from_json(json!({"tables": {}})).is_err());
        assert!(Schema::from_json(json!({"name": "x"})).is_err());
        assert!(Schema::from_json(
            json!({"name": "x", "tables": {"T": {"columns": {"c": {"type": 5}}}}})
        )
        .is_err());
    }
}
