//! The unit's TLS identity: the CA that signs the broker, the unit's certificate and key, made
//! into a rustls client configuration with the *ring* provider.
//!
//! Built here rather than by rumqttc (`TlsConfiguration::Simple`) so that a bad file is an
//! error at start naming the key and the file, not a connection failure retried forever, and
//! so that no process-wide crypto provider has to be installed.

use crate::config_issue::ConfigIssue;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `[mqtt.tls]`: the unit's TLS files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// PEM file of the CA that signed the broker's certificate.
    pub ca_file: PathBuf,
    /// PEM certificate and key of this unit (the broker authenticates the unit with them).
    pub client_cert_file: PathBuf,
    pub client_key_file: PathBuf,
}

fn read(key: &'static str, what: &'static str, path: &Path) -> Result<Vec<u8>, ConfigIssue> {
    crate::small_file::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ConfigIssue::new(
            key,
            format!("{} does not exist", path.display()),
            format!("install the unit's {what} there or correct the path"),
        ),
        _ => ConfigIssue::new(key, format!("{}: cannot read: {source}", path.display()), ""),
    })
}

fn certificates(
    key: &'static str,
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ConfigIssue> {
    let invalid = |problem: String| {
        ConfigIssue::new(key, format!("{}: {problem}", path.display()), format!("give the {what}"))
    };
    let pem = read(key, what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("is not a PEM file ({e})")))?;
    if certs.is_empty() {
        return Err(invalid("holds no certificate (-----BEGIN CERTIFICATE-----)".into()));
    }
    Ok(certs)
}

/// Reads and checks the three files, once; an issue's key is relative to `[mqtt.tls]` (empty
/// when the files do not fit together).
pub fn client_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>, ConfigIssue> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates("ca_file", "CA certificate (PEM)", &files.ca_file)? {
        roots.add(cert).map_err(|e| {
            ConfigIssue::new(
                "ca_file",
                format!("{}: is not a usable CA certificate: {e}", files.ca_file.display()),
                "give the CA certificate (PEM) that signed the broker's",
            )
        })?;
    }
    let chain =
        certificates("client_cert_file", "client certificate (PEM)", &files.client_cert_file)?;
    let key_pem = read("client_key_file", "private key (PEM)", &files.client_key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        ConfigIssue::new(
            "client_key_file",
            format!("{}: holds no private key in PEM ({e})", files.client_key_file.display()),
            "give the key of client_cert_file",
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| {
            ConfigIssue::new(
                "",
                format!("no TLS version in common with the ring provider: {e}"),
                "",
            )
        })?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| {
            ConfigIssue::new(
                "",
                format!("client_key_file does not fit client_cert_file ({e})"),
                "give the key the certificate was issued for",
            )
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
            let error = client_config(&files).expect_err("not PEM").under("tls").under("mqtt");
            assert_eq!(error.key, key, "{error}");
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
        assert_eq!(error.key, "ca_file", "{error}");
        assert!(
            error.problem.contains("/nonexistent/ca") && error.fix.contains("install"),
            "{error}"
        );
    }
}
