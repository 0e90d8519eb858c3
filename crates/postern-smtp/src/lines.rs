//! The line-length rule for a received message (RFC 5321 §4.5.3.1.6: at most 998 octets
//! between line ends). Pure functions over the message bytes.
//!
//! In: a whole message (DATA after dot decoding, or BDAT chunks assembled). Out: the
//! longest line as the next hop will see it, and the refusal when it is too long.
//! Defends against accepting what the next hop will refuse: a message with a longer line
//! would be answered `250` here and bounced later by a strict server, so the sender would
//! get a bounce for a message that was accepted. We refuse it at the end of data instead
//! (`550 5.6.0`); we never rewrap, which would break the sender's own DKIM signatures.

use postern_core::Reply;

/// The longest line RFC 5321 allows, without its CRLF.
pub const MAX_LINE: usize = 998;

/// The longest line of `message` as it is sent on with DATA, CRLF excluded: a line that
/// starts with `.` gets a stuffing dot on the wire, so it counts one octet more.
pub fn longest_line(message: &[u8]) -> usize {
    let mut longest = 0;
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', message).chain(std::iter::once(message.len())) {
        let line = &message[start..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        longest = longest.max(line.len() + usize::from(line.first() == Some(&b'.')));
        start = end + 1;
    }
    longest
}

/// The reply and the event's reason when `message` has a line over [`MAX_LINE`].
pub fn line_length_refusal(message: &[u8]) -> Option<(Reply, String)> {
    let longest = longest_line(message);
    if longest <= MAX_LINE {
        return None;
    }
    let reply = Reply::new(
        550,
        "5.6.0",
        format!("Error: message has a line of {longest} octets; lines may have at most {MAX_LINE} (RFC 5321)"),
    );
    Some((reply, format!("line of {longest} octets exceeds {MAX_LINE} (RFC 5321 4.5.3.1.6)")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_octets_between_line_ends_as_sent_on() {
        assert_eq!(longest_line(b""), 0);
        assert_eq!(longest_line(b"ab\r\nabcd\r\n"), 4);
        assert_eq!(longest_line(b"ab\r\nabcdef"), 6, "a last line without CRLF counts");
        assert_eq!(longest_line(b".abc\r\n"), 5, "the stuffing dot the next hop will see");
        let line = vec![b'x'; MAX_LINE];
        let mut m = b"Subject: s\r\n\r\n".to_vec();
        m.extend_from_slice(&line);
        m.extend_from_slice(b"\r\n");
        assert!(line_length_refusal(&m).is_none(), "998 octets are allowed");
        m.insert(20, b'x');
        let (reply, reason) = line_length_refusal(&m).unwrap();
        assert_eq!((reply.code, reply.status), (550, Some("5.6.0")));
        assert!(reason.contains("999 octets"), "{reason}");
    }
}
