//! The state of one sender's behaviour profile, and its byte form.
//!
//! In: events (a message's counts, a delivery failure) at a time. Out: counts within the
//! last 10 minutes and the last hour, a decayed peak per signal (the sender's usual), and
//! whether a recipient or a client network was seen before. Everything is of fixed size:
//! - 60 one-minute buckets (a ring: the last hour, nothing older);
//! - one decayed peak per signal, learned from closed tumbling blocks of the signal's
//!   window, never from a block in which the signal was flagged (unless the block was
//!   filled in monitor mode). A block is learned as the settings were while it was
//!   filled, whenever it is closed (by the sender's next message, perhaps days later and
//!   under other settings), and the peaks are decayed to the block's end first;
//! - known recipients (and recipient domains) in two Bloom filters of 8,192 bits each
//!   (k = 3): the current one takes 700 insertions (about 1.3 % false positives when full),
//!   then becomes the old one and a fresh one starts, so the profile remembers the last
//!   700 to 1,400 recipients and domains and never saturates; a recipient found only in
//!   the old filter is inserted again (active contacts stay known);
//! - the last [`NETWORKS`] client networks, least recently seen replaced first;
//! - the sender's weekly rhythm: per hour of the week (UTC), one bit per week of the last
//!   [`RHYTHM_WEEKS`] in which it sent then (168 bytes).
//!
//! Time only moves forward in a profile: a message stamped a little before the last one
//! (another node's clock, up to [`SKEW_MS`]) counts at the last one's time; a clock set
//! back further starts the last hour's counts again (the peaks stay).
//!
//! The byte form ([`Profile::encode`], [`Profile::decode`]) is versioned and of fixed
//! length ([`ENCODED_LEN`]); version 2 (before blocks remembered their learning) still
//! decodes; anything else decodes to `None` (a fresh profile is used).

use super::Signal;

/// One-minute buckets kept (one hour).
pub const MINUTES: usize = 60;
/// Client networks remembered per sender.
pub const NETWORKS: usize = 8;
const BLOOM_BYTES: usize = 1024;
const BLOOM_BITS: u64 = (BLOOM_BYTES * 8) as u64;
const BLOOM_CAPACITY: u32 = 700;
const VERSION: u8 = 3;
/// The layout before blocks remembered how they are learned.
const VERSION_2: u8 = 2;
/// How far behind the sender's last message a message may be stamped and still count at
/// that last time (clocks of the nodes of a cluster differ a little).
pub const SKEW_MS: i64 = 10 * 60_000;
/// Hours in a week.
pub const HOURS_OF_WEEK: usize = 168;
/// Weeks of rhythm remembered (one bit each).
pub const RHYTHM_WEEKS: u32 = 8;
const HOUR_MS: i64 = 3_600_000;
const WEEK_MS: i64 = 7 * 24 * HOUR_MS;
/// Counts kept per minute, in this order.
pub(crate) const COUNTS: usize = 7;
pub(crate) const MESSAGES: usize = 0;
pub(crate) const RECIPIENTS: usize = 1;
pub(crate) const NEW_RECIPIENTS: usize = 2;
pub(crate) const NEW_DOMAINS: usize = 3;
pub(crate) const NEAR_SPAM: usize = 4;
pub(crate) const SPAM: usize = 5;
pub(crate) const FAILURES: usize = 6;

/// The length of [`Profile::encode`]'s output.
pub const ENCODED_LEN: usize = ENCODED_LEN_2 + 2 * (1 + 4);
/// The length of a version 2 profile.
const ENCODED_LEN_2: usize = 1
    + 8 * 4
    + MINUTES * (8 + 4 * COUNTS)
    + Signal::ALL.len() * 4
    + 2 * 4
    + 2 * (8 + 1)
    + NETWORKS * 24
    + 2 * (BLOOM_BYTES + 4)
    + 8
    + HOURS_OF_WEEK;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Minute {
    /// Minutes since the epoch; 0 = empty.
    minute: i64,
    counts: [u32; COUNTS],
}

/// A tumbling block of one window length (10 minutes or 1 hour).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Block {
    /// Start minute of the current block.
    start: i64,
    /// Signals flagged within the current block (bit per [`Signal`]).
    flagged: u8,
    /// How the block is learned when it closes: as the settings were while it was filled
    /// (monitor or acting: flagged blocks and the rate), except whether new recipients
    /// are learned, which is the sender's warm-up when the block closes (a block in which
    /// the warm-up ended is learned whole, as its first contacts were). `None`: a version
    /// 2 profile's block, learned as the settings are when it closes.
    learning: Option<Learning>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Network {
    hash: u64,
    first_ms: i64,
    last_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Bloom {
    bits: Box<[u8; BLOOM_BYTES]>,
    inserted: u32,
}

impl Default for Bloom {
    fn default() -> Bloom {
        Bloom { bits: Box::new([0; BLOOM_BYTES]), inserted: 0 }
    }
}

impl Bloom {
    fn positions(hash: u64) -> [usize; 3] {
        let h1 = hash;
        let h2 = hash.rotate_left(32) | 1;
        [0u64, 1, 2].map(|i| (h1.wrapping_add(i.wrapping_mul(h2)) % BLOOM_BITS) as usize)
    }

    fn contains(&self, hash: u64) -> bool {
        Bloom::positions(hash).iter().all(|&p| self.bits[p / 8] & (1 << (p % 8)) != 0)
    }

    fn insert(&mut self, hash: u64) {
        for p in Bloom::positions(hash) {
            self.bits[p / 8] |= 1 << (p % 8);
        }
        self.inserted = self.inserted.saturating_add(1);
    }
}

/// How closed blocks are learned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Learning {
    /// Blocks in which the signal was flagged are learned too (monitor mode: monitor is
    /// how an installation learns its senders).
    pub(crate) flagged: bool,
    /// A usual moves this fraction of the way to a higher block (1: at once).
    pub(crate) rate: f32,
    /// The signals of new recipients are learned (not during the warm-up: to an empty
    /// profile every recipient is new).
    pub(crate) new_recipients: bool,
}

impl Learning {
    /// How a block filled under both `self` and `other` is learned: flagged counts when
    /// it was filled in monitor mode at all (monitor learns everything), at the faster
    /// rate. (`new_recipients` is decided when the block closes.)
    fn and(self, other: Learning) -> Learning {
        Learning {
            flagged: self.flagged || other.flagged,
            rate: self.rate.max(other.rate),
            new_recipients: self.new_recipients && other.new_recipients,
        }
    }

    fn bits(self) -> u8 {
        1 | (u8::from(self.flagged) << 1) | (u8::from(self.new_recipients) << 2)
    }
}

/// One sender's profile. See the module documentation for what it holds and its bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub(crate) first_ms: i64,
    pub(crate) messages: u64,
    /// When the peaks were last decayed.
    peaks_ms: i64,
    last_ms: i64,
    minutes: [Minute; MINUTES],
    peaks: [f32; Signal::ALL.len()],
    /// Decayed sums of new recipients and of all recipients (closed hour blocks).
    share: [f32; 2],
    /// Blocks of 10 minutes and of 1 hour.
    blocks: [Block; 2],
    networks: [Network; NETWORKS],
    current: Bloom,
    old: Bloom,
    /// The week (since the epoch) that bit 0 of `rhythm` stands for.
    rhythm_week: i64,
    /// Per hour of the week: bit `k` set if the sender sent in that hour `k` weeks before
    /// `rhythm_week`.
    rhythm: [u8; HOURS_OF_WEEK],
}

impl Profile {
    pub fn new(now_ms: i64) -> Profile {
        Profile {
            first_ms: now_ms,
            messages: 0,
            peaks_ms: now_ms,
            last_ms: now_ms,
            minutes: [Minute::default(); MINUTES],
            peaks: [0.0; Signal::ALL.len()],
            share: [0.0; 2],
            blocks: [Block::default(); 2],
            networks: [Network::default(); NETWORKS],
            current: Bloom::default(),
            old: Bloom::default(),
            rhythm_week: now_ms.div_euclid(WEEK_MS),
            rhythm: [0; HOURS_OF_WEEK],
        }
    }

    /// Records that the sender sends at `now_ms` (moving the weeks on first).
    pub(crate) fn sends_at(&mut self, now_ms: i64) {
        let week = now_ms.div_euclid(WEEK_MS);
        if week > self.rhythm_week {
            let shift = (week - self.rhythm_week).min(i64::from(RHYTHM_WEEKS)) as u32;
            for h in &mut self.rhythm {
                *h = h.checked_shl(shift).unwrap_or(0);
            }
            self.rhythm_week = week;
        }
        if week == self.rhythm_week {
            self.rhythm[Self::hour_of_week(now_ms)] |= 1;
        }
    }

    /// Whether the sender, with at least two weeks of history, never sent within an hour
    /// of this hour of the week in the weeks before this one (the rhythm it has shown
    /// stays: the current week's bits are its own doing, perhaps an attacker's).
    pub(crate) fn unusual_hour(&self, now_ms: i64) -> bool {
        if now_ms.saturating_sub(self.first_ms) < 2 * WEEK_MS {
            return false;
        }
        let at = Self::hour_of_week(now_ms);
        let past =
            [HOURS_OF_WEEK - 1, 0, 1].iter().map(|d| self.rhythm[(at + d) % HOURS_OF_WEEK]).fold(0u8, |all, h| all | h);
        past & !1 == 0
    }

    fn hour_of_week(now_ms: i64) -> usize {
        // The epoch was a Thursday; any fixed origin serves.
        (now_ms.div_euclid(HOUR_MS).rem_euclid(HOURS_OF_WEEK as i64)) as usize
    }

    /// Whether `hash` (a recipient or `@domain`) was seen; remembers it either way.
    pub(crate) fn know(&mut self, hash: u64) -> bool {
        if self.current.contains(hash) {
            return true;
        }
        let known = self.old.contains(hash);
        if self.current.inserted >= BLOOM_CAPACITY {
            self.old = std::mem::take(&mut self.current);
        }
        self.current.insert(hash);
        known
    }

    /// Whether the network was first seen less than `new_for_ms` ago (or never), and not
    /// when the profile began (the first network is the sender's own); records it.
    pub(crate) fn network_is_new(&mut self, hash: u64, now_ms: i64, new_for_ms: i64) -> bool {
        let began = self.first_ms;
        if let Some(n) = self.networks.iter_mut().find(|n| n.hash == hash && n.last_ms != 0) {
            n.last_ms = now_ms.max(n.last_ms);
            return n.first_ms > began && now_ms.saturating_sub(n.first_ms) < new_for_ms;
        }
        if self.messages == 0 {
            self.networks[0] = Network { hash, first_ms: began, last_ms: now_ms };
            return false;
        }
        let mut oldest = 0;
        for (i, n) in self.networks.iter().enumerate() {
            if n.last_ms < self.networks[oldest].last_ms {
                oldest = i;
            }
        }
        self.networks[oldest] = Network { hash, first_ms: now_ms, last_ms: now_ms };
        true
    }

    /// The time a message stamped `now_ms` counts at: `now_ms`, or the last message's
    /// time when it is at most [`SKEW_MS`] before it. A clock set back further starts the
    /// minutes and the open blocks again (the peaks, recipients and networks stay). Call
    /// first, and use what it returns.
    pub(crate) fn time(&mut self, now_ms: i64) -> i64 {
        if now_ms >= self.last_ms {
            return now_ms;
        }
        if self.last_ms - now_ms <= SKEW_MS {
            return self.last_ms;
        }
        self.minutes = [Minute::default(); MINUTES];
        self.blocks = [Block::default(); 2];
        self.last_ms = now_ms;
        now_ms
    }

    /// Closes the blocks that ended before `now_ms` (folding their counts into the peaks,
    /// as they were to be learned while filled, with the peaks decayed to their end) and
    /// decays the peaks to `now_ms`. `learning` is how the blocks open now are to be
    /// learned. Call before adding anything at `now_ms`.
    pub(crate) fn advance(&mut self, now_ms: i64, half_life_ms: f64, learning: Learning) {
        let minute = now_ms.div_euclid(60_000);
        // The 10-minute block ends first (both were opened by the same message).
        for (b, length) in [(0usize, 10i64), (1, 60)] {
            let start = minute - minute.rem_euclid(length);
            let block = self.blocks[b];
            if block.start != 0 && block.start >= start {
                self.blocks[b].learning = Some(block.learning.map_or(learning, |l| l.and(learning)));
                continue;
            }
            if block.start != 0 {
                self.decay(((block.start + length) * 60_000).min(now_ms), half_life_ms);
                // The settings' part as the block was filled; whether the sender is past
                // its warm-up (new recipients learned) as it is now.
                let filled = block.learning.unwrap_or(learning);
                self.close(b, block, length, Learning { new_recipients: learning.new_recipients, ..filled });
            }
            self.blocks[b] = Block { start, flagged: 0, learning: Some(learning) };
        }
        self.decay(now_ms, half_life_ms);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// Decays the peaks (and the share's sums) from when they were last decayed to `to_ms`.
    fn decay(&mut self, to_ms: i64, half_life_ms: f64) {
        if to_ms > self.peaks_ms && half_life_ms > 0.0 {
            let factor = (-(to_ms - self.peaks_ms) as f64 / half_life_ms).exp2() as f32;
            for p in self.peaks.iter_mut().chain(self.share.iter_mut()) {
                *p *= factor;
            }
            self.peaks_ms = to_ms;
        }
    }

    /// Folds a closed block's totals into the peaks of its signals.
    fn close(&mut self, b: usize, block: Block, length: i64, learning: Learning) {
        for signal in Signal::ALL.iter().filter(|s| usize::from(s.window_minutes() == 60) == b) {
            let i = *signal as usize;
            let flagged = block.flagged & (1 << i) != 0;
            if (flagged && !learning.flagged) || (signal.new_recipients() && !learning.new_recipients) {
                continue;
            }
            if *signal == Signal::NewShare1h {
                self.share[0] += self.sum(NEW_RECIPIENTS, block.start, block.start + length) as f32;
                self.share[1] += self.sum(RECIPIENTS, block.start, block.start + length) as f32;
                continue;
            }
            let total = self.sum(signal.count(), block.start, block.start + length) as f32;
            if total > self.peaks[i] {
                self.peaks[i] += learning.rate.clamp(0.0, 1.0) * (total - self.peaks[i]);
            }
        }
    }

    /// Adds `counts` to the bucket of `now_ms`.
    pub(crate) fn add(&mut self, now_ms: i64, counts: [u32; COUNTS]) {
        let minute = now_ms.div_euclid(60_000);
        let slot = &mut self.minutes[minute.rem_euclid(MINUTES as i64) as usize];
        if slot.minute != minute {
            *slot = Minute { minute, counts: [0; COUNTS] };
        }
        for (c, n) in slot.counts.iter_mut().zip(counts) {
            *c = c.saturating_add(n);
        }
    }

    /// Sum of count `c` over minutes `from..to`.
    fn sum(&self, c: usize, from: i64, to: i64) -> u64 {
        self.minutes.iter().filter(|m| m.minute >= from && m.minute < to).map(|m| u64::from(m.counts[c])).sum()
    }

    /// The signal's count within its window ending at `now_ms`.
    pub(crate) fn value(&self, signal: Signal, now_ms: i64) -> u64 {
        let minute = now_ms.div_euclid(60_000);
        self.sum(signal.count(), minute - signal.window_minutes() + 1, minute + 1)
    }

    /// The share (percent) of the last hour's recipients that were new, or 0 when fewer
    /// than `min_new` were.
    pub(crate) fn new_share(&self, now_ms: i64, min_new: u32) -> u64 {
        let new = self.value(Signal::NewRecipients1h, now_ms);
        let all = self.sum_last(RECIPIENTS, now_ms, 60);
        if new < u64::from(min_new.max(1)) || all == 0 { 0 } else { new * 100 / all }
    }

    /// Each signal's value now (the share with at least `min_new` new recipients) and
    /// the sender's usual: for logs, the administrator and the simulation.
    pub fn signals(&self, now_ms: i64, min_new: u32) -> Vec<(Signal, u64, f32)> {
        Signal::ALL
            .iter()
            .map(|&s| {
                let value =
                    if s == Signal::NewShare1h { self.new_share(now_ms, min_new) } else { self.value(s, now_ms) };
                (s, value, self.usual(s))
            })
            .collect()
    }

    /// Spam messages in the last 10 minutes, or 0 when they are less than a tenth of the
    /// messages then.
    pub(crate) fn spam(&self, now_ms: i64) -> u64 {
        let spam = self.sum_last(SPAM, now_ms, 10);
        if spam * 10 < self.sum_last(MESSAGES, now_ms, 10) { 0 } else { spam }
    }

    /// Sum of count `c` over the last `minutes` minutes up to `now_ms`.
    fn sum_last(&self, c: usize, now_ms: i64, minutes: i64) -> u64 {
        let minute = now_ms.div_euclid(60_000);
        self.sum(c, minute - minutes + 1, minute + 1)
    }

    /// The sender's usual for the signal: its decayed peak per window; for the share of
    /// new recipients, its long-run share (100 % until 20 recipients were learned).
    pub(crate) fn usual(&self, signal: Signal) -> f32 {
        if signal == Signal::NewShare1h {
            return if self.share[1] < 20.0 { 100.0 } else { 100.0 * self.share[0] / self.share[1] };
        }
        self.peaks[signal as usize]
    }

    /// Marks the signal flagged in its current block (its count will not be learned).
    pub(crate) fn flag(&mut self, signal: Signal) {
        let b = usize::from(signal.window_minutes() == 60);
        self.blocks[b].flagged |= 1 << (signal as usize);
    }

    /// Messages observed in all (saturating).
    pub fn messages(&self) -> u64 {
        self.messages
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENCODED_LEN);
        out.push(VERSION);
        for v in [self.first_ms, self.messages as i64, self.peaks_ms, self.last_ms] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for m in &self.minutes {
            out.extend_from_slice(&m.minute.to_le_bytes());
            m.counts.iter().for_each(|c| out.extend_from_slice(&c.to_le_bytes()));
        }
        self.peaks.iter().chain(&self.share).for_each(|p| out.extend_from_slice(&p.to_le_bytes()));
        for b in &self.blocks {
            out.extend_from_slice(&b.start.to_le_bytes());
            out.push(b.flagged);
        }
        for b in &self.blocks {
            out.push(b.learning.map_or(0, Learning::bits));
            out.extend_from_slice(&b.learning.map_or(0.0f32, |l| l.rate).to_le_bytes());
        }
        for n in &self.networks {
            for v in [n.hash as i64, n.first_ms, n.last_ms] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        for bloom in [&self.current, &self.old] {
            out.extend_from_slice(&bloom.inserted.to_le_bytes());
            out.extend_from_slice(&bloom.bits[..]);
        }
        out.extend_from_slice(&self.rhythm_week.to_le_bytes());
        out.extend_from_slice(&self.rhythm);
        out
    }

    /// The profile in `bytes`, or `None` when they are not a profile of this version (or
    /// of version 2).
    pub fn decode(bytes: &[u8]) -> Option<Profile> {
        let version = *bytes.first()?;
        let expected = match version {
            VERSION => ENCODED_LEN,
            VERSION_2 => ENCODED_LEN_2,
            _ => return None,
        };
        if bytes.len() != expected {
            return None;
        }
        let mut r = Reader { bytes, at: 1 };
        let mut p = Profile::new(0);
        p.first_ms = r.i64()?;
        p.messages = r.i64()? as u64;
        p.peaks_ms = r.i64()?;
        p.last_ms = r.i64()?;
        for m in &mut p.minutes {
            m.minute = r.i64()?;
            for c in &mut m.counts {
                *c = r.u32()?;
            }
        }
        for peak in p.peaks.iter_mut().chain(p.share.iter_mut()) {
            let v = f32::from_bits(r.u32()?);
            *peak = if v.is_finite() && v >= 0.0 { v } else { 0.0 };
        }
        for b in &mut p.blocks {
            b.start = r.i64()?;
            b.flagged = r.take(1)?.first().copied()?;
        }
        if version == VERSION {
            for b in &mut p.blocks {
                let bits = r.take(1)?.first().copied()?;
                let rate = f32::from_bits(r.u32()?);
                b.learning = (bits & 1 != 0).then(|| Learning {
                    flagged: bits & 2 != 0,
                    rate: if rate.is_finite() { rate.clamp(0.0, 1.0) } else { 0.0 },
                    new_recipients: bits & 4 != 0,
                });
            }
        }
        for n in &mut p.networks {
            n.hash = r.i64()? as u64;
            n.first_ms = r.i64()?;
            n.last_ms = r.i64()?;
        }
        for bloom in [&mut p.current, &mut p.old] {
            bloom.inserted = r.u32()?;
            bloom.bits.copy_from_slice(r.take(BLOOM_BYTES)?);
        }
        p.rhythm_week = r.i64()?;
        p.rhythm.copy_from_slice(r.take(HOURS_OF_WEEK)?);
        Some(p)
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let out = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(out)
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MONITOR: Learning = Learning { flagged: true, rate: 1.0, new_recipients: true };
    const ACTING: Learning = Learning { flagged: false, rate: 0.1, new_recipients: true };
    const T: i64 = 1_700_000_000_000 - 1_700_000_000_000 % (3_600_000);

    #[test]
    fn a_block_is_learned_as_it_was_filled_not_as_it_is_closed() {
        let mut p = Profile::new(T);
        p.advance(T, 1e12, MONITOR);
        p.add(T, [90, 90, 0, 0, 0, 0, 0]);
        p.flag(Signal::Messages1h);
        // Closed a week later, after the account switched from monitor to acting.
        p.advance(T + WEEK_MS, 1e12, ACTING);
        assert!((p.usual(Signal::Messages1h) - 90.0).abs() < 0.1, "{}", p.usual(Signal::Messages1h));

        let mut p = Profile::new(T);
        p.advance(T, 1e12, ACTING);
        p.add(T, [90, 90, 0, 0, 0, 0, 0]);
        p.flag(Signal::Messages1h);
        p.advance(T + WEEK_MS, 1e12, MONITOR);
        assert_eq!(p.usual(Signal::Messages1h), 0.0, "flagged while acting: not learned");
    }

    #[test]
    fn peaks_are_decayed_to_the_blocks_end_before_it_is_folded() {
        let half_life = WEEK_MS as f64;
        let mut p = Profile::new(T);
        p.advance(T, half_life, MONITOR);
        p.add(T, [80, 80, 0, 0, 0, 0, 0]);
        p.advance(T + WEEK_MS, half_life, MONITOR);
        p.add(T + WEEK_MS, [50, 50, 0, 0, 0, 0, 0]);
        // Two weeks on: 80 halved twice is 20, 50 halved once is 25.
        p.advance(T + 2 * WEEK_MS, half_life, MONITOR);
        let usual = p.usual(Signal::Messages1h);
        assert!((usual - 25.0).abs() < 0.5, "{usual}");
    }

    #[test]
    fn a_message_stamped_a_little_early_counts_at_the_last_time_and_a_clock_set_back_starts_again() {
        let mut p = Profile::new(T);
        let at = p.time(T + 5 * 60_000);
        p.advance(at, 1e12, MONITOR);
        p.add(at, [1, 1, 0, 0, 0, 0, 0]);
        // Another node's clock, 90 s behind.
        assert_eq!(p.time(T + 5 * 60_000 - 90_000), T + 5 * 60_000);
        // Set back a day: the open blocks and minutes start again, the peaks stay.
        p.peaks[Signal::Messages1h as usize] = 7.0;
        let back = T - 86_400_000;
        assert_eq!(p.time(back), back);
        assert_eq!(p.value(Signal::Messages1h, T + 5 * 60_000), 0);
        assert_eq!(p.usual(Signal::Messages1h), 7.0);
        p.advance(back, 1e12, MONITOR);
        p.add(back, [1, 1, 0, 0, 0, 0, 0]);
        assert_eq!(p.value(Signal::Messages1h, back), 1);
    }

    #[test]
    fn a_version_2_profile_still_decodes() {
        let mut p = Profile::new(T);
        p.advance(T, 1e12, ACTING);
        p.add(T, [3, 3, 0, 0, 0, 0, 0]);
        let v3 = p.encode();
        // Version 2 had no learning per block: the 2 × 5 bytes after the blocks.
        let blocks_end = 1 + 8 * 4 + MINUTES * (8 + 4 * COUNTS) + (Signal::ALL.len() + 2) * 4 + 2 * 9;
        let mut v2 = v3[..blocks_end].to_vec();
        v2.extend_from_slice(&v3[blocks_end + 10..]);
        v2[0] = VERSION_2;
        assert_eq!(v2.len(), ENCODED_LEN_2);
        let decoded = Profile::decode(&v2).expect("a version 2 profile");
        assert_eq!(decoded.blocks.map(|b| b.learning), [None, None]);
        assert_eq!(decoded.blocks.map(|b| b.start), p.blocks.map(|b| b.start));
        assert_eq!(decoded.minutes, p.minutes);
        assert_eq!(Profile::decode(&v3), Some(p));
    }
}
