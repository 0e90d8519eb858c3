//! AFL target: the header scan at end of data (hop count, Date, Message-ID). Crashes on a
//! panic or an unbounded Message-ID.
use postern_smtp::message::scan_headers;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let facts = scan_headers(data);
        assert!(facts.message_id.is_none_or(|m| m.chars().count() <= 998));
        assert!(facts.received <= data.len());
    });
}
