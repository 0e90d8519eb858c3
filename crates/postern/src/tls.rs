//! The server certificate. Configured files are loaded as they are; with none configured, a
//! self-signed certificate for our host name is generated on first start and kept in
//! `<data>/tls/` (key mode 0600), so restarts keep the same certificate.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use postern_config::TlsFiles;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

pub struct LoadedTls {
    pub acceptor: TlsAcceptor,
    pub certificate: PathBuf,
    pub generated: bool,
}

pub fn load(configured: Option<&TlsFiles>, data_dir: &Path, hostname: &str) -> Result<LoadedTls> {
    let (files, generated) = match configured {
        Some(files) => (files.clone(), false),
        None => ensure_self_signed(data_dir, hostname)?,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.certificate)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("tls.certificate: {}: {e}", files.certificate.display()))?;
    if certs.is_empty() {
        return Err(anyhow!("tls.certificate: {}: no certificate found", files.certificate.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.private_key)
        .map_err(|e| anyhow!("tls.private_key: {}: {e}", files.private_key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| anyhow!("tls: certificate and key do not fit together: {e}"))?;
    Ok(LoadedTls { acceptor: TlsAcceptor::from(Arc::new(config)), certificate: files.certificate, generated })
}

fn ensure_self_signed(data_dir: &Path, hostname: &str) -> Result<(TlsFiles, bool)> {
    let dir = data_dir.join("tls");
    let files = TlsFiles { certificate: dir.join("cert.pem"), private_key: dir.join("key.pem") };
    if files.certificate.exists() && files.private_key.exists() {
        return Ok((files, false));
    }
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let mut names = vec![hostname.to_string()];
    if hostname != "localhost" {
        names.push("localhost".to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names).context("generate self-signed certificate")?;
    write_atomic(&files.private_key, certified.key_pair.serialize_pem().as_bytes(), 0o600)?;
    write_atomic(&files.certificate, certified.cert.pem().as_bytes(), 0o644)?;
    Ok((files, true))
}

fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let temp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temp)
        .with_context(|| format!("create {}", temp.display()))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).with_context(|| format!("write {}", temp.display()))?;
    fs::rename(&temp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}
