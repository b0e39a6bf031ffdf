//! Looking at and stopping processes by pid: pidfiles, `/proc` scans, signals.
//!
//! Daemons started with `--detach` are not our children, so they are tracked through their
//! pidfiles; leftovers are found by scanning `/proc/*/cmdline` for the environment's unique
//! directory, which only processes of that environment mention.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// Reads a pid from a pidfile (`None` if missing or garbage).
pub fn read_pidfile(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The one-letter state from `/proc/PID/stat` (`R`, `S`, `Z`, ...).
pub fn process_state(pid: i32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().next()?.chars().next()
}

/// Field 22 of `/proc/PID/stat`: start time in clock ticks since boot. Together with the pid it
/// identifies a process even after the pid has been reused.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // after_name starts at field 3 (state); start time is field 22.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// True while the process exists and is not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    pid > 0 && matches!(process_state(pid), Some(state) if state != 'Z' && state != 'X')
}

/// Sends `signal`; false if the process does not exist (or the pid is nonsense).
pub fn send_signal(pid: i32, signal: i32) -> bool {
    // SAFETY: kill(2) has no memory-safety preconditions; pid > 0 avoids process-group targets.
    pid > 0 && unsafe { libc::kill(pid, signal) } == 0
}

/// Polls until the process is gone (or a zombie); true if that happened within `timeout`.
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pid_alive(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, wait up to `grace`, then SIGKILL and wait a little more. True if the process is gone.
pub fn terminate(pid: i32, grace: Duration) -> bool {
    if !pid_alive(pid) {
        return true;
    }
    send_signal(pid, libc::SIGTERM);
    if wait_gone(pid, grace) {
        return true;
    }
    send_signal(pid, libc::SIGKILL);
    wait_gone(pid, Duration::from_secs(5))
}

/// The command line of a process, arguments joined with spaces.
pub fn cmdline(pid: i32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let parts: Vec<String> = raw
        .split(|byte| *byte == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect();
    Some(parts.join(" "))
}

/// Live (non-zombie) processes, other than this one, whose command line contains `needle`.
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let own = std::process::id() as i32;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found: Vec<(i32, String)> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != own && pid_alive(*pid))
        .filter_map(|pid| {
            let line = cmdline(pid)?;
            line.contains(needle).then_some((pid, line))
        })
        .collect();
    found.sort();
    found
}

/// SIGKILLs every live process whose command line contains `needle` and waits for them.
/// Returns what was killed, for the log.
pub fn kill_processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let victims = processes_mentioning(needle);
    for (pid, _) in &victims {
        send_signal(*pid, libc::SIGKILL);
    }
    for (pid, _) in &victims {
        wait_gone(*pid, Duration::from_secs(5));
    }
    victims
}

/// Pids listed in the `cgroup.procs` files of a container's cgroups (cgroup v1 controllers, v2
/// unified, cgroupfs or systemd layout). Used to kill container processes whose shim is gone.
pub fn container_cgroup_pids(container_id: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for dir in container_cgroup_dirs(container_id) {
        if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(
                procs
                    .lines()
                    .filter_map(|line| line.trim().parse::<i32>().ok()),
            );
        }
    }
    pids.sort();
    pids.dedup();
    pids
}

/// Existing cgroup directories that belong to a docker container id.
pub fn container_cgroup_dirs(container_id: &str) -> Vec<std::path::PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    let leaves = [
        format!("docker/{container_id}"),
        format!("system.slice/docker-{container_id}.scope"),
    ];
    let mut bases = vec![root.to_path_buf()];
    if let Ok(entries) = fs::read_dir(root) {
        bases.extend(entries.filter_map(|entry| Some(entry.ok()?.path())));
    }
    bases
        .iter()
        .flat_map(|base| leaves.iter().map(move |leaf| base.join(leaf)))
        .filter(|dir| dir.is_dir())
        .collect()
}

/// Kills the processes of the given docker containers through their cgroups and removes the
/// emptied cgroup directories. Best effort, for containers whose dockerd is already gone.
pub fn kill_container_processes(container_ids: &[String]) {
    for id in container_ids {
        for pid in container_cgroup_pids(id) {
            send_signal(pid, libc::SIGKILL);
        }
    }
    for id in container_ids {
        for pid in container_cgroup_pids(id) {
            wait_gone(pid, Duration::from_secs(5));
        }
        for dir in container_cgroup_dirs(id) {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn sees_itself_and_a_child() {
        let own = std::process::id() as i32;
        assert!(pid_alive(own));
        assert!(process_start_time(own).is_some());
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        assert!(pid_alive(pid));
        // Right after fork the child may not have exec'd sleep yet.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cmdline(pid).unwrap_or_default().starts_with("sleep 30") {
            assert!(Instant::now() < deadline, "child never showed up as sleep");
            thread::sleep(Duration::from_millis(5));
        }
        assert!(terminate(pid, Duration::from_secs(5)));
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn nonsense_pids_are_not_alive() {
        assert!(!pid_alive(0));
        assert!(!pid_alive(-1));
        assert!(!send_signal(-1, 0));
    }
}
