//! [`FlowTables`] over our `openflow` crate: one connection per bridge, to
//! `unix:<rundir>/<bridge>.mgmt` as `ovs-ofctl` connects. Connections are made on first use and
//! kept; the connection task reconnects by itself after ovs-vswitchd restarts.

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
                    let target = format!("unix:{}/{bridge}.mgmt", self.rundir.display());
                    let options = Options {
                        request_timeout: REQUEST_TIMEOUT,
                        backoff_max: Duration::from_millis(500),
                        ..Default::default()
                    };
                    let switch = Switch::connect(&target, options)
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

fn to_flow_mod(change: FlowChange) -> FlowMod {
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

    async fn forget(&self, bridge: &str) {
        self.switches.lock().await.remove(bridge);
    }
}
