//! Client requests against a real ovsdb-server: list_dbs, get_schema, transact (every operation
//! kind, named uuids, errors), concurrency and connection errors.

mod common;

use std::time::Duration;

use common::{connect, options, row, OvsdbServer, DB};
use ovsdb::{
    Client, Condition, Error, Function, Mutation, Mutator, Operation, Remote, Uuid, Value,
    WaitUntil,
};

/// Inserts bridge `name` with one port and interface of the same name, attached to the
/// Open_vSwitch row; returns the bridge uuid.
async fn add_bridge(client: &Client, name: &str) -> Uuid {
    let interface = format!("{name}_if");
    let port = format!("{name}_port");
    let outcome = client
        .transact(
            DB,
            vec![
                Operation::insert_named(
                    "Interface",
                    row([
                        ("name", Value::string(name)),
                        ("type", Value::string("internal")),
                    ]),
                    &interface,
                ),
                Operation::insert_named(
                    "Port",
                    row([
                        ("name", Value::string(name)),
                        ("interfaces", Value::named_uuid(&interface)),
                    ]),
                    &port,
                ),
                Operation::insert(
                    "Bridge",
                    row([
                        ("name", Value::string(name)),
                        ("ports", Value::named_uuid(&port)),
                        ("datapath_type", Value::string("netdev")),
                    ]),
                )
                .with_uuid_name("bridge"),
                Operation::mutate(
                    "Open_vSwitch",
                    vec![],
                    vec![Mutation::insert("bridges", Value::named_uuid("bridge"))],
                ),
            ],
        )
        .await
        .expect("add bridge");
    assert!(outcome.uuid_of(&interface).is_some());
    assert!(outcome.uuid_of(&port).is_some());
    assert_eq!(outcome.count(3), 1);
    outcome.uuid_of("bridge").expect("bridge uuid")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_dbs_and_get_schema() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;
    assert!(client.is_connected());
    assert_eq!(*client.connection_events().borrow(), 1);

    let dbs = client.list_dbs().await.unwrap();
    assert!(dbs.contains(&DB.to_string()), "{dbs:?}");

    let schema = client.get_schema(DB).await.unwrap();
    assert_eq!(schema.name, DB);
    assert_eq!(
        schema.column_kind("Bridge", "ports"),
        Some(ovsdb::ColumnKind::Set)
    );
    assert_eq!(
        schema.column_kind("Bridge", "external_ids"),
        Some(ovsdb::ColumnKind::Map)
    );
    assert_eq!(schema.raw["name"], DB);
    assert!(client.get_schema("NoSuchDb").await.is_err());
    client.echo().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transact_bridge_port_interface_matches_vsctl() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;
    let br0 = add_bridge(&client, "br0").await;
    add_bridge(&client, "br1").await;

    assert_eq!(server.vsctl_lines(&["list-br"]), ["br0", "br1"]);
    assert_eq!(
        server.vsctl_lines(&["list-ports", "br0"]),
        Vec::<String>::new()
    ); // the bridge's own port is not listed
    assert_eq!(
        server.vsctl_lines(&["list-ifaces", "br0"]),
        Vec::<String>::new()
    );
    assert_eq!(
        server.vsctl(&["get", "Bridge", "br0", "_uuid"]).trim(),
        br0.to_string()
    );

    // Add a second port to br0 and check ovs-vsctl lists it.
    let outcome = client
        .transact(
            DB,
            vec![
                Operation::insert_named(
                    "Interface",
                    row([("name", Value::string("eth7"))]),
                    "iface",
                ),
                Operation::insert_named(
                    "Port",
                    row([
                        ("name", Value::string("eth7")),
                        ("interfaces", Value::named_uuid("iface")),
                        ("tag", Value::integer(42)),
                        ("external_ids", Value::string_map([("owner", "test")])),
                    ]),
                    "port",
                ),
                Operation::mutate(
                    "Bridge",
                    vec![Condition::uuid_is(br0)],
                    vec![Mutation::insert("ports", Value::named_uuid("port"))],
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcome.count(2), 1);
    assert_eq!(server.vsctl_lines(&["list-ports", "br0"]), ["eth7"]);
    assert_eq!(server.vsctl_lines(&["list-ifaces", "br0"]), ["eth7"]);
    assert_eq!(server.vsctl(&["get", "Port", "eth7", "tag"]).trim(), "42");
    assert_eq!(
        server
            .vsctl(&["get", "Port", "eth7", "external_ids:owner"])
            .trim(),
        "test"
    );
    assert_eq!(
        server.vsctl(&["get", "Port", "eth7", "_uuid"]).trim(),
        outcome.uuid_of("port").unwrap().to_string()
    );

    // And the other way round: what ovs-vsctl creates is visible to select.
    server.vsctl(&[
        "add-br",
        "br9",
        "--",
        "set",
        "Bridge",
        "br9",
        "datapath_type=netdev",
    ]);
    let outcome = client
        .transact(
            DB,
            vec![Operation::select_columns(
                "Bridge",
                vec![Condition::eq("name", "br9")],
                ["name", "datapath_type", "ports"],
            )],
        )
        .await
        .unwrap();
    let rows = outcome.rows(0);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["datapath_type"].as_str(), Some("netdev"));
    assert_eq!(rows[0]["ports"].as_uuid_set().len(), 1);
    assert!(!rows[0].contains_key("external_ids"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_kind() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;
    let br = add_bridge(&client, "brx").await;

    // update + select + comment + commit
    let outcome = client
        .transact(
            DB,
            vec![
                Operation::comment("ovsdb crate test"),
                Operation::update(
                    "Bridge",
                    vec![Condition::eq("name", "brx")],
                    row([
                        ("external_ids", Value::string_map([("a", "1"), ("b", "2")])),
                        ("fail_mode", Value::string("secure")),
                    ]),
                ),
                Operation::select("Bridge", vec![Condition::uuid_is(br)]),
                Operation::commit(false),
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcome.count(1), 1);
    let bridge = &outcome.rows(2)[0];
    assert_eq!(bridge["fail_mode"].as_str(), Some("secure"));
    assert_eq!(bridge["external_ids"].as_string_map().len(), 2);
    assert_eq!(bridge["_uuid"].as_uuid(), Some(br));

    // mutate a map (delete a key) and an integer-valued column in another table
    client
        .transact(
            DB,
            vec![
                Operation::mutate(
                    "Bridge",
                    vec![Condition::eq("name", "brx")],
                    vec![Mutation::delete(
                        "external_ids",
                        Value::set_of(vec![ovsdb::Atom::String("a".into())]),
                    )],
                ),
                Operation::mutate(
                    "Open_vSwitch",
                    vec![],
                    vec![Mutation::new("next_cfg", Mutator::Add, 5i64)],
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        server
            .vsctl(&["get", "Bridge", "brx", "external_ids"])
            .trim(),
        "{b=\"2\"}"
    );
    assert_eq!(
        server
            .vsctl(&["get", "Open_vSwitch", ".", "next_cfg"])
            .trim(),
        "5"
    );

    // wait: satisfied at once
    client
        .transact(
            DB,
            vec![Operation::wait(
                "Bridge",
                vec![Condition::eq("name", "brx")],
                ["fail_mode"],
                WaitUntil::Eq,
                vec![row([("fail_mode", Value::string("secure"))])],
                Some(0),
            )],
        )
        .await
        .unwrap();
    // wait: not satisfied, times out on the server
    let err = client
        .transact(
            DB,
            vec![Operation::wait(
                "Bridge",
                vec![Condition::eq("name", "brx")],
                ["fail_mode"],
                WaitUntil::Eq,
                vec![row([("fail_mode", Value::string("standalone"))])],
                Some(0),
            )],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transaction { index: 0, ref error, .. } if error == "timed out"),
        "{err}"
    );

    // select with a comparison function
    let outcome = client
        .transact(
            DB,
            vec![Operation::select_columns(
                "Open_vSwitch",
                vec![Condition::new("next_cfg", Function::Ge, 5i64)],
                ["next_cfg"],
            )],
        )
        .await
        .unwrap();
    assert_eq!(outcome.rows(0).len(), 1);

    // abort
    let err = client
        .transact(
            DB,
            vec![
                Operation::update(
                    "Bridge",
                    vec![Condition::eq("name", "brx")],
                    row([("fail_mode", Value::string("standalone"))]),
                ),
                Operation::abort(),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transaction { index: 1, ref error, .. } if error == "aborted"),
        "{err}"
    );
    assert_eq!(
        server.vsctl(&["get", "Bridge", "brx", "fail_mode"]).trim(),
        "secure"
    );

    // assert without owning the lock
    let err = client
        .transact(DB, vec![Operation::assert_lock("nobody_holds_this")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transaction { index: 0, ref error, .. } if error == "not owner"),
        "{err}"
    );

    // delete (referential integrity keeps the bridge alive while referenced, so detach it)
    let outcome = client
        .transact(
            DB,
            vec![
                Operation::mutate(
                    "Open_vSwitch",
                    vec![],
                    vec![Mutation::delete("bridges", Value::uuid(br))],
                ),
                Operation::delete("Bridge", vec![Condition::uuid_is(br)]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(outcome.count(1), 1);
    assert!(server.vsctl_lines(&["list-br"]).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_transactions_report_server_errors() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;

    // A column that does not exist.
    let err = client
        .transact(
            DB,
            vec![Operation::insert(
                "Bridge",
                row([("no_such_column", Value::string("x"))]),
            )],
        )
        .await
        .unwrap_err();
    match &err {
        Error::Transaction {
            index,
            error,
            details,
        } => {
            assert_eq!(*index, 0);
            assert!(!error.is_empty());
            assert!(
                details
                    .as_deref()
                    .unwrap_or_default()
                    .contains("no_such_column"),
                "{err}"
            );
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("no_such_column"), "{err}");

    // A duplicate bridge name violates the index: reported after the per-operation results.
    add_bridge(&client, "dup").await;
    let err = client
        .transact(
            DB,
            vec![
                Operation::insert("Bridge", row([("name", Value::string("dup"))]))
                    .with_uuid_name("b"),
                Operation::mutate(
                    "Open_vSwitch",
                    vec![],
                    vec![Mutation::insert("bridges", Value::named_uuid("b"))],
                ),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transaction { index: 2, ref error, .. } if error == "constraint violation"),
        "{err:?}"
    );
    assert!(err.to_string().contains("dup"), "{err}");

    // A dangling reference (row inserted into a non-root table but not referenced).
    let err = client
        .transact(
            DB,
            vec![Operation::insert(
                "Port",
                row([("name", Value::string("orphan"))]),
            )],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transaction { .. }), "{err:?}");

    // Unknown database: JSON-RPC level error.
    let err = client
        .transact("NoSuchDb", vec![Operation::comment("x")])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Rpc { .. } | Error::Transaction { .. }),
        "{err:?}"
    );
    assert_eq!(server.vsctl_lines(&["list-br"]), ["dup"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transacts_from_many_tasks() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let name = format!("c{i}");
            let outcome = client
                .transact(
                    DB,
                    vec![
                        Operation::insert_named(
                            "Bridge",
                            row([("name", Value::string(&name))]),
                            "b",
                        ),
                        Operation::mutate(
                            "Open_vSwitch",
                            vec![],
                            vec![Mutation::insert("bridges", Value::named_uuid("b"))],
                        ),
                        Operation::select_columns(
                            "Bridge",
                            vec![Condition::eq("name", name.as_str())],
                            ["name", "_uuid"],
                        ),
                    ],
                )
                .await
                .unwrap();
            let rows = outcome.rows(2);
            assert_eq!(rows.len(), 1);
            assert_eq!(rows[0]["name"].as_str(), Some(name.as_str()));
            assert_eq!(rows[0]["_uuid"].as_uuid(), outcome.uuid_of("b"));
            (name, outcome.uuid_of("b").unwrap())
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        created.push(task.await.unwrap());
    }
    let mut names: Vec<String> = created.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(server.vsctl_lines(&["list-br"]), names);
    for (name, uuid) in created.iter().step_by(17) {
        assert_eq!(
            server.vsctl(&["get", "Bridge", name, "_uuid"]).trim(),
            uuid.to_string()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_not_connected() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("missing.sock");
    let mut opts = options();
    opts.request_timeout = Duration::from_secs(3);

    let err = Client::connect(Remote::Unix(socket.clone()), opts.clone())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reach ovsdb-server at unix:{}: No such file or directory",
            socket.display()
        )
    );

    // Whatever the timing, requests to a missing server fail with NotConnected.
    opts.request_timeout = Duration::from_millis(300);
    let client = Client::start(Remote::Unix(socket), opts);
    assert!(!client.is_connected());
    let err = client.list_dbs().await.unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err:?}");
    let err = client
        .transact(DB, vec![Operation::comment("x")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_wait_for_a_late_server() {
    // The client starts before the server exists; requests wait for the connection.
    let server = OvsdbServer::start();
    server.stop();
    let client = Client::start(server.remote(), options());
    let request = tokio::spawn({
        let client = client.clone();
        async move { client.list_dbs().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.launch();
    let dbs = request
        .await
        .unwrap()
        .expect("request completes once the server is up");
    assert!(dbs.contains(&DB.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_remote() {
    let server = OvsdbServer::start_with(&["--remote=ptcp:0:127.0.0.1"]);
    let port = server.listening_port();
    let remote = Remote::parse(&format!("tcp:127.0.0.1:{port}")).unwrap();
    let client = Client::connect(remote, options()).await.unwrap();
    add_bridge(&client, "tcpbr").await;
    assert_eq!(server.vsctl_lines(&["list-br"]), ["tcpbr"]);
}
