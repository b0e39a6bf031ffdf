//! Monitors against a real ovsdb-server: `monitor` and `monitor_cond` see inserts, modifications
//! and deletions made by ovs-vsctl; `monitor_cancel` ends the event stream.

mod common;

use std::collections::BTreeMap;

use common::{connect, OvsdbServer, DB, WAIT};
use ovsdb::vswitch::{Bridge, Port, TableView};
use ovsdb::{Client, Condition, Monitor, MonitorEvent, MonitorRequest, MonitorSelect};

/// Waits for the next event that `pick` accepts, skipping others.
async fn wait_for<T>(
    monitor: &mut Monitor,
    what: &str,
    mut pick: impl FnMut(&MonitorEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, monitor.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .unwrap_or_else(|| panic!("monitor closed while waiting for {what}"));
        if let Some(value) = pick(&event) {
            return value;
        }
    }
}

fn requests(pairs: Vec<(&str, MonitorRequest)>) -> BTreeMap<String, MonitorRequest> {
    pairs
        .into_iter()
        .map(|(table, request)| (table.to_string(), request))
        .collect()
}

async fn check_events(server: &OvsdbServer, client: &Client, mut monitor: Monitor) {
    // The bridge that existed before the monitor is in the initial snapshot.
    let initial = wait_for(&mut monitor, "initial snapshot", |e| match e {
        MonitorEvent::Initial(tables) => Some(tables.clone()),
        _ => None,
    })
    .await;
    let bridges = Bridge::all(&initial["Bridge"]);
    assert_eq!(bridges.len(), 1);
    assert_eq!(bridges.values().next().unwrap().name, "old");

    server.vsctl(&["add-br", "br0"]);
    let br0 = wait_for(&mut monitor, "insert of br0", |e| match e {
        MonitorEvent::Insert { table, uuid, new } if table == "Bridge" => {
            Some(Bridge::from_row(*uuid, new))
        }
        _ => None,
    })
    .await;
    assert_eq!(br0.name, "br0");
    assert_eq!(br0.ports.len(), 1);

    server.vsctl(&[
        "set",
        "Bridge",
        "br0",
        "external_ids:owner=test",
        "fail_mode=secure",
    ]);
    let (old, new) = wait_for(&mut monitor, "modify of br0", |e| match e {
        MonitorEvent::Modify {
            table,
            uuid,
            old,
            new,
        } if table == "Bridge" && *uuid == br0.uuid => {
            Some((Bridge::from_row(*uuid, old), Bridge::from_row(*uuid, new)))
        }
        _ => None,
    })
    .await;
    assert!(old.external_ids.is_empty());
    assert_eq!(old.fail_mode, None);
    assert_eq!(
        new.external_ids.get("owner").map(String::as_str),
        Some("test")
    );
    assert_eq!(new.fail_mode.as_deref(), Some("secure"));
    // Unchanged columns are carried over into the full new row.
    assert_eq!(new.name, "br0");
    assert_eq!(new.ports, br0.ports);

    server.vsctl(&["set", "Port", "br0", "tag=7"]);
    let port = wait_for(&mut monitor, "modify of port br0", |e| match e {
        MonitorEvent::Modify {
            table, uuid, new, ..
        } if table == "Port" => Some(Port::from_row(*uuid, new)),
        _ => None,
    })
    .await;
    assert_eq!(port.name, "br0");
    assert_eq!(port.tag, Some(7));

    server.vsctl(&["clear", "Port", "br0", "tag"]);
    let port = wait_for(&mut monitor, "tag cleared", |e| match e {
        MonitorEvent::Modify {
            table, uuid, new, ..
        } if table == "Port" => Some(Port::from_row(*uuid, new)),
        _ => None,
    })
    .await;
    assert_eq!(port.tag, None);

    server.vsctl(&["del-br", "br0"]);
    let deleted = wait_for(&mut monitor, "delete of br0", |e| match e {
        MonitorEvent::Delete { table, uuid, old } if table == "Bridge" => {
            Some(Bridge::from_row(*uuid, old))
        }
        _ => None,
    })
    .await;
    assert_eq!(deleted.uuid, br0.uuid);
    assert_eq!(deleted.name, "br0");
    assert_eq!(deleted.fail_mode.as_deref(), Some("secure"));

    let id = monitor.id().clone();
    cancel_and_drain(client, monitor).await;
    // The id is free again after cancelling.
    let again = client
        .monitor(DB, id, requests(vec![("Bridge", MonitorRequest::all())]))
        .await
        .unwrap();
    drop(again);
}

/// Cancels via `monitor_cancel` and checks the event stream ends.
async fn cancel_and_drain(client: &Client, mut monitor: Monitor) {
    client.monitor_cancel(monitor.id().clone()).await.unwrap();
    let end = tokio::time::timeout(WAIT, async { while monitor.recv().await.is_some() {} }).await;
    assert!(end.is_ok(), "event stream did not end after monitor_cancel");
}

#[tokio::test]
async fn monitor_sees_vsctl_changes() {
    let server = OvsdbServer::start();
    server.vsctl(&["add-br", "old"]);
    let client = connect(&server).await;
    let monitor = client
        .monitor(
            DB,
            "plain",
            requests(vec![
                ("Bridge", MonitorRequest::all()),
                (
                    "Port",
                    MonitorRequest::columns(["name", "tag", "interfaces"]),
                ),
            ]),
        )
        .await
        .unwrap();
    check_events(&server, &client, monitor).await;
}

#[tokio::test]
async fn monitor_cond_sees_vsctl_changes() {
    let server = OvsdbServer::start();
    server.vsctl(&["add-br", "old"]);
    let client = connect(&server).await;
    let monitor = client
        .monitor_cond(
            DB,
            serde_json::json!(["cond", 1]),
            requests(vec![
                ("Bridge", MonitorRequest::all()),
                (
                    "Port",
                    MonitorRequest::columns(["name", "tag", "interfaces"]),
                ),
            ]),
        )
        .await
        .unwrap();
    check_events(&server, &client, monitor).await;
}

#[tokio::test]
async fn monitor_cond_filters_rows_and_selects_changes() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;
    let mut monitor = client
        .monitor_cond(
            DB,
            "filtered",
            requests(vec![(
                "Bridge",
                MonitorRequest::columns(["name", "external_ids"])
                    .with_where(vec![Condition::eq("name", "wanted")])
                    .with_select(MonitorSelect {
                        modify: false,
                        ..MonitorSelect::default()
                    }),
            )]),
        )
        .await
        .unwrap();
    let initial = wait_for(&mut monitor, "initial", |e| match e {
        MonitorEvent::Initial(t) => Some(t.clone()),
        _ => None,
    })
    .await;
    assert!(initial["Bridge"].is_empty());
    assert_eq!(initial.len(), 1);

    server.vsctl(&["add-br", "other"]);
    server.vsctl(&["add-br", "wanted"]);
    server.vsctl(&["set", "Bridge", "wanted", "external_ids:x=1"]);
    server.vsctl(&["del-br", "wanted"]);
    server.vsctl(&["del-br", "other"]);
    // Only the wanted bridge's insert and delete arrive (no modify, nothing about "other").
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(WAIT, monitor.recv())
            .await
            .expect("event")
            .expect("open");
        seen.push(event);
    }
    match &seen[..] {
        [MonitorEvent::Insert { new, .. }, MonitorEvent::Delete { old, .. }] => {
            assert_eq!(new["name"].as_str(), Some("wanted"));
            assert_eq!(old["name"].as_str(), Some("wanted"));
            assert!(!new.contains_key("ports"));
        }
        other => panic!("unexpected events {other:?}"),
    }
    // Nothing else is queued once vsctl is done (its changes were all delivered in order).
    server.vsctl(&["add-br", "wanted"]);
    let next = tokio::time::timeout(WAIT, monitor.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(next, MonitorEvent::Insert { ref new, .. } if new["name"].as_str() == Some("wanted")),
        "{next:?}"
    );
}

#[tokio::test]
async fn monitor_errors_are_reported() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;
    let err = client
        .monitor(
            DB,
            "bad",
            requests(vec![("NoSuchTable", MonitorRequest::all())]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NoSuchTable"), "{err}");
    let err = client
        .monitor(
            DB,
            "bad",
            requests(vec![(
                "Bridge",
                MonitorRequest::columns(["no_such_column"]),
            )]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ovsdb::Error::Rpc { .. }), "{err:?}");
    // The failed id can be reused, a live one cannot.
    let _live = client
        .monitor(DB, "bad", requests(vec![("Bridge", MonitorRequest::all())]))
        .await
        .unwrap();
    let err = client
        .monitor(DB, "bad", requests(vec![("Bridge", MonitorRequest::all())]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already in use"), "{err}");
}
