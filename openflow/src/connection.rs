//! The connection task: owns the socket of one switch, negotiates the version, writes
//! batches queued by [`crate::Switch`] handles, routes replies to waiting requests by xid,
//! reassembles multipart replies, answers and sends echoes, and reconnects with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_rustls::rustls;

use crate::codec::error_msg::ErrorMsg;
use crate::codec::multipart::MultipartReply;
use crate::codec::{self, DecodeError, Header, Hello, Message, Version};
use crate::transport::{self, BoxStream, Target};
use crate::{Error, Event, Options};

/// What a waiting request wants for its xid.
pub(crate) enum Pending {
    /// The single reply (or error) to a request.
    Reply(oneshot::Sender<Result<Message, Error>>),
    /// Multipart fragments merged until the last one.
    Multipart {
        merged: Option<MultipartReply>,
        tx: oneshot::Sender<Result<MultipartReply, Error>>,
    },
}

/// Where the errors for a run of messages without replies (flow_mods, bundle adds) go,
/// with the xid of the message each is about.
pub(crate) type ErrorSink = Arc<Mutex<Vec<(u32, ErrorMsg)>>>;

/// `count` consecutive xids from `first` whose errors go to `sink`. One entry per batch
/// rather than one per message: a batch of 10,000 flow_mods costs one insertion.
pub(crate) struct ErrorRange {
    pub(crate) first: u32,
    pub(crate) count: u32,
    pub(crate) sink: ErrorSink,
}

impl ErrorRange {
    fn contains(&self, xid: u32) -> bool {
        xid.wrapping_sub(self.first) < self.count
    }
}

/// A live connection as seen by the handles.
pub(crate) struct Live {
    pub(crate) version: Version,
    pub(crate) generation: u64,
    pub(crate) tx: mpsc::UnboundedSender<Vec<u8>>,
}

pub(crate) struct State {
    pub(crate) live: Option<Live>,
    pub(crate) pending: HashMap<u32, Pending>,
    /// Batches waiting for a barrier or commit; few at a time, so a list.
    pub(crate) error_ranges: Vec<ErrorRange>,
    /// Why the last connection attempt or connection failed.
    pub(crate) last_error: String,
}

/// State shared by the task and all handles.
pub(crate) struct Shared {
    pub(crate) target: Target,
    pub(crate) options: Options,
    pub(crate) state: Mutex<State>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) connected: watch::Sender<Option<Version>>,
    next_xid: AtomicU32,
    pub(crate) next_bundle_id: AtomicU32,
}

impl Shared {
    pub(crate) fn new(target: Target, options: Options) -> Shared {
        let (events, _) = broadcast::channel(options.event_capacity.max(1));
        let (connected, _) = watch::channel(None);
        Shared {
            target,
            options,
            state: Mutex::new(State {
                live: None,
                pending: HashMap::new(),
                error_ranges: Vec::new(),
                last_error: "not connected yet".into(),
            }),
            events,
            connected,
            next_xid: AtomicU32::new(1),
            next_bundle_id: AtomicU32::new(1),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves `n` consecutive xids (never 0).
    pub(crate) fn xids(&self, n: u32) -> u32 {
        loop {
            let first = self.next_xid.fetch_add(n, Ordering::Relaxed);
            if first != 0 && first.checked_add(n).is_some() {
                return first;
            }
        }
    }
}

/// Runs until every handle is dropped (`shutdown` closes).
pub(crate) async fn run(
    shared: Arc<Shared>,
    tls: Option<Arc<rustls::ClientConfig>>,
    mut shutdown: watch::Receiver<()>,
) {
    let mut backoff = shared.options.backoff_initial;
    let mut generation = 0u64;
    loop {
        let attempt = async {
            let mut stream =
                transport::open(&shared.target, tls.as_ref(), shared.options.connect_timeout)
                    .await?;
            let (version, leftover) = handshake(&mut stream, &shared.options).await?;
            Ok::<_, Error>((stream, version, leftover))
        };
        let result = tokio::select! {
            r = attempt => r,
            _ = shutdown.changed() => break,
        };
        let reason = match result {
            Ok((stream, version, leftover)) => {
                generation += 1;
                let connected_at = Instant::now();
                let reason = tokio::select! {
                    r = serve(&shared, stream, version, generation, leftover) => r,
                    _ = shutdown.changed() => {
                        disconnect(&shared, "connection closed by client".into());
                        break;
                    }
                };
                if connected_at.elapsed() > shared.options.backoff_max {
                    backoff = shared.options.backoff_initial;
                }
                reason
            }
            Err(e) => e.to_string(),
        };
        tracing::info!(target = %shared.target, %reason, "openflow connection down, retrying in {backoff:?}");
        disconnect(&shared, reason);
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => break,
        }
        backoff = (backoff * 2).min(shared.options.backoff_max);
    }
    disconnect(&shared, "connection closed by client".into());
}

/// Marks the connection down and fails every outstanding request.
fn disconnect(shared: &Shared, reason: String) {
    let pending = {
        let mut state = shared.lock();
        state.live = None;
        state.last_error = reason.clone();
        state.error_ranges.clear();
        std::mem::take(&mut state.pending)
    };
    shared.connected.send_replace(None);
    let lost = || Error::ConnectionLost {
        target: shared.target.to_string(),
        reason: reason.clone(),
    };
    for (_, p) in pending {
        match p {
            Pending::Reply(tx) => {
                let _ = tx.send(Err(lost()));
            }
            Pending::Multipart { tx, .. } => {
                let _ = tx.send(Err(lost()));
            }
        }
    }
    let _ = shared.events.send(Event::Disconnected(reason));
}

/// Exchanges hellos and picks the highest common version. Returns the bytes received
/// after the switch's hello.
async fn handshake(
    stream: &mut BoxStream,
    options: &Options,
) -> Result<(Version, BytesMut), Error> {
    let ours: Vec<u8> = options.versions.iter().map(|v| v.wire()).collect();
    let max_ours = options
        .versions
        .iter()
        .copied()
        .max()
        .ok_or_else(|| Error::Negotiation("no OpenFlow version allowed in options".into()))?;
    let hello = Message::Hello(Hello {
        versions: ours.clone(),
    });
    stream
        .write_all(&codec::encode_to_vec(max_ours, 0, &hello)?)
        .await?;
    stream.flush().await?;
    let mut buf = BytesMut::with_capacity(1024);
    let read_hello = async {
        loop {
            match codec::check(&buf) {
                Ok(len) => {
                    let frame = buf.split_to(len);
                    return codec::decode(&frame).map_err(Error::from);
                }
                Err(DecodeError::Incomplete) => {}
                Err(e) => return Err(e.into()),
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(Error::Negotiation("connection closed during hello".into()));
            }
        }
    };
    let (header, message) = tokio::time::timeout(options.request_timeout, read_hello)
        .await
        .map_err(|_| Error::Negotiation("no hello from switch".into()))??;
    let theirs = match message {
        Message::Hello(h) => h.versions,
        Message::Error(e) => return Err(Error::Negotiation(format!("switch sent {e}"))),
        other => {
            return Err(Error::Negotiation(format!(
                "expected HELLO, got {}",
                other.name()
            )))
        }
    };
    let chosen = if theirs.is_empty() {
        options
            .versions
            .iter()
            .copied()
            .filter(|v| v.wire() <= header.version)
            .max()
    } else {
        options
            .versions
            .iter()
            .copied()
            .filter(|v| theirs.contains(&v.wire()))
            .max()
    };
    match chosen {
        Some(v) => Ok((v, buf)),
        None => {
            let err = Message::Error(ErrorMsg {
                error_type: 0,
                code: 0,
                experimenter: None,
                data: b"no common OpenFlow version".to_vec(),
            });
            let _ = stream
                .write_all(&codec::encode_to_vec(max_ours, 0, &err)?)
                .await;
            Err(Error::Negotiation(format!(
                "switch supports versions {theirs:?} (hello version {:#x}), we allow {ours:?}",
                header.version
            )))
        }
    }
}

/// Serves one established connection until it fails; returns the reason.
async fn serve(
    shared: &Arc<Shared>,
    stream: BoxStream,
    version: Version,
    generation: u64,
    leftover: BytesMut,
) -> String {
    let (reader, writer) = tokio::io::split(stream);
    let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
    if let Some(miss_send_len) = shared.options.miss_send_len {
        let config = Message::SetConfig(codec::SwitchConfig {
            flags: 0,
            miss_send_len,
        });
        if let Ok(bytes) = codec::encode_to_vec(version, shared.xids(1), &config) {
            let _ = tx.send(bytes);
        }
    }
    {
        let mut state = shared.lock();
        state.live = Some(Live {
            version,
            generation,
            tx: tx.clone(),
        });
    }
    shared.connected.send_replace(Some(version));
    let _ = shared.events.send(Event::Connected(version));
    tracing::info!(target = %shared.target, %version, "openflow connected");
    let mut writer_task = tokio::spawn(write_loop(writer, rx));
    let reason = tokio::select! {
        r = read_loop(shared, reader, version, &tx, leftover) => r,
        r = &mut writer_task => match r {
            Ok(Err(e)) => format!("write failed: {e}"),
            _ => "writer stopped".into(),
        },
    };
    writer_task.abort();
    reason
}

/// Writes queued batches, coalescing whatever is ready into as few writes as possible.
async fn write_loop(
    writer: WriteHalf<BoxStream>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) -> std::io::Result<()> {
    let mut writer = BufWriter::with_capacity(256 * 1024, writer);
    while let Some(chunk) = rx.recv().await {
        writer.write_all(&chunk).await?;
        while let Ok(chunk) = rx.try_recv() {
            writer.write_all(&chunk).await?;
        }
        writer.flush().await?;
    }
    Ok(())
}

async fn read_loop(
    shared: &Arc<Shared>,
    mut reader: ReadHalf<BoxStream>,
    version: Version,
    tx: &mpsc::UnboundedSender<Vec<u8>>,
    mut buf: BytesMut,
) -> String {
    let interval = shared.options.echo_interval;
    buf.reserve(64 * 1024);
    let mut last_rx = Instant::now();
    let mut echo_sent: Option<(u32, Instant)> = None;
    loop {
        loop {
            let len = match codec::check(&buf) {
                Ok(len) => len,
                Err(DecodeError::Incomplete) => break,
                Err(e) => return format!("bad framing: {e}"),
            };
            let frame = buf.split_to(len);
            dispatch(shared, version, &frame, tx);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        let deadline = match echo_sent {
            Some((_, sent)) => sent + interval,
            None => last_rx + interval,
        };
        tokio::select! {
            read = reader.read_buf(&mut buf) => {
                match read {
                    Ok(0) => return "connection closed by switch".into(),
                    Ok(_) => {}
                    Err(e) => return format!("read failed: {e}"),
                }
                last_rx = Instant::now();
                echo_sent = None;
            }
            _ = tokio::time::sleep_until(deadline) => {
                if echo_sent.is_some() {
                    return format!("no echo reply within {interval:?}");
                }
                let xid = shared.xids(1);
                match codec::encode_to_vec(version, xid, &Message::EchoRequest(Vec::new())) {
                    Ok(bytes) => {
                        let _ = tx.send(bytes);
                    }
                    Err(e) => return format!("encode echo: {e}"),
                }
                echo_sent = Some((xid, Instant::now()));
            }
        }
    }
}

/// Handles one received message.
fn dispatch(shared: &Shared, version: Version, frame: &[u8], tx: &mpsc::UnboundedSender<Vec<u8>>) {
    let header = match codec::Header::parse(frame) {
        Ok(h) => h,
        Err(_) => return,
    };
    let message = match codec::decode(frame) {
        Ok((_, m)) => m,
        Err(e) => {
            tracing::warn!(
                xid = header.xid,
                msg_type = header.msg_type,
                "undecodable message: {e}"
            );
            complete(shared, header, Err(Error::Decode(e)));
            return;
        }
    };
    match message {
        Message::EchoRequest(data) => {
            if let Ok(bytes) = codec::encode_to_vec(version, header.xid, &Message::EchoReply(data))
            {
                let _ = tx.send(bytes);
            }
        }
        Message::Error(e) => route_error(shared, header, e),
        Message::PacketIn(p) => {
            let _ = shared.events.send(Event::PacketIn(Box::new(p)));
        }
        Message::FlowRemoved(f) => {
            let _ = shared.events.send(Event::FlowRemoved(Box::new(f)));
        }
        Message::PortStatus(p) => {
            let _ = shared.events.send(Event::PortStatus(Box::new(p)));
        }
        Message::Hello(_) => {}
        Message::MultipartReply(part) => route_multipart(shared, header, part),
        other => complete(shared, header, Ok(other)),
    }
}

fn route_error(shared: &Shared, header: Header, error: ErrorMsg) {
    let mut state = shared.lock();
    if let Some(p) = state.pending.remove(&header.xid) {
        drop(state);
        fail(p, Error::Switch(error));
        return;
    }
    match state.error_ranges.iter().find(|r| r.contains(header.xid)) {
        Some(range) => {
            range
                .sink
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((header.xid, error));
        }
        None => {
            drop(state);
            tracing::debug!(xid = header.xid, "unsolicited error {error}");
            let _ = shared.events.send(Event::Error {
                xid: header.xid,
                error,
            });
        }
    }
}

fn route_multipart(shared: &Shared, header: Header, part: MultipartReply) {
    let mut state = shared.lock();
    let Some(Pending::Multipart { merged, .. }) = state.pending.get_mut(&header.xid) else {
        drop(state);
        complete(shared, header, Ok(Message::MultipartReply(part)));
        return;
    };
    let more = part.more();
    let ok = match merged {
        Some(m) => m.merge(part),
        None => {
            *merged = Some(part);
            true
        }
    };
    if more && ok {
        return;
    }
    if let Some(Pending::Multipart { merged, tx }) = state.pending.remove(&header.xid) {
        drop(state);
        let result = match merged {
            Some(m) if ok => Ok(m),
            _ => Err(Error::UnexpectedReply(
                "multipart fragments of different types",
            )),
        };
        let _ = tx.send(result);
    }
}

/// Delivers a (non-multipart) reply to the request waiting for its xid.
fn complete(shared: &Shared, header: Header, result: Result<Message, Error>) {
    let pending = shared.lock().pending.remove(&header.xid);
    match (pending, result) {
        (Some(Pending::Reply(tx)), result) => {
            let _ = tx.send(result);
        }
        (Some(Pending::Multipart { tx, .. }), Ok(m)) => {
            let _ = tx.send(Err(Error::UnexpectedReply(m.name())));
        }
        (Some(p), Err(e)) => fail(p, e),
        (_, Ok(m)) => {
            tracing::debug!(xid = header.xid, "unsolicited {}", m.name());
            let _ = shared.events.send(Event::Other {
                xid: header.xid,
                message: Box::new(m),
            });
        }
        (None, Err(_)) => {}
    }
}

fn fail(pending: Pending, error: Error) {
    match pending {
        Pending::Reply(tx) => {
            let _ = tx.send(Err(error));
        }
        Pending::Multipart { tx, .. } => {
            let _ = tx.send(Err(error));
        }
    }
}
