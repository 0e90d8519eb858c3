//! Compromise detection by behaviour (SPEC.md §3 *beyond*, issue 15): a sender (an account,
//! or one identity of it) whose volume, recipient spread, near-spam or failure rate jumps
//! far above its own history is stopped before the spam count catches it.
//!
//! In: per message an [`Observation`] (hashed recipients and recipient domains, the client
//! network, the spam score if any, the time) and delivery failures fed back later; the
//! sender's [`Profile`]; [`BehaviourSettings`]. Out: the updated profile and, when a
//! [`Signal`] exceeds BOTH `multiple` times the sender's usual AND the signal's absolute
//! floor, a [`Finding`] naming the signal and the ratio, with the [`BehaviourAction`] the
//! settings ask for. Pure functions over the profile and a time given by the caller; the
//! profile is stored as one blob per sender through the counters backend ([`store`]).
//!
//! "Usual" is the sender's decayed peak of the signal over closed blocks of its window (10
//! minutes or 1 hour; half-life [`BehaviourSettings::half_life_hours`]): a newsletter
//! sender's weekly burst is its usual; an office sender's is a handful. When acting, a
//! block in which a signal was flagged is not learned, and after the warm-up a usual moves
//! only [`BehaviourSettings::learn_rate`] of the way to a higher block, so an attacker
//! cannot soon teach the profile his burst. During the warm-up the signals of new
//! recipients are not learned (to an empty profile every recipient is new). In monitor
//! mode everything is learned, without bound: monitor is how an installation learns its
//! senders before it acts (the recommended first weeks). A block is learned as the
//! settings were while it was filled, even when it is closed later under others: the last
//! newsletter sent in monitor mode is usual once the account acts. During the warm-up (a
//! new sender) there is no usual yet: the threshold is the floor times [`BehaviourSettings::warmup_factor`]. Messages from a client network first
//! seen less than a day ago, after AUTH, are judged with the multiple times
//! [`BehaviourSettings::new_network_factor`] (the floors stay); messages at an hour of the
//! week in which the sender has not sent in the last 8 weeks (its rhythm, once it has two
//! weeks of history), with [`BehaviourSettings::unusual_hour_factor`].
//!
//! Spam is learned like the rest: a newsletter of thousands has a few messages over the
//! spam score (held by the content checks) every time; an office sender has none.
//! The usual is one peak per signal, whatever the hour; the hour of the week only lowers
//! the multiple (an office sender's 3 a.m. burst needs less to be found).
//!
//! # Layout
//! - `profile.rs`: the profile's state (bounded), its learning and its byte form.
//! - `store.rs`: loading and saving profiles through [`postern_counters::Counters`] blobs.
//! - `detect.rs`: the [`Detector`] the pipeline asks per message: load, observe, save, act
//!   through the automatic locks.

mod detect;
mod profile;
pub mod store;

pub use detect::{Detector, Judged, Submitted};

use profile::Learning;
pub use profile::{ENCODED_LEN, Profile};

pub use postern_core::tenancy::BehaviourAction;

/// The signals, each counted over its window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Recipients10m = 0,
    Messages1h = 1,
    NewRecipients1h = 2,
    NewDomains1h = 3,
    NearSpam1h = 4,
    /// Spam messages in 10 minutes, counted only when they are at least a tenth of the
    /// sender's messages then (a newsletter of thousands has a few by chance).
    Spam10m = 5,
    Failures1h = 6,
    /// The share (in percent) of the last hour's recipients never written to before,
    /// judged once at least a third of the new-recipient floor of them are new. Its usual is the
    /// sender's long-run share (decayed sums), not a peak.
    NewShare1h = 7,
}

impl Signal {
    pub const ALL: [Signal; 8] = [
        Signal::Recipients10m,
        Signal::Messages1h,
        Signal::NewRecipients1h,
        Signal::NewDomains1h,
        Signal::NearSpam1h,
        Signal::Spam10m,
        Signal::Failures1h,
        Signal::NewShare1h,
    ];

    pub(crate) fn window_minutes(self) -> i64 {
        match self {
            Signal::Recipients10m | Signal::Spam10m => 10,
            _ => 60,
        }
    }

    pub(crate) fn count(self) -> usize {
        use profile::*;
        match self {
            Signal::Recipients10m => RECIPIENTS,
            Signal::Messages1h => MESSAGES,
            Signal::NewRecipients1h => NEW_RECIPIENTS,
            Signal::NewDomains1h => NEW_DOMAINS,
            Signal::NearSpam1h => NEAR_SPAM,
            Signal::Spam10m => SPAM,
            Signal::Failures1h => FAILURES,
            Signal::NewShare1h => NEW_RECIPIENTS,
        }
    }

    /// Whether the signal counts new recipients (not learned during the warm-up).
    pub(crate) fn new_recipients(self) -> bool {
        matches!(self, Signal::NewRecipients1h | Signal::NewDomains1h | Signal::NewShare1h)
    }

    /// What is counted, for a reason text.
    pub fn noun(self) -> &'static str {
        match self {
            Signal::Recipients10m => "recipients",
            Signal::Messages1h => "messages",
            Signal::NewRecipients1h => "recipients never written to before",
            Signal::NewDomains1h => "recipient domains never written to before",
            Signal::NearSpam1h => "messages scoring near the spam threshold",
            Signal::Spam10m => "spam messages",
            Signal::Failures1h => "delivery failures",
            Signal::NewShare1h => "% of recipients never written to before",
        }
    }
}

/// Per-account settings; identities inherit them. The defaults were tuned on the abuse
/// simulation (`examples/abuse_sim.rs`, docs/BENCHMARKS.md) and act only by logging.
#[derive(Debug, Clone, PartialEq)]
pub struct BehaviourSettings {
    pub action: BehaviourAction,
    /// A signal must exceed this many times the sender's usual...
    pub multiple: f32,
    /// ...and its floor (indexed by [`Signal`]).
    pub floors: [u32; 8],
    /// Half-life of the usual, in hours.
    pub half_life_hours: u32,
    /// A sender is new (warm-up) until it is this old AND sent this many messages.
    pub warmup_hours: u32,
    pub warmup_messages: u32,
    /// Thresholds times this during the warm-up.
    pub warmup_factor: f32,
    /// The multiple times this for a message from a network first seen within a day (the
    /// floors stay).
    pub new_network_factor: f32,
    /// The multiple times this for a message at an hour of the week (±1 hour) in which
    /// the sender did not send in the weeks it remembers (after two weeks of history; the
    /// floors stay). With a new network too, both apply.
    pub unusual_hour_factor: f32,
    /// After the warm-up, when acting, a usual moves this fraction of the way to a
    /// higher block (per block): slowly, so that an attack kept under the threshold does
    /// not soon become usual. In monitor mode and during the warm-up, at once.
    pub learn_rate: f32,
    /// Scores at or above this are near-spam; at or above `spam_score`, spam.
    pub near_spam_score: f32,
    pub spam_score: f32,
}

impl Default for BehaviourSettings {
    fn default() -> Self {
        BehaviourSettings {
            action: BehaviourAction::Monitor,
            multiple: 4.0,
            //       rcpt/10m msg/1h new/1h dom/1h near/1h spam/10m fail/1h new%/1h
            floors: [100, 60, 30, 15, 4, 2, 10, 50],
            half_life_hours: 14 * 24,
            warmup_hours: 72,
            warmup_messages: 20,
            warmup_factor: 4.0,
            new_network_factor: 0.75,
            unusual_hour_factor: 0.75,
            learn_rate: 0.1,
            near_spam_score: 4.0,
            spam_score: 5.0,
        }
    }
}

/// One message as the profile sees it. Hashes come from [`hash_address`].
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub recipients: &'a [u64],
    pub domains: &'a [u64],
    /// Hash of the client's /24 (IPv4) or /48 (IPv6), see [`network_hash`].
    pub network: u64,
    /// The client authenticated (AUTH). Only then does a new network lower the multiple:
    /// an `ip` account's clients are its range, whatever /24 they come from.
    pub authenticated: bool,
    pub spam_score: Option<f32>,
    pub now_ms: i64,
}

/// A signal over its threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub signal: Signal,
    pub value: u64,
    pub usual: f32,
    pub threshold: f32,
    pub action: BehaviourAction,
    /// E.g. "214 recipients in 10 minutes, 38× this identity's usual (5.6)".
    pub reason: String,
}

/// A stable hash of an address or a domain (ASCII case-folded), FNV-1a then a mixer.
pub fn hash_address(text: &str) -> u64 {
    let h = text
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x100_0000_01b3));
    mix(h)
}

fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of the client's network: its /24 (IPv4) or /48 (IPv6).
pub fn network_hash(ip: std::net::IpAddr) -> u64 {
    match ip {
        std::net::IpAddr::V4(v4) => mix(u64::from(u32::from(v4) >> 8) | (4 << 56)),
        std::net::IpAddr::V6(v6) => mix(((u128::from(v6) >> 80) as u64) | (6 << 56)),
    }
}

const DAY_MS: i64 = 86_400_000;

impl BehaviourSettings {
    /// The settings of an account (identities inherit them): its action, multiple and
    /// warm-up; the rest are the defaults.
    pub fn of_account(detection: &postern_core::tenancy::BehaviourDetection) -> BehaviourSettings {
        BehaviourSettings {
            action: detection.action,
            multiple: detection.multiple.clamp(2, 1000) as f32,
            warmup_hours: detection.warmup_hours,
            warmup_messages: detection.warmup_messages,
            ..BehaviourSettings::default()
        }
    }

    fn half_life_ms(&self) -> f64 {
        f64::from(self.half_life_hours) * 3_600_000.0
    }

    /// The new recipients in an hour from which their share is judged: a third of the
    /// new-recipient floor.
    fn share_min_new(&self) -> u32 {
        self.floors[Signal::NewRecipients1h as usize] / 3
    }

    fn learning(&self, warming: bool) -> Learning {
        let monitor = self.action == BehaviourAction::Monitor;
        Learning {
            flagged: monitor,
            rate: if monitor || warming { 1.0 } else { self.learn_rate },
            new_recipients: !warming,
        }
    }

    fn warming_up(&self, profile: &Profile, now_ms: i64) -> bool {
        now_ms.saturating_sub(profile.first_ms) < i64::from(self.warmup_hours) * 3_600_000
            || profile.messages < u64::from(self.warmup_messages)
    }

    /// The threshold of `signal` for this sender now.
    fn threshold(&self, profile: &Profile, signal: Signal, warming: bool, odd: Odd) -> f32 {
        let floor = self.floors[signal as usize] as f32;
        if warming {
            return floor * self.warmup_factor;
        }
        let mut multiple = self.multiple;
        if odd.new_network {
            multiple *= self.new_network_factor;
        }
        if odd.unusual_hour {
            multiple *= self.unusual_hour_factor;
        }
        floor.max(multiple * profile.usual(signal))
    }
}

/// What is odd about the message beside its counts: it lowers the multiple.
#[derive(Debug, Clone, Copy, Default)]
struct Odd {
    new_network: bool,
    unusual_hour: bool,
}

/// Updates `profile` with one message and judges it. `whose` names the sender kind in the
/// reason ("identity" or "account"). The first signal over its threshold is returned (in
/// [`Signal::ALL`] order); every signal over its threshold is kept from learning.
pub fn observe(
    settings: &BehaviourSettings,
    profile: &mut Profile,
    message: &Observation<'_>,
    whose: &str,
) -> Option<Finding> {
    if settings.action == BehaviourAction::Off {
        return None;
    }
    let now = profile.time(message.now_ms);
    let warming = settings.warming_up(profile, now);
    profile.advance(now, settings.half_life_ms(), settings.learning(warming));
    let new_network = profile.network_is_new(message.network, now, DAY_MS) && message.authenticated && !warming;
    let odd = Odd { new_network, unusual_hour: !warming && profile.unusual_hour(now) };
    profile.sends_at(now);
    let new_recipients = message.recipients.iter().filter(|&&r| !profile.know(r)).count();
    let new_domains = message.domains.iter().filter(|&&d| !profile.know(d ^ 0x5bd1_e995)).count();
    let score = message.spam_score.unwrap_or(0.0);
    let spam = score >= settings.spam_score;
    let near = !spam && score >= settings.near_spam_score;
    let mut counts = [0u32; profile::COUNTS];
    counts[profile::MESSAGES] = 1;
    counts[profile::RECIPIENTS] = u32::try_from(message.recipients.len()).unwrap_or(u32::MAX);
    counts[profile::NEW_RECIPIENTS] = u32::try_from(new_recipients).unwrap_or(u32::MAX);
    counts[profile::NEW_DOMAINS] = u32::try_from(new_domains).unwrap_or(u32::MAX);
    counts[profile::NEAR_SPAM] = u32::from(near);
    counts[profile::SPAM] = u32::from(spam);
    profile.add(now, counts);
    profile.messages = profile.messages.saturating_add(1);
    judge(settings, profile, now, warming, odd, whose, Signal::ALL.iter().copied())
}

/// Which of a sender's two findings counts: the identity's first, else the account's
/// (`true`: the account's, a finding about all its identities together).
pub fn first_finding(by_identity: Option<Finding>, by_account: Option<Finding>) -> Option<(Finding, bool)> {
    match (by_identity, by_account) {
        (Some(f), _) => Some((f, false)),
        (None, f) => f.map(|f| (f, true)),
    }
}

/// Records `n` delivery failures (5xx, bounces) of the sender at `now_ms` and judges the
/// failure signal.
pub fn failed(
    settings: &BehaviourSettings,
    profile: &mut Profile,
    n: u32,
    now_ms: i64,
    whose: &str,
) -> Option<Finding> {
    if settings.action == BehaviourAction::Off || n == 0 {
        return None;
    }
    let now_ms = profile.time(now_ms);
    let warming = settings.warming_up(profile, now_ms);
    profile.advance(now_ms, settings.half_life_ms(), settings.learning(warming));
    let mut counts = [0u32; profile::COUNTS];
    counts[profile::FAILURES] = n;
    profile.add(now_ms, counts);
    judge(settings, profile, now_ms, warming, Odd::default(), whose, [Signal::Failures1h].into_iter())
}

fn judge(
    settings: &BehaviourSettings,
    profile: &mut Profile,
    now: i64,
    warming: bool,
    odd: Odd,
    whose: &str,
    signals: impl Iterator<Item = Signal>,
) -> Option<Finding> {
    let mut first = None;
    for signal in signals {
        let value = match signal {
            Signal::NewShare1h => profile.new_share(now, settings.share_min_new()),
            Signal::Spam10m => profile.spam(now),
            _ => profile.value(signal, now),
        };
        let threshold = settings.threshold(profile, signal, warming, odd);
        if (value as f32) <= threshold {
            continue;
        }
        profile.flag(signal);
        if first.is_none() {
            first = Some(finding(settings, profile, signal, value, threshold, warming, odd, whose));
        }
    }
    first
}

#[allow(clippy::too_many_arguments)]
fn finding(
    settings: &BehaviourSettings,
    profile: &Profile,
    signal: Signal,
    value: u64,
    threshold: f32,
    warming: bool,
    odd: Odd,
    whose: &str,
) -> Finding {
    let usual = profile.usual(signal);
    let window = if signal.window_minutes() == 10 { "10 minutes" } else { "1 hour" };
    let against = if warming {
        format!("over the {threshold:.0} allowed to a new {whose}")
    } else if usual < 0.5 {
        format!("this {whose} usually sends none")
    } else {
        let ratio = value as f32 / usual;
        if ratio < 10.0 {
            format!("{ratio:.1}× this {whose}'s usual ({usual:.1})")
        } else {
            format!("{ratio:.0}× this {whose}'s usual ({usual:.1})")
        }
    };
    let network = match (odd.new_network, odd.unusual_hour) {
        (true, true) => format!(", from a network first seen today, at an hour this {whose} does not send"),
        (true, false) => ", from a network first seen today".to_string(),
        (false, true) => format!(", at an hour this {whose} does not send"),
        (false, false) => String::new(),
    };
    if signal == Signal::NewShare1h {
        let against = if warming {
            format!("over the {threshold:.0} % allowed to a new {whose}")
        } else if usual < 1.0 {
            format!("this {whose}'s usual share is under 1 %")
        } else {
            format!("{:.1}× this {whose}'s usual share ({usual:.0} %)", value as f32 / usual)
        };
        return Finding {
            signal,
            value,
            usual,
            threshold,
            action: settings.action,
            reason: format!("{value} {} in 1 hour, {against}{network}", signal.noun()),
        };
    }
    Finding {
        signal,
        value,
        usual,
        threshold,
        action: settings.action,
        reason: format!("{value} {} in {window}, {against}{network}", signal.noun()),
    }
}

#[cfg(test)]
mod tests;
