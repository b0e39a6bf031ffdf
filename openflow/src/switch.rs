//! [`Switch`]: a cloneable handle to one switch connection, with request/reply helpers for
//! flows, bundles and statistics.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, oneshot, watch};

use crate::codec::error_msg::ErrorMsg;
use crate::codec::flow::{AggregateStats, FlowFilter, FlowMod, FlowRemoved, FlowStats};
use crate::codec::multipart::{MultipartBody, MultipartReply, MultipartRequest};
use crate::codec::port::{Port, PortStats, PortStatus, SwitchDesc, TableStats};
use crate::codec::{
    self, BundleControl, BundleCtrlType, Message, PacketIn, PacketOut, SwitchConfig,
    SwitchFeatures, Version, BUNDLE_ATOMIC, BUNDLE_ORDERED,
};
use crate::connection::{self, ErrorRange, ErrorSink, Pending, Shared};
use crate::error::FlowModFailure;
use crate::transport::{Target, TlsFiles};
use crate::{port, Error};

/// Connection settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Versions offered in the hello; the highest common one is used.
    pub versions: Vec<Version>,
    /// Bound on each request (including large batches and bundle commits).
    pub request_timeout: Duration,
    /// Idle time before we send an echo request, and the time we wait for its reply
    /// before reconnecting.
    pub echo_interval: Duration,
    pub connect_timeout: Duration,
    /// First reconnect delay; doubles after each failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Certificates for `ssl:` targets.
    pub tls: Option<TlsFiles>,
    /// Capacity of the event broadcast channel (slow subscribers lag and skip events).
    pub event_capacity: usize,
    /// Sent in a SET_CONFIG after each (re)connect. OVS sends asynchronous messages
    /// (packet-in, port status, flow removed) to service connections such as
    /// `<bridge>.mgmt` only when this is nonzero. `None` leaves the switch config alone.
    pub miss_send_len: Option<u16>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            versions: vec![Version::V1_3, Version::V1_4],
            request_timeout: Duration::from_secs(30),
            echo_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            tls: None,
            event_capacity: 1024,
            miss_send_len: Some(crate::codec::action::CONTROLLER_MAX_LEN_NO_BUFFER),
        }
    }
}

/// Asynchronous messages and connection changes, delivered to [`Switch::subscribe`]rs.
#[derive(Clone, Debug)]
pub enum Event {
    Connected(Version),
    /// The connection dropped (or an attempt failed); a reconnect follows.
    Disconnected(String),
    PacketIn(Box<PacketIn>),
    FlowRemoved(Box<FlowRemoved>),
    PortStatus(Box<PortStatus>),
    /// An error whose xid matches no outstanding request.
    Error {
        xid: u32,
        error: ErrorMsg,
    },
    /// Any other message not matched to a request.
    Other {
        xid: u32,
        message: Box<Message>,
    },
}

/// Closes the connection task when the last handle is dropped.
struct Owner {
    shared: Arc<Shared>,
    _shutdown: watch::Sender<()>,
}

/// A handle to one switch. Cheap to clone and usable from many tasks at once; one
/// background task per switch owns the socket and reconnects as needed.
#[derive(Clone)]
pub struct Switch {
    owner: Arc<Owner>,
}

/// Alias: the same handle seen as a connection.
pub type Connection = Switch;

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch")
            .field("target", &self.shared().target.to_string())
            .field("version", &self.version())
            .finish()
    }
}

impl Switch {
    /// Starts connecting to `target` (ovs-ofctl syntax, e.g. `unix:/run/openvswitch/br0.mgmt`)
    /// in the background and returns at once. Must be called inside a tokio runtime.
    pub fn connect(target: &str, options: Options) -> Result<Switch, Error> {
        Self::connect_target(Target::parse(target)?, options)
    }

    /// Like [`Switch::connect`] with a parsed target.
    pub fn connect_target(target: Target, options: Options) -> Result<Switch, Error> {
        let tls = match (&target, &options.tls) {
            (Target::Ssl { .. }, Some(files)) => Some(crate::transport::client_config(files)?),
            (Target::Ssl { .. }, None) => {
                return Err(Error::Tls("ssl: target needs Options::tls".into()));
            }
            _ => None,
        };
        let shared = Arc::new(Shared::new(target, options));
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        tokio::spawn(connection::run(shared.clone(), tls, shutdown_rx));
        Ok(Switch {
            owner: Arc::new(Owner {
                shared,
                _shutdown: shutdown_tx,
            }),
        })
    }

    /// Connects and waits until the handshake is done (or `options.connect_timeout` passes).
    pub async fn connect_and_wait(target: &str, options: Options) -> Result<Switch, Error> {
        let timeout = options.connect_timeout;
        let switch = Self::connect(target, options)?;
        switch.wait_connected(timeout).await?;
        Ok(switch)
    }

    fn shared(&self) -> &Shared {
        &self.owner.shared
    }

    /// The target this handle connects to.
    pub fn target(&self) -> String {
        self.shared().target.to_string()
    }

    /// The negotiated version while connected.
    pub fn version(&self) -> Option<Version> {
        *self.shared().connected.borrow()
    }

    pub fn is_connected(&self) -> bool {
        self.version().is_some()
    }

    /// Waits until connected; returns the negotiated version.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<Version, Error> {
        let mut rx = self.shared().connected.subscribe();
        let wait = async move { rx.wait_for(Option::is_some).await.map(|v| *v) };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(v)) => Ok(v.unwrap_or(Version::V1_3)),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(self.not_connected()),
        }
    }

    /// Subscribes to packet-ins, port status, flow removed and connection events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared().events.subscribe()
    }

    fn not_connected(&self) -> Error {
        let reason = self.shared().lock().last_error.clone();
        Error::NotConnected {
            target: self.target(),
            reason,
        }
    }

    /// Encodes messages (one xid each, starting at a fresh xid), registers the pending
    /// entries built by `register` and queues the bytes as one write.
    fn submit(
        &self,
        messages: &[Message],
        register: impl FnOnce(u32, &mut dyn FnMut(u32, Pending)),
    ) -> Result<(u32, Version), Error> {
        self.submit_on(None, messages, register)
            .map(|(first, version, _)| (first, version))
    }

    /// [`Switch::submit`], on the connection numbered `connection` when given: a request
    /// that belongs to one connection's state (a bundle) must not go to a newer one.
    /// Returns the connection's number too.
    fn submit_on(
        &self,
        connection: Option<u64>,
        messages: &[Message],
        register: impl FnOnce(u32, &mut dyn FnMut(u32, Pending)),
    ) -> Result<(u32, Version, u64), Error> {
        let shared = self.shared();
        let (version, generation) = {
            let state = shared.lock();
            let live = state.live.as_ref().ok_or_else(|| Error::NotConnected {
                target: shared.target.to_string(),
                reason: state.last_error.clone(),
            })?;
            (live.version, live.generation)
        };
        if connection.is_some_and(|pinned| pinned != generation) {
            return Err(self.reconnected());
        }
        let count =
            u32::try_from(messages.len()).map_err(|_| Error::UnexpectedReply("too many"))?;
        let first = shared.xids(count.max(1));
        let mut bytes = Vec::with_capacity(messages.len() * 128);
        for (i, m) in messages.iter().enumerate() {
            codec::encode(version, first.wrapping_add(i as u32), m, &mut bytes)?;
        }
        let mut state = shared.lock();
        let live = match &state.live {
            Some(live) if live.generation == generation => live,
            _ => return Err(self.not_connected_locked(&state.last_error)),
        };
        let tx = live.tx.clone();
        let mut insert = |xid, p| {
            state.pending.insert(xid, p);
        };
        register(first, &mut insert);
        if tx.send(bytes).is_err() {
            return Err(self.not_connected_locked("connection closing"));
        }
        Ok((first, version, generation))
    }

    fn reconnected(&self) -> Error {
        Error::ConnectionLost {
            target: self.target(),
            reason: "the switch reconnected in the middle of the request".to_string(),
        }
    }

    fn not_connected_locked(&self, reason: &str) -> Error {
        Error::NotConnected {
            target: self.target(),
            reason: reason.to_string(),
        }
    }

    /// Stops waiting for a reply to `xid`.
    fn forget(&self, xid: u32) {
        self.shared().lock().pending.remove(&xid);
    }

    /// Stops collecting errors for the batch that starts at xid `first`.
    fn forget_errors(&self, first: u32) {
        self.shared()
            .lock()
            .error_ranges
            .retain(|range| range.first != first);
    }

    async fn await_reply<T>(
        &self,
        rx: oneshot::Receiver<Result<T, Error>>,
        xid: u32,
    ) -> Result<T, Error> {
        let timeout = self.shared().options.request_timeout;
        let result = match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout(timeout)),
        };
        self.forget(xid);
        result
    }

    /// Sends a request and waits for its single reply (an error reply becomes
    /// [`Error::Switch`]). Not for multipart requests; see [`Switch::multipart`].
    pub async fn request(&self, message: Message) -> Result<Message, Error> {
        let (tx, rx) = oneshot::channel();
        let (xid, _) = self.submit(std::slice::from_ref(&message), |first, insert| {
            insert(first, Pending::Reply(tx))
        })?;
        self.await_reply(rx, xid).await
    }

    /// Sends a message that has no reply. Errors for it arrive as [`Event::Error`].
    pub fn send(&self, message: Message) -> Result<u32, Error> {
        Ok(self.submit(std::slice::from_ref(&message), |_, _| {})?.0)
    }

    /// Sends a multipart request and returns the reassembled reply.
    pub async fn multipart(&self, request: MultipartRequest) -> Result<MultipartBody, Error> {
        let (tx, rx) = oneshot::channel::<Result<MultipartReply, Error>>();
        let (xid, _) = self.submit(&[Message::MultipartRequest(request)], |first, insert| {
            insert(first, Pending::Multipart { merged: None, tx })
        })?;
        Ok(self.await_reply(rx, xid).await?.body)
    }

    /// Round trip of an echo request.
    pub async fn echo(&self) -> Result<Duration, Error> {
        let start = tokio::time::Instant::now();
        match self.request(Message::EchoRequest(Vec::new())).await? {
            Message::EchoReply(_) => Ok(start.elapsed()),
            other => Err(Error::UnexpectedReply(other.name())),
        }
    }

    /// Waits until the switch has processed everything sent before.
    pub async fn barrier(&self) -> Result<(), Error> {
        match self.request(Message::BarrierRequest).await? {
            Message::BarrierReply => Ok(()),
            other => Err(Error::UnexpectedReply(other.name())),
        }
    }

    pub async fn features(&self) -> Result<SwitchFeatures, Error> {
        match self.request(Message::FeaturesRequest).await? {
            Message::FeaturesReply(f) => Ok(f),
            other => Err(Error::UnexpectedReply(other.name())),
        }
    }

    pub async fn get_config(&self) -> Result<SwitchConfig, Error> {
        match self.request(Message::GetConfigRequest).await? {
            Message::GetConfigReply(c) => Ok(c),
            other => Err(Error::UnexpectedReply(other.name())),
        }
    }

    /// Sets the switch configuration and waits for a barrier (so errors are reported).
    pub async fn set_config(&self, config: SwitchConfig) -> Result<(), Error> {
        self.send_batch(vec![Message::SetConfig(config)])
            .await
            .map_err(first_failure)
    }

    /// Sends a packet out and waits for a barrier (so errors are reported).
    pub async fn packet_out(&self, packet: PacketOut) -> Result<(), Error> {
        self.send_batch(vec![Message::PacketOut(packet)])
            .await
            .map_err(first_failure)
    }

    /// Sends messages without replies followed by one barrier, all in one write, and
    /// returns the errors the switch reported for them.
    async fn send_batch(&self, messages: Vec<Message>) -> Result<(), Error> {
        let errors = ErrorSink::default();
        let count = batch_len(messages.len())?;
        let mut messages = messages.iter();
        let batch = self
            .send_with_barrier(
                None,
                count,
                Queueing::AllOrNothing,
                &errors,
                |xid, version, out| {
                    let message = messages.next().expect("one message per xid");
                    codec::encode(version, xid, message, out)
                },
            )
            .await?;
        let first = batch.first;
        drop(batch);
        failures_to_result(collect_failures(&errors, first))
    }

    /// Sends `count` messages that have no replies, the one with xid `first + i` encoded
    /// by the `i`-th call of `encode(xid, version, out)`, then a barrier, and waits for the
    /// barrier's reply; on the connection numbered `connection` when given. The switch's
    /// errors for the messages go to `errors`, also after the barrier (a bundle commit
    /// reports with the adds' xids), for as long as the returned [`ErrorRangeGuard`] lives.
    async fn send_with_barrier(
        &self,
        connection: Option<u64>,
        count: u32,
        queueing: Queueing,
        errors: &ErrorSink,
        mut encode: impl FnMut(u32, Version, &mut Vec<u8>) -> Result<(), codec::EncodeError>,
    ) -> Result<ErrorRangeGuard<'_>, Error> {
        let shared = self.shared();
        let first = shared.xids(
            count
                .checked_add(1)
                .ok_or(Error::UnexpectedReply("too many"))?,
        );
        let barrier = first.wrapping_add(count);
        let (reply_tx, reply_rx) = oneshot::channel();
        let (version, tx, range) = {
            let mut state = shared.lock();
            let Some(live) = &state.live else {
                return Err(self.not_connected_locked(&state.last_error));
            };
            if connection.is_some_and(|pinned| pinned != live.generation) {
                return Err(self.reconnected());
            }
            let (version, tx) = (live.version, live.tx.clone());
            state.error_ranges.push(ErrorRange {
                first,
                count,
                sink: errors.clone(),
            });
            state.pending.insert(barrier, Pending::Reply(reply_tx));
            // From here on the range goes away however this function ends, also when its
            // future is dropped.
            (
                version,
                tx,
                ErrorRangeGuard {
                    switch: self,
                    first,
                },
            )
        };
        let closing = || self.not_connected_locked("connection closing");
        let queued = (|| {
            let mut out = Vec::with_capacity(match queueing {
                Queueing::Streamed => STREAM_CHUNK_BYTES + 1024,
                Queueing::AllOrNothing => count as usize * 128 + 16,
            });
            for i in 0..count {
                encode(first.wrapping_add(i), version, &mut out)?;
                if queueing == Queueing::Streamed && out.len() >= STREAM_CHUNK_BYTES {
                    let capacity = out.capacity();
                    let chunk = std::mem::replace(&mut out, Vec::with_capacity(capacity));
                    tx.send(chunk).map_err(|_| closing())?;
                }
            }
            codec::encode(version, barrier, &Message::BarrierRequest, &mut out)?;
            tx.send(out).map_err(|_| closing())
        })();
        if let Err(e) = queued {
            self.forget(barrier);
            return Err(e);
        }
        match self.await_reply(reply_rx, barrier).await {
            Ok(Message::BarrierReply) => Ok(range),
            Ok(other) => Err(Error::UnexpectedReply(other.name())),
            Err(e) => Err(e),
        }
    }

    /// Sends flow_mods followed by a barrier, batched into as few writes as possible.
    /// Not atomic: on [`Error::FlowMods`] the listed flow_mods failed and the rest applied.
    pub async fn send_flow_mods(&self, flow_mods: Vec<FlowMod>) -> Result<(), Error> {
        self.send_batch(flow_mods.into_iter().map(Message::FlowMod).collect())
            .await
    }

    /// Applies flow_mods atomically in a bundle (OpenFlow 1.4 bundles, or the OVS/ONF
    /// extension on OpenFlow 1.3): open, add each, commit. If the switch rejects any of
    /// them nothing is applied, the bundle is discarded and [`Error::Bundle`] is returned
    /// (with the index and error of each rejected flow_mod when the switch names them).
    pub async fn bundle(&self, flow_mods: Vec<FlowMod>) -> Result<(), Error> {
        let bundle_id = self.shared().next_bundle_id.fetch_add(1, Ordering::Relaxed);
        let flags = BUNDLE_ATOMIC | BUNDLE_ORDERED;
        let control = |ctrl_type| {
            Message::BundleControl(BundleControl {
                bundle_id,
                ctrl_type,
                flags,
                properties: Vec::new(),
            })
        };
        let count = batch_len(flow_mods.len())?;
        // The open goes ahead of the adds on the same connection without waiting for its
        // reply: the switch handles them in order, and a failed open is seen before the
        // commit (the adds then fail too, or land in a bundle discarded below). A bundle
        // lives in one connection, so the adds and the commit must go to the same one.
        let open = self.start_bundle_control(None, control(BundleCtrlType::OpenRequest))?;
        let connection = open.connection;
        // If this future is dropped half-way, the bundle is discarded without waiting.
        let mut pending_discard = PendingDiscard {
            switch: self,
            connection,
            discard: Some(control(BundleCtrlType::DiscardRequest)),
        };
        let errors = ErrorSink::default();
        let mut flow_mods = flow_mods.into_iter();
        // Streamed: the switch starts on the first adds while we encode the rest. A flow_mod
        // that fails to encode stops the stream halfway, which is harmless here: the bundle
        // is discarded below and nothing was applied.
        let added = self
            .send_with_barrier(
                Some(connection),
                count,
                Queueing::Streamed,
                &errors,
                |xid, version, out| {
                    let flow_mod =
                        Message::FlowMod(flow_mods.next().expect("one flow_mod per xid"));
                    codec::encode_bundle_add(version, xid, bundle_id, flags, &flow_mod, out)
                },
            )
            .await;
        let opened = self
            .finish_bundle_control(open, BundleCtrlType::OpenReply)
            .await;
        let result = match (opened, added) {
            (Ok(()), Ok(range)) => {
                // A message rejected when it is added would not stop the commit from
                // applying the others, so the barrier above waited for such errors. OVS
                // reports errors found at commit time with the xid of the failing add, so
                // the add xids stay registered (`range`) until the commit is answered.
                let rejected = collect_failures(&errors, range.first);
                if rejected.is_empty() {
                    let commit = control(BundleCtrlType::CommitRequest);
                    let committed = self
                        .bundle_control(Some(connection), commit, BundleCtrlType::CommitReply)
                        .await;
                    let first = range.first;
                    drop(range);
                    let failures = collect_failures(&errors, first);
                    match committed {
                        Ok(()) => {
                            pending_discard.discard = None;
                            return Ok(());
                        }
                        Err(Error::Bundle { error, .. }) => Err(Error::Bundle { error, failures }),
                        Err(Error::Switch(error)) => Err(Error::Bundle { error, failures }),
                        Err(e) => Err(e),
                    }
                } else {
                    let error = rejected[0].error.clone();
                    Err(Error::Bundle {
                        error,
                        failures: rejected,
                    })
                }
            }
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
        };
        // A bundle dies with its connection, and nothing of this one went to another.
        let discard = pending_discard.discard.take();
        if let Some(discard) = discard.filter(|_| {
            !matches!(
                result,
                Err(Error::NotConnected { .. } | Error::ConnectionLost { .. })
            )
        }) {
            let _ = self
                .bundle_control(Some(connection), discard, BundleCtrlType::DiscardReply)
                .await;
        }
        result
    }

    async fn bundle_control(
        &self,
        connection: Option<u64>,
        message: Message,
        expect: BundleCtrlType,
    ) -> Result<(), Error> {
        let started = self.start_bundle_control(connection, message)?;
        self.finish_bundle_control(started, expect).await
    }

    /// Queues a bundle control request (on the connection numbered `connection` when
    /// given); [`Switch::finish_bundle_control`] waits for its reply.
    fn start_bundle_control(
        &self,
        connection: Option<u64>,
        message: Message,
    ) -> Result<StartedBundleControl, Error> {
        let Message::BundleControl(ctrl) = &message else {
            return Err(Error::UnexpectedReply("bundle control"));
        };
        let bundle_id = ctrl.bundle_id;
        let (tx, reply) = oneshot::channel();
        let (xid, _, connection) = self.submit_on(
            connection,
            std::slice::from_ref(&message),
            |first, insert| insert(first, Pending::Reply(tx)),
        )?;
        Ok(StartedBundleControl {
            xid,
            bundle_id,
            connection,
            reply,
        })
    }

    async fn finish_bundle_control(
        &self,
        started: StartedBundleControl,
        expect: BundleCtrlType,
    ) -> Result<(), Error> {
        match self.await_reply(started.reply, started.xid).await {
            Ok(Message::BundleControl(reply))
                if reply.ctrl_type == expect && reply.bundle_id == started.bundle_id =>
            {
                Ok(())
            }
            Ok(other) => Err(Error::UnexpectedReply(other.name())),
            Err(Error::Switch(error)) if error.is_bundle_error() => Err(Error::Bundle {
                error,
                failures: Vec::new(),
            }),
            Err(e) => Err(e),
        }
    }

    /// Flow statistics for the flows matching `filter`.
    pub async fn flow_stats(&self, filter: FlowFilter) -> Result<Vec<FlowStats>, Error> {
        match self.multipart(MultipartRequest::Flow(filter)).await? {
            MultipartBody::Flow(v) => Ok(v),
            _ => Err(Error::UnexpectedReply("multipart reply of another type")),
        }
    }

    /// Packet, byte and flow counts over the flows matching `filter`.
    pub async fn aggregate(&self, filter: FlowFilter) -> Result<AggregateStats, Error> {
        match self.multipart(MultipartRequest::Aggregate(filter)).await? {
            MultipartBody::Aggregate(a) => Ok(a),
            _ => Err(Error::UnexpectedReply("multipart reply of another type")),
        }
    }

    /// Counters of every port.
    pub async fn port_stats(&self) -> Result<Vec<PortStats>, Error> {
        self.port_stats_for(port::ANY).await
    }

    /// Counters of one port (`port::ANY` for all).
    pub async fn port_stats_for(&self, port_no: u32) -> Result<Vec<PortStats>, Error> {
        match self.multipart(MultipartRequest::PortStats(port_no)).await? {
            MultipartBody::PortStats(v) => Ok(v),
            _ => Err(Error::UnexpectedReply("multipart reply of another type")),
        }
    }

    /// Descriptions of every port.
    pub async fn port_desc(&self) -> Result<Vec<Port>, Error> {
        match self.multipart(MultipartRequest::PortDesc).await? {
            MultipartBody::PortDesc(v) => Ok(v),
            _ => Err(Error::UnexpectedReply("multipart reply of another type")),
        }
    }

    /// Per-table counters.
    pub async fn table_stats(&self) -> Result<Vec<TableStats>, Error> {
        match self.multipart(MultipartRequest::Table).await? {
            MultipartBody::Table(v) => Ok(v),
            _ => Err(Error::UnexpectedReply("multipart reply of another type")),
        }
    }

    /// Manufacturer, software and datapath description.
    pub async fn desc(&self) -> Result<SwitchDesc, Error> {
        match self.multipart(MultipartRequest::Desc).await? {
            MultipartBody::Desc(d) => Ok(d),
            _ => Err(Error::UnexpectedReply("multipart reply of another type")),
        }
    }
}

/// A bundle control request on its way, waiting for its reply.
struct StartedBundleControl {
    xid: u32,
    bundle_id: u32,
    /// The number of the connection it went to.
    connection: u64,
    reply: oneshot::Receiver<Result<Message, Error>>,
}

/// A batch's registered error range, forgotten when this is dropped: also when the future
/// that holds it is cancelled.
struct ErrorRangeGuard<'a> {
    switch: &'a Switch,
    first: u32,
}

impl Drop for ErrorRangeGuard<'_> {
    fn drop(&mut self) {
        self.switch.forget_errors(self.first);
    }
}

/// The discard a bundle still owes the switch. Sent without waiting when dropped (a
/// cancelled [`Switch::bundle`]), so that no half-filled bundle stays open in the switch.
struct PendingDiscard<'a> {
    switch: &'a Switch,
    /// The bundle's connection: on another one there is nothing to discard.
    connection: u64,
    discard: Option<Message>,
}

impl Drop for PendingDiscard<'_> {
    fn drop(&mut self) {
        if let Some(discard) = self.discard.take() {
            let message = std::slice::from_ref(&discard);
            let _ = self
                .switch
                .submit_on(Some(self.connection), message, |_, _| {});
        }
    }
}

/// How [`Switch::send_with_barrier`] hands a batch to the connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Queueing {
    /// Encoded in full before any of it is queued.
    AllOrNothing,
    /// Queued in chunks of [`STREAM_CHUNK_BYTES`] as it is encoded.
    Streamed,
}

/// About 500 flow_mods: big enough for few wake-ups of the writer, small enough that the
/// switch gets its first messages long before the last are encoded.
const STREAM_CHUNK_BYTES: usize = 64 * 1024;

fn batch_len(len: usize) -> Result<u32, Error> {
    u32::try_from(len).map_err(|_| Error::UnexpectedReply("too many messages in one batch"))
}

fn collect_failures(errors: &Mutex<Vec<(u32, ErrorMsg)>>, first: u32) -> Vec<FlowModFailure> {
    let mut failures: Vec<FlowModFailure> = errors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .drain(..)
        .map(|(xid, error)| FlowModFailure {
            index: xid.wrapping_sub(first) as usize,
            error,
        })
        .collect();
    failures.sort_by_key(|f| f.index);
    failures
}

fn failures_to_result(failures: Vec<FlowModFailure>) -> Result<(), Error> {
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::FlowMods { failures })
    }
}

fn first_failure(e: Error) -> Error {
    match e {
        Error::FlowMods { mut failures } if !failures.is_empty() => {
            Error::Switch(failures.swap_remove(0).error)
        }
        e => e,
    }
}
