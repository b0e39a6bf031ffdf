//! Flow installation benchmark against a private ovs-vswitchd (userspace bridge in its own
//! network namespace, OVS state in a temp dir; run as root).
//!
//! For each N (default 1000 and 10000) it installs N flows four ways and confirms each
//! with aggregate stats: our `send_flow_mods` (+ one barrier), our `bundle` (atomic
//! commit), `ovs-ofctl add-flows FILE` and `ovs-ofctl --bundle add-flows FILE`; then it
//! prints the times and the speed-up ratios.
//!
//! `cargo run --release -p openflow --example flow_bench [N...]`

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use openflow::{Action, FlowFilter, FlowMod, Match, Options, Switch, Version, TABLE_ALL};

const RUNS: usize = 5;

fn flows(n: u32) -> Vec<FlowMod> {
    (0..n)
        .map(|i| {
            FlowMod::add(
                0,
                100,
                Match::new()
                    .eth_type(0x0800)
                    .ipv4_dst(Ipv4Addr::from(0x0a00_0000 + i)),
            )
            .cookie(u64::from(i) + 1)
            .apply(vec![Action::output(1)])
        })
        .collect()
}

fn flows_file(n: u32) -> Result<tempfile::NamedTempFile> {
    let mut file = tempfile::NamedTempFile::new()?;
    let mut text = String::with_capacity(n as usize * 64);
    for i in 0..n {
        let ip = Ipv4Addr::from(0x0a00_0000 + i);
        text.push_str(&format!(
            "cookie={:#x},priority=100,ip,nw_dst={ip},actions=output:1\n",
            u64::from(i) + 1
        ));
    }
    file.write_all(text.as_bytes())?;
    Ok(file)
}

/// Deletes every flow, then lets the switch finish deferred cleanup so that it does not
/// slow down the next measurement.
async fn clear(sw: &Switch) -> Result<()> {
    sw.send_flow_mods(vec![FlowMod::delete(TABLE_ALL, Match::new())])
        .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sw.barrier().await?;
    Ok(())
}

async fn confirm(sw: &Switch, n: u32, what: &str) -> Result<()> {
    let count = sw.aggregate(FlowFilter::all()).await?.flow_count;
    if count != n {
        bail!("{what}: expected {n} flows, switch has {count}");
    }
    Ok(())
}

fn ofctl(target: &str, bundle: bool, file: &std::path::Path) -> Result<()> {
    let mut cmd = Command::new("ovs-ofctl");
    if bundle {
        cmd.args(["-O", "OpenFlow14", "--bundle"]);
    } else {
        cmd.args(["-O", "OpenFlow13"]);
    }
    let out = cmd
        .arg("add-flows")
        .arg(target)
        .arg(file)
        .output()
        .context("run ovs-ofctl")?;
    if !out.status.success() {
        bail!("ovs-ofctl failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Median and best of the runs.
fn summary(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[0])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes: Vec<u32> = {
        let args: Vec<u32> = std::env::args()
            .skip(1)
            .filter_map(|a| a.parse().ok())
            .collect();
        if args.is_empty() {
            vec![1000, 10000]
        } else {
            args
        }
    };
    let ovs = common::Ovs::start();
    let target = ovs.target();
    let options = Options {
        request_timeout: Duration::from_secs(120),
        ..Options::default()
    };
    let sw = Switch::connect(&target, options)?;
    let version = sw.wait_connected(Duration::from_secs(20)).await?;
    println!(
        "private ovs-vswitchd (netdev bridge) at {target}, negotiated {version}, {RUNS} runs each"
    );
    assert!(version >= Version::V1_3);
    for n in sizes {
        let mods = flows(n);
        let file = flows_file(n)?;
        let mut times: [Vec<Duration>; 4] = Default::default();
        for _ in 0..RUNS {
            clear(&sw).await?;
            let batch = mods.clone();
            let t = Instant::now();
            sw.send_flow_mods(batch).await?;
            times[0].push(t.elapsed());
            confirm(&sw, n, "send_flow_mods").await?;

            clear(&sw).await?;
            let batch = mods.clone();
            let t = Instant::now();
            sw.bundle(batch).await?;
            times[1].push(t.elapsed());
            confirm(&sw, n, "bundle").await?;

            clear(&sw).await?;
            let t = Instant::now();
            ofctl(&target, false, file.path())?;
            times[2].push(t.elapsed());
            confirm(&sw, n, "ovs-ofctl add-flows").await?;

            clear(&sw).await?;
            let t = Instant::now();
            ofctl(&target, true, file.path())?;
            times[3].push(t.elapsed());
            confirm(&sw, n, "ovs-ofctl --bundle add-flows").await?;
        }
        let [ours, ours_bundle, ofctl_plain, ofctl_bundle] = times.map(summary);
        let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
        println!("N={n}                            median      (best)");
        let line = |name: &str, (median, best): (Duration, Duration)| {
            println!("  {name:<30}{:>10} ({:>9})", ms(median), ms(best));
        };
        line("send_flow_mods + barrier", ours);
        line("ovs-ofctl add-flows", ofctl_plain);
        line("bundle (open/add/commit)", ours_bundle);
        line("ovs-ofctl --bundle add-flows", ofctl_bundle);
        println!(
            "  ratio plain:  {:.1}x median, {:.1}x best",
            ratio(ofctl_plain.0, ours.0),
            ratio(ofctl_plain.1, ours.1)
        );
        println!(
            "  ratio bundle: {:.1}x median, {:.1}x best",
            ratio(ofctl_bundle.0, ours_bundle.0),
            ratio(ofctl_bundle.1, ours_bundle.1)
        );
    }
    clear(&sw).await?;
    Ok(())
}
