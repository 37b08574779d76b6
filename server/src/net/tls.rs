//! etcd's TLS flags (`--cert-file`, `--key-file`, `--trusted-ca-file`, `--client-cert-auth`,
//! `--client-crl-file`, `--auto-tls`, `--cipher-suites`, and their `--peer-*` twins) turned into
//! rustls configurations, with etcd's rules:
//!
//! - TLS 1.2 and 1.3; ALPN `h2` and `http/1.1`.
//! - A client certificate is **required** whenever a trusted CA is given, with or without
//!   `--client-cert-auth`: etcd 3.4 and later set Go's `RequireAndVerifyClientCert` when either
//!   is set (`pkg/transport/listener.go`, `ServerConfig`), and etcd's maintainers chose to
//!   document that rather than change it (etcd-io/etcd#11124, website#724). Checked against etcd
//!   3.4.23 here: `curl --cacert ca.crt` without a certificate sees `Request CERT`, then the alert
//!   `bad certificate`, and etcd logs `tls: client didn't provide a certificate`.
//! - A CRL is honoured whatever its `nextUpdate` (etcd only looks up serial numbers): rustls'
//!   client verifier ignores CRL expiry unless asked to enforce it, and we do not ask. A
//!   certificate no CRL speaks for is accepted, as in etcd.
//! - With `--auto-tls` and no certificate files, a self-signed certificate (`auto_tls`).
//!
//! Where this differs from etcd, on purpose:
//! - Files are read once, when the configuration is built. etcd re-reads the certificate and
//!   key on every handshake and the CRL on every connection, so replaced files take effect
//!   without a restart; here they need a new configuration.
//! - The CRL must be signed by the CA that issued the certificates it lists (webpki checks);
//!   etcd only compares serial numbers.
//! - `--auto-tls` keeps `--trusted-ca-file`, `--client-cert-auth` and the CRL; etcd replaces
//!   all of its TLS settings with the self-signed certificate's, silently dropping them.
//! - `--client-cert-auth` without a trusted CA is an error; etcd would check client
//!   certificates against the system's roots.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme, SupportedProtocolVersion,
};

use super::{auto_tls, cipher_suites, pem};
use crate::config::TlsFlags;

impl TlsFlags {
    /// The certificate and key to present: the given files, else the self-signed pair in
    /// `auto_tls_dir` (etcd ignores `--auto-tls` when certificate files are given).
    fn identity(
        &self,
        auto_tls_dir: &Path,
        hosts: &[String],
    ) -> Result<Option<(PathBuf, PathBuf)>, TlsError> {
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                if self.auto_tls {
                    tracing::warn!("ignoring auto TLS since certs given");
                }
                Ok(Some((cert.clone(), key.clone())))
            }
            (None, None) if self.auto_tls => {
                auto_tls::certificate_files(auto_tls_dir, hosts).map(Some)
            }
            (None, None) => Ok(None),
            (cert, key) => Err(TlsError::CertAndKey {
                cert: cert.clone(),
                key: key.clone(),
            }),
        }
    }

    /// Whether the identity in use is self-signed: a peer then skips verifying the other side,
    /// as etcd does (`InsecureSkipVerify` for self-signed certificates).
    fn uses_self_signed(&self) -> bool {
        self.auto_tls && self.cert_file.is_none() && self.key_file.is_none()
    }
}

/// The server side of a listener: etcd's `TLSInfo.ServerConfig`. `auto_tls_dir` is where a
/// self-signed certificate is kept (`<data-dir>/fixtures/client` or `fixtures/peer`) and `hosts`
/// are the listen URLs' hosts it is made for; both matter only with `auto_tls`.
pub fn server_config(
    info: &TlsFlags,
    auto_tls_dir: &Path,
    hosts: &[String],
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(cipher_suites::provider(&info.cipher_suites)?);
    let Some((cert_path, key_path)) = info.identity(auto_tls_dir, hosts)? else {
        return Err(TlsError::CertAndKey {
            cert: None,
            key: None,
        });
    };
    let chain = pem::certificates(&cert_path)?;
    let key = pem::private_key(&key_path)?;
    let verifier = client_verifier(info, &provider)?;
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(protocol_versions(&provider))
        .map_err(TlsError::Rustls)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|error| TlsError::KeyPair {
            cert: cert_path,
            key: key_path,
            error,
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client side of a connection to a peer: etcd's `TLSInfo.ClientConfig`. The server is
/// verified against the trusted CA, or not at all when this side's own certificate is
/// self-signed (etcd's peers with `--peer-auto-tls` skip verification); the certificate, if any,
/// is presented as the client certificate. ALPN is left to the caller.
pub fn client_config(
    info: &TlsFlags,
    auto_tls_dir: &Path,
    hosts: &[String],
) -> Result<ClientConfig, TlsError> {
    let provider = Arc::new(cipher_suites::provider(&info.cipher_suites)?);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(protocol_versions(&provider))
        .map_err(TlsError::Rustls)?;
    let builder = match &info.trusted_ca_file {
        Some(ca) => builder.with_root_certificates(pem::root_store(ca)?),
        None if info.uses_self_signed() => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SelfSignedPeers { provider })),
        None => return Err(TlsError::NoTrustedCa),
    };
    match info.identity(auto_tls_dir, hosts)? {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_path, key_path)) => {
            let chain = pem::certificates(&cert_path)?;
            let key: PrivateKeyDer<'static> = pem::private_key(&key_path)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|error| TlsError::KeyPair {
                    cert: cert_path,
                    key: key_path,
                    error,
                })
        }
    }
}

static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// TLS 1.3 always; TLS 1.2 when a suite is left for it. Never older: etcd's minimum is 1.2.
fn protocol_versions(provider: &CryptoProvider) -> &'static [&'static SupportedProtocolVersion] {
    if cipher_suites::has_tls12(provider) {
        rustls::ALL_VERSIONS
    } else {
        TLS13_ONLY
    }
}

/// Who may connect, by etcd's rules (see the module's comment): anyone without a trusted CA;
/// only holders of a certificate from it (and not revoked) with one.
fn client_verifier(
    info: &TlsFlags,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let Some(ca) = &info.trusted_ca_file else {
        if info.client_cert_auth {
            return Err(TlsError::ClientCertAuthWithoutCa);
        }
        if let Some(crl) = &info.crl_file {
            tracing::warn!(crl = %crl.display(), "CRL file ignored: without a trusted CA no client certificate is asked for");
        }
        return Ok(WebPkiClientVerifier::no_client_auth());
    };
    let mut builder = WebPkiClientVerifier::builder_with_provider(
        Arc::new(pem::root_store(ca)?),
        provider.clone(),
    );
    if let Some(crl) = &info.crl_file {
        // Expiry is not enforced: rustls ignores nextUpdate unless told otherwise, and etcd
        // honours its long-expired fixture `revoke.crl`. A chain no CRL is authoritative for is
        // allowed, as etcd, which only looks serial numbers up, allows it.
        builder = builder
            .with_crls(pem::revocation_lists(crl)?)
            .allow_unknown_revocation_status();
    }
    builder.build().map_err(|error| TlsError::Verifier {
        ca: ca.clone(),
        error,
    })
}

/// A peer's server certificate, accepted whatever it is, as etcd's peers do when their own
/// certificate is self-signed; the handshake's signatures are still checked, so the peer must
/// hold the key of the certificate it shows.
#[derive(Debug)]
struct SelfSignedPeers {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SelfSignedPeers {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why a TLS configuration could not be built. All of them stop the server at start.
#[derive(Debug)]
pub enum TlsError {
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that is not the PEM (or DER CRL) expected, or holds nothing usable.
    Pem {
        path: PathBuf,
        reason: String,
    },
    /// One of certificate and key without the other, or neither for an `https` URL.
    CertAndKey {
        cert: Option<PathBuf>,
        key: Option<PathBuf>,
    },
    /// The key does not fit the certificate, or is of a kind rustls cannot sign with.
    KeyPair {
        cert: PathBuf,
        key: PathBuf,
        error: rustls::Error,
    },
    /// `--cipher-suites` names a suite Go does not know (`known_to_go: false`, etcd's own
    /// error) or one Go knows but rustls does not implement.
    CipherSuite {
        name: String,
        known_to_go: bool,
    },
    ClientCertAuthWithoutCa,
    /// A peer client must verify the server against something.
    NoTrustedCa,
    Verifier {
        ca: PathBuf,
        error: rustls::server::VerifierBuilderError,
    },
    AutoTls(rcgen::Error),
    Rustls(rustls::Error),
}

impl TlsError {
    pub(super) fn pem(path: &Path, error: rustls::pki_types::pem::Error) -> Self {
        match error {
            rustls::pki_types::pem::Error::Io(source) => TlsError::Io {
                path: path.to_owned(),
                source,
            },
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::Pem {
                path: path.to_owned(),
                reason: "no PEM block of the expected kind".into(),
            },
            other => TlsError::Pem {
                path: path.to_owned(),
                reason: other.to_string(),
            },
        }
    }
}

impl From<rcgen::Error> for TlsError {
    fn from(error: rcgen::Error) -> Self {
        TlsError::AutoTls(error)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |path: &Option<PathBuf>| {
            path.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        match self {
            TlsError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            TlsError::Pem { path, reason } => write!(f, "{}: {reason}", path.display()),
            // etcd's words (`TLSInfo.baseConfig`).
            TlsError::CertAndKey { cert, key } => write!(
                f,
                "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                shown(key),
                shown(cert)
            ),
            TlsError::KeyPair { cert, key, error } => {
                write!(
                    f,
                    "certificate {} with key {}: {error}",
                    cert.display(),
                    key.display()
                )
            }
            TlsError::CipherSuite {
                name,
                known_to_go: false,
            } => {
                write!(f, "unexpected TLS cipher suite {name:?}")
            }
            TlsError::CipherSuite {
                name,
                known_to_go: true,
            } => write!(
                f,
                "unsupported TLS cipher suite {name:?} (etcd accepts it, but detcd offers only ECDHE suites with AES-GCM or ChaCha20-Poly1305 for TLS 1.2)"
            ),
            TlsError::ClientCertAuthWithoutCa => {
                write!(
                    f,
                    "client certificate authentication needs a trusted CA file to verify certificates against"
                )
            }
            TlsError::NoTrustedCa => {
                write!(
                    f,
                    "a trusted CA file is needed to verify peers (or a self-signed certificate, which skips verification)"
                )
            }
            TlsError::Verifier { ca, error } => write!(f, "trusted CA {}: {error}", ca.display()),
            TlsError::AutoTls(error) => {
                write!(f, "cannot generate a self-signed certificate: {error}")
            }
            TlsError::Rustls(error) => write!(f, "TLS configuration: {error}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Io { source, .. } => Some(source),
            TlsError::KeyPair { error, .. } | TlsError::Rustls(error) => Some(error),
            TlsError::Verifier { error, .. } => Some(error),
            TlsError::AutoTls(error) => Some(error),
            _ => None,
        }
    }
}
