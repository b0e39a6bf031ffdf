//! Integration tests against a real ovs-vswitchd (userspace datapath) in a private
//! network namespace, connected through the bridge's `unix:<rundir>/br0.mgmt` socket.

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::{eventually, hex, Ovs};
use openflow::codec::PacketOut;
use openflow::{
    port, Action, Error, Event, FlowFilter, FlowMod, FlowModFlags, Match, Message,
    MultipartRequest, Options, Switch, Version,
};
use tokio::sync::broadcast;

const WAIT: Duration = Duration::from_secs(20);

fn options() -> Options {
    Options {
        request_timeout: Duration::from_secs(30),
        ..Options::default()
    }
}

async fn connect(ovs: &Ovs, versions: &[Version]) -> Switch {
    let opts = Options {
        versions: versions.to_vec(),
        ..options()
    };
    let sw = Switch::connect(&ovs.target(), opts).unwrap();
    sw.wait_connected(WAIT).await.unwrap();
    sw
}

/// Waits for the first event accepted by `pick`.
async fn next_event<T>(
    rx: &mut broadcast::Receiver<Event>,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event channel: {e}"),
            }
        }
    })
    .await
    .expect("timed out waiting for event")
}

fn flow(table: u8, priority: u16, in_port: u32, cookie: u64, out: u32) -> FlowMod {
    FlowMod::add(table, priority, Match::new().in_port(in_port))
        .cookie(cookie)
        .apply(vec![Action::output(out)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negotiates_highest_common_version() {
    let ovs = Ovs::start();
    let both = connect(&ovs, &[Version::V1_3, Version::V1_4]).await;
    assert_eq!(both.version(), Some(Version::V1_4));
    let only13 = connect(&ovs, &[Version::V1_3]).await;
    assert_eq!(only13.version(), Some(Version::V1_3));
    for sw in [&both, &only13] {
        let features = sw.features().await.unwrap();
        assert!(features.n_tables > 0);
        sw.echo().await.unwrap();
        sw.barrier().await.unwrap();
        let desc = sw.desc().await.unwrap();
        assert_eq!(desc.manufacturer, "Nicira, Inc.");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_add_modify_delete_with_cookie_masks() {
    let ovs = Ovs::start();
    for version in [Version::V1_3, Version::V1_4] {
        let sw = connect(&ovs, &[version]).await;
        sw.send_flow_mods(vec![FlowMod::delete(openflow::TABLE_ALL, Match::new())])
            .await
            .unwrap();
        sw.send_flow_mods(vec![
            flow(0, 100, 1, 0x101, 10),
            flow(0, 100, 2, 0x102, 10),
            flow(0, 100, 3, 0x201, 10),
            flow(1, 50, 4, 0x301, 10)
                .idle_timeout(300)
                .hard_timeout(600),
        ])
        .await
        .unwrap();
        let flows = ovs.dump_flows(&[]);
        assert_eq!(flows.len(), 4, "{flows:?}");
        assert!(
            flows.iter().any(|l| l.contains("table=1")
                && l.contains("idle_timeout=300")
                && l.contains("hard_timeout=600")),
            "{flows:?}"
        );

        // Modify only cookies 0x1xx.
        let modify = FlowMod::modify(0, Match::new())
            .cookie_masked(0x100, 0xf00)
            .apply(vec![Action::output(20)]);
        sw.send_flow_mods(vec![modify]).await.unwrap();
        let stats = sw.flow_stats(FlowFilter::all()).await.unwrap();
        let out_of = |cookie: u64| {
            let s = stats.iter().find(|s| s.cookie == cookie).unwrap();
            s.instructions.clone()
        };
        assert_eq!(
            out_of(0x101),
            vec![openflow::Instruction::ApplyActions(vec![Action::output(
                20
            )])]
        );
        assert_eq!(
            out_of(0x102),
            vec![openflow::Instruction::ApplyActions(vec![Action::output(
                20
            )])]
        );
        assert_eq!(
            out_of(0x201),
            vec![openflow::Instruction::ApplyActions(vec![Action::output(
                10
            )])]
        );

        // Modify-strict needs the exact match and priority.
        sw.send_flow_mods(vec![
            FlowMod::modify_strict(0, 99, Match::new().in_port(3)).apply(vec![Action::output(30)]),
            FlowMod::modify_strict(0, 100, Match::new().in_port(2)).apply(vec![Action::output(31)]),
        ])
        .await
        .unwrap();
        let flows = ovs.dump_flows(&["in_port=3"]);
        assert!(flows[0].ends_with("actions=output:10"), "{flows:?}");
        let flows = ovs.dump_flows(&["in_port=2"]);
        assert!(flows[0].ends_with("actions=output:31"), "{flows:?}");

        // Filters: cookie mask, table, out_port, match.
        let f = sw
            .flow_stats(FlowFilter::all().cookie(0x100, 0xf00))
            .await
            .unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(
            sw.flow_stats(FlowFilter::all().table(1))
                .await
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            sw.flow_stats(FlowFilter::all().out_port(10))
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            sw.flow_stats(FlowFilter::all().flow_match(Match::new().in_port(4)))
                .await
                .unwrap()
                .len(),
            1
        );
        let agg = sw.aggregate(FlowFilter::all().table(0)).await.unwrap();
        assert_eq!(agg.flow_count, 3);

        // Delete by cookie mask, then delete-strict with the wrong and right priority.
        sw.send_flow_mods(vec![
            FlowMod::delete(openflow::TABLE_ALL, Match::new()).cookie_masked(0x100, 0xf00)
        ])
        .await
        .unwrap();
        let flows = ovs.dump_flows(&[]);
        assert_eq!(flows.len(), 2, "{flows:?}");
        assert!(
            flows.iter().all(|l| !l.contains("cookie=0x10")),
            "{flows:?}"
        );
        sw.send_flow_mods(vec![FlowMod::delete_strict(1, 49, Match::new().in_port(4))])
            .await
            .unwrap();
        assert_eq!(ovs.dump_flows(&[]).len(), 2);
        sw.send_flow_mods(vec![FlowMod::delete_strict(1, 50, Match::new().in_port(4))])
            .await
            .unwrap();
        assert_eq!(ovs.dump_flows(&[]).len(), 1);
        // out_port filter on delete.
        sw.send_flow_mods(vec![FlowMod::delete(0, Match::new()).out_port(11)])
            .await
            .unwrap();
        assert_eq!(ovs.dump_flows(&[]).len(), 1);
        sw.send_flow_mods(vec![FlowMod::delete(0, Match::new()).out_port(10)])
            .await
            .unwrap();
        assert_eq!(ovs.dump_flows(&[]).len(), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_and_table_stats() {
    let ovs = Ovs::start();
    let p1 = ovs.add_internal_port("p1");
    ovs.link_up("p1");
    let sw = connect(&ovs, &[Version::V1_3, Version::V1_4]).await;
    let ports = sw.port_desc().await.unwrap();
    assert!(
        ports.iter().any(|p| p.port_no == p1 && p.name == "p1"),
        "{ports:?}"
    );
    assert!(
        ports
            .iter()
            .any(|p| p.port_no == port::LOCAL && p.name == "br0"),
        "{ports:?}"
    );
    let stats = sw.port_stats().await.unwrap();
    assert!(stats.iter().any(|s| s.port_no == p1), "{stats:?}");
    assert_eq!(sw.port_stats_for(p1).await.unwrap().len(), 1);

    // Send a packet out of p1 and watch its tx counter.
    let before = sw.port_stats_for(p1).await.unwrap()[0].tx_packets;
    sw.packet_out(PacketOut {
        buffer_id: openflow::NO_BUFFER,
        in_port: port::CONTROLLER,
        actions: vec![Action::output(p1)],
        data: hex(ARP_REQUEST),
    })
    .await
    .unwrap();
    let mut after = before;
    for _ in 0..100 {
        after = sw.port_stats_for(p1).await.unwrap()[0].tx_packets;
        if after > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(after > before, "tx_packets {before} -> {after}");

    sw.send_flow_mods(vec![flow(3, 1, 1, 0, 2), flow(3, 2, 2, 0, 2)])
        .await
        .unwrap();
    let tables = sw.table_stats().await.unwrap();
    assert!(tables.len() > 3);
    assert_eq!(
        tables
            .iter()
            .find(|t| t.table_id == 3)
            .unwrap()
            .active_count,
        2
    );
}

const ARP_REQUEST: &str =
    "ffffffffffff000000000001080600010800060400010000000000010101010100000000\
                           00000a0a0a0a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsolicited_messages_reach_subscribers() {
    let ovs = Ovs::start();
    let sw = connect(&ovs, &[Version::V1_3]).await;
    let mut events = sw.subscribe();
    sw.barrier().await.unwrap(); // the SET_CONFIG enabling async messages is processed

    ovs.add_internal_port("p7");
    let status = next_event(&mut events, |e| match e {
        Event::PortStatus(s) if s.port.name == "p7" => Some(s),
        _ => None,
    })
    .await;
    assert_eq!(status.reason, openflow::PortReason::Add);

    sw.packet_out(PacketOut {
        buffer_id: openflow::NO_BUFFER,
        in_port: port::CONTROLLER,
        actions: vec![Action::controller()],
        data: hex(ARP_REQUEST),
    })
    .await
    .unwrap();
    let packet = next_event(&mut events, |e| match e {
        Event::PacketIn(p) => Some(p),
        _ => None,
    })
    .await;
    assert_eq!(packet.data, hex(ARP_REQUEST));

    let fm = FlowMod::add(2, 7, Match::new().in_port(5))
        .cookie(0xfeed)
        .flags(FlowModFlags::SEND_FLOW_REM);
    sw.send_flow_mods(vec![fm]).await.unwrap();
    sw.send_flow_mods(vec![FlowMod::delete(2, Match::new())])
        .await
        .unwrap();
    let removed = next_event(&mut events, |e| match e {
        Event::FlowRemoved(r) => Some(r),
        _ => None,
    })
    .await;
    assert_eq!(
        (removed.cookie, removed.priority, removed.table_id),
        (0xfeed, 7, 2)
    );
    assert_eq!(
        removed.reason,
        openflow::codec::flow::FlowRemovedReason::Delete
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_commit_and_failing_bundle_is_discarded() {
    let ovs = Ovs::start();
    for version in [Version::V1_3, Version::V1_4] {
        let sw = connect(&ovs, &[version]).await;
        sw.send_flow_mods(vec![FlowMod::delete(openflow::TABLE_ALL, Match::new())])
            .await
            .unwrap();
        let good: Vec<FlowMod> = (1..=50).map(|i| flow(0, 10, i, 0xb0, 1)).collect();
        sw.bundle(good).await.unwrap();
        assert_eq!(
            sw.aggregate(FlowFilter::all()).await.unwrap().flow_count,
            50,
            "{version}"
        );

        // One bad flow (group 77 does not exist) in the middle: nothing may be applied,
        // including a delete of the existing flows.
        let mut bad: Vec<FlowMod> = vec![FlowMod::delete(openflow::TABLE_ALL, Match::new())];
        bad.extend((100..120).map(|i| flow(0, 10, i, 0xbad, 1)));
        bad.insert(
            10,
            FlowMod::add(0, 10, Match::new().in_port(999)).apply(vec![Action::Group(77)]),
        );
        let err = sw.bundle(bad).await.unwrap_err();
        match &err {
            Error::Bundle { error, failures } => {
                assert!(error.code_name().starts_with("OFPB"), "{err}");
                let failing = failures
                    .iter()
                    .find(|f| f.error.code_name() == "OFPBAC_BAD_OUT_GROUP");
                assert_eq!(failing.map(|f| f.index), Some(10), "{err}");
            }
            other => panic!("expected bundle error, got {other}"),
        }
        let stats = sw.flow_stats(FlowFilter::all()).await.unwrap();
        assert_eq!(stats.len(), 50, "{version}: bundle was not atomic");
        assert!(stats.iter().all(|s| s.cookie == 0xb0));

        // Bundles bigger than one streamed chunk: a rejected add far into the stream, and a
        // flow_mod that cannot even be encoded (its actions exceed 64 KiB), both leave the
        // switch untouched.
        let mut big: Vec<FlowMod> = vec![FlowMod::delete(openflow::TABLE_ALL, Match::new())];
        big.extend((1000..4000).map(|i| flow(0, 10, i, 0xb1, 1)));
        big.insert(
            2500,
            FlowMod::add(0, 10, Match::new().in_port(998)).apply(vec![Action::Group(78)]),
        );
        match sw.bundle(big.clone()).await.unwrap_err() {
            Error::Bundle { failures, .. } => {
                let indexes: Vec<usize> = failures.iter().map(|f| f.index).collect();
                assert_eq!(indexes, [2500], "{version}");
            }
            other => panic!("expected bundle error, got {other}"),
        }
        big[2500] = FlowMod::add(0, 10, Match::new()).apply(vec![Action::output(1); 10_000]);
        let err = sw.bundle(big).await.unwrap_err();
        assert!(matches!(err, Error::Encode(_)), "{version}: {err}");
        let stats = sw.flow_stats(FlowFilter::all()).await.unwrap();
        assert_eq!(stats.len(), 50, "{version}: a big bundle was not atomic");
        assert!(stats.iter().all(|s| s.cookie == 0xb0));

        // The connection is still healthy and another bundle works.
        sw.bundle(vec![
            FlowMod::delete(openflow::TABLE_ALL, Match::new()).cookie_masked(0xb0, u64::MAX)
        ])
        .await
        .unwrap();
        assert_eq!(sw.aggregate(FlowFilter::all()).await.unwrap().flow_count, 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_for_one_xid_does_not_disturb_others() {
    let ovs = Ovs::start();
    let sw = connect(&ovs, &[Version::V1_3, Version::V1_4]).await;
    let mut tasks = Vec::new();
    for i in 0..20u32 {
        let sw = sw.clone();
        tasks.push(tokio::spawn(async move {
            match i % 4 {
                0 => {
                    // Unknown multipart type: the switch answers with an error for this xid.
                    let r = sw
                        .multipart(MultipartRequest::Other {
                            mp_type: 0x7777,
                            body: vec![],
                        })
                        .await;
                    let e = r.unwrap_err();
                    let name = e.switch_error().map(|m| m.type_name()).unwrap_or_default();
                    assert_eq!(name, "OFPET_BAD_REQUEST", "{e}");
                }
                1 => {
                    let mut mods: Vec<FlowMod> =
                        (0..10).map(|k| flow(4, 1, 1000 * i + k, 0, 1)).collect();
                    mods.insert(
                        3,
                        FlowMod::add(4, 1, Match::new().in_port(1)).apply(vec![Action::Group(5)]),
                    );
                    match sw.send_flow_mods(mods).await.unwrap_err() {
                        Error::FlowMods { failures } => {
                            assert_eq!(failures.len(), 1);
                            assert_eq!(failures[0].index, 3);
                            assert_eq!(failures[0].error.code_name(), "OFPBAC_BAD_OUT_GROUP");
                        }
                        e => panic!("{e}"),
                    }
                }
                2 => {
                    sw.barrier().await.unwrap();
                    sw.echo().await.unwrap();
                }
                _ => {
                    let r = sw
                        .request(Message::FlowMod(
                            FlowMod::add(250, 1, Match::new())
                                .apply(vec![Action::output(port::ANY)]),
                        ))
                        .await;
                    assert!(matches!(r, Err(Error::Switch(_))), "{r:?}");
                    sw.flow_stats(FlowFilter::all()).await.unwrap();
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    // 5 batches of 10 good flows each were applied despite the failing neighbour.
    assert_eq!(
        sw.aggregate(FlowFilter::all().table(4))
            .await
            .unwrap()
            .flow_count,
        50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_reply_more_is_reassembled() {
    let ovs = Ovs::start();
    let sw = connect(&ovs, &[Version::V1_4]).await;
    let mods: Vec<FlowMod> = (0..3000u32)
        .map(|i| {
            FlowMod::add(
                0,
                100,
                Match::new()
                    .eth_type(0x0800)
                    .ipv4_dst(Ipv4Addr::from(0x0a00_0000 + i)),
            )
            .cookie(u64::from(i))
            .apply(vec![Action::output(1)])
        })
        .collect();
    sw.send_flow_mods(mods).await.unwrap();
    let stats = sw.flow_stats(FlowFilter::all()).await.unwrap();
    // 3000 flows do not fit in one 64 KiB reply: several REPLY_MORE parts were merged.
    assert_eq!(stats.len(), 3001);
    let mut cookies: Vec<u64> = stats.iter().map(|s| s.cookie).filter(|c| *c != 0).collect();
    cookies.sort();
    assert_eq!(cookies, (1..3000).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_vswitchd_restart() {
    let ovs = Ovs::start();
    let opts = Options {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        ..options()
    };
    let sw = Switch::connect(&ovs.target(), opts).unwrap();
    let mut events = sw.subscribe();
    sw.wait_connected(WAIT).await.unwrap();
    sw.send_flow_mods(vec![flow(0, 5, 1, 1, 2)]).await.unwrap();

    ovs.stop_vswitchd();
    next_event(&mut events, |e| {
        matches!(e, Event::Disconnected(_)).then_some(())
    })
    .await;
    assert!(eventually(WAIT, || !sw.is_connected()).await);
    // While down, requests fail fast with a clear error instead of hanging.
    let started = std::time::Instant::now();
    let err = sw.barrier().await.unwrap_err();
    assert!(matches!(err, Error::NotConnected { .. }), "{err}");
    assert!(err.to_string().contains("not connected"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));

    ovs.start_vswitchd();
    let version = next_event(&mut events, |e| match e {
        Event::Connected(v) => Some(v),
        _ => None,
    })
    .await;
    assert_eq!(version, Version::V1_4);
    // Flows are kept in the database? No: OpenFlow flows are not persistent, add again.
    sw.send_flow_mods(vec![flow(0, 5, 1, 1, 2)]).await.unwrap();
    assert_eq!(
        sw.flow_stats(FlowFilter::all().cookie(1, u64::MAX))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Creates a CA and two certificates signed by it with the openssl CLI.
fn make_pki(dir: &std::path::Path) {
    let sh = |args: &str| {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    // rustls (webpki) only accepts X.509 v3 certificates, so give them extensions.
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n",
    )
    .unwrap();
    sh(&format!(
        "openssl req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=openflow-test-ca"
    ));
    for name in ["switch", "controller"] {
        sh(&format!(
            "openssl req {ec} -keyout {name}.key -out {name}.csr -subj /CN={name}"
        ));
        sh(&format!(
            "openssl x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -extfile ext.cnf -out {name}.pem -days 2"
        ));
    }
}

/// `ssl:` against the switch's SSL listener inside its namespace. The client runs on a
/// thread that has entered the namespace, so its sockets live there.
#[test]
fn ssl_target_connects_with_ca_and_client_certificate() {
    use std::os::fd::AsRawFd;

    let ovs = Ovs::start();
    let pki = ovs.path().join("pki");
    std::fs::create_dir(&pki).unwrap();
    make_pki(&pki);
    let p = |f: &str| pki.join(f).display().to_string();
    ovs.vsctl(&["set-ssl", &p("switch.key"), &p("switch.pem"), &p("ca.pem")]);
    ovs.vsctl(&["set-controller", "br0", "pssl:16653:127.0.0.1"]);

    let netns = std::fs::File::open(format!("/var/run/netns/{}", ovs.netns)).unwrap();
    let tls = openflow::TlsFiles {
        private_key: pki.join("controller.key"),
        certificate: pki.join("controller.pem"),
        ca_cert: pki.join("ca.pem"),
    };
    let untrusted = openflow::TlsFiles {
        ca_cert: pki.join("controller.pem"),
        ..tls.clone()
    };
    std::thread::spawn(move || {
        // SAFETY: setns only changes this thread's network namespace.
        let rc = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let opts = Options {
                tls: Some(tls),
                ..options()
            };
            let sw = Switch::connect("ssl:127.0.0.1:16653", opts).unwrap();
            // The listener appears once vswitchd has applied the configuration.
            let version = sw.wait_connected(WAIT).await.unwrap();
            assert_eq!(version, Version::V1_4);
            sw.send_flow_mods(vec![flow(0, 9, 1, 0x55, 2)])
                .await
                .unwrap();
            let stats = sw
                .flow_stats(FlowFilter::all().cookie(0x55, u64::MAX))
                .await
                .unwrap();
            assert_eq!(stats.len(), 1);

            // A client that does not trust the switch's CA never gets connected.
            let opts = Options {
                tls: Some(untrusted),
                ..options()
            };
            let bad = Switch::connect("ssl:127.0.0.1:16653", opts).unwrap();
            let err = bad
                .wait_connected(Duration::from_secs(2))
                .await
                .unwrap_err();
            assert!(err.to_string().contains("not connected"), "{err}");
        });
    })
    .join()
    .unwrap();
    let flows = ovs.dump_flows(&[]);
    assert!(flows.iter().any(|l| l.contains("cookie=0x55")), "{flows:?}");
}

/// OVS sends `move` actions back with Nicira (`NXM_OF_*`, `NXM_NX_*`) headers; they must
/// decode to the fields the flow was installed with, or a diff of desired against installed
/// flows would see a difference where there is none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nicira_actions_read_back_as_sent() {
    use openflow::{Field, FieldRange, Instruction, MacAddr, Oxm};
    let ovs = Ovs::start();
    let sw = connect(&ovs, &[Version::V1_3]).await;
    let owner = MacAddr([0x02, 0, 0, 0, 0, 0x42]);
    let address = Ipv4Addr::new(10, 0, 0, 7);
    let moves = [
        (Field::EthSrc, Field::EthDst),
        (Field::ArpSha, Field::ArpTha),
        (Field::ArpSpa, Field::ArpTpa),
        (Field::Reg(0), Field::Reg(1)),
    ];
    let mut actions: Vec<Action> = moves
        .iter()
        .map(|&(src, dst)| Action::RegMove {
            src: FieldRange::whole(src),
            dst: FieldRange::whole(dst),
        })
        .collect();
    actions.extend([
        Action::SetField(Oxm::mac(Field::EthSrc, owner)),
        Action::SetField(Oxm::int(Field::ArpOp, 2)),
        Action::SetField(Oxm::mac(Field::ArpSha, owner)),
        Action::SetField(Oxm::ipv4(Field::ArpSpa, address)),
        Action::output(port::IN_PORT),
    ]);
    let sent = vec![Instruction::ApplyActions(actions)];
    let mut flow_mod = FlowMod::add(
        0,
        100,
        Match::new().eth_type(0x0806).arp_op(1).arp_tpa(address),
    )
    .cookie(0x77);
    flow_mod.instructions = sent.clone();
    let ipv6_sent = vec![Instruction::ApplyActions(vec![
        Action::RegMove {
            src: FieldRange::whole(Field::Ipv6Src),
            dst: FieldRange::whole(Field::Ipv6Dst),
        },
        Action::output(port::IN_PORT),
    ])];
    let mut ipv6_flow_mod = FlowMod::add(0, 100, Match::new().eth_type(0x86dd)).cookie(0x78);
    ipv6_flow_mod.instructions = ipv6_sent.clone();
    sw.send_flow_mods(vec![flow_mod, ipv6_flow_mod])
        .await
        .unwrap();
    let stats = sw.flow_stats(FlowFilter::all()).await.unwrap();
    for (cookie, sent) in [(0x77, sent), (0x78, ipv6_sent)] {
        let installed = stats
            .iter()
            .find(|s| s.cookie == cookie)
            .unwrap_or_else(|| panic!("flow {cookie:#x} missing"));
        assert_eq!(installed.instructions, sent, "{:?}", ovs.dump_flows(&[]));
    }
}

/// What our crate shows for a flow read back from the switch reads exactly like
/// `ovs-ofctl dump-flows`: flows installed with ovs-ofctl's own syntax, dumped by both, and
/// compared match by match and action list by action list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_read_back_in_ovs_ofctl_syntax() {
    use openflow::codec::action::format_instructions;
    let flows = [
        "priority=1 actions=drop",
        "in_port=LOCAL actions=goto_table:1",
        "in_port=5,dl_src=02:42:0a:14:00:02 actions=LOCAL,output:1",
        "ip,in_port=1,dl_src=02:42:0a:14:00:02,nw_src=10.20.0.2 actions=set_field:0x1->reg0,goto_table:1",
        "ip,nw_src=10.0.0.1,nw_dst=10.0.0.0/8,nw_tos=32,nw_ecn=1 actions=dec_ttl,resubmit(,3)",
        "ip,nw_src=10.0.0.0/255.0.255.0 actions=resubmit:LOCAL,resubmit(1,3)",
        "ip,nw_proto=47 actions=CONTROLLER:65535",
        "ipv6,nw_proto=47 actions=set_queue:3,output:1",
        "ipv6,ipv6_src=fd00::/ffff:0:ffff:: actions=drop",
        "tcp,tp_src=80,tp_dst=0x50/0xfff0 actions=set_field:443->tcp_dst,output:2",
        "udp,tp_src=0x0/0xff00 actions=set_field:53->udp_src,output:2",
        "udp6,ipv6_src=fd00::/64,ipv6_dst=fd00::1,ipv6_label=0x12345,tp_dst=53 actions=set_field:fd00::9->ipv6_src,set_field:0x1->ipv6_label,output:2",
        "sctp,tp_dst=80 actions=set_field:81->sctp_dst,output:2",
        "icmp,icmp_type=8,icmp_code=0 actions=set_field:0->icmp_type,IN_PORT",
        "icmp6,icmp_type=135,nd_target=fe80::/64 actions=drop",
        "icmp6,in_port=1,dl_src=02:42:0a:14:00:02,ipv6_src=::,icmp_type=135,nd_sll=00:00:00:00:00:00 actions=set_field:0x1->reg0,goto_table:1",
        "icmp6,in_port=1,icmp_type=136,nd_target=fd00::2,nd_tll=02:42:0a:14:00:02 actions=set_field:136->icmpv6_type,output:1",
        "arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24,arp_op=1,arp_sha=02:00:00:00:00:01,arp_tha=02:00:00:00:00:00/ff:ff:ff:00:00:00 actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],set_field:02:42:0a:14:00:02->eth_src,set_field:2->arp_op,move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[],move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[],set_field:02:42:0a:14:00:02->arp_sha,set_field:10.20.0.2->arp_spa,IN_PORT",
        "reg0=0x1,reg3=0x5/0xff,tun_id=0x7,metadata=0x10/0xff,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00 actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:2,LOCAL",
        "reg0=0 actions=load:0->NXM_NX_REG1[0..7],load:0x5->NXM_NX_REG2[3..10],set_field:0->reg3,set_field:0x1->metadata,set_field:0x5->tun_id,move:NXM_NX_REG3[0..3]->NXM_NX_REG4[4..7]",
        "dl_vlan=5,dl_vlan_pcp=3 actions=pop_vlan,output:1",
        "vlan_tci=0x0000 actions=push_vlan:0x88a8,output:1",
        "vlan_tci=0x1000/0x1000,dl_vlan_pcp=3 actions=set_field:5->vlan_pcp,output:1",
        "dl_type=0x88cc actions=drop",
        "ip actions=set_field:10.0.0.9->ip_src,set_field:8->ip_dscp,set_field:1->nw_ecn,dec_ttl,output:1",
        "tcp6,ipv6_dst=fd00::/16 actions=clear_actions,write_actions(output:2),write_metadata:0x1/0xff,goto_table:2",
        "ipv6,ipv6_src=::10.0.0.1,ipv6_dst=::1.2.0.0/::255.255.0.0 actions=set_field:::10.0.0.1->ipv6_dst,load:0x12345->NXM_NX_IPV6_LABEL[],output:1",
        "ip,nw_proto=2 actions=load:0x1->NXM_NX_IP_ECN[],move:NXM_NX_IP_ECN[]->NXM_NX_REG0[0..1],load:0x5->NXM_OF_IP_TOS[2..7],output:1",
        "in_port=65520 actions=load:0x5->NXM_OF_IN_PORT[],output:1",
        "dl_vlan=7 actions=load:0x5->OXM_OF_VLAN_VID[],output:1",
        // Fields only shown (OVN and conntrack flows use them).
        "tcp,tcp_flags=+syn-ack actions=drop",
        "tcp6,tp_dst=22,tcp_flags=syn|ack actions=drop",
        "ip,nw_ttl=5,nw_frag=later actions=drop",
        "ip,nw_frag=not_later actions=drop",
        "pkt_mark=0x2/0xff,ct_state=-new+est+trk,ct_zone=5,ct_mark=0x1/0x1,ct_label=0x10000000000000000/0xf0000000000000000,ip,reg0=0x1,metadata=0x1,in_port=1,nw_src=10.0.0.1 actions=drop",
        "ct_state=new|trk,ip actions=drop",
        "conj_id=7,ip actions=drop",
        // Nicira actions only shown (OVN and conntrack flows use them).
        "udp actions=conjunction(7,1/2)",
        "udp6 actions=output:NXM_NX_REG0[],output:NXM_NX_REG1[0..15]",
        "icmp actions=note:01.02.03.00.00.00,output:1",
        "tcp,tp_src=1 actions=ct(commit,table=3,zone=5)",
        "tcp,tp_src=2 actions=ct(table=10,zone=NXM_NX_REG13[0..15])",
        "tcp,tp_src=3 actions=ct(commit,force,zone=5)",
        "tcp,tp_src=4 actions=ct(commit,exec(set_field:0x1->ct_mark,load:0x2->NXM_NX_CT_LABEL[0..7]))",
        "tcp,tp_src=5 actions=ct(commit,nat(src=10.0.0.1-10.0.0.5:1000-2000),exec(set_field:0x1->ct_mark))",
        "tcp,tp_src=6 actions=ct(nat),ct_clear,output:1",
        "tcp,tp_src=7 actions=ct(commit,nat(dst=10.0.0.1:80))",
        "udp,tp_src=1 actions=controller(userdata=00.00.00.0f.00.00.00.00)",
        "udp,tp_src=2 actions=controller(reason=no_match,id=3)",
        "udp,tp_src=3 actions=controller(max_len=100,userdata=01.02,pause)",
        "udp,tp_src=4 actions=controller(reason=invalid_ttl)",
        "udp,tp_src=5 actions=controller(meter_id=5)",
    ];
    // Fields the crate does not know: they must not break the dump, and still show.
    let unmodelled = ["ip,tun_src=1.2.3.4 actions=drop"];
    let ovs = Ovs::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flows.txt");
    let text: String = flows
        .iter()
        .chain(&unmodelled)
        .enumerate()
        .map(|(index, flow)| {
            let (matches, actions) = flow.split_once(" actions=").unwrap();
            let matches = if matches.starts_with("priority=") {
                matches.to_string()
            } else {
                format!("priority=100,{matches}")
            };
            format!("cookie={:#x},{matches},actions={actions}\n", index + 1)
        })
        .collect();
    std::fs::write(&file, text).unwrap();
    ovs.ofctl("OpenFlow13", "add-flows", &[file.to_str().unwrap()]);

    let sw = connect(&ovs, &[Version::V1_3]).await;
    let stats = sw.flow_stats(FlowFilter::all()).await.unwrap();
    // Without our cookie: the bridge's default NORMAL flow.
    let dumped: Vec<String> = ovs
        .dump_flows(&["--no-stats"])
        .into_iter()
        .filter(|line| line.starts_with("cookie="))
        .collect();
    assert_eq!(dumped.len(), flows.len() + unmodelled.len(), "{dumped:#?}");
    let mut mismatches = Vec::new();
    for line in &dumped {
        // `cookie=0x3, priority=100,MATCH actions=ACTIONS` (no `table=`: all in table 0).
        let (cookie, rest) = line
            .strip_prefix("cookie=0x")
            .and_then(|l| l.split_once(", "))
            .unwrap_or_else(|| panic!("unexpected dump line {line}"));
        let cookie = u64::from_str_radix(cookie, 16).unwrap();
        let (head, ofctl_actions) = rest.split_once(" actions=").unwrap();
        let ofctl_match = head.split_once(',').map_or("", |(_priority, m)| m);
        let ours = stats.iter().find(|s| s.cookie == cookie).unwrap();
        if cookie as usize > flows.len() {
            let shown = ours.flow_match.to_string();
            assert!(
                shown.starts_with(ofctl_match.split(',').next().unwrap()) && shown.contains("oxm("),
                "{ofctl_match}: ours {shown}"
            );
            continue;
        }
        let (our_match, our_actions) = (
            ours.flow_match.to_string(),
            format_instructions(&ours.instructions),
        );
        if our_match != ofctl_match || our_actions != ofctl_actions {
            mismatches.push(format!(
                "ovs-ofctl: {ofctl_match} actions={ofctl_actions}\n     ours: {our_match} actions={our_actions}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "\n{}", mismatches.join("\n"));
}
