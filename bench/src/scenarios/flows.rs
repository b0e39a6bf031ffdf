//! `flows`: N flows installed through our `openflow` crate and confirmed with an aggregate-stats
//! flow count, as plain flow_mods plus one barrier and as one bundle commit, against
//! `ovs-ofctl add-flows FILE` and `ovs-ofctl --bundle add-flows FILE`. All flows are deleted
//! before each installation (see [`clear`]); each time is the median of several runs.

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use openflow::{Action, FlowFilter, FlowMod, Match, Options, Switch, TABLE_ALL};

use crate::lab::{run_tool, Lab};
use crate::report::Report;
use crate::stats::{median_ms, ratio};

const BRIDGE: &str = "bench-of";

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

pub async fn run(lab: &Lab, count: usize, runs: usize) -> anyhow::Result<Report> {
    lab.add_bridge(BRIDGE).await?;
    let outcome = measure(lab, count, runs.max(1)).await;
    let _ = lab.del_bridge(BRIDGE).await;
    let [plain, bundle, ofctl, ofctl_bundle] = outcome?;

    let mut report = Report::new("flows");
    let (speedup_plain, speedup_bundle) = (ratio(ofctl, plain), ratio(ofctl_bundle, bundle));
    report
        .count("count", count)
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
async fn measure(lab: &Lab, count: usize, runs: usize) -> anyhow::Result<[f64; 4]> {
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
    let mods = flow_mods(count);
    let mut file = tempfile::NamedTempFile::new_in(lab.dir())?;
    file.write_all(flows_text(count).as_bytes())?;
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
}
