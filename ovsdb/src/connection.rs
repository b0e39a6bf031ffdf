//! The connection task: owns the socket, (re)connects with capped exponential backoff, matches
//! replies to requests, answers the server's echo requests, sends inactivity probes, routes
//! monitor updates and lock notifications, and re-establishes monitors and locks after a
//! reconnect. Clients talk to it through an unbounded command channel; the task ends when every
//! client handle is gone.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt, WriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::client::{locked_flag, ClientOptions, LockEvent};
use crate::codec::{encode, FrameDecoder};
use crate::error::{io_reason, Error, Result};
use crate::monitor::{MonitorEvent, MonitorState};
use crate::remote::{Remote, Stream};
use crate::rpc::{Message, Notification, Request, Response};

const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// A session shorter than this counts as a failed attempt for backoff purposes.
const STABLE_SESSION: Duration = Duration::from_secs(2);
const READ_BUFFER: usize = 64 * 1024;

/// State shared between the client handles and the task.
#[derive(Debug)]
pub(crate) struct Status {
    connected: AtomicBool,
    last_error: Mutex<String>,
    next_id: AtomicU64,
}

impl Status {
    pub fn new() -> Self {
        Status {
            connected: AtomicBool::new(false),
            last_error: Mutex::new("not connected yet".to_string()),
            next_id: AtomicU64::new(1),
        }
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::SeqCst)
    }

    pub fn last_error(&self) -> String {
        self.last_error.lock().unwrap().clone()
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn set_connected(&self) {
        self.connected.store(true, Ordering::SeqCst);
    }

    fn set_disconnected(&self, reason: String) {
        *self.last_error.lock().unwrap() = reason;
        self.connected.store(false, Ordering::SeqCst);
    }
}

/// What client handles ask the task to do.
#[derive(Debug)]
pub(crate) enum Command {
    Call {
        id: u64,
        method: String,
        params: Json,
        reply: oneshot::Sender<Result<Json>>,
    },
    Notify {
        method: String,
        params: Json,
    },
    Monitor {
        id: u64,
        state: MonitorState,
        reply: oneshot::Sender<Result<()>>,
    },
}

impl Command {
    /// The requester stopped waiting (timed out).
    fn is_abandoned(&self) -> bool {
        match self {
            Command::Call { reply, .. } => reply.is_closed(),
            Command::Monitor { reply, .. } => reply.is_closed(),
            Command::Notify { .. } => false,
        }
    }
}

/// A request sent on the current connection, waiting for its response.
#[derive(Debug)]
enum Pending {
    Call {
        method: String,
        reply: oneshot::Sender<Result<Json>>,
        /// For `lock`/`steal`: the lock name, to record that it is held.
        lock: Option<String>,
    },
    /// `monitor`/`monitor_cond`; `reply` is `None` when re-establishing after a reconnect.
    Monitor {
        key: String,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    Relock {
        name: String,
    },
    Probe,
    Ignore,
}

/// Per-connection state.
struct Connection {
    out: mpsc::UnboundedSender<Vec<u8>>,
    pending: HashMap<u64, Pending>,
    last_received: Instant,
    probe_sent: Option<Instant>,
}

impl Connection {
    fn send(&self, message: Message) {
        // A failed send means the writer died; the serve loop notices that on its own.
        let _ = self.out.send(encode(&message.to_json()));
    }

    fn request(&mut self, id: u64, method: &str, params: Json, pending: Pending) {
        self.send(Message::Request(Request::new(id, method, params)));
        self.pending.insert(id, pending);
    }
}

enum SessionEnd {
    Lost(String),
    Shutdown,
}

struct Task {
    remote: Remote,
    options: ClientOptions,
    commands: mpsc::UnboundedReceiver<Command>,
    status: std::sync::Arc<Status>,
    generation: watch::Sender<u64>,
    lock_events: broadcast::Sender<LockEvent>,
    /// Live monitors by the JSON text of their id.
    monitors: HashMap<String, MonitorState>,
    /// Requested locks and whether they are held.
    locks: BTreeMap<String, bool>,
    /// Commands received while disconnected.
    queued: VecDeque<Command>,
}

pub(crate) async fn run(
    remote: Remote,
    options: ClientOptions,
    commands: mpsc::UnboundedReceiver<Command>,
    status: std::sync::Arc<Status>,
    generation: watch::Sender<u64>,
    lock_events: broadcast::Sender<LockEvent>,
) {
    let task = Task {
        remote,
        options,
        commands,
        status,
        generation,
        lock_events,
        monitors: HashMap::new(),
        locks: BTreeMap::new(),
        queued: VecDeque::new(),
    };
    task.run().await;
}

impl Task {
    async fn run(mut self) {
        let max_backoff = self.options.max_backoff.max(Duration::from_millis(1));
        let initial = INITIAL_BACKOFF.min(max_backoff);
        let mut backoff = initial;
        loop {
            let Some(stream) = self.connect(&mut backoff, initial, max_backoff).await else {
                return;
            };
            let started = Instant::now();
            match self.serve(stream).await {
                SessionEnd::Shutdown => return,
                SessionEnd::Lost(reason) => {
                    tracing::warn!(remote = %self.remote, %reason, "ovsdb connection lost");
                }
            }
            if started.elapsed() < STABLE_SESSION {
                if !self.pause(backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(max_backoff);
            } else {
                backoff = initial;
            }
        }
    }

    fn enqueue(&mut self, command: Command) {
        if let Command::Notify { method, params } = &command {
            // A cancelled request that was never sent is simply dropped.
            if let Some(id) = cancelled_id(method, params) {
                if let Some(at) = self
                    .queued
                    .iter()
                    .position(|c| matches!(c, Command::Call { id: queued, .. } if *queued == id))
                {
                    if let Some(Command::Call { method, reply, .. }) = self.queued.remove(at) {
                        let _ = reply.send(Err(canceled(method)));
                    }
                }
            }
            return;
        }
        self.queued.retain(|c| !c.is_abandoned());
        self.queued.push_back(command);
    }

    /// Sleeps while queueing commands; false if every client handle is gone.
    async fn pause(&mut self, duration: Duration) -> bool {
        let sleep = tokio::time::sleep(duration);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => return true,
                command = self.commands.recv() => match command {
                    Some(command) => self.enqueue(command),
                    None => return false,
                },
            }
        }
    }

    /// Connects, retrying with backoff; `None` if every client handle is gone.
    async fn connect(
        &mut self,
        backoff: &mut Duration,
        initial: Duration,
        max_backoff: Duration,
    ) -> Option<Box<dyn Stream>> {
        loop {
            let remote = self.remote.clone();
            let tls = self.options.tls.clone();
            let limit = self.options.request_timeout.max(Duration::from_secs(1));
            let attempt =
                tokio::time::timeout(limit, async move { remote.open(tls.as_ref()).await });
            tokio::pin!(attempt);
            let result = loop {
                tokio::select! {
                    result = &mut attempt => break result,
                    command = self.commands.recv() => match command {
                        Some(command) => self.enqueue(command),
                        None => return None,
                    },
                }
            };
            let reason = match result {
                Ok(Ok(stream)) => {
                    *backoff = initial;
                    return Some(stream);
                }
                Ok(Err(reason)) => reason,
                Err(_) => format!("connection attempt timed out after {limit:?}"),
            };
            tracing::debug!(remote = %self.remote, %reason, "ovsdb connection attempt failed");
            self.status.set_disconnected(reason);
            if !self.pause(*backoff).await {
                return None;
            }
            *backoff = (*backoff * 2).min(max_backoff);
        }
    }

    async fn serve(&mut self, stream: Box<dyn Stream>) -> SessionEnd {
        let (mut reader, writer) = tokio::io::split(stream);
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let mut writer_task = tokio::spawn(write_loop(writer, out_rx));
        let mut conn = Connection {
            out: out_tx,
            pending: HashMap::new(),
            last_received: Instant::now(),
            probe_sent: None,
        };
        self.status.set_connected();
        self.generation.send_modify(|g| *g += 1);
        tracing::info!(remote = %self.remote, "connected to ovsdb-server");

        self.reestablish(&mut conn);
        while let Some(command) = self.queued.pop_front() {
            self.handle_command(&mut conn, command);
        }

        let probe = self.options.probe_interval;
        let tick_period = if probe.is_zero() {
            Duration::from_secs(1)
        } else {
            (probe / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
        };
        let mut ticker = tokio::time::interval(tick_period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut decoder = FrameDecoder::new();
        let mut buf = vec![0u8; READ_BUFFER];

        let end = loop {
            tokio::select! {
                read = reader.read(&mut buf) => match read {
                    Ok(0) => break SessionEnd::Lost("connection closed by the server".into()),
                    Ok(n) => {
                        decoder.extend(&buf[..n]);
                        conn.last_received = Instant::now();
                        conn.probe_sent = None;
                        if let Err(reason) = self.drain_decoder(&mut conn, &mut decoder) {
                            break SessionEnd::Lost(reason);
                        }
                    }
                    Err(e) => break SessionEnd::Lost(io_reason(&e)),
                },
                command = self.commands.recv() => match command {
                    Some(command) => self.handle_command(&mut conn, command),
                    None => break SessionEnd::Shutdown,
                },
                _ = ticker.tick() => {
                    if let Err(reason) = self.on_tick(&mut conn) {
                        break SessionEnd::Lost(reason);
                    }
                }
                written = &mut writer_task => {
                    let reason = match written {
                        Ok(Err(reason)) => reason,
                        _ => "writer stopped".to_string(),
                    };
                    break SessionEnd::Lost(reason);
                }
            }
        };
        writer_task.abort();
        let reason = match &end {
            SessionEnd::Lost(reason) => reason.clone(),
            SessionEnd::Shutdown => "client shut down".to_string(),
        };
        self.on_disconnect(conn, &reason);
        end
    }

    fn drain_decoder(
        &mut self,
        conn: &mut Connection,
        decoder: &mut FrameDecoder,
    ) -> Result<(), String> {
        loop {
            match decoder.decode() {
                Ok(Some(json)) => self.handle_incoming(conn, json),
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("undecodable data from server: {e}")),
            }
        }
    }

    /// Re-sends the monitor and lock requests of the previous connection.
    fn reestablish(&mut self, conn: &mut Connection) {
        self.monitors.retain(|_, state| !state.events.is_closed());
        for (key, state) in &self.monitors {
            let id = self.status.next_id();
            conn.request(
                id,
                state.kind.method(),
                state.params(),
                Pending::Monitor {
                    key: key.clone(),
                    reply: None,
                },
            );
        }
        for name in self.locks.keys() {
            let id = self.status.next_id();
            conn.request(
                id,
                "lock",
                json!([name]),
                Pending::Relock { name: name.clone() },
            );
        }
    }

    fn handle_command(&mut self, conn: &mut Connection, command: Command) {
        if command.is_abandoned() {
            return;
        }
        match command {
            Command::Call {
                id,
                method,
                params,
                reply,
            } => {
                let first_param = || params.get(0).cloned().unwrap_or(Json::Null);
                let mut lock = None;
                match method.as_str() {
                    "lock" | "steal" => {
                        if let Some(name) = first_param().as_str() {
                            self.locks.entry(name.to_string()).or_insert(false);
                            lock = Some(name.to_string());
                        }
                    }
                    "unlock" => {
                        if let Some(name) = first_param().as_str() {
                            self.locks.remove(name);
                        }
                    }
                    "monitor_cancel" => {
                        self.monitors.remove(&first_param().to_string());
                    }
                    _ => {}
                }
                conn.request(
                    id,
                    &method.clone(),
                    params,
                    Pending::Call {
                        method,
                        reply,
                        lock,
                    },
                );
            }
            Command::Notify { method, params } => {
                // ovsdb-server abandons a cancelled transaction without replying (contrary to
                // RFC 7047, which specifies a "canceled" error), so complete it here.
                if let Some(id) = cancelled_id(&method, &params) {
                    if let Some(Pending::Call { method, reply, .. }) = conn.pending.remove(&id) {
                        let _ = reply.send(Err(canceled(method)));
                    }
                }
                conn.send(Message::Notification(Notification { method, params }));
            }
            Command::Monitor { id, state, reply } => {
                let key = state.id.to_string();
                if self.monitors.contains_key(&key) {
                    let _ = reply.send(Err(Error::Protocol(format!(
                        "monitor id {key} is already in use"
                    ))));
                    return;
                }
                conn.request(
                    id,
                    state.kind.method(),
                    state.params(),
                    Pending::Monitor {
                        key: key.clone(),
                        reply: Some(reply),
                    },
                );
                self.monitors.insert(key, state);
            }
        }
    }

    fn handle_incoming(&mut self, conn: &mut Connection, json: Json) {
        let message = match Message::from_json(json) {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring malformed message from ovsdb-server");
                return;
            }
        };
        match message {
            Message::Response(response) => self.handle_response(conn, response),
            Message::Request(request) => {
                let reply = if request.method == "echo" {
                    Response::ok(request.id, request.params)
                } else {
                    Response {
                        id: request.id,
                        result: Json::Null,
                        error: json!({"error": "unknown method", "details": request.method}),
                    }
                };
                conn.send(Message::Response(reply));
            }
            Message::Notification(notification) => self.handle_notification(conn, notification),
        }
    }

    fn handle_response(&mut self, conn: &mut Connection, response: Response) {
        let Some(pending) = response.id.as_u64().and_then(|id| conn.pending.remove(&id)) else {
            tracing::debug!(id = %response.id, "response to an unknown request");
            return;
        };
        let failed = !response.error.is_null();
        match pending {
            Pending::Call {
                method,
                reply,
                lock,
            } => {
                let result = if failed {
                    Err(Error::Rpc {
                        method,
                        error: response.error,
                    })
                } else {
                    if let Some(name) = lock {
                        if locked_flag(&response.result).unwrap_or(false) {
                            self.locks.insert(name, true);
                        }
                    }
                    Ok(response.result)
                };
                let _ = reply.send(result);
            }
            Pending::Monitor { key, reply } => {
                self.handle_monitor_reply(conn, key, reply, response);
            }
            Pending::Relock { name } => {
                if failed {
                    tracing::warn!(lock = %name, error = %response.error, "re-requesting lock failed");
                } else if locked_flag(&response.result).unwrap_or(false)
                    && self.locks.contains_key(&name)
                {
                    self.locks.insert(name.clone(), true);
                    let _ = self.lock_events.send(LockEvent::Locked(name));
                }
            }
            Pending::Probe | Pending::Ignore => {}
        }
    }

    fn handle_monitor_reply(
        &mut self,
        conn: &mut Connection,
        key: String,
        reply: Option<oneshot::Sender<Result<()>>>,
        response: Response,
    ) {
        let fail = |reply: Option<oneshot::Sender<Result<()>>>, error: Error| match reply {
            Some(reply) => {
                let _ = reply.send(Err(error));
            }
            None => tracing::warn!(monitor = %key, %error, "re-establishing monitor failed"),
        };
        let Some(state) = self.monitors.get_mut(&key) else {
            // Cancelled while the request was in flight.
            fail(
                reply,
                Error::Protocol(format!("monitor {key} was cancelled")),
            );
            return;
        };
        if !response.error.is_null() {
            let method = state.kind.method().to_string();
            self.monitors.remove(&key);
            fail(
                reply,
                Error::Rpc {
                    method,
                    error: response.error,
                },
            );
            return;
        }
        let snapshot = match state.reset(&response.result) {
            Ok(snapshot) => snapshot,
            Err(error) => {
                self.monitors.remove(&key);
                self.cancel_monitor_on_server(conn, &key);
                fail(reply, error);
                return;
            }
        };
        let event = if state.established {
            MonitorEvent::Reconnected(snapshot)
        } else {
            MonitorEvent::Initial(snapshot)
        };
        state.established = true;
        let delivered = state.events.send(event).is_ok()
            && reply.is_none_or(|reply| reply.send(Ok(())).is_ok());
        if !delivered {
            self.monitors.remove(&key);
            self.cancel_monitor_on_server(conn, &key);
        }
    }

    fn cancel_monitor_on_server(&self, conn: &mut Connection, key: &str) {
        let id: Json = serde_json::from_str(key).unwrap_or(Json::Null);
        conn.request(
            self.status.next_id(),
            "monitor_cancel",
            json!([id]),
            Pending::Ignore,
        );
    }

    fn handle_notification(&mut self, conn: &mut Connection, notification: Notification) {
        let params = notification
            .params
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        match (notification.method.as_str(), params) {
            ("update" | "update2", [id, updates, ..]) => {
                let key = id.to_string();
                let Some(state) = self.monitors.get_mut(&key) else {
                    tracing::debug!(monitor = %key, "update for an unknown monitor");
                    return;
                };
                let events = match state.apply(updates) {
                    Ok(events) => events,
                    Err(error) => {
                        tracing::warn!(monitor = %key, %error, "ignoring bad monitor update");
                        return;
                    }
                };
                if events.into_iter().any(|e| state.events.send(e).is_err()) {
                    self.monitors.remove(&key);
                    self.cancel_monitor_on_server(conn, &key);
                }
            }
            ("locked", [Json::String(name), ..]) => {
                if self.locks.contains_key(name) {
                    self.locks.insert(name.clone(), true);
                }
                let _ = self.lock_events.send(LockEvent::Locked(name.clone()));
            }
            ("stolen", [Json::String(name), ..]) => {
                if let Some(held) = self.locks.get_mut(name) {
                    *held = false;
                }
                let _ = self.lock_events.send(LockEvent::Stolen(name.clone()));
            }
            (method, _) => tracing::debug!(method, "ignoring notification"),
        }
    }

    fn on_tick(&mut self, conn: &mut Connection) -> Result<(), String> {
        conn.pending.retain(|_, pending| match pending {
            Pending::Call { reply, .. } => !reply.is_closed(),
            _ => true,
        });
        let interval = self.options.probe_interval;
        if interval.is_zero() {
            return Ok(());
        }
        match conn.probe_sent {
            Some(sent) if sent.elapsed() >= interval => {
                Err(format!("no reply to inactivity probe within {interval:?}"))
            }
            Some(_) => Ok(()),
            None if conn.last_received.elapsed() >= interval => {
                let id = self.status.next_id();
                conn.request(id, "echo", json!(["probe"]), Pending::Probe);
                conn.probe_sent = Some(Instant::now());
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn on_disconnect(&mut self, conn: Connection, reason: &str) {
        self.status.set_disconnected(reason.to_string());
        let lost = || Error::NotConnected {
            remote: self.remote.to_string(),
            reason: format!("connection lost before the reply: {reason}"),
        };
        for pending in conn.pending.into_values() {
            match pending {
                Pending::Call { reply, .. } => {
                    let _ = reply.send(Err(lost()));
                }
                Pending::Monitor {
                    key,
                    reply: Some(reply),
                } => {
                    self.monitors.remove(&key);
                    let _ = reply.send(Err(lost()));
                }
                _ => {}
            }
        }
        for (name, held) in self.locks.iter_mut() {
            if std::mem::take(held) {
                let _ = self.lock_events.send(LockEvent::Lost(name.clone()));
            }
        }
    }
}

/// The request id of a `cancel` notification.
fn cancelled_id(method: &str, params: &Json) -> Option<u64> {
    (method == "cancel").then(|| params.get(0)?.as_u64())?
}

fn canceled(method: String) -> Error {
    Error::Rpc {
        method,
        error: json!("canceled"),
    }
}

async fn write_loop<W: AsyncWrite>(
    mut writer: WriteHalf<W>,
    mut outgoing: mpsc::UnboundedReceiver<Vec<u8>>,
) -> Result<(), String> {
    while let Some(mut batch) = outgoing.recv().await {
        while batch.len() < READ_BUFFER {
            match outgoing.try_recv() {
                Ok(more) => batch.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        writer
            .write_all(&batch)
            .await
            .map_err(|e| format!("write failed: {}", io_reason(&e)))?;
        writer
            .flush()
            .await
            .map_err(|e| format!("write failed: {}", io_reason(&e)))?;
    }
    Ok(())
}
