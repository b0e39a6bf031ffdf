//! An in-memory [`FlowTables`] that keeps each bridge's flows, records every applied batch and
//! can be made unavailable, for unit tests.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;

use super::{FlowChange, FlowError, FlowKey, FlowTables};
use crate::pipeline::{is_driver_cookie, Flow};

#[derive(Default)]
struct State {
    tables: BTreeMap<String, BTreeMap<FlowKey, Flow>>,
    batches: Vec<(String, Vec<FlowChange>)>,
    down: BTreeSet<String>,
    dumps: usize,
}

/// The fake switches.
#[derive(Default)]
pub struct FakeFlowTables {
    state: Mutex<State>,
}

impl FakeFlowTables {
    pub fn new() -> Self {
        Self::default()
    }

    /// The flows on a bridge.
    pub fn flows(&self, bridge: &str) -> Vec<Flow> {
        self.state
            .lock()
            .unwrap()
            .tables
            .get(bridge)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many times flows were dumped.
    pub fn dumps(&self) -> usize {
        self.state.lock().unwrap().dumps
    }

    /// Every batch applied so far.
    pub fn batches(&self) -> Vec<(String, Vec<FlowChange>)> {
        self.state.lock().unwrap().batches.clone()
    }

    /// Makes a bridge's switch unreachable (`true`) or reachable again.
    pub fn set_down(&self, bridge: &str, down: bool) {
        let mut state = self.state.lock().unwrap();
        if down {
            state.down.insert(bridge.to_string());
        } else {
            state.down.remove(bridge);
        }
    }

    /// Empties a bridge's table, as a restarted ovs-vswitchd would.
    pub fn wipe(&self, bridge: &str) {
        self.state.lock().unwrap().tables.remove(bridge);
    }

    fn check(state: &State, bridge: &str) -> Result<(), FlowError> {
        if state.down.contains(bridge) {
            return Err(FlowError::Unavailable {
                bridge: bridge.to_string(),
                reason: "fake switch down".into(),
            });
        }
        Ok(())
    }
}

#[async_trait]
impl FlowTables for FakeFlowTables {
    async fn dump(&self, bridge: &str) -> Result<Vec<Flow>, FlowError> {
        let mut state = self.state.lock().unwrap();
        Self::check(&state, bridge)?;
        state.dumps += 1;
        Ok(state
            .tables
            .get(bridge)
            .map(|t| {
                t.values()
                    .filter(|f| is_driver_cookie(f.cookie))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn count(&self, bridge: &str) -> Result<usize, FlowError> {
        let state = self.state.lock().unwrap();
        Self::check(&state, bridge)?;
        Ok(state.tables.get(bridge).map_or(0, |t| {
            t.values().filter(|f| is_driver_cookie(f.cookie)).count()
        }))
    }

    async fn apply(&self, bridge: &str, changes: Vec<FlowChange>) -> Result<(), FlowError> {
        let mut state = self.state.lock().unwrap();
        Self::check(&state, bridge)?;
        state.batches.push((bridge.to_string(), changes.clone()));
        let table = state.tables.entry(bridge.to_string()).or_default();
        for change in changes {
            match change {
                FlowChange::Add(flow) => {
                    table.insert(FlowKey::of(&flow), flow);
                }
                FlowChange::Delete(flow) => {
                    let key = FlowKey::of(&flow);
                    if table.get(&key).is_some_and(|f| f.cookie == flow.cookie) {
                        table.remove(&key);
                    }
                }
            }
        }
        Ok(())
    }

    async fn forget(&self, _bridge: &str) {}
}
