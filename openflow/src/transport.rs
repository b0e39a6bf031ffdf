//! Connection targets in ovs-ofctl syntax (`unix:PATH`, `tcp:HOST:PORT`, `ssl:HOST:PORT`)
//! and the byte streams they open.
//!
//! `ssl:` authenticates like Open vSwitch does: the switch certificate must chain to the
//! configured CA, but its names are not compared with the host (OVS certificates normally
//! carry no host names), and the client presents its own certificate and key.

use std::fmt;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::Error;

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `unix:PATH`, e.g. `unix:/var/run/openvswitch/br0.mgmt`.
    Unix(PathBuf),
    /// `tcp:HOST:PORT` (IPv6 hosts in brackets).
    Tcp { host: String, port: u16 },
    /// `ssl:HOST:PORT`; needs [`TlsFiles`].
    Ssl { host: String, port: u16 },
}

impl Target {
    /// The management socket of `bridge` in an OVS run directory (`<rundir>/<bridge>.mgmt`).
    pub fn bridge_mgmt(rundir: impl AsRef<Path>, bridge: &str) -> Target {
        Target::Unix(rundir.as_ref().join(format!("{bridge}.mgmt")))
    }

    /// Parses ovs-ofctl syntax. A bare path is taken as a unix socket.
    pub fn parse(s: &str) -> Result<Target, Error> {
        let invalid = || Error::InvalidTarget(s.to_string());
        let host_port = |rest: &str| -> Result<(String, u16), Error> {
            let (host, port) = rest.rsplit_once(':').ok_or_else(invalid)?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(invalid());
            }
            Ok((host.to_string(), port.parse().map_err(|_| invalid())?))
        };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(invalid());
            }
            Ok(Target::Unix(path.into()))
        } else if let Some(rest) = s.strip_prefix("tcp:") {
            let (host, port) = host_port(rest)?;
            Ok(Target::Tcp { host, port })
        } else if let Some(rest) = s.strip_prefix("ssl:") {
            let (host, port) = host_port(rest)?;
            Ok(Target::Ssl { host, port })
        } else if s.starts_with('/') {
            Ok(Target::Unix(s.into()))
        } else {
            Err(invalid())
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bracket = |h: &str| {
            if h.contains(':') {
                format!("[{h}]")
            } else {
                h.to_string()
            }
        };
        match self {
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
            Target::Tcp { host, port } => write!(f, "tcp:{}:{port}", bracket(host)),
            Target::Ssl { host, port } => write!(f, "ssl:{}:{port}", bracket(host)),
        }
    }
}

impl std::str::FromStr for Target {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Target::parse(s)
    }
}

/// PEM files for `ssl:` targets, like ovs-ofctl's `--private-key`, `--certificate` and
/// `--ca-cert`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsFiles {
    pub private_key: PathBuf,
    pub certificate: PathBuf,
    pub ca_cert: PathBuf,
}

/// A connected byte stream.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

pub(crate) type BoxStream = Pin<Box<dyn Stream>>;

/// Opens a stream to `target`.
pub(crate) async fn open(
    target: &Target,
    tls: Option<&Arc<rustls::ClientConfig>>,
    timeout: Duration,
) -> Result<BoxStream, Error> {
    let connect = async {
        Ok::<BoxStream, Error>(match target {
            Target::Unix(path) => Box::pin(UnixStream::connect(path).await?),
            Target::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Box::pin(stream)
            }
            Target::Ssl { host, port } => {
                let config =
                    tls.ok_or_else(|| Error::Tls("ssl: target without TLS files".into()))?;
                let stream = TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                let name = ServerName::try_from(host.clone())
                    .map_err(|e| Error::Tls(format!("server name {host}: {e}")))?;
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                Box::pin(connector.connect(name, stream).await?)
            }
        })
    };
    tokio::time::timeout(timeout, connect).await.map_err(|_| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "connect timed out",
        ))
    })?
}

fn read_pem(path: &Path) -> Result<BufReader<std::fs::File>, Error> {
    let file = std::fs::File::open(path)
        .map_err(|e| Error::Tls(format!("cannot open {}: {e}", path.display())))?;
    Ok(BufReader::new(file))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = rustls_pemfile::certs(&mut read_pem(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("no certificate in {}", path.display())));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, Error> {
    rustls_pemfile::private_key(&mut read_pem(path)?)
        .map_err(|e| Error::Tls(format!("{}: {e}", path.display())))?
        .ok_or_else(|| Error::Tls(format!("no private key in {}", path.display())))
}

/// Builds the rustls client configuration (ring provider) from PEM files.
pub(crate) fn client_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in load_certs(&files.ca_cert)? {
        roots
            .add(cert)
            .map_err(|e| Error::Tls(format!("CA certificate: {e}")))?;
    }
    let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| Error::Tls(format!("verifier: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CaOnlyVerifier(webpki)))
        .with_client_auth_cert(
            load_certs(&files.certificate)?,
            load_key(&files.private_key)?,
        )
        .map_err(|e| Error::Tls(format!("client certificate: {e}")))?;
    Ok(Arc::new(config))
}

/// Verifies the chain against the CA but accepts any host name, as Open vSwitch does.
#[derive(Debug)]
struct CaOnlyVerifier(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for CaOnlyVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
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
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
