//! What the full-text index sees of a message: its decoded subject and its text body
//! (text/plain parts decoded, text/html parts reduced to their text), with mail-parser.
//!
//! In: the message as delivered (our headers, then the message). Out: the subject (one
//! line, at most 998 characters) and the body text (at most [`MAX_INDEXED_TEXT`] bytes).
//!
//! Defends against: huge messages (only the first [`MAX_PARSED`] bytes are parsed; the
//! rest is attachments as far as search is concerned), text that would not fit a row, and
//! messages mail-parser cannot make sense of (empty subject and text, never an error: the
//! copy is kept all the same).

/// The most bytes of body text indexed per message.
pub const MAX_INDEXED_TEXT: usize = 256 * 1024;
/// The most bytes of a message parsed for its text.
const MAX_PARSED: usize = 8 * 1024 * 1024;
/// The longest subject kept in the index.
const LONGEST_SUBJECT: usize = 998;

/// The subject and the text body of `message`.
pub(crate) fn extract(message: &[u8]) -> (String, String) {
    let message = &message[..message.len().min(MAX_PARSED)];
    let Some(parsed) = mail_parser::MessageParser::new().parse(message) else {
        return (String::new(), String::new());
    };
    let subject = one_line(parsed.subject().unwrap_or_default(), LONGEST_SUBJECT);
    let mut body = String::new();
    for i in 0..parsed.text_body_count() {
        if body.len() >= MAX_INDEXED_TEXT {
            break;
        }
        if let Some(text) = parsed.body_text(i) {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&text);
        }
    }
    truncate(&mut body, MAX_INDEXED_TEXT);
    (subject, body)
}

/// `text` on one line (control characters become spaces), at most `max` characters.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    text.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_string()
}

/// Cuts `text` to at most `max` bytes, at a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut at = max;
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        text.truncate(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_and_text_of_plain_and_html_parts() {
        let m = b"DKIM-Signature: v=1; d=x\r\nSubject: =?utf-8?q?R=C3=A9sum=C3=A9?= of\r\n\tMarch\r\n\
            MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
            Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            caf=C3=A9 numbers\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hidden <b>lighthouse</b></p>\r\n\
            --b\r\nContent-Type: application/octet-stream\r\n\r\nBINARYWORD\r\n--b--\r\n";
        let (subject, body) = extract(m);
        assert_eq!(subject, "Résumé of March");
        assert!(body.contains("café numbers"), "{body}");
        assert!(body.contains("lighthouse") && !body.contains("<b>"), "{body}");
        assert!(!body.contains("BINARYWORD"), "attachments are not text: {body}");
    }

    #[test]
    fn text_is_bounded_at_a_character_boundary() {
        let mut m = b"Subject: big\r\n\r\n".to_vec();
        m.extend("é".repeat(MAX_INDEXED_TEXT).as_bytes());
        let (_, body) = extract(&m);
        assert!(body.len() <= MAX_INDEXED_TEXT && body.len() > MAX_INDEXED_TEXT - 4);
        assert_eq!(one_line("a\r\nb\tc", 10), "a  b c");
        assert_eq!(extract(b"").0, "");
    }
}
