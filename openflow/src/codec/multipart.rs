//! Multipart (statistics) requests and replies, and merging of `REPLY_MORE` fragments.

use super::flow::{AggregateStats, FlowFilter, FlowStats};
use super::port::{Port, PortStats, SwitchDesc, TableStats};
use super::wire::Reader;
use super::{DecodeError, EncodeError, Version};

/// `OFPMPF_REQ_MORE` / `OFPMPF_REPLY_MORE`.
pub const MULTIPART_MORE: u16 = 1;

const MP_DESC: u16 = 0;
const MP_FLOW: u16 = 1;
const MP_AGGREGATE: u16 = 2;
const MP_TABLE: u16 = 3;
const MP_PORT_STATS: u16 = 4;
const MP_PORT_DESC: u16 = 13;

/// A multipart request body.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MultipartRequest {
    Desc,
    Flow(FlowFilter),
    Aggregate(FlowFilter),
    Table,
    /// Statistics for one port, or all with `port::ANY`.
    PortStats(u32),
    PortDesc,
    Other {
        mp_type: u16,
        body: Vec<u8>,
    },
}

impl MultipartRequest {
    fn mp_type(&self) -> u16 {
        match self {
            MultipartRequest::Desc => MP_DESC,
            MultipartRequest::Flow(_) => MP_FLOW,
            MultipartRequest::Aggregate(_) => MP_AGGREGATE,
            MultipartRequest::Table => MP_TABLE,
            MultipartRequest::PortStats(_) => MP_PORT_STATS,
            MultipartRequest::PortDesc => MP_PORT_DESC,
            MultipartRequest::Other { mp_type, .. } => *mp_type,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        out.extend_from_slice(&self.mp_type().to_be_bytes());
        out.extend_from_slice(&[0; 6]);
        match self {
            MultipartRequest::Flow(f) | MultipartRequest::Aggregate(f) => f.encode(out)?,
            MultipartRequest::PortStats(port) => {
                out.extend_from_slice(&port.to_be_bytes());
                out.extend_from_slice(&[0; 4]);
            }
            MultipartRequest::Other { body, .. } => out.extend_from_slice(body),
            MultipartRequest::Desc | MultipartRequest::Table | MultipartRequest::PortDesc => {}
        }
        Ok(())
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mp_type = r.u16()?;
        r.skip(6)?;
        Ok(match mp_type {
            MP_DESC => MultipartRequest::Desc,
            MP_FLOW => MultipartRequest::Flow(FlowFilter::decode(r)?),
            MP_AGGREGATE => MultipartRequest::Aggregate(FlowFilter::decode(r)?),
            MP_TABLE => MultipartRequest::Table,
            MP_PORT_STATS => {
                let port = r.u32()?;
                r.skip(4)?;
                MultipartRequest::PortStats(port)
            }
            MP_PORT_DESC => MultipartRequest::PortDesc,
            _ => MultipartRequest::Other {
                mp_type,
                body: r.rest().to_vec(),
            },
        })
    }
}

/// A multipart reply (one fragment, or several merged by [`MultipartReply::merge`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MultipartReply {
    /// `MULTIPART_MORE` if more fragments follow with the same xid.
    pub flags: u16,
    pub body: MultipartBody,
}

/// The typed contents of a multipart reply.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum MultipartBody {
    Desc(SwitchDesc),
    Flow(Vec<FlowStats>),
    Aggregate(AggregateStats),
    Table(Vec<TableStats>),
    PortStats(Vec<PortStats>),
    PortDesc(Vec<Port>),
    Other { mp_type: u16, body: Vec<u8> },
}

impl MultipartReply {
    /// Whether more fragments follow.
    pub fn more(&self) -> bool {
        self.flags & MULTIPART_MORE != 0
    }

    /// Appends the entries of a following fragment. Returns false when the fragment has a
    /// different type (a protocol violation the caller should report).
    pub fn merge(&mut self, next: MultipartReply) -> bool {
        self.flags = next.flags;
        match (&mut self.body, next.body) {
            (MultipartBody::Flow(a), MultipartBody::Flow(b)) => a.extend(b),
            (MultipartBody::Table(a), MultipartBody::Table(b)) => a.extend(b),
            (MultipartBody::PortStats(a), MultipartBody::PortStats(b)) => a.extend(b),
            (MultipartBody::PortDesc(a), MultipartBody::PortDesc(b)) => a.extend(b),
            (
                MultipartBody::Other {
                    mp_type: a_type,
                    body: a,
                },
                MultipartBody::Other {
                    mp_type: b_type,
                    body: b,
                },
            ) if *a_type == b_type => a.extend(b),
            _ => return false,
        }
        true
    }

    pub(crate) fn encode(&self, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let mp_type = match &self.body {
            MultipartBody::Desc(_) => MP_DESC,
            MultipartBody::Flow(_) => MP_FLOW,
            MultipartBody::Aggregate(_) => MP_AGGREGATE,
            MultipartBody::Table(_) => MP_TABLE,
            MultipartBody::PortStats(_) => MP_PORT_STATS,
            MultipartBody::PortDesc(_) => MP_PORT_DESC,
            MultipartBody::Other { mp_type, .. } => *mp_type,
        };
        out.extend_from_slice(&mp_type.to_be_bytes());
        out.extend_from_slice(&self.flags.to_be_bytes());
        out.extend_from_slice(&[0; 4]);
        match &self.body {
            MultipartBody::Desc(d) => d.encode(out),
            MultipartBody::Flow(v) => v.iter().try_for_each(|s| s.encode(version, out))?,
            MultipartBody::Aggregate(a) => a.encode(out),
            MultipartBody::Table(v) => v.iter().for_each(|s| s.encode(out)),
            MultipartBody::PortStats(v) => v.iter().try_for_each(|s| s.encode(version, out))?,
            MultipartBody::PortDesc(v) => v.iter().try_for_each(|p| p.encode(version, out))?,
            MultipartBody::Other { body, .. } => out.extend_from_slice(body),
        }
        Ok(())
    }

    pub(crate) fn decode(version: Version, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let mp_type = r.u16()?;
        let flags = r.u16()?;
        r.skip(4)?;
        fn list<T>(
            r: &mut Reader<'_>,
            mut item: impl FnMut(&mut Reader<'_>) -> Result<T, DecodeError>,
        ) -> Result<Vec<T>, DecodeError> {
            let mut v = Vec::new();
            while !r.is_empty() {
                v.push(item(r)?);
            }
            Ok(v)
        }
        let body = match mp_type {
            MP_DESC => MultipartBody::Desc(SwitchDesc::decode(r)?),
            MP_FLOW => MultipartBody::Flow(list(r, |r| FlowStats::decode(version, r))?),
            MP_AGGREGATE => MultipartBody::Aggregate(AggregateStats::decode(r)?),
            MP_TABLE => MultipartBody::Table(list(r, TableStats::decode)?),
            MP_PORT_STATS => MultipartBody::PortStats(list(r, |r| PortStats::decode(version, r))?),
            MP_PORT_DESC => MultipartBody::PortDesc(list(r, |r| Port::decode(version, r))?),
            _ => MultipartBody::Other {
                mp_type,
                body: r.rest().to_vec(),
            },
        };
        Ok(MultipartReply { flags, body })
    }
}
