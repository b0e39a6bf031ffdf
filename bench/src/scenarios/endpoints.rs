//! `endpoints`: N containers attached and detached through the driver's plugin socket exactly as
//! dockerd does it, against the shell-out baseline (`ip link add` veth + `ovs-vsctl add-port`,
//! then `ovs-vsctl del-port` + `ip link del`) for the same N on a bridge made with ovs-vsctl.

use std::time::{Duration, Instant};

use anyhow::Context;

use crate::driver::{DriverProcess, DriverSetup};
use crate::lab::{run_tool, Lab};
use crate::plugin::PluginClient;
use crate::report::Report;
use crate::stats::{cpu_time, mean_ms, percentile_ms, ratio};
use crate::workload::{self, BenchNetwork, Phase};

/// The targets are stated for this many endpoints.
const TARGET_COUNT: usize = 1000;

/// What the driver run measured.
struct DriverRun {
    create: Vec<Duration>,
    delete: Vec<Duration>,
    rss_mib: f64,
    /// CPU time the driver and ovs-vswitchd used while the endpoints were created.
    driver_cpu: Option<Duration>,
    vswitchd_cpu: Option<Duration>,
}

pub async fn run(
    lab: &Lab,
    setup: &DriverSetup,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Report> {
    let mut driver = DriverProcess::start(setup, lab).await?;
    let measured = measure_driver(lab, &mut driver, count, concurrency).await;
    let log_tail = driver.log_tail(20);
    driver.stop().await;
    let run = measured.with_context(|| format!("driver log tail:\n{log_tail}"))?;
    let (baseline_create, baseline_delete) = shell_baseline(lab, count).await?;

    let first = &run.create[..count.min(10)];
    let last = &run.create[count.saturating_sub(10)..];
    let create_mean = mean_ms(&run.create);
    let mut report = Report::new("endpoints");
    report
        .count("count", count)
        .count("concurrency", concurrency)
        .real("create_p50_ms", percentile_ms(&run.create, 50.0))
        .real("create_p99_ms", percentile_ms(&run.create, 99.0))
        .real("create_mean_ms", create_mean)
        .real("delete_p50_ms", percentile_ms(&run.delete, 50.0))
        .real("delete_p99_ms", percentile_ms(&run.delete, 99.0))
        .real("delete_mean_ms", mean_ms(&run.delete))
        .real("baseline_create_ms", mean_ms(&baseline_create))
        .real("baseline_delete_ms", mean_ms(&baseline_delete))
        .real(
            "speedup_create",
            ratio(mean_ms(&baseline_create), create_mean),
        )
        .real(
            "speedup_delete",
            ratio(mean_ms(&baseline_delete), mean_ms(&run.delete)),
        )
        .real("per_endpoint_ms_at_10", mean_ms(first))
        .real("per_endpoint_ms_at_n", mean_ms(last))
        .real("driver_rss_mib", run.rss_mib);
    let per_create = |cpu: Duration| cpu.as_secs_f64() * 1000.0 / count.max(1) as f64;
    if let Some(cpu) = run.driver_cpu {
        report.real("driver_cpu_ms_per_create", per_create(cpu));
    }
    if let Some(cpu) = run.vswitchd_cpu {
        report.real("vswitchd_cpu_ms_per_create", per_create(cpu));
    }
    report.note(
        "create = CreateEndpoint + Join round trips, delete = Leave + DeleteEndpoint; \
             baseline = mean per endpoint of the shell commands",
    );
    add_targets(&mut report, count);
    Ok(report)
}

fn add_targets(report: &mut Report, count: usize) {
    let value = |key| report.get(key).unwrap_or(f64::NAN);
    let (speedup, p99) = (value("speedup_create"), value("create_p99_ms"));
    let (at_10, at_n) = (
        value("per_endpoint_ms_at_10"),
        value("per_endpoint_ms_at_n"),
    );
    let rss = value("driver_rss_mib");
    let at = if count == TARGET_COUNT {
        String::new()
    } else {
        format!(" (stated for N={TARGET_COUNT}, measured at N={count})")
    };
    report
        .target(
            format!("create >= 10x faster than the shell-out baseline: {speedup:.1}x{at}"),
            speedup >= 10.0,
        )
        .target(format!("create p99 <= 20 ms: {p99:.2} ms{at}"), p99 <= 20.0)
        .target(
            format!(
                "per-endpoint cost at N <= 1.5x that at 10: {at_n:.2} vs {at_10:.2} ms ({:.2}x){at}",
                ratio(at_n, at_10)
            ),
            at_n <= 1.5 * at_10,
        )
        .target(format!("driver RSS <= 32 MiB: {rss:.1} MiB{at}"), rss <= 32.0);
}

async fn measure_driver(
    lab: &Lab,
    driver: &mut DriverProcess,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<DriverRun> {
    let socket = driver.socket().to_path_buf();
    let mut client = PluginClient::connect(&socket).await?;
    let network = BenchNetwork::create(&mut client, 201).await?;
    let ids = workload::endpoint_ids(count);
    let cpu = |pid: Option<u32>| pid.and_then(cpu_time);
    let (driver_pid, vswitchd_pid) = (Some(driver.pid()), lab.vswitchd_pid());
    let cpu_before = (cpu(driver_pid), cpu(vswitchd_pid));
    let create = workload::drive(&socket, &network, &ids, concurrency, Phase::Attach).await?;
    let used = |before: Option<Duration>, pid| Some(cpu(pid)?.saturating_sub(before?));
    let driver_cpu = used(cpu_before.0, driver_pid);
    let vswitchd_cpu = used(cpu_before.1, vswitchd_pid);
    let rss_mib = driver.rss_mib()?;
    let delete = workload::drive(&socket, &network, &ids, concurrency, Phase::Detach).await?;
    network.delete(&mut client).await?;
    Ok(DriverRun {
        create,
        delete,
        rss_mib,
        driver_cpu,
        vswitchd_cpu,
    })
}

/// Per-endpoint times of the shell-out baseline: (create, delete).
async fn shell_baseline(lab: &Lab, count: usize) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    const BRIDGE: &str = "bench-shell";
    lab.add_bridge(BRIDGE).await?;
    let mut created = 0;
    let outcome = shell_attach_detach(lab, BRIDGE, count, &mut created).await;
    if outcome.is_err() {
        // Leave nothing behind on an OVS that is not ours.
        for index in 0..created {
            let _ = run_tool("ip", &["link", "del", &veth_name(index)]).await;
        }
    }
    lab.del_bridge(BRIDGE).await?;
    outcome
}

fn veth_name(index: usize) -> String {
    format!("bsh{index}a")
}

async fn shell_attach_detach(
    lab: &Lab,
    bridge: &str,
    count: usize,
    created: &mut usize,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let mut create = Vec::with_capacity(count);
    for index in 0..count {
        let host = veth_name(index);
        let peer = format!("bsh{index}b");
        let started = Instant::now();
        run_tool(
            "ip",
            &["link", "add", &host, "type", "veth", "peer", "name", &peer],
        )
        .await?;
        *created = index + 1;
        lab.vsctl(&["add-port", bridge, &host]).await?;
        create.push(started.elapsed());
    }
    let mut delete = Vec::with_capacity(count);
    for index in 0..count {
        let host = veth_name(index);
        let started = Instant::now();
        lab.vsctl(&["del-port", bridge, &host]).await?;
        run_tool("ip", &["link", "del", &host]).await?;
        delete.push(started.elapsed());
    }
    *created = 0;
    Ok((create, delete))
}
