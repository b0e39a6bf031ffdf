//! Property tests of the OVSDB JSON-RPC client: the framing decoder on arbitrary bytes and
//! arbitrary chunk splits, JSON-RPC message and datum round trips, and the parsing of server
//! messages (transact results, monitor replies, `update`/`update2` notifications) on arbitrary
//! JSON trees, the last ones through a real `Client` talking to a scripted fake server.
//!
//! The default case counts keep the whole file at a few seconds in a debug build. For a longer
//! run set `PROPTEST_CASES`, which then applies to every property, e.g.
//! `PROPTEST_CASES=20000 cargo test --release -p ovsdb --test proptest_codec`.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{select, Index};
use proptest::test_runner::TestRunner;
use serde_json::{json, Map, Number, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

use ovsdb::codec::{encode, FrameDecoder};
use ovsdb::rpc::{Message, Notification, Request, Response};
use ovsdb::schema::ColumnKind;
use ovsdb::value::{row_from_json, row_to_json};
use ovsdb::vswitch::Vswitch;
use ovsdb::{
    Atom, Client, ClientOptions, Error, MonitorEvent, MonitorRequest, Operation, Remote, Row,
    Schema, TableUpdates, Uuid, Value,
};

/// `cases` unless `PROPTEST_CASES` is set (proptest's own default config reads it).
fn config(cases: u32) -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    config
}

// ---------------------------------------------------------------------------------------------
// Generators.

/// Pieces that stress the framing scanner and JSON string escaping.
const STRING_PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\",
    "\\\"",
    "\"}",
    "\\\\",
    "{\"a\":",
    "\u{0}",
    "\u{1f}",
    "\n",
    "\t",
    "é",
    "\u{2028}",
    "\u{ffff}",
    "😀",
    "set",
    "map",
    "uuid",
    "named-uuid",
    " ",
    "x",
];

/// Words the OVSDB parsers look for, used as object keys and strings so that random trees
/// reach past the first check of a parser.
const WORDS: &[&str] = &[
    "id",
    "method",
    "params",
    "result",
    "error",
    "details",
    "uuid",
    "named-uuid",
    "set",
    "map",
    "rows",
    "count",
    "new",
    "old",
    "initial",
    "insert",
    "delete",
    "modify",
    "update",
    "update2",
    "locked",
    "stolen",
    "echo",
    "name",
    "tables",
    "columns",
    "type",
    "key",
    "value",
    "min",
    "max",
    "unlimited",
    "refTable",
    "Open_vSwitch",
    "Bridge",
    "Port",
    "Interface",
    "Controller",
    "_uuid",
    "_version",
    "ports",
    "interfaces",
    "bridges",
    "tag",
    "trunks",
    "ofport",
    "external_ids",
    "statistics",
    "options",
    "fail_mode",
    "stp_enable",
    "target",
    "integer",
    "real",
    "boolean",
    "string",
    "",
];

/// A few row uuids, so that updates of one row meet rows cached earlier.
fn pool_uuid() -> impl Strategy<Value = Uuid> {
    (1u128..6).prop_map(Uuid::from_u128)
}

fn any_uuid() -> impl Strategy<Value = Uuid> {
    prop_oneof![pool_uuid(), any::<u128>().prop_map(Uuid::from_u128)]
}

fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        vec(select(STRING_PIECES), 0..8).prop_map(|pieces| pieces.concat()),
        select(WORDS).prop_map(str::to_string),
        any_uuid().prop_map(|u| u.to_string()),
        any_uuid().prop_map(|u| u.to_string().to_uppercase()),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(WORDS).prop_map(str::to_string),
        1 => any_uuid().prop_map(|u| u.to_string()),
        1 => tricky_string(),
    ]
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        (-3i64..300).prop_map(Number::from),
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("not finite", Number::from_f64),
    ]
}

fn json_leaf() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(Json::Number),
        tricky_string().prop_map(Json::String),
    ]
}

/// Arbitrary JSON, biased towards the shapes OVSDB uses.
fn json_value() -> impl Strategy<Value = Json> {
    json_leaf().prop_recursive(5, 96, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Json::Array),
            btree_map(key(), inner.clone(), 0..6)
                .prop_map(|m| Json::Object(m.into_iter().collect())),
            (
                select(&["set", "map", "uuid", "named-uuid"][..]),
                inner.clone()
            )
                .prop_map(|(tag, v)| json!([tag, v])),
            (
                select(&["set", "map"][..]),
                vec(
                    prop_oneof![inner.clone(), vec(inner, 2).prop_map(Json::Array)],
                    0..4
                )
            )
                .prop_map(|(tag, items)| json!([tag, items])),
        ]
    })
}

fn atom() -> impl Strategy<Value = Atom> {
    prop_oneof![
        any::<i64>().prop_map(Atom::Integer),
        any::<f64>()
            .prop_filter("finite", |r| r.is_finite())
            .prop_map(Atom::Real),
        any::<bool>().prop_map(Atom::Boolean),
        tricky_string().prop_map(Atom::String),
        any_uuid().prop_map(Atom::Uuid),
        tricky_string().prop_map(Atom::NamedUuid),
    ]
}

/// An OVSDB datum.
fn datum() -> impl Strategy<Value = Value> {
    prop_oneof![
        atom().prop_map(Value::Atom),
        vec(atom(), 0..5).prop_map(Value::Set),
        vec((atom(), atom()), 0..5).prop_map(Value::Map),
    ]
}

/// JSON where a datum is expected: usually a valid one, sometimes a near miss or anything.
fn datum_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        4 => datum().prop_map(|v| v.to_json()),
        1 => json_value(),
    ]
}

fn row_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        6 => btree_map(key(), datum_json(), 0..5).prop_map(|m| Json::Object(m.into_iter().collect())),
        1 => json_value(),
    ]
}

fn row() -> impl Strategy<Value = Row> {
    btree_map(key(), datum(), 0..6)
}

/// Columns of the fake server's schema, plus a few it does not have.
const COLUMNS: &[&str] = &[
    "name",
    "ports",
    "interfaces",
    "bridges",
    "controller",
    "tag",
    "trunks",
    "flood_vlans",
    "fail_mode",
    "stp_enable",
    "external_ids",
    "statistics",
    "options",
    "ofport",
    "link_speed",
    "next_cfg",
    "ovs_version",
    "type",
    "target",
    "is_connected",
    "_uuid",
    "_version",
    "unknown",
];

/// A row as a server sends it: known columns with (mostly) valid datums.
fn server_row_json() -> impl Strategy<Value = Json> {
    let datum = prop_oneof![
        12 => datum().prop_map(|v| v.to_json()),
        3 => vec(pool_uuid().prop_map(Atom::Uuid), 0..3).prop_map(|a| Value::Set(a).to_json()),
        1 => json_value(),
    ];
    prop_oneof![
        20 => btree_map(select(COLUMNS).prop_map(str::to_string), datum, 0..5)
            .prop_map(|m| Json::Object(m.into_iter().collect())),
        1 => json_value(),
    ]
}

fn maybe_corrupt(shape: impl Strategy<Value = Json>) -> impl Strategy<Value = Json> {
    prop_oneof![20 => shape, 1 => json_value()]
}

/// `<table-updates2>` (`update2`, `monitor_cond` replies) if `conditional`, else
/// `<table-updates>`, usually well formed.
fn table_updates_json(conditional: bool) -> BoxedStrategy<Json> {
    let row_update = if conditional {
        // A single "initial"/"insert"/"delete"/"modify" member.
        (
            prop_oneof![
                20 => select(&["initial", "insert", "delete", "modify"][..]),
                1 => select(&["old", "new", ""][..]),
            ],
            server_row_json(),
        )
            .prop_map(|(tag, row)| json!({ tag: row }))
            .boxed()
    } else {
        // "old" and/or "new".
        (
            proptest::option::of(server_row_json()),
            proptest::option::of(server_row_json()),
        )
            .prop_map(|(old, new)| {
                let mut object = Map::new();
                if let Some(old) = old {
                    object.insert("old".into(), old);
                }
                if let Some(new) = new {
                    object.insert("new".into(), new);
                }
                Json::Object(object)
            })
            .boxed()
    };
    let table = select(
        &[
            "Open_vSwitch",
            "Bridge",
            "Port",
            "Interface",
            "Controller",
            "Other",
        ][..],
    );
    let row_key = prop_oneof![
        20 => pool_uuid().prop_map(|u| u.to_string()),
        1 => tricky_string(),
    ];
    let rows = maybe_corrupt(
        btree_map(row_key, maybe_corrupt(row_update), 0..4)
            .prop_map(|m| Json::Object(m.into_iter().collect())),
    );
    maybe_corrupt(
        btree_map(table.prop_map(str::to_string), rows, 0..3)
            .prop_map(|m| Json::Object(m.into_iter().collect())),
    )
    .boxed()
}

fn any_table_updates_json() -> impl Strategy<Value = Json> {
    any::<bool>().prop_flat_map(table_updates_json)
}

/// One element of a transact result array.
fn operation_result_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        1 => Just(Json::Null),
        1 => Just(json!({})),
        1 => datum_json().prop_map(|u| json!({ "uuid": u })),
        3 => any_uuid().prop_map(|u| json!({"uuid": ["uuid", u.to_string()]})),
        1 => vec(row_json(), 0..3).prop_map(|rows| json!({ "rows": rows })),
        2 => vec(server_row_json(), 0..3).prop_map(|rows| json!({ "rows": rows })),
        1 => json_leaf().prop_map(|c| json!({ "count": c })),
        2 => any::<u64>().prop_map(|c| json!({ "count": c })),
        1 => (json_leaf(), proptest::option::of(json_value())).prop_map(|(error, details)| {
            match details {
                Some(details) => json!({"error": error, "details": details}),
                None => json!({ "error": error }),
            }
        }),
        1 => json_value(),
    ]
}

fn request_id() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<u64>().prop_map(Json::from),
        tricky_string().prop_map(Json::String),
        vec(json_leaf(), 0..3).prop_map(Json::Array),
    ]
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![select(WORDS).prop_map(str::to_string), tricky_string()]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (request_id(), method(), json_value())
            .prop_map(|(id, method, params)| Message::Request(Request { id, method, params })),
        (request_id(), json_value(), json_value())
            .prop_map(|(id, result, error)| Message::Response(Response { id, result, error })),
        (method(), json_value())
            .prop_map(|(method, params)| Message::Notification(Notification { method, params })),
    ]
}

/// A frame on the wire: a typed JSON-RPC message or any JSON object or array.
fn frame() -> impl Strategy<Value = Json> {
    prop_oneof![
        3 => message().prop_map(|m| m.to_json()),
        1 => json_value().prop_filter("object or array", |j| j.is_object() || j.is_array()),
    ]
}

/// Frames encoded back to back, compactly or pretty-printed, with optional whitespace between.
fn encode_stream(frames: &[(Json, bool, String)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for (frame, pretty, gap) in frames {
        if *pretty {
            bytes.extend(serde_json::to_vec_pretty(frame).unwrap());
        } else {
            bytes.extend(encode(frame));
        }
        bytes.extend(gap.as_bytes());
    }
    bytes
}

fn frames() -> impl Strategy<Value = Vec<(Json, bool, String)>> {
    vec((frame(), any::<bool>(), "[ \t\r\n]{0,3}"), 0..6)
}

/// Bytes for the decoder: random, JSON-ish, valid streams with damage, or deep nesting.
fn wire_bytes() -> impl Strategy<Value = Vec<u8>> {
    let jsonish = select(&b"{}[]\"\\:, \n\t01a-e.\xc3\xa9\xff"[..]);
    prop_oneof![
        vec(any::<u8>(), 0..400),
        vec(jsonish, 0..400),
        (frames(), vec((any::<Index>(), any::<u8>(), 0u8..3), 1..6)).prop_map(|(frames, edits)| {
            let mut bytes = encode_stream(&frames);
            for (at, byte, kind) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match kind {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            bytes
        }),
        (1usize..3000, any::<bool>(), any::<bool>()).prop_map(|(depth, object, close)| {
            let (open, shut) = if object {
                (&b"{\"a\":"[..], b'}')
            } else {
                (&b"["[..], b']')
            };
            let mut bytes = open.repeat(depth);
            bytes.push(b'1');
            if close {
                bytes.extend(std::iter::repeat_n(shut, depth));
            }
            bytes.extend(b"{}");
            bytes
        }),
    ]
}

/// Splits `bytes` at the given points.
fn split<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    points.push(0);
    points.push(bytes.len());
    points.sort_unstable();
    points.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

// ---------------------------------------------------------------------------------------------
// Decoder driver.

#[derive(Debug, PartialEq)]
enum Outcome {
    Message(Json),
    Error(String),
}

/// Feeds the chunks one by one, draining the decoder after each. Every `decode` call must return
/// "incomplete" or make progress, so more calls than input bytes (plus one per chunk) means the
/// decoder is stuck.
fn decode_chunks(chunks: &[&[u8]]) -> (Vec<Outcome>, FrameDecoder) {
    let total: usize = chunks.iter().map(|c| c.len()).sum();
    let mut decoder = FrameDecoder::new();
    let mut outcomes = Vec::new();
    let mut calls = 0usize;
    for chunk in chunks {
        decoder.extend(chunk);
        loop {
            calls += 1;
            assert!(
                calls <= total + chunks.len(),
                "decoder does not make progress after {outcomes:?}"
            );
            match decoder.decode() {
                Ok(Some(json)) => outcomes.push(Outcome::Message(json)),
                Ok(None) => break,
                Err(e) => outcomes.push(Outcome::Error(e.to_string())),
            }
        }
    }
    (outcomes, decoder)
}

proptest! {
    #![proptest_config(config(256))]

    /// Property 1: arbitrary bytes in arbitrary chunks never panic or hang, and the result does
    /// not depend on how the input is split.
    #[test]
    fn decoder_survives_arbitrary_bytes_in_any_split(
        bytes in wire_bytes(),
        cuts in vec(any::<Index>(), 0..8),
    ) {
        let (whole, whole_decoder) = decode_chunks(&[&bytes]);
        let chunks = split(&bytes, &cuts);
        let (pieces, decoder) = decode_chunks(&chunks);
        prop_assert_eq!(&pieces, &whole);
        prop_assert!(whole.len() <= bytes.len());
        // Each byte is scanned exactly once, however the input is split.
        prop_assert_eq!(decoder.scanned_bytes(), bytes.len() as u64);
        prop_assert_eq!(whole_decoder.scanned_bytes(), bytes.len() as u64);
        prop_assert_eq!(decoder.pending_len(), whole_decoder.pending_len());
        prop_assert!(decoder.pending_len() <= bytes.len());
    }

    /// Property 1, byte at a time: the worst case for the incremental scanner.
    #[test]
    fn decoder_survives_arbitrary_bytes_one_at_a_time(bytes in wire_bytes()) {
        let (whole, _) = decode_chunks(&[&bytes]);
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        let (pieces, decoder) = decode_chunks(&chunks);
        prop_assert_eq!(pieces, whole);
        prop_assert_eq!(decoder.scanned_bytes(), bytes.len() as u64);
    }

    /// Property 2: valid messages back to back, split anywhere, decode to the same messages,
    /// and the typed ones classify back to themselves.
    #[test]
    fn valid_streams_decode_to_the_same_messages_in_any_split(
        frames in frames(),
        cuts in vec(any::<Index>(), 0..10),
    ) {
        let bytes = encode_stream(&frames);
        let (outcomes, decoder) = decode_chunks(&split(&bytes, &cuts));
        let expected: Vec<Outcome> =
            frames.iter().map(|(frame, _, _)| Outcome::Message(frame.clone())).collect();
        prop_assert_eq!(outcomes, expected);
        prop_assert_eq!(decoder.pending_len(), 0);
    }

    #[test]
    fn typed_messages_round_trip_through_the_wire(
        messages in vec(message(), 1..5),
        cuts in vec(any::<Index>(), 0..6),
    ) {
        let bytes: Vec<u8> = messages.iter().flat_map(|m| encode(&m.to_json())).collect();
        let (outcomes, _) = decode_chunks(&split(&bytes, &cuts));
        prop_assert_eq!(outcomes.len(), messages.len());
        for (outcome, message) in outcomes.into_iter().zip(&messages) {
            let Outcome::Message(json) = outcome else {
                return Err(TestCaseError::fail(format!("{outcome:?} instead of {message:?}")));
            };
            prop_assert_eq!(&Message::from_json(json).unwrap(), message);
        }
    }

    /// Property 3 (public parsers): no panic on arbitrary JSON, and whatever parses as a datum
    /// or row is canonical (printing and parsing it again gives the same thing).
    #[test]
    fn parsers_never_panic_on_arbitrary_json(json in json_value()) {
        let _ = Message::from_json(json.clone());
        let _ = Atom::from_json(&json);
        let _ = serde_json::from_value::<Atom>(json.clone());
        let _ = serde_json::from_value::<Value>(json.clone());
        if let Ok(value) = Value::from_json(&json) {
            exercise_value(&value);
            prop_assert_eq!(Value::from_json(&value.to_json()), Ok(value));
        }
        if let Ok(row) = row_from_json(&json) {
            prop_assert_eq!(row_from_json(&row_to_json(&row)), Ok(row.clone()));
            let tables: TableUpdates = ["Open_vSwitch", "Bridge", "Port", "Interface", "Controller"]
                .iter()
                .map(|t| (t.to_string(), [(Uuid::from_u128(1), row.clone())].into()))
                .collect();
            let _ = Vswitch::from_tables(&tables);
        }
        if let Ok(schema) = Schema::from_json(json) {
            for table in schema.tables.values() {
                for column in table.columns.values() {
                    let _ = column.default_value();
                }
            }
        }
    }

    /// Property 3 (public parsers): a schema-shaped tree (the parser needs several levels before
    /// it looks at column types).
    #[test]
    fn schema_parser_never_panics(
        tables in btree_map(key(), btree_map(key(), prop_oneof![
            json_value(),
            (json_value(), json_value(), json_value(), json_value()).prop_map(
                |(key, value, min, max)| json!({"key": key, "value": value, "min": min, "max": max})
            ),
        ], 0..4), 0..3),
    ) {
        let tables: Map<String, Json> = tables
            .into_iter()
            .map(|(name, columns)| {
                let columns: Map<String, Json> =
                    columns.into_iter().map(|(c, t)| (c, json!({ "type": t }))).collect();
                (name, json!({ "columns": columns }))
            })
            .collect();
        if let Ok(schema) = Schema::from_json(json!({"name": "db", "tables": tables})) {
            for (name, table) in &schema.tables {
                for (column_name, column) in &table.columns {
                    let _ = column.default_value();
                    prop_assert_eq!(schema.column_kind(name, column_name), Some(column.kind));
                }
            }
        }
    }

    /// Property 3 (typed views): the Open_vSwitch row views accept any rows and events.
    #[test]
    fn vswitch_views_never_panic(
        rows in vec((select(&["Open_vSwitch", "Bridge", "Port", "Interface", "Controller"][..]),
                     pool_uuid(), row()), 0..6),
        events in vec((0u8..3, select(&["Open_vSwitch", "Bridge", "Port", "Other"][..]),
                       pool_uuid(), row()), 0..6),
    ) {
        let mut tables = TableUpdates::new();
        for (table, uuid, row) in rows {
            tables.entry(table.to_string()).or_default().insert(uuid, row);
        }
        let mut vswitch = Vswitch::from_tables(&tables);
        for (kind, table, uuid, row) in events {
            let table = table.to_string();
            let event = match kind {
                0 => MonitorEvent::Insert { table, uuid, new: row },
                1 => MonitorEvent::Modify { table, uuid, old: Row::new(), new: row },
                _ => MonitorEvent::Delete { table, uuid, old: row },
            };
            vswitch.apply(&event);
        }
        for bridge in vswitch.bridges.values() {
            let _ = vswitch.ports_of(bridge);
        }
        for port in vswitch.ports.values() {
            let _ = vswitch.interfaces_of(port);
            let _ = vswitch.bridge_of_port(port.uuid);
        }
    }

    /// Property 4: datums and rows survive printing and parsing, both through `to_json`/
    /// `from_json` and through serde and JSON text.
    #[test]
    fn datums_round_trip(value in datum()) {
        let json = value.to_json();
        prop_assert_eq!(serde_json::to_value(&value).unwrap(), json.clone());
        prop_assert_eq!(Value::from_json(&json), Ok(value.clone()));
        let text = serde_json::to_string(&value).unwrap();
        prop_assert_eq!(text.clone(), value.to_string());
        prop_assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value);
    }

    #[test]
    fn rows_round_trip(row in row()) {
        let json = row_to_json(&row);
        prop_assert_eq!(row_from_json(&json), Ok(row.clone()));
        let text = serde_json::to_string(&json).unwrap();
        prop_assert_eq!(row_from_json(&serde_json::from_str(&text).unwrap()), Ok(row));
    }
}

/// Calls every accessor of a datum.
fn exercise_value(value: &Value) {
    let _ = (
        value.as_atom(),
        value.as_str(),
        value.as_integer(),
        value.as_real(),
    );
    let _ = (
        value.as_bool(),
        value.as_uuid(),
        value.as_set(),
        value.as_map(),
    );
    let _ = (
        value.as_string_map(),
        value.as_integer_map(),
        value.as_string_set(),
    );
    let _ = (
        value.as_integer_set(),
        value.as_uuid_set(),
        value.to_string(),
    );
}

// ---------------------------------------------------------------------------------------------
// Property 3 through the client: a fake server answers with generated replies and sends
// generated notifications; the client must turn each into a result or an error, and keep
// working (no panic in the connection task, no hang, no reconnect).

const DB: &str = "Open_vSwitch";
const TABLES: &[&str] = &["Open_vSwitch", "Bridge", "Port", "Interface", "Controller"];

fn fake_schema() -> Json {
    let uuids = |table: &str, min: u64| json!({"key": {"type": "uuid", "refTable": table}, "min": min, "max": "unlimited"});
    let optional = |atomic: &str| json!({"key": atomic, "min": 0, "max": 1});
    let map = |value: &str| json!({"key": "string", "value": value, "min": 0, "max": "unlimited"});
    json!({
        "name": DB,
        "version": "8.5.0",
        "tables": {
            "Open_vSwitch": {"isRoot": true, "columns": {
                "bridges": {"type": uuids("Bridge", 0)},
                "next_cfg": {"type": "integer"},
                "ovs_version": {"type": optional("string")},
                "external_ids": {"type": map("string")},
            }},
            "Bridge": {"isRoot": true, "columns": {
                "name": {"type": "string"},
                "ports": {"type": uuids("Port", 0)},
                "controller": {"type": uuids("Controller", 0)},
                "fail_mode": {"type": optional("string")},
                "stp_enable": {"type": "boolean"},
                "flood_vlans": {"type": {"key": "integer", "min": 0, "max": 4096}},
                "external_ids": {"type": map("string")},
            }},
            "Port": {"columns": {
                "name": {"type": "string"},
                "interfaces": {"type": uuids("Interface", 1)},
                "tag": {"type": optional("integer")},
                "trunks": {"type": {"key": "integer", "min": 0, "max": 4096}},
                "statistics": {"type": map("integer")},
                "external_ids": {"type": map("string")},
            }},
            "Interface": {"columns": {
                "name": {"type": "string"},
                "type": {"type": "string"},
                "ofport": {"type": optional("integer")},
                "link_speed": {"type": optional("real")},
                "options": {"type": map("string")},
            }},
            "Controller": {"columns": {
                "target": {"type": "string"},
                "is_connected": {"type": "boolean"},
            }},
        }
    })
}

/// Serves one client connection. Besides the OVSDB methods the client uses, it understands two
/// test-only requests: `script` queues the `{"result", "error"}` replies for the next
/// `transact`/`monitor`/`monitor_cond` requests, and `push` sends its params as raw messages
/// before answering (so the reply also tells the test that the client has seen them).
async fn serve(mut stream: UnixStream) {
    let schema = fake_schema();
    let mut decoder = FrameDecoder::new();
    let mut script: VecDeque<Json> = VecDeque::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        decoder.extend(&buf[..n]);
        let mut out = Vec::new();
        while let Some(request) = decoder.decode().expect("client sends valid JSON") {
            let id = request["id"].clone();
            let params = request["params"].clone();
            let reply = |result: Json| json!({"id": id, "result": result, "error": null});
            let Some(method) = request["method"].as_str() else {
                continue; // the client's reply to a pushed request
            };
            if id.is_null() {
                continue; // a notification, e.g. cancel
            }
            let response = match method {
                "echo" => reply(params),
                "get_schema" => reply(schema.clone()),
                "script" => {
                    script.extend(params.as_array().cloned().unwrap_or_default());
                    reply(json!({}))
                }
                "push" => {
                    for message in params.as_array().into_iter().flatten() {
                        out.extend(encode(message));
                    }
                    reply(json!({}))
                }
                "transact" | "monitor" | "monitor_cond" => {
                    let scripted = script.pop_front().unwrap_or(json!({"result": []}));
                    json!({"id": id, "result": scripted["result"], "error": scripted["error"]})
                }
                _ => reply(json!({})),
            };
            out.extend(encode(&response));
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

struct FakeServer {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl FakeServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        });
        FakeServer { _dir: dir, path }
    }

    async fn client(&self) -> Client {
        connect(&self.path).await
    }
}

async fn connect(path: &Path) -> Client {
    let options = ClientOptions {
        request_timeout: Duration::from_secs(10),
        probe_interval: Duration::ZERO,
        ..ClientOptions::default()
    };
    Client::connect(Remote::Unix(path.to_path_buf()), options)
        .await
        .expect("connect to the fake server")
}

/// A reply as the fake server sends it: usually a result, sometimes an error.
fn scripted(result: impl Strategy<Value = Json>) -> impl Strategy<Value = Json> {
    prop_oneof![
        8 => result.prop_map(|result| json!({"result": result, "error": null})),
        1 => (json_value(), json_value()).prop_map(|(result, error)| json!({"result": result, "error": error})),
    ]
}

#[derive(Debug, Clone)]
enum ServerCase {
    /// A transaction of `operations` operations answered with `reply`.
    Transact { operations: usize, reply: Json },
    /// A monitor answered with `reply`, then `updates` sent as `update`/`update2` notifications
    /// (with the method matching the monitor or not).
    Monitor {
        conditional: bool,
        reply: Json,
        updates: Vec<(bool, Json)>,
    },
    /// Arbitrary messages from the server.
    Push(Vec<Json>),
}

fn server_case() -> impl Strategy<Value = ServerCase> {
    let pushed = prop_oneof![
        // Notifications the client acts on, with arbitrary params.
        (select(&["update", "update2", "locked", "stolen"][..]), json_value())
            .prop_map(|(method, params)| json!({"id": null, "method": method, "params": params})),
        (select(&["update", "update2"][..]), json_leaf(), any_table_updates_json()).prop_map(
            |(method, id, updates)| json!({"id": null, "method": method, "params": [id, updates]})
        ),
        // Requests the client must answer, and responses to requests it never sent (ids far
        // above anything it has used).
        message().prop_map(|m| match m {
            Message::Response(mut r) => {
                if r.id.as_u64().is_some() {
                    r.id = json!(u64::MAX);
                }
                Message::Response(r).to_json()
            }
            other => other.to_json(),
        }),
    ];
    prop_oneof![
        (1usize..4).prop_flat_map(|operations| {
            let results = prop_oneof![
                6 => vec(operation_result_json(), operations..=operations + 1),
                1 => vec(operation_result_json(), 0..5),
            ];
            let result = prop_oneof![6 => results.prop_map(Json::Array), 1 => json_value()];
            scripted(result).prop_map(move |reply| ServerCase::Transact { operations, reply })
        }),
        any::<bool>().prop_flat_map(|conditional| {
            let update = prop_oneof![
                9 => table_updates_json(conditional).prop_map(|u| (true, u)),
                1 => table_updates_json(!conditional).prop_map(|u| (false, u)),
            ];
            (scripted(table_updates_json(conditional)), vec(update, 0..6)).prop_map(
                move |(reply, updates)| ServerCase::Monitor {
                    conditional,
                    reply,
                    updates,
                },
            )
        }),
        vec(pushed, 1..5).prop_map(ServerCase::Push),
    ]
}

/// Checks what the monitor documents: set columns never hold a bare atom.
fn check_rows(schema: &Schema, table: &str, rows: &[&Row]) -> Result<(), TestCaseError> {
    for row in rows {
        for (column, value) in row.iter() {
            if schema.column_kind(table, column) == Some(ColumnKind::Set) {
                prop_assert!(
                    !matches!(value, Value::Atom(_)),
                    "{}.{} is a bare atom: {:?}",
                    table,
                    column,
                    value
                );
            }
        }
    }
    Ok(())
}

fn check_event(schema: &Schema, event: &MonitorEvent) -> Result<(), TestCaseError> {
    match event {
        MonitorEvent::Initial(tables) | MonitorEvent::Reconnected(tables) => {
            for (table, rows) in tables {
                check_rows(schema, table, &rows.values().collect::<Vec<_>>())?;
            }
            Ok(())
        }
        MonitorEvent::Insert { table, new, .. } => check_rows(schema, table, &[new]),
        MonitorEvent::Modify {
            table, old, new, ..
        } => check_rows(schema, table, &[old, new]),
        MonitorEvent::Delete { table, old, .. } => check_rows(schema, table, &[old]),
    }
}

/// The failure for an error that only a dead (panicked) or stuck connection task explains.
fn stopped(method: &str, error: Error) -> TestCaseError {
    TestCaseError::fail(format!(
        "client stopped working ({method}: {error:?}); see the panic above, if any"
    ))
}

/// A request the fake server always answers.
async fn call(client: &Client, method: &str, params: Json) -> Result<(), TestCaseError> {
    client
        .call(method, params)
        .await
        .map(drop)
        .map_err(|e| stopped(method, e))
}

async fn run_server_case(
    client: &Client,
    case: ServerCase,
    monitor_id: String,
) -> Result<(), TestCaseError> {
    let schema = client.schema(DB).await.expect("fake schema parses");
    match case {
        ServerCase::Transact { operations, reply } => {
            call(client, "script", json!([reply])).await?;
            let operations = (0..operations)
                .map(|i| Operation::insert_named("Bridge", Row::new(), format!("b{i}")))
                .collect();
            match client.transact(DB, operations).await {
                Ok(_) | Err(Error::Protocol(_) | Error::Transaction { .. } | Error::Rpc { .. }) => {
                }
                Err(other) => return Err(stopped("transact", other)),
            }
        }
        ServerCase::Monitor {
            conditional,
            reply,
            updates,
        } => {
            call(client, "script", json!([reply])).await?;
            let requests: BTreeMap<String, MonitorRequest> = TABLES
                .iter()
                .map(|t| (t.to_string(), MonitorRequest::all()))
                .collect();
            let started = if conditional {
                client.monitor_cond(DB, monitor_id.as_str(), requests).await
            } else {
                client.monitor(DB, monitor_id.as_str(), requests).await
            };
            match started {
                Ok(mut monitor) => {
                    let notifications: Vec<Json> = updates
                        .into_iter()
                        .map(|(matching, updates)| {
                            let method = if matching == conditional {
                                "update2"
                            } else {
                                "update"
                            };
                            json!({"id": null, "method": method, "params": [monitor_id, updates]})
                        })
                        .collect();
                    call(client, "push", Json::Array(notifications)).await?;
                    let mut vswitch = Vswitch::default();
                    while let Ok(event) = monitor.receiver().try_recv() {
                        check_event(&schema, &event)?;
                        vswitch.apply(&event);
                    }
                    monitor
                        .cancel()
                        .await
                        .map_err(|e| stopped("monitor_cancel", e))?;
                }
                Err(Error::Protocol(_) | Error::Rpc { .. }) => {}
                Err(other) => return Err(stopped("monitor", other)),
            }
        }
        ServerCase::Push(messages) => {
            call(client, "push", Json::Array(messages)).await?;
        }
    }
    // The connection task is alive, still on its first connection, and answering.
    client.echo().await.map_err(|e| stopped("echo", e))?;
    prop_assert_eq!(*client.connection_events().borrow(), 1);
    Ok(())
}

#[test]
fn client_survives_arbitrary_server_messages() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(async { FakeServer::start() });
    let client = RefCell::new(runtime.block_on(server.client()));
    let next_monitor = RefCell::new(0u64);
    let mut runner = TestRunner::new(ProptestConfig {
        // Cases run against live tasks and a socket, not a pure function of the input, so a
        // failure is reported (with its shrunk input) rather than persisted.
        failure_persistence: None,
        ..config(256)
    });
    let result = runner.run(&server_case(), |case| {
        *next_monitor.borrow_mut() += 1;
        let monitor_id = format!("m{}", next_monitor.borrow());
        let current = client.borrow().clone();
        // A panicking check inside the case must fail the case, not the whole runner.
        let outcome = runtime.block_on(async {
            let task =
                tokio::spawn(async move { run_server_case(&current, case, monitor_id).await });
            match task.await {
                Ok(outcome) => outcome,
                Err(e) => Err(TestCaseError::fail(format!("case panicked: {e}"))),
            }
        });
        if outcome.is_err() {
            // Start the next case (shrinking) from a fresh connection.
            *client.borrow_mut() = runtime.block_on(server.client());
        }
        outcome
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
