//! How a node reaches PostgreSQL: in the clear on a trusted network, or over TLS with the
//! server's certificate verified (its chain and its name, like libpq's `verify-full`).
//!
//! In: the connection string's `sslmode` and `[store] ca_file`. Out: the connector every
//! connection of the store (the pool's and the change listener's) is made with.
//!
//! - `sslmode=require` in the URL, or a `ca_file`: TLS, always verified, against the
//!   `ca_file` (PEM, the certificate authority that signed the server's certificate) or else
//!   the system's roots. A server without TLS, or a certificate that does not verify, is a
//!   failed connection, never a fall back to the clear.
//! - otherwise (`disable`, `prefer`, or no `sslmode`): no TLS. Postern never uses TLS it
//!   does not verify, so libpq's opportunistic `prefer` is the clear here.

use std::path::Path;
use std::sync::Arc;

use tokio_postgres::config::SslMode;

use crate::{BackendErrorKind, Result, StoreError};

/// The connector of a store's connections.
#[derive(Clone)]
pub(super) enum Tls {
    Off,
    Verified(tokio_postgres_rustls::MakeRustlsConnect),
}

fn failed(text: String) -> StoreError {
    StoreError::backend(BackendErrorKind::Failed, text)
}

/// The connector `pg` and `ca_file` ask for; with a `ca_file`, `pg` is set to require TLS.
pub(super) fn connector(pg: &mut tokio_postgres::Config, ca_file: Option<&Path>) -> Result<Tls> {
    if ca_file.is_none() && pg.get_ssl_mode() != SslMode::Require {
        pg.ssl_mode(SslMode::Disable);
        return Ok(Tls::Off);
    }
    pg.ssl_mode(SslMode::Require);
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            let certificates = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| failed(format!("[store] ca_file {}: {e}", path.display())))?;
            for certificate in certificates {
                let certificate =
                    certificate.map_err(|e| failed(format!("[store] ca_file {}: {e}", path.display())))?;
                roots
                    .add(certificate)
                    .map_err(|e| failed(format!("[store] ca_file {}: a certificate: {e}", path.display())))?;
            }
            if roots.is_empty() {
                return Err(failed(format!("[store] ca_file {}: no certificate in it", path.display())));
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            let (added, _) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                return Err(failed(
                    "sslmode=require: the system has no root certificates; set [store] ca_file".to_string(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(format!("TLS to PostgreSQL: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Tls::Verified(tokio_postgres_rustls::MakeRustlsConnect::new(config)))
}
