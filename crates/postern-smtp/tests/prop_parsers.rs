//! Property tests (fuzzing in CI) for the parsers that take a client's bytes first: the
//! command line, the line reader, the DATA decoder, BDAT's bare line-end check and the
//! header scan (hop count, Date, Message-ID).
//!
//! In: structure-aware generated input (plausible commands, messages and header blocks)
//! with random mutations, split at random chunk boundaries. Out: failures naming the
//! shrunk input. Beyond "never panics", each parser keeps its invariant: the decoder's
//! output does not depend on how the input is chunked, dot-unstuffing inverts
//! dot-stuffing, a bare CR or LF is always found, the output is bounded by the limit.
//! Cases: [`config`] (CI default; `PROPTEST_CASES` raises it for the long run).

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use postern_smtp::command::Command;
use postern_smtp::dotstuff::{DataEnd, DotDecoder, find_bare_line_end};
use postern_smtp::io::{Line, SmtpStream};
use postern_smtp::message::scan_headers;
use proptest::prelude::*;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `cases` by default; `PROPTEST_CASES` overrides (the documented long run).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

// ---------- generators ----------

/// Bytes a hostile client likes: line ends, dots, NUL, 8-bit, brackets, quotes.
fn hostile_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        4 => prop::sample::select(b"\r\n.\0\t \"<>@:=%!\\\x7f\xff\xc3\xa9".to_vec()),
        3 => b'a'..=b'z',
        1 => any::<u8>(),
    ]
}

/// Random edits of a byte string: insert, delete, overwrite, duplicate a slice, truncate.
fn mutate(input: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let edit = (any::<prop::sample::Index>(), any::<prop::sample::Index>(), hostile_byte(), 0u8..5);
    prop::collection::vec(edit, 0..4).prop_map(move |edits| {
        let mut out = input.clone();
        for (at, to, byte, kind) in edits {
            let len = out.len();
            match kind {
                0 => out.insert(at.index(len + 1), byte),
                1 if len > 0 => {
                    out.remove(at.index(len));
                }
                2 if len > 0 => out[at.index(len)] = byte,
                3 if len > 0 => {
                    let (a, b) = (at.index(len), to.index(len));
                    let slice = out[a.min(b)..=a.max(b)].to_vec();
                    out.splice(a..a, slice);
                    out.truncate(4096);
                }
                4 => out.truncate(at.index(len + 1)),
                _ => {}
            }
        }
        out
    })
}

fn verb() -> impl Strategy<Value = String> {
    let verbs = [
        "EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "HELP", "STARTTLS", "AUTH",
        "ETRN", "EXPN", "TURN", "XCLIENT", "",
    ];
    (prop::sample::select(verbs.to_vec()), any::<u32>()).prop_map(|(v, case)| random_case(v, case))
}

fn random_case(text: &str, bits: u32) -> String {
    text.chars().enumerate().map(|(i, c)| if bits >> (i % 32) & 1 == 1 { c.to_ascii_lowercase() } else { c }).collect()
}

/// A path as a hostile client writes one (the address grammar has its own test in
/// postern-core; here the command splitter must find the closing `>`).
fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9.+%!-]{1,20}@[a-z0-9.-]{1,20}",
        "\"[ a-z>\\\\\"@]{0,12}\"@[a-z.]{1,10}",
        "@[a-z.]{1,8}(,@[a-z.]{1,8})?:[a-z]{1,5}@[a-z.]{1,8}",
        "[^\r\n]{0,40}",
    ]
}

fn params() -> impl Strategy<Value = Vec<String>> {
    let param = prop_oneof![
        "SIZE=[0-9]{1,22}",
        Just("BODY=8BITMIME".to_string()),
        Just("SMTPUTF8".to_string()),
        "RET=(FULL|HDRS|x)",
        "ENVID=[!-~]{0,40}",
        "NOTIFY=(NEVER|SUCCESS,FAILURE,DELAY|x)",
        "ORCPT=rfc822;[!-~]{0,40}",
        "[A-Za-z]{1,10}(=[!-~]{0,10})?",
    ];
    prop::collection::vec(param, 0..20)
}

fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z0-9.-]{1,30}",
        (prop_oneof![Just("FROM:"), Just("TO:"), Just("from: "), Just("To:")], path(), params())
            .prop_map(|(k, p, ps)| format!("{k}<{p}>{}", ps.iter().map(|p| format!(" {p}")).collect::<String>())),
        ("[0-9]{1,25}", prop_oneof![Just(""), Just(" LAST"), Just(" last"), Just(" x")])
            .prop_map(|(n, l)| format!("{n}{l}")),
        ("(PLAIN|LOGIN|CRAM-MD5|[A-Z_-]{1,25})", prop::option::of("[A-Za-z0-9+/=]{0,60}"))
            .prop_map(|(m, i)| i.map_or(m.clone(), |i| format!("{m} {i}"))),
    ]
}

/// A plausible command line, then mutated.
fn command_line() -> impl Strategy<Value = Vec<u8>> {
    (verb(), prop_oneof![Just(" "), Just("\t"), Just("  ")], argument())
        .prop_map(|(v, sep, a)| if a.is_empty() { v } else { format!("{v}{sep}{a}") }.into_bytes())
        .prop_flat_map(mutate)
}

/// Cuts `input` at the given points (sorted, deduplicated, in range).
fn split(input: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c.index(input.len() + 1)).collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::new();
    let mut last = 0;
    for p in points.into_iter().chain([input.len()]) {
        chunks.push(input[last..p].to_vec());
        last = p;
    }
    chunks
}

/// Message lines as a sender writes them: leading dots, empty lines, 8-bit, long lines.
fn message_lines() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let line = prop_oneof![
        Just(Vec::new()),
        Just(b".".to_vec()),
        Just(b"..".to_vec()),
        "\\.[ -~]{0,20}".prop_map(String::into_bytes),
        "[ -~]{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>().prop_map(|b| if b == b'\r' || b == b'\n' { b'x' } else { b }), 0..100),
    ];
    prop::collection::vec(line, 0..30)
}

/// Dot-stuffing as a client does it (RFC 5321 §4.5.2), with the terminator.
fn stuff(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

// ---------- references (simple, obviously right, slow) ----------

fn decode_whole(limit: u64, input: &[u8]) -> (Vec<u8>, usize, Option<DataEnd>, u64) {
    let mut d = DotDecoder::new(limit);
    let mut out = Vec::new();
    let (n, end) = d.decode(input, &mut out);
    (out, n, end, d.size())
}

/// Feeds `chunks` in order, stopping at the end of data; `consumed` counts across chunks.
fn decode_chunked(limit: u64, chunks: &[Vec<u8>]) -> (Vec<u8>, usize, Option<DataEnd>, u64) {
    let mut d = DotDecoder::new(limit);
    let mut out = Vec::new();
    let mut consumed = 0;
    for chunk in chunks {
        let (n, end) = d.decode(chunk, &mut out);
        consumed += n;
        if end.is_some() {
            return (out, consumed, end, d.size());
        }
        assert_eq!(n, chunk.len(), "a chunk without an end must be consumed whole");
    }
    (out, consumed, None, d.size())
}

/// The first bare CR or LF, by its definition.
fn first_bare(m: &[u8]) -> Option<DataEnd> {
    (0..m.len()).find_map(|i| match m[i] {
        b'\n' if i == 0 || m[i - 1] != b'\r' => Some(DataEnd::BareLf),
        b'\r' if m.get(i + 1) != Some(&b'\n') => Some(DataEnd::BareCr),
        _ => None,
    })
}

/// The line reader's contract: lines up to LF; over `max` (+CR): too long; LF without CR:
/// bare; unterminated rest: end of stream.
fn expected_lines(input: &[u8], max: usize) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut rest = input;
    while let Some(i) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..i];
        lines.push(if i > max + 1 {
            Line::TooLong
        } else if line.last() == Some(&b'\r') {
            Line::Text(line[..i - 1].to_vec())
        } else {
            Line::BareLf
        });
        rest = &rest[i + 1..];
    }
    lines.push(Line::Eof);
    lines
}

/// A client that delivers its bytes in the given chunks, one per read; writes vanish.
struct Chunked(VecDeque<Vec<u8>>);

impl AsyncRead for Chunked {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if let Some(mut chunk) = self.0.pop_front() {
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            if n < chunk.len() {
                self.0.push_front(chunk.split_off(n));
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Chunked {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn read_all_lines(chunks: Vec<Vec<u8>>, max: usize) -> Vec<Line> {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let chunks = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let mut stream = SmtpStream::new(Chunked(chunks));
        let mut lines = Vec::new();
        loop {
            let line = stream.read_line(max).await.unwrap();
            let eof = line == Line::Eof;
            lines.push(line);
            if eof {
                return lines;
            }
        }
    })
}

// ---------- properties ----------

proptest! {
    #![proptest_config(config(2000))]

    /// Any command line: no panic, same answer twice, syntax errors are 5xx with a status.
    #[test]
    fn command_parse_never_panics(line in command_line()) {
        let command = Command::parse(&line);
        prop_assert_eq!(&command, &Command::parse(&line));
        if let Command::Invalid(reply) = &command {
            prop_assert!((500..600).contains(&reply.code) && reply.status.is_some(), "{reply:?}");
        }
        let text = std::str::from_utf8(&line);
        let control = text.map_or(true, |t| t.chars().any(|c| c.is_control() && c != '\t'));
        if control {
            prop_assert!(matches!(command, Command::Invalid(_)), "{command:?}");
        }
    }

    /// Well-formed MAIL/RCPT: the path comes back as sent, parameters keyed in upper case.
    #[test]
    fn mail_and_rcpt_keep_path_and_params(
        rcpt in any::<bool>(),
        local in "[a-zA-Z0-9.+%!_-]{1,20}",
        domain in "[a-z0-9-]{1,10}\\.[a-z]{2,5}",
        ps in prop::collection::vec(("[A-Za-z]{1,10}", prop::option::of("[!-<>-~]{0,20}")), 0..16),
    ) {
        let path = format!("{local}@{domain}");
        let rendered: String = ps.iter()
            .map(|(k, v)| v.as_ref().map_or(format!(" {k}"), |v| format!(" {k}={v}")))
            .collect();
        let line = format!("{} <{path}>{rendered}", if rcpt { "RCPT TO:" } else { "mail from:" });
        let (got_path, got_params) = match Command::parse(line.as_bytes()) {
            Command::Mail { path, params } if !rcpt => (path, params),
            Command::Rcpt { path, params } if rcpt => (path, params),
            other => return Err(TestCaseError::fail(format!("{line:?} -> {other:?}"))),
        };
        prop_assert_eq!(got_path, path);
        prop_assert_eq!(got_params.len(), ps.len());
        for (got, (key, value)) in got_params.iter().zip(&ps) {
            prop_assert_eq!(&got.key, &key.to_ascii_uppercase());
            prop_assert_eq!(&got.value, value);
        }
    }

    /// BDAT: any decimal size that fits u64 is read exactly; anything else is a 501.
    #[test]
    fn bdat_sizes(size in "[0-9]{1,22}", last in prop_oneof![Just(""), Just(" LAST"), Just(" last"), Just(" more")]) {
        let command = Command::parse(format!("BDAT {size}{last}").as_bytes());
        let want = match (size.len() <= 19).then(|| size.parse::<u64>().ok()).flatten() {
            Some(n) if last != " more" => Command::Bdat { size: n, last: !last.is_empty() },
            _ => {
                prop_assert!(matches!(command, Command::Invalid(r) if r.code == 501));
                return Ok(());
            }
        };
        prop_assert_eq!(command, want);
    }

    /// Lines: the same lines whatever the chunking, as the contract says.
    #[test]
    fn line_reader_is_chunking_independent(
        input in prop::collection::vec(hostile_byte(), 0..600),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        max in 1usize..80,
    ) {
        prop_assert_eq!(read_all_lines(split(&input, &cuts), max), expected_lines(&input, max));
    }

    /// Dot-unstuffing inverts dot-stuffing, whatever follows the end of data.
    #[test]
    fn unstuffing_inverts_stuffing(lines in message_lines(), after in prop::collection::vec(hostile_byte(), 0..40)) {
        let stuffed = stuff(&lines);
        let mut input = stuffed.clone();
        input.extend_from_slice(&after);
        let (out, n, end, size) = decode_whole(u64::MAX, &input);
        let want: Vec<u8> = lines.iter().flat_map(|l| l.iter().copied().chain(*b"\r\n")).collect();
        prop_assert_eq!(end, Some(DataEnd::Complete));
        prop_assert_eq!(n, stuffed.len());
        prop_assert_eq!(size, want.len() as u64);
        prop_assert_eq!(out, want);
    }

    /// Any input, any chunking: the same output, consumption and end as in one piece.
    #[test]
    fn decoder_is_chunking_independent(
        input in message_lines().prop_map(|l| stuff(&l)).prop_flat_map(mutate),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        prop_assert_eq!(decode_chunked(u64::MAX, &split(&input, &cuts)), decode_whole(u64::MAX, &input));
    }

    /// The end the decoder reports is the truth: Complete only after a clean CRLF.CRLF with
    /// no bare CR/LF before it; a bare CR/LF always ends decoding, at the right place.
    #[test]
    fn bare_line_ends_are_always_found(input in message_lines().prop_map(|l| stuff(&l)).prop_flat_map(mutate)) {
        let (_, n, end, _) = decode_whole(u64::MAX, &input);
        let seen = &input[..n];
        match end {
            Some(DataEnd::Complete) => {
                prop_assert_eq!(first_bare(seen), None);
                prop_assert!(seen == b".\r\n" || seen.ends_with(b"\r\n.\r\n"));
                let earlier = seen.len() > 3 && (seen.starts_with(b".\r\n")
                    || seen[..n - 3].windows(5).any(|w| w == b"\r\n.\r\n"));
                prop_assert!(!earlier, "an earlier end was skipped");
            }
            Some(DataEnd::BareLf) => {
                prop_assert!(seen.ends_with(b"\n") && !seen.ends_with(b"\r\n"));
                prop_assert_eq!(first_bare(seen), Some(DataEnd::BareLf));
            }
            Some(DataEnd::BareCr) => {
                prop_assert!(seen.ends_with(b"\r") && input.get(n) != Some(&b'\n'));
                prop_assert_eq!(first_bare(&input[..=n.min(input.len() - 1)]), Some(DataEnd::BareCr));
            }
            None => {
                prop_assert_eq!(n, input.len());
                let whole = input.strip_suffix(b"\r").unwrap_or(&input);
                prop_assert_eq!(first_bare(whole), None);
            }
        }
    }

    /// Past the limit nothing more is stored, yet the end is still found and the size counted.
    #[test]
    fn decoder_output_is_bounded(
        input in message_lines().prop_map(|l| stuff(&l)),
        limit in 0u64..400,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let (_, n_all, end_all, size_all) = decode_whole(u64::MAX, &input);
        let (out, n, end, size) = decode_chunked(limit, &split(&input, &cuts));
        prop_assert!(out.len() as u64 <= limit, "{} octets stored over a limit of {limit}", out.len());
        prop_assert_eq!((n, end, size), (n_all, end_all, size_all));
    }

    /// BDAT's check agrees with the definition of a bare CR/LF.
    #[test]
    fn bdat_bare_line_end_check(input in message_lines().prop_map(|l| stuff(&l)).prop_flat_map(mutate)) {
        prop_assert_eq!(find_bare_line_end(&input), first_bare(&input));
    }

    /// Hop count, Date and Message-ID from generated header blocks; the body never counts.
    #[test]
    fn header_scan_counts_what_was_written(
        fields in prop::collection::vec((0u8..5, "[ -~]{0,30}", any::<bool>()), 0..40),
        crlf in any::<bool>(),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut message = String::new();
        let (mut received, mut has_date, mut message_id) = (0, false, None::<String>);
        for (kind, value, folded) in &fields {
            let name = match kind {
                0 => { received += 1; ["Received", "RECEIVED", "received "][value.len() % 3] }
                1 => { has_date = true; "Date" }
                2 => "Message-ID",
                3 => "Subject",
                _ => "X-Received-Not",
            };
            let value = value.trim();
            if *kind == 2 && message_id.is_none() {
                // An empty value continues on the folded line, as RFC 5322 allows.
                message_id = match (value.is_empty(), *folded) {
                    (false, _) => Some(value.to_string()),
                    (true, true) => Some(format!("continued {value}").trim().to_string()),
                    (true, false) => None,
                };
            }
            message.push_str(&format!("{name}: {value}{eol}"));
            if *folded {
                message.push_str(&format!("\tcontinued {value}{eol}"));
            }
        }
        message.push_str(&format!("{eol}Received: in the body{eol}Date: body{eol}"));
        let facts = scan_headers(message.as_bytes());
        prop_assert_eq!(facts.received, received);
        prop_assert_eq!(facts.has_date, has_date);
        prop_assert_eq!(facts.message_id, message_id);
    }

    /// Any bytes: no panic, the Message-ID kept bounded.
    #[test]
    fn header_scan_never_panics(input in prop::collection::vec(hostile_byte(), 0..2000)) {
        let facts = scan_headers(&input);
        prop_assert!(facts.message_id.is_none_or(|m| m.chars().count() <= 998));
        prop_assert!(facts.received <= input.len());
    }
}
