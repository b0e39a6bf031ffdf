//! Errors of the connection layer.

use std::time::Duration;

use crate::codec::error_msg::ErrorMsg;
use crate::codec::{DecodeError, EncodeError};

/// A flow_mod of a batch or bundle that the switch rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowModFailure {
    /// Position in the `Vec<FlowMod>` passed in.
    pub index: usize,
    pub error: ErrorMsg,
}

fn describe(failures: &[FlowModFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("#{}: {}", f.index, f.error.code_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Errors returned by [`crate::Switch`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The switch is not connected right now (requests fail fast instead of queueing).
    #[error("not connected to {target}: {reason}")]
    NotConnected { target: String, reason: String },
    /// The connection dropped while the request was outstanding.
    #[error("connection to {target} lost: {reason}")]
    ConnectionLost { target: String, reason: String },
    #[error("request timed out after {0:?}")]
    Timeout(Duration),
    /// The switch answered this request with an error message.
    #[error("switch error {0}")]
    Switch(ErrorMsg),
    /// Some flow_mods of a non-atomic batch failed; the others were applied.
    #[error("{} of the flow_mods failed: {}", failures.len(), describe(failures))]
    FlowMods { failures: Vec<FlowModFailure> },
    /// A bundle was rejected and discarded; nothing was applied.
    #[error("bundle failed ({error}){}", if failures.is_empty() { String::new() } else { format!(": {}", describe(failures)) })]
    Bundle {
        error: ErrorMsg,
        failures: Vec<FlowModFailure>,
    },
    #[error("unexpected reply {0}")]
    UnexpectedReply(&'static str),
    #[error("invalid target {0:?} (expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT)")]
    InvalidTarget(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("version negotiation failed: {0}")]
    Negotiation(String),
    /// The connection task has stopped (all handles dropped or runtime shutting down).
    #[error("connection task stopped")]
    Closed,
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

impl Error {
    /// The switch's error message, if this error carries one.
    pub fn switch_error(&self) -> Option<&ErrorMsg> {
        match self {
            Error::Switch(e) | Error::Bundle { error: e, .. } => Some(e),
            Error::FlowMods { failures } => failures.first().map(|f| &f.error),
            _ => None,
        }
    }
}
