//! A small async client for the ovs-vswitchd unixctl socket: JSON-RPC over a unix socket, one
//! connection per call (`ofproto/trace`, `fdb/show`, ...). Framing reuses the OVSDB codec
//! (both speak back-to-back JSON objects).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ovsdb::codec::{encode, FrameDecoder};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Why a unixctl call failed.
#[derive(Debug, thiserror::Error)]
pub enum UnixctlError {
    /// No candidate accepted a connection: where we looked (`in DIR`, `at PATH`) and what.
    #[error("no ovs-vswitchd control socket {0} (tried {1})")]
    NoSocket(String, String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} timed out after {1:?}")]
    Timeout(String, Duration),
    /// ovs-vswitchd answered with an error (e.g. a bad flow or an unknown bridge).
    #[error("{0}")]
    Remote(String),
    #[error("bad reply: {0}")]
    Protocol(String),
}

/// Where ovs-vswitchd's control socket may be: `<rundir>/ovs-vswitchd.<pid>.ctl` (pid from
/// `ovs-vswitchd.pid`), else `<rundir>/ovs-vswitchd.ctl` (`--unixctl=` setups), else any
/// `ovs-vswitchd.*.ctl`.
pub fn socket_candidates(rundir: &Path) -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(text) = std::fs::read_to_string(rundir.join("ovs-vswitchd.pid")) {
        if let Ok(pid) = text.trim().parse::<u32>() {
            candidates.push(rundir.join(format!("ovs-vswitchd.{pid}.ctl")));
        }
    }
    candidates.push(rundir.join("ovs-vswitchd.ctl"));
    if let Ok(entries) = std::fs::read_dir(rundir) {
        let mut others: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("ovs-vswitchd.") && n.ends_with(".ctl"))
            })
            .filter(|p| !candidates.contains(p))
            .collect();
        others.sort();
        candidates.extend(others);
    }
    candidates
}

/// The result of a JSON-RPC reply: its `result` text, or its `error` as [`UnixctlError::Remote`].
pub fn parse_reply(reply: &Json) -> Result<String, UnixctlError> {
    match reply.get("error") {
        Some(Json::Null) | None => {}
        Some(Json::String(error)) => {
            return Err(UnixctlError::Remote(error.trim_end().to_string()))
        }
        Some(other) => return Err(UnixctlError::Remote(other.to_string())),
    }
    match reply.get("result") {
        Some(Json::String(text)) => Ok(text.clone()),
        Some(Json::Null) | None => Ok(String::new()),
        Some(other) => Err(UnixctlError::Protocol(format!(
            "result is not text: {other}"
        ))),
    }
}

/// Calls `method` with string `params` on the socket at `path`.
pub async fn call_socket(
    path: &Path,
    method: &str,
    params: &[&str],
    timeout: Duration,
) -> Result<String, UnixctlError> {
    let io = |source| UnixctlError::Io {
        path: path.display().to_string(),
        source,
    };
    let exchange = async {
        let mut stream = UnixStream::connect(path).await.map_err(io)?;
        let request = json!({"id": 0, "method": method, "params": params});
        stream.write_all(&encode(&request)).await.map_err(io)?;
        let mut decoder = FrameDecoder::new();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            if let Some(reply) = decoder
                .decode()
                .map_err(|e| UnixctlError::Protocol(e.to_string()))?
            {
                return parse_reply(&reply);
            }
            let n = stream.read(&mut buffer).await.map_err(io)?;
            if n == 0 {
                return Err(UnixctlError::Protocol(
                    "connection closed before the reply".to_string(),
                ));
            }
            decoder.extend(&buffer[..n]);
        }
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| UnixctlError::Timeout(method.to_string(), timeout))?
}

/// The unixctl endpoint of one vswitchd, found in its run directory on every call (the pid
/// changes when vswitchd restarts).
#[derive(Debug, Clone)]
pub struct Unixctl {
    pub rundir: PathBuf,
    /// A socket given by name (`--unixctl`, like `ovs-appctl -t`): the only one tried.
    pub socket: Option<PathBuf>,
    pub timeout: Duration,
}

impl Unixctl {
    pub fn new(rundir: impl Into<PathBuf>) -> Unixctl {
        Unixctl {
            rundir: rundir.into(),
            socket: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Uses `socket` (when given) instead of looking in the run directory.
    pub fn with_socket(mut self, socket: Option<PathBuf>) -> Unixctl {
        self.socket = socket;
        self
    }

    /// Calls `method` on the first candidate socket that accepts a connection.
    pub async fn call(&self, method: &str, params: &[&str]) -> Result<String, UnixctlError> {
        let candidates = match &self.socket {
            Some(socket) => vec![socket.clone()],
            None => socket_candidates(&self.rundir),
        };
        let mut last = None;
        for path in &candidates {
            match call_socket(path, method, params, self.timeout).await {
                Err(UnixctlError::Io { source, .. })
                    if matches!(
                        source.kind(),
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                    ) =>
                {
                    last = Some(source);
                }
                other => return other,
            }
        }
        let (place, tried) = match &self.socket {
            Some(socket) => (
                format!("at {}", socket.display()),
                socket.display().to_string(),
            ),
            None => (
                format!("in {}", self.rundir.display()),
                candidates
                    .iter()
                    .filter_map(|p| p.file_name().and_then(|n| n.to_str()))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        };
        let tried = match last {
            Some(error) => format!("{tried}: {error}; name the socket with --unixctl"),
            None => tried,
        };
        Err(UnixctlError::NoSocket(place, tried))
    }

    /// `ofproto/trace BRIDGE FLOW`.
    pub async fn trace(&self, bridge: &str, flow: &str) -> Result<String, UnixctlError> {
        self.call("ofproto/trace", &[bridge, flow]).await
    }

    /// `fdb/show BRIDGE`.
    pub async fn fdb_show(&self, bridge: &str) -> Result<String, UnixctlError> {
        self.call("fdb/show", &[bridge]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A fake control socket that answers each request with `reply(method, params)`, the reply
    /// split in two writes to exercise framing.
    async fn serve(listener: UnixListener, reply: fn(&str, &Json) -> Json) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut decoder = FrameDecoder::new();
            let mut buffer = [0u8; 4096];
            let request = loop {
                if let Some(request) = decoder.decode().unwrap() {
                    break request;
                }
                let n = stream.read(&mut buffer).await.unwrap();
                decoder.extend(&buffer[..n]);
            };
            let mut answer = reply(request["method"].as_str().unwrap(), &request["params"]);
            answer["id"] = request["id"].clone();
            let bytes = encode(&answer);
            let (a, b) = bytes.split_at(bytes.len() / 2);
            stream.write_all(a).await.unwrap();
            tokio::task::yield_now().await;
            stream.write_all(b).await.unwrap();
        }
    }

    fn vswitchd(method: &str, params: &Json) -> Json {
        match method {
            "ofproto/trace" if params[0] == "br0" => {
                json!({"result": format!("Flow: {}\nDatapath actions: 2\n", params[1].as_str().unwrap()), "error": null})
            }
            "ofproto/trace" => json!({"result": null, "error": "no bridge named nope\n"}),
            _ => json!({"result": null, "error": format!("\"{method}\" is not a valid command")}),
        }
    }

    #[tokio::test]
    async fn calls_the_pidfile_socket() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ovs-vswitchd.pid"), "4242\n").unwrap();
        let listener = UnixListener::bind(dir.path().join("ovs-vswitchd.4242.ctl")).unwrap();
        tokio::spawn(serve(listener, vswitchd));
        let client = Unixctl::new(dir.path());
        let text = client.trace("br0", "in_port=1,icmp").await.unwrap();
        assert_eq!(text, "Flow: in_port=1,icmp\nDatapath actions: 2\n");
        let error = client.trace("nope", "in_port=1").await.unwrap_err();
        assert!(
            matches!(&error, UnixctlError::Remote(e) if e == "no bridge named nope"),
            "{error:?}"
        );
        let error = client.call("bogus/cmd", &[]).await.unwrap_err();
        assert!(error.to_string().contains("not a valid command"), "{error}");
    }

    #[tokio::test]
    async fn falls_back_to_the_fixed_name_and_reports_missing_sockets() {
        let dir = tempfile::tempdir().unwrap();
        // A stale pidfile: its socket does not exist.
        std::fs::write(dir.path().join("ovs-vswitchd.pid"), "1\n").unwrap();
        let client = Unixctl::new(dir.path());
        let error = client.fdb_show("br0").await.unwrap_err();
        assert!(matches!(error, UnixctlError::NoSocket(..)), "{error:?}");
        assert!(error.to_string().contains("ovs-vswitchd.1.ctl"), "{error}");
        let listener = UnixListener::bind(dir.path().join("ovs-vswitchd.ctl")).unwrap();
        tokio::spawn(serve(listener, vswitchd));
        let text = client.trace("br0", "arp").await.unwrap();
        assert!(text.starts_with("Flow: arp"), "{text}");
    }

    #[tokio::test]
    async fn a_named_socket_is_the_only_one_tried() {
        let dir = tempfile::tempdir().unwrap();
        // Found by the run-directory search, but not the one asked for.
        let listener = UnixListener::bind(dir.path().join("ovs-vswitchd.ctl")).unwrap();
        tokio::spawn(serve(listener, vswitchd));
        let named = dir.path().join("vs.ctl");
        let client = Unixctl::new(dir.path()).with_socket(Some(named.clone()));
        let error = client.fdb_show("br0").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "no ovs-vswitchd control socket at {0} (tried {0}: No such file or directory \
                 (os error 2); name the socket with --unixctl)",
                named.display()
            )
        );
        let listener = UnixListener::bind(&named).unwrap();
        tokio::spawn(serve(listener, vswitchd));
        let text = client.trace("br0", "arp").await.unwrap();
        assert!(text.starts_with("Flow: arp"), "{text}");
    }

    #[test]
    fn replies() {
        assert_eq!(
            parse_reply(&json!({"result": "x", "error": null})).unwrap(),
            "x"
        );
        assert_eq!(
            parse_reply(&json!({"result": null, "error": null})).unwrap(),
            ""
        );
        assert!(matches!(
            parse_reply(&json!({"result": 3})),
            Err(UnixctlError::Protocol(_))
        ));
    }
}
