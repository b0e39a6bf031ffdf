//! `ssl:` remotes against ovsdb-server with certificates made by `ovs-pki`.

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::Path;

use common::{eventually, options, OvsdbServer, DB};
use ovsdb::{Client, ClientOptions, Remote};
use pki::Pki;

fn arg(name: &str, path: &Path) -> String {
    format!("--{name}={}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_remote_with_ovs_pki_certificates() {
    let pki = Pki::create();
    let server = OvsdbServer::start_with(&[
        "--remote=pssl:0:127.0.0.1",
        &arg("private-key", &pki.path("server-privkey.pem")),
        &arg("certificate", &pki.path("server-cert.pem")),
        &arg("ca-cert", &pki.ca_cert()),
    ]);
    let port = server.listening_port();
    let remote = Remote::parse(&format!("ssl:127.0.0.1:{port}")).unwrap();

    let client = Client::connect(
        remote.clone(),
        ClientOptions {
            tls: Some(pki.tls("client")),
            ..options()
        },
    )
    .await
    .expect("TLS connection");
    assert!(client.list_dbs().await.unwrap().contains(&DB.to_string()));
    let outcome = client
        .transact(
            DB,
            vec![ovsdb::Operation::select_columns(
                "Open_vSwitch",
                vec![],
                ["_uuid"],
            )],
        )
        .await
        .unwrap();
    assert_eq!(outcome.rows(0).len(), 1);

    // A client that trusts another CA refuses the server.
    let other = Pki::create();
    let untrusting = Client::start(
        remote.clone(),
        ClientOptions {
            tls: Some(other.tls("client")),
            ..options()
        },
    );
    let reason = eventually("TLS failure", || async {
        untrusting
            .connection_error()
            .filter(|reason| reason.contains("TLS"))
    })
    .await;
    assert!(
        reason.contains("certificate") || reason.contains("Unknown"),
        "{reason}"
    );
    assert!(!untrusting.is_connected());

    // Without TLS settings an ssl: remote cannot be used.
    let plain = Client::start(remote, options());
    eventually("missing TLS configuration reported", || async {
        plain
            .connection_error()
            .filter(|reason| reason.contains("TLS configuration"))
    })
    .await;
}
