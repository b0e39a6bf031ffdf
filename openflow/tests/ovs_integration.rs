//! Integration tests against a real ovs-vswitchd (userspace datapath) in a private
//! network namespace.

mod common;

use std::time::Duration;

use common::Ovs;
use openflow::{Action, FlowFilter, FlowMod, Match, Options, Switch, Version};

fn options() -> Options {
    Options { request_timeout: Duration::from_secs(30), ..Options::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_add_and_dump() {
    let ovs = Ovs::start();
    let sw = Switch::connect_and_wait(&ovs.target(), options()).await.unwrap();
    assert_eq!(sw.version(), Some(Version::V1_4));
    let fm = FlowMod::add(0, 100, Match::new().in_port(3))
        .cookie(0x5)
        .apply(vec![Action::output(2)]);
    sw.send_flow_mods(vec![fm]).await.unwrap();
    let flows = ovs.dump_flows(&[]);
    assert!(flows.iter().any(|l| l.contains("priority=100,in_port=3") && l.contains("actions=output:2")), "{flows:?}");
    let stats = sw.flow_stats(FlowFilter::all()).await.unwrap();
    assert!(stats.iter().any(|s| s.cookie == 5 && s.priority == 100), "{stats:?}");
}
