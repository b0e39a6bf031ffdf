//! Start-up refusals of the `ovs-driver` binary: settings that cannot work are reported at once,
//! before the plugin socket exists and before anything connects.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs ovs-driver with `args` and a private plugin directory; it must fail quickly without
/// creating its socket. Returns stderr.
fn refused(args: &[&str]) -> String {
    let plugins = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_ovs-driver"))
        .args(args)
        .arg("--plugin-dir")
        .arg(plugins.path())
        .args(["--plugin-name", "cli-test"])
        .env_remove("OVS_DRIVER_OVSDB")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run ovs-driver");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{args:?} started; stderr: {stderr}"
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
    let not_ssl = refused(&[&["--ovsdb", "unix:/nonexistent/db.sock"][..], &tls].concat());
    assert!(
        not_ssl.contains("not unix:/nonexistent/db.sock"),
        "{not_ssl}"
    );
}

/// The driver's log goes to journald or a file: no terminal colour codes there. Starts a
/// driver on a private plugin directory against a database that does not exist (it never
/// connects, so it changes nothing), reads its first log line and stops it.
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
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ovs-driver");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let read = stderr.read_line(&mut line);
    let _ = child.kill();
    let _ = child.wait();
    read.expect("read the driver's log");
    assert!(line.contains("starting"), "first log line: {line:?}");
    assert!(!line.contains('\u{1b}'), "escape codes in {line:?}");
}
