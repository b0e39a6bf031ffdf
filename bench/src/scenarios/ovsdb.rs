//! `ovsdb`: N add-port transactions (Interface and Port inserts plus the Bridge `ports` mutation)
//! through our `ovsdb` crate, many in flight on one connection, against N
//! `ovs-vsctl --no-wait add-port` runs.
//!
//! With the private OVS the transactions go to an ovsdb-server of their own that no
//! ovs-vswitchd follows, so the numbers are the cost of the database protocol and not of
//! ovs-vswitchd trying to open N ports that have no network device; with `--ovsdb` they go to
//! the given server.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::stream::{FuturesUnordered, StreamExt};
use ovsdb::{Client, ClientOptions, Condition, Mutation, Operation, Remote, Value};

use crate::lab::{vsctl_at, Lab};
use crate::report::Report;
use crate::stats::{ms, ratio};

/// Transactions in flight at once on our connection.
const WINDOW: usize = 128;
/// Transactions timed one at a time (round-trip latency, what the driver waits for).
const SERIAL_SAMPLE: usize = 200;

pub async fn run(lab: &Lab, count: usize) -> anyhow::Result<Report> {
    let (_server, remote) = if lab.is_private() {
        let (daemon, remote) = lab
            .start_ovsdb_server("benchmark ovsdb-server", "ovsdb-bench")
            .await?;
        vsctl_at(&remote, &["init"], true).await?;
        (Some(daemon), remote)
    } else {
        (None, lab.ovsdb_remote().to_string())
    };
    let datapath = format!("datapath_type={}", lab.datapath_type());

    let ours_bridge = "bench-db-ours";
    let serial_bridge = "bench-db-serial";
    let vsctl_bridge = "bench-db-vsctl";
    let bridges = [ours_bridge, serial_bridge, vsctl_bridge];
    for bridge in bridges {
        vsctl_at(
            &remote,
            &["add-br", bridge, "--", "set", "bridge", bridge, &datapath],
            true,
        )
        .await?;
    }
    let outcome = measure(&remote, count, ours_bridge, serial_bridge, vsctl_bridge).await;
    for bridge in bridges {
        let _ = vsctl_at(&remote, &["--if-exists", "del-br", bridge], true).await;
    }
    let (ours, serial, baseline) = outcome?;

    let ours_ms = ms(ours) / count as f64;
    let baseline_ms = ms(baseline) / count as f64;
    let mut report = Report::new("ovsdb");
    report
        .count("count", count)
        .real("ours_ms_per_txn", ours_ms)
        .real("ours_serial_ms_per_txn", serial)
        .real("baseline_ms_per_txn", baseline_ms)
        .real("speedup", ratio(baseline_ms, ours_ms))
        .note(format!(
            "ours: up to {WINDOW} transactions in flight on one connection; serial: one at a \
             time, {} transactions",
            count.min(SERIAL_SAMPLE)
        ));
    if lab.is_private() {
        report.note("against an ovsdb-server with no ovs-vswitchd attached");
    }
    report.target(
        format!("OVSDB transactions <= 0.5 ms each: {ours_ms:.3} ms"),
        ours_ms <= 0.5,
    );
    Ok(report)
}

/// (pipelined total, serial mean ms, ovs-vsctl total).
async fn measure(
    remote: &str,
    count: usize,
    ours_bridge: &str,
    serial_bridge: &str,
    vsctl_bridge: &str,
) -> anyhow::Result<(Duration, f64, Duration)> {
    let options = ClientOptions {
        request_timeout: Duration::from_secs(120),
        ..ClientOptions::default()
    };
    let client = Client::connect(Remote::parse(remote)?, options)
        .await
        .context("connecting our OVSDB client")?;
    client.echo().await?;
    // A new bridge already has one port: its internal interface.
    let initial = port_count(&client, ours_bridge).await?;

    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    for index in 0..count {
        in_flight.push(add_port(&client, ours_bridge, format!("dbo{index}")));
        if in_flight.len() >= WINDOW {
            in_flight.next().await.expect("not empty")?;
        }
    }
    while let Some(result) = in_flight.next().await {
        result?;
    }
    let ours = started.elapsed();
    expect_ports(&client, ours_bridge, initial + count).await?;

    let serial_count = count.min(SERIAL_SAMPLE);
    let started = Instant::now();
    for index in 0..serial_count {
        add_port(&client, serial_bridge, format!("dbs{index}")).await?;
    }
    let serial = ms(started.elapsed()) / serial_count.max(1) as f64;

    let started = Instant::now();
    for index in 0..count {
        vsctl_at(
            remote,
            &["add-port", vsctl_bridge, &format!("dbv{index}")],
            true,
        )
        .await?;
    }
    let baseline = started.elapsed();
    expect_ports(&client, vsctl_bridge, initial + count).await?;
    Ok((ours, serial, baseline))
}

/// One `add-port`: what `ovs-vsctl add-port BRIDGE NAME` writes.
async fn add_port(client: &Client, bridge: &str, name: String) -> anyhow::Result<()> {
    let interface = [("name".to_string(), Value::string(name.clone()))].into();
    let port = [
        ("name".to_string(), Value::string(name)),
        ("interfaces".to_string(), Value::named_uuid("iface")),
    ]
    .into();
    let outcome = client
        .transact(
            "Open_vSwitch",
            vec![
                Operation::insert_named("Interface", interface, "iface"),
                Operation::insert_named("Port", port, "port"),
                Operation::mutate(
                    "Bridge",
                    vec![Condition::eq("name", bridge)],
                    vec![Mutation::insert("ports", Value::named_uuid("port"))],
                ),
            ],
        )
        .await?;
    if outcome.count(2) != 1 {
        bail!("bridge {bridge} not found");
    }
    Ok(())
}

async fn expect_ports(client: &Client, bridge: &str, count: usize) -> anyhow::Result<()> {
    let ports = port_count(client, bridge).await?;
    if ports != count {
        bail!("bridge {bridge} has {ports} ports, expected {count}");
    }
    Ok(())
}

async fn port_count(client: &Client, bridge: &str) -> anyhow::Result<usize> {
    let outcome = client
        .transact(
            "Open_vSwitch",
            vec![Operation::select_columns(
                "Bridge",
                vec![Condition::eq("name", bridge)],
                ["ports"],
            )],
        )
        .await?;
    let ports = outcome
        .rows(0)
        .first()
        .and_then(|row| row.get("ports"))
        .map(|ports| ports.as_uuid_set().len())
        .unwrap_or(0);
    Ok(ports)
}
