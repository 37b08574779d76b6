//! `--auto-tls` and `--peer-auto-tls`: a self-signed certificate for the hosts of the listen URLs,
//! kept as etcd keeps it (`cert.pem` and `key.pem` under `<data-dir>/fixtures/client` or
//! `fixtures/peer`) and reused on the next start, so a restarted member presents the same key.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

use super::tls::TlsError;

/// etcd's self-signed certificates are valid for a year from their creation.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The certificate and key files in `dir`: the existing pair if both files are there, else a new
/// pair written there. `hosts` are host names or IPs, each possibly with a port (etcd passes the
/// URLs' `host:port`); `localhost` and `127.0.0.1` are always added, since that is how local
/// clients and etcd's own tests dial.
pub(super) fn certificate_files(
    dir: &Path,
    hosts: &[String],
) -> Result<(PathBuf, PathBuf), TlsError> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    let (cert_pem, key_pem) = generate(hosts)?;
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    std::fs::write(&cert_path, cert_pem).map_err(io_error(&cert_path))?;
    // The key is readable by its owner only, as etcd writes it.
    let mut key_file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key_path)
        .map_err(io_error(&key_path))?;
    key_file
        .write_all(key_pem.as_bytes())
        .map_err(io_error(&key_path))?;
    tracing::info!(cert = %cert_path.display(), key = %key_path.display(), "created self-signed certificate");
    Ok((cert_path, key_path))
}

/// A fresh ECDSA P-256 key and a certificate for `hosts`, both in PEM. etcd uses P-521, which
/// ring cannot sign with; P-256 is what every TLS client accepts.
fn generate(hosts: &[String]) -> Result<(String, String), TlsError> {
    let mut params = CertificateParams::new(subject_alt_names(hosts))?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::OrganizationName, "etcd");
    params.distinguished_name = subject;
    let since_epoch = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    params.not_before = date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_after = params.not_before + VALIDITY;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // Client auth too, so that a peer can present the same certificate when it dials.
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate()?;
    let certificate = params.self_signed(&key)?;
    Ok((certificate.pem(), key.serialize_pem()))
}

/// The hosts without ports, then `localhost` and `127.0.0.1`, each once; an empty host (a URL
/// like `http://:2379`, which binds every interface) names nothing and is left out.
fn subject_alt_names(hosts: &[String]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let given = hosts.iter().map(|host| strip_port(host).to_owned());
    for name in given.chain(["localhost".to_owned(), "127.0.0.1".to_owned()]) {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// `localhost:2379` → `localhost`, `[::1]:2379` → `::1`, `10.0.0.1` → `10.0.0.1`, `::1` → `::1`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').map_or(rest, |(address, _)| address);
    }
    match host.rsplit_once(':') {
        // More than one colon without brackets is a bare IPv6 address.
        Some((name, _)) if !name.contains(':') => name,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_lose_their_ports_and_gain_localhost() {
        // The certificate names the URLs' hosts, without ports, plus the loopback names.
        let hosts = [
            "localhost:20000".to_owned(),
            "[::1]:2379".to_owned(),
            "10.0.0.7".to_owned(),
            ":2379".to_owned(),
        ];
        assert_eq!(
            subject_alt_names(&hosts),
            ["localhost", "::1", "10.0.0.7", "127.0.0.1"]
        );
    }
}
