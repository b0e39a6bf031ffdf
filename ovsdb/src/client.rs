//! The public client: a cheap-to-clone handle that sends commands to one background connection
//! task (see `connection`), which owns the socket, reconnects, answers echo probes and keeps
//! monitors and locks alive across reconnects.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value as Json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use uuid::Uuid;

use crate::connection::{self, Command, Status};
use crate::error::{Error, Result};
use crate::monitor::{
    monitored_columns, Monitor, MonitorKind, MonitorRequest, MonitorState, TableUpdates,
};
use crate::ops::{Operation, OperationResult, ResultItem};
use crate::remote::{Remote, TlsConfig};
use crate::schema::Schema;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Upper bound of every request, including the wait for a connection.
    pub request_timeout: Duration,
    /// Certificates for `ssl:` remotes.
    pub tls: Option<TlsConfig>,
    /// After this long without traffic the client sends an echo; if that gets no reply within
    /// another interval the connection is dropped and re-established. Zero disables probing.
    pub probe_interval: Duration,
    /// Longest wait between reconnection attempts.
    pub max_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            request_timeout: Duration::from_secs(4),
            tls: None,
            probe_interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(1),
        }
    }
}

/// Identifies a request so that it can be cancelled (RFC 7047 `cancel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// Lock notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockEvent {
    /// The lock was granted after having been requested (`locked` notification, or granted
    /// again when re-requested after a reconnect).
    Locked(String),
    /// Another client stole the lock (`stolen` notification); the request stays queued.
    Stolen(String),
    /// The connection holding the lock was lost; it is re-requested after reconnecting.
    Lost(String),
}

/// The successful outcome of a transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransactOutcome {
    /// One result per operation.
    pub results: Vec<OperationResult>,
    /// Uuids of inserted rows by uuid-name.
    pub uuid_names: BTreeMap<String, Uuid>,
}

impl TransactOutcome {
    /// The real uuid of the row inserted with this uuid-name.
    pub fn uuid_of(&self, uuid_name: &str) -> Option<Uuid> {
        self.uuid_names.get(uuid_name).copied()
    }

    /// The rows returned by the select at operation `index`.
    pub fn rows(&self, index: usize) -> &[crate::value::Row] {
        self.results
            .get(index)
            .and_then(|r| r.rows.as_deref())
            .unwrap_or(&[])
    }

    /// The count returned by the update/mutate/delete at operation `index` (0 if none).
    pub fn count(&self, index: usize) -> u64 {
        self.results.get(index).and_then(|r| r.count).unwrap_or(0)
    }
}

/// Handle to an OVSDB server connection. Clones share the connection.
#[derive(Debug, Clone)]
pub struct Client {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    remote: Remote,
    options: ClientOptions,
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Status>,
    generation: watch::Receiver<u64>,
    lock_events: broadcast::Sender<LockEvent>,
    schemas: Mutex<HashMap<String, Arc<Schema>>>,
}

impl Client {
    /// Starts the connection task and returns immediately; the task connects and reconnects in
    /// the background. Must be called inside a Tokio runtime.
    pub fn start(remote: Remote, options: ClientOptions) -> Client {
        let (commands_tx, commands_rx) = mpsc::unbounded_channel();
        let (generation_tx, generation_rx) = watch::channel(0);
        let (lock_events, _) = broadcast::channel(64);
        let status = Arc::new(Status::new());
        tokio::spawn(connection::run(
            remote.clone(),
            options.clone(),
            commands_rx,
            status.clone(),
            generation_tx,
            lock_events.clone(),
        ));
        Client {
            shared: Arc::new(Shared {
                remote,
                options,
                commands: commands_tx,
                status,
                generation: generation_rx,
                lock_events,
                schemas: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Like [`Client::start`], but waits (up to the request timeout) for the first connection.
    pub async fn connect(remote: Remote, options: ClientOptions) -> Result<Client> {
        let client = Client::start(remote, options);
        let mut generation = client.connection_events();
        let waited = tokio::time::timeout(
            client.shared.options.request_timeout,
            generation.wait_for(|g| *g > 0),
        )
        .await;
        match waited {
            Ok(Ok(_)) => Ok(client),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(client.not_connected()),
        }
    }

    pub fn remote(&self) -> &Remote {
        &self.shared.remote
    }

    pub fn options(&self) -> &ClientOptions {
        &self.shared.options
    }

    pub fn is_connected(&self) -> bool {
        self.shared.status.is_connected()
    }

    /// Why the client is not connected (the last connection error), or `None` while connected.
    pub fn connection_error(&self) -> Option<String> {
        (!self.is_connected()).then(|| self.shared.status.last_error())
    }

    /// A counter incremented on every successful (re)connection.
    pub fn connection_events(&self) -> watch::Receiver<u64> {
        self.shared.generation.clone()
    }

    /// `locked` / `stolen` notifications and lost locks.
    pub fn lock_events(&self) -> broadcast::Receiver<LockEvent> {
        self.shared.lock_events.subscribe()
    }

    /// A fresh id for [`Client::transact_with_id`] / [`Client::cancel`].
    pub fn new_request_id(&self) -> RequestId {
        RequestId(self.shared.status.next_id())
    }

    fn not_connected(&self) -> Error {
        Error::NotConnected {
            remote: self.shared.remote.to_string(),
            reason: self.shared.status.last_error(),
        }
    }

    fn send(&self, command: Command) -> Result<()> {
        self.shared
            .commands
            .send(command)
            .map_err(|_| Error::Closed)
    }

    async fn await_reply<T>(&self, method: &str, reply: oneshot::Receiver<Result<T>>) -> Result<T> {
        let timeout = self.shared.options.request_timeout;
        match tokio::time::timeout(timeout, reply).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) if self.is_connected() => Err(Error::Timeout {
                method: method.to_string(),
                after: timeout,
            }),
            Err(_) => Err(self.not_connected()),
        }
    }

    /// Sends an arbitrary request and returns its `result`.
    pub async fn call(&self, method: &str, params: Json) -> Result<Json> {
        self.call_with_id(self.new_request_id(), method, params)
            .await
    }

    async fn call_with_id(&self, id: RequestId, method: &str, params: Json) -> Result<Json> {
        let (reply, receiver) = oneshot::channel();
        self.send(Command::Call {
            id: id.0,
            method: method.to_string(),
            params,
            reply,
        })?;
        self.await_reply(method, receiver).await
    }

    /// `list_dbs`.
    pub async fn list_dbs(&self) -> Result<Vec<String>> {
        let result = self.call("list_dbs", json!([])).await?;
        serde_json::from_value(result.clone()).map_err(|_| {
            Error::Protocol(format!("list_dbs result is not a list of names: {result}"))
        })
    }

    /// `get_schema`.
    pub async fn get_schema(&self, db: &str) -> Result<Schema> {
        let raw = self.call("get_schema", json!([db])).await?;
        Schema::from_json(raw)
    }

    /// The schema of `db`, fetched once per client.
    pub async fn schema(&self, db: &str) -> Result<Arc<Schema>> {
        if let Some(schema) = self.shared.schemas.lock().unwrap().get(db) {
            return Ok(schema.clone());
        }
        let schema = Arc::new(self.get_schema(db).await?);
        self.shared
            .schemas
            .lock()
            .unwrap()
            .insert(db.to_string(), schema.clone());
        Ok(schema)
    }

    /// `echo`: checks that the server answers.
    pub async fn echo(&self) -> Result<()> {
        let params = json!(["ovsdb-rs", self.shared.status.next_id()]);
        let result = self.call("echo", params.clone()).await?;
        if result != params {
            return Err(Error::Protocol(format!(
                "echo returned {result} instead of {params}"
            )));
        }
        Ok(())
    }

    /// `transact`: runs the operations atomically. Any failed operation (or a failed commit,
    /// reported after the per-operation results) becomes [`Error::Transaction`].
    pub async fn transact(&self, db: &str, operations: Vec<Operation>) -> Result<TransactOutcome> {
        self.transact_with_id(self.new_request_id(), db, operations)
            .await
    }

    /// `transact` with a caller-chosen id, so that it can be cancelled with [`Client::cancel`].
    pub async fn transact_with_id(
        &self,
        id: RequestId,
        db: &str,
        operations: Vec<Operation>,
    ) -> Result<TransactOutcome> {
        let names: Vec<Option<String>> = operations
            .iter()
            .map(|op| op.uuid_name().map(str::to_string))
            .collect();
        let mut params = vec![json!(db)];
        params.extend(operations.iter().map(Operation::to_json));
        let result = self
            .call_with_id(id, "transact", Json::Array(params))
            .await?;
        transact_outcome(&result, &names)
    }

    /// `cancel`: asks the server to abandon the request with this id (only requests that are
    /// still waiting, such as a transaction blocked in a `wait` operation, can be cancelled).
    /// The cancelled request fails with `Error::Rpc { error: "canceled", .. }`; a transaction
    /// that already completed on the server is not undone.
    pub fn cancel(&self, id: RequestId) -> Result<()> {
        self.send(Command::Notify {
            method: "cancel".into(),
            params: json!([id.0]),
        })
    }

    /// `monitor`: reports changes with `update` notifications.
    pub async fn monitor(
        &self,
        db: &str,
        monitor_id: impl Into<Json>,
        requests: BTreeMap<String, MonitorRequest>,
    ) -> Result<Monitor> {
        if requests.values().any(|r| !r.r#where.is_empty()) {
            return Err(Error::Protocol(
                "monitor conditions need monitor_cond".to_string(),
            ));
        }
        self.start_monitor(MonitorKind::Plain, db, monitor_id.into(), requests)
            .await
    }

    /// `monitor_cond`: reports changes with `update2` notifications, filtered by each table's
    /// `where` conditions.
    pub async fn monitor_cond(
        &self,
        db: &str,
        monitor_id: impl Into<Json>,
        requests: BTreeMap<String, MonitorRequest>,
    ) -> Result<Monitor> {
        self.start_monitor(MonitorKind::Conditional, db, monitor_id.into(), requests)
            .await
    }

    async fn start_monitor(
        &self,
        kind: MonitorKind,
        db: &str,
        id: Json,
        requests: BTreeMap<String, MonitorRequest>,
    ) -> Result<Monitor> {
        let schema = self.schema(db).await?;
        let columns = monitored_columns(&schema, &requests)?;
        let conditional = kind == MonitorKind::Conditional;
        let requests_json = Json::Object(
            requests
                .iter()
                .map(|(table, request)| (table.clone(), request.to_json(conditional)))
                .collect(),
        );
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (reply, receiver) = oneshot::channel();
        self.send(Command::Monitor {
            id: self.shared.status.next_id(),
            state: MonitorState {
                db: db.to_string(),
                id: id.clone(),
                kind,
                requests: requests_json,
                columns,
                events: events_tx,
                cache: TableUpdates::new(),
                established: false,
            },
            reply,
        })?;
        self.await_reply(kind.method(), receiver).await?;
        Ok(Monitor {
            id,
            client: self.clone(),
            events: events_rx,
        })
    }

    /// `monitor_cancel`: stops a monitor (its event channel closes).
    pub async fn monitor_cancel(&self, monitor_id: impl Into<Json>) -> Result<()> {
        self.call("monitor_cancel", json!([monitor_id.into()]))
            .await
            .map(drop)
    }

    /// `lock`: returns true if the lock was granted at once; otherwise a
    /// [`LockEvent::Locked`] follows when it is.
    pub async fn lock(&self, name: &str) -> Result<bool> {
        let result = self.call("lock", json!([name])).await?;
        locked_flag(&result)
    }

    /// `steal`: takes the lock from its current owner.
    pub async fn steal(&self, name: &str) -> Result<()> {
        self.call("steal", json!([name])).await.map(drop)
    }

    /// `unlock`: releases the lock (or gives up waiting for it).
    pub async fn unlock(&self, name: &str) -> Result<()> {
        self.call("unlock", json!([name])).await.map(drop)
    }
}

pub(crate) fn locked_flag(result: &Json) -> Result<bool> {
    result
        .get("locked")
        .and_then(Json::as_bool)
        .ok_or_else(|| Error::Protocol(format!("lock result without \"locked\": {result}")))
}

/// Interprets a transact result array.
fn transact_outcome(result: &Json, names: &[Option<String>]) -> Result<TransactOutcome> {
    let items = result
        .as_array()
        .ok_or_else(|| Error::Protocol(format!("transact result is not an array: {result}")))?;
    let mut outcome = TransactOutcome::default();
    let mut skipped = None;
    for (index, item) in items.iter().enumerate() {
        match ResultItem::from_json(item).map_err(Error::Protocol)? {
            ResultItem::Error { error, details } => {
                return Err(Error::Transaction {
                    index,
                    error,
                    details,
                })
            }
            ResultItem::Skipped => skipped = skipped.or(Some(index)),
            ResultItem::Ok(op_result) => {
                if let (Some(Some(name)), Some(uuid)) = (names.get(index), op_result.uuid) {
                    outcome.uuid_names.insert(name.clone(), uuid);
                }
                if index < names.len() {
                    outcome.results.push(op_result);
                }
            }
        }
    }
    if let Some(index) = skipped {
        return Err(Error::Protocol(format!(
            "operation {index} was not executed but no error was reported"
        )));
    }
    if outcome.results.len() < names.len() {
        return Err(Error::Protocol(format!(
            "transact returned {} results for {} operations",
            outcome.results.len(),
            names.len()
        )));
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_maps_uuid_names() {
        let a = Uuid::new_v4();
        let outcome = transact_outcome(
            &json!([{"uuid": ["uuid", a.to_string()]}, {"count": 1}, {}]),
            &[Some("a".into()), None, None],
        )
        .unwrap();
        assert_eq!(outcome.uuid_of("a"), Some(a));
        assert_eq!(outcome.uuid_of("b"), None);
        assert_eq!(outcome.count(1), 1);
        assert_eq!(outcome.results.len(), 3);
    }

    #[test]
    fn outcome_reports_operation_errors() {
        let err = transact_outcome(
            &json!([{}, {"error": "constraint violation", "details": "no"}, null]),
            &[None, None, None],
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Transaction { index: 1, ref error, ref details }
                if error == "constraint violation" && details.as_deref() == Some("no")),
            "{err:?}"
        );
    }

    #[test]
    fn outcome_reports_trailing_commit_error() {
        let err = transact_outcome(
            &json!([{"uuid": ["uuid", Uuid::new_v4().to_string()]}, {"error": "referential integrity violation", "details": "dangling"}]),
            &[None],
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Transaction { index: 1, ref error, .. } if error == "referential integrity violation"),
            "{err:?}"
        );
    }

    #[test]
    fn outcome_rejects_short_or_silent_failures() {
        assert!(matches!(
            transact_outcome(&json!([{}]), &[None, None]),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            transact_outcome(&json!([{}, null]), &[None, None]),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            transact_outcome(&json!({}), &[None]),
            Err(Error::Protocol(_))
        ));
    }
}
