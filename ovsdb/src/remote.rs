//! Where the server is (`unix:`, `tcp:`, `ssl:` remotes) and how to open a byte stream to it.
//!
//! TLS follows Open vSwitch semantics: the server certificate must chain to the configured CA
//! certificate, but its name is not checked against the host (OVS PKI certificates carry no host
//! names), and the client presents its own certificate.

use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::rustls::{
    self,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    client::WebPkiServerVerifier,
    pki_types::{CertificateDer, ServerName, UnixTime},
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_rustls::TlsConnector;

use crate::error::{io_reason, Error, Result};

/// The default OVSDB port when a `tcp:`/`ssl:` remote omits it.
pub const DEFAULT_PORT: u16 = 6640;

/// An active (client side) OVSDB remote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Remote {
    Unix(PathBuf),
    Tcp { host: String, port: u16 },
    Ssl { host: String, port: u16 },
}

impl Remote {
    /// Parses `unix:PATH`, `tcp:HOST[:PORT]` or `ssl:HOST[:PORT]` (IPv6 hosts in brackets).
    pub fn parse(text: &str) -> Result<Remote> {
        let invalid = |why: &str| Error::InvalidRemote(format!("{text:?}: {why}"));
        let (kind, rest) = text
            .split_once(':')
            .ok_or_else(|| invalid("expected unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT"))?;
        match kind {
            "unix" => {
                if rest.is_empty() {
                    return Err(invalid("empty socket path"));
                }
                Ok(Remote::Unix(PathBuf::from(rest)))
            }
            "tcp" | "ssl" => {
                let (host, port) = parse_host_port(rest).map_err(|why| invalid(&why))?;
                Ok(if kind == "tcp" {
                    Remote::Tcp { host, port }
                } else {
                    Remote::Ssl { host, port }
                })
            }
            "punix" | "ptcp" | "pssl" => Err(invalid(
                "passive (listening) remotes are for servers; use unix:, tcp: or ssl:",
            )),
            _ => Err(invalid(
                "unknown remote type (expected unix:, tcp: or ssl:)",
            )),
        }
    }

    pub fn is_ssl(&self) -> bool {
        matches!(self, Remote::Ssl { .. })
    }

    /// The database socket in an OVS run directory: what ovs-vsctl uses when not told.
    pub fn in_run_directory(rundir: &Path) -> Remote {
        Remote::Unix(rundir.join("db.sock"))
    }

    /// Opens a byte stream to the remote; the error is a human readable reason.
    pub(crate) async fn open(&self, tls: Option<&TlsConfig>) -> Result<Box<dyn Stream>, String> {
        match self {
            Remote::Unix(path) => UnixStream::connect(path)
                .await
                .map(|s| Box::new(s) as Box<dyn Stream>)
                .map_err(|e| io_reason(&e)),
            Remote::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| io_reason(&e))?;
                let _ = stream.set_nodelay(true);
                Ok(Box::new(stream))
            }
            Remote::Ssl { host, port } => {
                let tls = tls.ok_or("ssl remote requires a TLS configuration")?;
                let connector = TlsConnector::from(tls.client_config().map_err(|e| e.to_string())?);
                let server_name = ServerName::try_from(host.clone())
                    .map_err(|e| format!("invalid TLS server name {host:?}: {e}"))?;
                let stream = TcpStream::connect((host.as_str(), *port))
                    .await
                    .map_err(|e| io_reason(&e))?;
                let _ = stream.set_nodelay(true);
                let stream = connector
                    .connect(server_name, stream)
                    .await
                    .map_err(|e| format!("TLS handshake failed: {}", io_reason(&e)))?;
                Ok(Box::new(stream))
            }
        }
    }
}

fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or("missing ']' after IPv6 address")?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or("expected ':' after ']'")?),
            ),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') => (host, Some(port)),
            Some(_) => return Err("IPv6 addresses must be written in brackets".into()),
            None => (text, None),
        }
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| format!("invalid port {port:?}"))?,
        None => DEFAULT_PORT,
    };
    Ok((host.to_string(), port))
}

impl FromStr for Remote {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Remote::parse(s)
    }
}

impl fmt::Display for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host_port = |f: &mut fmt::Formatter<'_>, host: &str, port: u16| {
            if host.contains(':') {
                write!(f, "[{host}]:{port}")
            } else {
                write!(f, "{host}:{port}")
            }
        };
        match self {
            Remote::Unix(path) => write!(f, "unix:{}", path.display()),
            Remote::Tcp { host, port } => {
                f.write_str("tcp:")?;
                host_port(f, host, *port)
            }
            Remote::Ssl { host, port } => {
                f.write_str("ssl:")?;
                host_port(f, host, *port)
            }
        }
    }
}

/// A bidirectional byte stream to the server.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// PEM files for `ssl:` remotes (like ovsdb-client's `-p`, `-c` and `-C`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    pub private_key: PathBuf,
    pub certificate: PathBuf,
    pub ca_cert: PathBuf,
}

impl TlsConfig {
    /// The settings from the three PEM paths an `ssl:` remote needs, as given on a command
    /// line: all three, or none (`Ok(None)`).
    pub fn from_paths(
        private_key: Option<&Path>,
        certificate: Option<&Path>,
        ca_cert: Option<&Path>,
    ) -> Result<Option<TlsConfig>> {
        match (private_key, certificate, ca_cert) {
            (Some(key), Some(cert), Some(ca)) => Ok(Some(TlsConfig {
                private_key: key.to_path_buf(),
                certificate: cert.to_path_buf(),
                ca_cert: ca.to_path_buf(),
            })),
            (None, None, None) => Ok(None),
            _ => Err(Error::Tls(
                "a private key, a certificate and a CA certificate go together: give all three"
                    .into(),
            )),
        }
    }

    /// Checks TLS settings against the remote they are for, at start-up rather than at the
    /// first connection: an `ssl:` remote needs them and their files must load. Other remotes
    /// use none; settings given for them are dropped with a warning, as ovs-vsctl drops them.
    pub fn for_remote(remote: &Remote, tls: Option<TlsConfig>) -> Result<Option<TlsConfig>> {
        match (remote.is_ssl(), tls) {
            (true, None) => Err(Error::Tls(format!(
                "{remote} needs a private key, a certificate and a CA certificate"
            ))),
            (true, Some(tls)) => {
                tls.client_config()?;
                Ok(Some(tls))
            }
            (false, Some(_)) => {
                tracing::warn!(%remote, "TLS files given for a remote that is not ssl:; ignored");
                Ok(None)
            }
            (false, None) => Ok(None),
        }
    }

    /// Loads the files and builds a rustls client configuration.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| {
                Error::Tls(format!("cannot read {}: {}", path.display(), io_reason(&e)))
            })
        };
        let parse_certs = |path: &PathBuf| -> Result<Vec<CertificateDer<'static>>> {
            let pem = read(path)?;
            let certs = rustls_pemfile::certs(&mut BufReader::new(pem.as_slice()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(Error::Tls(format!(
                    "{}: no certificate found",
                    path.display()
                )));
            }
            Ok(certs)
        };

        let mut roots = RootCertStore::empty();
        for cert in parse_certs(&self.ca_cert)? {
            roots
                .add(cert)
                .map_err(|e| Error::Tls(format!("{}: {e}", self.ca_cert.display())))?;
        }
        let chain = parse_certs(&self.certificate)?;
        let key_pem = read(&self.private_key)?;
        let key = rustls_pemfile::private_key(&mut BufReader::new(key_pem.as_slice()))
            .map_err(|e| Error::Tls(format!("{}: {e}", self.private_key.display())))?
            .ok_or_else(|| {
                Error::Tls(format!(
                    "{}: no private key found",
                    self.private_key.display()
                ))
            })?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|e| Error::Tls(e.to_string()))?;
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CaOnlyVerifier { webpki }))
            .with_client_auth_cert(chain, key)
            .map_err(|e| Error::Tls(e.to_string()))?;
        Ok(Arc::new(config))
    }
}

/// Checks the chain to the CA like webpki does, but accepts any server name.
#[derive(Debug)]
struct CaOnlyVerifier {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for CaOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_remotes() {
        for text in [
            "unix:/var/run/openvswitch/db.sock",
            "tcp:127.0.0.1:6640",
            "ssl:ovsdb.example:6641",
            "tcp:[::1]:6640",
        ] {
            let remote = Remote::parse(text).unwrap();
            assert_eq!(remote.to_string(), text);
        }
        assert_eq!(
            Remote::parse("tcp:10.0.0.1").unwrap(),
            Remote::Tcp {
                host: "10.0.0.1".into(),
                port: DEFAULT_PORT
            }
        );
        assert_eq!(
            "ssl:[fe80::1]".parse::<Remote>().unwrap(),
            Remote::Ssl {
                host: "fe80::1".into(),
                port: DEFAULT_PORT
            }
        );
    }

    #[test]
    fn rejects_bad_remotes() {
        for text in [
            "punix:/x",
            "ptcp:6640",
            "pssl:6640",
            "/just/a/path",
            "unix:",
            "tcp:host:notaport",
            "tcp::6640",
            "tcp:::1:6640",
            "http://x",
        ] {
            let err = Remote::parse(text).unwrap_err();
            assert!(matches!(err, Error::InvalidRemote(_)), "{text}: {err}");
        }
        let err = Remote::parse("punix:/x").unwrap_err().to_string();
        assert!(err.contains("passive"), "{err}");
    }

    #[test]
    fn tls_paths_come_all_three_or_none() {
        let (key, cert, ca) = (Path::new("k.pem"), Path::new("c.pem"), Path::new("ca.pem"));
        assert_eq!(TlsConfig::from_paths(None, None, None).unwrap(), None);
        let all = TlsConfig::from_paths(Some(key), Some(cert), Some(ca)).unwrap();
        assert_eq!(
            all,
            Some(TlsConfig {
                private_key: key.into(),
                certificate: cert.into(),
                ca_cert: ca.into(),
            })
        );
        for partial in [
            (Some(key), None, None),
            (None, Some(cert), Some(ca)),
            (Some(key), Some(cert), None),
        ] {
            let err = TlsConfig::from_paths(partial.0, partial.1, partial.2).unwrap_err();
            assert!(err.to_string().contains("all three"), "{partial:?}: {err}");
        }
    }

    #[test]
    fn tls_config_reports_missing_files() {
        let config = TlsConfig {
            private_key: "/nonexistent/key.pem".into(),
            certificate: "/nonexistent/cert.pem".into(),
            ca_cert: "/nonexistent/ca.pem".into(),
        };
        let err = config.client_config().unwrap_err();
        assert!(
            matches!(err, Error::Tls(ref m) if m.contains("/nonexistent/ca.pem")),
            "{err}"
        );
    }

    #[test]
    fn tls_settings_must_fit_the_remote() {
        let ssl = Remote::parse("ssl:127.0.0.1:6640").unwrap();
        let unix = Remote::parse("unix:/run/db.sock").unwrap();
        let missing = TlsConfig {
            private_key: "/nonexistent/key.pem".into(),
            certificate: "/nonexistent/cert.pem".into(),
            ca_cert: "/nonexistent/ca.pem".into(),
        };
        assert_eq!(TlsConfig::for_remote(&unix, None).unwrap(), None);
        let err = TlsConfig::for_remote(&ssl, None).unwrap_err();
        assert!(
            err.to_string().contains("ssl:127.0.0.1:6640 needs"),
            "{err}"
        );
        let err = TlsConfig::for_remote(&ssl, Some(missing.clone())).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/"), "{err}");
        assert_eq!(TlsConfig::for_remote(&unix, Some(missing)).unwrap(), None);
    }
}
