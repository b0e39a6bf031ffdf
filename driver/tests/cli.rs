//! Start-up of the `ovs-driver` binary: settings that cannot work are refused at once, before
//! the plugin socket exists and before anything connects; and its log suits a file.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs ovs-driver with `args` and a private plugin directory; it must exit with an error
/// within 2 s (it is killed after 5 s) without creating its socket. Returns stderr.
fn refused(args: &[&str]) -> String {
    let plugins = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovs-driver"))
        .args(args)
        .arg("--plugin-dir")
        .arg(plugins.path())
        .args(["--plugin-name", "cli-test"])
        .env_remove("OVS_DRIVER_OVSDB")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ovs-driver");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ovs-driver") {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(
        status.is_some_and(|s| !s.success()),
        "{args:?} did not fail ({status:?}); stderr: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{args:?} took {:?} to fail; stderr: {stderr}",
        started.elapsed()
    );
    assert!(
        !plugins.path().join("cli-test.sock").exists(),
        "{args:?} created its plugin socket before refusing"
    );
    stderr
}

#[test]
fn unusable_ovsdb_settings_are_refused_at_start() {
    let bad_syntax = refused(&["--ovsdb", "db.sock"]);
    assert!(bad_syntax.contains("--ovsdb"), "{bad_syntax}");
    let ssl_alone = refused(&["--ovsdb", "ssl:127.0.0.1:6640"]);
    assert!(
        ssl_alone.contains("ssl:127.0.0.1:6640 needs a private key"),
        "{ssl_alone}"
    );
    let tls = [
        "--ssl-private-key",
        "/nonexistent/key.pem",
        "--ssl-certificate",
        "/nonexistent/cert.pem",
        "--ssl-ca-cert",
        "/nonexistent/ca.pem",
    ];
    let missing_files = refused(&[&["--ovsdb", "ssl:127.0.0.1:6640"][..], &tls].concat());
    assert!(missing_files.contains("/nonexistent/"), "{missing_files}");
}

/// The driver's log goes to journald or a file: no terminal colour codes there. Starts a
/// driver on a private plugin directory against a database that does not exist (it never
/// connects, so it changes nothing), reads its log up to "starting" and stops it. TLS files
/// given for that unix: remote are ignored with a warning, as ovs-vsctl ignores them.
#[test]
fn log_lines_carry_no_colour_codes_off_a_terminal() {
    use std::io::{BufRead, BufReader};

    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovs-driver"))
        .arg("--ovsdb")
        .arg(format!("unix:{}", dir.path().join("no-db.sock").display()))
        .arg("--ovs-rundir")
        .arg(dir.path())
        .arg("--plugin-dir")
        .arg(dir.path())
        .args(["--plugin-name", "cli-test"])
        .args(["--ssl-private-key", "/nonexistent/key.pem"])
        .args(["--ssl-certificate", "/nonexistent/cert.pem"])
        .args(["--ssl-ca-cert", "/nonexistent/ca.pem"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ovs-driver");
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = Vec::new();
    for line in stderr.lines() {
        let line = line.expect("read the driver's log");
        let started = line.contains("starting");
        log.push(line);
        if started || log.len() > 20 {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = log.join("\n");
    assert!(log.contains("starting"), "log: {log:?}");
    assert!(
        log.contains("WARN") && log.contains("not ssl:; ignored"),
        "no warning about the TLS files: {log:?}"
    );
    assert!(!log.contains('\u{1b}'), "escape codes in {log:?}");
}
