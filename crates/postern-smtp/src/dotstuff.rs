//! The DATA decoder: removes dot-stuffing (RFC 5321 §4.5.2) and finds the one true end of
//! data, `<CR><LF>.<CR><LF>`.
//!
//! Defends against SMTP smuggling: a CR that is not followed by LF, or an LF that is not
//! preceded by CR, ends decoding with [`DataEnd::BareCr`] / [`DataEnd::BareLf`]. So
//! `<LF>.<LF>`, `<CR>.<CR>`, `<LF>.<CR><LF>`, `<CR><LF>.<LF>` and their friends can never
//! end a message early or start a second one: the session refuses and disconnects.
//! Also bounds the decoded size: past `limit` octets, decoding goes on to find the end of
//! data but stores nothing more.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataEnd {
    /// `<CR><LF>.<CR><LF>` seen.
    Complete,
    BareLf,
    BareCr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (also the start of data).
    LineStart,
    /// Inside a line.
    Mid,
    /// After a CR inside a line: only LF may follow.
    Cr,
    /// A line started with `.`.
    Dot,
    /// A line is `.` followed by CR: only LF may follow, and that is the end.
    DotCr,
}

pub struct DotDecoder {
    state: State,
    limit: u64,
    size: u64,
}

impl DotDecoder {
    pub fn new(limit: u64) -> DotDecoder {
        DotDecoder { state: State::LineStart, limit, size: 0 }
    }

    /// Decoded size so far, including what did not fit under the limit.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn over_limit(&self) -> bool {
        self.size > self.limit
    }

    /// Decodes from `input` into `out`. Returns how many octets were consumed and, when
    /// the data ended (well or badly), how. Octets after the end are not consumed.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> (usize, Option<DataEnd>) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Mid => match memchr::memchr2(b'\r', b'\n', &input[i..]) {
                    None => {
                        self.emit(&input[i..], out);
                        i = input.len();
                    }
                    Some(j) => {
                        self.emit(&input[i..i + j], out);
                        i += j + 1;
                        if input[i - 1] == b'\n' {
                            return (i, Some(DataEnd::BareLf));
                        }
                        self.state = State::Cr;
                    }
                },
                State::Cr => {
                    if input[i] != b'\n' {
                        return (i, Some(DataEnd::BareCr));
                    }
                    self.emit(b"\r\n", out);
                    self.state = State::LineStart;
                    i += 1;
                }
                State::LineStart => {
                    if input[i] == b'.' {
                        self.state = State::Dot;
                        i += 1;
                    } else {
                        self.state = State::Mid;
                    }
                }
                State::Dot => match input[i] {
                    b'\r' => {
                        self.state = State::DotCr;
                        i += 1;
                    }
                    b'\n' => return (i + 1, Some(DataEnd::BareLf)),
                    // The leading dot of a stuffed line is dropped; the rest is a normal line.
                    _ => self.state = State::Mid,
                },
                State::DotCr => {
                    return if input[i] == b'\n' {
                        (i + 1, Some(DataEnd::Complete))
                    } else {
                        (i, Some(DataEnd::BareCr))
                    };
                }
            }
        }
        (i, None)
    }

    fn emit(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.size += bytes.len() as u64;
        if self.size <= self.limit {
            out.extend_from_slice(bytes);
        }
    }
}

/// For BDAT, where no dot decoding happens: the first bare CR or bare LF, if any.
pub fn find_bare_line_end(message: &[u8]) -> Option<DataEnd> {
    let mut i = 0;
    while let Some(j) = memchr::memchr2(b'\r', b'\n', &message[i..]) {
        let at = i + j;
        if message[at] == b'\n' {
            return Some(DataEnd::BareLf);
        }
        if message.get(at + 1) != Some(&b'\n') {
            return Some(DataEnd::BareCr);
        }
        i = at + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> (Vec<u8>, usize, Option<DataEnd>) {
        let mut d = DotDecoder::new(1 << 20);
        let mut out = Vec::new();
        let (n, end) = d.decode(input, &mut out);
        (out, n, end)
    }

    /// Feeding one octet at a time must give the same result as all at once.
    fn decode_bytewise(input: &[u8]) -> (Vec<u8>, usize, Option<DataEnd>) {
        let mut d = DotDecoder::new(1 << 20);
        let mut out = Vec::new();
        for (i, b) in input.iter().enumerate() {
            let (n, end) = d.decode(std::slice::from_ref(b), &mut out);
            if end.is_some() {
                return (out, i + n, end);
            }
        }
        (out, input.len(), None)
    }

    #[test]
    fn complete_and_unstuffed() {
        let input = b"Subject: x\r\n\r\n..leading dot\r\n.x\r\nlast\r\n.\r\nMAIL FROM:<a@b>\r\n";
        for f in [decode_all, decode_bytewise] {
            let (out, n, end) = f(input);
            assert_eq!(end, Some(DataEnd::Complete));
            assert_eq!(out, b"Subject: x\r\n\r\n.leading dot\r\nx\r\nlast\r\n");
            assert_eq!(&input[n..], b"MAIL FROM:<a@b>\r\n");
        }
    }

    #[test]
    fn empty_message() {
        assert_eq!(decode_all(b".\r\n"), (vec![], 3, Some(DataEnd::Complete)));
    }

    #[test]
    fn smuggling_sequences_never_end_data() {
        let cases: [(&[u8], DataEnd); 8] = [
            (b"a\r\n\n.\nMAIL FROM:<x@y>\r\n", DataEnd::BareLf),
            (b"a\n.\r\nMAIL FROM:<x@y>\r\n", DataEnd::BareLf),
            (b"a\r\n.\nMAIL FROM:<x@y>\r\n", DataEnd::BareLf),
            (b"a\r.\rMAIL FROM:<x@y>\r\n", DataEnd::BareCr),
            (b"a\r\n.\rMAIL FROM:<x@y>\r\n", DataEnd::BareCr),
            (b"a\r.\r\nMAIL FROM:<x@y>\r\n", DataEnd::BareCr),
            (b"a\n.\nMAIL FROM:<x@y>\r\n", DataEnd::BareLf),
            (b"a\r\r\n.\r\n", DataEnd::BareCr),
        ];
        for (input, want) in cases {
            for f in [decode_all, decode_bytewise] {
                let (_, _, end) = f(input);
                assert_eq!(end, Some(want), "{:?}", String::from_utf8_lossy(input));
            }
        }
    }

    #[test]
    fn limit_stops_storing_but_finds_end() {
        let mut d = DotDecoder::new(10);
        let mut out = Vec::new();
        let (n, end) = d.decode(b"0123456789abcdef\r\n.\r\n", &mut out);
        assert_eq!((n, end), (21, Some(DataEnd::Complete)));
        assert!(d.over_limit());
        assert_eq!(d.size(), 18);
        assert!(out.len() <= 10, "stored {} octets past the limit", out.len());
    }

    #[test]
    fn bdat_bare_ends() {
        assert_eq!(find_bare_line_end(b"a\r\nb\r\n"), None);
        assert_eq!(find_bare_line_end(b"a\r\nb\n"), Some(DataEnd::BareLf));
        assert_eq!(find_bare_line_end(b"a\rb\r\n"), Some(DataEnd::BareCr));
        assert_eq!(find_bare_line_end(b"a\r"), Some(DataEnd::BareCr));
    }
}
