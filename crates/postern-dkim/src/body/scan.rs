//! Where a body stops being canonical as it is: the first byte relaxed canonicalization
//! might change, or that changes how its neighbours are read ([`irregular`]).
//!
//! In: a body (or what follows a cut in it) and a range of positions. Out: the first
//! irregular position in the range, or its end. Each position is judged with the byte
//! before it and the byte after it (the end of the body reads as a 0 byte).
//!
//! This runs over every byte of every signed body, just before SHA-256 does: the plain
//! `reference` (a byte at a time) says what the answer is; `blocks` (32 bytes without
//! branches) is what other targets run; on x86_64, SSE2 (always there) tests 16 bytes at
//! once and AVX2, when the CPU has it, 32. The tests below check that every one of them
//! gives the reference's answer on random bodies, on every range.
//!
//! Defends against: a vector scan that would miss an irregular byte at a block's edge (its
//! neighbours are in the next or previous block) or read outside the body: blocks are
//! loaded from windows that hold the byte before and the byte after them, and the bytes
//! after the last whole window are judged one at a time.

/// The first irregular position in `from..to` (`to <= body.len()`), or `to`. Position 0
/// has no byte before it: the caller judges it, and scans start at 1 at the earliest.
pub(super) fn irregular_in(body: &[u8], from: usize, to: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(found) = x86::avx2(body, from, to) {
            return found;
        }
        x86::sse2(body, from, to)
    }
    #[cfg(not(target_arch = "x86_64"))]
    blocks(body, from, to)
}

/// Irregular: a tab; a space or LF followed by whitespace, CR, LF, a control byte or the
/// end; a CR not followed by LF; an LF not preceded by CR.
#[inline(always)]
fn irregular(before: u8, byte: u8, after: u8) -> bool {
    (byte == b'\t')
        | (((byte == b' ') | (byte == b'\n')) & (after <= b' '))
        | ((byte == b'\r') & (after != b'\n'))
        | ((byte == b'\n') & (before != b'\r'))
}

/// Whether position `i` (`1 <= i < body.len()`) is irregular.
#[inline(always)]
fn irregular_at(body: &[u8], i: usize) -> bool {
    irregular(body[i - 1], body[i], body.get(i + 1).copied().unwrap_or(0))
}

/// The definition, a byte at a time: what every scan must answer.
fn reference(body: &[u8], from: usize, to: usize) -> usize {
    (from.max(1)..to).find(|&i| irregular_at(body, i)).unwrap_or(to)
}

/// 32-byte blocks with a byte before and after them, checked without branches; the block
/// that holds an irregular byte, and what follows the last whole block, a byte at a time.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn blocks(body: &[u8], from: usize, to: usize) -> usize {
    const BLOCK: usize = 32;
    let mut start = from.max(1);
    while start + BLOCK <= to
        && let Some(window) = body.get(start - 1..).and_then(|rest| rest.first_chunk::<{ BLOCK + 2 }>())
    {
        let mut any = false;
        for i in 0..BLOCK {
            any |= irregular(window[i], window[i + 1], window[i + 2]);
        }
        if any {
            break;
        }
        start += BLOCK;
    }
    reference(body, start, to)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// [`super::blocks`] with AVX2, or `None` when the CPU has no AVX2.
    pub(super) fn avx2(body: &[u8], from: usize, to: usize) -> Option<usize> {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            Some(unsafe { avx2_scan(body, from, to) })
        } else {
            None
        }
    }

    /// Two blocks of 32 bytes at a time, then one, then a byte at a time.
    #[target_feature(enable = "avx2")]
    fn avx2_scan(body: &[u8], from: usize, to: usize) -> usize {
        const BLOCK: usize = 32;
        // Each block needs the byte after it.
        let limit = to.min(body.len().saturating_sub(1));
        let p = body.as_ptr();
        let mut start = from.max(1);
        while start + 2 * BLOCK <= limit {
            // SAFETY: 1 <= start and start + 2 * BLOCK + 1 <= body.len().
            let (low, high) = unsafe { (avx2_mask(p.add(start)), avx2_mask(p.add(start + BLOCK))) };
            let mask = u64::from(low) | u64::from(high) << BLOCK;
            if mask != 0 {
                return start + mask.trailing_zeros() as usize;
            }
            start += 2 * BLOCK;
        }
        if start + BLOCK <= limit {
            // SAFETY: 1 <= start and start + BLOCK + 1 <= body.len().
            let mask = unsafe { avx2_mask(p.add(start)) };
            if mask != 0 {
                return start + mask.trailing_zeros() as usize;
            }
            start += BLOCK;
        }
        super::reference(body, start, to)
    }

    /// The irregular positions among the 32 bytes at `p`, as bits.
    ///
    /// # Safety
    /// The bytes from `p - 1` to `p + 32` are in one slice.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn avx2_mask(p: *const u8) -> u32 {
        // SAFETY: the caller's promise; unaligned loads.
        let (before, byte, after) = unsafe {
            (_mm256_loadu_si256(p.sub(1).cast()), _mm256_loadu_si256(p.cast()), _mm256_loadu_si256(p.add(1).cast()))
        };
        let tab = _mm256_cmpeq_epi8(byte, _mm256_set1_epi8(b'\t' as i8));
        let cr = _mm256_cmpeq_epi8(byte, _mm256_set1_epi8(b'\r' as i8));
        let lf = _mm256_cmpeq_epi8(byte, _mm256_set1_epi8(b'\n' as i8));
        let space_or_lf = _mm256_or_si256(_mm256_cmpeq_epi8(byte, _mm256_set1_epi8(b' ' as i8)), lf);
        // after <= b' ', unsigned.
        let after_low = _mm256_cmpeq_epi8(_mm256_min_epu8(after, _mm256_set1_epi8(b' ' as i8)), after);
        let cr_alone = _mm256_andnot_si256(_mm256_cmpeq_epi8(after, _mm256_set1_epi8(b'\n' as i8)), cr);
        let lf_alone = _mm256_andnot_si256(_mm256_cmpeq_epi8(before, _mm256_set1_epi8(b'\r' as i8)), lf);
        let irregular = _mm256_or_si256(
            _mm256_or_si256(tab, _mm256_and_si256(space_or_lf, after_low)),
            _mm256_or_si256(cr_alone, lf_alone),
        );
        _mm256_movemask_epi8(irregular) as u32
    }

    /// [`super::blocks`] with SSE2.
    pub(super) fn sse2(body: &[u8], from: usize, to: usize) -> usize {
        // SAFETY: SSE2 is part of every x86_64 CPU.
        unsafe { sse2_scan(body, from, to) }
    }

    /// Two blocks of 16 bytes at a time, then a byte at a time.
    #[target_feature(enable = "sse2")]
    fn sse2_scan(body: &[u8], from: usize, to: usize) -> usize {
        const BLOCK: usize = 16;
        // Each block needs the byte after it.
        let limit = to.min(body.len().saturating_sub(1));
        let p = body.as_ptr();
        let mut start = from.max(1);
        while start + 2 * BLOCK <= limit {
            // SAFETY: 1 <= start and start + 2 * BLOCK + 1 <= body.len().
            let (low, high) = unsafe { (sse2_mask(p.add(start)), sse2_mask(p.add(start + BLOCK))) };
            let mask = low | high << BLOCK;
            if mask != 0 {
                return start + mask.trailing_zeros() as usize;
            }
            start += 2 * BLOCK;
        }
        super::reference(body, start, to)
    }

    /// The irregular positions among the 16 bytes at `p`, as bits.
    ///
    /// # Safety
    /// The bytes from `p - 1` to `p + 16` are in one slice.
    #[target_feature(enable = "sse2")]
    #[inline]
    unsafe fn sse2_mask(p: *const u8) -> u32 {
        // SAFETY: the caller's promise; unaligned loads.
        let (before, byte, after) =
            unsafe { (_mm_loadu_si128(p.sub(1).cast()), _mm_loadu_si128(p.cast()), _mm_loadu_si128(p.add(1).cast())) };
        let tab = _mm_cmpeq_epi8(byte, _mm_set1_epi8(b'\t' as i8));
        let cr = _mm_cmpeq_epi8(byte, _mm_set1_epi8(b'\r' as i8));
        let lf = _mm_cmpeq_epi8(byte, _mm_set1_epi8(b'\n' as i8));
        let space_or_lf = _mm_or_si128(_mm_cmpeq_epi8(byte, _mm_set1_epi8(b' ' as i8)), lf);
        // after <= b' ', unsigned.
        let after_low = _mm_cmpeq_epi8(_mm_min_epu8(after, _mm_set1_epi8(b' ' as i8)), after);
        let cr_alone = _mm_andnot_si128(_mm_cmpeq_epi8(after, _mm_set1_epi8(b'\n' as i8)), cr);
        let lf_alone = _mm_andnot_si128(_mm_cmpeq_epi8(before, _mm_set1_epi8(b'\r' as i8)), lf);
        let irregular =
            _mm_or_si128(_mm_or_si128(tab, _mm_and_si128(space_or_lf, after_low)), _mm_or_si128(cr_alone, lf_alone));
        _mm_movemask_epi8(irregular) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Scan = fn(&[u8], usize, usize) -> usize;

    /// Every scan this CPU can run, by name.
    fn scans() -> Vec<(&'static str, Scan)> {
        let mut all: Vec<(&'static str, Scan)> = vec![("blocks", blocks as Scan), ("dispatched", irregular_in as Scan)];
        #[cfg(target_arch = "x86_64")]
        {
            all.push(("sse2", x86::sse2 as Scan));
            if std::arch::is_x86_feature_detected!("avx2") {
                let avx2: Scan = |body, from, to| x86::avx2(body, from, to).unwrap_or(usize::MAX);
                all.push(("avx2", avx2));
            } else {
                eprintln!("this CPU has no AVX2: the AVX2 scan is not tested");
            }
        }
        all
    }

    /// Asserts that every scan gives the reference's answer on `body`, over the whole body
    /// and over ranges starting and ending around the 16- and 32-byte block edges.
    fn all_agree(body: &[u8]) {
        let len = body.len();
        let mut ranges = vec![(1, len)];
        for from in [1, 2, 15, 16, 17, 31, 32, 33, 34, 63, 64, 65] {
            for to in [from, from + 1, from + 16, from + 31, from + 32, from + 33, from + 64, len] {
                ranges.push((from, to));
            }
        }
        for (from, to) in ranges.into_iter().filter(|&(from, to)| from <= to && to <= len) {
            let expected = reference(body, from, to);
            for (name, scan) in scans() {
                assert_eq!(
                    scan(body, from, to),
                    expected,
                    "{name} on {from}..{to} of {:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }

    #[test]
    fn every_irregular_pattern_at_every_offset_of_two_blocks() {
        let patterns: [&[u8]; 16] = [
            b"\t",
            b"  ",
            b" \t",
            b" \r\n",
            b" \n",
            b" \x0c",
            b" \x00",
            b"\r\n\r\n",
            b"\r\n ",
            b"\r\n\t",
            b"\r\n\x01",
            b"\rx",
            b"\r\r\n",
            b"x\ny",
            b"\n\n",
            b"\r\n\n",
        ];
        let clean = [&b"regular text\r\n"[..]; 10].concat();
        for pattern in patterns {
            for at in 1..70 {
                let mut body = clean.clone();
                body.splice(at..at, pattern.iter().copied());
                all_agree(&body);
                let expected = reference(&body, 1, body.len());
                assert!(expected <= at + 2, "{pattern:?} at {at} found at {expected}");
            }
        }
        // At the end: a space or LF before the end, a CR without its LF.
        for end in [&b" "[..], b"\r\n", b"\r", b"\n"] {
            for len in 1..70 {
                let body = [&clean[..len], end].concat();
                all_agree(&body);
                assert!(reference(&body, 1, body.len()) < body.len(), "{end:?} after {len}");
            }
        }
    }

    #[test]
    fn clean_bodies_have_no_irregular_byte() {
        let clean = [&b"The quick brown fox, \xc3\xa9t\xc3\xa9 \x7f.\r\n"[..]; 40].concat();
        all_agree(&clean);
        assert_eq!(reference(&clean[..clean.len() - 2], 1, clean.len() - 2), clean.len() - 2);
    }

    /// Bytes that matter, and others: mostly plain text, so that irregular bytes fall at
    /// every distance from block edges.
    fn scanned_byte() -> impl Strategy<Value = u8> {
        prop_oneof![
            12 => prop::sample::select(&b"abcXYZ019.,-"[..]),
            2 => Just(b' '),
            1 => Just(b'\t'),
            2 => Just(b'\r'),
            2 => Just(b'\n'),
            1 => prop::sample::select(&b"\x00\x01\x0b\x0c\x1f\x21\x7f\x80\xa0\xff"[..]),
        ]
    }

    fn scanned_body() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(scanned_byte(), 0..200),
            prop::collection::vec(any::<u8>(), 0..200),
            // Clean lines with one or two bytes changed anywhere.
            (0usize..300, any::<u8>(), 0usize..300, any::<u8>()).prop_map(|(a, x, b, y)| {
                let mut body = [&b"regular text, words.\r\n"[..]; 14].concat();
                let len = body.len();
                body[a % len] = x;
                body[b % len] = y;
                body
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn vector_scans_answer_as_the_reference(body in scanned_body()) {
            all_agree(&body);
        }
    }
}
