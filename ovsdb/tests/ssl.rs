//! `ssl:` remotes against ovsdb-server with certificates made by `ovs-pki`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{eventually, options, OvsdbServer, DB};
use ovsdb::{Client, ClientOptions, Remote, TlsConfig};

/// A PKI (switch CA) with a server and a client certificate, in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn create() -> Pki {
        let dir = tempfile::Builder::new()
            .prefix("ovsdb-pki-")
            .tempdir()
            .unwrap();
        let pki = Pki { dir };
        pki.ovs_pki(&["init"]);
        // Relative names: ovs-pki puts them in the certificate CN, which has a length limit.
        pki.ovs_pki(&["req+sign", "server", "switch"]);
        pki.ovs_pki(&["req+sign", "client", "switch"]);
        pki
    }

    fn ovs_pki(&self, args: &[&str]) {
        let dir = self.dir.path();
        let status = Command::new("ovs-pki")
            .arg(format!("--dir={}", dir.join("pki").display()))
            .arg(format!("--log={}", dir.join("pki.log").display()))
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run ovs-pki");
        assert!(status.success(), "ovs-pki {args:?} failed");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("pki/switchca/cacert.pem")
    }

    fn tls(&self, who: &str) -> TlsConfig {
        TlsConfig {
            private_key: self.path(&format!("{who}-privkey.pem")),
            certificate: self.path(&format!("{who}-cert.pem")),
            ca_cert: self.ca_cert(),
        }
    }
}

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
