//! OVSDB (RFC 7047) client.
//!
//! - [`codec`]: pure framing of JSON-RPC messages on a byte stream.
//! - [`rpc`]: JSON-RPC request/response/notification types.
//! - [`value`], [`ops`], [`schema`]: OVSDB data, transaction operations, schemas.
//! - [`remote`]: `unix:`/`tcp:`/`ssl:` remotes and TLS settings.
//! - [`client`]: [`Client`], a cloneable handle to a background connection task that reconnects,
//!   with `transact`, monitors and locks.
//! - [`vswitch`]: typed views of the Open_vSwitch database rows.
//!
//! ```no_run
//! use ovsdb::{Client, ClientOptions, Mutation, Operation, Remote, Value};
//!
//! # async fn example() -> ovsdb::Result<()> {
//! let remote = Remote::parse("unix:/var/run/openvswitch/db.sock")?;
//! let client = Client::connect(remote, ClientOptions::default()).await?;
//! let row = [("name".to_string(), Value::string("br0"))].into_iter().collect();
//! let outcome = client
//!     .transact(
//!         "Open_vSwitch",
//!         vec![
//!             Operation::insert_named("Bridge", row, "br"),
//!             Operation::mutate(
//!                 "Open_vSwitch",
//!                 vec![],
//!                 vec![Mutation::insert("bridges", Value::named_uuid("br"))],
//!             ),
//!         ],
//!     )
//!     .await?;
//! println!("bridge uuid {:?}", outcome.uuid_of("br"));
//! # Ok(())
//! # }
//! ```

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
