//! `flows`: N flows installed through our `openflow` crate and confirmed with an aggregate-stats
//! flow count, as plain flow_mods plus one barrier and as one bundle commit, against
//! `ovs-ofctl add-flows FILE` and `ovs-ofctl --bundle add-flows FILE`. All flows are deleted
//! before each installation (see [`clear`]); each time is the median of several runs.
//!
//! Two workloads: `simple` (one destination address per flow) and `pipeline` (the flows the
//! driver installs for a dual-stack network of enough endpoints, in `ovs-ofctl`'s own syntax as
//! `dump-flows` prints them).

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use openflow::{Action, FlowFilter, FlowMod, Match, Options, Switch, TABLE_ALL};
use ovs_driver::flows::openflow::to_flow_mod;
use ovs_driver::flows::FlowChange;
use ovs_driver::naming::Mac;
use ovs_driver::options::NetworkOptions;
use ovs_driver::pipeline::{NetworkPlan, PlacedEndpoint};
use ovs_driver::switch::{EndpointRecord, NetworkRecord};

use crate::lab::{run_tool, Lab};
use crate::report::Report;
use crate::stats::{median_ms, ratio};

const BRIDGE: &str = "bench-of";

/// Which flows are installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// One flow per destination address (priority, eth_type, ipv4_dst, output).
    Simple,
    /// The driver's own pipeline: port security, ARP/ND, forwarding, flooding.
    Pipeline,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Simple => "simple",
            Workload::Pipeline => "pipeline",
        }
    }
}

/// The N flows: one per destination address, distinct cookies.
fn flow_mods(count: usize) -> Vec<FlowMod> {
    (0..count as u32)
        .map(|index| {
            let destination = Ipv4Addr::from(0x0a00_0000 + index);
            FlowMod::add(0, 100, Match::new().eth_type(0x0800).ipv4_dst(destination))
                .cookie(u64::from(index) + 1)
                .apply(vec![Action::output(1)])
        })
        .collect()
}

/// The same flows in `ovs-ofctl add-flows` syntax.
fn flows_text(count: usize) -> String {
    let mut text = String::with_capacity(count * 64);
    for index in 0..count as u32 {
        let destination = Ipv4Addr::from(0x0a00_0000 + index);
        text.push_str(&format!(
            "cookie={:#x},priority=100,ip,nw_dst={destination},actions=output:1\n",
            u64::from(index) + 1
        ));
    }
    text
}

/// The first `count` flows the driver installs for one dual-stack network with as many
/// endpoints as it takes (about 14 flows each).
fn pipeline_flow_mods(count: usize) -> Vec<FlowMod> {
    let network_id = format!("{:064x}", 0xbe0c_u32);
    let bridge = format!("br-{}", &network_id[..12]);
    let mut plan = NetworkPlan {
        network: NetworkRecord {
            network_id: network_id.clone(),
            bridge: bridge.clone(),
            subnets: vec![
                "10.60.0.0/16".parse().unwrap(),
                "fd60::/64".parse().unwrap(),
            ],
            gateways: vec![
                "10.60.0.1/16".parse().unwrap(),
                "fd60::1/64".parse().unwrap(),
            ],
            options: NetworkOptions::default(),
            owned: true,
            internal: false,
        },
        gateway_mac: Some(Mac([0x02, 0x60, 0, 0, 0, 1])),
        uplink_ofport: None,
        endpoints: Vec::new(),
    };
    let mut index = 0u32;
    while plan.flows().len() < count {
        // Docker ids are random; the MAC comes from the first 10 digits, the port from the first 12.
        let endpoint_id = format!(
            "{:010x}{}",
            0x10_0000_0000_u64 + u64::from(index),
            "e".repeat(54)
        );
        let host = 0x0a3c_0002 + index;
        plan.endpoints.push(PlacedEndpoint {
            record: EndpointRecord {
                endpoint_id: endpoint_id.clone(),
                network_id: network_id.clone(),
                bridge: bridge.clone(),
                port: format!("ovs{}", &endpoint_id[..12]),
                container_iface: format!("ovc{}", &endpoint_id[..12]),
                mac: Mac::from_id(&endpoint_id),
                addresses: vec![
                    format!("{}/16", Ipv4Addr::from(host)).parse().unwrap(),
                    format!(
                        "{}/64",
                        Ipv6Addr::from(0xfd60_u128 << 112 | u128::from(host))
                    )
                    .parse()
                    .unwrap(),
                ],
                sandbox: None,
            },
            ofport: index + 2,
        });
        index += 1;
    }
    let mut flows = plan.flows();
    flows.truncate(count);
    flows
        .into_iter()
        .map(|flow| to_flow_mod(FlowChange::Add(flow)))
        .collect()
}

/// Flows as `ovs-ofctl dump-flows --no-stats` prints them, ready for `add-flows`: the way to
/// get `ovs-ofctl`'s own syntax for flows with any actions.
async fn ofctl_text_of(lab: &Lab, switch: &Switch, mods: &[FlowMod]) -> anyhow::Result<String> {
    clear(switch, mods.len()).await?;
    switch.bundle(mods.to_vec()).await?;
    let target = lab.ofctl_target(BRIDGE);
    let dump = run_tool(
        "ovs-ofctl",
        &["-O", "OpenFlow14", "--no-stats", "dump-flows", &target],
    )
    .await?;
    let lines: Vec<&str> = dump
        .lines()
        .map(str::trim)
        .filter(|line| line.starts_with("cookie="))
        .collect();
    if lines.len() != mods.len() {
        bail!(
            "ovs-ofctl dump-flows printed {} flows, {} were installed",
            lines.len(),
            mods.len()
        );
    }
    Ok(lines.join("\n") + "\n")
}

pub async fn run(
    lab: &Lab,
    count: usize,
    runs: usize,
    workload: Workload,
) -> anyhow::Result<Report> {
    lab.add_bridge(BRIDGE).await?;
    let outcome = measure(lab, count, runs.max(1), workload).await;
    let _ = lab.del_bridge(BRIDGE).await;
    let [plain, bundle, ofctl, ofctl_bundle] = outcome?;

    let mut report = Report::new("flows");
    let (speedup_plain, speedup_bundle) = (ratio(ofctl, plain), ratio(ofctl_bundle, bundle));
    report
        .count("count", count)
        .label("workload", workload.name())
        .real("ours_plain_ms", plain)
        .real("ours_bundle_ms", bundle)
        .real("ofctl_ms", ofctl)
        .real("ofctl_bundle_ms", ofctl_bundle)
        .real("speedup_plain", speedup_plain)
        .real("speedup_bundle", speedup_bundle)
        .note(format!("median of {} runs", runs.max(1)))
        .target(
            format!("plain flow_mods >= 10x faster than ovs-ofctl add-flows: {speedup_plain:.1}x"),
            speedup_plain >= 10.0,
        )
        .target(
            format!("bundle >= 2x faster than ovs-ofctl --bundle add-flows: {speedup_bundle:.1}x"),
            speedup_bundle >= 2.0,
        );
    Ok(report)
}

/// Median milliseconds of: ours plain, ours bundle, ovs-ofctl, ovs-ofctl --bundle.
async fn measure(
    lab: &Lab,
    count: usize,
    runs: usize,
    workload: Workload,
) -> anyhow::Result<[f64; 4]> {
    let target = lab.ofctl_target(BRIDGE);
    let options = Options {
        request_timeout: Duration::from_secs(120),
        miss_send_len: None,
        ..Options::default()
    };
    let switch = Switch::connect(&target, options)?;
    switch
        .wait_connected(Duration::from_secs(20))
        .await
        .with_context(|| format!("OpenFlow connection to {target}"))?;
    let (mods, text) = match workload {
        Workload::Simple => (flow_mods(count), flows_text(count)),
        Workload::Pipeline => {
            let mods = pipeline_flow_mods(count);
            let text = ofctl_text_of(lab, &switch, &mods).await?;
            (mods, text)
        }
    };
    let mut file = tempfile::NamedTempFile::new_in(lab.dir())?;
    file.write_all(text.as_bytes())?;
    let file_path = file.path().display().to_string();

    let mut times: [Vec<Duration>; 4] = Default::default();
    // The first round is a warm-up and is not counted: a fresh ovs-vswitchd first grows its
    // heap (thousands of page faults), which would land on whichever method runs first.
    for round in 0..=runs {
        if round == 1 {
            times = Default::default();
        }
        clear(&switch, count).await?;
        let batch = mods.clone();
        let started = Instant::now();
        switch.send_flow_mods(batch).await?;
        times[0].push(started.elapsed());
        confirm(&switch, count, "flow_mods + barrier").await?;

        clear(&switch, count).await?;
        let batch = mods.clone();
        let started = Instant::now();
        switch.bundle(batch).await?;
        times[1].push(started.elapsed());
        confirm(&switch, count, "bundle").await?;

        for (slot, bundle) in [(2, false), (3, true)] {
            clear(&switch, count).await?;
            let mut args = if bundle {
                vec!["-O", "OpenFlow14", "--bundle"]
            } else {
                vec!["-O", "OpenFlow13"]
            };
            args.extend(["add-flows", &target, &file_path]);
            let started = Instant::now();
            run_tool("ovs-ofctl", &args).await?;
            times[slot].push(started.elapsed());
            confirm(&switch, count, "ovs-ofctl add-flows").await?;
        }
    }
    clear(&switch, count).await?;
    Ok(times.map(|samples| median_ms(&samples)))
}

/// Deletes every flow, then gives ovs-vswitchd time for the work a delete of `count` flows
/// leaves behind (RCU-deferred frees), which would otherwise slow down whichever method is
/// measured next: the ovs-ofctl runs get that time anyway while the process starts.
async fn clear(switch: &Switch, count: usize) -> anyhow::Result<()> {
    switch
        .send_flow_mods(vec![FlowMod::delete(TABLE_ALL, Match::new())])
        .await?;
    let settle_ms = (count as u64 * 30 / 1000).clamp(20, 300);
    tokio::time::sleep(Duration::from_millis(settle_ms)).await;
    switch.barrier().await?;
    Ok(())
}

async fn confirm(switch: &Switch, count: usize, what: &str) -> anyhow::Result<()> {
    let installed = switch.aggregate(FlowFilter::all()).await?.flow_count;
    if installed as usize != count {
        bail!("{what}: expected {count} flows, the switch has {installed}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_and_text_agree_in_number() {
        assert_eq!(flow_mods(3).len(), 3);
        let text = flows_text(3);
        assert_eq!(text.lines().count(), 3);
        assert!(text.starts_with("cookie=0x1,priority=100,ip,nw_dst=10.0.0.0,actions=output:1"));
    }

    #[test]
    fn pipeline_workload_has_the_count_asked_for_in_several_tables() {
        let mods = pipeline_flow_mods(500);
        assert_eq!(mods.len(), 500);
        // All distinct, or the switch would keep fewer than it was given.
        let keys: std::collections::BTreeSet<String> = mods
            .iter()
            .map(|m| format!("{} {} {:?}", m.table_id, m.priority, m.flow_match))
            .collect();
        assert_eq!(keys.len(), 500);
        let tables: std::collections::BTreeSet<u8> = mods.iter().map(|m| m.table_id).collect();
        assert!(tables.len() >= 3, "{tables:?}");
    }
}
