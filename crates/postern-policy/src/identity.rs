//! The identity behind an account (SPEC.md §1), found by the account's identification
//! method: the AUTH user name, the envelope sender, or the first present of a list of
//! headers (optionally through a regex, optionally stripped before queueing). Every
//! method falls back to the envelope sender (`<>` for the null sender).
//!
//! In: the account entry, the session's AUTH name, the sender, the message as received.
//! Out: the identity (at most [`MAX_LEN`] characters) and, when stripping, the message
//! without those headers. Defends against: header values of any size or encoding (bounded,
//! lossy UTF-8), folded headers, a header section without an end.

use postern_core::Address;
use postern_core::tenancy::IdentificationMethod;

use crate::directory::AccountEntry;

pub const MAX_LEN: usize = 255;

/// One header field: its name and the byte range of the whole field (continuation lines
/// and line end included).
struct Field<'a> {
    name: &'a [u8],
    start: usize,
    end: usize,
}

/// The fields of the header section, up to the first empty line or non-header line.
fn fields(message: &[u8]) -> Vec<Field<'_>> {
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut pos = 0;
    while pos < message.len() {
        let end = memchr_newline(&message[pos..]).map_or(message.len(), |i| pos + i + 1);
        let line = &message[pos..end];
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() {
            break;
        }
        if text[0] == b' ' || text[0] == b'\t' {
            match out.last_mut() {
                Some(field) => field.end = end,
                None => break,
            }
        } else {
            let Some(colon) = text.iter().position(|&b| b == b':') else { break };
            out.push(Field { name: text[..colon].trim_ascii_end(), start: pos, end });
        }
        pos = end;
    }
    out
}

fn memchr_newline(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

/// The unfolded, trimmed value of a field.
fn value(message: &[u8], field: &Field<'_>) -> String {
    let raw = &message[field.start..field.end];
    let colon = raw.iter().position(|&b| b == b':').map_or(0, |i| i + 1);
    let bytes: Vec<u8> = raw[colon..].iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
    let text = String::from_utf8_lossy(&bytes);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn bounded(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(MAX_LEN).collect()
}

fn sender_identity(sender: Option<&Address>) -> String {
    sender.map(|a| bounded(&a.to_string().to_lowercase())).unwrap_or_else(|| "<>".to_string())
}

/// The identity of a message sent through `entry`.
pub fn identify(entry: &AccountEntry, auth_user: Option<&str>, sender: Option<&Address>, message: &[u8]) -> String {
    let how = &entry.account.settings.identification;
    match how.method {
        IdentificationMethod::Sender => sender_identity(sender),
        IdentificationMethod::Auth => match auth_user {
            Some(user) => bounded(&user.to_lowercase()),
            None => sender_identity(sender),
        },
        IdentificationMethod::Header => {
            let found = fields(message);
            let value = how.headers.iter().find_map(|wanted| {
                found.iter().find(|f| f.name.eq_ignore_ascii_case(wanted.as_bytes())).map(|f| value(message, f))
            });
            let extracted = value.and_then(|v| match &entry.identity_regex {
                None => Some(v),
                Some(re) => re.captures(&v).and_then(|c| c.get(1).or_else(|| c.get(0))).map(|m| m.as_str().to_string()),
            });
            match extracted.map(|v| bounded(v.trim())).filter(|v| !v.is_empty()) {
                Some(identity) => identity,
                None => sender_identity(sender),
            }
        }
    }
}

/// The message without the account's identification headers, when the account strips
/// them; `None` when there is nothing to remove.
pub fn strip(entry: &AccountEntry, message: &[u8]) -> Option<Vec<u8>> {
    let how = &entry.account.settings.identification;
    if how.method != IdentificationMethod::Header || !how.strip || how.headers.is_empty() {
        return None;
    }
    let doomed: Vec<(usize, usize)> = fields(message)
        .iter()
        .filter(|f| how.headers.iter().any(|h| f.name.eq_ignore_ascii_case(h.as_bytes())))
        .map(|f| (f.start, f.end))
        .collect();
    if doomed.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(message.len());
    let mut pos = 0;
    for (start, end) in doomed {
        out.extend_from_slice(&message[pos..start]);
        pos = end;
    }
    out.extend_from_slice(&message[pos..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::compile_identity_regex;
    use postern_core::tenancy::{Account, AccountKind, AccountSettings, Identification};
    use postern_core::test_support::account_of;

    fn entry(method: IdentificationMethod, headers: &[&str], regex: Option<&str>, strip: bool) -> AccountEntry {
        let mut settings = AccountSettings::for_kind(AccountKind::Ip);
        settings.identification = Identification {
            method,
            headers: headers.iter().map(|h| h.to_string()).collect(),
            regex: regex.map(str::to_string),
            strip,
        };
        AccountEntry {
            account: Account { settings, ..account_of(1, "example.com", AccountKind::Ip, "192.0.2.0/24") },
            password_hash: None,
            identity_regex: regex.map(|r| compile_identity_regex(r).unwrap()),
        }
    }

    const MESSAGE: &[u8] = b"From: a@example.com\r\nX-AuthUser: \r\n  customer-42@shop.example\r\nX-Client-ID: id=7781; plan=gold\r\nSubject: hi\r\n\r\nX-Client-ID: in the body\r\n";

    #[test]
    fn methods_and_fallbacks() {
        let sender = Address::parse("Sender@Example.com", false).unwrap();
        let e = entry(IdentificationMethod::Sender, &[], None, false);
        assert_eq!(identify(&e, Some("u"), Some(&sender), MESSAGE), "sender@example.com");
        assert_eq!(identify(&e, None, None, MESSAGE), "<>");
        let e = entry(IdentificationMethod::Auth, &[], None, false);
        assert_eq!(identify(&e, Some("Alice@Example.com"), Some(&sender), MESSAGE), "alice@example.com");
        assert_eq!(identify(&e, None, Some(&sender), MESSAGE), "sender@example.com");
        // The first header of the list that is present wins, folded values unfolded.
        let e = entry(IdentificationMethod::Header, &["X-Missing", "x-authuser", "X-Client-ID"], None, false);
        assert_eq!(identify(&e, None, Some(&sender), MESSAGE), "customer-42@shop.example");
        let e = entry(IdentificationMethod::Header, &["X-Client-ID"], Some(r"id=(\d+)"), false);
        assert_eq!(identify(&e, None, Some(&sender), MESSAGE), "7781");
        let e = entry(IdentificationMethod::Header, &["X-Client-ID"], Some(r"plan=\w+"), false);
        assert_eq!(identify(&e, None, Some(&sender), MESSAGE), "plan=gold");
        let e = entry(IdentificationMethod::Header, &["X-Client-ID"], Some(r"nomatch"), false);
        assert_eq!(identify(&e, None, Some(&sender), MESSAGE), "sender@example.com");
        let e = entry(IdentificationMethod::Header, &["X-Nowhere"], None, false);
        assert_eq!(identify(&e, None, Some(&sender), MESSAGE), "sender@example.com");
    }

    #[test]
    fn strips_only_listed_header_fields_of_the_header_section() {
        let e = entry(IdentificationMethod::Header, &["X-AuthUser", "x-client-id"], None, true);
        let out = strip(&e, MESSAGE).unwrap();
        assert_eq!(out, b"From: a@example.com\r\nSubject: hi\r\n\r\nX-Client-ID: in the body\r\n");
        let keep = entry(IdentificationMethod::Header, &["X-AuthUser"], None, false);
        assert!(strip(&keep, MESSAGE).is_none());
        let absent = entry(IdentificationMethod::Header, &["X-Other"], None, true);
        assert!(strip(&absent, MESSAGE).is_none());
    }

    #[test]
    fn hostile_values_are_bounded() {
        let mut m = b"X-Client-ID: ".to_vec();
        m.extend(std::iter::repeat_n(b'a', 100_000));
        m.extend_from_slice(b"\r\n\xff\xfe\r\n");
        let e = entry(IdentificationMethod::Header, &["X-Client-ID"], None, false);
        assert_eq!(identify(&e, None, None, &m).len(), MAX_LEN);
        let e = entry(IdentificationMethod::Header, &["X-Client-ID"], None, true);
        assert_eq!(strip(&e, b"X-Client-ID: no end").unwrap(), b"");
    }
}
