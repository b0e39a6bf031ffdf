//! [`FlowTables`] over our `openflow` crate: one connection per bridge, to
//! `unix:<rundir>/<bridge>.mgmt` as `ovs-ofctl` connects. Connections are made on first use and
//! kept; the connection task reconnects by itself after ovs-vswitchd restarts. A big change (a
//! restore of a whole bridge) also uses a few short-lived extra connections.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use openflow::codec::action::port;
use openflow::codec::flow::{FlowFilter, FlowMod};
use openflow::{Event, Options, Switch};
use tokio::sync::{broadcast, Mutex};

use super::{FlowChange, FlowError, FlowTables};
use crate::pipeline::{Flow, COOKIE_PREFIX, COOKIE_PREFIX_MASK};

/// How long a request to a switch may take before the driver gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// How long to wait for a bridge's management socket to accept us.
const CONNECT_WAIT: Duration = Duration::from_secs(4);

/// [`FlowTables`] backed by ovs-vswitchd.
pub struct OpenFlowTables {
    rundir: PathBuf,
    switches: Mutex<HashMap<String, Switch>>,
    /// Bridges whose OpenFlow connection came (back) up, for the reconciler.
    reconnected: broadcast::Sender<String>,
}

impl OpenFlowTables {
    pub fn new(rundir: PathBuf) -> Self {
        Self {
            rundir,
            switches: Mutex::new(HashMap::new()),
            reconnected: broadcast::channel(256).0,
        }
    }

    /// Names of bridges whose connection was re-established after a drop.
    pub fn reconnections(&self) -> broadcast::Receiver<String> {
        self.reconnected.subscribe()
    }

    async fn switch(&self, bridge: &str) -> Result<Switch, FlowError> {
        let unavailable = |reason: String| FlowError::Unavailable {
            bridge: bridge.to_string(),
            reason,
        };
        let switch = {
            let mut switches = self.switches.lock().await;
            match switches.get(bridge) {
                Some(switch) => switch.clone(),
                None => {
                    let switch = Switch::connect(&self.target(bridge), Self::options())
                        .map_err(|e| unavailable(e.to_string()))?;
                    self.watch_reconnects(bridge, &switch);
                    switches.insert(bridge.to_string(), switch.clone());
                    switch
                }
            }
        };
        switch
            .wait_connected(CONNECT_WAIT)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(switch)
    }

    /// A connection of its own to a bridge, for one big change; closed when dropped.
    async fn extra_connection(&self, bridge: &str) -> Result<Switch, FlowError> {
        let unavailable = |reason: String| FlowError::Unavailable {
            bridge: bridge.to_string(),
            reason,
        };
        let switch = Switch::connect(&self.target(bridge), Self::options())
            .map_err(|e| unavailable(e.to_string()))?;
        switch
            .wait_connected(CONNECT_WAIT)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        Ok(switch)
    }

    fn target(&self, bridge: &str) -> String {
        format!("unix:{}/{bridge}.mgmt", self.rundir.display())
    }

    fn options() -> Options {
        Options {
            request_timeout: REQUEST_TIMEOUT,
            backoff_max: Duration::from_millis(500),
            ..Default::default()
        }
    }

    fn watch_reconnects(&self, bridge: &str, switch: &Switch) {
        let mut events = switch.subscribe();
        let notify = self.reconnected.clone();
        let bridge = bridge.to_string();
        tokio::spawn(async move {
            let mut dropped = false;
            loop {
                match events.recv().await {
                    Ok(Event::Disconnected(_)) => dropped = true,
                    Ok(Event::Connected(_)) if dropped => {
                        dropped = false;
                        let _ = notify.send(bridge.clone());
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }
}

/// Changes above this many go over several connections at once (see `apply`).
const PARALLEL_ABOVE: usize = 2000;
/// Connections a big change is spread over.
const PARALLEL_CONNECTIONS: usize = 4;

/// Applies `changes` as one bundle on `switch`.
async fn bundle(switch: &Switch, bridge: &str, changes: Vec<FlowChange>) -> Result<(), FlowError> {
    let flow_mods: Vec<FlowMod> = changes.into_iter().map(to_flow_mod).collect();
    switch.bundle(flow_mods).await.map_err(|e| match e {
        openflow::Error::Bundle { .. } | openflow::Error::Switch(_) => FlowError::Refused {
            bridge: bridge.to_string(),
            reason: e.to_string(),
        },
        other => FlowError::Unavailable {
            bridge: bridge.to_string(),
            reason: other.to_string(),
        },
    })
}

/// Splits changes into at most `groups` groups of about equal size, each owner's (cookie's)
/// changes together and in their order.
fn split_by_owner(changes: Vec<FlowChange>, groups: usize) -> Vec<Vec<FlowChange>> {
    let mut owners: Vec<(u64, Vec<FlowChange>)> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for change in changes {
        let cookie = match &change {
            FlowChange::Add(flow) | FlowChange::Delete(flow) => flow.cookie,
        };
        let slot = *index.entry(cookie).or_insert_with(|| {
            owners.push((cookie, Vec::new()));
            owners.len() - 1
        });
        owners[slot].1.push(change);
    }
    // Biggest owners first, each into the smallest group so far.
    owners.sort_by_key(|(_, list)| std::cmp::Reverse(list.len()));
    let mut result: Vec<Vec<FlowChange>> = vec![Vec::new(); groups.clamp(1, owners.len().max(1))];
    for (_, list) in owners {
        let smallest = result
            .iter_mut()
            .min_by_key(|group| group.len())
            .expect("at least one group");
        smallest.extend(list);
    }
    result.retain(|group| !group.is_empty());
    result
}

/// The flow_mod that makes `change` on the switch.
pub fn to_flow_mod(change: FlowChange) -> FlowMod {
    match change {
        FlowChange::Add(flow) => {
            let mut flow_mod =
                FlowMod::add(flow.table, flow.priority, flow.flow_match).cookie(flow.cookie);
            for instruction in flow.instructions {
                flow_mod = flow_mod.instruction(instruction);
            }
            flow_mod
        }
        FlowChange::Delete(flow) => {
            FlowMod::delete_strict(flow.table, flow.priority, flow.flow_match)
                .cookie_masked(flow.cookie, u64::MAX)
                .out_port(port::ANY)
        }
    }
}

#[async_trait]
impl FlowTables for OpenFlowTables {
    async fn dump(&self, bridge: &str) -> Result<Vec<Flow>, FlowError> {
        let switch = self.switch(bridge).await?;
        let stats = switch
            .flow_stats(FlowFilter::all().cookie(COOKIE_PREFIX, COOKIE_PREFIX_MASK))
            .await
            .map_err(|e| FlowError::Unavailable {
                bridge: bridge.to_string(),
                reason: e.to_string(),
            })?;
        Ok(stats
            .into_iter()
            .map(|s| Flow {
                table: s.table_id,
                priority: s.priority,
                cookie: s.cookie,
                flow_match: s.flow_match,
                instructions: s.instructions,
            })
            .collect())
    }

    async fn count(&self, bridge: &str) -> Result<usize, FlowError> {
        let switch = self.switch(bridge).await?;
        let aggregate = switch
            .aggregate(FlowFilter::all().cookie(COOKIE_PREFIX, COOKIE_PREFIX_MASK))
            .await
            .map_err(|e| FlowError::Unavailable {
                bridge: bridge.to_string(),
                reason: e.to_string(),
            })?;
        Ok(aggregate.flow_count as usize)
    }

    async fn apply(&self, bridge: &str, changes: Vec<FlowChange>) -> Result<(), FlowError> {
        if changes.is_empty() {
            return Ok(());
        }
        let switch = self.switch(bridge).await?;
        if changes.len() <= PARALLEL_ABOVE {
            return bundle(&switch, bridge, changes).await;
        }
        // ovs-vswitchd reads a bounded number of messages per connection and main-loop turn,
        // and a turn takes long on a bridge with many userspace ports: a restore of every
        // endpoint's flows goes faster over several connections, one bundle each. Each owner's
        // flows stay in one bundle, so no endpoint is ever half there.
        let groups = split_by_owner(changes, PARALLEL_CONNECTIONS);
        let mut switches = vec![switch];
        for _ in 1..groups.len() {
            switches.push(self.extra_connection(bridge).await?);
        }
        let bundles = groups
            .into_iter()
            .zip(&switches)
            .map(|(group, switch)| bundle(switch, bridge, group));
        // Every bundle runs to its end even when another fails: dropping one half-way would
        // leave it to the switch whether its commit was already applied.
        let outcomes = futures::future::join_all(bundles).await;
        outcomes
            .into_iter()
            .collect::<Result<Vec<()>, FlowError>>()?;
        Ok(())
    }

    async fn forget(&self, bridge: &str) {
        self.switches.lock().await.remove(bridge);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow::codec::oxm::Match;

    fn change(cookie: u64, priority: u16) -> FlowChange {
        FlowChange::Add(Flow {
            table: 0,
            priority,
            cookie,
            flow_match: Match::new(),
            instructions: Vec::new(),
        })
    }

    #[test]
    fn split_keeps_each_owner_together_in_order_and_balances() {
        let mut changes = Vec::new();
        for priority in 0..10 {
            for cookie in 1..=8u64 {
                changes.push(change(cookie, priority));
            }
        }
        changes.extend((0..30).map(|priority| change(99, priority)));
        let groups = split_by_owner(changes.clone(), 4);
        assert_eq!(groups.len(), 4);
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), changes.len());
        for cookie in [1, 5, 8, 99] {
            let holding: Vec<&Vec<FlowChange>> = groups
                .iter()
                .filter(|g| g.iter().any(|c| c == &change(cookie, 0)))
                .collect();
            assert_eq!(holding.len(), 1, "owner {cookie} in one group");
            let order: Vec<&FlowChange> = holding[0]
                .iter()
                .filter(|c| matches!(c, FlowChange::Add(f) if f.cookie == cookie))
                .collect();
            let expected: Vec<FlowChange> = changes
                .iter()
                .filter(|c| matches!(c, FlowChange::Add(f) if f.cookie == cookie))
                .cloned()
                .collect();
            assert_eq!(order.into_iter().cloned().collect::<Vec<_>>(), expected);
        }
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 30,
            "{sizes:?}"
        );
        assert_eq!(split_by_owner(vec![change(1, 0)], 4).len(), 1);
        assert!(split_by_owner(Vec::new(), 4).is_empty());
    }
}
