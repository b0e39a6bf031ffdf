//! The plugin's HTTP server: libnetwork remote-driver requests over a unix socket, each routed
//! to the [`Driver`]. Takes a listener and a shutdown future, so tests can serve a temp socket.
//!
//! Docker sends no Content-Type and, for some methods, no body at all; both are accepted. Bodies
//! over [`MAX_BODY_BYTES`] are refused without being read to the end. Errors are `{"Err": ...}`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tokio::net::UnixListener;
use tokio::task::JoinSet;

use crate::driver::{Driver, DriverError};
use crate::wire::{
    ActivateResponse, CapabilitiesResponse, CreateEndpointRequest, CreateNetworkRequest,
    EndpointRequest, ErrorResponse, JoinRequest, NetworkRequest,
};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// How long in-flight requests may run on after shutdown is requested.
const DRAIN_TIME: Duration = Duration::from_secs(5);

/// Serves plugin requests on `listener` until `shutdown` completes, then lets in-flight
/// requests finish (up to a few seconds).
pub async fn serve(
    listener: UnixListener,
    driver: Arc<Driver>,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = JoinSet::new();
    let (stopping, stop_signal) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let driver = driver.clone();
                    let stop_signal = stop_signal.clone();
                    connections.spawn(async move {
                        let service = service_fn(move |request| {
                            let driver = driver.clone();
                            async move { Ok::<_, Infallible>(handle(&driver, request).await) }
                        });
                        let connection = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service);
                        tokio::pin!(connection);
                        let result = tokio::select! {
                            result = connection.as_mut() => result,
                            () = stopped(stop_signal) => {
                                // Finish the request in flight, then close the idle keep-alive.
                                connection.as_mut().graceful_shutdown();
                                connection.await
                            }
                        };
                        if let Err(err) = result {
                            tracing::debug!(%err, "plugin connection ended with an error");
                        }
                    });
                }
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let _ = stopping.send(true);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN_TIME, drain).await.is_err() {
        tracing::warn!("requests still running at shutdown were cut off");
    }
}

/// Completes once the server is shutting down.
async fn stopped(mut signal: tokio::sync::watch::Receiver<bool>) {
    loop {
        let stop = *signal.borrow_and_update();
        if stop || signal.changed().await.is_err() {
            return;
        }
    }
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, body: &impl Serialize) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    Response::builder()
        .status(status)
        .header("Content-Type", "application/vnd.docker.plugins.v1.2+json")
        .body(Full::new(Bytes::from(bytes)))
        .expect("static response parts are valid")
}

fn error_reply(status: StatusCode, message: impl Into<String>) -> Reply {
    reply(
        status,
        &ErrorResponse {
            err: message.into(),
        },
    )
}

fn driver_error(method: &str, err: DriverError) -> Reply {
    let status = if err.is_client_error() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    tracing::warn!(method, %err, "request failed");
    error_reply(status, err.to_string())
}

/// Decodes a request body; an empty body means "no fields". The body must be UTF-8 (JSON is):
/// serde_json would skip invalid bytes inside fields the type ignores.
fn decode<T: DeserializeOwned>(method: &str, body: &[u8]) -> Result<T, DriverError> {
    let text = std::str::from_utf8(body).map_err(|err| {
        DriverError::BadRequest(format!(
            "invalid {method} request: body is not UTF-8: {err}"
        ))
    })?;
    let text = if text.bytes().all(|b| b.is_ascii_whitespace()) {
        "{}"
    } else {
        text
    };
    serde_json::from_str(text)
        .map_err(|err| DriverError::BadRequest(format!("invalid {method} request: {err}")))
}

fn ok<T: Serialize>(method: &str, result: Result<T, DriverError>) -> Reply {
    match result {
        Ok(value) => reply(StatusCode::OK, &value),
        Err(err) => driver_error(method, err),
    }
}

/// The `{}` reply of methods that return nothing.
fn empty() -> serde_json::Value {
    serde_json::Value::Object(serde_json::Map::new())
}

async fn handle(driver: &Driver, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().trim_start_matches('/').to_string();
    let known = KNOWN_METHODS.contains(&path.as_str());
    if !known {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::from_static(b"404 page not found\n")))
            .expect("static response parts are valid");
    }
    if request.method() != Method::POST {
        return error_reply(StatusCode::METHOD_NOT_ALLOWED, format!("{path} takes POST"));
    }
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => {
            return error_reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("{path} request body exceeds {MAX_BODY_BYTES} bytes"),
            )
        }
        Err(err) => {
            return error_reply(
                StatusCode::BAD_REQUEST,
                format!("reading {path} request: {err}"),
            )
        }
    };
    tracing::debug!(method = path, body = %String::from_utf8_lossy(&body[..body.len().min(2048)]), "request");
    match dispatch(driver, &path, &body).await {
        Ok(reply) => reply,
        Err(err) => driver_error(&path, err),
    }
}

/// Every path the plugin answers; anything else is 404.
const KNOWN_METHODS: [&str; 15] = [
    "Plugin.Activate",
    "NetworkDriver.GetCapabilities",
    "NetworkDriver.CreateNetwork",
    "NetworkDriver.DeleteNetwork",
    "NetworkDriver.AllocateNetwork",
    "NetworkDriver.FreeNetwork",
    "NetworkDriver.CreateEndpoint",
    "NetworkDriver.EndpointOperInfo",
    "NetworkDriver.DeleteEndpoint",
    "NetworkDriver.Join",
    "NetworkDriver.Leave",
    "NetworkDriver.DiscoverNew",
    "NetworkDriver.DiscoverDelete",
    "NetworkDriver.ProgramExternalConnectivity",
    "NetworkDriver.RevokeExternalConnectivity",
];

async fn dispatch(driver: &Driver, method: &str, body: &[u8]) -> Result<Reply, DriverError> {
    let reply = match method {
        "Plugin.Activate" => reply(
            StatusCode::OK,
            &ActivateResponse {
                implements: vec!["NetworkDriver"],
            },
        ),
        "NetworkDriver.GetCapabilities" => reply(
            StatusCode::OK,
            &CapabilitiesResponse {
                scope: "local",
                connectivity_scope: "local",
            },
        ),
        "NetworkDriver.CreateNetwork" => {
            let request: CreateNetworkRequest = decode(method, body)?;
            ok(
                method,
                driver.create_network(request).await.map(|()| empty()),
            )
        }
        "NetworkDriver.DeleteNetwork" => {
            let request: NetworkRequest = decode(method, body)?;
            ok(
                method,
                driver.delete_network(request).await.map(|()| empty()),
            )
        }
        "NetworkDriver.AllocateNetwork" => {
            let request: CreateNetworkRequest = decode(method, body)?;
            ok(
                method,
                driver
                    .check_network_request(&request.network_id)
                    .map(|()| json!({"Options": {}})),
            )
        }
        "NetworkDriver.FreeNetwork" => {
            let request: NetworkRequest = decode(method, body)?;
            ok(
                method,
                driver
                    .check_network_request(&request.network_id)
                    .map(|()| empty()),
            )
        }
        "NetworkDriver.CreateEndpoint" => {
            let request: CreateEndpointRequest = decode(method, body)?;
            ok(method, driver.create_endpoint(request).await)
        }
        "NetworkDriver.EndpointOperInfo" => {
            let request: EndpointRequest = decode(method, body)?;
            ok(method, driver.endpoint_oper_info(request).await)
        }
        "NetworkDriver.DeleteEndpoint" => {
            let request: EndpointRequest = decode(method, body)?;
            ok(
                method,
                driver.delete_endpoint(request).await.map(|()| empty()),
            )
        }
        "NetworkDriver.Join" => {
            let request: JoinRequest = decode(method, body)?;
            ok(method, driver.join(request).await)
        }
        "NetworkDriver.Leave" => {
            let request: EndpointRequest = decode(method, body)?;
            ok(method, driver.leave(request).await.map(|()| empty()))
        }
        "NetworkDriver.DiscoverNew" | "NetworkDriver.DiscoverDelete" => {
            decode::<serde_json::Value>(method, body)?;
            reply(StatusCode::OK, &empty())
        }
        "NetworkDriver.ProgramExternalConnectivity"
        | "NetworkDriver.RevokeExternalConnectivity" => {
            let request: EndpointRequest = decode(method, body)?;
            ok(
                method,
                driver
                    .check_network_request(&request.network_id)
                    .map(|()| empty()),
            )
        }
        _ => error_reply(StatusCode::NOT_FOUND, format!("unknown method {method}")),
    };
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_refuses_bodies_that_are_not_utf8_even_in_ignored_fields() {
        let body = b"{\"Ignored\":\"\xff\",\"NetworkID\":\"abc\"}";
        let err = decode::<NetworkRequest>("NetworkDriver.FreeNetwork", body).unwrap_err();
        assert!(err.to_string().contains("not UTF-8"), "{err}");
        let ok: NetworkRequest = decode(
            "NetworkDriver.FreeNetwork",
            br#"{"Ignored":"\u00ff","NetworkID":"abc"}"#,
        )
        .unwrap();
        assert_eq!(ok.network_id, "abc");
        let empty: NetworkRequest = decode("NetworkDriver.FreeNetwork", b" \n").unwrap();
        assert_eq!(empty.network_id, "");
    }
}
