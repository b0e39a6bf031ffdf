//! Table monitors (`monitor` with `update` notifications, `monitor_cond` with `update2`).
//!
//! The connection task keeps a cache of the monitored rows for every live monitor so that events
//! always carry full rows: `update2` only sends the changed columns of a modified row, and the
//! cache turns those diffs into complete old and new rows. The cache is rebuilt from the fresh
//! snapshot when the monitor is re-established after a reconnect.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value as Json};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::ops::Condition;
use crate::schema::{ColumnKind, ColumnSchema, Schema};
use crate::value::{row_from_json, Atom, Row, Value};

/// Rows of one table by uuid.
pub type TableRows = BTreeMap<Uuid, Row>;

/// A snapshot of monitored tables: table name to rows.
pub type TableUpdates = BTreeMap<String, TableRows>;

/// Which kinds of changes a monitor reports (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonitorSelect {
    pub initial: bool,
    pub insert: bool,
    pub delete: bool,
    pub modify: bool,
}

impl Default for MonitorSelect {
    fn default() -> Self {
        MonitorSelect {
            initial: true,
            insert: true,
            delete: true,
            modify: true,
        }
    }
}

/// What to monitor in one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MonitorRequest {
    /// `None`: all columns.
    pub columns: Option<Vec<String>>,
    pub select: MonitorSelect,
    /// Only rows matching all conditions (`monitor_cond` only; must be empty for `monitor`).
    pub r#where: Vec<Condition>,
}

impl MonitorRequest {
    /// All columns, all changes.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only the given columns.
    pub fn columns<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        MonitorRequest {
            columns: Some(columns.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }

    /// Adds conditions (for `monitor_cond`).
    pub fn with_where(mut self, conditions: Vec<Condition>) -> Self {
        self.r#where = conditions;
        self
    }

    pub fn with_select(mut self, select: MonitorSelect) -> Self {
        self.select = select;
        self
    }

    pub(crate) fn to_json(&self, conditional: bool) -> Json {
        let mut object = Map::new();
        if let Some(columns) = &self.columns {
            object.insert("columns".into(), json!(columns));
        }
        object.insert(
            "select".into(),
            json!({
                "initial": self.select.initial,
                "insert": self.select.insert,
                "delete": self.select.delete,
                "modify": self.select.modify,
            }),
        );
        if conditional && !self.r#where.is_empty() {
            object.insert(
                "where".into(),
                Json::Array(self.r#where.iter().map(Condition::to_json).collect()),
            );
        }
        Json::Object(object)
    }
}

/// A change reported by a monitor. Rows contain the monitored columns; set-typed columns are
/// always `Value::Set` (never a bare atom).
#[derive(Debug, Clone, PartialEq)]
pub enum MonitorEvent {
    /// The rows present when the monitor was created (always the first event); every monitored
    /// table has an entry, possibly empty.
    Initial(TableUpdates),
    Insert {
        table: String,
        uuid: Uuid,
        new: Row,
    },
    /// `old` and `new` are full rows (before and after).
    Modify {
        table: String,
        uuid: Uuid,
        old: Row,
        new: Row,
    },
    Delete {
        table: String,
        uuid: Uuid,
        old: Row,
    },
    /// The connection was lost and the monitor re-established: the full current contents, to
    /// replace whatever the consumer had (changes during the outage are not reported otherwise).
    Reconnected(TableUpdates),
}

/// A live monitor; dropping it cancels the monitor (on the next update).
#[derive(Debug)]
pub struct Monitor {
    pub(crate) id: Json,
    pub(crate) client: Client,
    pub(crate) events: mpsc::UnboundedReceiver<MonitorEvent>,
}

impl Monitor {
    /// The monitor id given at creation.
    pub fn id(&self) -> &Json {
        &self.id
    }

    /// The next event; `None` once the monitor is cancelled or the client is gone.
    pub async fn recv(&mut self) -> Option<MonitorEvent> {
        self.events.recv().await
    }

    /// The underlying channel (e.g. for `tokio::select!`).
    pub fn receiver(&mut self) -> &mut mpsc::UnboundedReceiver<MonitorEvent> {
        &mut self.events
    }

    /// Gives up the handle and keeps only the channel (the monitor stays alive while it is).
    pub fn into_receiver(self) -> mpsc::UnboundedReceiver<MonitorEvent> {
        self.events
    }

    /// Cancels the monitor on the server (`monitor_cancel`).
    pub async fn cancel(self) -> Result<()> {
        self.client.monitor_cancel(self.id.clone()).await
    }
}

/// Protocol flavour of a monitor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MonitorKind {
    /// `monitor` / `update`.
    Plain,
    /// `monitor_cond` / `update2`.
    Conditional,
}

impl MonitorKind {
    pub(crate) fn method(self) -> &'static str {
        match self {
            MonitorKind::Plain => "monitor",
            MonitorKind::Conditional => "monitor_cond",
        }
    }
}

/// Schemas of the monitored columns, by table and column.
pub(crate) type MonitoredColumns = HashMap<String, HashMap<String, ColumnSchema>>;

pub(crate) fn monitored_columns(
    schema: &Schema,
    requests: &BTreeMap<String, MonitorRequest>,
) -> Result<MonitoredColumns> {
    requests
        .iter()
        .map(|(table, request)| {
            let table_schema = schema.tables.get(table).ok_or_else(|| {
                Error::Protocol(format!("no table {table} in database {}", schema.name))
            })?;
            // Unknown columns are left for the server to reject.
            let columns = table_schema
                .columns
                .iter()
                .filter(|(name, _)| match &request.columns {
                    Some(wanted) => wanted.contains(name),
                    None => !name.starts_with('_'),
                })
                .map(|(name, column)| (name.clone(), column.clone()))
                .collect();
            Ok((table.clone(), columns))
        })
        .collect()
}

/// The task-side state of one monitor.
#[derive(Debug)]
pub(crate) struct MonitorState {
    pub db: String,
    pub id: Json,
    pub kind: MonitorKind,
    /// `{table: monitor-request}` as sent.
    pub requests: Json,
    pub columns: MonitoredColumns,
    pub events: mpsc::UnboundedSender<MonitorEvent>,
    pub cache: TableUpdates,
    /// The server has accepted the monitor at least once (a `Monitor` was handed out).
    pub established: bool,
}

impl MonitorState {
    pub fn params(&self) -> Json {
        json!([self.db, self.id, self.requests])
    }

    /// Turns bare atoms in set columns into sets and, for complete rows, adds the monitored
    /// columns the server left out because they have their default value.
    fn normalize(&self, table: &str, row: &mut Row, complete: bool) {
        let Some(columns) = self.columns.get(table) else {
            return;
        };
        for (column, value) in row.iter_mut() {
            if columns.get(column).map(|c| c.kind) == Some(ColumnKind::Set) {
                if let Value::Atom(atom) = value {
                    *value = Value::Set(vec![atom.clone()]);
                }
            }
        }
        if complete {
            for (name, column) in columns {
                if !row.contains_key(name) {
                    row.insert(name.clone(), column.default_value());
                }
            }
        }
    }

    fn parse_row(&self, table: &str, json: &Json, complete: bool) -> Result<Row> {
        let mut row = row_from_json(json).map_err(|e| bad_update(&e))?;
        self.normalize(table, &mut row, complete);
        Ok(row)
    }

    /// Replaces the cache with the initial contents from a monitor reply and returns the snapshot.
    pub fn reset(&mut self, result: &Json) -> Result<TableUpdates> {
        self.cache = self
            .columns
            .keys()
            .map(|table| (table.clone(), TableRows::new()))
            .collect();
        // The reply only contains "new"/"initial" rows; events are irrelevant for a snapshot.
        self.apply(result)?;
        Ok(self.cache.clone())
    }

    /// Applies `<table-updates>` or `<table-updates2>` to the cache and returns the events.
    pub fn apply(&mut self, updates: &Json) -> Result<Vec<MonitorEvent>> {
        let tables = updates
            .as_object()
            .ok_or_else(|| bad_update("table updates are not an object"))?;
        let mut events = Vec::new();
        for (table, rows) in tables {
            let rows = rows
                .as_object()
                .ok_or_else(|| bad_update("table update is not an object"))?;
            for (uuid_text, update) in rows {
                let uuid = Uuid::parse_str(uuid_text)
                    .map_err(|_| bad_update(&format!("bad row uuid {uuid_text}")))?;
                let event = match self.kind {
                    MonitorKind::Plain => self.apply_row_update(table, uuid, update)?,
                    MonitorKind::Conditional => self.apply_row_update2(table, uuid, update)?,
                };
                events.extend(event);
            }
        }
        Ok(events)
    }

    fn apply_row_update(
        &mut self,
        table: &str,
        uuid: Uuid,
        update: &Json,
    ) -> Result<Option<MonitorEvent>> {
        let new = update
            .get("new")
            .map(|r| self.parse_row(table, r, true))
            .transpose()?;
        // "old" is complete for a delete, but only has the changed columns for a modify.
        let old = update
            .get("old")
            .map(|r| self.parse_row(table, r, new.is_none()))
            .transpose()?;
        let rows = self.cache.entry(table.to_string()).or_default();
        Ok(match (old, new) {
            (None, Some(new)) => {
                rows.insert(uuid, new.clone());
                Some(MonitorEvent::Insert {
                    table: table.to_string(),
                    uuid,
                    new,
                })
            }
            (Some(old), None) => {
                let old = rows.remove(&uuid).unwrap_or(old);
                Some(MonitorEvent::Delete {
                    table: table.to_string(),
                    uuid,
                    old,
                })
            }
            (Some(changed_old), Some(new)) => {
                let old = match rows.get(&uuid) {
                    Some(cached) => cached.clone(),
                    None => {
                        let mut old = new.clone();
                        old.extend(changed_old);
                        old
                    }
                };
                let mut full_new = old.clone();
                full_new.extend(new);
                rows.insert(uuid, full_new.clone());
                Some(MonitorEvent::Modify {
                    table: table.to_string(),
                    uuid,
                    old,
                    new: full_new,
                })
            }
            (None, None) => None,
        })
    }

    fn apply_row_update2(
        &mut self,
        table: &str,
        uuid: Uuid,
        update: &Json,
    ) -> Result<Option<MonitorEvent>> {
        let object = update
            .as_object()
            .ok_or_else(|| bad_update("row update is not an object"))?;
        let (tag, body) = object
            .iter()
            .next()
            .ok_or_else(|| bad_update("empty row update"))?;
        match tag.as_str() {
            "initial" | "insert" => {
                let new = self.parse_row(table, body, true)?;
                self.cache
                    .entry(table.to_string())
                    .or_default()
                    .insert(uuid, new.clone());
                Ok(Some(MonitorEvent::Insert {
                    table: table.to_string(),
                    uuid,
                    new,
                }))
            }
            "delete" => {
                let old = self
                    .cache
                    .get_mut(table)
                    .and_then(|rows| rows.remove(&uuid))
                    .unwrap_or_default();
                Ok(Some(MonitorEvent::Delete {
                    table: table.to_string(),
                    uuid,
                    old,
                }))
            }
            "modify" => {
                let diff = row_from_json(body).map_err(|e| bad_update(&e))?;
                let columns = self.columns.get(table);
                let rows = self.cache.entry(table.to_string()).or_default();
                let old = rows.get(&uuid).cloned().unwrap_or_default();
                let mut new = old.clone();
                for (column, change) in diff {
                    let schema = columns.and_then(|c| c.get(&column));
                    apply_column_diff(&mut new, column, change, schema);
                }
                rows.insert(uuid, new.clone());
                Ok(Some(MonitorEvent::Modify {
                    table: table.to_string(),
                    uuid,
                    old,
                    new,
                }))
            }
            other => Err(bad_update(&format!("unknown row update kind {other}"))),
        }
    }
}

/// Applies one column of an `update2` "modify" diff.
fn apply_column_diff(row: &mut Row, column: String, change: Value, schema: Option<&ColumnSchema>) {
    let kind = schema.map_or(ColumnKind::Scalar, |c| c.kind);
    if schema.is_none_or(ColumnSchema::diff_is_new_value) {
        // Scalars and optional values: the diff is the new value.
        let value = match change {
            Value::Atom(atom) if kind == ColumnKind::Set => Value::Set(vec![atom]),
            other => other,
        };
        row.insert(column, value);
        return;
    }
    match kind {
        ColumnKind::Map => {
            // New keys are added, keys with the same value removed, others get the new value.
            let current = row.entry(column).or_insert_with(|| Value::Map(Vec::new()));
            let mut pairs: Vec<(Atom, Atom)> = current.as_map().to_vec();
            for (key, value) in change.as_map() {
                match pairs.iter().position(|(k, _)| k == key) {
                    Some(i) if &pairs[i].1 == value => {
                        pairs.remove(i);
                    }
                    Some(i) => pairs[i].1 = value.clone(),
                    None => pairs.push((key.clone(), value.clone())),
                }
            }
            *current = Value::Map(pairs);
        }
        ColumnKind::Set | ColumnKind::Scalar => {
            // The diff is the symmetric difference between old and new.
            let current = row.entry(column).or_insert_with(Value::empty_set);
            let mut atoms: Vec<Atom> = current.as_set().into_iter().cloned().collect();
            for atom in change.as_set() {
                match atoms.iter().position(|a| a == atom) {
                    Some(i) => {
                        atoms.remove(i);
                    }
                    None => atoms.push(atom.clone()),
                }
            }
            *current = Value::Set(atoms);
        }
    }
}

fn bad_update(why: &str) -> Error {
    Error::Protocol(format!("invalid monitor update: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(kind: MonitorKind) -> (MonitorState, mpsc::UnboundedReceiver<MonitorEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let schema = Schema::from_json(json!({"name": "Open_vSwitch", "tables": {"Port": {"columns": {
            "name": {"type": "string"},
            "tag": {"type": {"key": "integer", "min": 0, "max": 1}},
            "trunks": {"type": {"key": "integer", "min": 0, "max": 4096}},
            "external_ids": {"type": {"key": "string", "value": "string", "min": 0, "max": "unlimited"}}
        }}}}))
        .unwrap();
        let requests = [("Port".to_string(), MonitorRequest::all())].into();
        (
            MonitorState {
                db: "Open_vSwitch".into(),
                id: json!("m"),
                kind,
                requests: json!({}),
                columns: monitored_columns(&schema, &requests).unwrap(),
                events: tx,
                cache: TableUpdates::new(),
                established: false,
            },
            rx,
        )
    }

    #[test]
    fn request_json() {
        let request =
            MonitorRequest::columns(["name"]).with_where(vec![Condition::eq("name", "p")]);
        assert_eq!(
            request.to_json(true),
            json!({"columns": ["name"], "select": {"initial": true, "insert": true, "delete": true, "modify": true},
                   "where": [["name", "==", "p"]]})
        );
        assert!(request.to_json(false).get("where").is_none());
        assert!(MonitorRequest::all().to_json(true).get("columns").is_none());
    }

    #[test]
    fn update2_modify_merges_diffs() {
        let (mut state, _rx) = state(MonitorKind::Conditional);
        let u = Uuid::new_v4();
        // Columns with default values are left out by the server and filled in.
        let snapshot = state
            .reset(&json!({"Port": {u.to_string(): {"initial": {
                "name": "p1", "trunks": ["set", [1, 2]],
                "external_ids": ["map", [["a", "1"], ["b", "2"]]]
            }}}}))
            .unwrap();
        assert_eq!(snapshot["Port"][&u]["name"].as_str(), Some("p1"));
        assert_eq!(snapshot["Port"][&u]["tag"], Value::empty_set());
        assert!(!snapshot["Port"][&u].contains_key("_uuid"));

        let events = state
            .apply(&json!({"Port": {u.to_string(): {"modify": {
                "name": "p2",
                "tag": 7,
                "trunks": ["set", [2, 3]],
                "external_ids": ["map", [["a", "1"], ["b", "20"], ["c", "3"]]]
            }}}}))
            .unwrap();
        let [MonitorEvent::Modify { old, new, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(old["name"].as_str(), Some("p1"));
        assert_eq!(new["name"].as_str(), Some("p2"));
        assert_eq!(new["tag"], Value::Set(vec![Atom::Integer(7)]));
        assert_eq!(
            new["trunks"],
            Value::Set(vec![Atom::Integer(1), Atom::Integer(3)])
        );
        let ids = new["external_ids"].as_string_map();
        assert_eq!(ids.get("a"), None);
        assert_eq!(ids.get("b").map(String::as_str), Some("20"));
        assert_eq!(ids.get("c").map(String::as_str), Some("3"));

        // Optional values are replaced, not toggled.
        let events = state
            .apply(&json!({"Port": {u.to_string(): {"modify": {"tag": 9}}}}))
            .unwrap();
        let [MonitorEvent::Modify { new, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(new["tag"], Value::Set(vec![Atom::Integer(9)]));
        let events = state
            .apply(&json!({"Port": {u.to_string(): {"modify": {"tag": ["set", []]}}}}))
            .unwrap();
        let [MonitorEvent::Modify { new, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(new["tag"], Value::empty_set());

        let events = state
            .apply(&json!({"Port": {u.to_string(): {"delete": null}}}))
            .unwrap();
        let [MonitorEvent::Delete { old, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(old["name"].as_str(), Some("p2"));
        assert!(state.cache["Port"].is_empty());
    }

    #[test]
    fn update1_events_carry_full_rows() {
        let (mut state, _rx) = state(MonitorKind::Plain);
        let u = Uuid::new_v4();
        let events = state
            .apply(&json!({"Port": {u.to_string(): {"new": {"name": "p1", "tag": 5}}}}))
            .unwrap();
        let [MonitorEvent::Insert { new, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(new["tag"], Value::Set(vec![Atom::Integer(5)]));
        let events = state
            .apply(&json!({"Port": {u.to_string(): {"old": {"tag": 5}, "new": {"name": "p1", "tag": ["set", []]}}}}))
            .unwrap();
        let [MonitorEvent::Modify { old, new, .. }] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(old["tag"].as_integer(), Some(5));
        assert_eq!(old["name"].as_str(), Some("p1"));
        assert_eq!(new["tag"], Value::empty_set());
        let events = state
            .apply(&json!({"Port": {u.to_string(): {"old": {"name": "p1", "tag": ["set", []]}}}}))
            .unwrap();
        assert!(matches!(events.as_slice(), [MonitorEvent::Delete { uuid, .. }] if *uuid == u));
    }

    #[test]
    fn rejects_malformed_updates() {
        let (mut state, _rx) = state(MonitorKind::Conditional);
        assert!(state.apply(&json!([1])).is_err());
        assert!(state
            .apply(&json!({"Port": {"not-a-uuid": {"insert": {}}}}))
            .is_err());
        assert!(state
            .apply(&json!({"Port": {Uuid::new_v4().to_string(): {"frobnicate": {}}}}))
            .is_err());
    }
}
