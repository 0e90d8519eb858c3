//! What a signature covers and for whom: the header fields to list in `h=`, and the
//! domain of the `From:` header. Pure functions over the message's header section.
//!
//! In: the message as it will be spooled (our headers, then the client's). Out: the
//! `h=` template for the signer, and the From domain or why there is none.
//!
//! `h=`: the fields RFC 6376 §5.4.1 recommends, plus those that change how the body is
//! read (MIME-Version, Content-Type, Content-Transfer-Encoding) and Message-ID, each when
//! present; and [`OVERSIGNED`] listed once more than present, so that a second instance
//! added on the way breaks the signature (§8.15). Trace fields (Received) are not signed.
//!
//! Defends against: messages whose From cannot name one signing domain (no From, several
//! From fields, mailboxes of different domains, domain literals): they are not signed,
//! and the reason is given. Parsing is bounded by the header section and never panics.

/// Signed when present (RFC 6376 §5.4.1, plus Message-ID and the MIME fields).
pub const SIGNED: &[&str] = &[
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "Resent-Date",
    "Resent-From",
    "Resent-To",
    "Resent-Cc",
    "In-Reply-To",
    "References",
    "List-Id",
    "List-Help",
    "List-Unsubscribe",
    "List-Subscribe",
    "List-Post",
    "List-Owner",
    "List-Archive",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// Listed once more than present, so that none can be added after signing.
pub const OVERSIGNED: &[&str] = &["From", "Subject", "Date", "To", "Cc", "Message-ID", "Reply-To"];

/// The header fields of a message, in order, as (name, unfolded value), up to the empty
/// line (or the first line that is not a field). `parts` are read as one message.
pub fn fields<'a>(parts: &[&'a [u8]]) -> Vec<(&'a [u8], Vec<u8>)> {
    let mut out: Vec<(&'a [u8], Vec<u8>)> = Vec::new();
    for part in parts {
        let mut pos = 0;
        while pos < part.len() {
            let end = memchr::memchr(b'\n', &part[pos..]).map_or(part.len(), |i| pos + i + 1);
            let line = &part[pos..end];
            pos = end;
            let text = line.strip_suffix(b"\n").unwrap_or(line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if text.is_empty() {
                return out;
            }
            if text[0] == b' ' || text[0] == b'\t' {
                match out.last_mut() {
                    Some((_, value)) => value.extend_from_slice(text),
                    None => return out,
                }
                continue;
            }
            let Some(colon) = memchr::memchr(b':', text) else { return out };
            out.push((text[..colon].trim_ascii_end(), text[colon + 1..].to_vec()));
        }
    }
    out
}

/// The `h=` template: the [`SIGNED`] fields present, then [`OVERSIGNED`]. The signer lists
/// every instance of a present field and adds each template entry it found nothing for
/// once more, which over-signs exactly the [`OVERSIGNED`] fields.
pub fn signing_template(fields: &[(&[u8], Vec<u8>)]) -> Vec<&'static str> {
    let present = |name: &str| fields.iter().any(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()));
    SIGNED.iter().copied().filter(|name| present(name)).chain(OVERSIGNED.iter().copied()).collect()
}

/// The domain of the From field, lower-case, or why there is none to sign for.
pub fn from_domain(fields: &[(&[u8], Vec<u8>)]) -> Result<String, &'static str> {
    let mut froms = fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(b"from"));
    let Some((_, value)) = froms.next() else { return Err("no From header") };
    if froms.next().is_some() {
        return Err("several From headers");
    }
    let value = String::from_utf8_lossy(value);
    let mut domains: Vec<String> = Vec::new();
    for mailbox in split_mailboxes(&strip_comments(&value)) {
        let address = match (mailbox.rfind('<'), mailbox.rfind('>')) {
            (Some(open), Some(close)) if open < close => &mailbox[open + 1..close],
            _ => mailbox.trim(),
        };
        let Some((_, domain)) = address.rsplit_once('@') else { return Err("a From mailbox has no domain") };
        let domain = domain.trim().trim_end_matches('.').to_lowercase();
        let valid = !domain.is_empty()
            && domain.len() <= 253
            && domain.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
        if !valid {
            return Err("the From domain is not a domain name");
        }
        if !domains.contains(&domain) {
            domains.push(domain);
        }
    }
    match domains.as_slice() {
        [] => Err("no From address"),
        [one] => Ok(one.clone()),
        _ => Err("the From mailboxes have different domains"),
    }
}

/// The value without comments (nested, with quoted pairs), quoted strings kept.
fn strip_comments(value: &str) -> String {
    let (mut out, mut depth, mut quoted, mut escaped) = (String::new(), 0usize, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                quoted = !quoted;
                out.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Mailboxes split at commas outside quoted strings and angle brackets; a group's name
/// (`name:`) and end (`;`) are dropped.
fn split_mailboxes(value: &str) -> Vec<String> {
    let (mut out, mut current, mut quoted, mut angle, mut escaped) = (Vec::new(), String::new(), false, false, false);
    for c in value.chars() {
        if escaped {
            escaped = false;
            current.push(c);
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            ':' if !quoted && !angle => {
                current.clear();
                continue;
            }
            ',' | ';' if !quoted && !angle => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter().filter(|m| !m.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(value: &str) -> Result<String, &'static str> {
        let message = format!("Subject: x\r\nFrom:{value}\r\n\r\nbody\r\n");
        from_domain(&fields(&[message.as_bytes()]))
    }

    #[test]
    fn from_domains() {
        assert_eq!(from(" alice@Example.COM").as_deref(), Ok("example.com"));
        assert_eq!(from(" \"Smith, Alice\" <alice@example.com>").as_deref(), Ok("example.com"));
        assert_eq!(
            from(" Alice (at work, really) <alice@example.com> (comment <x@evil.example>)").as_deref(),
            Ok("example.com")
        );
        assert_eq!(from(" \"a@evil.example\" <alice@example.com>").as_deref(), Ok("example.com"));
        assert_eq!(from("\r\n\t=?utf-8?q?J=C3=B6rg?= <joerg@example.com.>").as_deref(), Ok("example.com"));
        assert_eq!(from(" a@example.com, b@EXAMPLE.com").as_deref(), Ok("example.com"));
        assert_eq!(from(" team: a@example.com, b@example.com;").as_deref(), Ok("example.com"));
        assert_eq!(from(" jörg@bücher.example").as_deref(), Ok("bücher.example"));
        assert_eq!(from(" a@example.com, b@other.example"), Err("the From mailboxes have different domains"));
        assert_eq!(from(" alice"), Err("a From mailbox has no domain"));
        assert_eq!(from(" alice@[192.0.2.1]"), Err("the From domain is not a domain name"));
        assert_eq!(from(" "), Err("no From address"));
        assert_eq!(from_domain(&fields(&[b"Subject: x\r\n\r\n"])), Err("no From header"));
        let two = b"From: a@example.com\r\nFrom: b@example.com\r\n\r\n";
        assert_eq!(from_domain(&fields(&[two])), Err("several From headers"));
    }

    #[test]
    fn fields_span_parts_and_stop_at_the_body() {
        let head: &[u8] = b"Received: from x\r\n\tby y\r\n";
        let body: &[u8] = b"From: a@example.com\r\nSubject: one\r\n two\r\n\r\nTo: not@a.header\r\n";
        let all = fields(&[head, body]);
        let names: Vec<&[u8]> = all.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, [&b"Received"[..], b"From", b"Subject"]);
        assert_eq!(all[2].1, b" one two");
        assert_eq!(fields(&[b"no colon here\r\nFrom: a@b\r\n"]).len(), 0);
    }

    #[test]
    fn the_template_signs_what_is_there_and_oversigns_the_seven() {
        let message = b"from: a@example.com\r\nSubject: s\r\nList-Id: <l.example.com>\r\nX-Mailer: m\r\n\r\n";
        let template = signing_template(&fields(&[message]));
        assert_eq!(
            template,
            ["From", "Subject", "List-Id", "From", "Subject", "Date", "To", "Cc", "Message-ID", "Reply-To"]
        );
    }
}
