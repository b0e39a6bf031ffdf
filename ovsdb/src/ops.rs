//! Transaction operations (RFC 7047 section 5.2) and their results.

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value as Json};
use uuid::Uuid;

use crate::value::{row_from_json, row_to_json, Row, Value};

/// Comparison function of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
    Includes,
    Excludes,
}

impl Function {
    pub fn as_str(self) -> &'static str {
        match self {
            Function::Lt => "<",
            Function::Le => "<=",
            Function::Eq => "==",
            Function::Ne => "!=",
            Function::Ge => ">=",
            Function::Gt => ">",
            Function::Includes => "includes",
            Function::Excludes => "excludes",
        }
    }
}

/// `[column, function, value]`: selects rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub column: String,
    pub function: Function,
    pub value: Value,
}

impl Condition {
    pub fn new(column: impl Into<String>, function: Function, value: impl Into<Value>) -> Self {
        Condition {
            column: column.into(),
            function,
            value: value.into(),
        }
    }

    pub fn eq(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Condition::new(column, Function::Eq, value)
    }

    pub fn ne(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Condition::new(column, Function::Ne, value)
    }

    pub fn includes(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Condition::new(column, Function::Includes, value)
    }

    pub fn excludes(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Condition::new(column, Function::Excludes, value)
    }

    /// `_uuid == uuid`: the row with that uuid.
    pub fn uuid_is(uuid: Uuid) -> Self {
        Condition::eq("_uuid", Value::uuid(uuid))
    }

    pub fn to_json(&self) -> Json {
        json!([self.column, self.function.as_str(), self.value.to_json()])
    }
}

/// Mutation operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutator {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Insert,
    Delete,
}

impl Mutator {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutator::Add => "+=",
            Mutator::Sub => "-=",
            Mutator::Mul => "*=",
            Mutator::Div => "/=",
            Mutator::Mod => "%=",
            Mutator::Insert => "insert",
            Mutator::Delete => "delete",
        }
    }
}

/// `[column, mutator, value]`: changes a column in place.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutation {
    pub column: String,
    pub mutator: Mutator,
    pub value: Value,
}

impl Mutation {
    pub fn new(column: impl Into<String>, mutator: Mutator, value: impl Into<Value>) -> Self {
        Mutation {
            column: column.into(),
            mutator,
            value: value.into(),
        }
    }

    /// Adds elements to a set, or pairs to a map.
    pub fn insert(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Mutation::new(column, Mutator::Insert, value)
    }

    /// Removes elements from a set, or keys (set of keys) / pairs (map) from a map.
    pub fn delete(column: impl Into<String>, value: impl Into<Value>) -> Self {
        Mutation::new(column, Mutator::Delete, value)
    }

    pub fn to_json(&self) -> Json {
        json!([self.column, self.mutator.as_str(), self.value.to_json()])
    }
}

/// The `until` of a wait operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitUntil {
    Eq,
    Ne,
}

/// One operation of a `transact` request.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Insert {
        table: String,
        row: Row,
        uuid_name: Option<String>,
    },
    Select {
        table: String,
        conditions: Vec<Condition>,
        columns: Option<Vec<String>>,
    },
    Update {
        table: String,
        conditions: Vec<Condition>,
        row: Row,
    },
    Mutate {
        table: String,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    },
    Delete {
        table: String,
        conditions: Vec<Condition>,
    },
    Wait {
        table: String,
        conditions: Vec<Condition>,
        columns: Vec<String>,
        until: WaitUntil,
        rows: Vec<Row>,
        timeout_ms: Option<u64>,
    },
    Commit {
        durable: bool,
    },
    Abort,
    Comment(String),
    Assert {
        lock: String,
    },
}

impl Operation {
    pub fn insert(table: impl Into<String>, row: Row) -> Self {
        Operation::Insert {
            table: table.into(),
            row,
            uuid_name: None,
        }
    }

    /// An insert whose new row can be referenced as `Value::named_uuid(name)` by later operations.
    pub fn insert_named(table: impl Into<String>, row: Row, uuid_name: impl Into<String>) -> Self {
        Operation::Insert {
            table: table.into(),
            row,
            uuid_name: Some(uuid_name.into()),
        }
    }

    /// Sets the uuid-name of an insert; no effect on other operations.
    pub fn with_uuid_name(mut self, name: impl Into<String>) -> Self {
        if let Operation::Insert { uuid_name, .. } = &mut self {
            *uuid_name = Some(name.into());
        }
        self
    }

    pub fn select(table: impl Into<String>, conditions: Vec<Condition>) -> Self {
        Operation::Select {
            table: table.into(),
            conditions,
            columns: None,
        }
    }

    pub fn select_columns<S: Into<String>>(
        table: impl Into<String>,
        conditions: Vec<Condition>,
        columns: impl IntoIterator<Item = S>,
    ) -> Self {
        Operation::Select {
            table: table.into(),
            conditions,
            columns: Some(columns.into_iter().map(Into::into).collect()),
        }
    }

    pub fn update(table: impl Into<String>, conditions: Vec<Condition>, row: Row) -> Self {
        Operation::Update {
            table: table.into(),
            conditions,
            row,
        }
    }

    pub fn mutate(
        table: impl Into<String>,
        conditions: Vec<Condition>,
        mutations: Vec<Mutation>,
    ) -> Self {
        Operation::Mutate {
            table: table.into(),
            conditions,
            mutations,
        }
    }

    pub fn delete(table: impl Into<String>, conditions: Vec<Condition>) -> Self {
        Operation::Delete {
            table: table.into(),
            conditions,
        }
    }

    /// Waits until the selected rows' `columns` equal (`WaitUntil::Eq`) or differ from `rows`.
    pub fn wait<S: Into<String>>(
        table: impl Into<String>,
        conditions: Vec<Condition>,
        columns: impl IntoIterator<Item = S>,
        until: WaitUntil,
        rows: Vec<Row>,
        timeout_ms: Option<u64>,
    ) -> Self {
        Operation::Wait {
            table: table.into(),
            conditions,
            columns: columns.into_iter().map(Into::into).collect(),
            until,
            rows,
            timeout_ms,
        }
    }

    pub fn commit(durable: bool) -> Self {
        Operation::Commit { durable }
    }

    pub fn abort() -> Self {
        Operation::Abort
    }

    pub fn comment(text: impl Into<String>) -> Self {
        Operation::Comment(text.into())
    }

    pub fn assert_lock(lock: impl Into<String>) -> Self {
        Operation::Assert { lock: lock.into() }
    }

    /// The uuid-name of an insert.
    pub fn uuid_name(&self) -> Option<&str> {
        match self {
            Operation::Insert { uuid_name, .. } => uuid_name.as_deref(),
            _ => None,
        }
    }

    /// The operation in RFC 7047 JSON notation.
    pub fn to_json(&self) -> Json {
        fn conditions_json(conditions: &[Condition]) -> Json {
            Json::Array(conditions.iter().map(Condition::to_json).collect())
        }
        let mut object = Map::new();
        let mut put = |key: &str, value: Json| {
            object.insert(key.to_string(), value);
        };
        match self {
            Operation::Insert {
                table,
                row,
                uuid_name,
            } => {
                put("op", json!("insert"));
                put("table", json!(table));
                put("row", row_to_json(row));
                if let Some(name) = uuid_name {
                    put("uuid-name", json!(name));
                }
            }
            Operation::Select {
                table,
                conditions,
                columns,
            } => {
                put("op", json!("select"));
                put("table", json!(table));
                put("where", conditions_json(conditions));
                if let Some(columns) = columns {
                    put("columns", json!(columns));
                }
            }
            Operation::Update {
                table,
                conditions,
                row,
            } => {
                put("op", json!("update"));
                put("table", json!(table));
                put("where", conditions_json(conditions));
                put("row", row_to_json(row));
            }
            Operation::Mutate {
                table,
                conditions,
                mutations,
            } => {
                put("op", json!("mutate"));
                put("table", json!(table));
                put("where", conditions_json(conditions));
                put(
                    "mutations",
                    Json::Array(mutations.iter().map(Mutation::to_json).collect()),
                );
            }
            Operation::Delete { table, conditions } => {
                put("op", json!("delete"));
                put("table", json!(table));
                put("where", conditions_json(conditions));
            }
            Operation::Wait {
                table,
                conditions,
                columns,
                until,
                rows,
                timeout_ms,
            } => {
                put("op", json!("wait"));
                put("table", json!(table));
                put("where", conditions_json(conditions));
                put("columns", json!(columns));
                put(
                    "until",
                    json!(match until {
                        WaitUntil::Eq => "==",
                        WaitUntil::Ne => "!=",
                    }),
                );
                put("rows", Json::Array(rows.iter().map(row_to_json).collect()));
                if let Some(timeout) = timeout_ms {
                    put("timeout", json!(timeout));
                }
            }
            Operation::Commit { durable } => {
                put("op", json!("commit"));
                put("durable", json!(durable));
            }
            Operation::Abort => put("op", json!("abort")),
            Operation::Comment(text) => {
                put("op", json!("comment"));
                put("comment", json!(text));
            }
            Operation::Assert { lock } => {
                put("op", json!("assert"));
                put("lock", json!(lock));
            }
        }
        Json::Object(object)
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl Serialize for Mutation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// The successful result of one operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperationResult {
    /// Insert: the new row's uuid.
    pub uuid: Option<Uuid>,
    /// Select: the selected rows.
    pub rows: Option<Vec<Row>>,
    /// Update, mutate, delete: the number of rows touched.
    pub count: Option<u64>,
}

/// One element of a transact reply: success or a per-operation error.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ResultItem {
    Ok(OperationResult),
    Error {
        error: String,
        details: Option<String>,
    },
    /// `null`: not executed because an earlier operation failed.
    Skipped,
}

impl ResultItem {
    pub(crate) fn from_json(json: &Json) -> Result<ResultItem, String> {
        let object = match json {
            Json::Null => return Ok(ResultItem::Skipped),
            Json::Object(object) => object,
            other => return Err(format!("operation result is not an object: {other}")),
        };
        if let Some(error) = object.get("error") {
            let error = match error {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            let details = object.get("details").map(|d| match d {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            });
            return Ok(ResultItem::Error { error, details });
        }
        let mut result = OperationResult::default();
        if let Some(uuid) = object.get("uuid") {
            result.uuid = Some(
                Value::from_json(uuid)?
                    .as_uuid()
                    .ok_or_else(|| format!("insert result uuid is not a uuid: {uuid}"))?,
            );
        }
        if let Some(rows) = object.get("rows") {
            let rows = rows
                .as_array()
                .ok_or_else(|| format!("select result rows is not an array: {rows}"))?;
            result.rows = Some(rows.iter().map(row_from_json).collect::<Result<_, _>>()?);
        }
        if let Some(count) = object.get("count") {
            result.count = Some(
                count
                    .as_u64()
                    .ok_or_else(|| format!("count is not a number: {count}"))?,
            );
        }
        Ok(ResultItem::Ok(result))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Atom;

    fn row(pairs: &[(&str, Value)]) -> Row {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn insert_serializes_with_uuid_name() {
        let op = Operation::insert("Bridge", row(&[("name", Value::string("br0"))]))
            .with_uuid_name("newbr");
        assert_eq!(
            serde_json::to_value(&op).unwrap(),
            json!({"op": "insert", "table": "Bridge", "row": {"name": "br0"}, "uuid-name": "newbr"})
        );
        assert_eq!(op.uuid_name(), Some("newbr"));
        let plain = Operation::insert("Bridge", Row::new());
        assert_eq!(
            plain.to_json(),
            json!({"op": "insert", "table": "Bridge", "row": {}})
        );
    }

    #[test]
    fn select_update_mutate_delete_serialize() {
        let u = Uuid::new_v4();
        assert_eq!(
            Operation::select_columns("Port", vec![Condition::eq("name", "p1")], ["name", "tag"])
                .to_json(),
            json!({"op": "select", "table": "Port", "where": [["name", "==", "p1"]], "columns": ["name", "tag"]})
        );
        assert_eq!(
            Operation::select("Port", vec![]).to_json(),
            json!({"op": "select", "table": "Port", "where": []})
        );
        assert_eq!(
            Operation::update(
                "Port",
                vec![Condition::uuid_is(u)],
                row(&[("tag", Value::integer(10))])
            )
            .to_json(),
            json!({"op": "update", "table": "Port", "where": [["_uuid", "==", ["uuid", u.to_string()]]], "row": {"tag": 10}})
        );
        assert_eq!(
            Operation::mutate(
                "Open_vSwitch",
                vec![],
                vec![
                    Mutation::insert("bridges", Value::named_uuid("br")),
                    Mutation::delete(
                        "external_ids",
                        Value::set_of(vec![Atom::String("k".into())])
                    ),
                    Mutation::new("next_cfg", Mutator::Add, 1i64),
                ]
            )
            .to_json(),
            json!({"op": "mutate", "table": "Open_vSwitch", "where": [], "mutations": [
                ["bridges", "insert", ["named-uuid", "br"]],
                ["external_ids", "delete", ["set", ["k"]]],
                ["next_cfg", "+=", 1]
            ]})
        );
        assert_eq!(
            Operation::delete("Bridge", vec![Condition::new("name", Function::Ne, "x")]).to_json(),
            json!({"op": "delete", "table": "Bridge", "where": [["name", "!=", "x"]]})
        );
    }

    #[test]
    fn other_ops_serialize() {
        assert_eq!(
            Operation::wait(
                "Bridge",
                vec![Condition::eq("name", "br0")],
                ["name"],
                WaitUntil::Eq,
                vec![row(&[("name", Value::string("br0"))])],
                Some(100)
            )
            .to_json(),
            json!({"op": "wait", "table": "Bridge", "where": [["name", "==", "br0"]], "columns": ["name"],
                   "until": "==", "rows": [{"name": "br0"}], "timeout": 100})
        );
        assert_eq!(
            Operation::commit(true).to_json(),
            json!({"op": "commit", "durable": true})
        );
        assert_eq!(Operation::abort().to_json(), json!({"op": "abort"}));
        assert_eq!(
            Operation::comment("hi").to_json(),
            json!({"op": "comment", "comment": "hi"})
        );
        assert_eq!(
            Operation::assert_lock("l").to_json(),
            json!({"op": "assert", "lock": "l"})
        );
        let functions = [
            (Function::Lt, "<"),
            (Function::Le, "<="),
            (Function::Ge, ">="),
            (Function::Gt, ">"),
            (Function::Includes, "includes"),
            (Function::Excludes, "excludes"),
        ];
        for (function, text) in functions {
            assert_eq!(
                Condition::new("c", function, 1i64).to_json(),
                json!(["c", text, 1])
            );
        }
        let mutators = [
            (Mutator::Sub, "-="),
            (Mutator::Mul, "*="),
            (Mutator::Div, "/="),
            (Mutator::Mod, "%="),
        ];
        for (mutator, text) in mutators {
            assert_eq!(
                Mutation::new("c", mutator, 2i64).to_json(),
                json!(["c", text, 2])
            );
        }
    }

    #[test]
    fn result_items_parse() {
        let u = Uuid::new_v4();
        assert_eq!(
            ResultItem::from_json(&json!({"uuid": ["uuid", u.to_string()]})).unwrap(),
            ResultItem::Ok(OperationResult {
                uuid: Some(u),
                ..Default::default()
            })
        );
        assert_eq!(
            ResultItem::from_json(&json!({"count": 3})).unwrap(),
            ResultItem::Ok(OperationResult {
                count: Some(3),
                ..Default::default()
            })
        );
        match ResultItem::from_json(&json!({"rows": [{"name": "a"}]})).unwrap() {
            ResultItem::Ok(result) => {
                assert_eq!(result.rows.unwrap()[0]["name"].as_str(), Some("a"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ResultItem::from_json(&json!({"error": "constraint violation", "details": "bad"}))
                .unwrap(),
            ResultItem::Error {
                error: "constraint violation".into(),
                details: Some("bad".into())
            }
        );
        assert_eq!(
            ResultItem::from_json(&json!(null)).unwrap(),
            ResultItem::Skipped
        );
        assert!(ResultItem::from_json(&json!(5)).is_err());
    }
}
