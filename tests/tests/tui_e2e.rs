//! End-to-end test of `ovsctl-tui` against a real OVS with a network made by our driver and
//! real containers: the binary runs in tmux (160x48) and is driven by keys, and its `show
//! --json`, `flows` and `trace` subcommands are checked against what OVSDB and OpenFlow hold.
//!
//! The binary is `$OVSCTL_TUI_BIN`, else `ovsctl-tui` next to the driver binary the harness
//! finds (build it first: `cargo build -p ovsctl-tui`). The TUI runs in the root namespaces:
//! everything it talks to is a unix socket under the environment's directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_tests::cmd::{self, CmdOutput};
use e2e_tests::{
    bridge_name, driver_binary_candidates, env_assert, env_assert_eq, port_name, wait_until, Env,
    EnvOptions,
};
use serde_json::Value;

/// `$OVSCTL_TUI_BIN`, else the first existing `ovsctl-tui` beside a driver binary candidate.
fn tui_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("OVSCTL_TUI_BIN") {
        return PathBuf::from(path);
    }
    let candidates: Vec<PathBuf> = driver_binary_candidates()
        .iter()
        .filter_map(|driver| Some(driver.parent()?.join("ovsctl-tui")))
        .collect();
    candidates
        .iter()
        .find(|path| path.is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!("ovsctl-tui binary not found (build it: cargo build -p ovsctl-tui); looked at {candidates:?}")
        })
}

/// The common flags pointing the TUI at the environment's daemons.
fn tui_flags(env: &Env) -> Vec<String> {
    vec![
        "--ovsdb".into(),
        env.ovsdb_remote(),
        "--ovs-rundir".into(),
        env.ovs_dir().display().to_string(),
        "--docker-host".into(),
        format!("unix://{}", env.docker_socket().display()),
    ]
}

fn run_tui(env: &Env, args: &[&str]) -> CmdOutput {
    let mut command = Command::new(tui_binary());
    command.args(tui_flags(env)).args(args);
    env.run_recorded(command, Duration::from_secs(60))
}

/// A private tmux server with one 160x48 session running `sh`; killed on drop.
struct Tmux {
    socket: PathBuf,
    dir: PathBuf,
}

impl Tmux {
    fn start(dir: &Path) -> Tmux {
        std::fs::create_dir_all(dir).expect("tmux dir");
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
            dir: dir.to_path_buf(),
        };
        let output = tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "tui",
            "-x",
            "160",
            "-y",
            "48",
            "sh",
        ]);
        assert!(output.success(), "tmux new-session: {}", output.describe());
        tmux
    }

    fn run(&self, args: &[&str]) -> CmdOutput {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket).args(args);
        command.env("HOME", &self.dir).env("TERM", "xterm-256color");
        command.env("PS1", "$ ");
        cmd::run(command, Duration::from_secs(10))
    }

    /// Types `text` literally (no key names).
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "tui", "-l", text]);
    }

    /// Sends key names (`Enter`, `Escape`, `q`, ...).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "tui"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "tui"]).stdout
    }

    fn display(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", "tui", format])
            .stdout_trimmed()
    }

    /// Polls the screen (up to 20 s) until `check` accepts it; fails with the last screen, the
    /// complaint and the TUI log.
    fn wait(
        &self,
        env: &Env,
        what: &str,
        mut check: impl FnMut(&str) -> Result<(), String>,
    ) -> String {
        let result = wait_until(what, Duration::from_secs(20), || {
            let screen = self.screen();
            check(&screen)
                .map(|()| screen.clone())
                .map_err(|e| format!("{e}\n{screen}"))
        });
        match result {
            Ok(screen) => screen,
            Err(error) => {
                let log = std::fs::read_to_string(self.dir.join("tui.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                env.fail(&format!(
                    "{error}\n---- ovsctl-tui log (last lines, newest first)\n{}",
                    tail.join("\n")
                ))
            }
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn contains_all(screen: &str, needles: &[&str]) -> Result<(), String> {
    let missing: Vec<&&str> = needles.iter().filter(|n| !screen.contains(**n)).collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!("screen lacks {missing:?}"))
    }
}

/// The PACKETS column of the flow rows that mention `needle`, located by the table header.
fn packets_of_rows(screen: &str, needle: &str) -> Vec<u64> {
    let inner = |line: &str| {
        line.trim_matches(|c: char| c == '│' || c.is_whitespace())
            .to_string()
    };
    let Some(column) = screen
        .lines()
        .map(inner)
        .find_map(|line| line.split_whitespace().position(|word| word == "PACKETS"))
    else {
        return Vec::new();
    };
    screen
        .lines()
        .filter(|line| line.contains(needle))
        .filter_map(|line| inner(line).split_whitespace().nth(column)?.parse().ok())
        .collect()
}

#[test]
fn tui_shows_networks_endpoints_flows_and_traces() {
    let started = Instant::now();
    let env = Env::start(EnvOptions::default());
    let network_id = env.create_network("tuinet", &["--subnet", "10.77.0.0/24"]);
    let bridge = bridge_name(&network_id);
    env.run_container("tui-a", "tuinet", &[]);
    env.run_container("tui-b", "tuinet", &[]);
    let a = env.container_net("tui-a", "tuinet");
    let b = env.container_net("tui-b", "tuinet");
    env.wait_ping("tui-a", &b.ipv4);

    // ---- show --json matches OVSDB.
    let output = run_tui(&env, &["show", "--json"]);
    let text = env.expect_success(output);
    let show: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| env.fail(&format!("show --json is not JSON ({error}): {text}")));
    let networks = show["networks"].as_array().cloned().unwrap_or_default();
    let bridges: Vec<String> = networks
        .iter()
        .filter_map(|n| n["bridge"].as_str().map(str::to_string))
        .collect();
    let mut ovs_bridges = env.bridges();
    ovs_bridges.sort();
    env_assert_eq!(env, bridges, ovs_bridges, "bridges of show --json");
    let network = networks
        .iter()
        .find(|n| n["bridge"] == bridge.as_str())
        .unwrap_or_else(|| env.fail(&format!("no {bridge} in {text}")));
    let bridge_ids = env.external_ids("Bridge", &bridge);
    env_assert_eq!(
        env,
        network["network_id"],
        Value::from(network_id.clone()),
        "network id"
    );
    env_assert_eq!(
        env,
        network["network_name"],
        Value::from("tuinet"),
        "network name"
    );
    env_assert_eq!(env, network["managed"], Value::from(true), "managed");
    let subnets: Vec<&str> = bridge_ids["docker-subnets"].split(',').collect();
    env_assert_eq!(
        env,
        network["subnets"],
        serde_json::json!(subnets),
        "subnets"
    );
    let datapath = env.vsctl_ok(&["get", "Bridge", &bridge, "datapath_type"]);
    env_assert_eq!(
        env,
        network["datapath_type"],
        Value::from(datapath.trim_matches('"')),
        "datapath"
    );
    let endpoints: BTreeMap<String, Value> = network["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e["endpoint_id"].as_str().unwrap_or_default().to_string(), e))
        .collect();
    env_assert_eq!(env, endpoints.len(), 2, "endpoints of {bridge}: {text}");
    for (name, attachment) in [("tui-a", &a), ("tui-b", &b)] {
        let endpoint = endpoints.get(&attachment.endpoint_id).unwrap_or_else(|| {
            env.fail(&format!("no endpoint {} in {text}", attachment.endpoint_id))
        });
        let port = port_name(&attachment.endpoint_id);
        let ids = env.external_ids("Interface", &port);
        let ofport: i64 = env
            .vsctl_ok(&["get", "Interface", &port, "ofport"])
            .parse()
            .unwrap_or(-2);
        env_assert_eq!(
            env,
            endpoint["container"],
            Value::from(name),
            "container of {port}"
        );
        env_assert_eq!(
            env,
            endpoint["port"],
            Value::from(port.clone()),
            "port name"
        );
        env_assert_eq!(
            env,
            endpoint["ofport"],
            Value::from(ofport),
            "ofport of {port}"
        );
        env_assert_eq!(
            env,
            endpoint["mac"],
            Value::from(ids["attached-mac"].clone()),
            "mac of {port}"
        );
        env_assert_eq!(
            env,
            endpoint["ipv4"],
            serde_json::json!([format!("{}/{}", attachment.ipv4, attachment.ipv4_prefix)]),
            "addresses of {port}"
        );
        let link = env.vsctl_ok(&["get", "Interface", &port, "link_state"]);
        env_assert_eq!(
            env,
            endpoint["link_state"],
            Value::from(link.trim_matches('"')),
            "link"
        );
    }

    // ---- flows and trace subcommands.
    let flows_json = env.expect_success(run_tui(&env, &["flows", "tuinet", "--json"]));
    let flows: Value = serde_json::from_str(&flows_json).unwrap_or_default();
    let owners: Vec<&str> = flows
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["owner"].as_str())
        .collect();
    env_assert!(
        env,
        owners.contains(&"ep:tui-a") && owners.contains(&"net:tuinet"),
        "flow owners {owners:?}"
    );
    let dump = env.ofctl_ok(&["-O", "OpenFlow13", "dump-flows", &bridge]);
    let ofctl_count = dump.lines().filter(|l| l.contains("cookie=")).count();
    env_assert_eq!(
        env,
        owners.len(),
        ofctl_count,
        "flows --json against ovs-ofctl dump-flows"
    );
    let a_ofport = endpoints[&a.endpoint_id]["ofport"].as_i64().unwrap_or(0);
    let trace = env.expect_success(run_tui(
        &env,
        &[
            "trace",
            &bridge,
            &format!(
                "in_port={a_ofport},icmp,dl_src={},dl_dst={},nw_src={},nw_dst={}",
                a.mac, b.mac, a.ipv4, b.ipv4
            ),
        ],
    ));
    env_assert!(
        env,
        trace.contains("Datapath actions"),
        "trace output: {trace}"
    );

    // ---- the TUI in tmux.
    let tmux = Tmux::start(&std::env::temp_dir().join(format!("ovtui-{}", env.id())));
    let mut line = vec![tui_binary().display().to_string()];
    line.extend(tui_flags(&env));
    line.extend([
        "--refresh".into(),
        "500".into(),
        "--log-file".into(),
        tmux.dir.join("tui.log").display().to_string(),
    ]);
    tmux.type_text(&line.join(" "));
    tmux.keys(&["Enter"]);
    tmux.wait(&env, "the networks view", |s| {
        contains_all(s, &["Networks (", &bridge, "tuinet", "ovsdb up"])
    });

    tmux.keys(&["2"]);
    tmux.wait(&env, "both containers with their addresses", |s| {
        contains_all(
            s,
            &[
                "Endpoints of all networks",
                "tui-a",
                "tui-b",
                &a.ipv4,
                &b.ipv4,
                &a.mac,
            ],
        )
    });

    tmux.type_text("/tui-a");
    tmux.keys(&["Enter"]);
    tmux.wait(&env, "the filter to narrow the list", |s| {
        contains_all(s, &["tui-a", "1 of 2"])?;
        if s.contains("tui-b") {
            return Err("tui-b is still listed".into());
        }
        Ok(())
    });
    tmux.keys(&["Escape", "3"]);
    tmux.wait(&env, "the flows view", |s| {
        contains_all(
            s,
            &["Flows of all bridges", "ep:tui-a", "ep:tui-b", "net:tuinet"],
        )
    });

    // Counters move after a ping: the forwarding flow to tui-b's MAC.
    tmux.type_text(&format!("/dl_dst={}", b.mac));
    tmux.keys(&["Enter"]);
    // Only once the filter applies: before, every flow of tui-b is listed and summed.
    let screen = tmux.wait(&env, "the flow to tui-b, alone", |s| {
        let rows = packets_of_rows(s, "ep:tui-b").len();
        if rows == 1 && s.contains("(1 of ") {
            Ok(())
        } else {
            Err(format!("{rows} rows of tui-b"))
        }
    });
    let before: u64 = packets_of_rows(&screen, "ep:tui-b").iter().sum();
    let ping = env.docker(&[
        "exec", "tui-a", "ping", "-c", "3", "-i", "0.2", "-W", "2", &b.ipv4,
    ]);
    env_assert!(env, ping.success(), "ping: {}", ping.describe());
    tmux.wait(&env, "the counters to move after a ping", |s| {
        let now: u64 = packets_of_rows(s, "ep:tui-b").iter().sum();
        if now >= before + 3 {
            Ok(())
        } else {
            Err(format!("packets {before} -> {now}"))
        }
    });

    // Trace from the first endpoint to the other one.
    tmux.keys(&["Escape", "4"]);
    tmux.wait(&env, "the trace form", |s| {
        contains_all(s, &["Source", "Destination", "ofproto/trace"])
    });
    tmux.keys(&["Enter"]);
    tmux.wait(&env, "a trace result", |s| {
        contains_all(
            s,
            &[
                &format!("Result on {bridge}"),
                &format!("bridge(\"{bridge}\")"),
            ],
        )
    });

    // ovsdb-server goes away: a banner, then it comes back by itself.
    tmux.keys(&["1"]);
    env.stop_ovsdb();
    tmux.wait(&env, "the ovsdb banner", |s| {
        contains_all(s, &["ovsdb-server unreachable", "ovsdb down"])
    });
    env.start_ovsdb();
    tmux.wait(&env, "the reconnection", |s| {
        contains_all(s, &["ovsdb up", "tuinet"])?;
        if s.contains("ovsdb-server unreachable") {
            return Err("banner still shown".into());
        }
        Ok(())
    });

    // q exits and leaves the terminal sane.
    tmux.keys(&["q"]);
    wait_until("ovsctl-tui to exit", Duration::from_secs(10), || match tmux
        .display("#{pane_current_command} #{alternate_on}")
        .as_str()
    {
        "sh 0" => Ok(()),
        other => Err(format!("pane: {other}")),
    })
    .unwrap_or_else(|error| env.fail(&error));
    tmux.type_text("if stty -a | grep -q -e -icanon -e ' -echo '; then echo RAW-MODE-LEFT; else echo TTY-SANE; fi");
    tmux.keys(&["Enter"]);
    tmux.wait(&env, "a sane terminal after quitting", |s| {
        // Whole lines only: the typed command line holds both words too.
        let said = |word: &str| s.lines().any(|line| line.trim() == word);
        if said("RAW-MODE-LEFT") {
            return Err("the terminal was left in raw mode".into());
        }
        if said("TTY-SANE") {
            Ok(())
        } else {
            Err("no answer from stty yet".into())
        }
    });
    eprintln!("[tui-e2e] done in {:.1} s", started.elapsed().as_secs_f64());
}
