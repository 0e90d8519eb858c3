//! Property tests for the body hash ([`postern_dkim::body`]): it must be byte-identical
//! to what mail-auth 0.13.3 computes when it signs the same message itself (the path
//! the signer took before the body was hashed by us).
//!
//! In: messages built from pieces that matter to relaxed canonicalization and to finding
//! the body (words, single and runs of spaces, tabs, CRLF, bare CR, bare LF, empty and
//! whitespace-only lines, control and 8-bit bytes, header fields, folding, messages with
//! no body or no final CRLF), and arbitrary bytes; long clean runs, so that the fast
//! prefix is exercised across its 32-byte blocks. Out: failures naming the shrunk message.
//! Cases: [`config`] (`PROPTEST_CASES` raises it).

use mail_auth::common::crypto::Ed25519Key;
use mail_auth::dkim::{Canonicalization, DkimSigner};
use postern_dkim::body::body_hash;
use proptest::prelude::*;

const HEAD: &[u8] = b"Received: from client.example\r\n\tby mx.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n";

fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// The `bh=` mail-auth computes when it signs `message` under `HEAD` itself.
fn mail_auth_bh(key: Ed25519Key, message: &[u8]) -> Vec<u8> {
    DkimSigner::from_key(key)
        .domain("example.com")
        .selector("s")
        .headers(["From", "Subject"])
        .header_canonicalization(Canonicalization::Relaxed)
        .body_canonicalization(Canonicalization::Relaxed)
        .sign_chained([HEAD, message])
        .map(|s| s.bh)
        .unwrap_or_else(|e| panic!("mail-auth signs: {e}"))
}

fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-zA-Z0-9.,]{1,12}".prop_map(String::into_bytes),
        3 => Just(b" ".to_vec()),
        3 => Just(b"\r\n".to_vec()),
        1 => Just(b"  ".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => Just(b" \t ".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r\n\r\n".to_vec()),
        1 => Just(b" \r\n".to_vec()),
        1 => Just(b"\x0c".to_vec()),
        1 => Just(b"\x00".to_vec()),
        1 => Just("é".as_bytes().to_vec()),
        1 => Just(b"a long clean line of text, the kind most bodies are made of.\r\n".to_vec()),
        1 => Just([&b"clean, "[..]; 12].concat()),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(piece(), 0..60).prop_map(|pieces| pieces.concat())
}

fn header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"From: alice@example.com\r\n".to_vec()),
        Just(b"Subject: a\r\n folded\r\n\tsubject\r\n".to_vec()),
        Just(b"X-Bare: lf\n".to_vec()),
        Just(b"no colon\r\n".to_vec()),
        Just(b"no colon, bare lf\n".to_vec()),
        Just(b"To: b@x.example".to_vec()),
    ]
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(header(), 0..4), prop_oneof![Just(&b"\r\n"[..]), Just(&b"\n"[..]), Just(&b""[..])], body())
        .prop_map(|(headers, separator, body)| [headers.concat(), separator.to_vec(), body].concat())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn the_body_hash_is_mail_auths(message in message()) {
        let ours = body_hash(&message);
        prop_assert_eq!(ours.as_ref(), &mail_auth_bh(seeded(), &message)[..]);
    }

    #[test]
    fn arbitrary_bytes_too(message in prop::collection::vec(any::<u8>(), 0..400)) {
        let ours = body_hash(&message);
        prop_assert_eq!(ours.as_ref(), &mail_auth_bh(seeded(), &message)[..]);
    }
}

/// A new key: only `bh=` is compared, the key does not matter.
fn seeded() -> Ed25519Key {
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).expect("key");
    Ed25519Key::from_pkcs8_der(pkcs8.as_ref()).expect("key")
}
