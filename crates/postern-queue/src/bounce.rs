//! Delivery status notifications (RFC 3464 inside an RFC 6522 `multipart/report`): bounces,
//! delay warnings and success reports, built as bytes ready to spool. Pure: no I/O, no clock.
//!
//! In: the original envelope and message, and one [`DsnRecipient`] per recipient to report
//! (the caller picks them with [`wants_dsn`]). Out: the whole DSN message, CRLF line ends,
//! to be sent with the null sender to the original sender, or `None` when no DSN may be sent.
//!
//! Defends against: bounce loops (never to the null sender; `Auto-Submitted: auto-replied`);
//! header injection (CR, LF and other controls from the envelope or a remote reply become
//! spaces; fields are folded and capped below the 998-octet line limit); a boundary that
//! occurs in the returned message (chosen after looking at every part); returning huge
//! messages (above [`MAX_RETURNED_MESSAGE`] only the headers go back); and malformed
//! originals (no header/body separator, empty, endless lines), which never cause a panic.
//!
//! Decisions: RET=HDRS, and every report that is not a failure, return headers only;
//! RET=FULL or no RET returns the whole message on failure. The text part is 7bit when it
//! is ASCII, quoted-printable otherwise. An SMTPUTF8 message (or any non-ASCII address) gets
//! the RFC 6533 `global` media types, `utf-8` as the address type of non-ASCII addresses.
//! The DSN needs SMTPUTF8 to travel only when the sender's address is non-ASCII, and
//! 8BITMIME when the bytes are not all ASCII.

use std::collections::HashSet;
use std::fmt::Write as _;

use postern_core::{DsnRet, Envelope, QueueId, Recipient};

/// Largest original returned in full; a larger one goes back as its header section only.
pub const MAX_RETURNED_MESSAGE: usize = 10 * 1024 * 1024;
/// Longest value of a report field, in octets, before folding.
const MAX_FIELD_VALUE: usize = 900;
/// Longest explanation of one recipient in the text part, in octets.
const MAX_EXPLANATION: usize = 4096;
/// Where header fields are folded when they have spaces to fold at (RFC 5322 §2.1.1).
const FOLD_WIDTH: usize = 78;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    Failed,
    Delayed,
    Relayed,
    Delivered,
}

impl DsnAction {
    /// The `Action:` keyword (RFC 3464 §2.3.3).
    pub fn keyword(self) -> &'static str {
        match self {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
            DsnAction::Relayed => "relayed",
            DsnAction::Delivered => "delivered",
        }
    }

    /// Used when the caller's status is not `class.subject.detail`.
    fn default_status(self) -> &'static str {
        match self {
            DsnAction::Failed => "5.0.0",
            DsnAction::Delayed => "4.0.0",
            DsnAction::Relayed | DsnAction::Delivered => "2.0.0",
        }
    }
}

/// One recipient's line in the report.
#[derive(Debug, Clone)]
pub struct DsnRecipient {
    /// From the envelope (address, notify, orcpt).
    pub recipient: Recipient,
    pub action: DsnAction,
    /// Enhanced status, e.g. "5.1.1", "4.4.1", "2.0.0".
    pub status: String,
    /// The remote reply, e.g. "550 5.1.1 <x@y>: no such user".
    pub diagnostic: Option<String>,
    /// Host name of the server that answered, e.g. "mx.example.net".
    pub remote_mta: Option<String>,
    /// Unix ms.
    pub last_attempt_ms: Option<i64>,
    /// Unix ms; reported for `Delayed` only.
    pub will_retry_until_ms: Option<i64>,
}

pub struct DsnInput<'a> {
    /// Our host name.
    pub reporting_mta: &'a str,
    /// The original message's envelope.
    pub envelope: &'a Envelope,
    pub recipients: &'a [DsnRecipient],
    /// The original message as spooled (headers + body, CRLF).
    pub original: &'a [u8],
    /// Queue id the DSN itself will have (for its Message-ID and boundary).
    pub dsn_queue_id: QueueId,
    pub now_ms: i64,
}

/// Whether this recipient's NOTIFY asks for a DSN with this action (RFC 3461 §4.1):
/// no NOTIFY given => Failed and Delayed yes, Relayed/Delivered no; NOTIFY=NEVER => never;
/// otherwise exactly the listed conditions (SUCCESS covers Relayed and Delivered).
pub fn wants_dsn(recipient: &Recipient, action: DsnAction) -> bool {
    match recipient.notify {
        None => matches!(action, DsnAction::Failed | DsnAction::Delayed),
        Some(notify) if notify.never => false,
        Some(notify) => match action {
            DsnAction::Failed => notify.failure,
            DsnAction::Delayed => notify.delay,
            DsnAction::Relayed | DsnAction::Delivered => notify.success,
        },
    }
}

/// A DSN without its top header fields: what the system mailer needs besides the
/// recipient (it writes `From`, `To`, `Date`, `Message-ID` and `Auto-Submitted` itself).
#[derive(Debug, Clone)]
pub struct DsnParts {
    pub subject: &'static str,
    /// `MIME-Version` and the `multipart/report` `Content-Type`, each without CRLF.
    pub mime_headers: Vec<String>,
    /// The body after the empty line: preamble and the three parts, CRLF line ends.
    pub body: Vec<u8>,
}

/// Builds the complete DSN message (headers + body, CRLF line ends, ready to spool and send
/// with the null sender to envelope.sender). Returns None when envelope.sender is None (never
/// bounce to the null sender) or recipients is empty. The queue manager sends
/// [`build_dsn_parts`] through the system mailer instead, which writes the top fields from
/// the configured postmaster.
pub fn build_dsn(input: &DsnInput<'_>) -> Option<Vec<u8>> {
    let sender = input.envelope.sender.as_ref()?;
    let parts = build_dsn_parts(input)?;
    let mta = host(input.reporting_mta);
    let mut head = String::new();
    push_field(&mut head, "Date", &rfc5322_date(input.now_ms));
    push_field(&mut head, "From", &format!("Mail Delivery System <MAILER-DAEMON@{mta}>"));
    push_field(&mut head, "To", &format!("<{}>", clean(&sender.to_string(), false)));
    push_field(&mut head, "Subject", parts.subject);
    push_field(&mut head, "Message-ID", &format!("<{}@{mta}>", input.dsn_queue_id));
    push_field(&mut head, "Auto-Submitted", "auto-replied");
    for field in &parts.mime_headers {
        push_mime_field(&mut head, field);
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&parts.body);
    Some(out)
}

/// The DSN's subject, MIME headers and body (RFC 3464 inside RFC 6522 `multipart/report`).
/// `None` under the same conditions as [`build_dsn`].
pub fn build_dsn_parts(input: &DsnInput<'_>) -> Option<DsnParts> {
    input.envelope.sender.as_ref()?;
    if input.recipients.is_empty() {
        return None;
    }
    let global = is_global(input);
    let failed = input.recipients.iter().any(|r| r.action == DsnAction::Failed);
    let returned = returned_part(input, failed);
    let text = human_text(input, &returned.note, failed);
    let (text, text_encoding) = match text.is_ascii() && text.split("\r\n").all(|l| l.len() < 998) {
        true => (text, "7bit"),
        false => (quoted_printable(&text), "quoted-printable"),
    };
    let status = delivery_status(input, global);
    let boundary = choose_boundary(input.dsn_queue_id, &[text.as_bytes(), status.as_bytes(), returned.bytes]);
    let (report_type, returned_type) = match (global, returned.full) {
        (false, true) => ("delivery-status", "message/rfc822"),
        (false, false) => ("delivery-status", "text/rfc822-headers"),
        (true, true) => ("global-delivery-status", "message/global"),
        (true, false) => ("global-delivery-status", "message/global-headers"),
    };
    let content_type = format!("multipart/report; report-type={report_type}; boundary=\"{boundary}\"");
    let mime_headers = vec!["MIME-Version: 1.0".to_string(), format!("Content-Type: {content_type}")];

    let mut out = b"This is a MIME-encapsulated message.\r\n".to_vec();
    let text_head = format!("text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {text_encoding}");
    push_part(&mut out, &boundary, "Notification", &text_head, text.as_bytes());
    let status_head = format!("message/{report_type}\r\nContent-Transfer-Encoding: {}", bits(status.as_bytes()));
    push_part(&mut out, &boundary, "Delivery report", &status_head, status.as_bytes());
    let description = match (failed, returned.full) {
        (true, true) => "Undelivered Message",
        (true, false) => "Undelivered Message Headers",
        (false, _) => "Message Headers",
    };
    let returned_head = format!("{returned_type}\r\nContent-Transfer-Encoding: {}", bits(returned.bytes));
    push_part(&mut out, &boundary, description, &returned_head, returned.bytes);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Some(DsnParts { subject: subject(input.recipients), mime_headers, body: out })
}

/// RFC 6533 applies: the message was SMTPUTF8, or an address we report is not ASCII.
fn is_global(input: &DsnInput<'_>) -> bool {
    let envelope = input.envelope;
    envelope.smtputf8
        || envelope.sender.as_ref().is_some_and(|s| s.is_utf8())
        || input.recipients.iter().any(|r| r.recipient.address.is_utf8())
}

fn subject(recipients: &[DsnRecipient]) -> &'static str {
    if recipients.iter().any(|r| r.action == DsnAction::Failed) {
        "Undelivered Mail Returned to Sender"
    } else if recipients.iter().any(|r| r.action == DsnAction::Delayed) {
        "Delayed Mail (still being retried)"
    } else {
        "Successful Mail Delivery Report"
    }
}

/// Opens a body part: delimiter, part headers, blank line, content.
fn push_part(out: &mut Vec<u8>, boundary: &str, description: &str, content_type: &str, content: &[u8]) {
    let head =
        format!("\r\n--{boundary}\r\nContent-Description: {description}\r\nContent-Type: {content_type}\r\n\r\n");
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(content);
}

fn bits(bytes: &[u8]) -> &'static str {
    if bytes.is_ascii() { "7bit" } else { "8bit" }
}

/// What goes back in part 3, and the sentence in part 1 that says so.
struct Returned<'a> {
    bytes: &'a [u8],
    full: bool,
    note: String,
}

/// RET (RFC 3461 §4.3): HDRS, or any report that is not a failure, returns the header
/// section; FULL or no RET returns the whole message unless it exceeds the cap.
fn returned_part<'a>(input: &DsnInput<'a>, failed: bool) -> Returned<'a> {
    let original = input.original;
    let headers_only = input.envelope.ret == Some(DsnRet::Hdrs) || !failed;
    if !headers_only && original.len() <= MAX_RETURNED_MESSAGE {
        return Returned { bytes: original, full: true, note: "Your message is attached below.".into() };
    }
    let mut note = if input.envelope.ret == Some(DsnRet::Hdrs) {
        "As you asked, only the headers of your message are attached below.".to_string()
    } else if !failed {
        "The headers of your message are attached below.".to_string()
    } else {
        let mib = MAX_RETURNED_MESSAGE / (1024 * 1024);
        format!("Your message is larger than {mib} MiB, so only its headers are attached below.")
    };
    let mut headers = header_section(original);
    if headers.len() > MAX_RETURNED_MESSAGE {
        let cut =
            headers[..MAX_RETURNED_MESSAGE].iter().rposition(|b| *b == b'\n').map_or(MAX_RETURNED_MESSAGE, |i| i + 1);
        headers = &headers[..cut];
        note.push_str(" They were too long and have been cut short.");
    }
    Returned { bytes: headers, full: false, note }
}

/// The header section up to and including its last line end; all of a message that has no
/// blank line (it is then taken to be all headers).
fn header_section(original: &[u8]) -> &[u8] {
    if original.starts_with(b"\r\n") || original.starts_with(b"\n") {
        return &[];
    }
    let crlf = find(original, b"\r\n\r\n", 0).map(|i| i + 2);
    let lf = find(original, b"\n\n", 0).map(|i| i + 1);
    match (crlf, lf) {
        (Some(a), Some(b)) => &original[..a.min(b)],
        (Some(end), None) | (None, Some(end)) => &original[..end],
        (None, None) => original,
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut at = from;
    while let Some(offset) = haystack.get(at..)?.iter().position(|&b| b == first) {
        let start = at + offset;
        if haystack.get(start + 1..start + needle.len())? == rest {
            return Some(start);
        }
        at = start + 1;
    }
    None
}

/// Part 1: what a person reads, grouped by action, in the spirit of Postfix's bounces.
fn human_text(input: &DsnInput<'_>, returned_note: &str, failed: bool) -> String {
    let mta = clean(input.reporting_mta, false);
    let mut text = format!("This is the mail system at host {mta}.\r\n\r\n");
    for action in [DsnAction::Failed, DsnAction::Delayed, DsnAction::Delivered, DsnAction::Relayed] {
        let mut group = input.recipients.iter().filter(|r| r.action == action).peekable();
        if group.peek().is_none() {
            continue;
        }
        text.push_str(match action {
            DsnAction::Failed => {
                "Your message could not be delivered to the recipients below, and the\r\n\
                 mail system has given up on them:\r\n"
            }
            DsnAction::Delayed => {
                "This is a warning only: you do not need to send your message again.\r\n\
                 It has not reached the recipients below yet, and the mail system is\r\n\
                 still trying:\r\n"
            }
            DsnAction::Delivered => "Your message was delivered to the recipients below:\r\n",
            DsnAction::Relayed => {
                "Your message was handed on to the mail systems of the recipients below.\r\n\
                 They do not send delivery reports, so you may hear nothing more about it:\r\n"
            }
        });
        for recipient in group {
            let _ = write!(
                text,
                "\r\n<{}>: {}\r\n",
                clean(&recipient.recipient.address.to_string(), false),
                reason(recipient)
            );
        }
        text.push_str("\r\n");
    }
    text.push_str(returned_note);
    text.push_str("\r\n\r\n");
    if failed {
        text.push_str("If you need help, write to your postmaster and include this report.\r\n\r\n");
    }
    text.push_str("                   The mail system\r\n");
    text
}

/// One recipient's explanation: who said what, or the status alone.
fn reason(r: &DsnRecipient) -> String {
    let host = r.remote_mta.as_deref().map(|h| clean(h, false));
    let diagnostic = r.diagnostic.as_deref().map(|d| clean(d, false));
    let mut reason = match (host, diagnostic) {
        (Some(host), Some(diag)) => match r.action {
            DsnAction::Failed | DsnAction::Delayed => format!("host {host} said: {diag}"),
            DsnAction::Relayed | DsnAction::Delivered => format!("accepted by host {host}: {diag}"),
        },
        (Some(host), None) => format!("host {host}, status {}", status_code(r)),
        (None, Some(diag)) => diag,
        (None, None) => format!("status {}", status_code(r)),
    };
    reason.truncate(prefix(&reason, MAX_EXPLANATION).len());
    if let (DsnAction::Delayed, Some(until)) = (r.action, r.will_retry_until_ms) {
        let _ = write!(reason, " (will retry until {})", rfc5322_date(until));
    }
    reason
}

/// Part 2 (RFC 3464 §2): the per-message block, then one block per recipient.
fn delivery_status(input: &DsnInput<'_>, global: bool) -> String {
    let ascii = !global;
    let envelope = input.envelope;
    let mut out = String::new();
    if let Some(envid) = envelope.envid.as_deref().map(|e| clean(e, ascii)).filter(|e| !e.is_empty()) {
        push_field(&mut out, "Original-Envelope-Id", &envid);
    }
    push_field(&mut out, "Reporting-MTA", &format!("dns; {}", host(input.reporting_mta)));
    push_field(&mut out, "Arrival-Date", &rfc5322_date(envelope.received_at_ms));
    push_field(&mut out, "X-Postern-Queue-ID", &envelope.queue_id.to_string());
    for r in input.recipients {
        out.push_str("\r\n");
        if let Some(original) = r.recipient.orcpt.as_deref().and_then(|o| original_recipient(o, global)) {
            push_field(&mut out, "Original-Recipient", &original);
        }
        let address = &r.recipient.address;
        let address_type = if address.is_utf8() { "utf-8" } else { "rfc822" };
        push_field(&mut out, "Final-Recipient", &format!("{address_type}; {}", clean(&address.to_string(), ascii)));
        push_field(&mut out, "Action", r.action.keyword());
        push_field(&mut out, "Status", status_code(r));
        if let Some(name) = &r.remote_mta {
            push_field(&mut out, "Remote-MTA", &format!("dns; {}", host(name)));
        }
        if let Some(diagnostic) = &r.diagnostic {
            push_field(&mut out, "Diagnostic-Code", &format!("smtp; {}", clean(diagnostic, ascii)));
        }
        if let Some(at) = r.last_attempt_ms {
            push_field(&mut out, "Last-Attempt-Date", &rfc5322_date(at));
        }
        if let (DsnAction::Delayed, Some(until)) = (r.action, r.will_retry_until_ms) {
            push_field(&mut out, "Will-Retry-Until", &rfc5322_date(until));
        }
    }
    out
}

/// The caller's status when it is `class.subject.detail` (RFC 3463), else the action's default.
fn status_code(r: &DsnRecipient) -> &str {
    let mut parts = r.status.split('.');
    let class_ok = parts.next().is_some_and(|c| matches!(c, "2" | "4" | "5"));
    let rest: Vec<&str> = parts.collect();
    let rest_ok =
        rest.len() == 2 && rest.iter().all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    if class_ok && rest_ok { &r.status } else { r.action.default_status() }
}

/// `Original-Recipient` from ORCPT (`addr-type;xtext`, RFC 3461 §4.2): the decoded address
/// when it is clean text, else the value as received; `None` when it is not `type;value`.
/// For the `utf-8` type a global report also decodes `\x{HEX}` (RFC 6533 §3).
fn original_recipient(orcpt: &str, global: bool) -> Option<String> {
    let (kind, value) = orcpt.split_once(';')?;
    let kind = kind.trim();
    if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let decoded = decode_xtext(value.trim()).and_then(|d| match global && kind.eq_ignore_ascii_case("utf-8") {
        true => decode_unitext(&d),
        false => Some(d),
    });
    let acceptable = |s: &str| !s.is_empty() && !s.chars().any(char::is_control) && (global || s.is_ascii());
    let address = decoded.filter(|d| acceptable(d)).unwrap_or_else(|| clean(value.trim(), !global));
    Some(format!("{kind};{address}"))
}

/// xtext (RFC 3461 §4): `+HH` is the octet HH. `None` on a bad escape or invalid UTF-8.
fn decode_xtext(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'+' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `\x{HEX}` escapes of utf-8-addr-xtext (RFC 6533 §3). `None` on a malformed escape.
fn decode_unitext(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\\x{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let end = after.find('}')?;
        let code = u32::from_str_radix(after.get(..end).filter(|h| (1..=6).contains(&h.len()))?, 16).ok()?;
        out.push(char::from_u32(code)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A boundary that occurs in none of the parts: `=_postern_{id}_{n:08}` with the lowest `n`
/// not found after any occurrence of the prefix (each occurrence rules out at most one `n`).
fn choose_boundary(id: QueueId, parts: &[&[u8]]) -> String {
    let prefix = format!("=_postern_{id}_");
    let mut taken = HashSet::new();
    for part in parts {
        let mut from = 0;
        while let Some(at) = find(part, prefix.as_bytes(), from) {
            from = at + 1;
            let digits = part.get(at + prefix.len()..at + prefix.len() + 8).unwrap_or_default();
            if digits.len() == 8 && digits.iter().all(u8::is_ascii_digit) {
                taken.insert(digits.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')));
            }
        }
    }
    let n = (0..=taken.len() as u32).find(|n| !taken.contains(n)).unwrap_or_default();
    format!("{prefix}{n:08}")
}

/// A value fit for one header field: controls (CR and LF included) become spaces, and
/// when `ascii`, non-ASCII characters become `?`.
fn clean(value: &str, ascii: bool) -> String {
    let cleaned: String = value
        .chars()
        .map(|c| match c {
            c if c.is_control() => ' ',
            c if ascii && !c.is_ascii() => '?',
            c => c,
        })
        .collect();
    cleaned.trim().to_string()
}

/// A host name fit for `dns;` fields and addresses: ASCII, no controls, no spaces.
fn host(name: &str) -> String {
    clean(name, true).split_whitespace().collect()
}

/// Appends `Name: value`, capped at [`MAX_FIELD_VALUE`] octets and folded at spaces.
/// A `Name: value` field (as [`DsnParts::mime_headers`] holds them), folded like
/// [`push_field`]; a line without a colon is dropped.
pub(crate) fn push_mime_field(out: &mut String, field: &str) {
    if let Some((name, value)) = field.split_once(':') {
        push_field(out, name.trim(), value.trim());
    }
}

fn push_field(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push(':');
    let mut width = name.len() + 1;
    for word in prefix(value, MAX_FIELD_VALUE).split(' ').filter(|w| !w.is_empty()) {
        if width + 1 + word.len() > FOLD_WIDTH && width > name.len() + 1 {
            out.push_str("\r\n");
            width = 0;
        }
        out.push(' ');
        out.push_str(word);
        width += 1 + word.len();
    }
    out.push_str("\r\n");
}

/// The longest prefix of `text` of at most `max` octets that ends on a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Quoted-printable (RFC 2045 §6.7) of CRLF text, lines of at most 76 characters.
fn quoted_printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for (n, line) in text.split("\r\n").enumerate() {
        if n > 0 {
            out.push_str("\r\n");
        }
        let mut width = 0;
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let last = i + 1 == bytes.len();
            let literal = matches!(b, b'!'..=b'<' | b'>'..=b'~') || (matches!(b, b' ' | b'\t') && !last);
            let len = if literal { 1 } else { 3 };
            if width + len > 75 {
                out.push_str("=\r\n");
                width = 0;
            }
            if literal {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "={b:02X}");
            }
            width += len;
        }
    }
    out
}

/// RFC 5322 date-time in UTC, e.g. `Tue, 14 Nov 2023 22:13:20 +0000`; clamped to years 1970..=9999.
pub(crate) fn rfc5322_date(unix_ms: i64) -> String {
    const LAST_SECOND: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = unix_ms.div_euclid(1000).clamp(0, LAST_SECOND);
    let (days, time) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let weekday = WEEKDAYS.get((days % 7) as usize).copied().unwrap_or("Thu");
    let month = MONTHS.get(month.saturating_sub(1) as usize).copied().unwrap_or("Jan");
    format!("{weekday}, {day} {month} {year} {:02}:{:02}:{:02} +0000", time / 3600, time % 3600 / 60, time % 60)
}

/// Days since 1970-01-01 (not negative) to (year, month 1..=12, day 1..=31), after
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let (era, day_of_era) = (z / 146_097, z % 146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
