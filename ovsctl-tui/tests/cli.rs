//! The binary as a pipeline member: `ovsctl-tui show | head -1` must not panic when the reader
//! goes away early.

use std::process::{Command, Stdio};

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
