//! Smoke run of `ovs-bench all --quick --json`: every scenario runs end to end against a
//! private OVS, the driver and ovsctl-tui, and prints the keys the README documents. It
//! asserts no timings (those belong to full runs, see README "Performance"), only that every
//! number is there, finite and consistent with the sizes asked for.
//!
//! Needs root (network namespace, OVS) and the debug `ovs-driver` and `ovsctl-tui` binaries
//! next to `ovs-bench` (`scripts/test.sh` builds the workspace before testing).

use std::process::Command;

use serde_json::Value;

/// The keys each scenario must print (issue "Proof under load and faults").
const KEYS: &[(&str, &[&str])] = &[
    (
        "endpoints",
        &[
            "count",
            "create_p50_ms",
            "create_p99_ms",
            "delete_p50_ms",
            "delete_p99_ms",
            "baseline_create_ms",
            "baseline_delete_ms",
            "speedup_create",
            "speedup_delete",
            "per_endpoint_ms_at_10",
            "per_endpoint_ms_at_n",
            "driver_rss_mib",
        ],
    ),
    (
        "ovsdb",
        &["count", "ours_ms_per_txn", "baseline_ms_per_txn", "speedup"],
    ),
    (
        "flows",
        &[
            "count",
            "ours_plain_ms",
            "ours_bundle_ms",
            "ofctl_ms",
            "ofctl_bundle_ms",
            "speedup_plain",
            "speedup_bundle",
        ],
    ),
    ("restart", &["endpoints", "reconcile_ms"]),
    ("tui", &["flows", "frame_p50_ms", "frame_p99_ms", "rss_mib"]),
];

#[test]
fn every_scenario_runs_and_prints_its_keys() {
    let output = Command::new(env!("CARGO_BIN_EXE_ovs-bench"))
        .args(["all", "--quick", "--json"])
        .output()
        .expect("running ovs-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "ovs-bench all --quick --json failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let reports: Vec<Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    for (scenario, keys) in KEYS {
        let report = reports
            .iter()
            .find(|r| r["scenario"] == *scenario)
            .unwrap_or_else(|| panic!("no report of scenario {scenario} in:\n{stdout}"));
        assert!(
            report.get("skipped").is_none(),
            "scenario {scenario} was skipped: {report}"
        );
        for key in *keys {
            let value = report[*key].as_f64().unwrap_or_else(|| {
                panic!("{scenario}: key {key} missing or not a number: {report}")
            });
            assert!(
                value.is_finite() && value >= 0.0,
                "{scenario}: {key} = {value} in {report}"
            );
        }
    }
    let size = |scenario: &str, key: &str| {
        reports.iter().find(|r| r["scenario"] == scenario).unwrap()[key]
            .as_u64()
            .unwrap()
    };
    // Both flow workloads ran, each with every key.
    let flow_keys = KEYS.iter().find(|(name, _)| *name == "flows").unwrap().1;
    let mut workloads: Vec<&str> = Vec::new();
    for report in reports.iter().filter(|r| r["scenario"] == "flows") {
        for key in flow_keys {
            assert!(
                report[*key].as_f64().is_some(),
                "flows: no {key} in {report}"
            );
        }
        workloads.push(report["workload"].as_str().expect("workload label"));
    }
    assert_eq!(workloads, ["simple", "pipeline"]);
    // --quick sizes (bench/src/main.rs).
    assert_eq!(size("endpoints", "count"), 20);
    assert_eq!(size("ovsdb", "count"), 100);
    assert_eq!(size("flows", "count"), 200);
    assert_eq!(size("restart", "endpoints"), 10);
    assert_eq!(size("tui", "flows"), 200);
}
