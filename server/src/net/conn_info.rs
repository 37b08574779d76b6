//! What a handler may know of the connection a request came on. `serve` puts a [`ConnInfo`] into
//! every request's extensions (axum: `Extension<ConnInfo>`; tonic copies HTTP extensions into
//! `tonic::Request::extensions()`).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;

/// The connection of one request.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address; `None` on a Unix socket, whose clients are unnamed.
    pub remote_addr: Option<SocketAddr>,
    /// Whether the connection is TLS (on a port serving both, the client chose).
    pub tls: bool,
    /// The client's certificate chain, leaf first, already verified by the listener's TLS
    /// configuration; `None` without TLS or when the client sent none.
    pub peer_certificates: Option<Arc<[CertificateDer<'static>]>>,
}

impl ConnInfo {
    /// The common name of the client certificate's subject, which etcd takes as the user name
    /// when `--client-cert-auth` is on (Go's `Subject.CommonName`: the last CN if several).
    /// `None` without a certificate, or when its subject has no CN.
    pub fn peer_common_name(&self) -> Option<String> {
        let leaf = self.peer_certificates.as_ref()?.first()?;
        subject_common_name(leaf)
    }
}

/// `id-at-commonName`, 2.5.4.3, as DER content octets.
const COMMON_NAME_OID: &[u8] = &[0x55, 0x04, 0x03];

const TAG_SEQUENCE: u8 = 0x30;
const TAG_SET: u8 = 0x31;
const TAG_OID: u8 = 0x06;
const TAG_VERSION: u8 = 0xa0;

/// The subject's common name of a DER certificate, read by walking its structure: the
/// certificate has already been parsed and verified by webpki, so a malformed one only yields
/// `None`. RFC 5280: Certificate = SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
/// serialNumber, signature, issuer, validity, subject, ... } ... }.
fn subject_common_name(certificate: &[u8]) -> Option<String> {
    let mut input = certificate;
    let mut certificate = expect(&mut input, TAG_SEQUENCE)?;
    let mut tbs = expect(&mut certificate, TAG_SEQUENCE)?;
    if tbs.first() == Some(&TAG_VERSION) {
        next(&mut tbs)?;
    }
    for _serial_signature_issuer_validity in 0..4 {
        next(&mut tbs)?;
    }
    let mut subject = expect(&mut tbs, TAG_SEQUENCE)?;
    let mut common_name = None;
    while !subject.is_empty() {
        let mut relative_name = expect(&mut subject, TAG_SET)?;
        while !relative_name.is_empty() {
            let mut attribute = expect(&mut relative_name, TAG_SEQUENCE)?;
            if expect(&mut attribute, TAG_OID)? == COMMON_NAME_OID {
                let (tag, value) = next(&mut attribute)?;
                common_name = Some(directory_string(tag, value)?);
            }
        }
    }
    common_name
}

/// The next element of `input`, which must have tag `tag`; its content.
fn expect<'a>(input: &mut &'a [u8], tag: u8) -> Option<&'a [u8]> {
    let (found, content) = next(input)?;
    (found == tag).then_some(content)
}

/// The next DER element of `input` (tag and content), advancing past it. Definite lengths only,
/// as DER requires; lengths of more than four bytes are refused.
fn next<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first_length_byte, mut rest) = rest.split_first()?;
    let length = if first_length_byte < 0x80 {
        usize::from(first_length_byte)
    } else {
        let length_bytes = usize::from(first_length_byte & 0x7f);
        if length_bytes == 0 || length_bytes > 4 || rest.len() < length_bytes {
            return None;
        }
        let (length, after) = rest.split_at(length_bytes);
        rest = after;
        length
            .iter()
            .fold(0usize, |length, &byte| (length << 8) | usize::from(byte))
    };
    if rest.len() < length {
        return None;
    }
    let (content, after) = rest.split_at(length);
    *input = after;
    Some((tag, content))
}

/// A DirectoryString's text: UTF8String, PrintableString, IA5String and TeletexString (taken as
/// Latin-1, as most software writes it) directly; BMPString from UTF-16.
fn directory_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        0x0c | 0x13 | 0x16 => String::from_utf8(value.to_vec()).ok(),
        0x14 => Some(value.iter().map(|&byte| char::from(byte)).collect()),
        0x1e if value.len().is_multiple_of(2) => {
            let units = value
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    fn fixture(name: &str) -> CertificateDer<'static> {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        CertificateDer::from_pem_file(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
    }

    #[test]
    fn common_name_of_etcd_fixture() {
        // etcd's server.crt has subject CN=example.com, after C, ST, L, O and OU.
        assert_eq!(
            subject_common_name(&fixture("server.crt")).as_deref(),
            Some("example.com")
        );
        assert_eq!(
            subject_common_name(&fixture("ca.crt")).as_deref(),
            Some("ca")
        );
    }

    #[test]
    fn no_common_name_is_none() {
        // client-nocn.crt's subject has no CN (etcd's fixture for that case).
        assert_eq!(subject_common_name(&fixture("client-nocn.crt")), None);
    }

    #[test]
    fn truncated_certificate_is_none() {
        // A certificate cut short yields None, never a panic.
        let der = fixture("server.crt");
        for length in 0..der.len() {
            assert_eq!(subject_common_name(&der[..length]), None, "length {length}");
        }
    }
}
