//! The binary as a pipeline member: `ovsctl-tui show | head -1` must not panic when the reader
//! goes away early; and command lines that cannot work are refused at once, before anything
//! connects.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ovsctl-tui"))
        .args(["bench", "--flows", "50", "--frames", "2"])
        .env("DOCKER_HOST", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ovsctl-tui");
    // Close the reading end before the benchmark prints its first line.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait for ovsctl-tui");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{:?}, stderr: {stderr}",
        output.status
    );
    assert!(stderr.is_empty(), "stderr: {stderr}");
}

/// [`fails_quickly`], without asking Docker first: for settings that are wrong by themselves.
fn refused(args: &[&str]) -> String {
    let stderr = fails_quickly(args);
    assert!(
        !stderr.contains("Docker"),
        "{args:?} asked Docker before refusing: {stderr}"
    );
    stderr
}

/// Runs ovsctl-tui with an unreachable Docker and a log-free stderr; fails unless it exits
/// with an error within 2 s. Returns stderr.
fn fails_quickly(args: &[&str]) -> String {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_ovsctl-tui"))
        .args(args)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("OVSCTL_TUI_OVSDB")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run ovsctl-tui");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{args:?} succeeded; stderr: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{args:?} took {:?} to fail (it should not try to connect); stderr: {stderr}",
        started.elapsed()
    );
    stderr
}

#[test]
fn unusable_ovsdb_settings_are_refused_before_connecting() {
    for command in [&["show"][..], &["flows", "br0"], &[]] {
        let bad_syntax = refused(&[command, &["--ovsdb", "db.sock"]].concat());
        assert!(bad_syntax.contains("--ovsdb"), "{bad_syntax}");
        let ssl_alone = refused(&[command, &["--ovsdb", "ssl:127.0.0.1:6640"]].concat());
        assert!(
            ssl_alone.contains("ssl:127.0.0.1:6640 needs a private key"),
            "{ssl_alone}"
        );
    }
    let tls = [
        "--ssl-private-key",
        "/nonexistent/key.pem",
        "--ssl-certificate",
        "/nonexistent/cert.pem",
        "--ssl-ca-cert",
        "/nonexistent/ca.pem",
    ];
    let missing_files = refused(&[&["show", "--ovsdb", "ssl:127.0.0.1:6640"][..], &tls].concat());
    assert!(missing_files.contains("/nonexistent/"), "{missing_files}");
    // Like ovs-vsctl, TLS files for another kind of remote are ignored (with a warning); then
    // the missing database socket is the error.
    let not_ssl =
        fails_quickly(&[&["show", "--ovsdb", "unix:/nonexistent/db.sock"][..], &tls].concat());
    assert!(not_ssl.contains("not ssl:; ignored"), "{not_ssl}");
    assert!(
        not_ssl.contains("/nonexistent/db.sock does not exist"),
        "{not_ssl}"
    );
    assert!(
        !not_ssl.contains('\u{1b}'),
        "colour codes off a terminal: {not_ssl:?}"
    );
}

#[test]
fn a_bridge_without_a_management_socket_fails_at_once() {
    let rundir = tempfile::tempdir().unwrap();
    let rundir = rundir.path().to_str().unwrap();
    let stderr = fails_quickly(&["flows", "br0", "--ovs-rundir", rundir]);
    assert!(
        stderr.contains(&format!("{rundir}/db.sock does not exist")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("no {rundir}/br0.mgmt for bridge br0")),
        "{stderr}"
    );
}
