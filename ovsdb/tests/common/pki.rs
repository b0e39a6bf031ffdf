//! A PKI made by `ovs-pki`, for tests of `ssl:` remotes. Also used by ovsctl-tui's tests
//! (`#[path]`), so it needs nothing but std, tempfile and ovsdb.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use ovsdb::TlsConfig;

/// A PKI (switch CA) with a server and a client certificate, in a temporary directory.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    pub fn create() -> Pki {
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("pki/switchca/cacert.pem")
    }

    pub fn tls(&self, who: &str) -> TlsConfig {
        TlsConfig {
            private_key: self.path(&format!("{who}-privkey.pem")),
            certificate: self.path(&format!("{who}-cert.pem")),
            ca_cert: self.ca_cert(),
        }
    }
}
