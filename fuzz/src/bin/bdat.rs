//! AFL target: BDAT's check of an assembled message for a bare CR or LF, against the
//! definition. Crashes on a panic or a disagreement.
use postern_smtp::dotstuff::{DataEnd, find_bare_line_end};

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let want = (0..data.len()).find_map(|i| match data[i] {
            b'\n' if i == 0 || data[i - 1] != b'\r' => Some(DataEnd::BareLf),
            b'\r' if data.get(i + 1) != Some(&b'\n') => Some(DataEnd::BareCr),
            _ => None,
        });
        assert_eq!(find_bare_line_end(data), want);
    });
}
