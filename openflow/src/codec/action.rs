//! Actions (OpenFlow 1.3 plus Nicira `resubmit`, `load` and `move`) and instructions.

use std::fmt;

use super::ofctl_format::c_hex;
use super::oxm::{Field, Oxm};
use super::wire::{pad8, patch_u16, Reader};
use super::{DecodeError, EncodeError};

/// Reserved OpenFlow port numbers (`OFPP_*`).
pub mod port {
    /// Highest number of a physical port.
    pub const MAX: u32 = 0xffff_ff00;
    pub const IN_PORT: u32 = 0xffff_fff8;
    pub const TABLE: u32 = 0xffff_fff9;
    pub const NORMAL: u32 = 0xffff_fffa;
    pub const FLOOD: u32 = 0xffff_fffb;
    pub const ALL: u32 = 0xffff_fffc;
    pub const CONTROLLER: u32 = 0xffff_fffd;
    pub const LOCAL: u32 = 0xffff_fffe;
    /// Wildcard port in filters (`out_port`).
    pub const ANY: u32 = 0xffff_ffff;

    /// The ovs-ofctl name of a reserved port, or the number.
    pub fn name(port: u32) -> String {
        match port {
            IN_PORT => "IN_PORT".into(),
            TABLE => "TABLE".into(),
            NORMAL => "NORMAL".into(),
            FLOOD => "FLOOD".into(),
            ALL => "ALL".into(),
            CONTROLLER => "CONTROLLER".into(),
            LOCAL => "LOCAL".into(),
            ANY => "ANY".into(),
            // OVS shows the rest of the reserved range in OpenFlow 1.0 numbering.
            n if n >= 0xffff_ff00 => (n - 0xffff_0000).to_string(),
            n => n.to_string(),
        }
    }
}

/// Wildcard group in filters (`OFPG_ANY`).
pub const GROUP_ANY: u32 = 0xffff_ffff;
/// `OFPCML_NO_BUFFER`: send the whole packet to the controller.
pub const CONTROLLER_MAX_LEN_NO_BUFFER: u16 = 0xffff;
/// Nicira vendor id for experimenter actions.
pub const NX_VENDOR_ID: u32 = 0x0000_2320;

/// NXM header of the 16-bit `NXM_OF_IN_PORT` field.
const NXM_OF_IN_PORT_HEADER: u32 = 0x0000_0002;

const NXAST_RESUBMIT: u16 = 1;
const NXAST_REG_MOVE: u16 = 6;
const NXAST_REG_LOAD: u16 = 7;
const NXAST_RESUBMIT_TABLE: u16 = 14;

/// Converts an OpenFlow 1.1+ port number to the 16-bit OpenFlow 1.0 numbering used by
/// Nicira `resubmit`.
fn port_to_ofp10(port: u32) -> u16 {
    if port >= port::MAX {
        (port - 0xffff_0000) as u16
    } else {
        port as u16
    }
}

fn port_from_ofp10(port: u16) -> u32 {
    if port >= 0xff00 {
        u32::from(port) + 0xffff_0000
    } else {
        u32::from(port)
    }
}

/// A bit range of a field, as used by Nicira `load` and `move` (`NXM_NX_REG0[0..15]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldRange {
    pub field: Field,
    pub offset: u16,
    pub n_bits: u16,
}

impl FieldRange {
    /// The whole field.
    pub fn whole(field: Field) -> Self {
        FieldRange {
            field,
            offset: 0,
            n_bits: field.bits(),
        }
    }

    /// Bits `start..=end` (inclusive, like ovs-ofctl's `[start..end]`).
    pub fn bits(field: Field, start: u16, end: u16) -> Self {
        FieldRange {
            field,
            offset: start,
            n_bits: end.saturating_sub(start) + 1,
        }
    }
}

impl fmt::Display for FieldRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offset == 0 && self.n_bits == self.field.bits() {
            write!(f, "{}[]", self.field.nxm_name())
        } else if self.n_bits <= 1 {
            write!(f, "{}[{}]", self.field.nxm_name(), self.offset)
        } else {
            // In u32: a range decoded from the wire may run past 16 bits.
            let last = u32::from(self.offset) + u32::from(self.n_bits) - 1;
            write!(f, "{}[{}..{last}]", self.field.nxm_name(), self.offset)
        }
    }
}

/// An action in an apply/write-actions instruction or a packet-out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Output to a port (physical or reserved, see [`port`]); `max_len` matters for CONTROLLER.
    Output {
        port: u32,
        max_len: u16,
    },
    /// Apply a group.
    Group(u32),
    /// Push an 802.1Q header with the given ethertype (0x8100 or 0x88a8).
    PushVlan(u16),
    PopVlan,
    /// Decrement the IP TTL (`dec_ttl`).
    DecNwTtl,
    SetQueue(u32),
    /// Set a header field (`set_field:value->field`); masks are not allowed in OpenFlow 1.3.
    /// The flow's match must contain the field's prerequisites (see
    /// [`Match::prerequisites_for`](super::oxm::Match::prerequisites_for)); `eth_type` and
    /// `ip_proto` are read-only in OVS, and `vlan_vid` values need `VLAN_PRESENT`.
    SetField(Oxm),
    /// Nicira `resubmit([port],[table])`; `port: None` means `IN_PORT`, `table: None` the
    /// current table.
    Resubmit {
        port: Option<u32>,
        table: Option<u8>,
    },
    /// Nicira `load:value->dst` (`NXAST_REG_LOAD`).
    RegLoad {
        dst: FieldRange,
        value: u64,
    },
    /// Nicira `move:src->dst` (`NXAST_REG_MOVE`); both ranges have `src.n_bits` bits.
    RegMove {
        src: FieldRange,
        dst: FieldRange,
    },
    /// An experimenter action this crate does not model (body after the 8-byte header).
    Experimenter {
        experimenter: u32,
        data: Vec<u8>,
    },
    /// A standard action this crate does not model (body after the 4-byte header).
    Other {
        action_type: u16,
        data: Vec<u8>,
    },
}

impl Action {
    /// Output to a port with no length limit.
    pub fn output(port: u32) -> Action {
        Action::Output { port, max_len: 0 }
    }

    /// Send the whole packet to the controller.
    pub fn controller() -> Action {
        Action::Output {
            port: port::CONTROLLER,
            max_len: CONTROLLER_MAX_LEN_NO_BUFFER,
        }
    }

    /// `resubmit(,table)`.
    pub fn resubmit_table(table: u8) -> Action {
        Action::Resubmit {
            port: None,
            table: Some(table),
        }
    }

    /// Loads `value` into the whole of register `reg{index}`.
    pub fn load_reg(index: u8, value: u32) -> Action {
        Action::RegLoad {
            dst: FieldRange::whole(Field::Reg(index)),
            value: u64::from(value),
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let put16 = |out: &mut Vec<u8>, v: u16| out.extend_from_slice(&v.to_be_bytes());
        let put32 = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_be_bytes());
        let nx_header = |out: &mut Vec<u8>, subtype: u16| {
            out.extend_from_slice(&0xffffu16.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&NX_VENDOR_ID.to_be_bytes());
            out.extend_from_slice(&subtype.to_be_bytes());
        };
        match self {
            Action::Output { port, max_len } => {
                put16(out, 0);
                put16(out, 16);
                put32(out, *port);
                put16(out, *max_len);
                out.extend_from_slice(&[0; 6]);
            }
            Action::Group(group) => {
                put16(out, 22);
                put16(out, 8);
                put32(out, *group);
            }
            Action::PushVlan(ethertype) => {
                put16(out, 17);
                put16(out, 8);
                put16(out, *ethertype);
                put16(out, 0);
            }
            Action::PopVlan => {
                put16(out, 18);
                put16(out, 8);
                put32(out, 0);
            }
            Action::DecNwTtl => {
                put16(out, 24);
                put16(out, 8);
                put32(out, 0);
            }
            Action::SetQueue(queue) => {
                put16(out, 21);
                put16(out, 8);
                put32(out, *queue);
            }
            Action::SetField(oxm) if oxm.field == Field::InPort && oxm.mask.is_none() => {
                // OpenFlow forbids set_field on OXM_OF_IN_PORT; OVS uses NXM_OF_IN_PORT.
                put16(out, 25);
                put16(out, 0);
                put32(out, NXM_OF_IN_PORT_HEADER);
                put16(out, port_to_ofp10(oxm.value_u64() as u32));
            }
            Action::SetField(oxm) => {
                put16(out, 25);
                put16(out, 0);
                oxm.encode(out)?;
            }
            Action::Resubmit { port, table } => {
                let subtype = if table.is_some() {
                    NXAST_RESUBMIT_TABLE
                } else {
                    NXAST_RESUBMIT
                };
                nx_header(out, subtype);
                put16(out, port_to_ofp10(port.unwrap_or(port::IN_PORT)));
                out.push(table.unwrap_or(0xff));
                out.extend_from_slice(&[0; 3]);
            }
            Action::RegLoad { dst, value } => {
                if dst.n_bits == 0 || dst.n_bits > 64 {
                    return Err(EncodeError::BadField(dst.field.name()));
                }
                nx_header(out, NXAST_REG_LOAD);
                put16(out, (dst.offset << 6) | (dst.n_bits - 1));
                put32(out, dst.field.oxm_header(false));
                out.extend_from_slice(&value.to_be_bytes());
            }
            Action::RegMove { src, dst } => {
                nx_header(out, NXAST_REG_MOVE);
                put16(out, src.n_bits);
                put16(out, src.offset);
                put16(out, dst.offset);
                put32(out, src.field.oxm_header(false));
                put32(out, dst.field.oxm_header(false));
            }
            Action::Experimenter { experimenter, data } => {
                put16(out, 0xffff);
                put16(out, 0);
                put32(out, *experimenter);
                out.extend_from_slice(data);
            }
            Action::Other { action_type, data } => {
                put16(out, *action_type);
                put16(out, 0);
                out.extend_from_slice(data);
            }
        }
        let len = out.len() - start;
        out.resize(start + pad8(len), 0);
        patch_u16(out, start + 2, pad8(len))
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Action, DecodeError> {
        let action_type = r.peek_u16()?;
        let len = usize::from(r.peek_u16_at(2)?);
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::Malformed("action length"));
        }
        let mut a = r.sub(len)?;
        a.skip(4)?;
        let action = match action_type {
            0 => {
                let port = a.u32()?;
                let max_len = a.u16()?;
                Action::Output { port, max_len }
            }
            22 => Action::Group(a.u32()?),
            17 => Action::PushVlan(a.u16()?),
            18 => Action::PopVlan,
            24 => Action::DecNwTtl,
            21 => Action::SetQueue(a.u32()?),
            25 => {
                let oxm = Oxm::decode(&mut a)?;
                if oxm.field == (Field::Other { class: 0, field: 0 }) && oxm.value.len() == 2 {
                    let port = port_from_ofp10(u16::from_be_bytes([oxm.value[0], oxm.value[1]]));
                    Action::SetField(Oxm::int(Field::InPort, u64::from(port)))
                } else {
                    Action::SetField(oxm)
                }
            }
            0xffff => {
                let experimenter = a.u32()?;
                if experimenter == NX_VENDOR_ID {
                    decode_nicira(a.clone())?.unwrap_or(Action::Experimenter {
                        experimenter,
                        data: a.rest().to_vec(),
                    })
                } else {
                    Action::Experimenter {
                        experimenter,
                        data: a.rest().to_vec(),
                    }
                }
            }
            _ => Action::Other {
                action_type,
                data: a.rest().to_vec(),
            },
        };
        Ok(action)
    }
}

fn decode_nicira(mut a: Reader<'_>) -> Result<Option<Action>, DecodeError> {
    let subtype = a.u16()?;
    Ok(Some(match subtype {
        NXAST_RESUBMIT | NXAST_RESUBMIT_TABLE => {
            let port = port_from_ofp10(a.u16()?);
            let table = a.u8()?;
            Action::Resubmit {
                port: (port != port::IN_PORT).then_some(port),
                table: (subtype == NXAST_RESUBMIT_TABLE && table != 0xff).then_some(table),
            }
        }
        NXAST_REG_LOAD => {
            let ofs_nbits = a.u16()?;
            let field = Field::from_oxm_header(a.u32()?);
            let value = a.u64()?;
            let dst = FieldRange {
                field,
                offset: ofs_nbits >> 6,
                n_bits: (ofs_nbits & 0x3f) + 1,
            };
            Action::RegLoad { dst, value }
        }
        NXAST_REG_MOVE => {
            let n_bits = a.u16()?;
            let src_ofs = a.u16()?;
            let dst_ofs = a.u16()?;
            let src = Field::from_oxm_header(a.u32()?);
            let dst = Field::from_oxm_header(a.u32()?);
            Action::RegMove {
                src: FieldRange {
                    field: src,
                    offset: src_ofs,
                    n_bits,
                },
                dst: FieldRange {
                    field: dst,
                    offset: dst_ofs,
                    n_bits,
                },
            }
        }
        _ => return Ok(None),
    }))
}

pub(crate) fn encode_actions(actions: &[Action], out: &mut Vec<u8>) -> Result<(), EncodeError> {
    actions.iter().try_for_each(|a| a.encode(out))
}

pub(crate) fn decode_actions(mut r: Reader<'_>) -> Result<Vec<Action>, DecodeError> {
    let mut actions = Vec::new();
    while !r.is_empty() {
        actions.push(Action::decode(&mut r)?);
    }
    Ok(actions)
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Output {
                port: port::CONTROLLER,
                max_len,
            } => {
                write!(f, "CONTROLLER:{max_len}")
            }
            Action::Output { port, .. } if *port >= port::MAX => f.write_str(&port::name(*port)),
            Action::Output { port, .. } => write!(f, "output:{port}"),
            Action::Group(g) => write!(f, "group:{g}"),
            Action::PushVlan(t) => write!(f, "push_vlan:{t:#06x}"),
            Action::PopVlan => f.write_str("pop_vlan"),
            Action::DecNwTtl => f.write_str("dec_ttl"),
            Action::SetQueue(q) => write!(f, "set_queue:{q}"),
            Action::SetField(oxm) => write!(
                f,
                "set_field:{}->{}",
                oxm.set_field_value(),
                oxm.field.set_field_name()
            ),
            Action::Resubmit { port, table } => {
                let port = port.map(port::name).unwrap_or_default();
                match table {
                    Some(t) => write!(f, "resubmit({port},{t})"),
                    None if port.is_empty() => f.write_str("resubmit(,)"),
                    None => write!(f, "resubmit:{port}"),
                }
            }
            Action::RegLoad { dst, value } => write!(f, "load:{}->{dst}", c_hex(*value)),
            Action::RegMove { src, dst } => write!(f, "move:{src}->{dst}"),
            Action::Experimenter { experimenter, data } => {
                match (*experimenter == NX_VENDOR_ID)
                    .then(|| super::ofctl_format::nicira_action(data))
                    .flatten()
                {
                    Some(text) => f.write_str(&text),
                    None => write!(f, "experimenter({experimenter:#x},{} bytes)", data.len()),
                }
            }
            Action::Other { action_type, data } => {
                write!(f, "action({action_type},{} bytes)", data.len())
            }
        }
    }
}

/// Formats an action list like ovs-ofctl (`drop` when empty).
pub fn format_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "drop".into();
    }
    actions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A flow instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Instruction {
    GotoTable(u8),
    WriteMetadata {
        metadata: u64,
        mask: u64,
    },
    WriteActions(Vec<Action>),
    ApplyActions(Vec<Action>),
    ClearActions,
    Meter(u32),
    /// An instruction this crate does not model (body after the 4-byte header).
    Other {
        instruction_type: u16,
        data: Vec<u8>,
    },
}

impl Instruction {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        let header = |out: &mut Vec<u8>, t: u16| {
            out.extend_from_slice(&t.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        };
        match self {
            Instruction::GotoTable(t) => {
                header(out, 1);
                out.extend_from_slice(&[*t, 0, 0, 0]);
            }
            Instruction::WriteMetadata { metadata, mask } => {
                header(out, 2);
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(&metadata.to_be_bytes());
                out.extend_from_slice(&mask.to_be_bytes());
            }
            Instruction::WriteActions(actions) | Instruction::ApplyActions(actions) => {
                header(
                    out,
                    if matches!(self, Instruction::WriteActions(_)) {
                        3
                    } else {
                        4
                    },
                );
                out.extend_from_slice(&[0; 4]);
                encode_actions(actions, out)?;
            }
            Instruction::ClearActions => {
                header(out, 5);
                out.extend_from_slice(&[0; 4]);
            }
            Instruction::Meter(m) => {
                header(out, 6);
                out.extend_from_slice(&m.to_be_bytes());
            }
            Instruction::Other {
                instruction_type,
                data,
            } => {
                header(out, *instruction_type);
                out.extend_from_slice(data);
            }
        }
        let len = out.len() - start;
        out.resize(start + pad8(len), 0);
        patch_u16(out, start + 2, pad8(len))
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Instruction, DecodeError> {
        let instruction_type = r.peek_u16()?;
        let len = usize::from(r.peek_u16_at(2)?);
        if len < 8 || len % 8 != 0 {
            return Err(DecodeError::Malformed("instruction length"));
        }
        let mut i = r.sub(len)?;
        i.skip(4)?;
        Ok(match instruction_type {
            1 => Instruction::GotoTable(i.u8()?),
            2 => {
                i.skip(4)?;
                Instruction::WriteMetadata {
                    metadata: i.u64()?,
                    mask: i.u64()?,
                }
            }
            3 | 4 => {
                i.skip(4)?;
                let actions = decode_actions(i)?;
                if instruction_type == 3 {
                    Instruction::WriteActions(actions)
                } else {
                    Instruction::ApplyActions(actions)
                }
            }
            5 => Instruction::ClearActions,
            6 => Instruction::Meter(i.u32()?),
            _ => Instruction::Other {
                instruction_type,
                data: i.rest().to_vec(),
            },
        })
    }
}

pub(crate) fn encode_instructions(
    instructions: &[Instruction],
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    instructions.iter().try_for_each(|i| i.encode(out))
}

pub(crate) fn decode_instructions(mut r: Reader<'_>) -> Result<Vec<Instruction>, DecodeError> {
    let mut out = Vec::new();
    while !r.is_empty() {
        out.push(Instruction::decode(&mut r)?);
    }
    Ok(out)
}

impl fmt::Display for Instruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Instruction::GotoTable(t) => write!(f, "goto_table:{t}"),
            Instruction::WriteMetadata { metadata, mask } if *mask == u64::MAX => {
                write!(f, "write_metadata:{}", c_hex(*metadata))
            }
            Instruction::WriteMetadata { metadata, mask } => {
                write!(f, "write_metadata:{}/{}", c_hex(*metadata), c_hex(*mask))
            }
            Instruction::WriteActions(a) => write!(f, "write_actions({})", format_actions(a)),
            Instruction::ApplyActions(a) => f.write_str(&format_actions(a)),
            Instruction::ClearActions => f.write_str("clear_actions"),
            Instruction::Meter(m) => write!(f, "meter:{m}"),
            Instruction::Other {
                instruction_type, ..
            } => {
                write!(f, "instruction({instruction_type})")
            }
        }
    }
}

/// Formats instructions like ovs-ofctl's `actions=` value.
pub fn format_instructions(instructions: &[Instruction]) -> String {
    let parts: Vec<String> = instructions
        .iter()
        .filter(|i| !matches!(i, Instruction::ApplyActions(a) if a.is_empty()))
        .map(ToString::to_string)
        .collect();
    if parts.is_empty() {
        "drop".into()
    } else {
        parts.join(",")
    }
}
