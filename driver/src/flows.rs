//! Getting the [`crate::pipeline`] onto the switches: the OpenFlow side of the driver, behind a
//! trait with a recording fake. Changes to a bridge go in one bundle, so a bridge never shows
//! half of an endpoint's flows, and only flows with the driver's cookie prefix are ever read,
//! changed or deleted: an operator's own flows are left alone.

pub mod fake;
pub mod openflow;
pub mod sync;

use std::collections::BTreeMap;

use ::openflow::codec::action::Instruction;
use ::openflow::codec::oxm::{Match, Oxm};
use async_trait::async_trait;

use crate::pipeline::Flow;

/// Errors of the OpenFlow side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    /// The bridge's OpenFlow management socket cannot be reached.
    #[error("ovs-vswitchd unavailable for bridge {bridge}: {reason}")]
    Unavailable { bridge: String, reason: String },
    /// The switch refused the change; nothing was applied.
    #[error("switch refused flows on {bridge}: {reason}")]
    Refused { bridge: String, reason: String },
}

/// One change to a bridge's flow table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowChange {
    /// Add the flow, replacing one with the same table, priority and match.
    Add(Flow),
    /// Delete exactly this flow (table, priority, match and cookie must all agree).
    Delete(Flow),
}

/// What the driver needs from each bridge's OpenFlow switch.
#[async_trait]
pub trait FlowTables: Send + Sync + 'static {
    /// The driver's flows (cookie prefix) currently on the bridge.
    async fn dump(&self, bridge: &str) -> Result<Vec<Flow>, FlowError>;
    /// How many of the driver's flows (cookie prefix) the bridge has: a cheap check that
    /// needs no dump.
    async fn count(&self, bridge: &str) -> Result<usize, FlowError>;
    /// Applies the changes atomically.
    async fn apply(&self, bridge: &str, changes: Vec<FlowChange>) -> Result<(), FlowError>;
    /// Drops any connection to a bridge that is being deleted.
    async fn forget(&self, bridge: &str);
}

/// The identity of a flow in a table: two flows with equal keys cannot coexist.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FlowKey {
    table: u8,
    priority: u16,
    fields: Vec<(u32, Vec<u8>, Option<Vec<u8>>)>,
}

fn canonical_fields(flow_match: &Match) -> Vec<(u32, Vec<u8>, Option<Vec<u8>>)> {
    let mut fields: Vec<_> = flow_match
        .fields
        .iter()
        .map(|Oxm { field, value, mask }| (field.oxm_header(false), value.clone(), mask.clone()))
        .collect();
    fields.sort();
    fields
}

impl FlowKey {
    pub fn of(flow: &Flow) -> Self {
        Self {
            table: flow.table,
            priority: flow.priority,
            fields: canonical_fields(&flow.flow_match),
        }
    }
}

/// Instructions compared without caring for representation details the switch may change
/// (an empty apply-actions is the same as none).
fn same_instructions(a: &[Instruction], b: &[Instruction]) -> bool {
    let meaningful = |list: &[Instruction]| -> Vec<Instruction> {
        list.iter()
            .filter(|i| !matches!(i, Instruction::ApplyActions(actions) if actions.is_empty()))
            .cloned()
            .collect()
    };
    meaningful(a) == meaningful(b)
}

/// The changes that turn `installed` into `desired`, leaving flows that are already right
/// untouched (their counters keep counting).
pub fn diff(installed: &[Flow], desired: &[Flow]) -> Vec<FlowChange> {
    let have: BTreeMap<FlowKey, &Flow> = installed.iter().map(|f| (FlowKey::of(f), f)).collect();
    let want: BTreeMap<FlowKey, &Flow> = desired.iter().map(|f| (FlowKey::of(f), f)).collect();
    let mut changes = Vec::new();
    for (key, flow) in &have {
        if !want.contains_key(key) {
            changes.push(FlowChange::Delete((*flow).clone()));
        }
    }
    for (key, flow) in &want {
        match have.get(key) {
            Some(current)
                if current.cookie == flow.cookie
                    && same_instructions(&current.instructions, &flow.instructions) => {}
            _ => changes.push(FlowChange::Add((*flow).clone())),
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::openflow::codec::action::{Action, Instruction};

    fn flow(priority: u16, port: u32, out: u32) -> Flow {
        Flow {
            table: 0,
            priority,
            cookie: 7,
            flow_match: Match::new().in_port(port).eth_type(0x0800),
            instructions: vec![Instruction::ApplyActions(vec![Action::output(out)])],
        }
    }

    #[test]
    fn diff_touches_only_what_differs() {
        let installed = vec![flow(10, 1, 2), flow(10, 2, 1), flow(10, 3, 3)];
        let desired = vec![flow(10, 1, 2), flow(10, 2, 9), flow(10, 4, 4)];
        let changes = diff(&installed, &desired);
        assert_eq!(
            changes,
            vec![
                FlowChange::Delete(flow(10, 3, 3)),
                FlowChange::Add(flow(10, 2, 9)),
                FlowChange::Add(flow(10, 4, 4)),
            ]
        );
        assert!(diff(&desired, &desired).is_empty());
    }

    #[test]
    fn field_order_does_not_matter() {
        let mut reordered = flow(10, 1, 2);
        reordered.flow_match.fields.reverse();
        assert!(diff(&[reordered], &[flow(10, 1, 2)]).is_empty());
    }

    #[test]
    fn empty_actions_equal_no_instructions() {
        let mut drop = flow(10, 1, 2);
        drop.instructions = vec![];
        let mut dumped = drop.clone();
        dumped.instructions = vec![Instruction::ApplyActions(vec![])];
        assert!(diff(&[dumped], &[drop]).is_empty());
    }
}
