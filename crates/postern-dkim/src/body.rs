//! The body hash (`bh=`): SHA-256 of the body in relaxed canonical form (RFC 6376
//! §3.4.4), computed once per message for all its keys.
//!
//! In: the message as the client sent it (our headers come before it and have no body).
//! Out: the digest of the body as RFC 6376 §3.4.4 canonicalizes it, as dkimpy (our e2e
//! verifier) does: whitespace at line ends is deleted *before* empty lines at the end are
//! ignored, so whitespace-only lines at the end count for nothing ([`without_blank_tail`]).
//! mail-auth 0.13.3 keeps them (`a CRLF SP CRLF` becomes `a CRLF CRLF`); on every other
//! body the digest is byte-identical to mail-auth's.
//!
//! Line ends: our SMTP path refuses bare CR and bare LF (DATA and BDAT), so bodies here
//! have CRLF line ends only, perhaps without a final one (BDAT). Other bodies are hashed
//! as mail-auth reads them (a bare LF ends a line, a bare CR is dropped with the
//! whitespace just before it); `tests/prop_body.rs` says where dkimpy reads them otherwise.
//!
//! Most lines of a body are already canonical: no tab, no run of spaces, no whitespace at
//! the end, CRLF line ends, not empty. Runs of such lines (found by [`scan`], with SIMD on
//! x86_64) are hashed as they are, in one call each, without a copy; the other lines go
//! through mail-auth's canonicalization,
//! in segments cut where it is known to start afresh: after a line ending in a byte that
//! is not whitespace then CRLF, before a line starting with a byte that is not
//! whitespace (nothing before such a cut changes what mail-auth makes of what follows,
//! and the other way round). The last line always goes through mail-auth, which adds
//! the final CRLF.
//!
//! Defends against: a body whose form would make the fast path differ from the canonical
//! form (bare CR or LF, whitespace-only lines, control bytes, no final CRLF): such lines
//! are never hashed as they are, and no cut falls next to them (`tests/prop_body.rs`
//! compares with a line-by-line reference of the RFC and with mail-auth on random
//! bodies). Linear in the body; never panics.

use mail_auth::common::headers::Writable;
use mail_auth::dkim::Canonicalization;
use ring::digest::{Context, Digest, SHA256};

mod scan;

/// SHA-256 of the relaxed canonical body of `message`.
pub fn body_hash(message: &[u8]) -> Digest {
    let body = without_blank_tail(message.get(body_offset(message)..).unwrap_or_default());
    let mut hasher = Context::new(&SHA256);
    let mut start = 0;
    while start < body.len() {
        let rest = &body[start..];
        // `rest` starts the body or follows a cut: canonical as it is up to `regular`.
        let (regular, irregular) = canonical_prefix(rest);
        hasher.update(&rest[..regular]);
        let end = next_cut(rest, irregular).unwrap_or(rest.len());
        Canonicalization::Relaxed.canonical_body(&rest[regular..end], 0).write(&mut hasher);
        start += end;
    }
    hasher.finish()
}

/// `body` without its trailing whitespace, line ends and so whitespace-only lines: RFC 6376
/// §3.4.4 deletes whitespace at line ends *before* it ignores the empty lines at the end,
/// so `a CRLF SP CRLF` canonicalizes to `a CRLF`, as dkimpy computes it.
/// mail-auth 0.13.3 keeps such lines (`a CRLF CRLF`); given a body that ends in a byte
/// that is not whitespace nor a line end, it adds the one final CRLF itself, and an empty
/// body stays empty.
fn without_blank_tail(body: &[u8]) -> &[u8] {
    let end = body.iter().rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n')).map_or(0, |last| last + 1);
    body.get(..end).unwrap_or_default()
}

/// The first cut after `from`: a position after `x CR LF`, `x` not whitespace nor a line
/// end, followed by a byte that is not whitespace nor a line end.
fn next_cut(body: &[u8], from: usize) -> Option<usize> {
    let plain = |b: u8| !matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    memchr::memchr_iter(b'\n', body.get(from..)?).map(|lf| from + lf).find_map(|lf| {
        let cut = lf + 1;
        let ok = lf >= 2 && body[lf - 1] == b'\r' && plain(body[lf - 2]) && body.get(cut).is_some_and(|&b| plain(b));
        ok.then_some(cut)
    })
}

/// Where the body starts, as mail-auth's header iterator finds it: after the line that
/// ends the header section (an empty line, or a CRLF-ended line without a colon), or the
/// end of the message when there is none.
pub fn body_offset(message: &[u8]) -> usize {
    let mut start = 0;
    loop {
        match scan_field(message, start) {
            Scan::Field { end } => start = end,
            Scan::End { body } => return body,
        }
    }
}

enum Scan {
    /// A field (or a line without a colon ended by a bare LF) ends at `end`.
    Field { end: usize },
    /// The header section has ended; the body starts at `body`.
    End { body: usize },
}

/// The field that starts at `start`, read as mail-auth 0.13.3 reads it.
fn scan_field(message: &[u8], start: usize) -> Scan {
    let mut cur = start;
    while let Some(offset) = message.get(cur..).and_then(|rest| memchr::memchr2(b':', b'\n', rest)) {
        let pos = cur + offset;
        if message[pos] == b':' {
            return scan_value(message, pos);
        }
        if (offset > 0 && message[pos - 1] == b'\r') || pos == start {
            return Scan::End { body: pos + 1 };
        }
        match message.get(pos + 1) {
            Some(b' ' | b'\t') => cur = pos + 1,
            _ => return Scan::Field { end: pos + 1 },
        }
    }
    Scan::End { body: message.len() }
}

fn scan_value(message: &[u8], colon: usize) -> Scan {
    let mut cur = colon + 1;
    while let Some(offset) = message.get(cur..).and_then(|rest| memchr::memchr(b'\n', rest)) {
        let pos = cur + offset;
        match message.get(pos + 1) {
            Some(b' ' | b'\t') => cur = pos + 1,
            _ => return Scan::Field { end: pos + 1 },
        }
    }
    Scan::End { body: message.len() }
}

/// The length of the longest prefix of `body` made of whole lines that relaxed
/// canonicalization leaves as they are and that is followed by a byte that is not
/// whitespace or a line end (0 when there is none), and where the first irregular byte
/// is ([`first_irregular`]). A non-zero prefix ends with CRLF; relaxed canonicalization
/// leaves it as it is when a cut follows.
fn canonical_prefix(body: &[u8]) -> (usize, usize) {
    let first = first_irregular(body);
    match memchr::memrchr(b'\n', &body[..first]) {
        // The LF before the first irregular byte is regular: preceded by CR, followed by
        // a byte that is not whitespace or a line end.
        Some(lf) => (lf + 1, first),
        None => (0, first),
    }
}

/// The position of the first byte that relaxed canonicalization might change or that
/// changes how its neighbours are read ([`scan::irregular_in`]), or `body.len()`;
/// whitespace or a line end as the first byte is irregular too.
fn first_irregular(body: &[u8]) -> usize {
    match body.first() {
        Some(b' ' | b'\t' | b'\r' | b'\n') => 0,
        _ => scan::irregular_in(body, 1, body.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::headers::Writable;

    /// mail-auth's canonical form of the whole body.
    fn reference(body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        Canonicalization::Relaxed.canonical_body(body, 0).write(&mut out);
        out
    }

    #[test]
    fn the_prefix_stops_at_the_line_that_needs_work() {
        let prefix = |body: &[u8]| canonical_prefix(body).0;
        assert_eq!(prefix(b""), 0);
        assert_eq!(prefix(b"one line\r\n"), 0);
        assert_eq!(prefix(b"a\r\nb\r\n"), 3);
        assert_eq!(prefix(b"a b\r\nc  d\r\ne\r\n"), 5);
        assert_eq!(prefix(b"a\r\nb \r\nc\r\n"), 3);
        assert_eq!(prefix(b"a\r\n\r\nb\r\n"), 0, "an empty line ends the prefix");
        assert_eq!(prefix(b"a\r\n b\r\n"), 0);
        assert_eq!(prefix(b" a\r\nb\r\n"), 0);
        assert_eq!(prefix(b"a\nb\r\n"), 0);
        assert_eq!(prefix(b"a\r\nb\rc\r\n"), 3);
        let long = [&b"x y z\r\n"[..]; 40].concat();
        assert_eq!(prefix(&[&long[..], b"tab\there\r\n"].concat()), long.len());
        assert_eq!(prefix(&long), long.len() - 7);
    }

    #[test]
    fn cuts_fall_between_plain_line_ends_and_plain_line_starts() {
        assert_eq!(next_cut(b"a  b\r\nc\r\n", 1), Some(6));
        assert_eq!(next_cut(b"a  b \r\nc\r\n", 1), None, "whitespace before CRLF");
        assert_eq!(next_cut(b"a  b\r\n c\r\nd", 1), Some(10), "whitespace after CRLF");
        assert_eq!(next_cut(b"a  b\r\n", 1), None, "nothing after");
        assert_eq!(next_cut(b"a\n\r\nb", 0), None);
    }

    #[test]
    fn the_body_starts_where_mail_auth_says() {
        for (message, body) in [
            (&b"From: a\r\n\r\nbody\r\n"[..], &b"body\r\n"[..]),
            (b"From: a\r\nSubject: b\r\n c\r\n\r\n\r\nbody", b"\r\nbody"),
            (b"From: a\r\n", b""),
            (b"From: a", b""),
            (b"\r\nbody", b"body"),
            (b"no colon\r\nbody", b"body"),
            (b"From: a\nX\nbody\n\n", b""),
            (b"From: a\n\nbody", b"body"),
        ] {
            assert_eq!(&message[body_offset(message)..], body, "{:?}", String::from_utf8_lossy(message));
        }
    }

    #[test]
    fn hashes_match_mail_auth_on_examples() {
        for body in [
            &b""[..],
            b"\r\n",
            b"\r\n\r\n",
            b"a",
            b"a\r\n",
            b"a\r\n\r\n\r\n",
            b"a  b\t c \r\n",
            b"line\r\nline\r\n\r\n",
            b"x\r\ny\r\n\tz\r\n",
            b"clean\r\nin  between\r\nclean\r\nagain\r\n \r\nlast\r\n\r\n",
            b"a\r\nb\tc\r\n\x0cd\r\ne\r\n",
            b"a\r\nb \r\nc\r\n",
        ] {
            let message = [&b"From: a@b.example\r\n\r\n"[..], body].concat();
            let expected = ring::digest::digest(&SHA256, &reference(body));
            assert_eq!(body_hash(&message).as_ref(), expected.as_ref(), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn whitespace_only_lines_at_the_end_count_for_nothing() {
        for (body, canonical) in [
            (&b"a\r\n  \r\n"[..], &b"a\r\n"[..]),
            (b"a\r\n \r\n\r\n", b"a\r\n"),
            (b"a\r\n \t\r\n", b"a\r\n"),
            (b"a  b \r\n\t\r\n \r\n", b"a b\r\n"),
            (b"a\r\n\r\n \r\nb\r\n \r\n", b"a\r\n\r\n\r\nb\r\n"),
            (b"a\r\n  ", b"a\r\n"),
            (b" \r\n\t\r\n", b""),
            (b"  ", b""),
            (b"", b""),
        ] {
            let message = [&b"From: a@b.example\r\n\r\n"[..], body].concat();
            let expected = ring::digest::digest(&SHA256, canonical);
            assert_eq!(body_hash(&message).as_ref(), expected.as_ref(), "{:?}", String::from_utf8_lossy(body));
        }
    }
}
