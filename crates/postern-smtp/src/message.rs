//! What the session adds to a message: the `Received:` trace header and, on submission,
//! `Message-ID` and `Date` when missing. Also the header facts checked at end of data
//! (hop count). Pure functions over bytes.

use postern_core::{ClientInfo, QueueId, Recipient};

/// What the header section says, as far as the session cares.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HeaderFacts {
    /// Number of `Received:` fields (hops so far).
    pub received: usize,
    pub has_date: bool,
    /// The `Message-ID:` value, trimmed, when present.
    pub message_id: Option<String>,
}

/// Scans the header section (up to the first empty line, or a line that is not a header).
pub fn scan_headers(message: &[u8]) -> HeaderFacts {
    let mut facts = HeaderFacts::default();
    let mut pos = 0;
    // A Message-ID whose value starts on a continuation line (legal folding).
    let mut message_id_continues = false;
    while pos < message.len() {
        let end = memchr::memchr(b'\n', &message[pos..]).map_or(message.len(), |i| pos + i + 1);
        let line = trim_line_end(&message[pos..end]);
        pos = end;
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if message_id_continues {
                let value = String::from_utf8_lossy(line.trim_ascii());
                facts.message_id = Some(value.chars().take(998).collect());
                message_id_continues = false;
            }
            continue;
        }
        message_id_continues = false;
        let Some(colon) = memchr::memchr(b':', line) else { break };
        let name = line[..colon].trim_ascii_end();
        if name.eq_ignore_ascii_case(b"received") {
            facts.received += 1;
        } else if name.eq_ignore_ascii_case(b"date") {
            facts.has_date = true;
        } else if name.eq_ignore_ascii_case(b"message-id") && facts.message_id.is_none() {
            let value = String::from_utf8_lossy(line[colon + 1..].trim_ascii());
            if value.is_empty() {
                message_id_continues = true;
            } else {
                facts.message_id = Some(value.chars().take(998).collect());
            }
        }
    }
    facts
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Everything the `Received:` header says.
pub struct Trace<'a> {
    pub client: &'a ClientInfo,
    pub hostname: &'a str,
    pub queue_id: QueueId,
    pub recipients: &'a [Recipient],
    pub smtputf8: bool,
    pub esmtp: bool,
    pub date: &'a str,
}

/// `Received:` as Postfix writes it (RFC 5321 §4.4, protocol names from RFC 3848/6531);
/// `for <rcpt>` only with a single recipient, so that other recipients stay private.
pub fn received_header(t: &Trace<'_>) -> String {
    let helo = t.client.helo.as_deref().unwrap_or("unknown");
    let ip = match t.client.ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("IPv6:{v6}"),
    };
    let mut proto = String::new();
    if t.smtputf8 {
        proto.push_str("UTF8SMTP");
    } else {
        proto.push_str(if t.esmtp { "ESMTP" } else { "SMTP" });
    }
    let mut out = format!("Received: from {helo} ([{ip}])\r\n");
    if let Some(tls) = &t.client.tls {
        proto.push('S');
        out.push_str(&format!("\t(using {} with cipher {})\r\n", tls.version, tls.cipher));
    }
    match t.recipients {
        [only] => out.push_str(&format!(
            "\tby {} (Postern) with {proto} id {}\r\n\tfor <{}>; {}\r\n",
            t.hostname, t.queue_id, only.address, t.date
        )),
        _ => {
            out.push_str(&format!("\tby {} (Postern) with {proto} id {};\r\n\t{}\r\n", t.hostname, t.queue_id, t.date))
        }
    }
    out
}

/// RFC 5322 date-time for headers.
pub fn rfc5322_now() -> String {
    chrono::Local::now().format("%a, %d %b %Y %H:%M:%S %z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_header_section_only() {
        let m = b"Received: a\r\nreceived : b\r\n\tfolded\r\nMessage-ID:  <x@y> \r\nSubject: s\r\n\r\nReceived: in body\r\nDate: no\r\n";
        let f = scan_headers(m);
        assert_eq!(f, HeaderFacts { received: 2, has_date: false, message_id: Some("<x@y>".into()) });
        assert_eq!(scan_headers(b"").received, 0);
        assert!(scan_headers(b"Date: x\r\n").has_date);
        let folded = scan_headers(b"Message-ID:\r\n <long@example>\r\nSubject: s\r\n\r\n");
        assert_eq!(folded.message_id.as_deref(), Some("<long@example>"));
    }
}
