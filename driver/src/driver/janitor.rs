//! Finding and removing what Docker has forgotten: endpoints whose container vanished without a
//! Leave (its network namespace went, and the veth with it; or Docker tore the sandbox down and
//! gave up on a driver that did not answer), endpoints Docker never joined
//! (it gave up on them after a failed start), and veths left by a driver that died between
//! creating a veth and recording its port. Runs with the periodic repair.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Driver, DriverError};
use crate::naming::{HOST_VETH_PREFIX, ID_DIGITS};
use crate::pipeline::{endpoint_cookie, network_cookie};
use crate::switch::EndpointRecord;

/// How long, by default, an endpoint may stay without a sandbox before it counts as abandoned. Docker joins
/// an endpoint right after creating it and deletes it right after leaving.
pub const UNJOINED_GRACE: Duration = Duration::from_secs(60);

/// How long, by default, a joined endpoint's sandbox must stay missing before the endpoint
/// counts as stale. Docker joins before the container starts, and the namespace file appears
/// only with the start, so a sandbox missing once may just not be there yet.
///
/// Why "missing in two rounds this far apart" rather than "seen present, then missing": the
/// latter rests on what the driver saw earlier, which a restarted driver has lost, and an
/// endpoint whose sandbox never appeared (Docker died between Join and the start) would never
/// be collected. Two observations need no history and a restart only delays them; the grace
/// need only exceed the time from Join to the container start (well under a second usually).
pub const SANDBOX_GRACE: Duration = Duration::from_secs(10);

/// What the janitor remembers between rounds.
#[derive(Default)]
pub struct JanitorState {
    /// Host-side veth names of endpoints being created right now.
    creating: Mutex<HashSet<String>>,
    /// When each endpoint was first seen without a sandbox.
    unjoined_since: Mutex<HashMap<String, Instant>>,
    /// Each endpoint whose sandbox was missing in the rounds since: the sandbox and the round
    /// that first missed it. A round that finds it (or another sandbox) starts over.
    sandbox_missing_since: Mutex<HashMap<String, (String, Instant)>>,
}

/// Marks a port as being created until dropped.
pub struct CreatingGuard<'a> {
    state: &'a JanitorState,
    port: String,
}

impl JanitorState {
    pub fn creating(&self, port: &str) -> CreatingGuard<'_> {
        self.creating
            .lock()
            .expect("janitor state poisoned")
            .insert(port.to_string());
        CreatingGuard {
            state: self,
            port: port.to_string(),
        }
    }

    /// Whether the endpoint's sandbox is missing now and was in every round since one at least
    /// `grace` ago (see [`SANDBOX_GRACE`]).
    fn sandbox_gone(&self, endpoint: &EndpointRecord, grace: Duration, now: Instant) -> bool {
        let mut missing = self
            .sandbox_missing_since
            .lock()
            .expect("janitor state poisoned");
        let Some(sandbox) = endpoint.sandbox.as_deref().filter(|s| sandbox_vanished(s)) else {
            missing.remove(&endpoint.port);
            return false;
        };
        match missing.get(&endpoint.port) {
            Some((seen, since)) if seen == sandbox => {
                let gone = now.duration_since(*since) >= grace;
                if gone {
                    missing.remove(&endpoint.port);
                }
                gone
            }
            _ => {
                missing.insert(endpoint.port.clone(), (sandbox.to_string(), now));
                false
            }
        }
    }

    fn creating_now(&self) -> HashSet<String> {
        self.creating
            .lock()
            .expect("janitor state poisoned")
            .clone()
    }
}

impl Drop for CreatingGuard<'_> {
    fn drop(&mut self) {
        self.state
            .creating
            .lock()
            .expect("janitor state poisoned")
            .remove(&self.port);
    }
}

/// Whether `name` is shaped like the host side of one of the driver's veths.
fn is_host_veth_name(name: &str) -> bool {
    name.strip_prefix(HOST_VETH_PREFIX).is_some_and(|digits| {
        digits.len() == ID_DIGITS
            && digits
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Whether a sandbox (network namespace file) Docker named at Join no longer exists. Only
/// judged when its directory is visible: a driver in another mount namespace cannot tell.
fn sandbox_vanished(path: &str) -> bool {
    let path = std::path::Path::new(path);
    let directory_visible = path.parent().is_some_and(|dir| dir.is_dir());
    directory_visible
        && matches!(std::fs::symlink_metadata(path), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

/// Whether Docker tore a sandbox down: the namespace file is still there but no longer a
/// namespace mount (libnetwork unmounts it at once and deletes the file up to a minute later).
/// Judged like [`sandbox_vanished`], only where the directory is visible.
fn sandbox_unmounted(path: &str) -> bool {
    let path = std::path::Path::new(path);
    path.parent().is_some_and(|dir| dir.is_dir())
        && std::fs::symlink_metadata(path).is_ok()
        && !is_namespace_mount(path)
}

/// Whether `path` is a mounted namespace (nsfs; procfs on kernels before 3.19). When it cannot
/// tell, it says yes, so nothing is removed on a doubt.
fn is_namespace_mount(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    const PROC_SUPER_MAGIC: i64 = 0x9fa0;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return true;
    };
    // SAFETY: all-zero bytes are a valid `statfs` (plain integers).
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and outlives the call; `stat` is a valid out pointer.
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stat) } != 0 {
        return true;
    }
    let kind = stat.f_type as i64;
    kind == NSFS_MAGIC || kind == PROC_SUPER_MAGIC
}

impl Driver {
    /// Removes stale endpoints and orphan veths; returns what it removed, for the log.
    pub async fn collect_garbage(&self) -> Result<Vec<String>, DriverError> {
        let mut removed = Vec::new();
        let mut known_ports = HashSet::new();
        let now = Instant::now();
        for network in self.switch.networks().await? {
            // Creations and deletions on this bridge wait while it is inspected.
            let mut flows = self.flows.lock(&network.bridge).await;
            let links: HashSet<String> = self
                .links
                .names()
                .await
                .map_err(super::link_error("listing links"))?
                .into_iter()
                .collect();
            let mut stale: Vec<(EndpointRecord, &str)> = Vec::new();
            for endpoint in self.switch.endpoints(&network).await? {
                known_ports.insert(endpoint.port.clone());
                if !links.contains(&endpoint.port) {
                    stale.push((endpoint, "its veth is gone (container died without Leave)"));
                    continue;
                }
                if self
                    .janitor
                    .sandbox_gone(&endpoint, self.config.sandbox_grace, now)
                {
                    stale.push((
                        endpoint,
                        "its sandbox is gone (container died without Leave)",
                    ));
                    continue;
                }
                // At teardown Docker renames the container side back from `eth0` and moves it
                // here, then unmounts the namespace (deleting its file up to a minute later).
                // Between Join and the container's start the container side is here too and
                // the file is not mounted yet, but the link still has the name it was created
                // with.
                if links.contains(&endpoint.container_iface)
                    && endpoint.sandbox.as_deref().is_some_and(sandbox_unmounted)
                    && self
                        .links
                        .renamed(&endpoint.container_iface)
                        .await
                        .unwrap_or(false)
                {
                    stale.push((
                        endpoint,
                        "its sandbox was torn down without Leave (the container side of its \
                         veth is back)",
                    ));
                    continue;
                }
                let mut unjoined = self
                    .janitor
                    .unjoined_since
                    .lock()
                    .expect("janitor state poisoned");
                if endpoint.sandbox.is_some() {
                    unjoined.remove(&endpoint.port);
                } else {
                    let since = *unjoined.entry(endpoint.port.clone()).or_insert(now);
                    if now.duration_since(since) >= self.config.unjoined_grace {
                        unjoined.remove(&endpoint.port);
                        stale.push((endpoint, "Docker never joined it"));
                    }
                }
            }
            if stale.is_empty() {
                continue;
            }
            let mut plan = flows.plan().cloned();
            for (endpoint, why) in &stale {
                self.teardown_endpoint(endpoint).await?;
                tracing::info!(
                    endpoint = endpoint.endpoint_id,
                    port = endpoint.port,
                    why,
                    "removed stale endpoint"
                );
                removed.push(format!("endpoint {} ({why})", endpoint.endpoint_id));
                if let Some(plan) = plan.as_mut() {
                    plan.endpoints.retain(|e| e.record.port != endpoint.port);
                }
            }
            let result = match plan {
                Some(plan) => {
                    let mut owners = vec![network_cookie(&network.network_id)];
                    owners.extend(stale.iter().map(|(e, _)| endpoint_cookie(&e.endpoint_id)));
                    flows.change(plan, &owners).await.map_err(DriverError::from)
                }
                None => self.full_sync(&mut flows, &network).await,
            };
            if let Err(err) = result {
                tracing::warn!(network = network.network_id, %err, "stale flows left for repair");
            }
        }
        self.janitor
            .unjoined_since
            .lock()
            .expect("janitor state poisoned")
            .retain(|port, _| known_ports.contains(port));
        self.janitor
            .sandbox_missing_since
            .lock()
            .expect("janitor state poisoned")
            .retain(|port, _| known_ports.contains(port));

        // A veth that exists, was not being created when the links were listed, and has no
        // port after that, was left by a crash between the two steps of a creation.
        let links = self
            .links
            .names()
            .await
            .map_err(super::link_error("listing links"))?;
        let creating = self.janitor.creating_now();
        let recorded: HashSet<String> = self.recorded_ports().await?;
        for name in links {
            if is_host_veth_name(&name) && !creating.contains(&name) && !recorded.contains(&name) {
                self.remove_veth(&name).await?;
                tracing::info!(veth = name, "removed orphan veth");
                removed.push(format!("veth {name} (no OVS port)"));
            }
        }
        Ok(removed)
    }

    /// Every endpoint port OVSDB records, on any network.
    async fn recorded_ports(&self) -> Result<HashSet<String>, DriverError> {
        let mut ports = HashSet::new();
        for network in self.switch.networks().await? {
            ports.extend(
                self.switch
                    .endpoints(&network)
                    .await?
                    .into_iter()
                    .map(|e| e.port),
            );
        }
        Ok(ports)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandboxes_are_judged_only_where_visible() {
        let dir = tempfile::tempdir().unwrap();
        let present = dir.path().join("present");
        std::fs::write(&present, b"").unwrap();
        assert!(!sandbox_vanished(present.to_str().unwrap()));
        assert!(sandbox_vanished(dir.path().join("gone").to_str().unwrap()));
        assert!(!sandbox_vanished("/nonexistent-docker-root/netns/abc"));
    }

    #[test]
    fn namespace_mounts_are_told_from_leftover_files() {
        assert!(is_namespace_mount(std::path::Path::new(
            "/proc/self/ns/net"
        )));
        let dir = tempfile::tempdir().unwrap();
        let leftover = dir.path().join("0123456789ab");
        std::fs::write(&leftover, b"").unwrap();
        assert!(!is_namespace_mount(&leftover));
        assert!(sandbox_unmounted(leftover.to_str().unwrap()));
        // Missing files are `sandbox_vanished`'s; unknown places are never judged.
        assert!(!sandbox_unmounted(
            dir.path().join("gone").to_str().unwrap()
        ));
        assert!(!sandbox_unmounted("/nonexistent-docker-root/netns/abc"));
    }

    #[test]
    fn host_veth_names() {
        assert!(is_host_veth_name("ovs0123456789ab"));
        assert!(!is_host_veth_name("ovs-system"));
        assert!(!is_host_veth_name("ovs0123456789abc"));
        assert!(!is_host_veth_name("ovc0123456789ab"));
        assert!(!is_host_veth_name("ovs0123456789AB"));
    }
}
