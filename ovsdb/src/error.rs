//! The crate-wide error type.

use std::time::Duration;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to an ovsdb-server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No connection to the server could be used for the request (never connected, connection
    /// lost before the reply, or the server is down).
    #[error("cannot reach ovsdb-server at {remote}: {reason}")]
    NotConnected { remote: String, reason: String },

    /// The request got no reply within the request timeout while connected.
    #[error("ovsdb request `{method}` timed out after {after:?}")]
    Timeout { method: String, after: Duration },

    /// One operation of a transaction (or the transaction as a whole, `index` = number of
    /// operations) failed on the server.
    #[error("ovsdb transaction failed at operation {index}: {error}{}", details.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Transaction {
        index: usize,
        error: String,
        details: Option<String>,
    },

    /// The server answered a request with a JSON-RPC error.
    #[error("ovsdb request `{method}` failed: {error}")]
    Rpc {
        method: String,
        error: serde_json::Value,
    },

    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),

    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),

    /// The peer sent something that does not follow the OVSDB protocol.
    #[error("ovsdb protocol error: {0}")]
    Protocol(String),

    #[error("tls error: {0}")]
    Tls(String),

    #[error("invalid ovsdb remote: {0}")]
    InvalidRemote(String),

    /// The client's connection task is gone (the runtime is shutting down).
    #[error("ovsdb client closed")]
    Closed,
}

impl Error {
    /// True for errors that mean "the request may be retried once the server is reachable".
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            Error::NotConnected { .. } | Error::Timeout { .. } | Error::Closed
        )
    }
}

/// Formats an I/O error without the trailing " (os error N)" that std appends.
pub(crate) fn io_reason(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_connected_display() {
        let err = Error::NotConnected {
            remote: "unix:/x/db.sock".into(),
            reason: io_reason(&std::io::Error::from_raw_os_error(2)),
        };
        assert_eq!(
            err.to_string(),
            "cannot reach ovsdb-server at unix:/x/db.sock: No such file or directory"
        );
    }

    #[test]
    fn transaction_display_has_details() {
        let err = Error::Transaction {
            index: 1,
            error: "constraint violation".into(),
            details: Some("duplicate name".into()),
        };
        let text = err.to_string();
        assert!(text.contains("constraint violation"), "{text}");
        assert!(text.contains("duplicate name"), "{text}");
    }
}
