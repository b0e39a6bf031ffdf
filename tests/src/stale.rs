//! Cleaning up environments left behind by test processes that died without running their
//! Drop (SIGKILL, abort, a power cut of the CI job...).
//!
//! Every environment writes `/tmp/ovt-<id>/owner` with the owning test process's pid and start
//! time. An environment whose owner is gone is torn down: its processes (found by the unique
//! directory in their command lines), its container processes (through their cgroups), the
//! network namespace `ovt-<id>`, the plugin socket and the directory. Anything without an owner
//! file is left alone, since it may not be ours.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;
use std::time::Duration;

use crate::{cmd, process};

/// Prefix of every environment's netns name, temp directory name and plugin name.
pub const PREFIX: &str = "ovt-";

/// Runs [`clean_stale_environments`] once per process.
pub fn clean_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for id in clean_stale_environments() {
            eprintln!("[e2e] removed leftovers of dead test environment {id}");
        }
    });
}

/// Contents of an owner file for the current process.
pub fn owner_record() -> String {
    let pid = std::process::id() as i32;
    format!("{pid} {}\n", process::process_start_time(pid).unwrap_or(0))
}

/// True if the owner file names a process that is still running (same pid and start time).
fn owner_alive(owner_file: &Path) -> bool {
    let Ok(text) = fs::read_to_string(owner_file) else {
        return false;
    };
    let mut fields = text.split_whitespace();
    let pid: i32 = fields.next().and_then(|pid| pid.parse().ok()).unwrap_or(0);
    let start: u64 = fields
        .next()
        .and_then(|start| start.parse().ok())
        .unwrap_or(0);
    process::pid_alive(pid) && process::process_start_time(pid) == Some(start)
}

/// Tears down every environment whose owner died; returns their ids.
pub fn clean_stale_environments() -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for dir in ["/tmp", "/run/netns"] {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_prefix(PREFIX) {
                if id.len() == 6 && id.chars().all(|c| c.is_ascii_hexdigit()) {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .filter(|id| {
            let owner = env_dir(id).join("owner");
            owner.is_file() && !owner_alive(&owner)
        })
        .inspect(|id| teardown_dead(id))
        .collect()
}

/// The temp directory of environment `id`.
pub fn env_dir(id: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/{PREFIX}{id}"))
}

fn teardown_dead(id: &str) {
    let dir = env_dir(id);
    let needle = format!("{}/", dir.display());
    process::kill_processes_mentioning(&needle);
    process::kill_container_processes(&container_ids(&dir.join("d")));
    process::kill_processes_mentioning(&needle);
    let mut netns_del = Command::new("ip");
    netns_del.args(["netns", "del", &format!("{PREFIX}{id}")]);
    let _ = cmd::run(netns_del, Duration::from_secs(20));
    let _ = fs::remove_file(format!("/run/docker/plugins/ovt{id}.sock"));
    unmount_below(&dir);
    let _ = fs::remove_dir_all(&dir);
}

/// Container ids known to a dockerd data root (directory names under `containers/`).
pub fn container_ids(data_root: &Path) -> Vec<String> {
    fs::read_dir(data_root.join("containers"))
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()))
                .collect()
        })
        .unwrap_or_default()
}

/// Lazily unmounts every mount point at or below `dir` in our mount namespace, deepest first.
pub fn unmount_below(dir: &Path) {
    let Ok(mountinfo) = fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let prefix = dir.to_string_lossy().into_owned();
    let mut points: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(unescape_mount_path)
        .filter(|point| point == &prefix || point.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|point| std::cmp::Reverse(point.len()));
    for point in points {
        if let Ok(path) = std::ffi::CString::new(point) {
            // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
            unsafe {
                libc::umount2(path.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Mount paths in mountinfo escape space, tab, newline and backslash as octal.
fn unescape_mount_path(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let octal = bytes.get(index + 1..index + 4).filter(|digits| {
            bytes[index] == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit))
        });
        if let Some(digits) = octal {
            let value = digits
                .iter()
                .fold(0u32, |acc, digit| acc * 8 + u32::from(digit - b'0'));
            out.push(value as u8);
            index += 4;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo_paths() {
        assert_eq!(unescape_mount_path("/a\\040b"), "/a b");
        assert_eq!(unescape_mount_path("/plain"), "/plain");
        assert_eq!(unescape_mount_path("/end\\"), "/end\\");
    }

    #[test]
    fn own_owner_record_is_alive() {
        let dir = std::env::temp_dir().join(format!("ovt-owner-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let owner = dir.join("owner");
        fs::write(&owner, owner_record()).unwrap();
        assert!(owner_alive(&owner));
        fs::write(&owner, "999999999 1\n").unwrap();
        assert!(!owner_alive(&owner));
        fs::remove_dir_all(&dir).unwrap();
    }
}
