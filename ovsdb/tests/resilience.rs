//! Connection behaviour against real and fake servers: reconnecting after ovsdb-server restarts
//! (monitors and locks re-established), requests failing instead of hanging, RFC 7047 cancel,
//! locks shared by two clients, echo handling and inactivity probes.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{connect, eventually, options, row, OvsdbServer, DB, WAIT};
use ovsdb::codec::{encode, FrameDecoder};
use ovsdb::vswitch::{Bridge, TableView};
use ovsdb::{
    Client, ClientOptions, Condition, Error, LockEvent, MonitorEvent, MonitorRequest, Operation,
    Remote, Value, WaitUntil,
};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast;

/// A transaction that blocks on the server until bridge `name` has `fail_mode=secure`.
fn blocking_wait(name: &str) -> Vec<Operation> {
    vec![Operation::wait(
        "Bridge",
        vec![Condition::eq("name", name)],
        ["fail_mode"],
        WaitUntil::Eq,
        vec![row([("fail_mode", Value::string("secure"))])],
        None,
    )]
}

/// Waits for `expected`, skipping other events (ovsdb-server also sends redundant `locked`
/// notifications to a session that already owns the lock).
async fn expect_lock_event(events: &mut broadcast::Receiver<LockEvent>, expected: LockEvent) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {expected:?}"))
            .expect("lock event channel closed");
        if event == expected {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_restart_and_resumes_monitors_and_locks() {
    let server = OvsdbServer::start();
    server.vsctl(&["add-br", "br0"]);
    let client = Client::connect(
        server.remote(),
        ClientOptions {
            request_timeout: Duration::from_secs(3),
            ..options()
        },
    )
    .await
    .unwrap();
    let mut generations = client.connection_events();
    assert_eq!(*generations.borrow_and_update(), 1);
    let mut lock_events = client.lock_events();
    assert!(client.lock("leader").await.unwrap());

    let mut monitor = client
        .monitor_cond(
            DB,
            "resume",
            [("Bridge".to_string(), MonitorRequest::all())].into(),
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, monitor.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(first, MonitorEvent::Initial(_)), "{first:?}");

    server.stop();
    expect_lock_event(&mut lock_events, LockEvent::Lost("leader".into())).await;
    eventually("client notices the server is gone", || async {
        (!client.is_connected()).then_some(())
    })
    .await;
    let err = client.list_dbs().await.unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err:?}");
    assert!(err.to_string().contains("db.sock"), "{err}");
    let err = client
        .transact(DB, vec![Operation::comment("down")])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err:?}");

    // Change the database while the server is down.
    let offline = json!(["Open_vSwitch", {"op": "update", "table": "Bridge",
        "where": [["name", "==", "br0"]], "row": {"external_ids": ["map", [["changed", "offline"]]]}}]);
    let status = std::process::Command::new("ovsdb-tool")
        .arg("transact")
        .arg(server.db_path())
        .arg(offline.to_string())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());

    server.launch();
    tokio::time::timeout(WAIT, generations.wait_for(|g| *g >= 2))
        .await
        .expect("client reconnects")
        .unwrap();

    let event = tokio::time::timeout(WAIT, monitor.recv())
        .await
        .unwrap()
        .unwrap();
    let MonitorEvent::Reconnected(snapshot) = event else {
        panic!("expected Reconnected first, got {event:?}");
    };
    let bridges = Bridge::all(&snapshot["Bridge"]);
    let br0 = bridges.values().find(|b| b.name == "br0").unwrap();
    assert_eq!(br0.external_ids["changed"], "offline");

    // The monitor is live again.
    server.vsctl(&["add-br", "br1"]);
    let event = tokio::time::timeout(WAIT, monitor.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(event, MonitorEvent::Insert { ref new, .. } if new["name"].as_str() == Some("br1")),
        "{event:?}"
    );
    // And the lock was re-acquired.
    expect_lock_event(&mut lock_events, LockEvent::Locked("leader".into())).await;
    client
        .transact(DB, vec![Operation::assert_lock("leader")])
        .await
        .unwrap();
    assert!(client.list_dbs().await.unwrap().contains(&DB.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_in_flight_fails_when_the_connection_drops() {
    let server = OvsdbServer::start();
    server.vsctl(&["add-br", "br0"]);
    // A long timeout: the request must fail because of the drop, not time out.
    let client = Client::connect(
        server.remote(),
        ClientOptions {
            request_timeout: Duration::from_secs(60),
            ..options()
        },
    )
    .await
    .unwrap();
    let blocked = tokio::spawn({
        let client = client.clone();
        async move { client.transact(DB, blocking_wait("br0")).await }
    });
    // Make sure the request reached the server before killing it.
    client.echo().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!blocked.is_finished());
    server.stop();
    let result = tokio::time::timeout(WAIT, blocked)
        .await
        .expect("request must not hang")
        .unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_timeout_bounds_unanswered_requests() {
    let server = OvsdbServer::start();
    server.vsctl(&["add-br", "br0"]);
    let client = Client::start(
        server.remote(),
        ClientOptions {
            request_timeout: Duration::from_millis(500),
            ..options()
        },
    );
    // Wait for the connection separately so that a slow machine does not turn the expected
    // Timeout into NotConnected.
    tokio::time::timeout(WAIT, client.connection_events().wait_for(|g| *g >= 1))
        .await
        .unwrap()
        .unwrap();
    let err = client.transact(DB, blocking_wait("br0")).await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { ref method, .. } if method == "transact"),
        "{err:?}"
    );
    // The connection is still usable.
    client.echo().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_abandons_a_blocked_transaction() {
    let server = OvsdbServer::start();
    server.vsctl(&["add-br", "br0"]);
    let client = Client::connect(
        server.remote(),
        ClientOptions {
            request_timeout: Duration::from_secs(60),
            ..options()
        },
    )
    .await
    .unwrap();
    let id = client.new_request_id();
    let blocked = tokio::spawn({
        let client = client.clone();
        async move { client.transact_with_id(id, DB, blocking_wait("br0")).await }
    });
    client.echo().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!blocked.is_finished());
    client.cancel(id).unwrap();
    let err = tokio::time::timeout(WAIT, blocked)
        .await
        .expect("cancelled request completes")
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("canceled"), "{err:?}");
    client.echo().await.unwrap();
    // The server really dropped it: satisfying the wait does not apply anything, and the
    // connection keeps working.
    server.vsctl(&["set", "Bridge", "br0", "fail_mode=secure"]);
    client.echo().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_with_two_clients() {
    let server = OvsdbServer::start();
    let a = connect(&server).await;
    let b = connect(&server).await;
    let mut a_events = a.lock_events();
    let mut b_events = b.lock_events();
    let assert_lock = |client: Client| async move {
        client
            .transact(DB, vec![Operation::assert_lock("lk")])
            .await
    };

    assert!(a.lock("lk").await.unwrap());
    assert!(!b.lock("lk").await.unwrap());
    assert_lock(a.clone()).await.unwrap();
    let err = assert_lock(b.clone()).await.unwrap_err();
    assert!(
        matches!(err, Error::Transaction { ref error, .. } if error == "not owner"),
        "{err}"
    );

    // Stealing needs the pending lock request to be withdrawn first.
    assert!(b.steal("lk").await.is_err());
    b.unlock("lk").await.unwrap();
    b.steal("lk").await.unwrap();
    expect_lock_event(&mut a_events, LockEvent::Stolen("lk".into())).await;
    assert_lock(b.clone()).await.unwrap();
    assert!(assert_lock(a.clone()).await.is_err());

    // A gave up; when B releases, nobody holds it.
    a.unlock("lk").await.unwrap();
    b.unlock("lk").await.unwrap();
    assert!(assert_lock(b.clone()).await.is_err());

    // Waiting for a lock: granted with a `locked` notification once the holder unlocks.
    assert!(a.lock("lk").await.unwrap());
    assert!(!b.lock("lk").await.unwrap());
    a.unlock("lk").await.unwrap();
    expect_lock_event(&mut b_events, LockEvent::Locked("lk".into())).await;
    assert_lock(b.clone()).await.unwrap();
}

/// A hand-written server that sends an echo request, checks the reply, then ignores everything
/// so the client's inactivity probe has to give up and reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_echo_and_drops_silent_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let client = Client::start(
        Remote::Unix(path),
        ClientOptions {
            probe_interval: Duration::from_millis(200),
            ..options()
        },
    );

    let (mut stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap();
    let mut decoder = FrameDecoder::new();
    let request = json!({"id": "srv-echo", "method": "echo", "params": ["ping", 1]});
    stream.write_all(&encode(&request)).await.unwrap();
    let reply = read_until(&mut stream, &mut decoder, |m| m["id"] == "srv-echo").await;
    assert_eq!(
        reply,
        json!({"id": "srv-echo", "result": ["ping", 1], "error": null})
    );

    // Stay silent: the client probes with its own echo and, unanswered, reconnects.
    let probe = read_until(&mut stream, &mut decoder, |m| m["method"] == "echo").await;
    assert!(!probe["id"].is_null());
    let (_second, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("client reconnects after the probe timeout")
        .unwrap();
    eventually("second connection", || async {
        (*client.connection_events().borrow() >= 2).then_some(())
    })
    .await;
}

async fn read_until(
    stream: &mut UnixStream,
    decoder: &mut FrameDecoder,
    wanted: impl Fn(&Json) -> bool,
) -> Json {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        while let Some(message) = decoder.decode().unwrap() {
            if wanted(&message) {
                return message;
            }
        }
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("timed out reading from client")
            .unwrap();
        assert!(n > 0, "client closed the connection");
        decoder.extend(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_monitor_is_cancelled() {
    let server = OvsdbServer::start();
    let client = connect(&server).await;
    let requests: BTreeMap<String, MonitorRequest> =
        [("Bridge".to_string(), MonitorRequest::all())].into();
    let monitor = client
        .monitor(DB, "dropme", requests.clone())
        .await
        .unwrap();
    drop(monitor);
    // The next update finds the receiver gone and cancels the monitor, freeing the id.
    server.vsctl(&["add-br", "br0"]);
    eventually("monitor id reusable", || {
        let client = client.clone();
        let requests = requests.clone();
        async move { client.monitor(DB, "dropme", requests).await.ok() }
    })
    .await;
}
