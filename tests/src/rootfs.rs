//! A tiny container root filesystem made from the host's static busybox, as a tarball for
//! `docker import` (no registry access needed).
//!
//! The tarball is built once per busybox binary (keyed by its size and mtime) and shared by
//! all environments and test processes; it is written to a temporary name and renamed into
//! place, so concurrent builders never see a partial file.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use crate::cmd;

/// Path of the busybox rootfs tarball, building it on first use. Panics with a hint if the host
/// has no static busybox.
pub fn busybox_rootfs_tar() -> &'static Path {
    static TARBALL: OnceLock<PathBuf> = OnceLock::new();
    TARBALL.get_or_init(|| build().unwrap_or_else(|error| panic!("busybox rootfs: {error}")))
}

fn find_busybox() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/bin".into(), "/usr/bin".into()])
        .map(|dir| dir.join("busybox"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| "no busybox binary found; install the busybox-static package".to_string())
}

fn build() -> Result<PathBuf, String> {
    let busybox = find_busybox()?;
    let bytes =
        fs::read(&busybox).map_err(|error| format!("read {}: {error}", busybox.display()))?;
    if has_program_interpreter(&bytes) {
        return Err(format!(
            "{} is dynamically linked; install the busybox-static package",
            busybox.display()
        ));
    }
    let mtime = fs::metadata(&busybox)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |since| since.as_secs());
    let tarball = std::env::temp_dir().join(format!("ovt-busybox-{}-{mtime}.tar", bytes.len()));
    if tarball.is_file() {
        return Ok(tarball);
    }

    let unique = format!("{}-{:?}", std::process::id(), std::thread::current().id());
    let unique: String = unique.chars().filter(char::is_ascii_alphanumeric).collect();
    let staging = std::env::temp_dir().join(format!("ovt-rootfs-build-{unique}"));
    let partial = std::env::temp_dir().join(format!("ovt-rootfs-{unique}.tar.partial"));
    let result = stage(&staging, &busybox, &bytes).and_then(|()| {
        let mut tar = Command::new("tar");
        tar.args(["--numeric-owner", "--owner=0", "--group=0", "-C"])
            .arg(&staging)
            .arg("-cf")
            .arg(&partial)
            .arg(".");
        let output = cmd::run(tar, Duration::from_secs(60));
        if !output.success() {
            return Err(output.describe());
        }
        fs::rename(&partial, &tarball).map_err(|error| format!("rename tarball: {error}"))
    });
    let _ = fs::remove_dir_all(&staging);
    let _ = fs::remove_file(&partial);
    result.map(|()| tarball)
}

/// Lays out `/bin/busybox`, one symlink per applet, and the usual empty mount points.
fn stage(staging: &Path, busybox: &Path, bytes: &[u8]) -> Result<(), String> {
    let _ = fs::remove_dir_all(staging);
    let bin = staging.join("bin");
    for dir in ["bin", "dev", "etc", "proc", "sys", "tmp", "root"] {
        fs::create_dir_all(staging.join(dir)).map_err(|error| format!("mkdir {dir}: {error}"))?;
    }
    fs::write(bin.join("busybox"), bytes).map_err(|error| format!("copy busybox: {error}"))?;
    let mut chmod = Command::new("chmod");
    chmod.arg("0755").arg(bin.join("busybox"));
    let output = cmd::run(chmod, Duration::from_secs(10));
    if !output.success() {
        return Err(output.describe());
    }
    let mut list = Command::new(busybox);
    list.arg("--list");
    let output = cmd::run(list, Duration::from_secs(10));
    if !output.success() {
        return Err(output.describe());
    }
    for applet in output.stdout.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        symlink("busybox", bin.join(applet))
            .map_err(|error| format!("symlink {applet}: {error}"))?;
    }
    fs::write(
        staging.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\n",
    )
    .map_err(|error| format!("write passwd: {error}"))?;
    fs::write(staging.join("etc/group"), "root:x:0:\n")
        .map_err(|error| format!("write group: {error}"))
}

/// True for a 64-bit little-endian ELF file with a PT_INTERP program header, i.e. one that
/// needs a dynamic loader the container will not have. Other formats are not judged.
fn has_program_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return false;
    }
    let read_u16 = |at: usize| u16::from_le_bytes([elf[at], elf[at + 1]]) as usize;
    let Ok(offset) = <[u8; 8]>::try_from(&elf[0x20..0x28]).map(u64::from_le_bytes) else {
        return false;
    };
    let (entry_size, count) = (read_u16(0x36), read_u16(0x38));
    (0..count).any(|index| {
        let at = offset as usize + index * entry_size;
        elf.get(at..at + 4).is_some_and(|kind| {
            u32::from_le_bytes([kind[0], kind[1], kind[2], kind[3]]) == PT_INTERP
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_static_from_dynamic_binaries() {
        let sh = fs::read("/bin/sh").expect("read /bin/sh");
        assert!(has_program_interpreter(&sh), "/bin/sh should be dynamic");
        assert!(!has_program_interpreter(b"#!/bin/sh\necho hi\n"));
        if let Ok(busybox) = find_busybox() {
            let bytes = fs::read(busybox).unwrap();
            assert!(!has_program_interpreter(&bytes), "busybox should be static");
        }
    }
}
