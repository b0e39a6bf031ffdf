//! `ovs-bench`: measures our Docker driver, OVSDB client and OpenFlow crate against the
//! shell-out baselines people use today, on a private userspace Open vSwitch in a network
//! namespace of its own (or on the OVS named by `--ovsdb`/`--ovs-rundir`).
//!
//! Prints a table per scenario, or with `--json` one JSON object per scenario and line. Run as
//! root: `cargo run --release -p ovs-bench -- all --json`.

mod driver;
mod lab;
mod netns;
mod plugin;
mod report;
mod scenarios;
mod stats;
mod workload;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tokio::signal::unix::{signal, SignalKind};

use crate::driver::DriverSetup;
use crate::lab::Lab;
use crate::report::Report;
use crate::scenarios::flows::Workload;

/// Benchmarks of the Open vSwitch Docker driver and its OVSDB and OpenFlow crates.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
    #[command(flatten)]
    options: GlobalOptions,
}

#[derive(Debug, Args)]
struct GlobalOptions {
    /// One JSON object per scenario and line instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Small sizes, for a smoke run (explicit counts still win).
    #[arg(long, global = true)]
    quick: bool,
    /// The driver binary [default: ovs-driver next to ovs-bench].
    #[arg(long, global = true, env = "OVS_DRIVER_BIN")]
    driver_bin: Option<PathBuf>,
    /// The ovsctl-tui binary [default: ovsctl-tui next to ovs-bench].
    #[arg(long, global = true, env = "OVSCTL_TUI_BIN")]
    tui_bin: Option<PathBuf>,
    /// Use this OVSDB server instead of a private OVS (no network namespace is made: the
    /// benchmark runs where that OVS's ovs-vswitchd runs).
    #[arg(long, global = true)]
    ovsdb: Option<String>,
    /// The run directory (`<bridge>.mgmt` sockets) of the OVS given with --ovsdb.
    #[arg(long, global = true, default_value = "/var/run/openvswitch")]
    ovs_rundir: PathBuf,
    /// RUST_LOG of the driver (its log is in the temp dir).
    #[arg(long, global = true, default_value = "info")]
    driver_log: String,
    /// Keep the temp dir (OVS, driver logs) and print where it is.
    #[arg(long, global = true)]
    keep: bool,
}

#[derive(Debug, Subcommand)]
enum Scenario {
    /// Attach and detach N endpoints through the plugin socket, against ip + ovs-vsctl.
    Endpoints {
        /// Endpoints [default: 1000, --quick 20].
        #[arg(long)]
        count: Option<usize>,
        /// Clients sending requests at the same time.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
    /// N add-port transactions through our OVSDB client, against ovs-vsctl --no-wait.
    Ovsdb {
        /// Transactions [default: 1000, --quick 100].
        #[arg(long)]
        count: Option<usize>,
    },
    /// Install N flows through our OpenFlow crate, against ovs-ofctl add-flows.
    Flows {
        /// Flows [default: 1000, then 10,000; --quick 200].
        #[arg(long)]
        count: Option<usize>,
        /// Runs of each method after a warm-up; the median is reported.
        #[arg(long, default_value_t = FLOW_RUNS)]
        runs: usize,
        /// The flows: one simple match each, or the driver's own pipeline.
        #[arg(long, value_enum, default_value_t = Workload::Simple)]
        workload: Workload,
    },
    /// SIGKILL the driver with N endpoints; time until it answers and its flows are back.
    Restart {
        /// Endpoints [default: 1000, --quick 10].
        #[arg(long)]
        endpoints: Option<usize>,
    },
    /// Frame time and memory of ovsctl-tui with N flows (`ovsctl-tui bench`).
    Tui {
        /// Flows [default: 10000, --quick 200].
        #[arg(long)]
        flows: Option<usize>,
    },
    /// Every scenario, with its default (or --quick) size.
    All {
        /// Clients of the endpoints scenario.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
    },
}

/// Sizes: (full, quick).
const ENDPOINTS: (usize, usize) = (1000, 20);
const OVSDB_TXNS: (usize, usize) = (1000, 100);
const FLOW_RUNS: usize = 9;
/// The OpenFlow issue states its targets at both sizes; `--quick` runs only the small one.
const FLOW_COUNTS: (&[usize], &[usize]) = (&[1000, 10_000], &[200]);
const RESTART_ENDPOINTS: (usize, usize) = (1000, 10);
const TUI_FLOWS: (usize, usize) = (10000, 200);

/// One scenario to run, with its size.
#[derive(Debug, Clone, Copy)]
enum Job {
    Endpoints {
        count: usize,
        concurrency: usize,
    },
    Ovsdb {
        count: usize,
    },
    Flows {
        count: usize,
        runs: usize,
        workload: Workload,
    },
    Restart {
        endpoints: usize,
    },
    Tui {
        flows: usize,
    },
}

impl Job {
    fn name(self) -> &'static str {
        match self {
            Job::Endpoints { .. } => "endpoints",
            Job::Ovsdb { .. } => "ovsdb",
            Job::Flows { .. } => "flows",
            Job::Restart { .. } => "restart",
            Job::Tui { .. } => "tui",
        }
    }
}

fn jobs(scenario: &Scenario, quick: bool) -> Vec<Job> {
    let size = |explicit: Option<usize>, (full, small): (usize, usize)| {
        explicit.unwrap_or(if quick { small } else { full })
    };
    match *scenario {
        Scenario::Endpoints { count, concurrency } => vec![Job::Endpoints {
            count: size(count, ENDPOINTS),
            concurrency,
        }],
        Scenario::Ovsdb { count } => vec![Job::Ovsdb {
            count: size(count, OVSDB_TXNS),
        }],
        Scenario::Flows {
            count,
            runs,
            workload,
        } => flow_jobs(count, quick, runs, workload),
        Scenario::Restart { endpoints } => vec![Job::Restart {
            endpoints: size(endpoints, RESTART_ENDPOINTS),
        }],
        Scenario::Tui { flows } => vec![Job::Tui {
            flows: size(flows, TUI_FLOWS),
        }],
        Scenario::All { concurrency } => [
            vec![Job::Ovsdb {
                count: size(None, OVSDB_TXNS),
            }],
            flow_jobs(None, quick, FLOW_RUNS, Workload::Simple),
            // The driver's own flows at the larger size only (the smaller in --quick).
            flow_jobs(
                Some(if quick { FLOW_COUNTS.1[0] } else { 10_000 }),
                quick,
                FLOW_RUNS,
                Workload::Pipeline,
            ),
            vec![
                Job::Endpoints {
                    count: size(None, ENDPOINTS),
                    concurrency,
                },
                Job::Restart {
                    endpoints: size(None, RESTART_ENDPOINTS),
                },
                Job::Tui {
                    flows: size(None, TUI_FLOWS),
                },
            ],
        ]
        .concat(),
    }
}

/// One `flows` job per size: the given one, or the issue's sizes.
fn flow_jobs(count: Option<usize>, quick: bool, runs: usize, workload: Workload) -> Vec<Job> {
    let counts = match count {
        Some(count) => vec![count],
        None if quick => FLOW_COUNTS.1.to_vec(),
        None => FLOW_COUNTS.0.to_vec(),
    };
    counts
        .into_iter()
        .map(|count| Job::Flows {
            count,
            runs,
            workload,
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.options.ovsdb.is_none() {
        // Before the runtime starts any thread, so that all of them are in the namespace.
        if let Err(err) = netns::enter_private_netns() {
            eprintln!("ovs-bench: {err:#}");
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("ovs-bench: starting the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Everything that starts a long-lived child runs in this future, i.e. on the main thread
    // (see `lab::Daemon::spawn`).
    match runtime.block_on(run_until_interrupted(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("ovs-bench: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the scenarios; SIGINT/SIGTERM abandon them, which drops (and so stops and removes) the
/// OVS, the driver and the temp dir. Returns whether every scenario succeeded.
async fn run_until_interrupted(cli: Cli) -> anyhow::Result<bool> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = run(cli) => result,
        _ = interrupt.recv() => anyhow::bail!("interrupted; cleaned up"),
        _ = terminate.recv() => anyhow::bail!("terminated; cleaned up"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<bool> {
    let options = &cli.options;
    let setup = DriverSetup::locate(options.driver_bin.clone(), options.driver_log.clone())?;
    let tui_bin = scenarios::tui::locate(options.tui_bin.clone())?;
    let mut lab = match &options.ovsdb {
        None => Lab::start_private()
            .await
            .context("starting the private OVS")?,
        Some(remote) => Lab::external(remote.clone(), options.ovs_rundir.clone())?,
    };
    if options.keep {
        lab.keep_dir();
        eprintln!("ovs-bench: temp dir {} is kept", lab.dir().display());
    }
    if !options.json {
        println!(
            "ovs-bench: OVS {} ({} datapath), driver {}, temp dir {}",
            if lab.is_private() {
                "private, in a network namespace of its own"
            } else {
                lab.ovsdb_remote()
            },
            lab.datapath_type(),
            setup.binary.display(),
            lab.dir().display()
        );
    }
    let mut all_ok = true;
    for job in jobs(&cli.scenario, options.quick) {
        let result = match job {
            Job::Endpoints { count, concurrency } => {
                scenarios::endpoints::run(&lab, &setup, count, concurrency).await
            }
            Job::Ovsdb { count } => scenarios::ovsdb::run(&lab, count).await,
            Job::Flows {
                count,
                runs,
                workload,
            } => scenarios::flows::run(&lab, count, runs, workload).await,
            Job::Restart { endpoints } => scenarios::restart::run(&lab, &setup, endpoints).await,
            Job::Tui { flows } => scenarios::tui::run(&lab, tui_bin.clone(), flows).await,
        };
        let result = result.and_then(|report| {
            lab.check_daemons()?;
            Ok(report)
        });
        match result {
            Ok(report) => print_report(&report, options.json),
            Err(err) => {
                all_ok = false;
                eprintln!(
                    "ovs-bench: scenario {} failed: {err:#}\n{}",
                    job.name(),
                    lab.log_tails()
                );
                if options.json {
                    let error =
                        serde_json::json!({"scenario": job.name(), "error": format!("{err:#}")});
                    println!("{error}");
                }
            }
        }
    }
    Ok(all_ok)
}

fn print_report(report: &Report, json: bool) {
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_human());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow_counts(jobs: &[Job]) -> Vec<usize> {
        jobs.iter()
            .filter_map(|job| match job {
                Job::Flows { count, .. } => Some(*count),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn flows_run_at_both_sizes_of_the_issue_unless_told() {
        let flows = |count| Scenario::Flows {
            count,
            runs: 3,
            workload: Workload::Simple,
        };
        assert_eq!(flow_counts(&jobs(&flows(None), false)), [1000, 10_000]);
        assert_eq!(flow_counts(&jobs(&flows(None), true)), [200]);
        assert_eq!(flow_counts(&jobs(&flows(Some(42)), false)), [42]);
        let all = jobs(&Scenario::All { concurrency: 1 }, false);
        assert_eq!(flow_counts(&all), [1000, 10_000, 10_000]);
        let names: Vec<&str> = all.iter().map(|job| job.name()).collect();
        assert_eq!(
            names,
            [
                "ovsdb",
                "flows",
                "flows",
                "flows",
                "endpoints",
                "restart",
                "tui"
            ]
        );
        let quick = jobs(&Scenario::All { concurrency: 1 }, true);
        assert_eq!(flow_counts(&quick), [200, 200]);
    }
}
