//! AFL target: the DATA decoder (dot-unstuffing, end of data, bare CR/LF). The first two
//! bytes choose a chunk size and a size limit; the rest is the client's DATA stream.
//! Crashes on a panic, on output that depends on the chunking, on stored output past the
//! limit, or on an end of data reported where the input has a bare CR or LF before it.
use postern_smtp::dotstuff::{DataEnd, DotDecoder};

fn decode(input: &[u8], chunk: usize, limit: u64) -> (Vec<u8>, usize, Option<DataEnd>, u64) {
    let mut d = DotDecoder::new(limit);
    let mut out = Vec::new();
    let mut consumed = 0;
    for piece in input.chunks(chunk.max(1)) {
        let (n, end) = d.decode(piece, &mut out);
        consumed += n;
        if end.is_some() {
            return (out, consumed, end, d.size());
        }
        assert_eq!(n, piece.len());
    }
    (out, consumed, None, d.size())
}

fn bare_free(m: &[u8]) -> bool {
    (0..m.len()).all(|i| match m[i] {
        b'\n' => i > 0 && m[i - 1] == b'\r',
        b'\r' => m.get(i + 1) == Some(&b'\n'),
        _ => true,
    })
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let [chunk, limit, input @ ..] = data else { return };
        let whole = decode(input, input.len(), u64::MAX);
        assert_eq!(decode(input, usize::from(*chunk), u64::MAX), whole);
        let bounded = decode(input, usize::from(*chunk), u64::from(*limit));
        assert!(bounded.0.len() as u64 <= u64::from(*limit));
        assert_eq!((bounded.1, bounded.2, bounded.3), (whole.1, whole.2, whole.3));
        if whole.2 == Some(DataEnd::Complete) {
            assert!(bare_free(&input[..whole.1]));
        }
    });
}
