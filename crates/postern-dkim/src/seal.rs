//! Private keys at rest: sealed with AES-256-GCM under a master key that lives in a file
//! of the data directory (`<data_dir>/dkim.key`, mode 0600), never in the database.
//!
//! In: the master key file's path (created on first start), PKCS#8 bytes and the key's
//! identity (domain, selector, algorithm). Out: sealed bytes to store, and the PKCS#8
//! bytes again when opened with the same master key and the same identity.
//!
//! Defends against: a database dump, backup or shared database (PostgreSQL later) holding
//! usable signing keys (without the file they are noise); a sealed key moved to another
//! domain or selector in the database (the identity is the AEAD's associated data, so it
//! no longer opens); a master key readable by others (refused at start, with the fix); an
//! existing master key overwritten by a second start (created with a hard link, which
//! never replaces a file); and nonce reuse (a fresh random 96-bit nonce per sealing; a
//! server seals a few keys, far below GCM's random-nonce bound of 2^32).
//!
//! Sealed format: `0x01` (version) | nonce (12) | ciphertext | tag (16).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use postern_core::dkim::DkimAlgorithm;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::{DkimError, Result};

const VERSION: u8 = 1;
const KEY_LEN: usize = 32;

/// The key that seals every DKIM private key of a server (or of a cluster: each node needs
/// the same file).
pub struct MasterKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// What a sealed key belongs to; bound to the ciphertext as associated data.
#[derive(Debug, Clone, Copy)]
pub struct KeyIdentity<'a> {
    pub domain: &'a str,
    pub selector: &'a str,
    pub algorithm: DkimAlgorithm,
}

impl KeyIdentity<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("postern-dkim-v1\0{}\0{}\0{}", self.domain, self.selector, self.algorithm.name()).into_bytes()
    }
}

impl MasterKey {
    /// Reads the master key file, or creates it (mode 0600) when there is none. `true`:
    /// it was created now. A file that others may read or write is refused.
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool)> {
        let fail = |reason: String| DkimError::MasterKey { path: path.to_path_buf(), reason };
        match std::fs::metadata(path) {
            Ok(meta) => {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return Err(fail(format!("mode {mode:04o} lets others read it: chmod 600 it")));
                }
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?);
                let bytes = Zeroizing::new(
                    STANDARD.decode(text.trim()).map_err(|_| fail("not a base64 key: damaged?".into()))?,
                );
                let key = MasterKey::from_bytes(&bytes).map_err(|e| fail(e.to_string()))?;
                Ok((key, false))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
                SystemRandom::new().fill(bytes.as_mut()).map_err(|_| fail("no randomness for a new key".into()))?;
                write_new(path, STANDARD.encode(bytes.as_ref()).as_bytes()).map_err(|e| fail(e.to_string()))?;
                Ok((MasterKey::from_bytes(bytes.as_ref())?, true))
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// A master key from its 32 octets.
    pub fn from_bytes(bytes: &[u8]) -> Result<MasterKey> {
        if bytes.len() != KEY_LEN {
            return Err(DkimError::Seal(format!("a master key has {KEY_LEN} octets, not {}", bytes.len())));
        }
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| DkimError::Seal("bad master key".into()))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, &[b"postern-dkim-master-key-id\0", bytes].concat());
        let id = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
        Ok(MasterKey { key: LessSafeKey::new(unbound), id })
    }

    /// A short public fingerprint (16 hex digits), stored next to each sealed key so that a
    /// key sealed under another master key is recognized as such.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn seal(&self, plaintext: &[u8], identity: KeyIdentity<'_>) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| DkimError::Seal("no randomness for a nonce".into()))?;
        let mut in_out = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(identity.aad()), &mut in_out)
            .map_err(|_| DkimError::Seal("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(out)
    }

    /// The plaintext of `sealed`, if it was sealed under this master key for `identity`.
    pub fn open(&self, sealed: &[u8], identity: KeyIdentity<'_>) -> Result<Zeroizing<Vec<u8>>> {
        let Some((&VERSION, rest)) = sealed.split_first() else {
            return Err(DkimError::Seal("unknown format".into()));
        };
        if rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(DkimError::Seal("too short".into()));
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| DkimError::Seal("bad nonce".into()))?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let plain = self.key.open_in_place(nonce, Aad::from(identity.aad()), &mut in_out).map_err(|_| {
            DkimError::Seal("does not open: sealed under another master key, for another key, or damaged".into())
        })?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

/// Writes a new file with mode 0600 and links it into place: an existing file is never
/// replaced (two servers starting at once keep the first key).
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.write_all(b"\n")).and_then(|()| file.sync_all());
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    linked?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(selector: &str) -> KeyIdentity<'_> {
        KeyIdentity { domain: "example.com", selector, algorithm: DkimAlgorithm::Rsa }
    }

    #[test]
    fn sealed_keys_open_only_for_their_identity_and_master_key() {
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let sealed = master.seal(b"private", identity("s1")).unwrap();
        assert_eq!(sealed.len(), 1 + 12 + 7 + 16);
        assert_ne!(sealed, master.seal(b"private", identity("s1")).unwrap(), "a fresh nonce each time");
        assert_eq!(master.open(&sealed, identity("s1")).unwrap().as_slice(), b"private");
        assert!(master.open(&sealed, identity("s2")).is_err(), "moved to another selector");
        let other = KeyIdentity { domain: "example.com", selector: "s1", algorithm: DkimAlgorithm::Ed25519 };
        assert!(master.open(&sealed, other).is_err(), "relabelled algorithm");
        assert!(MasterKey::from_bytes(&[8; 32]).unwrap().open(&sealed, identity("s1")).is_err());
        let mut damaged = sealed.clone();
        damaged[20] ^= 1;
        assert!(master.open(&damaged, identity("s1")).is_err());
        assert!(master.open(&sealed[..10], identity("s1")).is_err());
        assert!(master.open(&[], identity("s1")).is_err());
        assert!(MasterKey::from_bytes(&[1; 16]).is_err());
    }

    #[test]
    fn the_master_key_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dkim.key");
        let (first, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let (again, created) = MasterKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(first.id(), again.id());
        assert_eq!(first.id().len(), 16);
        let sealed = first.seal(b"k", identity("s")).unwrap();
        assert_eq!(again.open(&sealed, identity("s")).unwrap().as_slice(), b"k");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");

        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = MasterKey::load_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("chmod 600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not base64!\n").unwrap();
        assert!(MasterKey::load_or_create(&path).unwrap_err().to_string().contains("damaged"));
    }
}
