//! `tui`: frame render time and memory of ovsctl-tui's views with N flows, measured by
//! ovsctl-tui itself (`ovsctl-tui bench --flows N --json`, whose last output line is a JSON
//! object with `frame_p50_ms`, `frame_p99_ms` and `rss_mib`). Skipped, with the reason, while
//! that binary or subcommand does not exist.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::Value as Json;

use crate::lab::Lab;
use crate::report::Report;

/// The keys read from ovsctl-tui's output.
const KEYS: [&str; 3] = ["frame_p50_ms", "frame_p99_ms", "rss_mib"];

/// ovsctl-tui: `explicit` if given, else next to this executable.
pub fn locate(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match explicit {
        Some(path) => Ok(path),
        None => Ok(std::env::current_exe()?.with_file_name("ovsctl-tui")),
    }
}

pub async fn run(lab: &Lab, binary: PathBuf, flows: usize) -> anyhow::Result<Report> {
    if !binary.is_file() {
        return Ok(Report::skipped(
            "tui",
            format!(
                "{} not found (build ovsctl-tui, or pass --tui-bin)",
                binary.display()
            ),
        ));
    }
    let help = tokio::process::Command::new(&binary)
        .args(["bench", "--help"])
        .output()
        .await
        .with_context(|| format!("running {}", binary.display()))?;
    if !help.status.success() {
        return Ok(Report::skipped(
            "tui",
            format!("{} has no `bench` subcommand yet", binary.display()),
        ));
    }
    // The private OVS is offered through the same variables the driver reads.
    let output = tokio::process::Command::new(&binary)
        .args(["bench", "--flows", &flows.to_string(), "--json"])
        .env("OVS_DRIVER_OVSDB", lab.ovsdb_remote())
        .env("OVS_RUNDIR", lab.rundir())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running {}", binary.display()))?;
    if !output.status.success() {
        bail!(
            "`{} bench --flows {flows} --json` failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let output = String::from_utf8_lossy(&output.stdout);
    parse(&output, flows)
}

fn parse(output: &str, flows: usize) -> anyhow::Result<Report> {
    let line = output
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with('{'))
        .context("ovsctl-tui bench printed no JSON object")?;
    let json: Json = serde_json::from_str(line)
        .with_context(|| format!("ovsctl-tui bench printed bad JSON: {line}"))?;
    let mut report = Report::new("tui");
    report.count("flows", flows);
    for key in KEYS {
        match json.get(key).and_then(Json::as_f64) {
            Some(value) => {
                report.real(key, value);
            }
            None => bail!("ovsctl-tui bench output has no numeric {key:?}: {line}"),
        }
    }
    let p99 = report.get("frame_p99_ms").unwrap_or(f64::NAN);
    let rss = report.get("rss_mib").unwrap_or(f64::NAN);
    report
        .target(format!("frame <= 16 ms (p99): {p99:.2} ms"), p99 <= 16.0)
        .target(
            format!("ovsctl-tui RSS <= 64 MiB: {rss:.1} MiB"),
            rss <= 64.0,
        );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_last_json_line() {
        let output =
            "rendering...\n{\"frame_p50_ms\": 1.5, \"frame_p99_ms\": 4, \"rss_mib\": 20.25}\n";
        let report = parse(output, 100).unwrap();
        assert_eq!(report.get("flows"), Some(100.0));
        assert_eq!(report.get("frame_p99_ms"), Some(4.0));
        assert_eq!(report.get("rss_mib"), Some(20.25));
    }

    #[test]
    fn missing_keys_are_errors() {
        assert!(parse("{\"frame_p50_ms\": 1}", 1).is_err());
        assert!(parse("no json", 1).is_err());
    }
}
