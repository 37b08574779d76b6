//! Reading etcd's TLS files: certificates and keys in PEM (RSA, ECDSA and Ed25519 keys in PKCS#8,
//! PKCS#1 or SEC1), and CRLs in PEM or DER, since etcd hands the CRL file to Go's `x509.ParseCRL`,
//! which takes either (etcd's own fixture `revoke.crl` is DER).

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};

use super::tls::TlsError;

/// Every certificate of a PEM file, in file order (a server's chain: leaf first).
pub(super) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::pem(path, source))?;
    if certificates.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certificates)
}

/// The first private key of a PEM file, whatever its encoding.
pub(super) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::pem(path, source))
}

/// The trust anchors of a CA bundle. A certificate webpki cannot use as an anchor is an error:
/// etcd (Go's `AppendCertsFromPEM`) would skip it silently and then refuse every client.
pub(super) fn root_store(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(path)? {
        roots.add(certificate).map_err(|error| TlsError::Pem {
            path: path.to_owned(),
            reason: format!("not usable as a trusted CA: {error}"),
        })?;
    }
    Ok(roots)
}

/// The CRLs of a file: every `X509 CRL` block of a PEM file, or the whole file as one DER CRL.
pub(super) fn revocation_lists(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Io {
        path: path.to_owned(),
        source,
    })?;
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(vec![CertificateRevocationListDer::from(bytes)]);
    }
    let lists = CertificateRevocationListDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::pem(path, source))?;
    if lists.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            reason: "no X509 CRL block".into(),
        });
    }
    Ok(lists)
}
