//! Moving the whole benchmark into a network namespace of its own, before any thread exists, so
//! that everything it starts (ovsdb-server, ovs-vswitchd, the driver, `ip`, `ovs-vsctl`)
//! inherits the namespace, and the veths, taps and bridges die with it when the last of those
//! processes exits.

use std::ffi::CString;
use std::io;
use std::process::Command;

use anyhow::{bail, Context};

/// Unshares the network namespace (and a mount namespace in which `/sys` is remounted, as
/// `ip netns exec` does, so that sysfs shows this namespace's interfaces) and brings `lo` up.
///
/// Must be called on the main thread before any other thread is started: a namespace change
/// applies to the calling thread and to the threads and processes it creates afterwards.
pub fn enter_private_netns() -> anyhow::Result<()> {
    // SAFETY: plain system call; no memory is shared with the kernel.
    if unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWNS) } != 0 {
        let err = io::Error::last_os_error();
        bail!("unshare(CLONE_NEWNET): {err} (ovs-bench must run as root)");
    }
    remount_sys().context("remounting /sys in the private mount namespace")?;
    let status = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .context("running `ip link set lo up`")?;
    if !status.success() {
        bail!("`ip link set lo up` failed: {status}");
    }
    Ok(())
}

fn remount_sys() -> io::Result<()> {
    let root = CString::new("/").expect("no NUL");
    let none = CString::new("none").expect("no NUL");
    let sys = CString::new("/sys").expect("no NUL");
    let sysfs = CString::new("sysfs").expect("no NUL");
    // SAFETY: the pointers are valid NUL-terminated strings for the duration of each call.
    unsafe {
        // Keep our mounts from propagating back to the host's mount namespace.
        if libc::mount(
            none.as_ptr(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_SLAVE | libc::MS_REC,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::umount2(sys.as_ptr(), libc::MNT_DETACH) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::mount(
            sysfs.as_ptr(),
            sys.as_ptr(),
            sysfs.as_ptr(),
            0,
            std::ptr::null(),
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
