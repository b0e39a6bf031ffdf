//! `restart`: N endpoints exist; the driver is SIGKILLed; all flows are deleted from its bridge
//! while it is down (after a SIGKILL they would otherwise still be there, and there would be
//! nothing to measure); then the time from starting it again until it answers on its plugin
//! socket and the bridge has as many driver flows (driver cookie prefix) as before the kill.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use openflow::{FlowFilter, FlowMod, Match, Options, Switch, TABLE_ALL};
use ovs_driver::pipeline::{COOKIE_PREFIX, COOKIE_PREFIX_MASK};

use crate::driver::{DriverProcess, DriverSetup};
use crate::lab::Lab;
use crate::plugin::PluginClient;
use crate::report::Report;
use crate::stats::ms;
use crate::workload::{self, BenchNetwork, Phase};

/// The target is stated for this many endpoints.
const TARGET_COUNT: usize = 1000;
/// Give up waiting for the reconciliation after this long.
const RECONCILE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the driver's flows are counted while it reconciles (the resolution of
/// `reconcile_ms`).
const POLL: Duration = Duration::from_millis(10);

pub async fn run(lab: &Lab, setup: &DriverSetup, endpoints: usize) -> anyhow::Result<Report> {
    let mut driver = DriverProcess::start(setup, lab).await?;
    let socket = driver.socket().to_path_buf();
    let mut client = PluginClient::connect(&socket).await?;
    let network = BenchNetwork::create(&mut client, 202).await?;
    let ids = workload::endpoint_ids(endpoints);
    let measured = async {
        workload::drive(&socket, &network, &ids, 1, Phase::Attach).await?;
        measure(lab, setup, &mut driver, &network).await
    }
    .await;
    let log_tail = driver.log_tail(20);
    // Clean up through whichever driver is running now.
    let cleanup = async {
        driver.wait_answering(Duration::from_secs(30)).await?;
        workload::drive(&socket, &network, &ids, 1, Phase::Detach).await?;
        let mut client = PluginClient::connect(&socket).await?;
        network.delete(&mut client).await
    }
    .await;
    driver.stop().await;
    let (answer, reconcile, flows) =
        measured.with_context(|| format!("driver log tail:\n{log_tail}"))?;
    cleanup.context("removing the endpoints and network after the restart")?;

    let reconcile_ms = ms(reconcile);
    let at = if endpoints == TARGET_COUNT {
        String::new()
    } else {
        format!(" (stated for {TARGET_COUNT} endpoints, measured with {endpoints})")
    };
    let mut report = Report::new("restart");
    report
        .count("endpoints", endpoints)
        .count("flows", flows)
        .real("answer_ms", ms(answer))
        .real("reconcile_ms", reconcile_ms)
        .note(
            "answer = until Plugin.Activate succeeds; reconcile = until it answers and all of \
             its flows are back",
        )
        .target(
            format!("restart reconciled within 1 s: {reconcile_ms:.0} ms{at}"),
            reconcile_ms <= 1000.0,
        );
    Ok(report)
}

/// Kills and restarts the driver; returns (time to answer, time to reconciled, flow count).
async fn measure(
    lab: &Lab,
    setup: &DriverSetup,
    driver: &mut DriverProcess,
    network: &BenchNetwork,
) -> anyhow::Result<(Duration, Duration, usize)> {
    let target = lab.ofctl_target(&network.bridge);
    let options = Options {
        request_timeout: Duration::from_secs(60),
        miss_send_len: None,
        ..Options::default()
    };
    let switch = Switch::connect(&target, options)?;
    switch
        .wait_connected(Duration::from_secs(20))
        .await
        .with_context(|| format!("OpenFlow connection to {target}"))?;
    // Restart from a quiet switch: what the measurement then sees is the restart alone.
    lab.settle().await?;
    let before = driver_flows(&switch).await?;
    if before == 0 {
        bail!("the driver installed no flows on {}", network.bridge);
    }

    driver.kill().await;
    switch
        .send_flow_mods(vec![FlowMod::delete(TABLE_ALL, Match::new())])
        .await?;
    let left = driver_flows(&switch).await?;
    if left != 0 {
        bail!("{left} driver flows left after deleting all flows");
    }

    let started = Instant::now();
    driver.respawn(setup, lab)?;
    let mut answered = None;
    loop {
        if answered.is_none() && driver.answers().await? {
            answered = Some(started.elapsed());
        }
        let now = driver_flows(&switch).await?;
        if let Some(answer) = answered {
            if now == before {
                return Ok((answer, started.elapsed(), before));
            }
        }
        if started.elapsed() > RECONCILE_TIMEOUT {
            bail!(
                "after {RECONCILE_TIMEOUT:?} the restarted driver {} and restored {now} of \
                 {before} flows",
                if answered.is_some() {
                    "answers"
                } else {
                    "does not answer"
                }
            );
        }
        // Not faster: every poll makes ovs-vswitchd walk all flows, time the restored
        // driver's bundle then waits for.
        tokio::time::sleep(POLL).await;
    }
}

/// Flows on the bridge that carry the driver's cookie prefix.
async fn driver_flows(switch: &Switch) -> anyhow::Result<usize> {
    let filter = FlowFilter::all().cookie(COOKIE_PREFIX, COOKIE_PREFIX_MASK);
    Ok(switch.aggregate(filter).await?.flow_count as usize)
}
