//! The unit's TLS identity: the CA that signs the broker, the unit's certificate and key, made
//! into a rustls client configuration with the *ring* provider.
//!
//! Built here rather than by rumqttc (`TlsConfiguration::Simple`) so that a bad file is an
//! error at start naming the key and the file, not a connection failure retried forever, and
//! so that no process-wide crypto provider has to be installed.

use super::config::{MqttConfigError, TlsFiles};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

fn read(key: &'static str, what: &'static str, path: &Path) -> Result<Vec<u8>, MqttConfigError> {
    crate::small_file::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            MqttConfigError::TlsFileMissing { key, what, path: path.to_path_buf() }
        }
        _ => MqttConfigError::TlsFileUnreadable { key, path: path.to_path_buf(), source },
    })
}

fn certificates(
    key: &'static str,
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, MqttConfigError> {
    let invalid = |problem: String| MqttConfigError::TlsFileInvalid {
        key,
        path: path.to_path_buf(),
        problem,
    };
    let pem = read(key, what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("is not a PEM file ({e}); give the {what}")))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "holds no certificate (-----BEGIN CERTIFICATE-----); give the {what}"
        )));
    }
    Ok(certs)
}

/// Reads and checks the three files; every error names the key and the file.
pub fn client_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, MqttConfigError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates("ca_file", "CA certificate (PEM)", &files.ca_file)? {
        roots.add(cert).map_err(|e| MqttConfigError::TlsFileInvalid {
            key: "ca_file",
            path: files.ca_file.clone(),
            problem: format!("is not a usable CA certificate: {e}"),
        })?;
    }
    let chain =
        certificates("client_cert_file", "client certificate (PEM)", &files.client_cert_file)?;
    let key_pem = read("client_key_file", "private key (PEM)", &files.client_key_file)?;
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| MqttConfigError::TlsFileInvalid {
            key: "client_key_file",
            path: files.client_key_file.clone(),
            problem: format!("holds no private key in PEM ({e}); give the key of client_cert_file"),
        })?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| MqttConfigError::TlsRejected { problem: format!("no TLS version in common with the ring provider: {e}") })?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| MqttConfigError::TlsRejected {
            problem: format!("client_key_file does not fit client_cert_file ({e}); give the key the certificate was issued for"),
        })?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path, ca: &str, cert: &str, key: &str) -> TlsFiles {
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write");
            path
        };
        TlsFiles {
            ca_file: write("ca.pem", ca),
            client_cert_file: write("cert.pem", cert),
            client_key_file: write("key.pem", key),
        }
    }

    #[test]
    fn files_that_are_not_pem_are_named_with_their_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cases = [
            (files(dir.path(), "hello", "x", "y"), "mqtt.tls.ca_file"),
            (
                files(
                    dir.path(),
                    "-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
                    "x",
                    "y",
                ),
                "mqtt.tls.ca_file",
            ),
        ];
        for (files, key) in cases {
            let error = client_config(&files).expect_err("not PEM");
            assert_eq!(error.key(), key, "{error}");
            assert!(error.to_string().contains(&files.ca_file.display().to_string()), "{error}");
        }
    }

    #[test]
    fn a_missing_key_file_is_named() {
        let missing = TlsFiles {
            ca_file: "/nonexistent/ca".into(),
            client_cert_file: "/nonexistent/c".into(),
            client_key_file: "/nonexistent/k".into(),
        };
        let error = client_config(&missing).expect_err("missing");
        assert!(matches!(error, MqttConfigError::TlsFileMissing { key: "ca_file", .. }), "{error}");
    }
}
