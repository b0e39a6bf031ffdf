//! `deploy/common.sh`'s environment-file helpers, as `install.sh` uses them on
//! `/etc/default/ovs-driver`: re-running the installer rewrites only the settings it manages
//! and keeps an administrator's own lines. Runs bash on scratch files; needs no root.

use std::path::Path;
use std::process::Command;

/// Runs `script` in bash after sourcing deploy/common.sh; returns stdout.
fn with_common(script: &str, file: &Path) -> String {
    let common = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/common.sh");
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!(". {}\n{script}", common.display()))
        .env("FILE", file)
        .output()
        .expect("run bash");
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

const MERGE: &str = r##"env_file_with "$FILE" "# header" OVS_RUNDIR=/new/run RUST_LOG=info OVS_DRIVER_PLUGIN_DIR=/run/docker/plugins"##;

#[test]
fn a_new_file_gets_the_header_and_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ovs-driver");
    assert_eq!(
        with_common(MERGE, &file),
        "# header\nOVS_RUNDIR=/new/run\nRUST_LOG=info\nOVS_DRIVER_PLUGIN_DIR=/run/docker/plugins\n"
    );
}

#[test]
fn managed_settings_are_replaced_in_place_and_the_rest_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ovs-driver");
    std::fs::write(
        &file,
        "# written long ago\nOVS_RUNDIR=/old/run\n# TLS for the remote database\n\
         OVS_DRIVER_SSL_KEY=/etc/ovs/key.pem\nRUST_LOG=debug\nOVS_RUNDIR=/older/run\n\
         OVS_RUNDIR_EXTRA=unrelated",
    )
    .unwrap();
    assert_eq!(
        with_common(MERGE, &file),
        "# written long ago\nOVS_RUNDIR=/new/run\n# TLS for the remote database\n\
         OVS_DRIVER_SSL_KEY=/etc/ovs/key.pem\nRUST_LOG=info\nOVS_RUNDIR_EXTRA=unrelated\n\
         OVS_DRIVER_PLUGIN_DIR=/run/docker/plugins\n"
    );
}

#[test]
fn settings_read_back_with_the_last_line_winning_and_a_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ovs-driver");
    let read = r#"echo "$(env_file_setting "$FILE" RUST_LOG info) $(env_file_setting "$FILE" OVS_DRIVER_PLUGIN_NAME ovs)""#;
    assert_eq!(with_common(read, &file), "info ovs\n");
    std::fs::write(
        &file,
        "RUST_LOG=debug\nOVS_DRIVER_PLUGIN_NAME=\nRUST_LOG=trace\n",
    )
    .unwrap();
    assert_eq!(with_common(read, &file), "trace ovs\n");
    // Quotes are taken off, as systemd and the shell take them off.
    std::fs::write(&file, "RUST_LOG='warn'\nOVS_DRIVER_PLUGIN_NAME=\"ovs2\"\n").unwrap();
    assert_eq!(with_common(read, &file), "warn ovs2\n");
}

#[test]
fn lines_that_are_not_settings_are_kept_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ovs-driver");
    std::fs::write(&file, "=oops\nnot a setting\nRUST_LOG=debug\n").unwrap();
    assert_eq!(
        with_common(MERGE, &file),
        "=oops\nnot a setting\nRUST_LOG=info\nOVS_RUNDIR=/new/run\n\
         OVS_DRIVER_PLUGIN_DIR=/run/docker/plugins\n"
    );
}
