//! Flow rows: what one flow of a flow-stats reply looks like in the TUI and the `flows`
//! subcommand (match and actions pre-formatted once per sample, like ovs-ofctl prints them).

use std::hash::{Hash, Hasher};

use openflow::codec::action::format_instructions;
use openflow::FlowStats;
use serde::Serialize;

use crate::cookie::CookieOwner;
use crate::filter::{match_fields, Filterable};

/// One flow as sampled from a bridge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowSample {
    pub table: u8,
    pub priority: u16,
    pub cookie: u64,
    #[serde(rename = "match")]
    pub match_text: String,
    #[serde(rename = "actions")]
    pub actions_text: String,
    pub packets: u64,
    pub bytes: u64,
    pub duration_sec: u32,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    /// Identity of the flow across samples: table, priority and match.
    #[serde(skip)]
    pub key: u64,
}

/// The identity of a flow (OpenFlow identifies a flow by table, priority and match).
pub fn flow_key(table: u8, priority: u16, match_text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (table, priority, match_text).hash(&mut hasher);
    hasher.finish()
}

impl FlowSample {
    pub fn new(
        table: u8,
        priority: u16,
        cookie: u64,
        match_text: String,
        actions_text: String,
    ) -> Self {
        FlowSample {
            key: flow_key(table, priority, &match_text),
            table,
            priority,
            cookie,
            match_text,
            actions_text,
            packets: 0,
            bytes: 0,
            duration_sec: 0,
            idle_timeout: 0,
            hard_timeout: 0,
        }
    }
}

impl From<&FlowStats> for FlowSample {
    fn from(stats: &FlowStats) -> Self {
        let mut sample = FlowSample::new(
            stats.table_id,
            stats.priority,
            stats.cookie,
            stats.flow_match.to_string(),
            format_instructions(&stats.instructions),
        );
        sample.packets = stats.packet_count;
        sample.bytes = stats.byte_count;
        sample.duration_sec = stats.duration_sec;
        sample.idle_timeout = stats.idle_timeout;
        sample.hard_timeout = stats.hard_timeout;
        sample
    }
}

/// A flow with its rates, as the Flows view shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowRow {
    pub bridge: String,
    pub sample: FlowSample,
    pub owner: CookieOwner,
    /// `net:<name>`, `ep:<name>`, `driver:<kind>` or `-`.
    pub owner_label: String,
    pub packets_per_second: f64,
    pub bytes_per_second: f64,
    /// The packet counter moved since the previous sample.
    pub moved: bool,
}

impl Filterable for FlowRow {
    fn any_field(&self, visit: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        let s = &self.sample;
        if visit("table", &s.table.to_string())
            || visit("priority", &s.priority.to_string())
            || visit("cookie", &format!("{:#x}", s.cookie))
            || visit("owner", &self.owner_label)
            || visit("owner_kind", self.owner.kind())
            || visit("bridge", &self.bridge)
            || visit("actions", &s.actions_text)
            || visit("match", &s.match_text)
        {
            return true;
        }
        if let Some(id) = self.owner.id_prefix() {
            let key = match self.owner {
                CookieOwner::Network(_) => "network",
                _ => "endpoint",
            };
            if visit(key, &id) {
                return true;
            }
        }
        match_fields(&s.match_text).any(|(field, value)| visit(field, value))
    }
}
