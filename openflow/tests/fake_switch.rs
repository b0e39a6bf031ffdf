//! Connection behaviour against a scripted fake switch: timeouts, echo keepalive,
//! multipart reassembly per xid, version negotiation, fail-fast while disconnected.

use std::time::Duration;

use bytes::BytesMut;
use openflow::codec::{self, Header, Hello, Message};
use openflow::{
    Error, Event, FlowFilter, FlowStats, Match, MultipartBody, MultipartReply, Options, Switch,
    Target, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener, UnixStream};

const WAIT: Duration = Duration::from_secs(20);

struct FakeConn<S> {
    stream: S,
    buf: BytesMut,
    version: Version,
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> FakeConn<S> {
    /// Exchanges hellos: we announce `hello` (raw wire versions, or just `header_version`).
    async fn handshake(stream: S, header_version: u8, bitmap: Vec<u8>, version: Version) -> Self {
        let mut conn = FakeConn {
            stream,
            buf: BytesMut::new(),
            version,
        };
        let hello = Message::Hello(Hello {
            versions: bitmap.clone(),
        });
        let mut bytes = codec::encode_to_vec(version, 1, &hello).unwrap();
        bytes[0] = header_version;
        conn.stream.write_all(&bytes).await.unwrap();
        let (_, msg) = conn.recv_any().await.expect("client hello");
        assert!(matches!(msg, Message::Hello(_)), "{msg:?}");
        conn
    }

    async fn recv_any(&mut self) -> Option<(Header, Message)> {
        loop {
            if let Ok(len) = codec::check(&self.buf) {
                let frame = self.buf.split_to(len);
                return Some(codec::decode(&frame).unwrap());
            }
            let n = tokio::time::timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .ok()?
                .ok()?;
            if n == 0 {
                return None;
            }
        }
    }

    /// Next message other than SET_CONFIG.
    async fn recv(&mut self) -> (Header, Message) {
        loop {
            let (h, m) = self.recv_any().await.expect("message from client");
            if !matches!(m, Message::SetConfig(_)) {
                return (h, m);
            }
        }
    }

    async fn send(&mut self, xid: u32, message: &Message) {
        let bytes = codec::encode_to_vec(self.version, xid, message).unwrap();
        self.stream.write_all(&bytes).await.unwrap();
    }
}

fn socket_path(dir: &tempfile::TempDir) -> (std::path::PathBuf, String) {
    let path = dir.path().join("fake.mgmt");
    let target = format!("unix:{}", path.display());
    (path, target)
}

fn options() -> Options {
    Options {
        request_timeout: Duration::from_secs(10),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        miss_send_len: None,
        ..Options::default()
    }
}

async fn accept(listener: &UnixListener) -> UnixStream {
    tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("client connects")
        .unwrap()
        .0
}

fn stats(cookie: u64) -> FlowStats {
    FlowStats {
        table_id: 0,
        duration_sec: 1,
        duration_nsec: 2,
        priority: 3,
        idle_timeout: 0,
        hard_timeout: 0,
        flags: Default::default(),
        importance: 0,
        cookie,
        packet_count: 0,
        byte_count: 0,
        flow_match: Match::new().in_port(cookie as u32),
        instructions: vec![],
    }
}

#[tokio::test]
async fn request_timeout_fails_only_that_request() {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let opts = Options {
        request_timeout: Duration::from_millis(300),
        ..options()
    };
    let sw = Switch::connect(&target, opts).unwrap();
    let mut conn = FakeConn::handshake(accept(&listener).await, 4, vec![4], Version::V1_3).await;
    sw.wait_connected(WAIT).await.unwrap();
    let mut events = sw.subscribe();

    let barrier = tokio::spawn({
        let sw = sw.clone();
        async move { sw.barrier().await }
    });
    let (ignored, msg) = conn.recv().await;
    assert_eq!(msg, Message::BarrierRequest);
    let err = barrier.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");

    // A late reply to the timed-out xid is reported as unsolicited, nothing breaks.
    conn.send(ignored.xid, &Message::BarrierReply).await;
    let echo = tokio::spawn({
        let sw = sw.clone();
        async move { sw.echo().await }
    });
    let (h, msg) = conn.recv().await;
    assert!(matches!(msg, Message::EchoRequest(_)));
    conn.send(h.xid, &Message::EchoReply(vec![])).await;
    echo.await.unwrap().unwrap();
    let late = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(Event::Other { xid, .. }) = events.recv().await {
                return xid;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(late, ignored.xid);
}

#[tokio::test]
async fn answers_echo_requests_from_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let _sw = Switch::connect(&target, options()).unwrap();
    let mut conn = FakeConn::handshake(accept(&listener).await, 5, vec![4, 5], Version::V1_4).await;
    conn.send(0x77, &Message::EchoRequest(b"ping".to_vec()))
        .await;
    let (h, msg) = conn.recv().await;
    assert_eq!((h.xid, h.version), (0x77, 5), "{msg:?}");
    assert_eq!(msg, Message::EchoReply(b"ping".to_vec()));
}

#[tokio::test]
async fn idle_connection_sends_echo_and_reconnects_when_unanswered() {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let opts = Options {
        echo_interval: Duration::from_millis(200),
        ..options()
    };
    let sw = Switch::connect(&target, opts).unwrap();
    let mut events = sw.subscribe();
    let mut conn = FakeConn::handshake(accept(&listener).await, 4, vec![4], Version::V1_3).await;
    let (_, msg) = conn.recv().await;
    assert!(
        matches!(msg, Message::EchoRequest(_)),
        "expected keepalive echo, got {msg:?}"
    );
    // Never answer: the client must give up on this connection and dial again.
    let second = accept(&listener).await;
    let reason = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(Event::Disconnected(reason)) = events.recv().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(reason.contains("echo"), "{reason}");
    let _conn2 = FakeConn::handshake(second, 4, vec![4], Version::V1_3).await;
    sw.wait_connected(WAIT).await.unwrap();
    drop(conn);
}

#[tokio::test]
async fn multipart_fragments_are_reassembled_per_xid() {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let sw = Switch::connect(&target, options()).unwrap();
    let mut conn = FakeConn::handshake(accept(&listener).await, 5, vec![5], Version::V1_4).await;
    sw.wait_connected(WAIT).await.unwrap();

    let a = tokio::spawn({
        let sw = sw.clone();
        async move { sw.flow_stats(FlowFilter::all().table(1)).await }
    });
    let (ha, _) = conn.recv().await;
    let b = tokio::spawn({
        let sw = sw.clone();
        async move { sw.flow_stats(FlowFilter::all().table(2)).await }
    });
    let (hb, _) = conn.recv().await;
    let part = |more: bool, cookies: &[u64]| {
        Message::MultipartReply(MultipartReply {
            flags: u16::from(more),
            body: MultipartBody::Flow(cookies.iter().map(|c| stats(*c)).collect()),
        })
    };
    conn.send(ha.xid, &part(true, &[1, 2])).await;
    conn.send(hb.xid, &part(true, &[10])).await;
    conn.send(ha.xid, &part(true, &[3])).await;
    conn.send(hb.xid, &part(false, &[11, 12])).await;
    conn.send(ha.xid, &part(false, &[])).await;
    let cookies = |v: Vec<FlowStats>| v.into_iter().map(|s| s.cookie).collect::<Vec<_>>();
    assert_eq!(cookies(a.await.unwrap().unwrap()), vec![1, 2, 3]);
    assert_eq!(cookies(b.await.unwrap().unwrap()), vec![10, 11, 12]);
}

#[tokio::test]
async fn error_reply_fails_the_matching_request_only() {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let sw = Switch::connect(&target, options()).unwrap();
    let mut conn = FakeConn::handshake(accept(&listener).await, 4, vec![4], Version::V1_3).await;
    sw.wait_connected(WAIT).await.unwrap();
    let first = tokio::spawn({
        let sw = sw.clone();
        async move { sw.barrier().await }
    });
    let (h1, _) = conn.recv().await;
    let second = tokio::spawn({
        let sw = sw.clone();
        async move { sw.barrier().await }
    });
    let (h2, _) = conn.recv().await;
    let mut data = vec![4, 20, 0, 8];
    data.extend_from_slice(&h1.xid.to_be_bytes());
    let error = openflow::ErrorMsg {
        error_type: 1,
        code: 1,
        experimenter: None,
        data,
    };
    conn.send(h1.xid, &Message::Error(error)).await;
    conn.send(h2.xid, &Message::BarrierReply).await;
    let err = first.await.unwrap().unwrap_err();
    let msg = err.switch_error().expect("switch error");
    assert_eq!(msg.code_name(), "OFPBRC_BAD_TYPE");
    assert_eq!(msg.request_xid(), Some(h1.xid));
    second.await.unwrap().unwrap();
}

#[tokio::test]
async fn fails_fast_while_disconnected_and_connects_when_switch_appears() {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let sw = Switch::connect(&target, options()).unwrap();
    let started = std::time::Instant::now();
    let err = sw.barrier().await.unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(sw.wait_connected(Duration::from_millis(200)).await.is_err());

    let listener = UnixListener::bind(&path).unwrap();
    let mut conn = FakeConn::handshake(accept(&listener).await, 4, vec![4], Version::V1_3).await;
    assert_eq!(sw.wait_connected(WAIT).await.unwrap(), Version::V1_3);
    let barrier = tokio::spawn({
        let sw = sw.clone();
        async move { sw.barrier().await }
    });
    let (h, _) = conn.recv().await;
    conn.send(h.xid, &Message::BarrierReply).await;
    barrier.await.unwrap().unwrap();
}

#[tokio::test]
async fn negotiation_picks_common_version_or_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    // Switch announces 1.0 and 1.3 by bitmap: 1.3 is chosen.
    let sw = Switch::connect(&target, options()).unwrap();
    let _conn = FakeConn::handshake(accept(&listener).await, 4, vec![1, 4], Version::V1_3).await;
    assert_eq!(sw.wait_connected(WAIT).await.unwrap(), Version::V1_3);
    drop(sw);

    // A 1.0-only switch (hello without bitmap) is refused with a clear reason.
    let sw = Switch::connect(&target, options()).unwrap();
    let mut events = sw.subscribe();
    let mut stream = accept(&listener).await;
    stream.write_all(&[1, 0, 0, 8, 0, 0, 0, 1]).await.unwrap();
    let reason = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(Event::Disconnected(reason)) = events.recv().await {
                return reason;
            }
        }
    })
    .await
    .unwrap();
    assert!(reason.contains("version negotiation failed"), "{reason}");
    assert!(!sw.is_connected());
}

#[tokio::test]
async fn tcp_target_works() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sw = Switch::connect(&format!("tcp:{addr}"), options()).unwrap();
    let stream = tokio::time::timeout(WAIT, listener.accept())
        .await
        .unwrap()
        .unwrap()
        .0;
    let mut conn = FakeConn::handshake(stream, 6, vec![], Version::V1_4).await;
    // Hello without bitmap and a newer header version: the highest version we allow.
    assert_eq!(sw.wait_connected(WAIT).await.unwrap(), Version::V1_4);
    let f = tokio::spawn({
        let sw = sw.clone();
        async move { sw.features().await }
    });
    let (h, msg) = conn.recv().await;
    assert_eq!(msg, Message::FeaturesRequest);
    let features = openflow::SwitchFeatures {
        datapath_id: 0xabc,
        n_tables: 254,
        ..Default::default()
    };
    conn.send(h.xid, &Message::FeaturesReply(features)).await;
    assert_eq!(f.await.unwrap().unwrap().datapath_id, 0xabc);
}

#[test]
fn targets_parse_like_ovs_ofctl() {
    assert_eq!(
        Target::parse("unix:/run/br0.mgmt").unwrap(),
        Target::Unix("/run/br0.mgmt".into())
    );
    assert_eq!(
        Target::parse("tcp:127.0.0.1:6653").unwrap(),
        Target::Tcp {
            host: "127.0.0.1".into(),
            port: 6653
        }
    );
    assert_eq!(
        Target::parse("ssl:[::1]:6653").unwrap(),
        Target::Ssl {
            host: "::1".into(),
            port: 6653
        }
    );
    assert_eq!(
        Target::parse("ssl:[::1]:6653").unwrap().to_string(),
        "ssl:[::1]:6653"
    );
    assert_eq!(
        Target::bridge_mgmt("/var/run/openvswitch", "br0").to_string(),
        "unix:/var/run/openvswitch/br0.mgmt"
    );
    for bad in ["tcp:host", "tcp::1", "br0", "unix:", "tcp:h:notaport"] {
        assert!(Target::parse(bad).is_err(), "{bad}");
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let err = Switch::connect("ssl:127.0.0.1:6653", Options::default()).unwrap_err();
        assert!(err.to_string().contains("TLS"), "{err}");
    });
}

/// A client connected to a fake OpenFlow 1.4 switch; the listener takes its reconnections.
struct Of14Session {
    _dir: tempfile::TempDir,
    listener: UnixListener,
    sw: Switch,
    conn: FakeConn<UnixStream>,
}

async fn of14_session() -> Of14Session {
    let dir = tempfile::tempdir().unwrap();
    let (path, target) = socket_path(&dir);
    let listener = UnixListener::bind(&path).unwrap();
    let sw = Switch::connect(&target, options()).unwrap();
    let conn = FakeConn::handshake(accept(&listener).await, 5, vec![5], Version::V1_4).await;
    sw.wait_connected(WAIT).await.unwrap();
    Of14Session {
        _dir: dir,
        listener,
        sw,
        conn,
    }
}

/// `sw.bundle` of one flow per port, in a task of its own.
fn spawn_bundle(
    sw: &Switch,
    ports: std::ops::RangeInclusive<u32>,
) -> tokio::task::JoinHandle<Result<(), Error>> {
    let sw = sw.clone();
    let flows = ports
        .map(|port| openflow::FlowMod::add(0, 1, Match::new().in_port(port)))
        .collect();
    tokio::spawn(async move { sw.bundle(flows).await })
}

/// Answers the bundle control `request` (sent with xid `xid`) with `reply_type`.
async fn answer_bundle_control<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    conn: &mut FakeConn<S>,
    xid: u32,
    request: &codec::BundleControl,
    reply_type: codec::BundleCtrlType,
) {
    let mut reply = request.clone();
    reply.ctrl_type = reply_type;
    conn.send(xid, &Message::BundleControl(reply)).await;
}

/// What the client sent for a bundle, in order, as (message name, bundle control type).
fn bundle_step(message: &Message) -> (&'static str, Option<codec::BundleCtrlType>) {
    match message {
        Message::BundleControl(c) => ("BUNDLE_CONTROL", Some(c.ctrl_type)),
        other => (other.name(), None),
    }
}

#[tokio::test]
async fn bundle_open_travels_with_the_adds_and_a_failed_open_never_commits() {
    use codec::BundleCtrlType::*;
    let mut session = of14_session().await;
    let Of14Session { sw, conn, .. } = &mut session;
    for open_fails in [false, true] {
        let task = spawn_bundle(sw, 1..=2);
        // Open, both adds and the barrier arrive before the switch has answered anything.
        let mut received = Vec::new();
        for _ in 0..4 {
            received.push(conn.recv().await);
        }
        let steps: Vec<_> = received.iter().map(|(_, m)| bundle_step(m)).collect();
        assert_eq!(
            steps,
            [
                ("BUNDLE_CONTROL", Some(OpenRequest)),
                ("BUNDLE_ADD_MESSAGE", None),
                ("BUNDLE_ADD_MESSAGE", None),
                ("BARRIER_REQUEST", None),
            ]
        );
        let (open_header, Message::BundleControl(open)) = &received[0] else {
            unreachable!()
        };
        if open_fails {
            let mut data = vec![5, 33, 0, 16];
            data.extend_from_slice(&open_header.xid.to_be_bytes());
            let error = openflow::ErrorMsg {
                error_type: 17, // OFPET_BUNDLE_FAILED
                code: 3,        // OFPBFC_BUNDLE_EXIST
                experimenter: None,
                data,
            };
            conn.send(open_header.xid, &Message::Error(error)).await;
        } else {
            answer_bundle_control(conn, open_header.xid, open, OpenReply).await;
        }
        conn.send(received[3].0.xid, &Message::BarrierReply).await;
        let (header, next) = conn.recv().await;
        let Message::BundleControl(control) = next else {
            panic!("expected a bundle control, got {next:?}");
        };
        assert_eq!(control.bundle_id, open.bundle_id);
        let (want, answer) = if open_fails {
            (DiscardRequest, DiscardReply)
        } else {
            (CommitRequest, CommitReply)
        };
        assert_eq!(control.ctrl_type, want);
        answer_bundle_control(conn, header.xid, &control, answer).await;
        let result = task.await.unwrap();
        if open_fails {
            match result {
                Err(Error::Bundle { error, failures }) => {
                    assert_eq!(error.code_name(), "OFPBFC_BUNDLE_EXIST");
                    assert!(failures.is_empty());
                }
                other => panic!("expected a bundle error, got {other:?}"),
            }
        } else {
            result.unwrap();
        }
    }
}

/// The next bundle control message, skipping anything else (bundle adds, barriers).
async fn next_bundle_control<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    conn: &mut FakeConn<S>,
) -> (Header, codec::BundleControl) {
    loop {
        if let (header, Message::BundleControl(control)) = conn.recv().await {
            return (header, control);
        }
    }
}

#[tokio::test]
async fn a_cancelled_bundle_is_discarded() {
    use codec::BundleCtrlType::*;
    let mut session = of14_session().await;
    let Of14Session { sw, conn, .. } = &mut session;
    let task = spawn_bundle(sw, 1..=3);
    let (_, open) = next_bundle_control(conn).await;
    assert_eq!(open.ctrl_type, OpenRequest);
    // The caller gives up while the switch has not answered anything.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    let (_, discard) = next_bundle_control(conn).await;
    assert_eq!(
        (discard.ctrl_type, discard.bundle_id),
        (DiscardRequest, open.bundle_id)
    );
}

#[tokio::test]
async fn a_bundle_cut_off_by_a_reconnect_is_never_committed_on_the_new_connection() {
    use codec::BundleCtrlType::*;
    let Of14Session {
        _dir,
        listener,
        sw,
        mut conn,
    } = of14_session().await;
    let task = spawn_bundle(&sw, 1..=3);
    let (open_header, open) = next_bundle_control(&mut conn).await;
    answer_bundle_control(&mut conn, open_header.xid, &open, OpenReply).await;
    // The switch goes away before it answers the barrier after the adds.
    drop(conn);
    let result = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    assert!(
        matches!(result, Err(Error::ConnectionLost { .. })),
        "{result:?}"
    );
    // The bundle died with that connection: the next one gets nothing of it.
    let mut conn = FakeConn::handshake(accept(&listener).await, 5, vec![5], Version::V1_4).await;
    sw.wait_connected(WAIT).await.unwrap();
    let barrier = tokio::spawn({
        let sw = sw.clone();
        async move { sw.barrier().await }
    });
    let (header, first) = conn.recv().await;
    assert!(
        matches!(first, Message::BarrierRequest),
        "the new connection got {first:?} before our barrier"
    );
    conn.send(header.xid, &Message::BarrierReply).await;
    barrier.await.unwrap().unwrap();
}
