//! Keeping each bridge's flows in line with its [`NetworkPlan`], cheaply.
//!
//! The first time a bridge is touched (and after any failure) its driver flows are dumped and
//! the whole difference applied; the plan is then remembered, and the switch is known to hold
//! exactly the plan's flows. An endpoint coming or going only builds, compares and sends the
//! flows of its own cookie and of the network's under the old and the new plan: no dump, no
//! OVSDB scan, no copy of every flow in memory. One task at a time works on a bridge:
//! [`FlowSync::lock`] hands out the bridge's guard.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Mutex, OwnedMutexGuard};

use super::{diff, FlowError, FlowTables};
use crate::pipeline::NetworkPlan;

/// How many cheap checks ([`BridgeFlows::verify`]) may pass before one compares every flow.
pub const FULL_CHECK_EVERY: u32 = 30;

/// What the driver knows a bridge has, once synchronised: the flows of this plan.
struct Synced {
    plan: NetworkPlan,
    /// Cheap checks passed since the last full comparison.
    checks: u32,
}

type Slot = Arc<Mutex<Option<Synced>>>;

/// Per-bridge flow state and its locks.
pub struct FlowSync {
    tables: Arc<dyn FlowTables>,
    bridges: std::sync::Mutex<HashMap<String, Slot>>,
}

/// Exclusive access to one bridge's flows.
pub struct BridgeFlows {
    bridge: String,
    tables: Arc<dyn FlowTables>,
    state: OwnedMutexGuard<Option<Synced>>,
}

impl FlowSync {
    pub fn new(tables: Arc<dyn FlowTables>) -> Self {
        Self {
            tables,
            bridges: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// Waits for exclusive access to a bridge's flows.
    pub async fn lock(&self, bridge: &str) -> BridgeFlows {
        let slot = self
            .bridges
            .lock()
            .expect("bridge map poisoned")
            .entry(bridge.to_string())
            .or_default()
            .clone();
        BridgeFlows {
            bridge: bridge.to_string(),
            tables: self.tables.clone(),
            state: slot.lock_owned().await,
        }
    }

    /// Forgets a bridge that is being deleted.
    pub async fn forget(&self, bridge: &str) {
        self.bridges
            .lock()
            .expect("bridge map poisoned")
            .remove(bridge);
        self.tables.forget(bridge).await;
    }
}

impl BridgeFlows {
    /// The plan the bridge's flows were last brought in line with, if they are known to be.
    pub fn plan(&self) -> Option<&NetworkPlan> {
        self.state.as_ref().map(|s| &s.plan)
    }

    /// Dumps the driver's flows from the switch and applies every difference to `plan`.
    pub async fn full_sync(&mut self, plan: NetworkPlan) -> Result<(), FlowError> {
        *self.state = None;
        let installed = self.tables.dump(&self.bridge).await?;
        let desired = plan.flows();
        let changes = diff(&installed, &desired);
        if !changes.is_empty() {
            tracing::debug!(
                bridge = self.bridge,
                changes = changes.len(),
                "repairing flows"
            );
            for change in &changes {
                tracing::trace!(bridge = self.bridge, ?change, "flow repair");
            }
            let (count, started) = (changes.len(), std::time::Instant::now());
            self.tables.apply(&self.bridge, changes).await?;
            tracing::info!(
                bridge = self.bridge,
                changes = count,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "flows repaired"
            );
        }
        *self.state = Some(Synced { plan, checks: 0 });
        Ok(())
    }

    /// The cheap check that the switch still holds `plan`'s flows: `plan` is the one the
    /// bridge was last brought in line with and the switch has as many driver flows as it
    /// asks for. Nothing is dumped (a dump of a big bridge costs the switch and holds the
    /// bridge's lock for long). False when that does not hold, and after every
    /// [`FULL_CHECK_EVERY`] passed checks (a flow changed in place by hand keeps the count):
    /// then the caller does a [`Self::full_sync`].
    pub async fn verify(&mut self, plan: &NetworkPlan) -> Result<bool, FlowError> {
        let Some(synced) = self.state.as_mut() else {
            return Ok(false);
        };
        if synced.plan != *plan || synced.checks >= FULL_CHECK_EVERY {
            return Ok(false);
        }
        let wanted = plan.flows().len();
        let found = self.tables.count(&self.bridge).await?;
        if found != wanted {
            tracing::info!(
                bridge = self.bridge,
                found,
                wanted,
                "driver flow count differs; comparing every flow"
            );
            return Ok(false);
        }
        synced.checks += 1;
        Ok(true)
    }

    /// Moves to `plan`, which differs from the current one only in flows with the cookies in
    /// `owners`; only those are compared and sent. Needs a synchronised bridge (else does a
    /// full sync). On failure the bridge counts as unknown until the next full sync.
    pub async fn change(&mut self, plan: NetworkPlan, owners: &[u64]) -> Result<(), FlowError> {
        let Some(synced) = self.state.as_mut() else {
            return self.full_sync(plan).await;
        };
        let before = synced.plan.flows_of(owners);
        let after = plan.flows_of(owners);
        let changes = diff(&before, &after);
        if !changes.is_empty() {
            if let Err(err) = self.tables.apply(&self.bridge, changes).await {
                *self.state = None;
                return Err(err);
            }
        }
        let synced = self.state.as_mut().expect("checked above");
        synced.plan = plan;
        Ok(())
    }

    /// Removes every driver flow from the bridge (letting go of an adopted bridge).
    pub async fn clear(&mut self) -> Result<(), FlowError> {
        *self.state = None;
        let installed = self.tables.dump(&self.bridge).await?;
        self.tables.apply(&self.bridge, diff(&installed, &[])).await
    }

    /// Marks the bridge's flows as unknown: the next change does a full sync.
    pub fn invalidate(&mut self) {
        *self.state = None;
    }
}
