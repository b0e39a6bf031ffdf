//! OVSDB (RFC 7047) client.
//!
//! - [`codec`]: pure framing of JSON-RPC messages on a byte stream.
//! - [`rpc`]: JSON-RPC request/response/notification types.
//! - [`value`], [`ops`], [`schema`]: OVSDB data, transaction operations, schemas.
//! - [`remote`]: `unix:`/`tcp:`/`ssl:` remotes and TLS settings.
//! - [`client`]: [`Client`], a cloneable handle to a background connection task that reconnects,
//!   with `transact`, monitors and locks.
//! - [`vswitch`]: typed views of the Open_vSwitch database rows.

pub mod client;
pub mod codec;
mod connection;
pub mod error;
pub mod monitor;
pub mod ops;
pub mod remote;
pub mod rpc;
pub mod schema;
pub mod value;
pub mod vswitch;

pub use client::{Client, ClientOptions, LockEvent, RequestId, TransactOutcome};
pub use error::{Error, Result};
pub use monitor::{Monitor, MonitorEvent, MonitorRequest, MonitorSelect, TableRows, TableUpdates};
pub use ops::{Condition, Function, Mutation, Mutator, Operation, OperationResult, WaitUntil};
pub use remote::{Remote, TlsConfig};
pub use schema::{ColumnKind, ColumnSchema, Schema, TableSchema};
pub use uuid::Uuid;
pub use value::{Atom, Row, Value};
