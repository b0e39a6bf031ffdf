//! Port descriptions, port status, port/table statistics and the switch description.
//!
//! OpenFlow 1.4 moved the Ethernet-specific parts of `ofp_port` and `ofp_port_stats` into
//! properties; both layouts decode into the same structs here.

use super::oxm::MacAddr;
use super::wire::{fixed_str, pad8, patch_u16, put_fixed_str, Reader};
use super::{DecodeError, EncodeError, Version};

/// `OFPPC_PORT_DOWN` in [`Port::config`].
pub const PORT_CONFIG_DOWN: u32 = 1;
/// `OFPPS_LINK_DOWN` in [`Port::state`].
pub const PORT_STATE_LINK_DOWN: u32 = 1;

/// A port description (`ofp_port`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Port {
    pub port_no: u32,
    pub hw_addr: MacAddr,
    pub name: String,
    pub config: u32,
    pub state: u32,
    pub curr: u32,
    pub advertised: u32,
    pub supported: u32,
    pub peer: u32,
    pub curr_speed: u32,
    pub max_speed: u32,
}

impl Port {
    pub(crate) fn encode(&self, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        out.extend_from_slice(&self.port_no.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.hw_addr.0);
        out.extend_from_slice(&[0; 2]);
        put_fixed_str(out, &self.name, 16);
        out.extend_from_slice(&self.config.to_be_bytes());
        out.extend_from_slice(&self.state.to_be_bytes());
        if version >= Version::V1_4 {
            out.extend_from_slice(&0u16.to_be_bytes());
            out.extend_from_slice(&32u16.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
        }
        for v in [
            self.curr,
            self.advertised,
            self.supported,
            self.peer,
            self.curr_speed,
            self.max_speed,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        if version >= Version::V1_4 {
            let len = out.len() - start;
            patch_u16(out, start + 4, len)?;
        }
        Ok(())
    }

    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut p = if version >= Version::V1_4 {
            let len = usize::from(r.peek_u16_at(4)?);
            if len < 40 {
                return Err(DecodeError::Malformed("port length"));
            }
            r.sub(len)?
        } else {
            r.sub(64)?
        };
        let mut port = Port {
            port_no: p.u32()?,
            ..Port::default()
        };
        p.skip(4)?;
        port.hw_addr = MacAddr(p.array()?);
        p.skip(2)?;
        port.name = fixed_str(p.bytes(16)?);
        port.config = p.u32()?;
        port.state = p.u32()?;
        let mut ethernet = if version >= Version::V1_4 {
            match find_property(p, 0)? {
                Some(mut prop) => {
                    prop.skip(4)?;
                    Some(prop)
                }
                None => None,
            }
        } else {
            Some(p)
        };
        if let Some(e) = ethernet.as_mut() {
            port.curr = e.u32()?;
            port.advertised = e.u32()?;
            port.supported = e.u32()?;
            port.peer = e.u32()?;
            port.curr_speed = e.u32()?;
            port.max_speed = e.u32()?;
        }
        Ok(port)
    }

    /// Whether the port is administratively down.
    pub fn is_down(&self) -> bool {
        self.config & PORT_CONFIG_DOWN != 0
    }

    /// Whether the link is down.
    pub fn link_down(&self) -> bool {
        self.state & PORT_STATE_LINK_DOWN != 0
    }
}

/// Finds the body (after type and length) of the first property of `prop_type`.
fn find_property(mut r: Reader<'_>, prop_type: u16) -> Result<Option<Reader<'_>>, DecodeError> {
    while r.remaining() >= 4 {
        let t = r.peek_u16()?;
        let len = usize::from(r.peek_u16_at(2)?);
        if len < 4 {
            return Err(DecodeError::Malformed("property length"));
        }
        let mut prop = r.sub(len)?;
        r.skip((pad8(len) - len).min(r.remaining()))?;
        if t == prop_type {
            prop.skip(4)?;
            return Ok(Some(prop));
        }
    }
    Ok(None)
}

/// Why a port status message was sent (`OFPPR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PortReason {
    Add,
    Delete,
    Modify,
    Other(u8),
}

/// `OFPT_PORT_STATUS`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PortStatus {
    pub reason: PortReason,
    pub port: Port,
}

impl PortStatus {
    pub(crate) fn encode(&self, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.push(match self.reason {
            PortReason::Add => 0,
            PortReason::Delete => 1,
            PortReason::Modify => 2,
            PortReason::Other(n) => n,
        });
        out.extend_from_slice(&[0; 7]);
        self.port.encode(version, out)
    }

    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let reason = match r.u8()? {
            0 => PortReason::Add,
            1 => PortReason::Delete,
            2 => PortReason::Modify,
            n => PortReason::Other(n),
        };
        r.skip(7)?;
        Ok(PortStatus {
            reason,
            port: Port::decode(version, r)?,
        })
    }
}

/// Per-port counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PortStats {
    pub port_no: u32,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_frame_err: u64,
    pub rx_over_err: u64,
    pub rx_crc_err: u64,
    pub collisions: u64,
    pub duration_sec: u32,
    pub duration_nsec: u32,
}

impl PortStats {
    fn counters(&self) -> [u64; 8] {
        [
            self.rx_packets,
            self.tx_packets,
            self.rx_bytes,
            self.tx_bytes,
            self.rx_dropped,
            self.tx_dropped,
            self.rx_errors,
            self.tx_errors,
        ]
    }

    fn ethernet(&self) -> [u64; 4] {
        [
            self.rx_frame_err,
            self.rx_over_err,
            self.rx_crc_err,
            self.collisions,
        ]
    }

    pub(crate) fn encode(&self, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let start = out.len();
        if version >= Version::V1_4 {
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&self.port_no.to_be_bytes());
            out.extend_from_slice(&self.duration_sec.to_be_bytes());
            out.extend_from_slice(&self.duration_nsec.to_be_bytes());
            self.counters()
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
            out.extend_from_slice(&0u16.to_be_bytes());
            out.extend_from_slice(&40u16.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
            self.ethernet()
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
            let len = out.len() - start;
            patch_u16(out, start, len)?;
        } else {
            out.extend_from_slice(&self.port_no.to_be_bytes());
            out.extend_from_slice(&[0; 4]);
            self.counters()
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
            self.ethernet()
                .iter()
                .for_each(|v| out.extend_from_slice(&v.to_be_bytes()));
            out.extend_from_slice(&self.duration_sec.to_be_bytes());
            out.extend_from_slice(&self.duration_nsec.to_be_bytes());
        }
        Ok(())
    }

    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mut s = PortStats::default();
        let read8 = |r: &mut Reader<'_>, s: &mut PortStats| -> Result<(), DecodeError> {
            s.rx_packets = r.u64()?;
            s.tx_packets = r.u64()?;
            s.rx_bytes = r.u64()?;
            s.tx_bytes = r.u64()?;
            s.rx_dropped = r.u64()?;
            s.tx_dropped = r.u64()?;
            s.rx_errors = r.u64()?;
            s.tx_errors = r.u64()?;
            Ok(())
        };
        let read_eth = |r: &mut Reader<'_>, s: &mut PortStats| -> Result<(), DecodeError> {
            s.rx_frame_err = r.u64()?;
            s.rx_over_err = r.u64()?;
            s.rx_crc_err = r.u64()?;
            s.collisions = r.u64()?;
            Ok(())
        };
        if version >= Version::V1_4 {
            let len = usize::from(r.peek_u16()?);
            if len < 80 {
                return Err(DecodeError::Malformed("port stats length"));
            }
            let mut e = r.sub(len)?;
            e.skip(4)?;
            s.port_no = e.u32()?;
            s.duration_sec = e.u32()?;
            s.duration_nsec = e.u32()?;
            read8(&mut e, &mut s)?;
            if let Some(mut prop) = find_property(e, 0)? {
                prop.skip(4)?;
                read_eth(&mut prop, &mut s)?;
            }
        } else {
            let mut e = r.sub(112)?;
            s.port_no = e.u32()?;
            e.skip(4)?;
            read8(&mut e, &mut s)?;
            read_eth(&mut e, &mut s)?;
            s.duration_sec = e.u32()?;
            s.duration_nsec = e.u32()?;
        }
        Ok(s)
    }
}

/// Per-table counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TableStats {
    pub table_id: u8,
    pub active_count: u32,
    pub lookup_count: u64,
    pub matched_count: u64,
}

impl TableStats {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.table_id);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&self.active_count.to_be_bytes());
        out.extend_from_slice(&self.lookup_count.to_be_bytes());
        out.extend_from_slice(&self.matched_count.to_be_bytes());
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let table_id = r.u8()?;
        r.skip(3)?;
        Ok(TableStats {
            table_id,
            active_count: r.u32()?,
            lookup_count: r.u64()?,
            matched_count: r.u64()?,
        })
    }
}

/// Switch description (`OFPMP_DESC` reply).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SwitchDesc {
    pub manufacturer: String,
    pub hardware: String,
    pub software: String,
    pub serial_number: String,
    pub datapath: String,
}

impl SwitchDesc {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_fixed_str(out, &self.manufacturer, 256);
        put_fixed_str(out, &self.hardware, 256);
        put_fixed_str(out, &self.software, 256);
        put_fixed_str(out, &self.serial_number, 32);
        put_fixed_str(out, &self.datapath, 256);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(SwitchDesc {
            manufacturer: fixed_str(r.bytes(256)?),
            hardware: fixed_str(r.bytes(256)?),
            software: fixed_str(r.bytes(256)?),
            serial_number: fixed_str(r.bytes(32)?),
            datapath: fixed_str(r.bytes(256)?),
        })
    }
}
