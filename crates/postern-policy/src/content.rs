//! Content checks that need no engine. GTUBE (the Generic Test for Unsolicited Bulk
//! Email) is always spam, so that every installation can test its spam path end to end.

/// The GTUBE string.
pub const GTUBE: &[u8] = b"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

/// Whether the message contains GTUBE anywhere (headers or body, as received).
pub fn is_gtube(message: &[u8]) -> bool {
    memchr::memmem::find(message, GTUBE).is_some()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_gtube() {
        let mut m = b"Subject: x\r\n\r\nhello ".to_vec();
        assert!(!super::is_gtube(&m));
        m.extend_from_slice(super::GTUBE);
        assert!(super::is_gtube(&m));
    }
}
