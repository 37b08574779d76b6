//! `--cipher-suites`: Go's names of TLS 1.2 cipher suites, as etcd takes them, to rustls' suites.
//!
//! Go applies its `CipherSuites` setting to TLS 1.2 only and always negotiates TLS 1.3 with its
//! own suites, so etcd with `--cipher-suites` still speaks TLS 1.3; the provider built here does
//! the same: all TLS 1.3 suites, and for TLS 1.2 only the listed ones.

use rustls::SupportedCipherSuite;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::{self, cipher_suite};

use super::tls::TlsError;

/// The TLS 1.2 suites rustls offers, under Go's names (etcd also accepts the two ChaCha20 names
/// without `_SHA256`, which Go used before 1.16).
const TLS12_SUITES: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Go's TLS 1.3 names: etcd accepts them, and they change nothing (TLS 1.3 is not configurable).
const TLS13_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites Go knows (so etcd starts with them) that rustls does not implement: CBC, RC4, 3DES and
/// RSA key exchange. Naming one is refused at start, with a message that says why, rather than
/// dropped: the operator asked for a suite this server cannot speak.
const GO_ONLY_NAMES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The ring provider with every TLS 1.3 suite and, when `names` is not empty, only the named
/// TLS 1.2 suites (all of them when it is empty, as etcd without `--cipher-suites`).
pub(super) fn provider(names: &[String]) -> Result<CryptoProvider, TlsError> {
    // rustls deprecates its ring provider for lacking post-quantum key exchange; ring is the
    // server's decided backend (aws-lc-rs needs a C toolchain and cmake on a fresh machine).
    #[allow(deprecated)]
    let mut provider = ring::default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    let mut tls12_allowed = Vec::new();
    for name in names {
        let name = name.trim();
        if let Some((_, suite)) = TLS12_SUITES.iter().find(|(go_name, _)| *go_name == name) {
            tls12_allowed.push(suite.suite());
        } else if GO_ONLY_NAMES.contains(&name) {
            return Err(TlsError::CipherSuite {
                name: name.to_owned(),
                known_to_go: true,
            });
        } else if !TLS13_NAMES.contains(&name) {
            return Err(TlsError::CipherSuite {
                name: name.to_owned(),
                known_to_go: false,
            });
        }
    }
    provider.cipher_suites.retain(|suite| match suite {
        SupportedCipherSuite::Tls13(_) => true,
        SupportedCipherSuite::Tls12(_) => tls12_allowed.contains(&suite.suite()),
    });
    Ok(provider)
}

/// Whether the provider still has a suite for TLS 1.2 (a list naming only TLS 1.3 suites leaves
/// none, and then the server speaks TLS 1.3 alone, as Go would).
pub(super) fn has_tls12(provider: &CryptoProvider) -> bool {
    provider
        .cipher_suites
        .iter()
        .any(|suite| matches!(suite, SupportedCipherSuite::Tls12(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn etcd_e2e_list_keeps_its_six_tls12_suites_and_all_of_tls13() {
        // The list of etcd's e2e test TestV3CurlCipherSuitesValid is accepted in full.
        let provider = provider(&names(&[
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        ]))
        .unwrap();
        let tls12 = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)));
        let tls13 = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
        assert_eq!(tls12.count(), 6);
        assert_eq!(tls13.count(), 3);
    }

    #[test]
    fn one_name_restricts_tls12_to_that_suite() {
        // Naming one suite leaves exactly that one for TLS 1.2.
        let provider = provider(&names(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])).unwrap();
        let tls12: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
            .map(|s| s.suite())
            .collect();
        assert_eq!(
            tls12,
            vec![cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.suite()]
        );
    }

    #[test]
    fn unknown_name_is_refused_with_etcds_message() {
        // A name Go does not know gets etcd's own error text.
        let error = provider(&names(&["TLS_NOT_A_SUITE"])).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"unexpected TLS cipher suite "TLS_NOT_A_SUITE""#
        );
    }

    #[test]
    fn go_only_name_is_refused_and_says_why() {
        // A suite etcd would accept but rustls lacks is refused at start, not silently dropped.
        let error = provider(&names(&["TLS_RSA_WITH_AES_128_GCM_SHA256"])).unwrap_err();
        let message = error.to_string();
        assert!(
            message
                .starts_with(r#"unsupported TLS cipher suite "TLS_RSA_WITH_AES_128_GCM_SHA256""#),
            "{message}"
        );
    }

    #[test]
    fn tls13_names_alone_leave_no_tls12_suite() {
        // Go ignores TLS 1.3 names in CipherSuites; naming only them disables TLS 1.2.
        let provider = provider(&names(&["TLS_AES_128_GCM_SHA256"])).unwrap();
        assert!(!has_tls12(&provider));
        assert_eq!(provider.cipher_suites.len(), 3);
    }
}
