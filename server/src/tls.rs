//! The server's TLS setup, shared by SIP over TLS (RFC 3261 §26, port 5061)
//! and the web board's HTTPS: the certificate chain and key from PEM files,
//! read once at start and by `--check-config`, so that a wrong file is
//! reported before a phone or a browser ever connects.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("tls_certificate {path}: {message}")]
    Certificate { path: String, message: String },
    #[error("tls_key {path}: {message}")]
    Key { path: String, message: String },
    #[error("tls_key {key} does not belong to tls_certificate {certificate}")]
    Mismatch { certificate: String, key: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// A rustls server configuration serving the certificate chain in
/// `certificate` (PEM, the server's own certificate first) with the private
/// key in `key` (PEM: PKCS#8, PKCS#1 or SEC1).
pub fn server_config(certificate: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsSetupError> {
    let chain = read_chain(certificate)?;
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError::Key {
        path: key.display().to_string(),
        message: describe_pem_error(&e, "private key"),
    })?;
    // ring, as for the mail side: one crypto backend in the binary.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsSetupError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsSetupError::Mismatch {
                certificate: certificate.display().to_string(),
                key: key.display().to_string(),
            },
            other => TlsSetupError::Key {
                path: key.display().to_string(),
                message: other.to_string(),
            },
        })?;
    Ok(Arc::new(config))
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let err = |message: String| TlsSetupError::Certificate {
        path: path.display().to_string(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(describe_pem_error(&e, "certificate")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(describe_pem_error(&e, "certificate")))?;
    if chain.is_empty() {
        return Err(err("no PEM certificate in it".into()));
    }
    Ok(chain)
}

fn describe_pem_error(e: &rustls_pki_types::pem::Error, wanted: &str) -> String {
    use rustls_pki_types::pem::Error;
    match e {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => format!("no PEM {wanted} in it"),
        other => format!("not valid PEM ({other})"),
    }
}

#[cfg(test)]
pub(crate) mod test_certificate {
    //! A self-signed certificate for 127.0.0.1 and localhost, made per test.

    use std::path::PathBuf;

    pub struct TestCertificate {
        pub dir: tempfile::TempDir,
        pub certificate: PathBuf,
        pub key: PathBuf,
        pub der: Vec<u8>,
    }

    pub fn make() -> TestCertificate {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(names).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let certificate = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&certificate, cert.pem()).unwrap();
        std::fs::write(&key, signing_key.serialize_pem()).unwrap();
        TestCertificate {
            dir,
            certificate,
            key,
            der: cert.der().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_certificate_and_key_load() {
        let made = test_certificate::make();
        assert!(server_config(&made.certificate, &made.key).is_ok());
    }

    #[test]
    fn a_key_of_another_certificate_is_named_as_the_mismatch() {
        let one = test_certificate::make();
        let other = test_certificate::make();
        let err = server_config(&one.certificate, &other.key).unwrap_err();
        assert!(matches!(err, TlsSetupError::Mismatch { .. }), "{err}");
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn missing_and_swapped_files_say_which_file_is_wrong() {
        let made = test_certificate::make();
        let missing = made.dir.path().join("nope.pem");
        let err = server_config(&missing, &made.key).unwrap_err();
        assert!(err.to_string().starts_with("tls_certificate"), "{err}");
        assert!(err.to_string().contains("nope.pem"), "{err}");
        // The key file holds no certificate, the certificate file no key.
        let err = server_config(&made.key, &made.certificate).unwrap_err();
        assert!(err.to_string().starts_with("tls_certificate"), "{err}");
        let err = server_config(&made.certificate, &made.certificate).unwrap_err();
        assert!(err.to_string().starts_with("tls_key"), "{err}");
    }
}
