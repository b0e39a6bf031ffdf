//! `show` over an `ssl:` OVSDB remote, with certificates made by `ovs-pki`, against a private
//! ovsdb-server; and the `--ssl-*` flags going together.

#[path = "../../ovsdb/tests/common/pki.rs"]
mod pki;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pki::Pki;

fn run(program: &str, args: &[String], dir: &Path) {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// ovsdb-server on `pssl:` (any port, loopback) and a unix socket, its files beside the PKI's;
/// killed on drop.
struct SslServer {
    pki: Pki,
}

impl SslServer {
    fn start() -> SslServer {
        let server = SslServer { pki: Pki::create() };
        let path = |name: &str| server.pki.path(name).display().to_string();
        let dir = server.pki.path("");
        run(
            "ovsdb-tool",
            &[
                "create".into(),
                path("conf.db"),
                "/usr/share/openvswitch/vswitch.ovsschema".into(),
            ],
            &dir,
        );
        run(
            "ovsdb-server",
            &[
                path("conf.db"),
                "--remote=pssl:0:127.0.0.1".into(),
                format!("--remote=punix:{}", path("db.sock")),
                format!("--private-key={}", path("server-privkey.pem")),
                format!("--certificate={}", path("server-cert.pem")),
                format!("--ca-cert={}", server.pki.ca_cert().display()),
                format!("--pidfile={}", path("ovsdb-server.pid")),
                format!("--unixctl={}", path("ovsdb-server.ctl")),
                format!("--log-file={}", path("ovsdb-server.log")),
                "--detach".into(),
            ],
            &dir,
        );
        server
    }

    fn vsctl(&self, args: &[&str]) {
        let mut all = vec![
            format!("--db=unix:{}", self.pki.path("db.sock").display()),
            "--no-wait".to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        run("ovs-vsctl", &all, &self.pki.path(""));
    }

    fn port(&self) -> u16 {
        let log_path = self.pki.path("ovsdb-server.log");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(port) = log
                .lines()
                .filter_map(|l| l.split("listening on port ").nth(1))
                .find_map(|p| p.trim().parse().ok())
            {
                return port;
            }
            assert!(Instant::now() < deadline, "no listening port in:\n{log}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SslServer {
    fn drop(&mut self) {
        let pidfile = self.pki.path("ovsdb-server.pid");
        if let Some(pid) = std::fs::read_to_string(pidfile)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
        {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

fn ovsctl_tui(args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ovsctl-tui"))
        .args(args)
        .env("DOCKER_HOST", "none")
        .env_remove("OVSCTL_TUI_SSL_KEY")
        .env_remove("OVSCTL_TUI_SSL_CERT")
        .env_remove("OVSCTL_TUI_SSL_CA")
        .stdin(Stdio::null())
        .output()
        .expect("run ovsctl-tui")
}

#[test]
fn show_reads_an_ssl_remote_with_certificate_flags() {
    let server = SslServer::start();
    server.vsctl(&["init"]);
    server.vsctl(&["add-br", "br-ssl"]);
    let remote = format!("--ovsdb=ssl:127.0.0.1:{}", server.port());
    let flag = |name: &str, path: &Path| format!("--{name}={}", path.display());
    let client = server.pki.tls("client");
    let output = ovsctl_tui(&[
        "show".into(),
        "--json".into(),
        remote.clone(),
        flag("ssl-private-key", &client.private_key),
        flag("ssl-certificate", &client.certificate),
        flag("ssl-ca-cert", &client.ca_cert),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let bridges: Vec<&str> = shown["networks"]
        .as_array()
        .expect("networks")
        .iter()
        .filter_map(|n| n["bridge"].as_str())
        .collect();
    assert_eq!(bridges, ["br-ssl"], "{shown}");

    // Without certificates an ssl: remote is refused, not tried in the clear.
    let output = ovsctl_tui(&["show".into(), remote]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("needs a private key, a certificate and a CA certificate"),
        "stderr: {stderr}"
    );
}

#[test]
fn ssl_flags_go_together() {
    let output = ovsctl_tui(&[
        "show".into(),
        "--ovsdb=ssl:127.0.0.1:1".into(),
        "--ssl-private-key=/nonexistent/key.pem".into(),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--ssl-certificate") && stderr.contains("all three"),
        "stderr: {stderr}"
    );
}
