//! Flow table messages: `flow_mod`, `flow_removed`, and flow/aggregate statistics.

use std::fmt;
use std::ops::BitOr;

use super::action::{
    decode_instructions, encode_instructions, format_instructions, port, Action, Instruction,
    GROUP_ANY,
};
use super::oxm::Match;
use super::wire::{patch_u16, Reader};
use super::{DecodeError, EncodeError, Version};

/// `OFP_NO_BUFFER`.
pub const NO_BUFFER: u32 = 0xffff_ffff;
/// `OFPTT_ALL`: every table (in filters and deletes).
pub const TABLE_ALL: u8 = 0xff;

/// `flow_mod` command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowModCommand {
    Add,
    Modify,
    ModifyStrict,
    Delete,
    DeleteStrict,
}

impl FlowModCommand {
    fn to_wire(self) -> u8 {
        match self {
            FlowModCommand::Add => 0,
            FlowModCommand::Modify => 1,
            FlowModCommand::ModifyStrict => 2,
            FlowModCommand::Delete => 3,
            FlowModCommand::DeleteStrict => 4,
        }
    }

    fn from_wire(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => FlowModCommand::Add,
            1 => FlowModCommand::Modify,
            2 => FlowModCommand::ModifyStrict,
            3 => FlowModCommand::Delete,
            4 => FlowModCommand::DeleteStrict,
            _ => return Err(DecodeError::Malformed("flow_mod command")),
        })
    }

    /// Name as ovs-ofctl prints it.
    pub fn name(self) -> &'static str {
        match self {
            FlowModCommand::Add => "ADD",
            FlowModCommand::Modify => "MOD",
            FlowModCommand::ModifyStrict => "MOD_STRICT",
            FlowModCommand::Delete => "DEL",
            FlowModCommand::DeleteStrict => "DEL_STRICT",
        }
    }
}

/// `OFPFF_*` flow flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowModFlags(pub u16);

impl FlowModFlags {
    pub const SEND_FLOW_REM: FlowModFlags = FlowModFlags(1);
    pub const CHECK_OVERLAP: FlowModFlags = FlowModFlags(2);
    pub const RESET_COUNTS: FlowModFlags = FlowModFlags(4);
    pub const NO_PKT_COUNTS: FlowModFlags = FlowModFlags(8);
    pub const NO_BYT_COUNTS: FlowModFlags = FlowModFlags(16);

    pub fn contains(self, other: FlowModFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for FlowModFlags {
    type Output = FlowModFlags;
    fn bitor(self, rhs: Self) -> Self {
        FlowModFlags(self.0 | rhs.0)
    }
}

/// An `OFPT_FLOW_MOD`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowMod {
    pub cookie: u64,
    /// For modify/delete: only flows whose cookie matches `cookie` under this mask.
    pub cookie_mask: u64,
    pub table_id: u8,
    pub command: FlowModCommand,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub priority: u16,
    pub buffer_id: u32,
    /// For delete: only flows that output to this port (`port::ANY` for all).
    pub out_port: u32,
    /// For delete: only flows that use this group (`GROUP_ANY` for all).
    pub out_group: u32,
    pub flags: FlowModFlags,
    /// OpenFlow 1.4 eviction importance (ignored when encoding for 1.3).
    pub importance: u16,
    pub flow_match: Match,
    pub instructions: Vec<Instruction>,
}

impl FlowMod {
    /// A flow_mod with the given command and defaults (priority 0x8000 like OpenFlow).
    pub fn new(command: FlowModCommand, table_id: u8, priority: u16, flow_match: Match) -> Self {
        FlowMod {
            cookie: 0,
            cookie_mask: 0,
            table_id,
            command,
            idle_timeout: 0,
            hard_timeout: 0,
            priority,
            buffer_id: NO_BUFFER,
            out_port: port::ANY,
            out_group: GROUP_ANY,
            flags: FlowModFlags::default(),
            importance: 0,
            flow_match,
            instructions: Vec::new(),
        }
    }

    /// `add-flow`.
    pub fn add(table_id: u8, priority: u16, flow_match: Match) -> Self {
        Self::new(FlowModCommand::Add, table_id, priority, flow_match)
    }

    /// `mod-flows` (non-strict: every flow the match covers, any priority).
    pub fn modify(table_id: u8, flow_match: Match) -> Self {
        Self::new(FlowModCommand::Modify, table_id, 0, flow_match)
    }

    /// `mod-flows --strict`.
    pub fn modify_strict(table_id: u8, priority: u16, flow_match: Match) -> Self {
        Self::new(FlowModCommand::ModifyStrict, table_id, priority, flow_match)
    }

    /// `del-flows` (non-strict; `TABLE_ALL` for every table).
    pub fn delete(table_id: u8, flow_match: Match) -> Self {
        Self::new(FlowModCommand::Delete, table_id, 0, flow_match)
    }

    /// `del-flows --strict`.
    pub fn delete_strict(table_id: u8, priority: u16, flow_match: Match) -> Self {
        Self::new(FlowModCommand::DeleteStrict, table_id, priority, flow_match)
    }

    pub fn cookie(mut self, cookie: u64) -> Self {
        self.cookie = cookie;
        self
    }

    /// Restricts a modify/delete to flows with `(flow.cookie & mask) == (cookie & mask)`.
    pub fn cookie_masked(mut self, cookie: u64, mask: u64) -> Self {
        self.cookie = cookie;
        self.cookie_mask = mask;
        self
    }

    pub fn idle_timeout(mut self, seconds: u16) -> Self {
        self.idle_timeout = seconds;
        self
    }

    pub fn hard_timeout(mut self, seconds: u16) -> Self {
        self.hard_timeout = seconds;
        self
    }

    pub fn flags(mut self, flags: FlowModFlags) -> Self {
        self.flags = flags;
        self
    }

    pub fn out_port(mut self, port: u32) -> Self {
        self.out_port = port;
        self
    }

    pub fn out_group(mut self, group: u32) -> Self {
        self.out_group = group;
        self
    }

    pub fn buffer_id(mut self, buffer_id: u32) -> Self {
        self.buffer_id = buffer_id;
        self
    }

    /// Appends an apply-actions instruction.
    pub fn apply(mut self, actions: Vec<Action>) -> Self {
        self.instructions.push(Instruction::ApplyActions(actions));
        self
    }

    /// Appends any instruction.
    pub fn instruction(mut self, instruction: Instruction) -> Self {
        self.instructions.push(instruction);
        self
    }

    pub(crate) fn encode(&self, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.cookie.to_be_bytes());
        out.extend_from_slice(&self.cookie_mask.to_be_bytes());
        out.push(self.table_id);
        out.push(self.command.to_wire());
        out.extend_from_slice(&self.idle_timeout.to_be_bytes());
        out.extend_from_slice(&self.hard_timeout.to_be_bytes());
        out.extend_from_slice(&self.priority.to_be_bytes());
        out.extend_from_slice(&self.buffer_id.to_be_bytes());
        out.extend_from_slice(&self.out_port.to_be_bytes());
        out.extend_from_slice(&self.out_group.to_be_bytes());
        out.extend_from_slice(&self.flags.0.to_be_bytes());
        let importance = if version >= Version::V1_4 {
            self.importance
        } else {
            0
        };
        out.extend_from_slice(&importance.to_be_bytes());
        self.flow_match.encode(out)?;
        encode_instructions(&self.instructions, out)
    }

    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let table_id = r.u8()?;
        let command = FlowModCommand::from_wire(r.u8()?)?;
        let idle_timeout = r.u16()?;
        let hard_timeout = r.u16()?;
        let priority = r.u16()?;
        let buffer_id = r.u32()?;
        let out_port = r.u32()?;
        let out_group = r.u32()?;
        let flags = FlowModFlags(r.u16()?);
        let importance = r.u16()?;
        let flow_match = Match::decode(r)?;
        let instructions = decode_instructions(r.clone())?;
        Ok(FlowMod {
            cookie,
            cookie_mask,
            table_id,
            command,
            idle_timeout,
            hard_timeout,
            priority,
            buffer_id,
            out_port,
            out_group,
            flags,
            importance: if version >= Version::V1_4 {
                importance
            } else {
                0
            },
            flow_match,
            instructions,
        })
    }
}

fn write_flow(
    f: &mut fmt::Formatter<'_>,
    table_id: u8,
    priority: u16,
    flow_match: &Match,
    instructions: &[Instruction],
) -> fmt::Result {
    if table_id != 0 {
        write!(f, "table={table_id},")?;
    }
    write!(f, "priority={priority}")?;
    if !flow_match.is_empty() {
        write!(f, ",{flow_match}")?;
    }
    write!(f, " actions={}", format_instructions(instructions))
}

impl fmt::Display for FlowMod {
    /// ovs-ofctl-like text, e.g. `ADD table=1,priority=100,in_port=3 actions=output:2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.command.name())?;
        if self.cookie != 0 || self.cookie_mask != 0 {
            write!(f, "cookie={:#x}", self.cookie)?;
            if self.cookie_mask != 0 {
                write!(f, "/{:#x}", self.cookie_mask)?;
            }
            f.write_str(",")?;
        }
        if self.idle_timeout != 0 {
            write!(f, "idle_timeout={},", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(f, "hard_timeout={},", self.hard_timeout)?;
        }
        write_flow(
            f,
            self.table_id,
            self.priority,
            &self.flow_match,
            &self.instructions,
        )
    }
}

/// Filter for flow and aggregate statistics requests (`ofp_flow_stats_request`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowFilter {
    pub table_id: u8,
    pub out_port: u32,
    pub out_group: u32,
    pub cookie: u64,
    pub cookie_mask: u64,
    pub flow_match: Match,
}

impl Default for FlowFilter {
    /// Every flow in every table.
    fn default() -> Self {
        FlowFilter {
            table_id: TABLE_ALL,
            out_port: port::ANY,
            out_group: GROUP_ANY,
            cookie: 0,
            cookie_mask: 0,
            flow_match: Match::default(),
        }
    }
}

impl FlowFilter {
    /// Every flow in every table.
    pub fn all() -> Self {
        Self::default()
    }

    pub fn table(mut self, table_id: u8) -> Self {
        self.table_id = table_id;
        self
    }

    pub fn cookie(mut self, cookie: u64, mask: u64) -> Self {
        self.cookie = cookie;
        self.cookie_mask = mask;
        self
    }

    pub fn out_port(mut self, port: u32) -> Self {
        self.out_port = port;
        self
    }

    pub fn out_group(mut self, group: u32) -> Self {
        self.out_group = group;
        self
    }

    pub fn flow_match(mut self, flow_match: Match) -> Self {
        self.flow_match = flow_match;
        self
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(self.table_id);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&self.out_port.to_be_bytes());
        out.extend_from_slice(&self.out_group.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.cookie.to_be_bytes());
        out.extend_from_slice(&self.cookie_mask.to_be_bytes());
        self.flow_match.encode(out)
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = r.u8()?;
        r.skip(3)?;
        let out_port = r.u32()?;
        let out_group = r.u32()?;
        r.skip(4)?;
        let cookie = r.u64()?;
        let cookie_mask = r.u64()?;
        let flow_match = Match::decode(r)?;
        Ok(FlowFilter {
            table_id,
            out_port,
            out_group,
            cookie,
            cookie_mask,
            flow_match,
        })
    }
}

/// One entry of a flow statistics reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowStats {
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub priority: u16,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub flags: FlowModFlags,
    /// OpenFlow 1.4 only.
    pub importance: u16,
    pub cookie: u64,
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_match: Match,
    pub instructions: Vec<Instruction>,
}

impl FlowStats {
    pub(crate) fn encode(&self, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&[0, 0]);
        out.push(self.table_id);
        out.push(0);
        out.extend_from_slice(&self.duration_sec.to_be_bytes());
        out.extend_from_slice(&self.duration_nsec.to_be_bytes());
        out.extend_from_slice(&self.priority.to_be_bytes());
        out.extend_from_slice(&self.idle_timeout.to_be_bytes());
        out.extend_from_slice(&self.hard_timeout.to_be_bytes());
        out.extend_from_slice(&self.flags.0.to_be_bytes());
        let importance = if version >= Version::V1_4 {
            self.importance
        } else {
            0
        };
        out.extend_from_slice(&importance.to_be_bytes());
        out.extend_from_slice(&[0; 2]);
        out.extend_from_slice(&self.cookie.to_be_bytes());
        out.extend_from_slice(&self.packet_count.to_be_bytes());
        out.extend_from_slice(&self.byte_count.to_be_bytes());
        self.flow_match.encode(out)?;
        encode_instructions(&self.instructions, out)?;
        let len = out.len() - start;
        patch_u16(out, start, len)
    }

    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let len = usize::from(r.peek_u16()?);
        if len < 56 {
            return Err(DecodeError::Malformed("flow stats length"));
        }
        let mut e = r.sub(len)?;
        e.skip(2)?;
        let table_id = e.u8()?;
        e.skip(1)?;
        let duration_sec = e.u32()?;
        let duration_nsec = e.u32()?;
        let priority = e.u16()?;
        let idle_timeout = e.u16()?;
        let hard_timeout = e.u16()?;
        let flags = FlowModFlags(e.u16()?);
        let importance = e.u16()?;
        e.skip(2)?;
        let cookie = e.u64()?;
        let packet_count = e.u64()?;
        let byte_count = e.u64()?;
        let flow_match = Match::decode(&mut e)?;
        let instructions = decode_instructions(e)?;
        Ok(FlowStats {
            table_id,
            duration_sec,
            duration_nsec,
            priority,
            idle_timeout,
            hard_timeout,
            flags,
            importance: if version >= Version::V1_4 {
                importance
            } else {
                0
            },
            cookie,
            packet_count,
            byte_count,
            flow_match,
            instructions,
        })
    }
}

impl fmt::Display for FlowStats {
    /// Like a line of `ovs-ofctl dump-flows`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cookie={:#x}, duration={}.{:03}s, table={}, n_packets={}, n_bytes={}, ",
            self.cookie,
            self.duration_sec,
            self.duration_nsec / 1_000_000,
            self.table_id,
            self.packet_count,
            self.byte_count
        )?;
        if self.idle_timeout != 0 {
            write!(f, "idle_timeout={}, ", self.idle_timeout)?;
        }
        if self.hard_timeout != 0 {
            write!(f, "hard_timeout={}, ", self.hard_timeout)?;
        }
        write_flow(f, 0, self.priority, &self.flow_match, &self.instructions)
    }
}

/// Aggregate statistics reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AggregateStats {
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_count: u32,
}

impl AggregateStats {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.packet_count.to_be_bytes());
        out.extend_from_slice(&self.byte_count.to_be_bytes());
        out.extend_from_slice(&self.flow_count.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let packet_count = r.u64()?;
        let byte_count = r.u64()?;
        let flow_count = r.u32()?;
        r.skip(4)?;
        Ok(AggregateStats {
            packet_count,
            byte_count,
            flow_count,
        })
    }
}

/// Why a flow was removed (`OFPRR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowRemovedReason {
    IdleTimeout,
    HardTimeout,
    Delete,
    GroupDelete,
    MeterDelete,
    Eviction,
    Other(u8),
}

impl FlowRemovedReason {
    fn from_wire(v: u8) -> Self {
        match v {
            0 => Self::IdleTimeout,
            1 => Self::HardTimeout,
            2 => Self::Delete,
            3 => Self::GroupDelete,
            4 => Self::MeterDelete,
            5 => Self::Eviction,
            n => Self::Other(n),
        }
    }

    fn to_wire(self) -> u8 {
        match self {
            Self::IdleTimeout => 0,
            Self::HardTimeout => 1,
            Self::Delete => 2,
            Self::GroupDelete => 3,
            Self::MeterDelete => 4,
            Self::Eviction => 5,
            Self::Other(n) => n,
        }
    }
}

/// `OFPT_FLOW_REMOVED` (sent for flows with `SEND_FLOW_REM`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlowRemoved {
    pub cookie: u64,
    pub priority: u16,
    pub reason: FlowRemovedReason,
    pub table_id: u8,
    pub duration_sec: u32,
    pub duration_nsec: u32,
    pub idle_timeout: u16,
    pub hard_timeout: u16,
    pub packet_count: u64,
    pub byte_count: u64,
    pub flow_match: Match,
}

impl FlowRemoved {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.cookie.to_be_bytes());
        out.extend_from_slice(&self.priority.to_be_bytes());
        out.push(self.reason.to_wire());
        out.push(self.table_id);
        out.extend_from_slice(&self.duration_sec.to_be_bytes());
        out.extend_from_slice(&self.duration_nsec.to_be_bytes());
        out.extend_from_slice(&self.idle_timeout.to_be_bytes());
        out.extend_from_slice(&self.hard_timeout.to_be_bytes());
        out.extend_from_slice(&self.packet_count.to_be_bytes());
        out.extend_from_slice(&self.byte_count.to_be_bytes());
        self.flow_match.encode(out)
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FlowRemoved {
            cookie: r.u64()?,
            priority: r.u16()?,
            reason: FlowRemovedReason::from_wire(r.u8()?),
            table_id: r.u8()?,
            duration_sec: r.u32()?,
            duration_nsec: r.u32()?,
            idle_timeout: r.u16()?,
            hard_timeout: r.u16()?,
            packet_count: r.u64()?,
            byte_count: r.u64()?,
            flow_match: Match::decode(r)?,
        })
    }
}
