//! A minimal Docker Engine API client (HTTP/1.1 over the daemon's unix socket, hyper) for the
//! names of networks and containers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value as Json;
use tokio::net::UnixStream;

use crate::model::DockerNames;

/// Why a Docker API call failed.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("unsupported Docker host {0:?} (only unix:// sockets)")]
    UnsupportedHost(String),
    #[error("{path}: {source}")]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("GET {path}: status {status}")]
    Status { path: String, status: u16 },
    #[error("GET {path}: bad JSON: {error}")]
    Json { path: String, error: String },
    #[error("GET {0} timed out")]
    Timeout(String),
}

/// The socket path of a Docker host URI: `unix:///var/run/docker.sock`, `unix:/path` or a
/// plain path.
pub fn socket_path(host: &str) -> Result<PathBuf, DockerError> {
    if let Some(path) = host.strip_prefix("unix://") {
        return Ok(PathBuf::from(path));
    }
    if let Some(path) = host.strip_prefix("unix:") {
        return Ok(PathBuf::from(path));
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    Err(DockerError::UnsupportedHost(host.to_string()))
}

/// A Docker daemon reached over its unix socket.
#[derive(Debug, Clone)]
pub struct Docker {
    pub socket: PathBuf,
    pub timeout: Duration,
}

impl Docker {
    pub fn new(host: &str) -> Result<Docker, DockerError> {
        Ok(Docker {
            socket: socket_path(host)?,
            timeout: Duration::from_secs(5),
        })
    }

    /// `GET path` and the JSON body.
    pub async fn get(&self, path: &str) -> Result<Json, DockerError> {
        tokio::time::timeout(self.timeout, get(&self.socket, path))
            .await
            .map_err(|_| DockerError::Timeout(path.to_string()))?
    }

    /// Network names by id and container names by endpoint id.
    pub async fn names(&self) -> Result<DockerNames, DockerError> {
        let networks = self.get("/networks").await?;
        let containers = self.get("/containers/json").await?;
        Ok(names_from(&networks, &containers))
    }
}

async fn get(socket: &Path, path: &str) -> Result<Json, DockerError> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|source| DockerError::Connect {
            path: socket.display().to_string(),
            source,
        })?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let connection = tokio::spawn(connection);
    let request = Request::get(path)
        .header("Host", "docker")
        .header("Accept", "application/json")
        .body(Empty::<Bytes>::new())
        .expect("static request is valid");
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    connection.abort();
    if status != 200 {
        return Err(DockerError::Status {
            path: path.to_string(),
            status,
        });
    }
    serde_json::from_slice(&body).map_err(|error| DockerError::Json {
        path: path.to_string(),
        error: error.to_string(),
    })
}

/// Builds [`DockerNames`] from `GET /networks` and `GET /containers/json` answers.
pub fn names_from(networks: &Json, containers: &Json) -> DockerNames {
    let mut names = DockerNames::default();
    for network in networks.as_array().into_iter().flatten() {
        if let (Some(id), Some(name)) = (network["Id"].as_str(), network["Name"].as_str()) {
            names.networks.insert(id.to_string(), name.to_string());
        }
    }
    for container in containers.as_array().into_iter().flatten() {
        let name = container["Names"]
            .as_array()
            .and_then(|n| n.first())
            .and_then(Json::as_str)
            .map(|n| n.trim_start_matches('/').to_string())
            .or_else(|| {
                container["Id"]
                    .as_str()
                    .map(|id| id.chars().take(12).collect())
            });
        let Some(name) = name else { continue };
        let attachments = container["NetworkSettings"]["Networks"].as_object();
        for attachment in attachments.into_iter().flat_map(|a| a.values()) {
            if let Some(endpoint) = attachment["EndpointID"].as_str().filter(|e| !e.is_empty()) {
                names.endpoints.insert(endpoint.to_string(), name.clone());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    #[test]
    fn host_uris() {
        assert_eq!(
            socket_path("unix:///var/run/docker.sock").unwrap(),
            PathBuf::from("/var/run/docker.sock")
        );
        assert_eq!(
            socket_path("unix:/x/d.sock").unwrap(),
            PathBuf::from("/x/d.sock")
        );
        assert_eq!(
            socket_path("/x/d.sock").unwrap(),
            PathBuf::from("/x/d.sock")
        );
        assert!(matches!(
            socket_path("tcp://1.2.3.4:2375"),
            Err(DockerError::UnsupportedHost(_))
        ));
    }

    fn sample() -> (Json, Json) {
        let networks = json!([
            {"Id": "n1full", "Name": "web", "Driver": "ovs"},
            {"Id": "n2full", "Name": "bridge", "Driver": "bridge"},
        ]);
        let containers = json!([
            {"Id": "c1", "Names": ["/web-1"], "NetworkSettings": {"Networks": {
                "web": {"EndpointID": "ep1", "NetworkID": "n1full"},
                "other": {"EndpointID": ""}
            }}},
            {"Id": "abcdef0123456789", "Names": [], "NetworkSettings": {"Networks": {
                "web": {"EndpointID": "ep2"}
            }}},
        ]);
        (networks, containers)
    }

    #[test]
    fn names_from_api_answers() {
        let (networks, containers) = sample();
        let names = names_from(&networks, &containers);
        assert_eq!(names.networks["n1full"], "web");
        assert_eq!(names.endpoints["ep1"], "web-1");
        assert_eq!(names.endpoints["ep2"], "abcdef012345");
        assert_eq!(names.endpoints.len(), 2);
    }

    #[tokio::test]
    async fn talks_http_over_a_unix_socket() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        tokio::spawn(async move {
            let (networks, containers) = sample();
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    let n = stream.read(&mut buffer).await.unwrap();
                    request.extend_from_slice(&buffer[..n]);
                }
                let text = String::from_utf8_lossy(&request);
                let body = if text.starts_with("GET /networks ") {
                    networks.to_string()
                } else if text.starts_with("GET /containers/json ") {
                    containers.to_string()
                } else {
                    String::new()
                };
                let status = if body.is_empty() {
                    "404 Not Found"
                } else {
                    "200 OK"
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).await.unwrap();
            }
        });
        let docker = Docker::new(&format!("unix://{}", socket.display())).unwrap();
        let names = docker.names().await.unwrap();
        assert_eq!(names.networks["n1full"], "web");
        assert_eq!(names.endpoints["ep1"], "web-1");
        let error = docker.get("/nope").await.unwrap_err();
        assert!(
            matches!(error, DockerError::Status { status: 404, .. }),
            "{error:?}"
        );
        let missing = Docker::new(&format!(
            "unix://{}",
            dir.path().join("gone.sock").display()
        ))
        .unwrap();
        assert!(matches!(
            missing.names().await,
            Err(DockerError::Connect { .. })
        ));
    }
}
